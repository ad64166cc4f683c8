-- test_nats_binding.lua: fdn.core.nats without a server: misuse raises, a refused connect
-- calls back false with libnats' message (on the reactor), and the dead connection refuses use.
local t = require "lib.t"
local nats = require "fdn.core.nats"
local sched = require "fdn.sched"

local function nop() end
t.raises(function() nats.connect() end, "no URL raises")
t.raises(function() nats.connect("nats://127.0.0.1:1", {}) end, "no callback raises")
t.raises(function() nats.connect("nats://127.0.0.1:1", { queue = 0 }, nop) end, "queue 0 raises")
t.raises(function() nats.connect("nats://127.0.0.1:1", { on_status = 1 }, nop) end, "on_status not a function")

local co = sched.current()
local t0 = require("fdn.core.node").now()
local conn = assert(nats.connect("nats://127.0.0.1:1", { name = "t" }, function(...) sched.wake(co, ...) end))
local ok, err = sched.wait()
t.eq(ok, false, "a refused connect calls back false")
t.check(type(err) == "string" and #err > 0, "with a message", tostring(err))
t.check(require("fdn.core.node").now() - t0 < 2000, "at once")
t.raises(function() conn:publish("x", "y") end, "a dead connection raises on publish")
t.raises(function() conn:subscribe("x", nop) end, "and on subscribe")
t.eq(conn:stats().dropped, 0, "stats still answer")
t.eq(conn:status(), "closed", "status: closed")
conn:close()
conn:close()
t.check(true, "close twice")

-- closed before the connect ends: the callback never comes
local called = false
local c2 = assert(nats.connect("nats://127.0.0.1:1", {}, function() called = true end))
c2:close()
sched.sleep(200)
t.eq(called, false, "no callback after close")

return t.done()
