-- test_sqlite.lua: fdn.sql on SQLite (a real file in a temporary directory, and :memory:):
-- values both ways, binding, transactions and their lock, errors as Feathers errors, columns.
local t = require "lib.t"
local sql = require "fdn.sql"
local json = require "fdn.json"
local sched = require "fdn.sched"
local errors = require "fdn.errors"

local list = t.list
local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p '" .. dir .. "'"))
local file = dir .. "/test.db"

local db = sql.connect("sqlite:" .. file)
t.eq(db.dialect, "sqlite", "dialect")
t.eq(db:query("PRAGMA journal_mode")[1].journal_mode, "wal", "a file database is in WAL mode")
t.eq(db:query("PRAGMA foreign_keys")[1].foreign_keys, 1, "foreign keys are on")

-- exec: changes and lastId
db:exec([[CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,
  age INTEGER CHECK (age >= 0), score REAL, data BLOB, meta TEXT)]])
local r = db:exec("INSERT INTO people (name, age) VALUES (?, ?)", "Ann", 30)
t.eq(r, { changes = 1, lastId = 1 }, "insert: one change, lastId 1")
r = db:exec("INSERT INTO people (name, age) VALUES (?, ?), (?, ?)", "Bob", 40, "Cy", 50)
t.eq(r, { changes = 2, lastId = 3 }, "two rows: lastId of the last")
t.eq(db:exec("UPDATE people SET age = age + 1 WHERE age >= ?", 40).changes, 2, "update counts its rows")

-- query: a list of rows keyed by column name
local rows = db:query("SELECT id, name, age FROM people ORDER BY id")
t.eq(getmetatable(rows), json.array_mt, "rows are a JSON list")
t.eq(rows, list { { id = 1, name = "Ann", age = 30 }, { id = 2, name = "Bob", age = 41 },
  { id = 3, name = "Cy", age = 51 } }, "three rows")
t.eq(db:query("SELECT * FROM people WHERE id = ?", 99), list {}, "no row: an empty list")
t.eq(json.encode(db:query("SELECT 1 WHERE 0")), "[]", "an empty result encodes as []")

-- every value type both ways; NULL stays a key, as json.null
local blob = "\0\1\2\255bin"
db:exec("INSERT INTO people (id, name, age, score, data, meta) VALUES (?, ?, ?, ?, ?, ?)",
  10, "Dee", nil, 2.5, blob, { tags = { "a", "b" } })
local dee = db:query("SELECT * FROM people WHERE id = 10")[1]
t.eq(dee.age, json.null, "nil binds NULL, read back as json.null")
t.check(math.type(dee.score) == "float" and dee.score == 2.5, "a float")
t.eq(dee.data, blob, "a string with NUL bytes round-trips")
t.eq(json.decode(dee.meta), { tags = list { "a", "b" } }, "a table binds as its JSON text")
local v = db:query("SELECT ? AS t, ? AS f, ? AS n, ? AS i, ? AS big, ? AS d, typeof(?) AS ty",
  true, false, json.null, 7, math.maxinteger, 0.1, 1.5)[1]
t.eq(v, { t = 1, f = 0, n = json.null, i = 7, big = math.maxinteger, d = 0.1, ty = "real" },
  "booleans as 0/1, json.null as NULL, integers exact, floats")
t.eq(math.type(db:query("SELECT 3 AS x")[1].x), "integer", "an integer stays an integer")
t.eq(db:query("SELECT x'00ff' AS b")[1].b, "\0\255", "a BLOB comes back as a string")

-- binding: a value is never SQL
local evil = "x'); DROP TABLE people; --"
db:exec("INSERT INTO people (name) VALUES (?)", evil)
t.eq(db:query("SELECT name FROM people WHERE name = ?", evil), list { { name = evil } },
  "a value with quotes and ; DROP TABLE stays a value")
