-- socket.lua: Feathers' socket protocol on the Socket.IO server in C (fdn.core.socket). A
-- socket's CONNECT makes a connection (channels.connect); each EVENT [method, path, ...args]
-- is one service.call with the connection's fields as params; its ack carries (error, result).
-- Service events reach the connections the channels choose, as "<path> <event>".
local socket = require "fdn.core.socket"
local service = require "fdn.service"
local channels = require "fdn.channels"
local errors = require "fdn.errors"
local json = require "fdn.json"
local sched = require "fdn.sched"
local log = require "fdn.log"
local trace = require "fdn.trace"

local M = {}

local call, shape, catch = service.call, service.shape, service.catch
local send, ack_ok, emit_to = socket.send, socket.ack, socket.emit
local targets = channels.targets
local null = json.null
local type, pairs, tostring = type, pairs, tostring
local spawn, isyieldable = sched.spawn, coroutine.isyieldable

local CONNECT, DISCONNECT, EVENT, CONNECT_ERROR = 0, 1, 2, 4
local ROOT = "/"

-- Where params stand among the arguments after the path (Feathers' paramsPositions): find's
-- first, update's and patch's third, everyone else's second.
local PARAMS_AT = { find = 1, update = 3, patch = 3 }

-- Acks an error with Feathers' error JSON and the call's trace id (traceId); data (or errors)
-- that is not JSON is left out, as the REST gateway does: the class, code and message still go.
local function ack_error(id, ack, err)
  local t = errors.from(err):toJSON()
  t.traceId = trace.id()
  local sent, why = send(id, 3, ROOT, ack, { t })
  if not sent and why == "not json" then
    t.data, t.errors = nil, nil
    send(id, 3, ROOT, ack, { t })
  end
end

-- A connection is a plain table whose metatable notes (in `grown`) the first field a hook
-- adds to it (user, authentication...): until then params are built in one constructor.
local grown = setmetatable({}, { __mode = "k" })
local CONNECTION = { __newindex = function(conn, k, v)
  grown[conn] = true
  rawset(conn, k, v)
end }

-- params for a socket call: the query, then every field of the connection (provider,
-- headers, and what hooks wrote there), as Feathers spreads it.
local function params_for(conn, query)
  if not grown[conn] then
    return { query = query, route = {}, connection = conn, provider = conn.provider, headers = conn.headers }
  end
  local params = { query = query, route = {}, connection = conn }
  for k, v in pairs(conn) do params[k] = v end
  return params
end

-- One socket call: runs it and acks (error, result). args: method, path, then the method's
-- own arguments (the ack id is the packet's, not a trailing function).
local function run(app, id, conn, ack, args)
  local method, path = args[1], args[2]
  local ok, result, ctx
  if type(method) ~= "string" then
    ok, result = false, errors.BadRequest("A socket call needs a method name")
  elseif type(path) ~= "string" then
    ok, result = false, errors.NotFound("Invalid service path")
  else
    local svc = app.services[path] or app:service(path) -- (a local service at once)
    local at = PARAMS_AT[method] or 2
    local n = #args - 2
    if not svc then
      ok, result = false, errors.NotFound("Service '" .. path .. "' not found")
    elseif not svc.__methods[method] then -- (svc:exposes, without the method call)
      ok, result = false, errors.MethodNotAllowed("Method '" .. method .. "' not allowed on service '" .. path .. "'")
    elseif n > at then
      ok, result = false, errors.BadRequest("Too many arguments for '" .. method .. "' method")
    else
      local query = args[at + 2]
      if type(query) ~= "table" or query == null then query = {} end
      local params = params_for(conn, query)
      local how, a, b = shape(method), args[3], args[4]
      if a == null then a = nil end
      if b == null then b = nil end
      if how == "params" then
        ok, result, ctx = call(svc, method, nil, nil, params)
      elseif how == "id" then
        ok, result, ctx = call(svc, method, a, nil, params)
      elseif how == "id_data" then
        ok, result, ctx = call(svc, method, a, b, params)
      else
        ok, result, ctx = call(svc, method, nil, a, params)
      end
      if ok and ctx and ctx.dispatch ~= nil then result = ctx.dispatch end
    end
  end
  if ack == nil then return ok, result end
  if not ok then
    ack_error(id, ack, result)
    return ok, result
  end
  local sent, gone, why = ack_ok(id, ack, result) -- [null, result]
  if not sent and gone == "not json" then
    local e = errors.GeneralError("Result of " .. tostring(method) .. " is not JSON: " .. tostring(why))
    ack_error(id, ack, catch(e))
    return false, e
  end
  return ok, result
end

-- A call's trace: the socket's handshake request's traceparent, if it had one, else a new
-- trace per call; each call its own span.
local function run_traced(app, id, conn, ack, args)
  trace.start(conn.headers and conn.headers.traceparent)
  run(app, id, conn, ack, args)
  trace.stop()
end

-- --access-log: run, then one line: method, path, status (200, or the error's code), ms, trace.
local core = require "fdn.core.node"
local clock = require("fdn.core.metrics").clock
local function run_logged(app, id, conn, ack, args)
  local t0 = clock()
  trace.start(conn.headers and conn.headers.traceparent)
  local ok, result = run(app, id, conn, ack, args)
  local ms = (clock() - t0) / 1e6
  local status = ok and 200 or errors.from(result).code
  local method, path = tostring(args[1]):sub(1, 64), tostring(args[2]):sub(1, 256) -- (a client's strings)
  local tid = trace.id()
  trace.stop()
  if core.log_json() then
    core.log(1, "access", json.encode { kind = "socket", method = method, path = path, status = status, ms = ms,
      trace = tid })
  else
    core.log(1, ("access socket %s %s %s %.3f ms trace=%s"):format(method:gsub("%c", "?"), (path:gsub("%c", "?")),
      tostring(status), ms, tid))
  end
end

-- attach(app): handles the "socket" dispatch for app (boot.lua, when --http is on). While a
-- socket is connected, app.__sockets is the function service events go through.
function M.attach(app)
  local serve = core.info().access_log and run_logged or run_traced
  local conns = {}  -- socket id -> connection (once the socket connected to "/")
  local id_of = {} -- connection -> socket id (the inverse of conns)
  local count = 0

  local sockets -- app.__sockets while a socket is connected (defined below)

  local function gone(id)
    local conn = conns[id]
    if not conn then return end
    conns[id], id_of[conn], count = nil, nil, count - 1
    if count == 0 then app.__sockets = nil end
    channels.disconnect(app, conn)
  end

  local opened = {} -- socket id -> the session's info, until its CONNECT
  local function open(id, info)
    opened[id] = info
  end

  local function packet(id, kind, nsp, ack, data)
    if kind == EVENT then
      local conn = conns[id]
      if not conn or nsp ~= ROOT or type(data) ~= "table" then return end
      return spawn(serve, app, id, conn, ack, data)
    elseif kind == CONNECT then
      if nsp ~= ROOT then
        return send(id, CONNECT_ERROR, nsp, nil, { message = "Invalid namespace" })
      end
      if conns[id] then return end
      local info = opened[id]
      if not info then return end
      opened[id] = nil
      local conn = setmetatable({ provider = "socketio", headers = info.headers }, CONNECTION)
      conns[id], id_of[conn], count = conn, id, count + 1
      app.__sockets = sockets
      send(id, CONNECT, ROOT, nil, { sid = info.sid })
      channels.connect(app, conn)
    elseif kind == DISCONNECT then
      gone(id)
      socket.close(id)
    end
  end

  local function close(id)
    opened[id] = nil
    gone(id)
  end

  -- Disconnects a connection from the server's side (fdn.authentication, when its token
  -- expires), as socket.io's socket.disconnect() does: a DISCONNECT packet to "/", so the client
  -- sees "io server disconnect" and does not reconnect by itself; the connection leaves every
  -- channel and app "disconnect" listeners hear it. The Engine.IO session stays until the
  -- client closes it (a CONNECT on it would make a new connection).
  app.__close_connection = function(conn)
    local id = id_of[conn]
    if not id then return channels.disconnect(app, conn) end
    gone(id)
    send(id, DISCONNECT, ROOT)
  end

  sched.handle("socket", function(what, ...)
    if what == "packet" then return packet(...) end
    if what == "open" then return open(...) end
    if what == "close" then return close(...) end
  end)

  -- An event of svc: to the connections its publisher's channels hold, one encoding per
  -- distinct payload.
  local function publish(svc, event, data, ctx)
    local groups = targets(app, svc, event, data, ctx)
    if not groups then return end
    local name = svc.__path .. " " .. event
    for g = 1, #groups do
      local group = groups[g]
      local list, ids, n = group.connections, {}, 0
      for i = 1, #list do
        local sid = id_of[list[i]]
        if sid then
          n = n + 1
          ids[n] = sid
        end
      end
      if n > 0 then
        local sent, _, why = emit_to(ids, { name, group.data == nil and null or group.data })
        if not sent then
          log.warn("socket: event '" .. name .. "' not sent: its data is not JSON (" .. tostring(why) .. ")")
        end
      end
    end
  end

  sockets = function(svc, event, data, ctx)
    if isyieldable() then return publish(svc, event, data, ctx) end
    spawn(publish, svc, event, data, ctx)
  end
end

return M
