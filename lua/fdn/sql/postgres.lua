-- sql/postgres.lua: the PostgreSQL database object of fdn.sql (query, exec, batch, read,
-- transaction, columns, close) on fdn.core.pg's connections, taken from sql/pg_pool.lua (4 by
-- default, ?pool=N; 1000 calls waiting at most, ?queue=N); prepared statements kept per
-- connection; `?` placeholders become $1..$n (fdn.sql.placeholders); db:read shares identical
-- waiting reads of fdn.sql.service (fdn.sql.shared_reads).
local sched = require "fdn.sched"
local errors = require "fdn.errors"
local json = require "fdn.json"
local shared = require "fdn.sql.shared_reads"
local pg_pool = require "fdn.sql.pg_pool"

local M = {}

local type, error, pcall, setmetatable, tonumber, tostring, unpack, pack, mtype, pairs, ipairs =
  type, error, pcall, setmetatable, tonumber, tostring, table.unpack, table.pack, math.type, pairs, ipairs
local sub, find, gsub, char = string.sub, string.find, string.gsub, string.char
local match, lower, remove = string.match, string.lower, table.remove

local rewrite = require "fdn.sql.placeholders"
M.rewrite = rewrite

local texts, cached = {}, 0 -- rewritten statements, dropped all at once past 512
local function prepare(sql)
  local hit = texts[sql]
  if hit then return hit[1], hit[2] end
  local text, n = rewrite(sql)
  if cached >= 512 then texts, cached = {}, 0 end
  texts[sql], cached = { text, n }, cached + 1
  return text, n
end

-- A Feathers error for a SQLSTATE (23505 Conflict; 23xxx constraints and 22xxx data
-- exceptions, a value the column's type refuses, BadRequest; 08xxx and shutdowns Unavailable;
-- the rest GeneralError), raised.
local UNAVAILABLE = { ["57P01"] = true, ["57P02"] = true, ["57P03"] = true, ["53300"] = true }
local function raise(message, code)
  local data = code and { code = code } or nil
  local class = errors.GeneralError
  if code == "23505" then class = errors.Conflict
  elseif code and (sub(code, 1, 2) == "23" or sub(code, 1, 2) == "22") then class = errors.BadRequest
  elseif code and (sub(code, 1, 2) == "08" or UNAVAILABLE[code]) then class = errors.Unavailable end
  error(class(message, data), 0)
end

local function current(what)
  local co = sched.current()
  if not co then
    error("postgres: db:" .. what .. " called outside a coroutine (call it from a service, hook, "
      .. "configure function or task)", 4)
  end
  return co
end

-- Prepared statements: each connection keeps up to M.NAMED of them, keyed by their text (the
-- oldest deallocated past that). Only DML (SELECT, INSERT, UPDATE, DELETE, WITH) outside BEGIN
-- is prepared. A name the server lost (26000: DEALLOCATE ALL, DISCARD ALL) or a plan whose
-- columns changed (0A000 "cached plan must not change result type": ALTER TABLE under a
-- SELECT *) makes the connection forget its names (DEALLOCATE ALL) and the batch run once more,
-- prepared anew: such errors come before execution, and no BEGIN is open.
M.NAMED = 64
local named = setmetatable({}, { __mode = "k" }) -- conn -> { map = { [text] = name }, order, seq }

local DML = { select = true, insert = true, update = true, delete = true, with = true }
local function preparable(text)
  local word = match(text, "^%s*(%a+)")
  return word ~= nil and DML[lower(word)] == true
end

