-- test_sql_shared.lua: fdn.sql.shared_reads, the core of PostgreSQL's shared reads, without a
-- database: keys (values with their types), one execution for the callers waiting together, a
-- flight closed to joiners once it has its connection, copies, errors, the bound, a caller gone.
local t = require "lib.t"
local sched = require "fdn.sched"
local shared = require "fdn.sql.shared_reads"
local errors = require "fdn.errors"
local json = require "fdn.json"

local pack = table.pack

-- keys
local function k1(...) return shared.key { { "SELECT ?", pack(...) } } end
t.eq(k1(1, "a"), k1(1, "a"), "the same statement and values: the same key")
t.check(k1(1) ~= k1(1.0), "1 and 1.0 differ")
t.check(k1(1) ~= k1("1"), "1 and '1' differ")
t.check(k1(true) ~= k1("T") and k1(true) ~= k1(false), "booleans are typed")
t.eq(k1(nil), k1(json.null), "nil and json.null are both NULL")
t.check(k1("a", "b") ~= k1("ab") and k1("ab", "") ~= k1("a", "b"), "values are length-prefixed")
t.eq(k1({ 1 }), nil, "a table value (JSON text) is not keyed: not shared")
t.check(shared.key { { "SELECT 1", { n = 0 } }, { "SELECT 2", { n = 0 } } }
  ~= shared.key { { "SELECT 1", { n = 0 } }, { "SELECT 3", { n = 0 } } }, "every statement counts")
t.check(shared.key { { "SELECT ?", pack(1) }, { "SELECT ?", pack(2) } }
  ~= shared.key { { "SELECT ?", pack(2) }, { "SELECT ?", pack(1) } }, "values stay with their statement")

-- copies: nested tables copied, metatables kept, json.null itself
local src = { t.list { { id = 1, j = { a = t.list { 1, 2 } }, z = json.null } } }
local c = shared.copy(src)
t.eq(c, src, "a copy is equal")
t.check(c[1] ~= src[1] and c[1][1].j ~= src[1][1].j and c[1][1].j.a ~= src[1][1].j.a, "nested tables are copied")
t.check(getmetatable(c[1]) == json.array_mt and c[1][1].z == json.null, "list metatable and json.null kept")

-- A run the test steps through: it waits for "a connection", closes the flight, waits for "the
-- reply", then answers rows or raises.
local steps = {}
local runs = 0
local function step(v)
  local s = steps
  steps = {}
  for _, co in ipairs(s) do sched.wake(co, v) end
  return #s
end
local function gated(close)
  steps[#steps + 1] = sched.current()
  sched.wait() -- the connection
  close()
  steps[#steps + 1] = sched.current()
  local reply = sched.wait()
  runs = runs + 1
  if reply == "fail" then error(errors.Unavailable("postgres: lost", { code = "08006" }), 0) end
  return t.list { { id = runs, j = { a = t.list { 1 } } } }, "second"
end
local room = true
local flights = shared.new(function() return room end)
local function full() error(errors.Unavailable("full"), 0) end

-- five identical reads waiting together: one execution, five copies
local got, second = {}, {}
for i = 1, 5 do
  sched.spawn(function() got[i], second[i] = flights:read("k", gated, full) end)
end
t.eq({ flights.started, flights.joined, flights.shared }, { 1, 4, 4 }, "one flight, four joined")
t.eq(step(), 1, "one run waits for a connection")
t.eq(step("reply"), 1, "and for its reply")
t.eq(runs, 1, "one execution")
for i = 1, 5 do
  t.eq({ got[i], second[i] }, { t.list { { id = 1, j = { a = t.list { 1 } } } }, "second" },
    "read " .. i .. " answered")
end
got[1][1].j.a[1] = 99
got[2][1].id = 0
t.check(got[3][1].j.a[1] == 1 and got[3][1].id == 1 and got[5][1].j.a[1] == 1, "each caller has its own copy")
t.eq(flights.joined, 0, "none waiting")

-- once the run has its connection, the flight takes no one more: a later read runs on its own
got = {}
sched.spawn(function() got[1] = flights:read("k", gated, full) end)
sched.spawn(function() got[2] = flights:read("k", gated, full) end)
step() -- the first flight has its connection: closed
sched.spawn(function() got[3] = flights:read("k", gated, full) end)
t.eq({ flights.started, flights.shared }, { 3, 5 }, "a read after the connection was had is a flight of its own")
t.eq(step("reply"), 2, "the first run gets its reply, the second its connection")
step("reply")
t.eq({ got[1][1].id, got[2][1].id, got[3][1].id }, { 2, 2, 3 }, "the late read got its own execution")

-- an error reaches every caller, each with its own copy
local errs = {}
for i = 1, 3 do
  sched.spawn(function()
    local ok, e = pcall(flights.read, flights, "k", gated, full)
    errs[i] = ok and "no error" or e
  end)
end
step()
step("fail")
for i = 1, 3 do
  t.check(errors.is(errs[i], "Unavailable") and errs[i].message == "postgres: lost"
    and errs[i].data.code == "08006", "error " .. i .. " propagated", tostring(errs[i]))
end
t.check(errs[1] ~= errs[2] and errs[1].data ~= errs[3].data, "each caller has its own error")

-- a run that fails before it waits (the pool refuses at once) fails its caller at once
t.throws(function() flights:read("e", function() full() end, full) end, "Unavailable", "full", "an early failure")
t.eq(flights.open.e, nil, "and its flight is gone")

-- the bound: a joiner is refused when room() says no, the flight goes on
got = {}
sched.spawn(function() got[1] = flights:read("k", gated, full) end)
room = false
local refused
sched.spawn(function()
  local ok, e = pcall(flights.read, flights, "k", gated, full)
  refused = not ok and e
end)
room = true
t.check(errors.is(refused, "Unavailable"), "a joiner past the bound is Unavailable")
step()
step("reply")
t.check(got[1] and got[1][1].id > 0, "the flight itself went on")

-- the caller that opened the flight goes away (its coroutine closed): the others are answered
got = {}
local first = coroutine.create(function() got[0] = flights:read("g", gated, full) end)
coroutine.resume(first)
sched.spawn(function() got[1] = flights:read("g", gated, full) end)
sched.spawn(function() got[2] = flights:read("g", gated, full) end)
coroutine.close(first)
step()
step("reply")
t.check(got[0] == nil and got[1] and got[2] and got[1][1].id == got[2][1].id, "the joiners were answered")
t.eq(flights.joined, 0, "none left waiting")

return t.done()
