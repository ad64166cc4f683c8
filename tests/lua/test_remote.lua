-- test_remote.lua: the consumer side against a fake link and clock: balancing (fewest in
-- flight), answers, NOT_RUN re-sent elsewhere, a lost provider (find/get retried once, others
-- fail 503), timeouts (408), the grace period, then NotFound; remote events.
local t = require "lib.t"
local fake = require "lib.fake"
local sched = require "fdn.sched"

local app = require("fdn.app").new()
local node, L, C = fake.node { app = app, options = { timeout = 1000, grace = 500 } }
local T, NOT_RUN = L.TYPES, L.FLAGS.NOT_RUN
local ECHO = { { path = "echo", methods = { "get", "find", "create" }, events = { "pinged" } } }
local function echo() return { { path = "echo", methods = ECHO[1].methods, events = ECHO[1].events } } end

local a = fake.provider(node, L, "A", echo())
local b = fake.provider(node, L, "B", echo())
local svc = app:service("echo")
t.check(svc ~= nil, "a remote service gets a proxy")
t.eq(#L.sent(T.SUB, a.link) + #L.sent(T.SUB, b.link), 2, "we subscribe to each provider's events")

-- call(method, ...) starts a call in a task of its own; its outcome lands in the table
-- returned, and the REQ it sent (if any) is out.req
local function call(method, ...)
  local out = {}
  L.clear()
  sched.spawn(function(...)
    out.ok, out.value = pcall(svc[method], svc, ...)
    out.done = true
  end, ...)
  out.req = L.sent(T.REQ)[1]
  return out
end

local function res(c, value) L.deliver(c.req.link, T.RES, c.req.id, value) end

-- balancing: fewest calls in flight
local c1 = call("get", 1)
local c2 = call("get", 2)
t.check(c1.req and c2.req and c1.req.link ~= c2.req.link, "two calls go to two providers")
t.eq(c1.req and { c1.req.value.path, c1.req.value.method, c1.req.value.id }, { "echo", "get", 1 },
  "REQ [path, method, id]")
res(c1, { id = 1 })
t.eq({ c1.done, c1.ok, c1.value }, { true, true, { id = 1 } }, "RES resolves the call")
local c3 = call("get", 3)
t.eq(c3.req.link, c1.req.link, "the next call goes to the provider with fewer in flight")
res(c2, { id = 2 })
res(c3, { id = 3 })
t.check(c2.ok and c3.ok, "both answered")
res(c3, { id = 33 })
t.eq(c3.value, { id = 3 }, "a second answer to a finished call is dropped")

-- an ERR answer raises the provider's error
local c = call("get", 4)
L.deliver(c.req.link, T.ERR, c.req.id, { name = "NotFound", message = "no 4", code = 404, className = "not-found" })
t.eq({ c.ok, c.value.name, c.value.message }, { false, "NotFound", "no 4" }, "ERR raises the provider's error")

-- ERR flagged NOT_RUN: sent to another provider, whatever the method
c = call("create", { n = 1 })
local first = c.req.link
L.clear()
L.deliver(first, T.ERR, c.req.id, { name = "Unavailable", message = "stopping", code = 503 }, nil, NOT_RUN)
local again = L.sent(T.REQ)[1]
t.check(again and again.link ~= first and again.id == c.req.id, "NOT_RUN: a create goes to the other provider")
t.check(not c.done, "and still waits")
L.deliver(again.link, T.RES, again.id, { n = 1 })
t.eq({ c.ok, c.value }, { true, { n = 1 } }, "answered there")

-- a lost provider: get is retried once elsewhere, create fails with 503
local g = call("get", 5)
local lost = g.req.link == a.link and a or b
local other = lost == a and b or a
other.inflight = other.inflight + 10 -- (weighed down: the create goes to the same provider)
local cr = call("create", { n = 2 })
other.inflight = other.inflight - 10
t.eq(cr.req.link, lost.link, "(a create in flight on the provider to lose)")
L.clear()
node.cluster.on_link(lost.link, "down", "eof")
local retry = L.sent(T.REQ)[1]
t.check(retry and retry.link == other.link and retry.id == g.req.id, "a lost provider's get goes to the other one")
t.eq({ cr.done, cr.ok, cr.value.name, cr.value.code }, { true, false, "Unavailable", 503 }, "its create fails: 503")
t.check(node.cluster.peers[lost.node] == nil, "the lost peer is forgotten")
-- lost twice: no third try
local cr2 = call("create", { n = 3 }) -- (on the remaining provider)
node.cluster.on_link(other.link, "down", "eof")
t.eq({ g.ok, g.value.name }, { false, "Unavailable" }, "a get whose provider is lost twice fails")
t.check(g.value.message:find("second time", 1, true), "saying so", g.value.message)
t.eq(cr2.value.code, 503, "the other create fails too")

-- no provider: a call waits for the grace period, then NotFound
t.check(app:service("echo") ~= nil, "during the grace period the proxy stays")
local w = call("get", 6)
t.eq(w.req, nil, "no provider: the call waits")
C.advance(499)
t.check(not w.done, "still waiting within the grace period")
C.advance(1)
t.eq({ w.done, w.ok, w.value.name, w.value.code }, { true, false, "NotFound", 404 }, "grace over: NotFound")
t.eq(app:service("echo"), nil, "and the proxy is gone")

-- a provider that comes back within the grace period takes the waiting calls
local d = fake.provider(node, L, "D", echo())
svc = app:service("echo")
node.cluster.on_link(d.link, "down", "eof")
w = call("get", 7)
local e = fake.provider(node, L, "E", echo())
local sent = L.sent(T.REQ, e.link)[1]
t.check(sent and sent.id ~= nil, "a provider back in time gets the waiting call")
L.deliver(e.link, T.RES, sent.id, { id = 7 })
t.eq(w.value, { id = 7 }, "which it answers")

-- timeout: 408 after the call's timeout
local late = call("get", 8)
C.advance(999)
t.check(not late.done, "not yet timed out")
C.advance(30) -- the sweep runs every 25 ms
t.eq({ late.done, late.ok, late.value.name, late.value.code }, { true, false, "Timeout", 408 }, "timed out: 408")
res(late, { id = 8 })
t.eq(late.value.code, 408, "an answer after the timeout is dropped")

-- a call larger than the frame limit: BadRequest, not sent
L.limit = 100
local big = call("create", { text = string.rep("x", 200) })
L.limit = math.huge
t.eq({ big.done, big.value.name, big.req }, { true, "BadRequest", nil }, "too large a request: BadRequest")

-- remote events: the proxy emits what the provider sends, with a context when asked
local got = {}
svc:on("pinged", function(data) got[#got + 1] = data end)
L.deliver(e.link, T.EVT, 0, "echo", "pinged", { n = 1 }, nil)
t.eq(got, { { n = 1 } }, "EVT: the listener gets the data")
local ctx_seen
svc:on("created", function(_, ctx) ctx_seen = ctx end)
L.deliver(e.link, T.EVT, 0, "echo", "created", { id = 9 }, { method = "create", query = { a = 1 } })
t.eq(ctx_seen and { ctx_seen.method, ctx_seen.path, ctx_seen.params.query }, { "create", "echo", { a = 1 } },
  "a listener with two parameters gets a context from meta")
L.deliver(e.link, T.EVT, 0, "nobody", "created", {}, nil)
t.check(true, "an event of an unknown path is ignored")

-- MAX_PENDING
node.remote.MAX_PENDING = 0
local refused = call("get", 10)
node.remote.MAX_PENDING = 65535
t.eq({ refused.value.name, refused.value.code }, { "TooManyRequests", 429 }, "over MAX_PENDING: 429")

return t.done()
