-- test_serve.lua: the provider side against a fake link: requests run and answered,
-- refused (unknown path, method not published, too many in flight, node stopping), results
-- too large for a frame, events sent to the subscribed links only, the backlog.
local t = require "lib.t"
local fake = require "lib.fake"
local sched = require "fdn.sched"
local log = require "fdn.log"

local app = require("fdn.app").new()
local runs, held = 0, {}
app:use("echo", {
  get = function(_, id) runs = runs + 1; return { id = id } end,
  create = function(_, data) return data end,
  remove = function(_, id) return { id = id } end,
  big = function(_, data) return { text = string.rep("x", data.n) } end,
  hold = function() -- waits until the test wakes it
    held[#held + 1] = sched.current()
    return sched.wait()
  end,
}, { methods = { "get", "create", "remove", "big", "hold" } })
app:distribution { distributedMethods = { "get", "create", "big", "hold" } } -- not remove

local node, L = fake.node { app = app }
local T, NOT_RUN = L.TYPES, L.FLAGS.NOT_RUN
node.serve.refresh()

-- the answer sent for request rid (the last frame with that id)
local function answer(rid)
  local found
  for _, f in ipairs(L.frames) do
    if (f.type == T.RES or f.type == T.ERR) and f.id == rid then found = f end
  end
  return found
end

local function req(lid, rid, path, method, id, data, params)
  L.deliver(lid, T.REQ, rid, path, method, id, data, params)
  return answer(rid)
end

-- a REQ runs the method and answers RES with its result
local a = req(1, 11, "echo", "get", 7)
t.eq(a and a.type, T.RES, "a REQ is answered with RES")
t.eq(a and a.value, { id = 7 }, "RES carries the method's result")
t.eq(runs, 1, "the method ran once")
t.eq(req(1, 12, "echo", "create", nil, { x = 1 }).value, { x = 1 }, "create gets the data")

-- the table we publish lists the published methods only
local tbl = require("fdn.json").decode(node.serve.table_body())
t.eq(tbl.services[1].methods, t.list { "get", "create", "big", "hold" }, "service table: published methods")

-- refusals
a = req(1, 13, "nope", "get", 1)
t.eq({ a.type, a.value.name, a.value.code }, { T.ERR, "NotFound", 404 }, "unknown path: NotFound")
a = req(1, 14, "echo", "remove", 1)
t.eq({ a.type, a.value.name, a.value.code }, { T.ERR, "MethodNotAllowed", 405 }, "method not published: 405")
a = req(1, 15, "echo", "patch", 1)
t.eq(a.value.code, 405, "method the service lacks: 405")
a = req(1, 16, "_health", "_health")
t.eq({ a.type, a.value }, { T.RES, true }, "_health answers true")

-- at most MAX_INFLIGHT requests in flight per link
node.serve.MAX_INFLIGHT = 2
t.eq(req(2, 21, "echo", "hold", nil, {}), nil, "a held request is not answered yet")
t.eq(req(2, 22, "echo", "hold", nil, {}), nil, "a second one neither")
a = req(2, 23, "echo", "hold", nil, {})
t.eq({ a.value.name, a.value.code }, { "TooManyRequests", 429 }, "over MAX_INFLIGHT: 429 at once")
t.eq(#held, 2, "the refused request did not run")
a = req(3, 31, "echo", "get", 1)
t.eq(a.type, T.RES, "the cap is per link: another link is served")
sched.wake(held[1], "first")
t.eq(answer(21).value, "first", "a held request answers when it ends")
a = req(2, 24, "echo", "get", 2)
t.eq(a.type, T.RES, "a slot freed: the link is served again")
sched.wake(held[2], "second")
node.serve.MAX_INFLIGHT = 1024

-- a result over the frame limit: GeneralError to the caller, and a log line
local logged = {}
local log_error = log.error
log.error = function(msg) logged[#logged + 1] = msg end
L.limit = 1000
a = req(1, 41, "echo", "big", nil, { n = 2000 })
log.error = log_error
t.eq({ a.type, a.value.name, a.value.code }, { T.ERR, "GeneralError", 500 }, "too large a result: GeneralError")
t.check(a.value.message:find("larger than the frame limit", 1, true), "the error says why", a.value.message)
t.check(#logged == 1 and logged[1]:find("'echo'", 1, true), "and it is logged", logged[1])
t.eq(req(1, 42, "echo", "big", nil, { n = 10 }).type, T.RES, "a result under the limit goes")
L.limit = math.huge

-- events go to the subscribed links only
local c1, c2 = fake.consumer(node, L, "c1"), fake.consumer(node, L, "c2")
L.frame(c1, T.SUB, { path = "echo" })
L.clear()
app:service("echo"):create({ n = 1 })
local evts = L.sent(T.EVT)
t.eq(#evts, 1, "one EVT frame")
t.eq(evts[1] and evts[1].link, c1, "to the subscribed link only")
t.eq(evts[1] and { evts[1].value.path, evts[1].value.event, evts[1].value.data },
  { "echo", "created", { n = 1 } }, "EVT [path, event, data]")
t.eq(evts[1] and evts[1].value.meta.method, "create", "with the call's method in meta")
L.clear()
app:service("echo"):get(1)
t.eq(#L.sent(T.EVT), 0, "no event for get")

-- the backlog: bytes queued toward the slowest subscriber
L.queued[c1], L.queued[c2] = 5000, 9000
t.eq(node.serve.backlog("echo"), 5000, "backlog(path): subscribed links only")
t.eq(node.serve.backlog(), 5000, "backlog(): every subscribed link")
t.eq(node.serve.backlog("other"), 0, "a path nobody subscribed to: 0")

-- a link gone: its subscriptions go
node.cluster.on_link(c1, "down")
L.clear()
app:service("echo"):create({ n = 2 })
t.eq(#L.sent(T.EVT), 0, "no EVT once the subscriber's link is down")

-- stopping: a REQ is refused, flagged NOT_RUN, and does not run
local before = runs
node.serve.stop()
a = req(4, 51, "echo", "get", 1)
t.eq({ a.type, a.flags & NOT_RUN }, { T.ERR, NOT_RUN }, "stopping: ERR flagged NOT_RUN")
t.eq(a.value.name, "Unavailable", "with an Unavailable error")
t.eq(runs, before, "the method did not run")

return t.done()
