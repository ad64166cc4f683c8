-- test_channels.lua: Feathers' channels and publishers: channel objects, combined channels,
-- publisher precedence, what targets() hands a socket transport, connect/disconnect, and
-- reload (membership kept, publishers and listeners replaced, restored on a failed reload).
local t = require "lib.t"
local fake = require "lib.fake"
local log = require "fdn.log"
local channels = require "fdn.channels"
local App = require "fdn.app"

local targets = channels.targets

-- connections as the transport makes them
local function conn(name) return { provider = "socketio", name = name } end
local function names(list)
  local out = {}
  for i, c in ipairs(list) do out[i] = c.name end
  table.sort(out)
  return table.concat(out, ",")
end
-- targets' groups as "data:names" strings, in order
local function shape(groups)
  if groups == nil then return nil end
  local out = {}
  for i, g in ipairs(groups) do
    local d = type(g.data) == "table" and (g.data.tag or "table") or tostring(g.data)
    out[i] = d .. ":" .. names(g.connections)
  end
  return table.concat(out, " ")
end

local logged = {}
local log_error = log.error
log.error = function(msg) logged[#logged + 1] = msg end

-- channel objects
local app = App.new()
local a, b, c, d = conn "a", conn "b", conn "c", conn "d"
local ch = app:channel("room")
t.check(app:channel("room") == ch, "a name gives the same channel")
t.eq(ch.length, 0, "a new channel is empty")
t.eq(ch.data, nil, "a channel has no data unless :send")
t.check(ch:join(a, b) == ch, "join returns the channel")
ch:join(a, nil, c)
t.eq(ch.length, 3, "length counts connections, a connection joins once")
t.eq(names(ch.connections), "a,b,c", "connections lists them")
t.eq(t.list(app.channels), t.list { "room" }, "app.channels lists the names")
ch:leave(b)
t.eq(names(ch.connections), "a,c", "leave(conn)")
ch:leave(d)
t.eq(ch.length, 2, "leaving a connection that is not there changes nothing")
ch:join(b, d)
ch:leave(function(x) return x.name == "a" or x.name == "d" end)
t.eq(names(ch.connections), "b,c", "leave(fn): the connections fn returns true for leave")
local f = ch:filter(function(x) return x.name == "c" end)
t.check(f ~= ch and names(f.connections) == "c" and ch.length == 2, "filter: a new channel, the original intact")
local s = ch:send({ tag = "S" })
t.check(s ~= ch and s.data.tag == "S" and names(s.connections) == "b,c" and ch.data == nil,
  "send: a new channel with the same connections and the data")
s:join(a)
t.check(s.length == 3 and ch.length == 2, "joining a send channel leaves the original alone")
ch:join(a)
t.eq(f.length, 1, "a filtered channel does not follow the original")
t.raises(function() app:channel() end, "app:channel with no name")
t.raises(function() app:channel(true) end, "a channel name that is not a string")
t.raises(function() ch:filter(1) end, "filter without a function")

-- combined channels: the union, each connection once; join and leave go to every channel
local r2 = app:channel("r2"):join(b, d)
local both = app:channel("room", "r2")
t.eq(names(both.connections), "a,b,c,d", "a combined channel is the union, without duplicates")
t.eq(both.length, 4, "its length")
t.check(app:channel({ "room", "r2" }).length == 4, "a list of names")
t.check(app:channel({ "room" }) == ch, "a list of one name is that channel")
t.check(app:channel("room", { "r2", { "room" } }).length == 4, "nested lists of names")
local e = conn "e"
both:join(e)
t.check(ch.connections[ch.length] == e and r2.connections[r2.length] == e and both.length == 5,
  "combined join joins every channel")
both:leave(e)
t.check(ch.length == 3 and r2.length == 2 and both.length == 4, "combined leave leaves every channel")
t.eq(app:channel({}).length, 0, "an empty list of names: an empty channel")

-- empty channels leave the app; one joined again takes its name back
local tmp = app:channel("tmp"):join(a)
tmp:leave(a)
t.check(not app.__channels.by_name.tmp, "an empty channel is removed from the app")
t.eq(t.list(app.channels), t.list { "room", "r2" }, "and from app.channels")
t.check(app:channel("tmp") ~= tmp, "the name then gives a new channel")
app:channel("tmp"):leave()
tmp:join(b)
t.check(app:channel("tmp") == tmp, "a removed channel joined again is named again")
tmp:leave(b)

-- publishers: the most specific wins
local svc_app = App.new()
svc_app:use("m", { create = function(_, data) return data end }, { events = { "typing" } })
local m = svc_app:service("m")
local x, y, z = conn "x", conn "y", conn "z"
svc_app:channel("all"):join(x, y, z)
svc_app:channel("one"):join(x)
svc_app:channel("two"):join(y)
svc_app:channel("three"):join(z)
local data, ctx = { tag = "D" }, { method = "create" }
t.eq(targets(svc_app, m, "created", data, ctx), nil, "no publisher: nothing sent")
svc_app:publish(function() return svc_app:channel("all") end)
t.eq(shape(targets(svc_app, m, "created", data, ctx)), "D:x,y,z", "4. the app's for all events")
svc_app:publish("created", function() return svc_app:channel("one") end)
t.eq(shape(targets(svc_app, m, "created", data, ctx)), "D:x", "3. the app's for the event")
t.eq(shape(targets(svc_app, m, "patched", data, ctx)), "D:x,y,z", "the app's for all events for the others")
m:publish(function() return svc_app:channel("two") end)
t.eq(shape(targets(svc_app, m, "created", data, ctx)), "D:y", "2. the service's for all events")
m:publish("created", function() return svc_app:channel("three") end)
t.eq(shape(targets(svc_app, m, "created", data, ctx)), "D:z", "1. the service's for the event")
t.eq(shape(targets(svc_app, m, "removed", data, ctx)), "D:y", "the service's for all events for the others")
t.raises(function() m:publish("nope", function() end) end, "service:publish of an event it lacks")
t.raises(function() svc_app:publish("created") end, "publish without a function")
m:publish("typing", function(dat, cx)
  t.check(cx.path == "m" and cx.service == m and cx.result == dat and cx.app == svc_app,
    "a custom event's publisher gets a context as Feathers makes one")
  return svc_app:channel("one")
end)
t.eq(shape(targets(svc_app, m, "typing", data)), "D:x", "a custom event")

-- what publishers return: nil, lists, nested lists, send data, dispatch
local function with(fn) m:publish("created", fn) end
with(function() return nil end)
t.eq(targets(svc_app, m, "created", data, ctx), nil, "a publisher returning nil sends nothing")
with(function() return svc_app:channel("empty") end)
t.eq(targets(svc_app, m, "created", data, ctx), nil, "an empty channel sends nothing")
with(function() return { svc_app:channel("one"), svc_app:channel("all") } end)
t.eq(shape(targets(svc_app, m, "created", data, ctx)), "D:x,y,z", "a list: each connection once")
with(function() return { { svc_app:channel("one") }, { { svc_app:channel("two") }, false } } end)
t.eq(shape(targets(svc_app, m, "created", data, ctx)), "D:x,y", "nested lists, false skipped")
with(function() return svc_app:channel("one", "all") end)
t.eq(shape(targets(svc_app, m, "created", data, ctx)), "D:x,y,z", "a combined channel")
with(function()
  return { svc_app:channel("one"):send({ tag = "X" }), svc_app:channel("all"), svc_app:channel("two"):send(nil) }
end)
t.eq(shape(targets(svc_app, m, "created", data, ctx)), "X:x D:y,z",
  "grouped by data: a connection gets its first channel's data")
local shared = { tag = "Sh" }
with(function()
  return { svc_app:channel("one"):send(shared), svc_app:channel("three"):send(shared), svc_app:channel("two") }
end)
t.eq(shape(targets(svc_app, m, "created", data, ctx)), "Sh:x,z D:y", "one group per distinct data")
with(function() return svc_app:channel("all") end)
t.eq(shape(targets(svc_app, m, "created", data, { dispatch = { tag = "P" } })), "P:x,y,z",
  "ctx.dispatch replaces the data")
local r1, r2b = { tag = "r1" }, { tag = "r2" }
local multi = { result = { r1, r2b }, dispatch = { { tag = "d1" }, { tag = "d2" } } }
t.eq(shape(targets(svc_app, m, "created", r2b, multi)), "d2:x,y,z", "an item of a list result: its dispatch item")
with(function() return svc_app:channel("all"):send({ tag = "own" }) end)
t.eq(shape(targets(svc_app, m, "created", data, { dispatch = { tag = "P" } })), "own:x,y,z",
  "a channel's send data wins over dispatch")
local g = targets(svc_app, m, "created", data, ctx)
t.check(g[1].connections ~= svc_app:channel("all").connections, "targets hands out a copy of the array")

-- a publisher that raises, or returns something else: logged, nothing sent
logged = {}
with(function() error("broken publisher") end)
t.eq(targets(svc_app, m, "created", data, ctx), nil, "a publisher that raises: nothing sent")
t.check(#logged == 1 and logged[1]:find("broken publisher", 1, true) and logged[1]:find("'m created'", 1, true),
  "it is logged", logged[1])
with(function() return 42 end)
t.eq(targets(svc_app, m, "created", data, ctx), nil, "a publisher returning a number")
with(function() return { 42 } end)
t.eq(targets(svc_app, m, "created", data, ctx), nil, "a list holding a number")
local loop = {}
loop[1] = loop
with(function() return loop end)
t.eq(targets(svc_app, m, "created", data, ctx), nil, "a list that holds itself")
t.eq(#logged, 4, "each logged")
with(function()
  fdn.sleep(1)
  return svc_app:channel("one")
end)
t.eq(shape(targets(svc_app, m, "created", data, ctx)), "D:x", "a publisher may wait")

-- connect and disconnect
local conn_app = App.new()
local seen = {}
conn_app:on("connection", function(cn)
  seen[#seen + 1] = "connection " .. cn.name
  conn_app:channel("anonymous"):join(cn)
  conn_app:channel("user/" .. cn.name):join(cn)
end)
conn_app:on("disconnect", function(cn)
  seen[#seen + 1] = ("disconnect %s %d %d"):format(cn.name, conn_app:channel("anonymous").length, #conn_app.channels)
end)
local p, q = conn "p", conn "q"
t.check(channels.connect(conn_app, p) == p, "connect returns the connection")
channels.connect(conn_app, q)
local plain = conn_app:channel("anonymous"):filter(function() return true end)
t.eq(#conn_app.channels, 3, "the connection listeners made channels")
channels.disconnect(conn_app, p)
t.eq(seen, { "connection p", "connection q", "disconnect p 1 2" },
  "connection and disconnect events; on disconnect the connection has left every channel")
t.eq(names(conn_app:channel("anonymous").connections), "q", "q stays")
t.eq(t.list(conn_app.channels), t.list { "anonymous", "user/q" }, "p's own channel, empty, is gone")
t.eq(plain.length, 2, "a derived channel is not a named one: it is left alone")
channels.disconnect(conn_app, conn "never")
t.eq(#seen, 4, "disconnect of a connection in no channel still emits")

-- reload: membership kept, the new version's publishers and listeners apply; a failed
-- reload keeps the old ones
local script = os.tmpname()
local function write(text)
  local fh = assert(io.open(script, "w"))
  fh:write(text)
  fh:close()
end
local function version(v, extra)
  return ([[
return function(app)
  app:use("s", { create = function(_, data) return data end })
  app:publish(function() return app:channel("v%d") end)
  app:on("connection", function(c) app:channel("v%d"):join(c); c.seen = %d end)
  %s
end
]]):format(v, v, v, extra or "")
end
local rapp = App.new()
local node = fake.node { app = rapp }
write(version(1))
t.check(node.reload.boot({ script }), "boot")
rapp:setup()
local c1, c2 = conn "c1", conn "c2"
channels.connect(rapp, c1)
t.eq(c1.seen, 1, "version 1's connection listener")
local s1 = rapp:service("s")
t.eq(shape(targets(rapp, s1, "created", data, ctx)), "D:c1", "version 1's publisher")
write(version(2))
node.reload.reload({ [script] = true })
local s2 = rapp:service("s")
t.check(s2 ~= s1, "the reload made a new service")
t.eq(names(rapp:channel("v1").connections), "c1", "channel membership survives the reload")
channels.connect(rapp, c2)
t.eq(c2.seen, 2, "version 2's connection listener, alone")
t.eq(names(rapp:channel("v1").connections), "c1", "version 1's listener no longer runs")
t.eq(shape(targets(rapp, s2, "created", data, ctx)), "D:c2", "version 2's publisher")
logged = {}
write(version(3, "app:channel('v3'):join({ name = 'ghost' }); error('configure fails')"))
node.reload.reload({ [script] = true })
t.check(#logged == 1 and logged[1]:find("reload failed", 1, true), "the failing reload is logged", logged[1])
t.eq(shape(targets(rapp, rapp:service("s"), "created", data, ctx)), "D:c2", "a failed reload keeps the publishers")
local c3 = conn "c3"
channels.connect(rapp, c3)
t.eq(c3.seen, 2, "and the connection listeners")
t.check(rapp.__serving == nil, "nothing staged is left")
-- while a reload stages the next version, the running one serves
write(version(4, "fdn.sleep(20)"))
local staged = false
require("fdn.sched").spawn(function()
  node.reload.reload({ [script] = true })
  staged = true
end)
t.check(not staged and rapp.__serving ~= nil, "a reload is staging")
local c4 = conn "c4"
channels.connect(rapp, c4)
t.eq(c4.seen, 2, "meanwhile the running version's listeners get connections")
t.eq(shape(targets(rapp, s2, "created", data, ctx)), "D:c2,c3,c4", "and its publishers events")
for _ = 1, 100 do
  if staged then break end
  fdn.sleep(5)
end
t.check(staged, "the reload ended")
t.eq(shape(targets(rapp, rapp:service("s"), "created", data, ctx)), nil, "then version 4's publisher (v4: empty)")
os.remove(script)
log.error = log_error

-- the fan-out path: one channel of 1,000 connections, no send data
local bench = App.new()
bench:use("b", { create = function(_, dt) return dt end })
local big = bench:channel("big")
for i = 1, 1000 do big:join(conn("k" .. i)) end
bench:publish(function() return big end)
local bs = bench:service("b")
local rounds = 2000
local clock = os.clock
local t0 = clock()
for _ = 1, rounds do targets(bench, bs, "created", data, ctx) end
local per = (clock() - t0) / rounds / 1000 * 1e6
local list_app = App.new()
local halves = { list_app:channel("h1"), list_app:channel("h2") }
for i = 1, 1000 do halves[i % 2 + 1]:join(conn("k" .. i)) end
list_app:publish(function() return halves end)
t0 = clock()
for _ = 1, rounds / 4 do targets(list_app, bs, "created", data, ctx) end
local per_list = (clock() - t0) / (rounds / 4) / 1000 * 1e6
print(("targets(): %.3f us per connection (one channel of 1,000), %.3f us (a list of two channels)")
  :format(per, per_list))
t.check(#targets(bench, bs, "created", data, ctx)[1].connections == 1000, "the benchmark's targets are whole")

return t.done()
