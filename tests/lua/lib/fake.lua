-- fake.lua: stand-ins for a node's bindings, for Lua tests of serve, remote, cluster and
-- reload without sockets: links and their RPC codec (one table plays fdn.core.link and
-- fdn.core.rpc) that record the frames sent and hand frames to the handlers installed with
-- handle(), a clock whose timers fire when the test moves it on, M.node(...), a node
-- (fdn.node) joined over them, and M.wire, two such nodes linked.
local json = require "fdn.json"
local fdn_node = require "fdn.node"

local M = {}

local real, codec = require "fdn.core.link", require "fdn.core.rpc" -- only their constants
local T, LAYOUTS = real.TYPES, codec.LAYOUTS
local null, array_mt = json.null, json.array_mt

-- A JSON list of n values, nil as null (as the rpc binding encodes a REQ or EVT body).
local function list(n, ...)
  local out = setmetatable({}, array_mt)
  for i = 1, n do
    local v = select(i, ...)
    if v == nil then v = null end
    out[i] = v
  end
  return json.encode(out)
end

-- The link and rpc bindings. Frames sent are in L.frames as { link, type, flags, id, body,
-- value }: body the JSON text, value what it says (a REQ's { path, method, id, data, params }, an
-- EVT's { path, event, data, meta }, else the body decoded). L.limit is the frame limit
-- (bodies longer are "too large"); a link in L.gone is gone; L.queued[lid] is what
-- pending() says.
function M.link()
  local L = { TYPES = T, FLAGS = real.FLAGS, LAYOUTS = LAYOUTS, frames = {}, handlers = {}, modes = {}, closed = {},
    connects = {}, readied = {}, gone = {}, queued = {}, infos = {}, limit = math.huge, ids = 0,
    listening = false, wired = {} }

  -- true; or nil, why [, size] when the body cannot go on lid
  local function record(lid, ftype, flags, id, body, value)
    if L.gone[lid] then return nil, "gone" end
    if #body > L.limit then return nil, "too large", #body end
    local f = { link = lid, type = ftype, flags = flags, id = id, body = body, value = value }
    L.frames[#L.frames + 1] = f
    local w = L.wired[lid]
    if w then w.queue[#w.queue + 1] = { w.arrive, w.to, w.lid, f } end
    return true
  end

  function L.new_id()
    L.ids = L.ids + 1
    return L.ids
  end

  function L.send(lid, ftype, flags, id, body)
    body = body or ""
    local ok, why = record(lid, ftype, flags, id, body, body ~= "" and json.decode(body) or nil)
    return ok, why
  end

  function L.reply(lid, ftype, id, value)
    local body, err = "", nil
    if value ~= nil then body, err = json.encode(value) end
    if not body then return nil, "not json", err end
    return record(lid, ftype, 0, id, body, value)
  end

  function L.request(lid, rid, path, method, id, data, params)
    local body, err = list(#LAYOUTS.REQ, path, method, id, data, params)
    if not body then return nil, "not json", err end
    return record(lid, T.REQ, 0, rid, body, { path = path, method = method, id = id, data = data, params = params })
  end

  function L.publish(set, path, event, data, meta)
    local body, err = list(#LAYOUTS.EVT, path, event, data, meta)
    if not body then return nil, "not json", err end
    local sent = 0
    for lid in pairs(set) do
      local ok, why, size = record(lid, T.EVT, 0, 0, body, { path = path, event = event, data = data, meta = meta })
      if ok then
        sent = sent + 1
      elseif why == "too large" then
        return nil, why, size
      else
        set[lid] = nil
      end
    end
    return sent
  end

  function L.handle(ftype, fn, mode)
    L.handlers[ftype], L.modes[ftype] = fn, mode
  end

  function L.close(lid, reason)
    L.closed[lid] = reason or true
    local w = L.wired[lid]
    if w then w.hang_up() end
    return true
  end

  function L.ready(lid) L.readied[lid] = true; return true end
  function L.pending(lid) if not L.gone[lid] then return L.queued[lid] or 0 end end
  function L.info(lid) return L.infos[lid] or { ip = "10.0.0.9", port = 40000 + lid } end
  function L.listen() L.listening = true; return 7000 end
  function L.stop_listening() L.listening = false end

  function L.connect(host, port)
    local lid = L.new_id()
    L.connects[#L.connects + 1] = { host = host, port = port, link = lid }
    if L.dial then L.dial(lid) end
    return lid
  end

  -- A frame comes in on lid: an RPC frame's handler gets the decoded arguments the test
  -- passes (as rpc.handle's modes give them), any other frame (raw) its body as JSON.
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

-- A node over fakes, joined (fdn.node.join) as o.id (default "self") in partition "k"; with
-- o.client, as a client. o.app (default a new app), o.options (timeout, grace) and o.watch
-- as fdn.node.new takes them. Returns the node, its link and its clock; node.handled[kind]
-- is what it registered with the dispatcher, node.versions the table versions it gave to
-- discovery.
function M.node(o)
  o = o or {}
  local L, C, handled, versions = M.link(), M.clock(), {}, {}
  local discovery = { start = function() return true end, leave = function() end,
    set_version = function(v) versions[#versions + 1] = v end }
  local node = fdn_node.new { app = o.app or require("fdn.app").new(), options = o.options or { timeout = 1000,
    grace = 500 }, link = L, rpc = L, timer = C.timer, now = C.now, discovery = discovery, watch = o.watch or {},
    handle = function(kind, fn) handled[kind] = fn end }
  node.handled, node.versions = handled, versions
  local id = o.id or "self"
  assert(fdn_node.join(node, { id = id, name = id, key = "k" }, o.client))
  return node, L, C
end

-- A provider joins: an outbound link to node `id` that says HELLO and sends its service
-- table (services: { { path =, methods = {...}, events = {...} } }). Returns the peer.
function M.provider(node, L, id, services)
  local p = node.cluster.hint(id, "10.0.0." .. (#L.connects + 1), 7001, 1, "seed")
  node.cluster.on_link(p.link, "up")
  L.frame(p.link, T.HELLO, { v = 1, node = id, name = id, key = "k", port = 7001, boot = 1 })
  for _, d in ipairs(services) do
    d.methods = setmetatable(d.methods or {}, array_mt)
    d.events = setmetatable(d.events or {}, array_mt)
  end
  L.frame(p.link, T.SERVICES, { version = 1, services = setmetatable(services, array_mt) })
  return p
end

-- A consumer links to us and says HELLO (as a client: we do not link back). Returns its link.
function M.consumer(node, L, id)
  local lid = L.new_id()
  node.cluster.on_link(lid, "accept")
  L.frame(lid, T.HELLO, { v = 1, node = id, name = id, key = "k", port = 0, boot = 1, client = true })
  return lid
end

-- A frame f arrives at node `to` on link lid, as the link binding hands it over: decoded
-- as the handler's mode asks ("raw", "value", or "fields": a list's, LAYOUTS; null as nil). A
-- link `to` closed reads nothing more.
local function arrive(to, lid, f)
  local h, mode = to.link.handlers[f.type], to.link.modes[f.type]
  if not h or to.link.closed[lid] then return end
  if mode == nil or mode == "raw" then return h(lid, f.type, f.flags, f.id, f.body) end
  local v = f.body ~= "" and json.decode(f.body) or nil
  if mode == "value" then
    if v == null then v = nil end
    if f.flags ~= 0 then return h(lid, f.id, v, nil, f.flags) end
    return h(lid, f.id, v)
  end
  local args, n = {}, #LAYOUTS[f.type == T.REQ and "REQ" or "EVT"]
  for i = 1, n do
    local item = type(v) == "table" and v[i] or nil
    if item ~= null then args[i] = item end
  end
  return h(lid, f.id, table.unpack(args, 1, n))
end

-- Two nodes made by M.node, linked: a link either opens reaches the other (its dispatcher
-- sees "accept", the opener's "up"); a link one side closes is "down" on the other, and
-- carries nothing more. Nothing moves until pump() hands over the link events and frames,
-- in the order they happened, until none is left. Returns pump.
function M.wire(a, b)
  local queue = {} -- { fn, args... }: link events, and frames to hand over
  -- x's end of a link (xlid) whose other end is y's ylid
  local function end_of(x, xlid, y, ylid)
    return { queue = queue, arrive = arrive, to = y, lid = ylid, hang_up = function()
      x.link.wired[xlid], y.link.wired[ylid] = nil, nil
      queue[#queue + 1] = { y.handled.link, ylid, "down", "eof" }
    end }
  end
  local function dial(from, to)
    return function(lid)
      local other = to.link.new_id()
      from.link.wired[lid] = end_of(from, lid, to, other)
      to.link.wired[other] = end_of(to, other, from, lid)
      queue[#queue + 1] = { to.handled.link, other, "accept" }
      queue[#queue + 1] = { from.handled.link, lid, "up" }
    end
  end
  a.link.dial, b.link.dial = dial(a, b), dial(b, a)
  return function()
    while #queue > 0 do
      local e = table.remove(queue, 1)
      e[1](table.unpack(e, 2))
    end
  end
end

return M
