-- test_events.lua: service events: standard events after success, once per
-- item for lists, ctx.event = false suppresses, custom events, on/once/off.
local t = require "lib.t"
local App = require "fdn.app"
local memory = require "fdn.memory"

local app = App.new()
app:use("m", memory.new { multi = true })
app:use("c", { create = function(self, data) return data end, ping = function(self, data) return data end },
  { methods = { "create", "ping" }, events = { "pinged" } })
local m = app:service("m")

local got = {}
local function on(event) return function(data, ctx) got[#got + 1] = { event, data, ctx and ctx.method } end end
m:on("created", on("created"))
m:on("updated", on("updated"))
m:on("patched", on("patched"))
m:on("removed", on("removed"))

local function settle() fdn.sleep(1) end -- listeners run in their own coroutines

m:create({ text = "a" })
settle()
t.eq(got, { { "created", { id = 0, text = "a" }, "create" } }, "created after create, with ctx")
got = {}
m:create({ { text = "b" }, { text = "c" } })
settle()
t.eq(#got, 2, "a list result: one event per item")
t.eq({ got[1][2].text, got[2][2].text }, { "b", "c" }, "events in item order")
got = {}
m:update(0, { text = "A" })
m:patch(0, { extra = 1 })
m:remove(0)
settle()
t.eq({ got[1][1], got[2][1], got[3][1] }, { "updated", "patched", "removed" }, "updated, patched, removed")
got = {}
m:find()
m:get(1)
settle()
t.eq(#got, 0, "no events for find and get")

-- failed calls emit nothing
got = {}
pcall(m.get, m, 99)
pcall(m.update, m, 99, {})
settle()
t.eq(#got, 0, "no event when the call fails")

-- ctx.event = false suppresses
m:hooks { after = { create = function(ctx) if ctx.data.quiet then ctx.event = false end end } }
got = {}
m:create({ quiet = true })
settle()
t.eq(#got, 0, "ctx.event = false suppresses the event")

-- once / off
local count = 0
local function counter() count = count + 1 end
m:once("created", counter)
m:create({ n = 1 })
m:create({ n = 2 })
settle()
t.eq(count, 1, "once listens once")
m:on("created", counter)
m:off("created", counter)
m:create({ n = 3 })
settle()
t.eq(count, 1, "off removes the listener")

-- custom events
local c = app:service("c")
local pinged
c:on("pinged", function(data) pinged = data end)
c:emit("pinged", { hello = 1 })
settle()
t.eq(pinged, { hello = 1 }, "custom event sent with service:emit")
local created = 0
c:on("created", function() created = created + 1 end)
c:create({ z = 1 })
settle()
t.eq(created, 1, "standard event for a custom service")

-- listeners run in their own coroutine: one that sleeps holds up nobody
local order = {}
m:on("removed", function() fdn.sleep(20); order[#order + 1] = "slow" end)
m:on("removed", function() order[#order + 1] = "fast" end)
m:remove(1)
fdn.sleep(40)
t.eq(order, { "fast", "slow" }, "a sleeping listener does not hold up the others")

-- wants_context: whether some listener can see a second argument (a remote event's
-- context is built only then)
local events = require "fdn.events"
local e = events.mixin({})
t.eq(events.wants_context(e, "x"), false, "no listener: no context wanted")
e:on("x", function(data) return data end)
e:on("x", function() end)
t.eq(events.wants_context(e, "x"), false, "listeners of (data) and () cannot see a context")
e:once("x", function(...) return ... end)
t.eq(events.wants_context(e, "x"), true, "a vararg listener can")
e:off("x")
e:on("x", function(_, ctx) return ctx end)
t.eq(events.wants_context(e, "x"), true, "a listener of (data, ctx) can")
e:off("x")
e:on("x", print)
t.eq(events.wants_context(e, "x"), true, "a C function is taken to see it")
local saw = {}
e:off("x")
e:on("x", function(...) saw[#saw + 1] = select("#", ...) end)
e:emit("x", 1, { method = "create" })
settle()
t.eq(saw, { 2 }, "emit still passes every argument it is given")

-- app events: "service" when a service is registered
local seen
app:on("service", function(d) seen = d end)
app:use("late", { find = function() return {} end })
settle()
t.eq(seen and seen.path, "late", "app emits 'service' with a descriptor")
t.eq(seen and seen.methods, t.list { "find" }, "descriptor lists the methods")

return t.done()
