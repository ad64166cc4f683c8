-- remote_events.lua: how a node hears a remote path's events (EVT frames): the gateway's
-- sockets first, as they hear a local service's (the channels decide), then the proxy's own
-- listeners, with a hook-style context built only when someone can see it.
local json = require "fdn.json"
local events = require "fdn.events"
local sched = require "fdn.sched"

local M = {}

local null = json.null
local type = type
local spawn, emit, wants_context = sched.spawn, events.emit, events.wants_context

-- The context a proxy's event is heard with, from the EVT's meta.
local function event_context(app, route, svc, ev, data, meta)
  local method, id, query
  if type(meta) == "table" then
    method, id, query = meta.method, meta.id, meta.query
    if id == null then id = nil end
  end
  return { app = app, service = svc, path = route.path, method = method, id = id, result = data,
    params = { query = type(query) == "table" and query or {}, provider = "remote" }, event = ev, type = "around",
    fromRemote = true }
end

-- The EVT handler of one node (rpc.handle(T.EVT, ..., "fields")): by_remote maps a remote path
-- to its route (remote.lua's, kept up to date there). app.__sockets is set while sockets are
-- connected; a listener gets a context only when it takes more than the data.
function M.handler(app, by_remote)
  return function(_, _, path, ev, data, meta)
    local route = by_remote[path]
    if not route then return end
    local svc = route.svc
    local sockets = app.__sockets
    if sockets then sockets(svc, ev, data, event_context(app, route, svc, ev, data, meta)) end
    local all = svc.__listeners
    local list = all and all[ev]
    if not list then return end
    local n = #list
    if n == 1 then -- the common case, without emit's generality
      local l = list[1]
      if not l.context and not l.once then return spawn(l.fn, data) end
    elseif n == 0 then
      return
    end
    if not wants_context(svc, ev) then return emit(svc, ev, data) end
    emit(svc, ev, data, event_context(app, route, svc, ev, data, meta))
  end
end

return M
