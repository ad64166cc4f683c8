-- sql/shared_reads.lua: request coalescing ("single flight") for the reads fdn.sql.service builds:
-- identical reads (same statements, same values of the same types) that wait for a connection at
-- the same time share one execution, and each caller gets its own copy of the rows.
--
-- Why it is safe. A flight is open to joiners only while it WAITS for a connection: its runner
-- closes it in the same step as it gets one, and sends at once (no yield in between). So the one
-- execution starts after every sharer's request arrived, and each statement's snapshot (READ
-- COMMITTED, outside a transaction) is taken after that: every write acknowledged before a
-- sharer's call began (its own create, anyone's) is seen, exactly as if it had run alone at that
-- later moment. A read in flight never takes joiners: it may have started before a joiner's
-- write. Only the service's own SELECTs come here, never raw db:query (a volatile function such
-- as nextval() must run once per call) and never inside a transaction (its own connection, its
-- own snapshot).
--
-- The work is done by a runner coroutine of the flight's own, not by the first caller: a caller
-- that goes away (its coroutine closed) cannot strand the others. Every caller waits on the
-- flight; the runner wakes each with its own copy of the results (the last one gets the
-- original), or of the error.
local sched = require "fdn.sched"
local json = require "fdn.json"

local M = {}

local type, pairs, pcall, error, setmetatable, getmetatable =
  type, pairs, pcall, error, setmetatable, getmetatable
local pack, unpack, concat = table.pack, table.unpack, table.concat
local spack, mtype, status = string.pack, math.type, coroutine.status
local null = json.null

-- key(list) -> a string naming the statements ({ sql, args }, args with n) and their values with
-- their types (1, 1.0 and "1" differ; nil and json.null are both NULL), or nil when a value
-- cannot be keyed (a table: JSON text, not shared).
function M.key(list)
  local parts, n = {}, 0
  for i = 1, #list do
    local st = list[i]
    local sql, args = st[1], st[2]
    local count = args.n or #args
    n = n + 1
    parts[n] = spack("s4j", sql, count)
    for k = 1, count do
      local v = args[k]
      local t = mtype(v)
      n = n + 1
      if t == "integer" then parts[n] = spack("c1j", "i", v)
      elseif t == "float" then parts[n] = spack("c1n", "f", v)
      elseif type(v) == "string" then parts[n] = spack("c1s4", "s", v)
      elseif v == true then parts[n] = "T"
      elseif v == false then parts[n] = "F"
      elseif v == nil or v == null then parts[n] = "N"
      else return nil end
    end
  end
  return concat(parts)
end

-- copy(v): v with every table copied, nested ones too (metatables kept; json.null is a sentinel
-- and stays itself). Rows from a database are trees.
local function copy(v)
  if type(v) ~= "table" or v == null then return v end
  local c = {}
  for k, x in pairs(v) do c[k] = copy(x) end
  local mt = getmetatable(v)
  if mt ~= nil then setmetatable(c, mt) end
  return c
end
M.copy = copy

local Flights = {}
Flights.__index = Flights

-- new(room) -> flights: room() says whether one more caller may wait (the pool's bound);
-- flights.joined: callers waiting on a flight that did not start it (they count against the
-- bound), flights.shared: reads served by another's execution, flights.started: flights run.
function M.new(room)
  return setmetatable({ open = {}, room = room, joined = 0, shared = 0, started = 0 }, Flights)
end

local function close(self, f)
  if self.open[f.key] == f then self.open[f.key] = nil end
end

local function runner(self, f, run)
  local r = pack(pcall(run, function() close(self, f) end))
  close(self, f)
  local members = f.members
  local n = #members
  self.joined = self.joined - (n - 1)
  local outs = {}
  for i = 1, n - 1 do outs[i] = copy(r) end -- all copied before anyone runs on (and mutates)
  outs[n] = r
  for i = 1, n do
    local co = members[i]
    local woken = status(co) == "suspended" and sched.wake(co, outs[i])
    if i == 1 and not woken then f.early = outs[i] end -- (the runner ended before it waited)
  end
end

local function result(r)
  if not r[1] then error(r[2], 0) end
  return unpack(r, 2, r.n)
end

-- flights:read(key, run) -> run's results: joins the open flight of key when there is one (or
-- raises full() when room() says no), else opens one whose runner calls run(close), where run
-- gets a connection (waiting), calls close() as soon as it has it, and sends at once.
function Flights:read(key, run, full)
  local co = sched.current()
  local f = self.open[key]
  if f then
    if not self.room() then full() end
    f.members[#f.members + 1] = co
    self.joined, self.shared = self.joined + 1, self.shared + 1
    return result(sched.wait())
  end
  f = { key = key, members = { co } }
  self.open[key] = f
  self.started = self.started + 1
  sched.spawn(runner, self, f, run)
  local r = f.early -- the runner finished without waiting (the pool refused at once)
  if r == nil then r = sched.wait() end
  return result(r)
end

return M
