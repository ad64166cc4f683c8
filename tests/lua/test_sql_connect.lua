-- test_sql_connect.lua: fdn.sql.connect keeps one database per URL (a reload's configure gets
-- the one it opened before), forgets it once closed, and gives each "sqlite::memory:" its own.
local t = require "lib.t"
local sql = require "fdn.sql"

local dir = os.getenv("TMPDIR") or "/tmp"
local path = ("%s/fdn-sql-connect-%d-%d.db"):format(dir, os.time(), math.random(1, 1e9))
local url = "sqlite:" .. path

local a = sql.connect(url)
local b = sql.connect(url)
t.check(a == b, "the same URL gives the same open database")
a:exec("CREATE TABLE x (v INTEGER)")
b:exec("INSERT INTO x VALUES (?)", 7)
t.eq(a:query("SELECT v FROM x")[1].v, 7, "one connection behind both")
a:close()
local c = sql.connect(url)
t.check(c ~= a, "a closed database is forgotten: connect opens a new one")
t.eq(c:query("SELECT v FROM x")[1].v, 7, "and the file's data is there")
c:close()
local m1, m2 = sql.connect("sqlite::memory:"), sql.connect("sqlite::memory:")
t.check(m1 ~= m2, "each sqlite::memory: is its own database")
m1:exec("CREATE TABLE y (v INTEGER)")
t.check(not pcall(m2.query, m2, "SELECT * FROM y"), "m2 does not see m1's table")
m1:close()
m2:close()
os.remove(path)
os.remove(path .. "-wal")
os.remove(path .. "-shm")
return t.done()
