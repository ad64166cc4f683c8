-- test_cluster.lua: membership against a fake link: HELLO and SERVICES make a peer and its
-- proxies, consumers get our HELLO, table and members, PEERS and beacons are hints (within
-- their limits), BYE both ways (a leaving provider; our own bye(done)), node.join and leave;
-- then two nodes in this one Lua state, linked by wired fakes: a call, an event, a drain.
local t = require "lib.t"
local fake = require "lib.fake"
local json = require "fdn.json"
local fdn_node = require "fdn.node"

local app = require("fdn.app").new()
app:use("local", { get = function(_, id) return { id = id } end })
local node, L, clock = fake.node { app = app }
local T = L.TYPES
local cluster = node.cluster
node.serve.refresh()

t.check(L.handlers[T.REQ] == node.serve.request, "REQ frames go straight to serve.request")
t.check(L.handlers[T.RES] == node.remote.answer and L.handlers[T.ERR] == node.remote.failed,
  "RES and ERR straight to remote")
t.check(L.handlers[T.EVT] == node.remote.event, "EVT straight to remote.event")
t.eq({ L.modes[T.REQ], L.modes[T.RES], L.modes[T.EVT], L.modes[T.HELLO] }, { "fields", "value", "fields", nil },
  "REQ and EVT as their fields, RES as its value, the others raw")
t.check(node.handled.link == cluster.on_link and node.handled.beacon == cluster.on_beacon,
  "link events and beacons come to the cluster")

-- an outbound link: HELLO on up, then HELLO and SERVICES from the provider
local p = cluster.hint("A", "10.0.0.1", 7001, 5, "beacon")
t.eq({ p.state, L.connects[1].host, L.connects[1].port }, { "connecting", "10.0.0.1", 7001 }, "a hint connects")
t.eq(cluster.hint("A", "10.0.0.1", 7001, 5, "beacon"), p, "a second hint for the same node changes nothing")
cluster.on_link(p.link, "up")
local hello = L.sent(T.HELLO, p.link)[1]
t.eq(hello and { hello.value.node, hello.value.key, hello.value.v }, { "self", "k", 1 }, "up: we say HELLO")
L.frame(p.link, T.HELLO, { v = 1, node = "A", name = "alpha", key = "k", port = 7001, boot = 5 })
t.check(L.readied[p.link], "their HELLO makes the link ready")
t.eq(p.name, "alpha", "the peer has its name")
L.frame(p.link, T.SERVICES, { version = 1, services = { { path = "echo", methods = { "get" }, events = {} },
  { path = "local", methods = { "get" }, events = {} } } })
t.eq(p.state, "up", "SERVICES: the peer is up")
t.check(app.remotes.echo ~= nil, "a proxy for its service")
t.eq(app.remotes["local"], nil, "none for a path served locally")
t.eq(p.services.echo and p.services.echo.node, "A", "its service table")
local sub = L.sent(T.SUB, p.link)[1]
t.eq(sub and sub.value, { path = "echo" }, "we subscribe to its events")

-- SERVICES again without echo: the provider is removed (grace period)
L.frame(p.link, T.SERVICES, { version = 2, services = setmetatable({}, json.array_mt) })
t.eq({ p.version, p.services.echo }, { 2, nil }, "a new table replaces the old one")

