-- test_sqlite_kept.lua: fdn.sql's SQLite keeps each one-statement SQL prepared between calls
-- (core/sqlite_db.c, FDN_SQLITE_KEPT = 32): reused, bounded, right after a schema change, and
-- multi-statement SQL is not kept. sqlite_stmt lists the connection's prepared statements.
local t = require "lib.t"
local sql = require "fdn.sql"

local db = sql.connect("sqlite::memory:")
local function kept(text)
  local n = 0
  for _, r in ipairs(db:query("SELECT sql FROM sqlite_stmt")) do
    if r.sql == text then n = n + 1 end
  end
  return n
end

db:exec("CREATE TABLE k (id INTEGER PRIMARY KEY, name TEXT)")
db:exec("INSERT INTO k (name) VALUES (?)", "a")
db:exec("INSERT INTO k (name) VALUES (?)", "b")
local by_id = "SELECT * FROM k WHERE id = ?"
t.eq(db:query(by_id, 1)[1], { id = 1, name = "a" }, "first run")
t.eq(db:query(by_id, 2)[1], { id = 2, name = "b" }, "second run: other values bound")
t.eq(kept(by_id), 1, "kept once, reused")
t.eq(kept("INSERT INTO k (name) VALUES (?)"), 1, "the INSERT too")
t.eq(db:query(by_id, 3), t.list {}, "no row: the kept statement was reset")

-- errors leave the kept statement usable
t.raises(function() db:exec("INSERT INTO k (id, name) VALUES (?, ?)", 1, "dup") end, "a constraint error")
t.eq(db:exec("INSERT INTO k (id, name) VALUES (?, ?)", 3, "c").changes, 1, "the same SQL runs afterwards")
t.raises(function() db:query(by_id) end, "too few values")
t.eq(db:query(by_id, 3)[1].name, "c", "runs after a binding error")

-- a schema change: SELECT * sees the new column
db:exec("ALTER TABLE k ADD COLUMN extra INTEGER DEFAULT 7")
t.eq(db:query(by_id, 1)[1], { id = 1, name = "a", extra = 7 }, "after ALTER TABLE")

-- several statements in one text: not kept
db:exec("UPDATE k SET extra = 1 WHERE id = 1; UPDATE k SET extra = 2 WHERE id = 2")
t.eq(kept("UPDATE k SET extra = 1 WHERE id = 1; "), 0, "multi-statement SQL is not kept")
t.eq(kept("UPDATE k SET extra = 1 WHERE id = 1"), 0, "nor its parts")

-- bounded
for i = 1, 50 do t.eq(db:query("SELECT ? + " .. i .. " AS x", i)[1].x, 2 * i, "distinct " .. i) end
local n = #db:query("SELECT sql FROM sqlite_stmt")
t.check(n <= 33, "at most 32 kept (and the running one): " .. n)
t.eq(db:query(by_id, 2)[1].extra, 2, "an evicted statement is prepared again")
db:close()
return t.done()
