-- test_trace.lua: fdn.trace: traceparent parsing (W3C Trace Context level 1), ids, and the
-- per-coroutine trace (made only when asked for, one per coroutine, gone after stop).
local t = require "lib.t"
local trace = require "fdn.trace"

local ID, SPAN = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
local GOOD = "00-" .. ID .. "-" .. SPAN .. "-01"

local id, parent, flags = trace.parse(GOOD)
t.eq({ id, parent, flags }, { ID, SPAN, "01" }, "version 00 parsed")
t.eq({ trace.parse("01-" .. ID .. "-" .. SPAN .. "-09-more") }, { ID, SPAN, "09" }, "a later version: its first fields")
t.eq({ trace.parse("cc-" .. ID .. "-" .. SPAN .. "-00") }, { ID, SPAN, "00" }, "a later version of 55 characters")
local bad = {
  nil, 42, "", "garbage", GOOD .. "-x", GOOD .. " ", " " .. GOOD:sub(2),
  "ff-" .. ID .. "-" .. SPAN .. "-01",
  "00-" .. ("0"):rep(32) .. "-" .. SPAN .. "-01",
  "00-" .. ID .. "-" .. ("0"):rep(16) .. "-01",
  "00-" .. ID:upper() .. "-" .. SPAN .. "-01",
  "00-" .. ID .. "-" .. SPAN .. "-0G",
  "0A-" .. ID .. "-" .. SPAN .. "-01",
  "00-" .. ID:sub(2) .. "0-" .. SPAN:sub(2) .. "-01",
  "00_" .. ID .. "-" .. SPAN .. "-01",
  "01-" .. ID .. "-" .. SPAN .. "-01x",
}
for i = 1, 16 do t.eq(trace.parse(bad[i]), nil, "invalid #" .. i .. ": " .. tostring(bad[i])) end

-- ids: lowercase hex, never all zero, different each time
local a, b = trace.make(nil), trace.make(nil)
t.check(a.id:match("^[0-9a-f]+$") and #a.id == 32 and #a.span == 16 and a.id ~= b.id and a.span ~= b.span,
  "new ids", a)
t.eq(a.header, "00-" .. a.id .. "-" .. a.span .. "-01", "the header it sends on")
local c = trace.make(GOOD)
t.check(c.id == ID and c.parent == SPAN and c.span ~= SPAN, "a given trace: its id, a span of its own", c)
t.eq(trace.make(bad[9]).id == ("0"):rep(32), false, "an invalid one: a new id")

-- per coroutine: nothing outside a call; start is lazy; each coroutine its own; stop ends it
t.eq(trace.get(), nil, "no trace outside a call")
local seen = {}
local co1 = coroutine.create(function()
  trace.start(GOOD)
  seen.before = trace.get(coroutine.running())
  coroutine.yield()
  seen.id = trace.id()
  seen.same = trace.get() == trace.get()
  trace.stop()
  seen.after = trace.get()
end)
local co2 = coroutine.create(function()
  trace.start(nil)
  seen.other = trace.id()
  trace.stop()
end)
coroutine.resume(co1)
coroutine.resume(co2)
coroutine.resume(co1)
t.eq(seen.id, ID, "the call's trace id")
t.check(seen.same and seen.before.id == ID, "made once, when first asked for")
t.check(seen.other and seen.other ~= ID and #seen.other == 32, "another coroutine, another trace")
t.eq(seen.after, nil, "none after stop")

return t.done()
