-- nats_discovery.lua: the NATS transport's discovery (--nats): fdn.core.discovery's interface,
-- with the beacon published on the partition's subject (prefix.beacon) instead of multicast: at
-- start, every second, and at once when the services change. Every node hears every beacon; a
-- beacon also says its sender is alive (nats_link's links are up while their peer is heard).
-- One beacon at start is enough: the nodes already there hear it and link to us, and we link
-- back to each as its HELLO comes (cluster.HEARD_BY_ALL; no gossip between nodes either), so
-- N nodes starting at once cost N beacons heard by N, not 4 N (a node that subscribed after
-- our beacon is heard by us when it beacons). A client (fdnode ls, call) beacons too, flagged: it
-- is heard, never connected to. The every-second beacons go out on whole seconds of the clock,
-- so that a node hears its peers' beacons in one burst a second, not one wake-up each; and a
-- beacon that says nothing new (same boot, version and flags) reaches the cluster's Lua at
-- most every REFRESH_MS per node.
local M = {}

local pack, unpack = string.pack, string.unpack

-- A beacon: sender id (32 hex digits), boot id, sequence, services version, flags.
local BEACON = ">c32I4I4I4B"
local BEACON_LEN = 45
local LEAVING, CLIENT = 1, 2
local EVERY_MS = 1000
local REFRESH_MS = 4000

-- new(T): T is nats_link's transport (after T.attach(node)).
function M.new(T)
  local D = {}
  local subject = T.prefix .. ".beacon"
  local me, heard = T.me, T.heard
  local told = {} -- id -> { boot, version, flags, at }: what the cluster last heard of it
  local boot, seq, version, flags = 0, 0, 0, 0
  local timers = {}
  local s = { sent = 0, send_errors = 0, received = 0, malformed = 0, own = 0, dispatched = 0, peers = 0 }
  local started = false

  local function beacon()
    if not started then return end
    seq = (seq + 1) & 0xffffffff
    if T.publish(subject, pack(BEACON, me, boot, seq, version, flags)) then
      s.sent = s.sent + 1
    else
      s.send_errors = s.send_errors + 1
    end
  end

  local function on_beacon(data)
    s.received = s.received + 1
    if #data ~= BEACON_LEN then
      s.malformed = s.malformed + 1
      return
    end
    local id, b, q, v, f = unpack(BEACON, data)
    if not id:match("^%x+$") then
      s.malformed = s.malformed + 1
      return
    end
    if id == me then
      s.own = s.own + 1
      return
    end
    if not heard[id] then s.peers = s.peers + 1 end
    local now = T.node.now()
    heard[id] = now
    if f & CLIENT ~= 0 then return end
    local t = told[id]
    if t and t[1] == b and t[2] == v and t[3] == f and now - t[4] < REFRESH_MS then return end
    told[id] = { b, v, f, now }
    s.dispatched = s.dispatched + 1
    T.node.cluster.on_beacon(id, b, q, "nats", 1, v, f & LEAVING ~= 0)
  end

  -- start{ send =, boot =, version = }: true | nil, why. send false: a client's beacons.
  function D.start(o)
    if started then error("discovery already started", 2) end
    local node = T.node
    -- every peer is behind the one server: a cap per host would be a cap on the cluster (the
    -- beacons a stranger could forge are the secret's to refuse, not this cap's)
    node.cluster.MAX_CONNECTING_PER_HOST = node.cluster.MAX_CONNECTING
    node.cluster.HEARD_BY_ALL = true
    boot, version = o.boot or math.random(1, 0x7fffffff), o.version or 0
    flags = (o.send == false) and CLIENT or 0
    local sub, err = T.subscribe(subject, on_beacon)
    if not sub then return nil, err end
    D.sub, started = sub, true
    beacon()
    -- every second, on the second; the nodes nats_link forgot are forgotten here too
    local tick
    tick = function()
      beacon()
      for id in pairs(told) do
        if not heard[id] then told[id] = nil end
      end
      timers.every = node.timer(EVERY_MS - node.now() % EVERY_MS, tick)
    end
    timers.every = node.timer(EVERY_MS - node.now() % EVERY_MS, tick)
    T.on_connected = beacon -- back after the server was away: say so at once
    return true
  end

  function D.set_version(v)
    version = v
    beacon()
  end

  -- Leaving beacons from now on: peers connect to us no more, and those linked to us still
  -- hear us (their links stay up while we drain).
  function D.leave()
    flags = flags | LEAVING
    beacon()
  end

  function D.stop()
    for _, t in pairs(timers) do t:cancel() end
    timers, started = {}, false
  end

  function D.stats()
    if not started then return nil, "not started" end
    local out = { boot_id = boot, seq = seq, version = version, authenticated = T.sealed, interfaces = 0 }
    for k, v in pairs(s) do out[k] = v end
    return out
  end

  return D
end

return M
