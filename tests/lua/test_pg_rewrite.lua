-- test_pg_rewrite.lua: the postgres driver's `?` -> $n rewriter and URL parser (no server):
-- placeholders only outside literals, identifiers, comments and dollar quotes; hostile inputs end.
local t = require "lib.t"
local pg = require "fdn.sql.postgres"

local function rw(sql) return { pg.rewrite(sql) } end

t.eq(rw "SELECT 1", { "SELECT 1", 0 }, "no placeholder")
t.eq(rw "SELECT ?, ?", { "SELECT $1, $2", 2 }, "two placeholders")
t.eq(rw "a=? AND b='?' AND c=?", { "a=$1 AND b='?' AND c=$2", 2 }, "in a literal")
t.eq(rw "x='it''s ?' OR y=?", { "x='it''s ?' OR y=$1", 1 }, "'' escape")
t.eq(rw [[x=E'a\'?' OR y=?]], { [[x=E'a\'?' OR y=$1]], 1 }, "E'' backslash escape")
t.eq(rw [[x='a\' OR y=?]], { [[x='a\' OR y=$1]], 1 }, "no backslash escape in a plain literal")
t.eq(rw 'SELECT "we?ird""?" , ?', { 'SELECT "we?ird""?" , $1', 1 }, "quoted identifier")
t.eq(rw "SELECT ? -- why?\n, ?", { "SELECT $1 -- why?\n, $2", 2 }, "line comment")
t.eq(rw "SELECT ? /* a /* nested? */ still? */ , ?", { "SELECT $1 /* a /* nested? */ still? */ , $2", 2 },
  "nested block comment")
t.eq(rw "SELECT $$ ? $$, $a$ ?$$? $a$, ?", { "SELECT $$ ? $$, $a$ ?$$? $a$, $1", 1 }, "dollar quotes")
t.eq(rw "SELECT $1, ?", { "SELECT $1, $1", 1 }, "$1 is not a dollar quote")
t.eq(rw "SELECT a$b$, ?", { "SELECT a$b$, $1", 1 }, "a $ inside a name is not a quote")
t.eq(rw "SELECT data ?? 'k', ?", { "SELECT data ? 'k', $1", 1 }, "?? is a literal ?")
t.eq(rw "SELECT 5-?, 6/?", { "SELECT 5-$1, 6/$2", 2 }, "minus and slash alone")

-- hostile: unterminated forms swallow the rest (the server then reports the syntax error)
for _, s in ipairs { "'", "'?", "\"?", "/* ?", "/*/ ?", "$$ ?", "$x$ ? $y$", "E'\\", "-- ?", "'''?", "?'", "?\"" } do
  local text, n = pg.rewrite(s)
  t.check(type(text) == "string" and n <= 1, "unterminated " .. s)
  t.check(not text:find("%?") or n == 0 or s:sub(1, 1) == "?", "no ? replaced inside " .. s)
end
t.eq(rw "?'", { "$1'", 1 }, "a ? before an unterminated literal")
-- random bytes: always ends, never more placeholders than question marks
math.randomseed(16)
local alphabet = { "?", "'", '"', "-", "/", "*", "$", "a", "E", "\\", "\n", " ", "1", "\0", "\255" }
for _ = 1, 3000 do
  local parts = {}
  for i = 1, math.random(0, 40) do parts[i] = alphabet[math.random(#alphabet)] end
  local s = table.concat(parts)
  local ok, text, n = pcall(pg.rewrite, s)
  local _, q = s:gsub("%?", "")
  if not (ok and type(text) == "string" and n <= q) then
    t.check(false, "random input rewrites", ("%q"):format(s))
    break
  end
end
t.check(true, "random inputs rewrite")
local long = ("?,"):rep(70000)
local text, n = pg.rewrite(long)
t.eq({ n, #text > #long }, { 70000, true }, "70000 placeholders")

-- URLs
local p, size, queue = pg.parse("postgresql://us%40er:p%40ss%3Aw%2Frd@127.0.0.1:5433/my%20db?pool=2&queue=7")
t.eq({ p.user, p.password, p.host, p.hostaddr, p.port, p.dbname, size, queue },
  { "us@er", "p@ss:w/rd", "127.0.0.1", "127.0.0.1", "5433", "my db", 2, 7 }, "a TCP URL")
p, size, queue = pg.parse("postgres://fdn@/db?host=/run/pg%20dir&port=6000")
t.eq({ p.user, p.password, p.host, p.hostaddr, p.port, p.dbname, size, queue },
  { "fdn", nil, "/run/pg dir", nil, "6000", "db", 4, 1000 }, "a socket URL")
p = pg.parse("postgresql://[::1]:7/x")
t.eq({ p.host, p.hostaddr, p.port }, { "::1", "::1", "7" }, "an IPv6 host")
t.raises(function() pg.parse("postgresql://h/db?bogus=1") end, "an unknown parameter")
t.raises(function() pg.parse("postgresql://h/db?pool=0") end, "pool 0")
t.raises(function() pg.parse("postgresql://h/d%00b") end, "a NUL byte")
t.raises(function() pg.parse("mysql://h/db") end, "another scheme")

return t.done()
