-- test_runtime.lua: the fdn global: sleep, timer, every (and cancel), now,
-- log, node, json, and `require "fdn"` returning the same table.
local t = require "lib.t"

t.check(require("fdn") == fdn, 'require "fdn" returns the global')
t.check(type(fdn.node.id) == "string" and #fdn.node.id == 32, "fdn.node.id is 16 bytes in hex")
t.check(type(fdn.node.name) == "string" and fdn.node.name ~= "", "fdn.node.name")
for _, f in ipairs { "debug", "info", "warn", "error" } do
  t.check(type(fdn.log[f]) == "function", "fdn.log." .. f)
end

local t0 = fdn.now()
fdn.sleep(50)
local slept = fdn.now() - t0
t.check(slept >= 49, "fdn.sleep waits", tostring(slept))
-- never less than asked, as fdn.now() counts, whatever the loop's own clock (a coarse one lags
-- by up to a kernel tick): 40 short sleeps at different phases of the tick
local short = {}
for i = 1, 40 do
  local s0 = fdn.now()
  fdn.sleep(1 + i % 5)
  local took = fdn.now() - s0
  if took < 1 + i % 5 then short[#short + 1] = ("%d ms took %.3f"):format(1 + i % 5, took) end
end
t.eq(short, {}, "no sleep ends early")

local fired = {}
fdn.timer(10, function(a, b) fired[#fired + 1] = a .. b end, "x", "y")
local cancelled = fdn.timer(10, function() fired[#fired + 1] = "cancelled" end)
cancelled:cancel()
local ticks = 0
local every
every = fdn.every(5, function()
  ticks = ticks + 1
  if ticks == 3 then every:cancel() end
end)
fdn.sleep(60)
t.eq(fired, { "xy" }, "fdn.timer calls once with its arguments; a cancelled timer never fires")
t.eq(ticks, 3, "fdn.every repeats until cancelled")

-- timers run in their own coroutines and may sleep
local done = false
fdn.timer(1, function() fdn.sleep(5); done = true end)
fdn.sleep(30)
t.check(done, "a timer callback may sleep")

-- tasks (sched.spawn): each runs now until it first waits, on a thread of its own;
-- a thread whose task ended runs the next one, one whose task raised does not
local sched = require "fdn.sched"
local order, threads = {}, {}
sched.spawn(function(a, b, ...)
  order[#order + 1] = a .. b .. select("#", ...)
  threads[1] = coroutine.running()
end, "x", "y", nil, nil)
order[#order + 1] = "after"
t.eq(order, { "xy2", "after" }, "a task runs at once, with all its arguments (trailing nils too)")
sched.spawn(function() threads[2] = coroutine.running() end)
t.check(threads[1] == threads[2], "the thread of a task that ended runs the next task")
sched.spawn(function() threads[3] = coroutine.running(); error("boom (an expected test error)") end)
sched.spawn(function() threads[4] = coroutine.running() end)
t.check(threads[3] ~= threads[4], "a thread whose task raised is not reused")
local sleepers, woke = {}, 0
for i = 1, 600 do -- more than the pool keeps
  sched.spawn(function()
    sleepers[i] = coroutine.running()
    fdn.sleep(1)
    woke = woke + 1
  end)
end
t.eq(woke, 0, "tasks that wait are suspended, not finished")
for _ = 1, 200 do -- bounded: at most 2 s on a loaded machine
  if woke == 600 then break end
  fdn.sleep(10)
end
t.eq(woke, 600, "every waiting task finished")
local reused = false
sched.spawn(function()
  local me = coroutine.running()
  for i = 1, 600 do if sleepers[i] == me then reused = true end end
end)
t.check(reused, "a task that waited and then ended gives its thread back to the pool")
local distinct = {}
for i = 1, 600 do distinct[sleepers[i]] = true end
local n = 0
for _ in pairs(distinct) do n = n + 1 end
t.eq(n, 600, "tasks waiting at the same time each have a thread of their own")

-- json round trip through the global
local j = fdn.json
t.eq(j.decode(j.encode({ a = { 1, 2 }, b = j.array(), c = {} })), { a = t.list { 1, 2 }, b = t.list(), c = {} },
  "fdn.json round trip: lists stay lists, objects objects")
t.check(getmetatable(j.decode("[]")) == j.array_mt, "decoded arrays carry array_mt")
t.eq(j.encode(j.array()), "[]", "empty array_mt table encodes as []")
t.eq(j.encode({}), "{}", "empty plain table encodes as {}")
t.check(j.decode("null") == j.null, "null is the sentinel")
t.eq(j.encode(12345678901234567), "12345678901234567", "64-bit integers stay exact")

-- under `fdnode run`, fdn.app is an app of its own; fdn.version is the build's
t.check(fdn.app ~= nil and type(fdn.app.use) == "function", "fdn.app is an app under fdnode run")
t.check(type(fdn.version) == "string" and fdn.version:match("^%d+%.%d+%.%d+") ~= nil, "fdn.version", fdn.version)

-- "a list" has one definition, the encoder's: array_mt, or a sequence 1..n and nothing else
local ia = fdn.json.is_array
t.eq({ ia({ 1, 2 }), ia(fdn.json.array()), ia({}), ia({ 1, x = 2 }), ia({ [2] = 1 }), ia("x"), ia(nil) },
  { true, true, false, false, false, false, false }, "json.is_array")
t.eq(fdn.json.encode({ 1, x = 2 }):sub(1, 1), "{", "{1, x = 2} is an object for the encoder too")

return t.done()
