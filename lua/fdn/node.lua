-- node.lua: one node's distribution as one context table: its app, the bindings it reaches
-- the world through (links, the RPC codec, timers, clock, discovery, file watch, dispatch
-- handlers), its options, and its serve, remote, cluster and reload instances; join, leave.
local log = require "fdn.log"

local M = {}

local pairs, ipairs, tonumber, tostring = pairs, ipairs, tonumber, tostring

-- new{ app = [, options = { timeout =, grace = }, link =, rpc =, timer =, now =, discovery =,
-- watch =, handle = ] }: options left out are the command line's (--timeout, --grace), a
-- binding left out is the real one (fdn.core.*, sched.handle); a test passes fakes. The
-- instances are made in order (serve, remote, cluster, reload); they reach each other
-- through the context (node.serve, node.remote...), and the app knows its node as app.__node.
function M.new(o)
  local core = require "fdn.core.node"
  local info = o.options == nil and core.info()
  -- --nats: links, RPC and discovery over a NATS server (nats_link.lua), same interfaces
  local nats = o.transport or (info and info.nats and require("fdn.nats_link").new(info)) or nil
  local node = {
    app = o.app,
    options = o.options or { timeout = info.timeout, grace = info.grace },
    transport = nats,
    link = o.link or (nats and nats.link) or require "fdn.core.link",
    rpc = o.rpc or (nats and nats.rpc) or require "fdn.core.rpc",
    timer = o.timer or core.timer,
    now = o.now or core.now,
    discovery = o.discovery or (nats and require("fdn.nats_discovery").new(nats)) or require "fdn.core.discovery",
    watch = o.watch or require "fdn.core.watch",
    handle = o.handle or require("fdn.sched").handle,
  }
  o.app.__node = node
  node.serve = require("fdn.serve").new(node)
  node.remote = require("fdn.remote").new(node)
  node.cluster = require("fdn.cluster").new(node)
  node.reload = require("fdn.reload").new(node)
  if nats then nats.attach(node) end
  return node
end

-- Joins the cluster as info.id, info.name in partition info.key: the RPC listener on
-- info.bind:info.port (unless a client), discovery, and the seeds ("host:port,...", tried
-- again every 2 s while not a peer). Returns the port, or nil and why.
function M.join(node, info, client)
  local app, link, discovery, cluster, serve = node.app, node.link, node.discovery, node.cluster, node.serve
  local port = 0
  if node.transport then -- the NATS connection first: everything goes through it
    local ok, err = node.transport.open()
    if not ok then return nil, "cannot connect to NATS: " .. tostring(err) end
    if info.seeds then log.warn("--seeds is not used with --nats") end
  end
  if not client then
    local err
    port, err = link.listen(info.bind, info.port)
    if not port then return nil, err end
  end
  -- one boot id for beacons and HELLOs: a peer seen through both is one peer
  local boot = math.random(1, 0x7fffffff)
  cluster.start { id = info.id, name = info.name, key = info.key, port = port, boot = boot, client = client }
  if not client then
    app.__services_changed = function()
      local version, body = serve.refresh()
      cluster.services_changed(body)
      discovery.set_version(version)
    end
    serve.refresh()
  end
  local ok, err = discovery.start { tcp_port = port, send = not client, boot = boot }
  if not ok then log.warn("discovery: " .. tostring(err) .. " (use --seeds)") end
  if info.seeds and not node.transport then
    local seeds = {}
    for host, sport in info.seeds:gmatch("([^,]+):(%d+)") do seeds[#seeds + 1] = { host, tonumber(sport) } end
    local function contact()
      for _, s in ipairs(seeds) do
        local connected = false
        for _, p in pairs(cluster.peers) do
          if p.host == s[1] and p.port == s[2] then connected = true end
        end
        if not connected then cluster.hint("seed:" .. s[1] .. ":" .. s[2], s[1], s[2], nil, "seed") end
      end
    end
    contact()
    node.timer(2000, contact, true)
  end
  return port
end

-- The drain: no new request is run (each is refused as "not run", so its caller sends it
-- elsewhere), and every consumer is told we leave; done() runs once each has acknowledged
-- it after the last request it sent us (see cluster.bye). The caller then waits for the
-- calls in flight and closes the links.
function M.leave(node, done)
  node.link.stop_listening()
  node.discovery.leave()
  node.serve.stop()
  node.cluster.bye(done)
end

return M
