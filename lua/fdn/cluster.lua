-- cluster.lua: membership. Beacons and gossip are hints; a peer is a member
-- while our outbound link to it is up (HELLO exchanged, service table fetched).
-- Frames are routed here to the node's serve (provider side) and remote (consumer side).
local json = require "fdn.json"
local log = require "fdn.log"

local M = {}

local encode, decode = json.encode, json.decode
local type, pairs, ipairs, tostring, setmetatable = type, pairs, ipairs, tostring, setmetatable
local array_mt = json.array_mt

local PROTOCOL = 1

local function gossip_entry(p)
  return setmetatable({ p.node, p.host, p.port }, array_mt)
end

-- cluster.new(node) makes one node's instance (see node.lua): its state is locals of new.
-- The instance's peers, conns and me are its tables (read by fdnode ls and the tests).
function M.new(node)
  local link = node.link
  local T = link.TYPES

  -- Hints are cheap to forge (a beacon is one datagram): at most MAX_CONNECTING links
  -- being set up at once, and MAX_PEERS peers in all. A hint that finds no free slot waits
  -- (at most MAX_WAITING of them, for at most WAIT_MS; the rest are ignored: a real node's
  -- next beacon tries again) and is tried as soon as a slot frees: a node that hears of 99
  -- others at once links to them all in one burst, not 8 per beacon round, and a flood of
  -- forged beacons cannot keep it connecting to nowhere for longer than WAIT_MS after it.
  local C = {
    MAX_CONNECTING = 32,
    MAX_CONNECTING_PER_HOST = 8, -- one host's (forged) beacons cannot take every slot
    MAX_PEERS = 1024,
    MAX_WAITING = 256,
    WAIT_MS = 2000,
    -- Every node hears every beacon, and links go by node id, not address (NATS): no gossip
    -- between nodes (N members' list to each of N consumers: N² entries per node when N start
    -- at once), and a node that links to us is linked back at once, whatever port it gave.
    HEARD_BY_ALL = false,
  }
  local now = node.now
  local waiting = {} -- hints that found no slot, oldest first: { id, host, port, boot, via, since }
  local waiting_ids = {} -- id -> true while it waits
  local hint -- defined below; drain_waiting calls it
  local connecting, npeers = 0, 0
  local connecting_at = {} -- host -> links being set up to it
  local me = {}       -- this node: id, name, key, port, boot, client
  local peers = {}    -- node id -> peer (outbound: we consume from it)
  local conns = {}    -- link id -> conn { link, inbound, peer, node, name, ready, subs }
  local inbound = {}  -- node id -> the link it opened to us (its HELLO said so)
  C.peers, C.conns, C.me = peers, conns, me
  -- While we stop: the links whose consumers have yet to acknowledge our BYE.
  local awaiting = nil -- { [link id] = true, n = count, done = fn }
  local table_too_large = nil -- the service table last logged as too large to send

  local function send(conn_or_link, ftype, id, body)
    local lid = type(conn_or_link) == "table" and conn_or_link.link or conn_or_link
    local ok, err = link.send(lid, ftype, 0, id or 0, body or "")
    if err == "too large" and ftype == T.SERVICES and table_too_large ~= body then
      table_too_large = body -- said once per table, not once per peer
      log.error(("the service table (%d bytes) is larger than --max-frame: no peer can see this node's "
        .. "services; raise --max-frame on every node"):format(#body))
    end
    return ok, err
  end

  local function hello_body()
    return encode { v = PROTOCOL, node = me.id, name = me.name, key = me.key, port = me.port or 0,
      boot = me.boot, client = me.client or nil }
  end

  -- Tries the waiting hints, oldest first, while slots are free; a hint whose host has no
  -- slot keeps waiting.
  local draining = false
  local function drain_waiting()
    if draining or #waiting == 0 then return end
    draining = true
    local kept, stale = {}, now() - C.WAIT_MS
    for i = 1, #waiting do
      local w = waiting[i]
      if w[6] < stale then
        waiting_ids[w[1]] = nil
      elseif connecting >= C.MAX_CONNECTING or (connecting_at[w[2]] or 0) >= C.MAX_CONNECTING_PER_HOST then
        kept[#kept + 1] = w
      else
        waiting_ids[w[1]] = nil
        hint(w[1], w[2], w[3], w[4], w[5])
      end
    end
    waiting = kept
    draining = false
  end

  -- A peer leaves the "connecting" state (joined, or dropped while connecting): its slot goes
  -- to a waiting hint.
  local function settled(p)
    if p.state ~= "connecting" then return end
    connecting = connecting - 1
    local n = (connecting_at[p.host] or 1) - 1
    connecting_at[p.host] = n > 0 and n or nil
    drain_waiting()
  end

  -- Forgets a peer: its services go, its link closes.
  local function drop(p, reason)
    if peers[p.node] ~= p then return end
    peers[p.node] = nil
    settled(p)
    npeers = npeers - 1
    local c = conns[p.link]
    conns[p.link] = nil
    if c then link.close(p.link, reason) end
    if p.state == "up" or p.state == "leaving" then
      log.info(("peer %s (%s) lost: %s"):format(p.name or "?", p.node:sub(1, 8), reason))
    end
    node.remote.peer_lost(p, reason)
  end
  C.drop = drop

  -- Starts an outbound link to a node we heard of, unless we have one.
  function hint(id, host, port, boot, via)
    if id == me.id then return end
    local p = peers[id]
    if p then
      if boot and p.boot and boot ~= p.boot then
        log.info(("peer %s restarted (boot %s -> %s): reconnecting"):format(p.name or id, p.boot, boot))
        drop(p, "restarted")
      else
        return p
      end
    end
    if not C.HEARD_BY_ALL and (type(port) ~= "number" or port <= 0 or port > 65535) then return end
    -- beacons and gossip are cheap to forge and share the connecting slots; a
    -- node that reached us (its HELLO) or a seed we were given always gets one
    local vouched = via == "hello" or via == "seed"
    if npeers >= C.MAX_PEERS then return end
    if not vouched and (connecting >= C.MAX_CONNECTING
        or (connecting_at[host] or 0) >= C.MAX_CONNECTING_PER_HOST) then
      if not waiting_ids[id] and #waiting < C.MAX_WAITING then
        waiting_ids[id] = true
        waiting[#waiting + 1] = { id, host, port, boot, via, now() }
      end
      return
    end
    local lid, err = link.connect(host, port, id) -- (the NATS transport's links need the id)
    if not lid then
      log.debug("cannot connect to " .. tostring(host) .. ":" .. tostring(port) .. ": " .. tostring(err))
      return
    end
    p = { node = id, host = host, port = port, boot = boot, link = lid, state = "connecting",
      services = {}, version = -1, inflight = 0, via = via }
    peers[id] = p
    connecting, npeers = connecting + 1, npeers + 1
    connecting_at[host] = (connecting_at[host] or 0) + 1
    conns[lid] = { link = lid, inbound = false, peer = p }
    return p
  end
  C.hint = hint

  local function peer_services(p, body)
    local t = decode(body)
    if type(t) ~= "table" or type(t.services) ~= "table" then return end
    p.version = t.version or p.version
    local seen = {}
    local remote = node.remote
    for _, d in ipairs(t.services) do
      if type(d) == "table" and type(d.path) == "string" then
        seen[d.path] = true
        d.node, d.key = p.node, me.key
        local old = p.services[d.path]
        p.services[d.path] = d
        if not old then remote.provider_added(p, d) end
      end
    end
    for path, d in pairs(p.services) do
      if not seen[path] then
        p.services[path] = nil
        remote.provider_removed(p, d)
      end
    end
  end

  local function gossip_body()
    local list = setmetatable({}, array_mt)
    for _, p in pairs(peers) do
      if p.state == "up" then list[#list + 1] = gossip_entry(p) end
    end
    return encode(list)
  end

  -- A new member is news for every node that consumes from us: two nodes that
  -- joined through us at the same moment learn of each other this way. The members
  -- that joined within NEWS_MS go out together, one PEERS frame per consumer: when
  -- N nodes start at once, a node sends N frames of news, not N² (a node hearing of
  -- itself ignores it).
  local NEWS_MS = 100
  local news, news_timer = nil, nil
  local function send_news()
    news_timer = nil
    local body = news and encode(news)
    news = nil
    if not body then return end
    for lid, c in pairs(conns) do
      if c.inbound and c.ready and not c.client then send(lid, T.PEERS, 0, body) end
    end
  end
  local function announce(p)
    if C.HEARD_BY_ALL then return end -- (they heard its beacon, as we did)
    news = news or setmetatable({}, array_mt)
    news[#news + 1] = gossip_entry(p)
    if not news_timer then news_timer = node.timer(NEWS_MS, send_news) end
  end

  -- A consumer's BYE came back while we stop (or its link went down).
  local function acknowledged(lid)
    if not awaiting or not awaiting[lid] then return end
    awaiting[lid] = nil
    awaiting.n = awaiting.n - 1
    if awaiting.n == 0 and awaiting.done then
      local done = awaiting.done
      awaiting.done = nil
      done()
    end
  end

  -- Our two links with a node (one opened by each) share one liveness in C (link.h: Pairs). The
  -- lower id pings, or the higher when the ids' last bytes add up odd: both sides agree, and each
  -- node leads about half of its pairs. NATS links have no pair function.
  local function pair(out_lid, in_lid, id)
    if not (link.pair and out_lid and in_lid) then return end
    local flip = (me.id:byte(-1) + id:byte(-1)) % 2 == 1
    link.pair(out_lid, in_lid, (me.id < id) ~= flip)
  end

  local function on_hello(c, body)
    local h = decode(body)
    if type(h) ~= "table" or h.v ~= PROTOCOL or type(h.node) ~= "string" then
      log.warn("link " .. c.link .. ": bad HELLO (protocol version " .. tostring(type(h) == "table" and h.v) .. ")")
      conns[c.link] = nil
      link.close(c.link, "bad hello")
      if c.peer then drop(c.peer, "bad hello") end
      return
    end
    if h.key ~= me.key then
      log.debug("link " .. c.link .. ": peer is in partition '" .. tostring(h.key) .. "'")
      conns[c.link] = nil
      link.close(c.link, "wrong key")
      if c.peer then drop(c.peer, "wrong key") end
      return
    end
    c.node, c.name, c.ready, c.client = h.node, h.name, true, h.client
    link.ready(c.link)
    if c.inbound then
      send(c, T.HELLO, 0, hello_body())
      send(c, T.SERVICES, 0, node.serve.table_body())
      -- the members we know: a CLI client that joined through us (--seeds) meets them too
      if h.client or not C.HEARD_BY_ALL then send(c, T.PEERS, 0, gossip_body()) end
      if not h.client then
        -- the HELLO is a discovery hint too: consume from the node that consumes from us
        local info = link.info(c.link)
        if info and not me.client then
          inbound[h.node] = c.link
          local p = hint(h.node, info.ip, h.port, h.boot, "hello")
          if p then pair(p.link, c.link, h.node) end
        end
      end
    else
      local p = c.peer
      if h.node == me.id then -- a hint that pointed at ourselves (forged, or our own address)
        drop(p, "self")
        return
      end
      p.name, p.boot = h.name, p.boot or h.boot
      if p.node ~= h.node then -- a node restarted on the same address under a new id
        peers[p.node] = nil
        p.node = h.node
        if peers[h.node] then -- we have a link to that node already
          conns[c.link] = nil
          link.close(c.link, "duplicate")
          settled(p)
          npeers = npeers - 1
          return
        end
        peers[h.node] = p
      end
      pair(c.link, inbound[h.node], h.node)
    end
  end

  local handlers = {
    [T.HELLO] = on_hello,
    [T.SERVICES] = function(c, body)
      if c.inbound then
        if body == "" then send(c, T.SERVICES, 0, node.serve.table_body()) end
        return
      end
      local p = c.peer
      local first = p.state == "connecting"
      settled(p)
      p.state = "up"
      if first then
        log.info(("peer %s (%s) at %s:%d joined"):format(p.name or "?", p.node:sub(1, 8), p.host, p.port))
        announce(p)
      end
      peer_services(p, body)
    end,
    [T.PEERS] = function(c, body)
      local list = decode(body)
      if type(list) ~= "table" then return end
      for _, e in ipairs(list) do
        if type(e) == "table" and type(e[1]) == "string" and type(e[2]) == "string" then
          hint(e[1], e[2], e[3], nil, "gossip")
        end
      end
    end,
    -- BYE from a node we consume from: it is stopping. We send it nothing new, and say so
    -- with a BYE back on the same link: every request we sent before it has reached it then.
    -- BYE on a link a consumer opened to us: that acknowledgement (see C.bye).
    [T.BYE] = function(c)
      if c.inbound then return acknowledged(c.link) end
      local p = c.peer
      if p and p.state ~= "leaving" then
        p.state = "leaving"
        log.info(("peer %s (%s) is leaving"):format(p.name or "?", p.node:sub(1, 8)))
        node.remote.peer_leaving(p)
        send(c, T.BYE, 0, "")
      end
    end,
  }

  -- Every frame but the RPC ones (REQ, RES, ERR, EVT), which go straight to serve and remote.
  local function on_frame(lid, ftype, flags, id, body)
    local c = conns[lid]
    if not c then return end
    if ftype == T.SUB then return node.serve.subscribe(c, body) end
    local h = handlers[ftype]
    if h then return h(c, body) end
  end

  -- A link event ("link" from the dispatcher): accepted, up (connected), or down.
  function C.on_link(lid, event, a)
    if event == "accept" then
      conns[lid] = { link = lid, inbound = true, subs = {} }
    elseif event == "up" then
      local c = conns[lid]
      if c then send(c, T.HELLO, 0, hello_body()) end
    elseif event == "down" then
      local c = conns[lid]
      if not c then return end
      conns[lid] = nil
      if c.inbound then
        if c.node and inbound[c.node] == lid then inbound[c.node] = nil end
        node.serve.unsubscribe_all(c)
        acknowledged(lid) -- a consumer gone sends nothing more either
      elseif c.peer then
        drop(c.peer, a or "link down")
      end
    end
  end

  -- Hints from discovery. A leaving beacon changes nothing by itself: the BYE
  -- frame and the link do that.
  function C.on_beacon(id, boot, seq, ip, port, version, leaving)
    if leaving then return end
    local p = peers[id]
    if p and p.boot == boot then
      if p.state == "up" and version > p.version then send(p.link, T.SERVICES, 0, "") end
      return
    end
    hint(id, ip, port, boot, "beacon")
  end

  -- Tells every consumer our service table changed.
  function C.services_changed(body)
    for lid, c in pairs(conns) do
      if c.inbound and c.ready then send(lid, T.SERVICES, 0, body) end
    end
  end

  -- Says goodbye on every link a consumer opened to us: they route no new call to us. Each
  -- answers with a BYE of its own after the last request it sent us; once every one has (or
  -- its link is gone), done() runs: no request can reach us any more.
  function C.bye(done)
    awaiting = { n = 0, done = done }
    for lid, c in pairs(conns) do
      if c.inbound and c.ready and send(lid, T.BYE, 0, "") then
        awaiting[lid] = true
        awaiting.n = awaiting.n + 1
      end
    end
    if awaiting.n == 0 then
      awaiting.done = nil
      done()
    end
  end

  function C.close_all()
    for lid, c in pairs(conns) do
      conns[lid] = nil
      link.close(lid, "shutdown", true)
      if c.peer then peers[c.peer.node] = nil end
    end
  end

  -- Starts membership as this node (id, name, key, port, boot, client): frames, link
  -- events and beacons come here from now on.
  function C.start(opts)
    me.id, me.name, me.key, me.boot, me.client = opts.id, opts.name, opts.key, opts.boot, opts.client
    me.port = opts.port
    local serve, remote, rpc = node.serve, node.remote, node.rpc
    -- the RPC frames come decoded, straight from C (REQ and EVT as their fields, rpc.LAYOUTS);
    -- the rest to on_frame
    rpc.handle(T.REQ, serve.request, "fields")
    rpc.handle(T.RES, remote.answer, "value")
    rpc.handle(T.ERR, remote.failed, "value")
    rpc.handle(T.EVT, remote.event, "fields")
    for _, t in pairs(T) do
      if t ~= T.REQ and t ~= T.RES and t ~= T.ERR and t ~= T.EVT then rpc.handle(t, on_frame) end
    end
    node.handle("link", C.on_link)
    node.handle("beacon", C.on_beacon)
  end

  return C
end

return M
