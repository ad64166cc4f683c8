-- sql/sqlite.lua: the SQLite database object of fdn.sql (query, exec, transaction, columns,
-- close) over fdn.core.sqlite: one connection on a worker thread of its own, the calling
-- coroutine waiting for each result; a transaction holds the connection until it ends.
local core = require "fdn.core.sqlite"
local sched = require "fdn.sched"
local errors = require "fdn.errors"

local M = {}

local error, type, tostring, setmetatable, pcall, unpack, remove =
  error, type, tostring, setmetatable, pcall, table.unpack, table.remove
local pack = table.pack

-- SQLite's result code (its name) -> the Feathers error raised
local function class_of(code)
  if code == "SQLITE_CONSTRAINT_UNIQUE" or code == "SQLITE_CONSTRAINT_PRIMARYKEY" then
    return errors.Conflict
  elseif code:find("^SQLITE_CONSTRAINT") or code == "SQLITE_MISMATCH" then
    return errors.BadRequest
  elseif code:find("^SQLITE_BUSY") or code:find("^SQLITE_LOCKED") or code:find("^SQLITE_CANTOPEN")
    or code:find("^SQLITE_IOERR") then
    return errors.Unavailable
  end
  return errors.GeneralError
end
M.class_of = class_of

local function raise(code, message)
  error(class_of(code)(message, { code = code }), 0)
end

-- The running coroutine, or a clear error naming the call (level 4: the caller of db:<what>).
local function current(what)
  local co = sched.current()
  if not co then
    error("sqlite: db:" .. what .. " called outside a coroutine (call it from a service, hook, "
      .. "configure function or task)", 4)
  end
  return co
end

-- Runs sql with the values on the connection now; rows, changes, last id.
local function run(db, what, sql, ...)
  local co = current(what)
  if db.closed then error("sqlite: db:" .. what .. " on a closed database", 3) end
  if type(sql) ~= "string" then error("sqlite: db:" .. what .. ": the SQL must be a string", 3) end
  local ok, err = db.handle:run(function(...) sched.wake(co, ...) end, sql, ...)
  if not ok then
    error(errors.Unavailable("Too many SQLite calls queued (" .. tostring(err) .. ")",
      { code = "SQLITE_BUSY" }), 0)
  end
  local rows, changes, last = sched.wait()
  if not rows then raise(changes, last) end
  return rows, changes, last
end

-- The lock: while a transaction holds the connection, other coroutines' calls queue (FIFO)
-- until it ends; the holder's own calls (through tx, or db from the same coroutine) go through.
local function enter(db, exclusive)
  local co = sched.current()
  if db.holder == co and co then return false end -- already inside its own transaction
  if db.holder or #db.queue > 0 then
    db.queue[#db.queue + 1] = { co = co, exclusive = exclusive }
    sched.wait()
  end
  if exclusive then db.holder = co end
  return exclusive
end

-- Ends a hold: the calls queued behind it go, up to the next transaction, which then holds.
local function leave(db)
  db.holder = nil
  while #db.queue > 0 and not db.holder do
    local w = remove(db.queue, 1)
    if w.exclusive then db.holder = w.co end
    sched.wake(w.co)
  end
end

local Db = {}
Db.__index = Db

local function plain(db, what, sql, ...)
  current(what)
  if db.holder ~= sched.current() and (db.holder or #db.queue > 0) then enter(db, false) end
  return run(db, what, sql, ...)
end

function Db:query(sql, ...)
  return (plain(self, "query", sql, ...))
end

function Db:exec(sql, ...)
  local _, changes, last = plain(self, "exec", sql, ...)
  return { changes = changes, lastId = last }
end

-- tx: the transaction's handle; its calls go straight to the connection.
local Tx = {}
Tx.__index = Tx

local function tx_check(tx, what)
  if tx.finished then error("sqlite: tx:" .. what .. " after the transaction ended", 3) end
  return tx.db
end

function Tx:query(sql, ...)
  return (run(tx_check(self, "query"), "query", sql, ...))
end

function Tx:exec(sql, ...)
  local _, changes, last = run(tx_check(self, "exec"), "exec", sql, ...)
  return { changes = changes, lastId = last }
end

-- fn(tx) between begin and commit; rollback (then the error re-raised) when it raises.
local function wrap(db, tx, fn, begin, commit, rollback)
  run(db, "transaction", begin)
  local res = pack(pcall(fn, tx))
  if res[1] then
    local ok, err = pcall(run, db, "transaction", commit)
    if ok then return unpack(res, 2, res.n) end
    res[2] = err
  end
  pcall(run, db, "transaction", rollback) -- (a failed COMMIT may have rolled back already)
  error(res[2], 0)
end

function Tx:transaction(fn)
  local db = tx_check(self, "transaction")
  db.depth = db.depth + 1
  local sp = "fdn_sp" .. db.depth
  local inner = setmetatable({ db = db, dialect = "sqlite" }, Tx)
  local res = pack(pcall(wrap, db, inner, fn, "SAVEPOINT " .. sp, "RELEASE " .. sp,
    "ROLLBACK TO " .. sp .. "; RELEASE " .. sp))
  inner.finished = true
  db.depth = db.depth - 1
  if not res[1] then error(res[2], 0) end
  return unpack(res, 2, res.n)
end

function Tx:columns(name)
  return Db.columns(tx_check(self, "columns"), name)
end

function Db:transaction(fn)
  current("transaction")
  if type(fn) ~= "function" then error("sqlite: db:transaction(fn): fn must be a function", 2) end
  if self.holder == sched.current() then -- the holder's own call: a nested one
    return Tx.transaction(self.tx, fn)
  end
  enter(self, true)
  local tx = setmetatable({ db = self, dialect = "sqlite" }, Tx)
  self.tx, self.depth = tx, 0
  local res = pack(pcall(wrap, self, tx, fn, "BEGIN IMMEDIATE", "COMMIT", "ROLLBACK"))
  tx.finished, self.tx = true, nil
  leave(self)
  if not res[1] then error(res[2], 0) end
  return unpack(res, 2, res.n)
end

-- The table's columns in order ({ name, type (lower case), notnull, pk } with booleans), or nil.
function Db:columns(name)
  if type(name) ~= "string" then error("sqlite: db:columns(table): the table name must be a string", 2) end
  local rows = self:query('SELECT name, type, "notnull", pk FROM pragma_table_info(?) ORDER BY cid', name)
  if #rows == 0 then return nil end
  local cols = {}
  for i = 1, #rows do
    local r = rows[i]
    cols[i] = { name = r.name, type = r.type:lower(), notnull = r.notnull ~= 0, pk = r.pk > 0 }
  end
  return cols
end

-- Closes the connection once the calls queued before have run; later calls raise.
function Db:close()
  if self.closed then return end
  local co = current("close")
  enter(self, true)
  if not self.closed then
    self.closed = true
    -- (busy: a full queue; the handle's finalizer closes it then)
    if self.handle:close(function() sched.wake(co) end) then sched.wait() end
  end
  leave(self)
end

-- open(path) -> db, once the connection is open (":memory:" for a private in-memory one).
function M.open(path)
  local co = current("connect")
  local handle = core.open(path, function(...) sched.wake(co, ...) end)
  local ok, code, message = sched.wait()
  if not ok then raise(code, "sqlite: cannot open " .. path .. ": " .. tostring(message)) end
  return setmetatable({ dialect = "sqlite", handle = handle, queue = {}, depth = 0, path = path }, Db)
end

M.MAX_ROWS = core.MAX_ROWS
return M
