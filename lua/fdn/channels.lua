-- channels.lua: Feathers' publishers (app:publish, service:publish) and what a socket
-- transport calls: connect, disconnect, and targets (who hears an event, grouped by the
-- payload each gets). The channel objects are channel.lua's.
local channel = require "fdn.channel"
local events = require "fdn.events"
local json = require "fdn.json"
local log = require "fdn.log"

local M = {}

local type, error, tostring, setmetatable, xpcall = type, error, tostring, setmetatable, xpcall
local move, traceback = table.move, debug.traceback
local is_array = json.is_array
local is_channel = channel.is_channel

-- The key of a publisher for every event (Feathers' ALL_EVENTS symbol).
local ALL = setmetatable({}, { __name = "all events" })
M.ALL = ALL

M.registry, M.channel = channel.registry, channel.channel

-- Registers a publisher on owner (an app or a service): publish(fn) for every event,
-- publish(event, fn) for one. check(event), when given, raises for an event owner lacks.
-- (It is app:publish itself, and service:publish's tail call: error level 2 is the caller.)
function M.register(owner, event, fn, check)
  if fn == nil and type(event) == "function" then event, fn = ALL, event end
  if type(fn) ~= "function" then error("publish: the publisher must be a function", 2) end
  if event ~= ALL then
    if type(event) ~= "string" then error("publish: the event must be a string", 2) end
    if check then check(event) end
  end
  local pubs = rawget(owner, "__publishers")
  if not pubs then
    pubs = {}
    rawset(owner, "__publishers", pubs)
  end
  pubs[event] = fn
  return owner
end

-- While a reload stages the next version, the running one's publishers and app listeners
-- (app.__serving, set by reload.lua) keep serving until the swap.
local function emit(app, event, conn)
  local serving = app.__serving
  if serving then return events.emit({ __listeners = serving.listeners }, event, conn) end
  return app:emit(event, conn)
end

-- The transport has a new connection (a table it made): app "connection" listeners get it.
function M.connect(app, conn)
  emit(app, "connection", conn)
  return conn
end

-- The connection is gone: it leaves every channel, then app "disconnect" listeners get it.
function M.disconnect(app, conn)
  channel.leave_all(app, conn)
  emit(app, "disconnect", conn)
end

-- The data connections get when the channel gives none: ctx.dispatch if set (for one item of
-- a list result, the dispatch item at the same index), else the event's data.
local function default_data(data, ctx)
  local d = ctx.dispatch
  if d == nil then return data end
  local res = ctx.result
  if res ~= data and type(res) == "table" and type(d) == "table" and is_array(res) and is_array(d)
    and not (type(data) == "table" and is_array(data)) then
    for i = 1, #res do
      if res[i] == data then return d[i] end
    end
    return nil
  end
  return d
end

local NIL = {} -- the group key of nil data

-- The channels of a publisher's result (a channel, or lists of them, nested) into out.
local function flatten(r, out, depth)
  if depth > 16 then error("the channel lists are nested too deep", 0) end
  for i = 1, #r do
    local v = r[i]
    if is_channel(v) then
      out[#out + 1] = v
    elseif type(v) == "table" then
      flatten(v, out, depth + 1)
    elseif v then
      error("a publisher returned a " .. type(v) .. " in its list, not a channel", 0)
    end
  end
  return out
end

local function grouped(chans, default)
  local groups, by_data, seen = {}, {}, {}
  for c = 1, #chans do
    local ch = chans[c]
    local d = ch.data
    if d == nil then d = default end
    local key = d
    if d == nil or d ~= d then key = NIL end
    local list = ch.connections
    local g = by_data[key]
    for i = 1, #list do
      local conn = list[i]
      if not seen[conn] then
        seen[conn] = true
        if not g then
          g = { connections = {}, data = d }
          by_data[key] = g
          groups[#groups + 1] = g
        end
        local gl = g.connections
        gl[#gl + 1] = conn
      end
    end
  end
  if #groups == 0 then return nil end
  return groups
end

local function failed(svc, event, err)
  local path = svc and svc.__path or "app"
  log.error(("error in the '%s %s' publisher, event not sent: %s"):format(path, tostring(event), tostring(err)))
  return nil
end

-- Who hears svc's event: nil, or { { connections = {...}, data = d }, ... }, every connection
-- once, grouped by the data it gets (its channel's :send data, else ctx.dispatch, else data).
-- The winning publisher (svc's for the event, svc's for all, the app's for the event, the
-- app's for all) runs here, in the calling coroutine; one that raises is logged.
function M.targets(app, svc, event, data, ctx)
  local pub
  local sp = svc and rawget(svc, "__publishers")
  if sp then pub = sp[event] or sp[ALL] end
  if not pub then
    local serving = app.__serving
    local ap = serving and serving.publishers or app.__publishers
    pub = ap and (ap[event] or ap[ALL])
    if not pub then return nil end
  end
  if ctx == nil then -- a custom event: a context as Feathers makes one
    ctx = { app = app, service = svc, path = svc and svc.__path, result = data, event = event }
  end
  local ok, r = xpcall(pub, traceback, data, ctx)
  if not ok then return failed(svc, event, r) end
  if not r then return nil end
  if is_channel(r) then
    local list = r.connections
    local n = #list
    if n == 0 then return nil end
    local d = r.data
    if d == nil then d = default_data(data, ctx) end
    return { { connections = move(list, 1, n, 1, {}), data = d } }
  end
  if type(r) ~= "table" then return failed(svc, event, "it returned a " .. type(r) .. ", not a channel") end
  local okf, chans = pcall(flatten, r, {}, 1)
  if not okf then return failed(svc, event, chans) end
  return grouped(chans, default_data(data, ctx))
end

return M
