-- sql/pg_pool.lua: the connection pool of fdn.sql's PostgreSQL database (sql/postgres.lua):
-- connections opened on first use (at most size), the idle ones kept as a stack, a bounded FIFO
-- of the calls waiting for one, and the shared reads (fdn.sql.shared_reads) whose joiners count
-- against the same bound.
local core = require "fdn.core.pg"
local sched = require "fdn.sched"
local errors = require "fdn.errors"
local shared = require "fdn.sql.shared_reads"

local M = {}

local error, pcall, setmetatable, tostring = error, pcall, setmetatable, tostring
local gsub = string.gsub

local Pool = {}
Pool.__index = Pool

local function open(pool)
  local co = sched.current()
  local conn, err = core.connect(pool.params, function(...) sched.wake(co, ...) end)
  if not conn then pool.raise("postgres: cannot connect: " .. tostring(err), "08001") end
  local ok, msg, code = sched.wait()
  if not ok then
    conn:close()
    pool.raise("postgres: cannot connect: " .. gsub(tostring(msg), "%s+$", ""), code)
  end
  return conn
end

function Pool:acquire()
  for _ = 1, 3 do -- (a waiter woken without a connection retries, at most twice)
    if self.closed then self.raise("postgres: the database is closed", "08003") end
    local idle = self.idle
    while #idle > 0 do
      local conn = idle[#idle]
      idle[#idle] = nil
      if conn:state() == "idle" then return conn end
      conn:close()
      self.open = self.open - 1
    end
    if self.open < self.size then
      self.open = self.open + 1
      local ok, conn = pcall(open, self)
      if ok then return conn end
      self.open = self.open - 1
      self:handoff(nil) -- a waiter may try in this one's place
      error(conn, 0)
    end
    if not self:room() then self:full() end
    self.tail = self.tail + 1
    self.waiting[self.tail] = sched.current()
    local conn = sched.wait()
    if conn then return conn end
  end
  self.raise("postgres: no connection could be had", "08001")
end

-- Calls waiting, those that joined a shared read included, are bounded by ?queue=N.
function Pool:room() return self.tail - self.head + self.flights.joined < self.queue_max end
function Pool:full()
  error(errors.Unavailable("postgres: too many calls waiting for a connection (" .. self.queue_max .. ")"), 0)
end

-- Gives conn (or nil: a place in the pool) to the first waiter; true when there was one.
function Pool:handoff(conn)
  while self.head < self.tail do
    self.head = self.head + 1
    local co = self.waiting[self.head]
    self.waiting[self.head] = nil
    if sched.wake(co, conn) then return true end
  end
  return false
end

function Pool:release(conn)
  if self.closed or conn:state() ~= "idle" then
    conn:close()
    self.open = self.open - 1
    conn = nil
  end
  if not self:handoff(conn) and conn then self.idle[#self.idle + 1] = conn end
end

-- new(params, size, queue_max, raise) -> pool: params for fdn.core.pg.connect; raise(message,
-- sqlstate) raises the Feathers error of a SQLSTATE (sql/postgres.lua's).
function M.new(params, size, queue_max, raise)
  local pool = setmetatable({ params = params, size = size, queue_max = queue_max, raise = raise, idle = {},
    open = 0, waiting = {}, head = 0, tail = 0 }, Pool)
  pool.flights = shared.new(function() return pool:room() end)
  return pool
end

return M
