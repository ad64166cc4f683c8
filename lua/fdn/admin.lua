-- admin.lua: the operators' port (--admin): /healthz, /readyz, /metrics (Prometheus text
-- format 0.0.4), /cluster.json (every node's figures: this node's own, the others' asked
-- over their links as "_stats") and / (the live cluster page, admin_page.html).
local metrics = require "fdn.core.metrics"
local http = require "fdn.core.http"
local json = require "fdn.json"
local sched = require "fdn.sched"
local stats = require "fdn.stats"
local log = require "fdn.log"

local M = {}

local pairs, ipairs, pcall, tostring, type, setmetatable = pairs, ipairs, pcall, tostring, type, setmetatable
local format, concat = string.format, table.concat
local now_ms = require("fdn.core.node").now
local respond = http.admin_respond

local ASK_MS = 900    -- a node that does not answer within this shows as not answering
local CACHE_MS = 250  -- /cluster.json asked again within this gets the same answer

local TEXT = { ["content-type"] = "text/plain; charset=utf-8" }
local METRICS = { ["content-type"] = "text/plain; version=0.0.4; charset=utf-8" }
local JSON = { ["content-type"] = "application/json; charset=utf-8", ["cache-control"] = "no-store" }
local HTML = { ["content-type"] = "text/html; charset=utf-8", ["cache-control"] = "no-store" }

-- The gauges and counters the Lua side knows, after the C side's (metrics.render).
local function lua_metrics(node)
  local out = {}
  local function family(name, kind, help)
    out[#out + 1] = format("# HELP %s %s\n# TYPE %s %s\n", name, help, name, kind)
  end
  family("fdn_cluster_nodes", "gauge", "Nodes this node knows as members of its cluster, itself included.")
  out[#out + 1] = format("fdn_cluster_nodes %d\n", node and #stats.members(node) + 1 or 1)
  local links = 0
  if node then for _ in pairs(node.cluster.conns) do links = links + 1 end end
  family("fdn_links", "gauge", "Open links to other nodes, both ways.")
  out[#out + 1] = format("fdn_links %d\n", links)
  local r = node and node.reload.outcomes or { ok = 0, failed = 0 }
  family("fdn_reloads_total", "counter", "Reloads of the scripts (--watch, SIGHUP), by outcome.")
  out[#out + 1] = format("fdn_reloads_total{outcome=\"ok\"} %d\nfdn_reloads_total{outcome=\"failed\"} %d\n",
    r.ok, r.failed)
  family("fdn_lua_memory_bytes", "gauge", "Memory the Lua state holds.")
  out[#out + 1] = format("fdn_lua_memory_bytes %.0f\n", collectgarbage("count") * 1024)
  return concat(out)
end

local function host_port(host, port)
  host = tostring(host)
  if host:find(":", 1, true) then host = "[" .. host .. "]" end
  return host .. ":" .. tostring(port)
end

-- Where the peers reach this node: its --bind address; bound to every interface, the local end
-- of one of its links (the interface the cluster runs on), and 0.0.0.0 while it has none.
local function own_host(node, info)
  local bind = info.bind
  if bind and bind ~= "" and bind ~= "0.0.0.0" and bind ~= "::" then return bind end
  for lid in pairs(node and node.cluster.conns or {}) do
    local li = node.link.info(lid)
    if li and li.local_ip and li.local_ip ~= "" then return li.local_ip end
  end
  return bind or "0.0.0.0"
end

-- Every node's summary, this one first; the others asked at once, in parallel.
local function gather(node, info)
  local me = stats.summary(node)
  me.address = host_port(own_host(node, info), me.port)
  me.self = true
  local nodes = { me }
  local peers = stats.members(node)
  local left, co = #peers, sched.current()
  for _, p in ipairs(peers) do
    sched.spawn(function()
      local ok, s = pcall(node.remote.ask, p, "_stats", "get", ASK_MS)
      if not ok or type(s) ~= "table" then
        s = { id = p.node, name = p.name, error = type(s) == "table" and tostring(s.message) or tostring(s) }
      end
      s.address = host_port(p.host, p.port)
      s.state = p.state
      nodes[#nodes + 1] = s
      left = left - 1
      if left == 0 then sched.wake(co) end
    end)
  end
  if left > 0 then sched.wait() end
  table.sort(nodes, function(a, b)
    if a.self ~= b.self then return a.self == true end
    return tostring(a.name) < tostring(b.name)
  end)
  return { self = me.id, nodes = setmetatable(nodes, json.array_mt) }
end

local function page(lib_dir)
  local f = io.open(lib_dir .. "/lua/fdn/admin_page.html", "rb")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  return text
end

-- Installs the "admin" dispatch handler. state: { node =, info =, ready = } (boot.lua sets
-- node and ready as the start goes on; ready turns false again when the node stops).
function M.attach(state)
  local cached, cached_at = nil, -1e9
  local html = page(state.info.lib_dir)
  local routes = {
    ["/healthz"] = function(id) respond(id, 200, "ok\n", TEXT) end,
    ["/readyz"] = function(id)
      if state.ready then return respond(id, 200, "ready\n", TEXT) end
      respond(id, 503, "not ready\n", TEXT)
    end,
    ["/metrics"] = function(id)
      respond(id, 200, metrics.render() .. lua_metrics(state.node), METRICS)
    end,
    ["/cluster.json"] = function(id)
      if not state.node then return respond(id, 503, '{"nodes":[]}', JSON) end
      local now = now_ms()
      if not cached or now - cached_at > CACHE_MS then
        cached = json.encode(gather(state.node, state.info))
        cached_at = now
      end
      respond(id, 200, cached, JSON)
    end,
    ["/"] = function(id)
      if not html then return respond(id, 500, "the cluster page is missing\n", TEXT) end
      respond(id, 200, html, HTML)
    end,
  }
  sched.handle("admin", function(req_id, method, path)
    local route = routes[path]
    if method ~= "GET" and method ~= "HEAD" then
      return respond(req_id, 405, "GET or HEAD only\n",
        { ["content-type"] = TEXT["content-type"], allow = "GET, HEAD" })
    end
    if not route then return respond(req_id, 404, "not found: try /, /metrics, /healthz, /readyz\n", TEXT) end
    sched.spawn(function()
      local ok, err = pcall(route, req_id)
      if not ok then
        log.error("admin: " .. tostring(err))
        respond(req_id, 500, "internal error\n", TEXT)
      end
    end)
  end)
end

return M
