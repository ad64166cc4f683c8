-- test_pg.lua: fdn.sql.postgres against a real server (URL in FDN_PG_URL; run by
-- tests/integration/test_pg.py): types both ways, NULL, hostile strings, transactions, errors, columns.
local t = require "lib.t"
local pg = require "fdn.sql.postgres"
local json = require "fdn.json"

local url = os.getenv("FDN_PG_URL")
if not url then
  io.stderr:write("skipped: FDN_PG_URL is not set (tests/integration/test_pg.py sets it)\n")
  return 77
end
local db = pg.connect(url)
t.eq(db.dialect, "postgres", "dialect")

db:exec("DROP TABLE IF EXISTS things")
db:exec([[CREATE TABLE things (id serial PRIMARY KEY, name text NOT NULL UNIQUE, n int, big bigint,
  f float8, r real, num numeric, b boolean, j jsonb, blob bytea, at timestamptz, CHECK (n IS NULL OR n >= 0))]])

local r = db:exec("INSERT INTO things (name, n, big, f, b, j, num) VALUES (?, ?, ?, ?, ?, ?, ?)",
  "one", 1, math.maxinteger, 0.1, true, { a = { 1, 2 }, s = "x" }, 2.5)
t.eq(r, { changes = 1 }, "exec: changes, no lastId")
local row = db:query("SELECT * FROM things WHERE name = ?", "one")[1]
t.eq({ row.id, row.n, row.big, row.f, row.b, row.num }, { 1, 1, math.maxinteger, 0.1, true, 2.5 }, "types back")
t.check(math.type(row.n) == "integer" and math.type(row.f) == "float", "integer and float")
t.eq(row.j, { a = t.list { 1, 2 }, s = "x" }, "jsonb decoded")
t.eq({ row.r, row.blob, row.at }, { json.null, json.null, json.null }, "NULL is json.null, the key stays")
t.eq(getmetatable(db:query("SELECT 1 AS x WHERE false")), json.array_mt, "an empty list is a list")

local rows = db:query("SELECT ?::int AS i, ?::float8 AS f, ?::bool AS b, ?::text AS s, ?::text IS NULL AS isnull, "
  .. "?::int IS NULL AS null2, 12345678901234567890.5::numeric AS bignum, 1.25::numeric AS smallnum, "
  .. "'2020-01-02 03:04:05+00'::timestamptz AS ts, 'x'::varchar AS v, 3::int2 AS small", -7, -1.5e300, false,
  "héllo", nil, json.null)
t.eq(rows, t.list { { i = -7, f = -1.5e300, b = false, s = "héllo", isnull = true, null2 = true,
  bignum = "12345678901234567890.5", smallnum = 1.25, ts = "2020-01-02 03:04:05+00", v = "x", small = 3 } },
  "values both ways")

local blob = "\0\1\2\255\254 binary\0"
db:exec("UPDATE things SET blob = ? WHERE id = 1", blob)
t.eq(db:query("SELECT blob FROM things WHERE id = 1")[1].blob, blob, "bytea round trip with NUL bytes")

for _, s in ipairs { "'; DROP TABLE things; --", "\\' OR 1=1 --", "$$; DELETE FROM things; $$", "?", "$1",
  "Robert'); DROP TABLE things;--", ("x"):rep(100000), "\u{1F600}" } do
  local got = db:query("SELECT ? AS s, length(?) AS l", s, s)[1]
  t.eq(got.s, s, "a hostile string stays a value: " .. s:sub(1, 30))
end
t.eq(db:query("SELECT count(*) AS c FROM things")[1].c, 1, "the table is still there")

-- errors
local e = t.throws(function() db:exec("INSERT INTO things (name) VALUES (?)", "one") end, "Conflict")
t.eq(e and e.data, { code = "23505" }, "unique: 23505")
t.throws(function() db:exec("INSERT INTO things (name) VALUES (NULL)") end, "BadRequest")
t.throws(function() db:exec("INSERT INTO things (name, n) VALUES ('neg', -1)") end, "BadRequest")
e = t.throws(function() db:exec("INSERT INTO things (name, n) VALUES ('text', ?)", "abc") end, "BadRequest",
  nil, "a value the column's type refuses is BadRequest (a data exception, 22xxx)")
t.eq(e and e.data, { code = "22P02" }, "invalid text representation: 22P02")
e = t.throws(function() db:query("SELEC 1") end, "GeneralError")
t.eq(e and e.data, { code = "42601" }, "syntax: 42601")
t.throws(function() db:query("SELECT nope FROM things") end, "GeneralError")
t.throws(function() db:query("SELECT ?, ?", 1) end, "GeneralError")

-- transactions
local a, b = db:transaction(function(tx)
  tx:exec("INSERT INTO things (name) VALUES (?)", "two")
  return "done", #tx:query("SELECT * FROM things")
end)
t.eq({ a, b }, { "done", 2 }, "commit returns fn's results")
t.raises(function()
  db:transaction(function(tx)
    tx:exec("INSERT INTO things (name) VALUES (?)", "three")
    error("boom")
  end)
end, "a raising transaction")
t.eq(#db:query("SELECT * FROM things WHERE name = 'three'"), 0, "rolled back")
db:transaction(function(tx)
  tx:exec("INSERT INTO things (name) VALUES ('outer')")
  pcall(tx.transaction, tx, function(inner)
    inner:exec("INSERT INTO things (name) VALUES ('inner')")
    error("inner fails")
  end)
  tx:transaction(function(inner) inner:exec("INSERT INTO things (name) VALUES ('inner2')") end)
  t.eq(#db:query("SELECT * FROM things WHERE name = 'outer'"), 1, "db:query in the transaction sees it")
end)
local names = {}
for _, x in ipairs(db:query("SELECT name FROM things ORDER BY id")) do names[#names + 1] = x.name end
t.eq(names, { "one", "two", "outer", "inner2" }, "nested: savepoint rolled back, the rest committed")
t.throws(function()
  db:transaction(function(tx) tx:exec("INSERT INTO things (name) VALUES ('one')") end)
end, "Conflict")

-- columns
local cols = db:columns("things")
t.eq(cols[1], { name = "id", type = "integer", notnull = true, pk = true }, "columns: id")
t.eq(cols[2], { name = "name", type = "text", notnull = true, pk = false }, "columns: name")
t.eq(cols[11], { name = "at", type = "timestamp with time zone", notnull = false, pk = false }, "columns: at")
t.eq(#cols, 11, "eleven columns")
t.eq(db:columns("no_such_table"), nil, "no such table")

-- many at once over the pool
local done, want = 0, 20
local sched = require "fdn.sched"
local me = sched.current()
for i = 1, want do
  sched.spawn(function()
    local got = db:query("SELECT ?::int * 2 AS x", i)[1].x
    if got == i * 2 then done = done + 1 end
    if done == want then sched.wake(me) end
  end)
end
if done < want then sched.wait() end
t.eq(done, want, "20 concurrent queries over 4 connections")
t.eq(db.pool.open <= 4, true, "at most 4 connections")
db:exec("DROP TABLE things")
db:close()
t.throws(function() db:query("SELECT 1") end, "Unavailable")
return t.done()
