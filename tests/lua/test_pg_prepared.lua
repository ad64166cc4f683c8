-- test_pg_prepared.lua: fdn.sql.postgres's prepared statements and batches against a real server
-- (URL in FDN_PG_URL; run by tests/integration/test_pg.py): reuse, the bound, a name the server
-- lost, a plan whose columns changed, errors keeping their classes, db:batch.
local t = require "lib.t"
local pg = require "fdn.sql.postgres"

local url = os.getenv("FDN_PG_URL")
if not url then
  io.stderr:write("skipped: FDN_PG_URL is not set (tests/integration/test_pg.py sets it)\n")
  return 77
end
local db = pg.connect(url .. (url:find("?", 1, true) and "&" or "?") .. "pool=1")

-- the names this connection holds (this query is one of them)
local function names()
  local rows = db:query("SELECT name, statement FROM pg_prepared_statements WHERE name LIKE 'fdn%' ORDER BY name")
  local out = {}
  for _, r in ipairs(rows) do out[r.statement] = r.name end
  return out, #rows
end

db:exec("DROP TABLE IF EXISTS prep")
db:exec("CREATE TABLE prep (id serial PRIMARY KEY, name text UNIQUE)")
db:exec("INSERT INTO prep (name) VALUES (?)", "a")
db:exec("INSERT INTO prep (name) VALUES (?)", "b")
local by_id = "SELECT * FROM prep WHERE id = ?"
t.eq(db:query(by_id, 1)[1], { id = 1, name = "a" }, "first run")
t.eq(db:query(by_id, 2)[1], { id = 2, name = "b" }, "second run")
local held = names()
t.check(held["SELECT * FROM prep WHERE id = $1"] ~= nil, "the SELECT is a prepared statement")
t.check(held["INSERT INTO prep (name) VALUES ($1)"] ~= nil, "so is the INSERT")
t.eq(held["CREATE TABLE prep (id serial PRIMARY KEY, name text UNIQUE)"], nil, "DDL is not prepared")
local before = held["SELECT * FROM prep WHERE id = $1"]
db:query(by_id, 1)
t.eq(names()["SELECT * FROM prep WHERE id = $1"], before, "reused: the same name")

-- errors keep their classes, prepared or not; the name stays usable
local e = t.throws(function() db:exec("INSERT INTO prep (name) VALUES (?)", "a") end, "Conflict")
t.eq(e and e.data, { code = "23505" }, "unique: 23505")
t.throws(function() db:query("SELECT nope FROM prep WHERE id = ?", 1) end, "GeneralError")
t.throws(function() db:query("SELECT * FROM prep WHERE id = ?", "x") end, "BadRequest")
t.eq(#db:query(by_id, 2), 1, "the statement still runs after errors")

-- the columns changed under SELECT *: prepared anew, the new column is there
db:exec("ALTER TABLE prep ADD COLUMN extra int DEFAULT 7")
t.eq(db:query(by_id, 1)[1], { id = 1, name = "a", extra = 7 }, "after ALTER TABLE: re-prepared")
db:exec("ALTER TABLE prep DROP COLUMN extra")
t.eq(db:query(by_id, 1)[1], { id = 1, name = "a" }, "after DROP COLUMN: re-prepared")

-- the server lost the names (DEALLOCATE ALL, as a pooler's reset does)
db:exec("DEALLOCATE ALL")
t.eq(db:query(by_id, 2)[1], { id = 2, name = "b" }, "after DEALLOCATE ALL: prepared anew")
db:exec("DISCARD ALL")
t.eq(#db:query("SELECT * FROM prep ORDER BY id"), 2, "after DISCARD ALL: prepared anew")

-- bounded: past NAMED, the oldest is deallocated
local was = pg.NAMED
pg.NAMED = 4
for i = 1, 10 do t.eq(db:query("SELECT ?::int + " .. i .. " AS x", i)[1].x, 2 * i, "distinct statement " .. i) end
local _, count = names()
t.check(count <= 4, "at most NAMED statements held: " .. count)
pg.NAMED = was

-- a batch: one round trip, results in order; the first error raises with its class
local rows, counted = db:batch { { "SELECT * FROM prep WHERE id > ? ORDER BY id", { n = 1, 0 } },
  { "SELECT count(*) AS total FROM prep WHERE id > ?", { n = 1, 0 } } }
t.eq({ #rows, counted[1].total }, { 2, 2 }, "batch: page and count")
t.throws(function()
  db:batch { { "INSERT INTO prep (name) VALUES (?)", { n = 1, "a" } }, { "SELECT 1 AS x", { n = 0 } } }
end, "Conflict")
t.throws(function() db:batch { { "SELECT ?", { n = 0 } } } end, "GeneralError")
t.eq(#db:query("SELECT * FROM prep"), 2, "the connection works after failed batches")
local tx_rows = db:transaction(function(tx)
  tx:exec("INSERT INTO prep (name) VALUES (?)", "c")
  local r1, r2 = tx.db:batch { { "SELECT count(*) AS n FROM prep", { n = 0 } }, { "SELECT 1 AS one", { n = 0 } } }
  return { r1[1].n, r2[1].one }
end)
t.eq(tx_rows, { 3, 1 }, "a batch inside a transaction sees its writes")

db:exec("DROP TABLE prep")
db:close()
return t.done()