-- The batch for conn ({ sql = text, name = ?, n = count, params... }), with a DEALLOCATE before
-- a statement that pushes the oldest name out; slots[i]: list[i]'s place in it; fresh[i]: its
-- new name.
local function build(conn, list, cache, reset)
  local batch, slots, fresh = {}, {}, {}
  if reset then batch[1] = { sql = "DEALLOCATE ALL", n = 0 } end
  for i, st in ipairs(list) do
    local sql, args = st[1], st[2]
    local text, n = prepare(sql)
    local given = args.n or #args
    if given ~= n then raise("postgres: " .. n .. " placeholders but " .. given .. " values in: " .. sql) end
    local e = { n = n }
    for k = 1, n do
      local v = args[k]
      if type(v) == "table" and v ~= json.null then v = json.encode(v) end
      e[k] = v
    end
    local name = cache and preparable(text) and cache.map[text]
    if name then
      e.name = name
    elseif cache and preparable(text) then
      if #cache.order >= M.NAMED then
        local old = remove(cache.order, 1)
        cache.map[old[2]] = nil
        batch[#batch + 1] = { sql = "DEALLOCATE " .. old[1], n = 0 }
      end
      cache.seq = cache.seq + 1
      e.sql, e.name = text, "fdn_" .. cache.seq
      fresh[i] = e.name
    else
      e.sql = text
    end
    batch[#batch + 1] = e
    slots[i] = #batch
  end
  return batch, slots, fresh
end

local STALE = "cached plan must not change result type"

-- Runs list's statements ({ sql, args }) on conn in one round trip, waiting (prepared ones when
-- named); returns rows1, changes1, rows2, changes2, ...
local function run_batch(conn, list, prepared)
  local co = sched.current()
  local reset = false
  for attempt = 1, 2 do
    local cache = prepared and named[conn]
    if prepared and not cache then
      cache = { map = {}, order = {}, seq = 0 }
      named[conn] = cache
    end
    local batch, slots, fresh = build(conn, list, cache, reset)
    local ok, err = conn:send(batch, function(...) sched.wake(co, ...) end)
    if not ok then raise("postgres: " .. tostring(err), conn:state() == "dead" and "08006" or nil) end
    local r = pack(sched.wait())
    local mask = r[1] and -1 or r[4] or 0 -- bit j: the batch's statement j+1 was prepared
    for i, name in pairs(fresh) do
      if (mask >> (slots[i] - 1)) & 1 == 1 then
        local text = batch[slots[i]].sql
        cache.map[text] = name
        cache.order[#cache.order + 1] = { name, text }
      end
    end
    if r[1] then
      local out, k = {}, 0
      for i = 1, #list do
        out[k + 1], out[k + 2], k = r[2 * slots[i]], r[2 * slots[i] + 1], k + 2
      end
      return unpack(out, 1, k)
    end
    local msg, code = r[2], r[3]
    local stale = code == "26000" or (code == "0A000" and find(tostring(msg), STALE, 1, true))
    if not (stale and cache and attempt == 1 and conn:state() == "idle") then raise(msg, code) end
    named[conn], reset = nil, true
  end
end

-- Runs sql with the arguments on conn, unnamed, waiting; returns rows, changes.
local function run(conn, sql, ...)
  return run_batch(conn, { { sql, pack(...) } })
end

local Db, Tx = {}, {}
Db.__index, Tx.__index = Db, Tx

-- list's statements on a pooled connection; close(), when given, is called once it is had.
local function pooled(pool, list, close)
  local conn = pool:acquire()
  if close then close() end -- (a shared read: sent now, in this step, and joined by no one more)
  local r = pack(pcall(run_batch, conn, list, true))
  pool:release(conn)
  if not r[1] then error(r[2], 0) end
  return unpack(r, 2, r.n)
end

-- Runs sql on the transaction's connection when this coroutine holds one, else on a pooled one.
local function with(db, what, sql, ...)
  local held = db.holders[current(what)]
  if held then return run(held, sql, ...) end
  return pooled(db.pool, { { sql, pack(...) } })
end

local function rows_of(list, ...)
  local r, out = pack(...), {}
  for i = 1, #list do out[i] = r[2 * i - 1] end
  return unpack(out, 1, #list)
end

-- db:batch{ { sql, args }, ... } -> rows1, rows2, ...: the statements (args: their values, with
-- n) in one round trip, one implicit transaction (in the transaction when this coroutine holds
-- one); the first error raises.
function Db:batch(list)
  local held = self.holders[current("batch")]
  if held then return rows_of(list, run_batch(held, list)) end
  return rows_of(list, pooled(self.pool, list))
end

-- db:read{ ... }: db:batch for fdn.sql.service's SELECTs (find, get), which joins an identical
-- read waiting for a connection (fdn.sql.shared_reads: why it is safe); not in a transaction.
function Db:read(list)
  local pool = self.pool
  local key = not self.holders[current("read")] and #pool.idle == 0 and shared.key(list)
  if not key then return self:batch(list) end
  return rows_of(list, pool.flights:read(key, function(close) return pooled(pool, list, close) end,
    function() pool:full() end))
end

-- { shared (reads served by another's execution), flights (shared reads run), waiting, open }
function Db:stats()
  local pool, f = self.pool, self.pool.flights
  return { shared = f.shared, flights = f.started, waiting = pool.tail - pool.head + f.joined, open = pool.open }
end

function Db:query(sql, ...)
  return (with(self, "query", sql, ...))
end

function Db:exec(sql, ...)
  local _, changes = with(self, "exec", sql, ...)
  return { changes = changes or 0 }
end

local function finish(conn, ok, res, commit, rollback)
  if ok then
    run(conn, commit)
    return unpack(res, 1, res.n)
  end
  if conn:state() == "idle" then pcall(run, conn, rollback) end
  error(res, 0)
end

-- fn(tx) inside BEGIN .. COMMIT (ROLLBACK and re-raise when it raises), on one connection.
function Db:transaction(fn)
  local co = current("transaction")
  if self.holders[co] then return Tx.transaction({ db = self, conn = self.holders[co], depth = 0 }, fn) end
  local pool = self.pool
  local conn = pool:acquire()
  local tx = { db = self, conn = conn, depth = 0 }
  setmetatable(tx, Tx)
  self.holders[co] = conn
  local r = pack(pcall(run, conn, "BEGIN"))
  if r[1] then
    local ok, res = pcall(function() return pack(fn(tx)) end)
    r = pack(pcall(finish, conn, ok, res, "COMMIT", "ROLLBACK"))
  end
  self.holders[co] = nil
  tx.finished = true
  pool:release(conn)
  if not r[1] then error(r[2], 0) end
  return unpack(r, 2, r.n)
end

function Tx:query(sql, ...)
  if self.finished then error("postgres: tx:query after the transaction ended", 2) end
  return (run(self.conn, sql, ...))
end

function Tx:exec(sql, ...)
  if self.finished then error("postgres: tx:exec after the transaction ended", 2) end
  local _, changes = run(self.conn, sql, ...)
  return { changes = changes or 0 }
end

-- A nested transaction: a savepoint, released, or rolled back to when fn raises.
function Tx:transaction(fn)
  local depth = self.depth + 1
  local name = "fdn_sp" .. depth
  run(self.conn, "SAVEPOINT " .. name)
  local sub_tx = setmetatable({ db = self.db, conn = self.conn, depth = depth }, Tx)
  local ok, res = pcall(function() return pack(fn(sub_tx)) end)
  sub_tx.finished = true
  return finish(self.conn, ok, res, "RELEASE SAVEPOINT " .. name, "ROLLBACK TO SAVEPOINT " .. name)
end

local COLUMNS = [[
SELECT c.column_name AS name, lower(c.data_type) AS type, c.is_nullable = 'NO' AS notnull,
  EXISTS (SELECT 1 FROM information_schema.table_constraints t
    JOIN information_schema.key_column_usage k ON k.constraint_schema = t.constraint_schema
      AND k.constraint_name = t.constraint_name
    WHERE t.constraint_type = 'PRIMARY KEY' AND t.table_schema = c.table_schema
      AND t.table_name = c.table_name AND k.column_name = c.column_name) AS pk
FROM information_schema.columns c
WHERE c.table_name = ? AND c.table_schema = coalesce(?, current_schema())
ORDER BY c.ordinal_position]]

-- The table's columns in order ({ name, type (lower case), notnull, pk }), or nil.
local function columns(self, name)
  if type(name) ~= "string" then error("postgres: columns(table): table must be a string", 3) end
  local schema, tbl = name:match("^([^.]+)%.([^.]+)$")
  local rows = self:query(COLUMNS, tbl or name, schema or json.null)
  if #rows == 0 then return nil end
  local cols = {}
  for i, r in ipairs(rows) do cols[i] = { name = r.name, type = r.type, notnull = r.notnull, pk = r.pk } end
  return cols
end
Db.columns, Tx.columns = columns, columns

function Db:close()
  local pool = self.pool
  self.closed = true -- (fdn.sql.connect forgets a closed database)
  if pool.closed then return end
  pool.closed = true
  for i = #pool.idle, 1, -1 do
    pool.idle[i]:close()
    pool.idle[i] = nil
    pool.open = pool.open - 1
  end
  while pool:handoff(nil) do end -- each waiter raises "closed"
end

local function decode(s)
  return (gsub(s, "%%(%x%x)", function(h) return char(tonumber(h, 16)) end))
end

local PASSED = { sslmode = true, sslrootcert = true, sslcert = true, sslkey = true,
  application_name = true, options = true, target_session_attrs = true, gssencmode = true }

-- postgres[ql]://[user[:password]@][host][:port][/db][?host=DIR&port=N&pool=N&queue=N&sslmode=..]
-- -> libpq's keywords, pool size, queue bound.
function M.parse(url)
  local rest = url:match("^postgres://(.*)$") or url:match("^postgresql://(.*)$")
  if not rest then error("postgres: not a postgres:// URL: " .. tostring(url), 3) end
  local query = rest:match("%?(.*)$") or ""
  rest = rest:gsub("%?.*$", "")
  local auth, hostport, path = rest:match("^(.-)@([^@/]*)(.*)$")
  if not auth then hostport, path = rest:match("^([^/]*)(.*)$") end
  local p = { client_encoding = "UTF8", gssencmode = "disable", fallback_application_name = "fdnode" }
  if auth then
    local user, pass = auth:match("^([^:]*):(.*)$")
    p.user, p.password = decode(user or auth), pass and decode(pass) or nil
  end
  local host, port = hostport:match("^%[(.-)%]:?(%d*)$")
  if not host then host, port = hostport:match("^([^:]*):?(%d*)$") end
  if not host then error("postgres: bad host in " .. url, 3) end
  if host ~= "" then p.host = decode(host) end
  if port ~= "" then p.port = port end
  local db = path:match("^/(.+)$")
  if db then p.dbname = decode(db) end
  local size, queue = 4, 1000
  for k, v in query:gmatch("([^&=]+)=?([^&]*)") do
    k, v = decode(k), decode(v)
    if k == "pool" then size = tonumber(v)
    elseif k == "queue" then queue = tonumber(v)
    elseif k == "host" or k == "port" or k == "user" or k == "password" or k == "dbname" or PASSED[k] then p[k] = v
    else error("postgres: unknown URL parameter " .. k, 3) end
  end
  if mtype(size) ~= "integer" or size < 1 or size > 1000 then error("postgres: pool must be 1..1000", 3) end
  if mtype(queue) ~= "integer" or queue < 0 then error("postgres: queue must be an integer >= 0", 3) end
  -- a numeric address needs no name lookup (libpq's lookup of a name blocks)
  if p.host and (p.host:match("^[%d.]+$") or p.host:find(":", 1, true)) then p.hostaddr = p.host end
  for k, v in pairs(p) do
    if find(v, "\0", 1, true) then error("postgres: NUL byte in the URL's " .. k, 3) end
  end
  return p, size, queue
end

-- connect(url) -> db (no connection is opened until the first call).
function M.connect(url)
  local params, size, queue = M.parse(url)
  local pool = pg_pool.new(params, size, queue, raise)
  return setmetatable({ dialect = "postgres", pool = pool, holders = setmetatable({}, { __mode = "k" }) }, Db)
end

return M