t.eq(#db:query("SELECT id FROM people"), 5, "the table is still there")
t.throws(function() db:query("SELECT ? AS a", 1, 2) end, "GeneralError", nil, "too many values raise")
t.throws(function() db:query("SELECT ? AS a, ? AS b", 1) end, "GeneralError", nil, "too few values raise")
t.raises(function() db:query("SELECT ?", function() end) end, "a function cannot be bound")

-- several statements in one exec (a schema script)
db:exec("CREATE TABLE a (x); CREATE TABLE b (y REFERENCES people(id)); INSERT INTO a VALUES (?)", 5)
t.eq(db:query("SELECT x FROM a"), list { { x = 5 } }, "several statements run in order")

-- errors: Feathers errors with SQLite's message and code
local e = t.throws(function() db:exec("INSERT INTO people (name) VALUES ('Ann')") end, "Conflict",
  "UNIQUE constraint failed: people.name", "a unique violation is Conflict")
t.eq(e and e.code, 409, "409")
t.eq(e and e.data, { code = "SQLITE_CONSTRAINT_UNIQUE" }, "its code in data")
e = t.throws(function() db:exec("INSERT INTO people (id, name) VALUES (1, 'Zed')") end, "Conflict",
  nil, "a primary key violation is Conflict")
t.eq(e and e.data.code, "SQLITE_CONSTRAINT_PRIMARYKEY", "primary key code")
e = t.throws(function() db:exec("INSERT INTO people (name) VALUES (NULL)") end, "BadRequest",
  "NOT NULL constraint failed: people.name", "NOT NULL is BadRequest")
t.eq(e and e.data.code, "SQLITE_CONSTRAINT_NOTNULL", "not null code")
t.throws(function() db:exec("INSERT INTO people (name, age) VALUES ('Neg', -1)") end, "BadRequest",
  nil, "CHECK is BadRequest")
t.throws(function() db:exec("INSERT INTO b VALUES (999)") end, "BadRequest",
  "FOREIGN KEY constraint failed", "FOREIGN KEY is BadRequest")
e = t.throws(function() db:exec("INSERT INTO people (id, name) VALUES ('abc', 'Text id')") end, "BadRequest",
  nil, "text into the INTEGER PRIMARY KEY is BadRequest (SQLITE_MISMATCH)")
t.eq(e and e.data.code, "SQLITE_MISMATCH", "mismatch code")
e = t.throws(function() db:query("SELEC 1") end, "GeneralError", nil, "a syntax error is GeneralError")
t.check(e and e.message:find "syntax error", "with SQLite's message", e and e.message)
t.eq(e and e.code, 500, "500")
t.throws(function() db:query("SELECT nope FROM people") end, "GeneralError", "no such column: nope",
  "an unknown column is GeneralError")

-- columns
t.eq(db:columns("people"), {
  { name = "id", type = "integer", notnull = false, pk = true },
  { name = "name", type = "text", notnull = true, pk = false },
  { name = "age", type = "integer", notnull = false, pk = false },
  { name = "score", type = "real", notnull = false, pk = false },
  { name = "data", type = "blob", notnull = false, pk = false },
  { name = "meta", type = "text", notnull = false, pk = false },
}, "columns in table order")
t.eq(db:columns("nothing"), nil, "no such table: nil")
t.eq(db:columns("people'; DROP TABLE people; --"), nil, "a table name is a value too")

-- transactions
local out = db:transaction(function(tx)
  tx:exec("INSERT INTO a VALUES (?)", 6)
  return "done", 2
end)
t.eq(out, "done", "a transaction returns fn's results")
t.eq(#db:query("SELECT x FROM a"), 2, "committed")
local boom = errors.BadRequest("no thanks")
local ok, err = pcall(db.transaction, db, function(tx)
  tx:exec("INSERT INTO a VALUES (7)")
  t.eq(#tx:query("SELECT x FROM a"), 3, "the transaction sees its own insert")
  error(boom, 0)
end)
t.check(not ok and err == boom, "the error is re-raised as it was", tostring(err))
t.eq(#db:query("SELECT x FROM a"), 2, "rolled back")
t.throws(function()
  db:transaction(function(tx) tx:exec("INSERT INTO people (name) VALUES ('Ann')") end)
end, "Conflict", nil, "a database error inside is re-raised")

db:transaction(function(tx)
  tx:exec("INSERT INTO a VALUES (8)")
  local ok2 = pcall(tx.transaction, tx, function(tx2)
    tx2:exec("INSERT INTO a VALUES (9)")
    error("inner fails")
  end)
  t.check(not ok2, "the nested transaction raised")
  t.eq(tx:transaction(function(tx2) tx2:exec("INSERT INTO a VALUES (10)"); return 10 end), 10,
    "a nested transaction returns its value")
end)
t.eq(db:query("SELECT x FROM a ORDER BY x"), list { { x = 5 }, { x = 6 }, { x = 8 }, { x = 10 } },
  "nested: the savepoint rolled back alone, the rest committed")

-- the lock: a transaction holds the connection; another coroutine's query waits for it
local me = sched.current()
local log = {}
sched.spawn(function()
  db:transaction(function(tx)
    log[#log + 1] = "tx begins"
    tx:exec("INSERT INTO a VALUES (11)")
    fdn.sleep(50)
    tx:exec("INSERT INTO a VALUES (12)")
    log[#log + 1] = "tx ends"
  end)
end)
sched.spawn(function()
  local n = #db:query("SELECT x FROM a")
  log[#log + 1] = "query saw " .. n
  sched.wake(me)
end)
sched.wait()
t.eq(log, { "tx begins", "tx ends", "query saw 6" }, "the query waited for the commit")
local t0 = fdn.now()
local order = {}
sched.spawn(function()
  local ok3 = pcall(db.transaction, db, function(tx)
    tx:exec("INSERT INTO a VALUES (13)")
    fdn.sleep(30)
    error("rolled back")
  end)
  order[#order + 1] = ok3 and "tx1 ok" or "tx1 raised"
end)
sched.spawn(function()
  db:transaction(function(tx) order[#order + 1] = "tx2 sees " .. #tx:query("SELECT x FROM a") end)
  order[#order + 1] = "tx2 done"
  sched.wake(me)
end)
sched.wait()
t.eq(order, { "tx1 raised", "tx2 sees 6", "tx2 done" }, "a second transaction waits for the first")
t.check(fdn.now() - t0 >= 25, "it waited the first one's length")
t.eq(db:transaction(function() return db:query("SELECT count(*) AS n FROM a")[1].n end), 6,
  "db from the transaction's own coroutine goes through")

-- outside a coroutine (a bare timer callback runs on the main thread): a clear error
local node = require "fdn.core.node"
local outside
node.timer(0, function()
  local ok4, m = pcall(db.query, db, "SELECT 1")
  outside = { ok4, tostring(m) }
  sched.wake(me)
end)
sched.wait()
t.check(outside[1] == false and outside[2]:find "outside a coroutine", "outside a coroutine raises",
  outside[2])

-- the cap on a result's size
e = t.throws(function()
  db:query("WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c LIMIT 100001) SELECT i FROM c")
end, "GeneralError", nil, "more rows than the cap fail")
t.check(e and e.message:find "100000 rows", "with a clear message", e and e.message)
t.eq(#db:query("WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c LIMIT 100000) SELECT i FROM c"),
  100000, "the cap itself passes")

-- close, reopen: the data is in the file
db:close()
t.raises(function() db:query("SELECT 1") end, "a closed database")
db:close()
t.check(true, "close twice is harmless")
local db2 = sql.connect("sqlite:" .. file)
t.eq(db2:query("SELECT name FROM people WHERE id = 2"), list { { name = "Bob" } }, "data survives a reopen")
db2:close()

-- :memory: is private to its connection
local m1, m2 = sql.connect("sqlite::memory:"), sql.connect("sqlite::memory:")
m1:exec("CREATE TABLE t (x)")
m1:exec("INSERT INTO t VALUES (1)")
t.eq(m1:query("SELECT x FROM t"), list { { x = 1 } }, ":memory: works")
t.throws(function() m2:query("SELECT x FROM t") end, "GeneralError", "no such table: t", "each is its own")
m1:close()
m2:close()

-- URLs
t.throws(function() sql.connect("sqlite:" .. dir .. "/no/such/dir/x.db") end, "Unavailable", nil,
  "a path that cannot be opened is Unavailable")
local bad = t.raises(function() sql.connect("mysql://x") end, "an unknown scheme")
t.check(tostring(bad):find "sqlite:PATH" and tostring(bad):find "postgresql://", "names the forms", tostring(bad))
t.raises(function() sql.connect("sqlite:") end, "no path")
t.raises(function() sql.connect(42) end, "not a string")

os.execute("rm -rf '" .. dir .. "'")
return t.done()
