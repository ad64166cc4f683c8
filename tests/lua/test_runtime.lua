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

-- json round trip through the global
local j = fdn.json
t.eq(j.decode(j.encode({ a = { 1, 2 }, b = j.array() })), { a = { 1, 2 }, b = {} }, "fdn.json round trip")
t.check(getmetatable(j.decode("[]")) == j.array_mt, "decoded arrays carry array_mt")
t.eq(j.encode(j.array()), "[]", "empty array_mt table encodes as []")
t.eq(j.encode({}), "{}", "empty plain table encodes as {}")
t.check(j.decode("null") == j.null, "null is the sentinel")
t.eq(j.encode(12345678901234567), "12345678901234567", "64-bit integers stay exact")

return t.done()