-- a consumer (client) links to us: our HELLO, our table, the members we know
L.clear()
local c1 = fake.consumer(node, L, "c1")
local out = {}
for _, f in ipairs(L.frames) do out[#out + 1] = f.type end
t.eq(out, { T.HELLO, T.SERVICES, T.PEERS }, "a consumer gets HELLO, SERVICES, PEERS")
t.eq(L.sent(T.SERVICES, c1)[1].value.services[1].path, "local", "our service table")
t.eq(L.sent(T.PEERS, c1)[1].value, t.list { t.list { "A", "10.0.0.1", 7001 } }, "the members we know")
t.eq(#L.connects, 1, "a client consumer is not linked back")
-- a node consumer: we consume from it too
L.infos[99] = { ip = "10.0.0.7", port = 51234 }
cluster.on_link(99, "accept")
L.frame(99, T.HELLO, { v = 1, node = "B", name = "B", key = "k", port = 7002, boot = 3 })
t.eq(L.connects[2] and { L.connects[2].host, L.connects[2].port }, { "10.0.0.7", 7002 },
  "a node consumer's HELLO: we link back to its port")
-- a consumer asking for our table (empty SERVICES) gets it
L.clear()
L.frame(c1, T.SERVICES, "")
t.eq(#L.sent(T.SERVICES, c1), 1, "an empty SERVICES asks for our table")
-- a new member is announced to node consumers, not to clients
local q = cluster.hint("Q", "10.0.0.3", 7003, 1, "seed")
cluster.on_link(q.link, "up")
L.frame(q.link, T.HELLO, { v = 1, node = "Q", name = "Q", key = "k", port = 7003, boot = 1 })
L.clear()
L.frame(q.link, T.SERVICES, { version = 1, services = setmetatable({}, json.array_mt) })
t.eq(#L.sent(T.PEERS, 99), 0, "a new member's news waits a moment")
clock.advance(100)
t.eq(#L.sent(T.PEERS, 99), 1, "a new member is announced to node consumers")
t.eq(#L.sent(T.PEERS, c1), 0, "not to clients")

-- wrong key, bad HELLO
local x = cluster.hint("X", "10.0.0.4", 7004, 1, "seed")
L.frame(x.link, T.HELLO, { v = 1, node = "X", key = "other", port = 7004 })
t.eq({ L.closed[x.link], cluster.peers.X }, { "wrong key", nil }, "another partition: link closed, no peer")
local y = cluster.hint("Y", "10.0.0.5", 7005, 1, "seed")
L.frame(y.link, T.HELLO, { v = 99, node = "Y", key = "k" })
t.eq({ L.closed[y.link], cluster.peers.Y }, { "bad hello", nil }, "another protocol: link closed, no peer")

-- PEERS from a provider: hints; ourselves is no hint
L.clear()
local n = #L.connects
L.frame(p.link, T.PEERS, { { "D", "10.1.1.1", 7100 }, { "self", "10.1.1.2", 7000 }, { "A", "10.0.0.1", 7001 } })
t.eq(#L.connects, n + 1, "PEERS: one new link (not to ourselves, nor to a peer we have)")
t.eq({ L.connects[n + 1].host, L.connects[n + 1].port }, { "10.1.1.1", 7100 }, "to the member named")
t.eq(cluster.peers.D and cluster.peers.D.via, "gossip", "a gossip hint")

-- beacons: hints, within the connecting limits
cluster.MAX_CONNECTING_PER_HOST = 1
n = #L.connects
cluster.on_beacon("F1", 1, 1, "10.9.9.9", 7200, 1, false)
cluster.on_beacon("F2", 1, 1, "10.9.9.9", 7201, 1, false)
t.eq(#L.connects, n + 1, "one host's beacons get MAX_CONNECTING_PER_HOST links at once")
cluster.on_beacon("F3", 1, 1, "10.9.9.8", 7200, 1, true)
t.eq(#L.connects, n + 1, "a leaving beacon is no hint")
t.eq(cluster.peers.F2, nil, "the hint beyond the limit waits")
cluster.on_link(cluster.peers.F1.link, "down", "refused")
t.eq({ #L.connects, L.connects[#L.connects].port }, { n + 2, 7201 },
  "the slot that frees goes at once to the hint that waited")
cluster.on_link(cluster.peers.F2.link, "down", "refused")
t.eq(#L.connects, n + 2, "a hint is tried once")
cluster.on_beacon("F4", 1, 1, "10.9.9.9", 7202, 1, false)
cluster.on_beacon("F5", 1, 1, "10.9.9.9", 7203, 1, false)
clock.advance(cluster.WAIT_MS + 1)
cluster.on_link(cluster.peers.F4.link, "down", "refused")
t.eq(#L.connects, n + 3, "a hint that waited longer than WAIT_MS is dropped (a forged flood ends)")
cluster.MAX_CONNECTING_PER_HOST = 8
-- a beacon with a newer table version asks the peer for it
L.clear()
cluster.on_beacon("A", 5, 9, "10.0.0.1", 7001, 7, false)
t.eq(#L.sent(T.SERVICES, p.link), 1, "a beacon with a newer version: we ask for the table")
-- a beacon with another boot id: the node restarted, we reconnect
n = #L.connects
cluster.on_beacon("A", 6, 1, "10.0.0.1", 7001, 1, false)
t.check(L.closed[p.link] == "restarted" and #L.connects == n + 1, "another boot id: the old link closes, a new one")
p = cluster.peers.A
cluster.on_link(p.link, "up")
L.frame(p.link, T.HELLO, { v = 1, node = "A", name = "alpha", key = "k", port = 7001, boot = 6 })
L.frame(p.link, T.SERVICES, { version = 1, services = { { path = "echo", methods = { "get" }, events = {} } } })
t.eq(p.state, "up", "(A is up again)")

-- BYE from a provider: it is leaving; we answer BYE and route no new call to it
L.clear()
L.frame(p.link, T.BYE, "")
t.eq(p.state, "leaving", "BYE from a provider: it is leaving")
t.eq(#L.sent(T.BYE, p.link), 1, "we answer BYE on the same link")
L.frame(p.link, T.BYE, "")
t.eq(#L.sent(T.BYE, p.link), 1, "once")
L.clear()
require("fdn.sched").spawn(function() pcall(app.remotes.echo.get, app.remotes.echo, 1) end)
t.eq(#L.sent(T.REQ), 0, "no new call goes to a leaving provider")
-- its link goes down: the peer is lost
cluster.on_link(p.link, "down", "eof")
t.eq(cluster.peers.A, nil, "the leaving peer's link down: it is gone")

-- our own bye(done): done once every consumer's BYE came back, or its link went down
local c2 = fake.consumer(node, L, "c2")
L.clear()
local done = 0
cluster.bye(function() done = done + 1 end)
t.check(#L.sent(T.BYE, c1) == 1 and #L.sent(T.BYE, c2) == 1 and #L.sent(T.BYE, 99) == 1, "BYE to every consumer")
t.eq(#L.sent(T.BYE, q.link), 0, "not to a provider")
L.frame(c1, T.BYE, "")
t.eq(done, 0, "one consumer acknowledged: not done")
cluster.on_link(c2, "down", "eof")
t.eq(done, 0, "a second one gone: not done")
L.frame(99, T.BYE, "")
t.eq(done, 1, "every consumer acknowledged or gone: done")
L.frame(c1, T.BYE, "")
t.eq(done, 1, "done runs once")
local alone = fake.node { app = require("fdn.app").new() }
local now_done = false
alone.cluster.bye(function() now_done = true end)
t.check(now_done, "no consumer: done at once")

-- close_all: every link closes (flushed), no peer is left
cluster.close_all()
t.eq(t.count(cluster.peers), 0, "close_all forgets every peer")
t.eq(L.closed[c1], "shutdown", "and closes every link")

-- node.join and node.leave, over fakes: listener, seeds, the table's changes, the drain
local L2, C2 = fake.link(), fake.clock()
local versions, disc = {}, {}
local discovery = {
  start = function(o) disc.started = o; return true end,
  set_version = function(v) versions[#versions + 1] = v end,
  leave = function() disc.left = true end,
}
local app2 = require("fdn.app").new()
local n2 = fdn_node.new { app = app2, link = L2, rpc = L2, timer = C2.timer, now = C2.now, discovery = discovery,
  watch = {}, handle = function() end }
local port = fdn_node.join(n2, { id = "N2", name = "n2", key = "k", seeds = "10.3.3.3:7300" }, false)
t.eq({ port, L2.listening }, { 7000, true }, "join listens")
t.eq(disc.started and { disc.started.tcp_port, disc.started.send }, { 7000, true }, "and starts discovery")
t.eq(L2.connects[1] and { L2.connects[1].host, L2.connects[1].port }, { "10.3.3.3", 7300 }, "and links to its seeds")
L2.gone[L2.connects[1].link] = true
n2.cluster.on_link(L2.connects[1].link, "down", "refused")
C2.advance(2000)
t.eq(#L2.connects, 2, "a seed that is not a peer is tried again")
local cons = fake.consumer(n2, L2, "cons")
L2.clear()
app2:use("fresh", { get = function() return 1 end })
local tbl = L2.sent(T.SERVICES, cons)[1]
t.eq(tbl and tbl.value.services[1].path, "fresh", "a new service: the new table to every consumer")
t.eq(versions[#versions], tbl and tbl.value.version, "and its version to discovery")
L2.clear()
local left = false
fdn_node.leave(n2, function() left = true end)
t.check(not L2.listening and disc.left, "leave: no listener, a leaving beacon")
t.eq(#L2.sent(T.BYE, cons), 1, "BYE to the consumer")
L2.deliver(cons, T.REQ, 1, "fresh", "get")
t.eq(L2.sent(T.ERR, cons)[1].flags, L2.FLAGS.NOT_RUN, "a request now is refused as not run")
L2.frame(cons, T.BYE, "")
t.check(left, "done once the consumer acknowledged")

-- HEARD_BY_ALL (NATS: every node hears every beacon, links go by id): a node that links to us
-- is linked back at once whatever its port, nodes get no member list, and no news of members
local hn, HL, hclock = fake.node { app = require("fdn.app").new(), id = "H" }
hn.cluster.HEARD_BY_ALL = true
local hp = fake.provider(hn, HL, "P1", {})
HL.clear()
local nc = HL.new_id()
hn.cluster.on_link(nc, "accept")
HL.frame(nc, T.HELLO, { v = 1, node = "N1", name = "N1", key = "k", port = 0, boot = 4 })
local hout = {}
for _, f in ipairs(HL.frames) do hout[#hout + 1] = f.type end
t.eq(hout, { T.HELLO, T.SERVICES }, "HEARD_BY_ALL: a node consumer gets HELLO and SERVICES, no PEERS")
t.eq(hn.cluster.peers.N1 and hn.cluster.peers.N1.via, "hello", "and is linked back, though its port is 0")
local hc = fake.consumer(hn, HL, "cli")
t.eq(#HL.sent(T.PEERS, hc), 1, "a client still gets the members we know")
local n1 = hn.cluster.peers.N1
hn.cluster.on_link(n1.link, "up")
HL.frame(n1.link, T.HELLO, { v = 1, node = "N1", name = "N1", key = "k", port = 0, boot = 4 })
HL.frame(n1.link, T.SERVICES, { version = 1, services = setmetatable({}, json.array_mt) })
hclock.advance(200)
t.eq({ n1.state, #HL.sent(T.PEERS, nc), hp.state }, { "up", 0, "up" }, "a new member is no news to consumers")

-- two nodes in one Lua state, each its own context, linked by wired fakes
local sched = require "fdn.sched"
local app_a, app_b = require("fdn.app").new(), require("fdn.app").new()
local held
app_a:use("echo", {
  get = function(_, id) return { id = id, by = "A" } end,
  create = function(_, data) return data end,
  hold = function() held = sched.current(); return sched.wait() end,
}, { methods = { "get", "create", "hold" } })
local na = fake.node { app = app_a, id = "A" }
local nb = fake.node { app = app_b, id = "B" }
local pump = fake.wire(na, nb)
nb.cluster.hint("A", "10.0.0.1", 7000, nil, "seed")
pump()
t.eq(nb.cluster.peers.A and nb.cluster.peers.A.state, "up", "two nodes: B is linked to A")
t.eq(na.cluster.peers.B and na.cluster.peers.B.state, "up", "and A to B (B's HELLO was a hint)")
local proxy = app_b:service("echo")
t.check(proxy ~= nil and app_a.remotes.echo == nil, "B has a proxy of A's echo; A none of its own")
local got
sched.spawn(function() got = proxy:get(5) end)
pump()
t.eq(got, { id = 5, by = "A" }, "B's call is served by A")
local seen
proxy:on("created", function(data) seen = data end)
app_a:service("echo"):create({ n = 1 })
pump()
t.eq(seen, { n = 1 }, "A's event reaches B's listener")
-- the drain: A leaves while B's call is held; B acknowledges, the call still ends well
local held_result
sched.spawn(function() held_result = proxy:hold({}) end)
pump()
t.check(held ~= nil, "(a call held on A)")
local drained = false
fdn_node.leave(na, function() drained = true end)
pump()
t.check(drained, "A's leave: done once B acknowledged")
t.eq(nb.cluster.peers.A.state, "leaving", "B sees A leaving")
sched.wake(held, { ok = true })
pump()
t.eq(held_result, { ok = true }, "the call A was serving still gets its answer")
na.cluster.close_all()
pump()
t.eq(nb.cluster.peers.A, nil, "A's links closed: B forgets it")

return t.done()
