-- stats.lua: one node's figures for the cluster page: who it is, its process (uptime, RSS,
-- Lua heap, CPU), its links, and per service it serves the calls, failures and seconds spent
-- so far (totals: the page turns two samples into rates). Served to other nodes as "_stats".
local metrics = require "fdn.core.metrics"
local json = require "fdn.json"

local M = {}

local pairs, ipairs, setmetatable = pairs, ipairs, setmetatable
local array_mt = json.array_mt

function M.summary(node)
  local app, cluster = node.app, node.cluster
  local st = metrics.stats()
  local by_path = {}
  for _, s in ipairs(st.series) do
    if s.kind == "served" then
      local e = by_path[s.path]
      if not e then
        e = { calls = 0, errors = 0, seconds = 0 }
        by_path[s.path] = e
      end
      e.calls, e.errors, e.seconds = e.calls + s.calls, e.errors + s.errors, e.seconds + s.seconds
    end
  end
  local services = setmetatable({}, array_mt)
  for _, path in ipairs(app.order) do
    local svc = app.services[path]
    local e = by_path[path] or { calls = 0, errors = 0, seconds = 0 }
    services[#services + 1] = { path = path, methods = svc:describe().methods, calls = e.calls,
      errors = e.errors, seconds = e.seconds }
  end
  local links = 0
  for _ in pairs(cluster.conns) do links = links + 1 end
  local me = cluster.me
  return { id = me.id, name = me.name, port = me.port, start = st.start, now = st.now, rss = st.rss,
    lua = st.lua, cpu = st.cpu, fds = st.fds, links = links, services = services }
end

-- The members this node knows (itself aside): peers whose link is up.
function M.members(node)
  local list = {}
  for _, p in pairs(node.cluster.peers) do
    if p.state == "up" or p.state == "leaving" then list[#list + 1] = p end
  end
  return list
end

return M
