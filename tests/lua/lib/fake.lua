-- fake.lua: stand-ins for a node's bindings, for Lua tests of serve, remote, cluster and
-- reload without sockets: a link that records the frames sent and delivers frames to the
-- handlers installed with handle(), a clock whose timers fire when the test moves it on,
-- and M.node(...), a node context (fdn.node) made over them, its cluster started.
local json = require "fdn.json"
local fdn_node = require "fdn.node"

local M = {}

local real = require "fdn.core.link" -- only its constants
local T = real.TYPES

-- The link binding. Frames sent are in L.frames as { link, type, flags, id, value }, value
-- the body decoded (a REQ's is { path, method, id, data, params }, an EVT's { path, event,
-- data, meta }). L.limit is the frame limit (bodies longer are "too large"); a link in
-- L.gone is gone; L.queued[lid] is what pending() says.
function M.link()
  local L = { TYPES = T, FLAGS = real.FLAGS, frames = {}, handlers = {}, closed = {}, connects = {},
    readied = {}, gone = {}, queued = {}, infos = {}, limit = math.huge, ids = 0, listening = false }

  local function record(lid, ftype, flags, id, value)
    L.frames[#L.frames + 1] = { link = lid, type = ftype, flags = flags, id = id, value = value }
    return true
  end

  -- nil, why [, size] when a body cannot go on lid
  local function refuse(lid, body)
    if L.gone[lid] then return "gone" end
    if #body > L.limit then return "too large", #body end
  end

  function L.new_id()
    L.ids = L.ids + 1
    return L.ids
  end

  function L.send(lid, ftype, flags, id, body)
    body = body or ""
    local why = refuse(lid, body)
    if why then return nil, why end
    return record(lid, ftype, flags, id, body ~= "" and json.decode(body) or nil)
  end

  function L.reply(lid, ftype, id, value)
    local body, err = "", nil
    if value ~= nil then body, err = json.encode(value) end
    if not body then return nil, "not JSON", err end
    local why, size = refuse(lid, body)
    if why then return nil, why, size end
    return record(lid, ftype, 0, id, value)
  end

  function L.request(lid, rid, path, method, id, data, params)
    local body, err = json.encode(setmetatable({ path, method, id or json.null, data or json.null }, json.array_mt))
    if not body then return nil, "not JSON", err end
    local why, size = refuse(lid, body)
    if why then return nil, why, size end
    return record(lid, T.REQ, 0, rid, { path = path, method = method, id = id, data = data, params = params })
  end

  function L.publish(set, path, event, data, meta)
    local sent = 0
    for lid in pairs(set) do
      if L.gone[lid] then
        set[lid] = nil
      else
        record(lid, T.EVT, 0, 0, { path = path, event = event, data = data, meta = meta })
        sent = sent + 1
      end
    end
    return sent
  end

  function L.handle(ftype, fn) L.handlers[ftype] = fn end
  function L.close(lid, reason) L.closed[lid] = reason or true; return true end
  function L.ready(lid) L.readied[lid] = true; return true end
  function L.pending(lid) if not L.gone[lid] then return L.queued[lid] or 0 end end
  function L.info(lid) return L.infos[lid] or { ip = "10.0.0.9", port = 40000 + lid } end
  function L.listen() L.listening = true; return 7000 end
  function L.stop_listening() L.listening = false end

  function L.connect(host, port)
    local lid = L.new_id()
    L.connects[#L.connects + 1] = { host = host, port = port, link = lid }
    return lid
  end

  -- A frame comes in on lid: an RPC frame's handler gets the decoded arguments the test
  -- passes (as link.handle's modes give them), any other frame (raw) its body as JSON.
  function L.deliver(lid, ftype, ...)
    return L.handlers[ftype](lid, ...)
  end

  function L.frame(lid, ftype, body, flags)
    if type(body) == "table" then body = json.encode(body) end
    return L.handlers[ftype](lid, ftype, flags or 0, 0, body or "")
  end

  -- The frames sent so far of type ftype (and on lid, when given); clears them with clear.
  function L.sent(ftype, lid)
    local out = {}
    for _, f in ipairs(L.frames) do
      if f.type == ftype and (lid == nil or f.link == lid) then out[#out + 1] = f end
    end
    return out
  end

  function L.clear() L.frames = {} end

  return L
end

-- A clock: now() and timer(ms, fn, repeat) -> handle with :cancel(); advance(ms) moves time
-- on and calls the timers due, in order.
function M.clock()
  local C = { t = 1000, timers = {} }
  function C.now() return C.t end
  function C.timer(ms, fn, rep)
    local h = { at = C.t + ms, ms = ms, fn = fn, rep = rep }
    function h.cancel() h.cancelled = true end
    C.timers[#C.timers + 1] = h
    return h
  end
  function C.advance(ms)
    local target = C.t + ms
    while true do
      local due
      for _, h in ipairs(C.timers) do
        if not h.cancelled and h.at <= target and (not due or h.at < due.at) then due = h end
      end
      if not due then break end
      C.t = due.at
      if due.rep then due.at = due.at + due.ms else due.cancelled = true end
      due.fn()
    end
    C.t = target
  end
  return C
end

-- A node over fakes, its cluster started as node "self" in partition "k" (with o.client, as
-- a client): returns the node, its link and its clock. o.app (default a new app) and
-- o.options (timeout, grace) as fdn.node.new takes them. node.handled[kind] is what it
-- registered with the dispatcher.
function M.node(o)
  o = o or {}
  local L, C, handled = M.link(), M.clock(), {}
  local node = fdn_node.new { app = o.app or require("fdn.app").new(), options = o.options or { timeout = 1000,
    grace = 500 }, link = L, timer = C.timer, now = C.now, discovery = { leave = function() end },
    watch = o.watch or {}, handle = function(kind, fn) handled[kind] = fn end }
  node.handled = handled
  node.cluster.start { id = "self", name = "me", key = "k", port = 7000, boot = 1, client = o.client }
  return node, L, C
end

-- A provider joins: an outbound link to node `id` that says HELLO and sends its service
-- table (services: { { path =, methods = {...}, events = {...} } }). Returns the peer.
function M.provider(node, L, id, services)
  local p = node.cluster.hint(id, "10.0.0." .. (#L.connects + 1), 7001, 1, "seed")
  node.cluster.on_link(p.link, "up")
  L.frame(p.link, T.HELLO, { v = 1, node = id, name = id, key = "k", port = 7001, boot = 1 })
  for _, d in ipairs(services) do
    d.methods = setmetatable(d.methods or {}, json.array_mt)
    d.events = setmetatable(d.events or {}, json.array_mt)
  end
  L.frame(p.link, T.SERVICES, { version = 1, services = setmetatable(services, json.array_mt) })
  return p
end

-- A consumer links to us and says HELLO (as a client: we do not link back). Returns its link.
function M.consumer(node, L, id)
  local lid = L.new_id()
  node.cluster.on_link(lid, "accept")
  L.frame(lid, T.HELLO, { v = 1, node = id, name = id, key = "k", port = 0, boot = 1, client = true })
  return lid
end

return M
