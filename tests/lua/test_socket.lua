-- test_socket.lua: Feathers' socket protocol (socket.lua) against a recording stand-in for the
-- C server (fdn.core.socket): CONNECT, the argument positions of every method, params from the
-- connection, acks (error, result), refusals, a slow call not holding a fast one, and events
-- to the channels' connections only.
local t = require "lib.t"
local json = require "fdn.json"
local sched = require "fdn.sched"
local null = json.null

local sent, emitted, closed = {}, {}, {}
package.loaded["fdn.core.socket"] = {
  send = function(id, kind, nsp, ack, data)
    local text, why = json.encode(data)
    if not text then return nil, "not json", why end -- (as the C server answers)
    sent[#sent + 1] = { id = id, kind = kind, nsp = nsp, ack = ack, data = data }
    return true
  end,
  ack = function(id, ack, result) -- (as the C server: [null, result] on "/")
    local data = { null, result == nil and null or result }
    local text, why = json.encode(data)
    if not text then return nil, "not json", why end
    sent[#sent + 1] = { id = id, kind = 3, nsp = "/", ack = ack, data = data }
    return true
  end,
  emit = function(ids, data)
    emitted[#emitted + 1] = { ids = { table.unpack(ids) }, data = data }
    return #ids
  end,
  close = function(id) closed[#closed + 1] = id end,
}

local app = require("fdn.app").new()
local seen = {}
local held
app:use("things", {
  find = function(_, params) seen.find = params; return { n = 0 } end,
  get = function(_, id, params) seen.get = { id, params }; return { id = id } end,
  create = function(_, data, params) seen.create = { data, params }; return data end,
  update = function(_, id, data, params) seen.update = { id, data, params }; return data end,
  patch = function(_, id, data, params) seen.patch = { id, data, params }; return data end,
  remove = function(_, id, params) seen.remove = { id, params }; return { id = id } end,
  stats = function(_, data, params) seen.stats = { data, params }; return { ok = true } end,
  slow = function()
    held = sched.current()
    return sched.wait()
  end,
  hidden = function() return 1 end,
  weird = function() return { f = print } end,
}, { methods = { "find", "get", "create", "update", "patch", "remove", "stats", "slow", "weird" } })
app:service("things"):hooks { before = { create = { function(ctx)
  if ctx.data.bad then error(fdn.errors.BadRequest("bad data", { field = "bad" })) end
end } } }

local connections = {}
app:on("connection", function(conn) connections[#connections + 1] = conn end)
require("fdn.socket").attach(app)

local function last() return sent[#sent] end
local function packet(id, kind, nsp, ack, data) sched.dispatch("socket", "packet", id, kind, nsp, ack, data) end
local function call(id, ack, ...) packet(id, 2, "/", ack, t.list { ... }) return last() end

-- open, then CONNECT to "/": the CONNECT answer carries the session id, app "connection" fires
sched.dispatch("socket", "open", 1, { sid = "S1", headers = { host = "h" }, query = "EIO=4", address = "127.0.0.1",
  transport = "websocket" })
packet(1, 0, "/", nil, nil)
t.eq({ last().kind, last().nsp, last().data }, { 0, "/", { sid = "S1" } }, "CONNECT answered with the sid")
t.eq(#connections, 1, "app 'connection' fired")
t.eq({ connections[1].provider, connections[1].headers }, { "socketio", { host = "h" } }, "the connection table")

packet(1, 0, "/admin", nil, nil)
t.eq({ last().kind, last().nsp, last().data.message }, { 4, "/admin", "Invalid namespace" },
  "another namespace: CONNECT_ERROR")

-- every method, with Feathers' argument positions
local a = call(1, 1, "find", "things", { x = "1" })
t.eq({ a.kind, a.ack, json.encode(a.data) }, { 3, 1, '[null,{"n":0}]' }, "find acks (null, result)")
t.eq(seen.find.query, { x = "1" }, "find: query from the first argument")
t.eq({ seen.find.provider, seen.find.connection }, { "socketio", connections[1] }, "params: provider and connection")
call(1, 2, "get", "things", 7, { y = 2 })
t.eq({ seen.get[1], seen.get[2].query }, { 7, { y = 2 } }, "get(id, query)")
call(1, 3, "create", "things", { text = "hi" }, { z = 3 })
t.eq({ seen.create[1], seen.create[2].query }, { { text = "hi" }, { z = 3 } }, "create(data, query)")
call(1, 4, "update", "things", 5, { text = "u" }, { q = 1 })
t.eq({ seen.update[1], seen.update[2], seen.update[3].query }, { 5, { text = "u" }, { q = 1 } },
  "update(id, data, query)")
call(1, 5, "patch", "things", null, { text = "p" })
t.eq({ seen.patch[1], seen.patch[2], seen.patch[3].query }, { nil, { text = "p" }, {} },
  "patch(null, data): multi, no query")
call(1, 6, "remove", "things", 9)
t.eq(seen.remove[1], 9, "remove(id)")
a = call(1, 7, "stats", "things", { k = 1 }, { w = 2 })
t.eq({ a.data[2], seen.stats[1], seen.stats[2].query }, { { ok = true }, { k = 1 }, { w = 2 } },
  "custom method(data, query)")

-- what hooks write on the connection reaches later calls' params
connections[1].user = { id = 42 }
call(1, 8, "get", "things", 1)
t.eq(seen.get[2].user, { id = 42 }, "connection fields are spread into params")

-- refusals, each an ack with Feathers' error JSON
local function err_of(ack, ...) return call(1, ack, ...).data[1] end
local e = err_of(10, "get", "nothing", 1)
t.eq({ e.name, e.code, e.message }, { "NotFound", 404, "Service 'nothing' not found" }, "unknown service")
e = err_of(11, "hidden", "things", {})
t.eq({ e.name, e.code }, { "MethodNotAllowed", 405 }, "a method not exposed")
e = err_of(12, "get", "things", 1, {}, {})
t.eq({ e.name, e.message }, { "BadRequest", "Too many arguments for 'get' method" }, "too many arguments")
e = err_of(13, "create", "things", { bad = true })
t.eq({ e.name, e.code, e.className, e.message, e.data }, { "BadRequest", 400, "bad-request",
  "bad data", { field = "bad" } },
  "a hook's error keeps its class and data")
e = err_of(14, 5, "things")
t.eq(e.name, "BadRequest", "a method name that is not a string")
e = err_of(16, "weird", "things", {})
t.eq({ e.name, e.code }, { "GeneralError", 500 }, "a result that is not JSON: GeneralError")
e = err_of(15, "get", 5)
t.eq({ e.name, e.message }, { "NotFound", "Invalid service path" }, "a path that is not a string")

-- a slow call does not hold a fast one on the same socket
local before = #sent
call(1, 20, "slow", "things", {})
t.eq(#sent, before, "the slow call has not answered")
a = call(1, 21, "get", "things", 3)
t.eq({ a.ack, a.data[2] }, { 21, { id = 3 } }, "a fast call answers meanwhile")
sched.wake(held, { late = true })
t.eq({ last().ack, last().data[2] }, { 20, { late = true } }, "the slow call answers when done")

-- events: only to the channel's connections, as "<path> <event>"
sched.dispatch("socket",
  "open", 2, { sid = "S2", headers = {}, query = "", address = "127.0.0.1", transport = "polling" })
packet(2, 0, "/", nil, nil)
t.eq(#connections, 2, "a second connection")
call(1, 30, "create", "things", { text = "nobody publishes" })
t.eq(#emitted, 0, "no publisher: no event is sent")
app:channel("room"):join(connections[2])
app:publish(function() return app:channel("room") end)
call(1, 31, "create", "things", { text = "to the room" })
t.eq(emitted[1] and emitted[1].ids, { 2 }, "the event goes to the channel's connection only")
t.eq(emitted[1] and emitted[1].data, { "things created", { text = "to the room" } },
  "as '<path> <event>' with the data")

-- a disconnect leaves every channel; a DISCONNECT packet closes the session
sched.dispatch("socket", "close", 2, "transport close")
t.eq(app:channel("room").length, 0, "the closed connection left the channel")
emitted = {}
call(1, 32, "create", "things", { text = "after" })
t.eq(#emitted, 0, "nobody hears it any more")
packet(1, 1, "/", nil, nil)
t.eq(closed, { 1 }, "DISCONNECT closes the session")
return t.done()
