-- cluster_node.lua: one node of tests/bench/cluster. It serves "svc<INDEX>", counts the other
-- nodes' services as they appear (app "service" events), prints {"full": t} once it has seen
-- all NODES - 1 of them, and every STATS_MS its transport's counters, as JSON lines on stdout.
--   NODES=100 INDEX=7 fdnode tests/bench/cluster_node.lua --name n7
local B = require "bench_common"

local NODES = B.env_int("NODES", 100)
local INDEX = os.getenv("INDEX") or "0"
local STATS_MS = B.env_int("STATS_MS", 1000)
local LIFETIME_S = B.env_int("LIFETIME_S", 300)

local function counters(app)
  local node = app.__node
  local row = { "t", fdn.now() }
  local ok, link = pcall(node.link.stats)
  if ok and type(link) == "table" then
    for _, k in ipairs { "links", "frames_in", "frames_out", "bytes_in", "bytes_out", "pings_sent" } do
      row[#row + 1] = k
      row[#row + 1] = link[k]
    end
    local closes = 0
    for _, n in pairs(link.closes or {}) do closes = closes + n end
    row[#row + 1] = "closes"
    row[#row + 1] = closes
    row[#row + 1] = "close_reasons"
    row[#row + 1] = link.closes
  end
  local dok, disc = pcall(node.discovery.stats)
  if dok and type(disc) == "table" then
    row[#row + 1] = "beacons_sent"
    row[#row + 1] = disc.sent
    row[#row + 1] = "beacons_received"
    row[#row + 1] = disc.received
  end
  local peers = 0
  for _ in pairs(node.cluster.peers) do peers = peers + 1 end
  row[#row + 1] = "peers"
  row[#row + 1] = peers
  row[#row + 1] = "lua_kib"
  row[#row + 1] = B.round(collectgarbage("count"))
  return row
end

return function(app)
  app:use("svc" .. INDEX, {
    get = function(_, id)
      return { id = id, node = INDEX }
    end,
  })
  local seen, want, full = {}, NODES - 1, false
  app:on("service", function(d)
    local path = d.path
    if full or path == "svc" .. INDEX or not path:match("^svc%d+$") or seen[path] then return end
    seen[path] = true
    want = want - 1
    if want == 0 then
      full = true
      B.result { "full", fdn.now() }
    end
  end)
  fdn.every(STATS_MS, function()
    B.result(counters(app))
  end)
  -- bounded even if the runner dies without stopping it
  fdn.timer(LIFETIME_S * 1000, function()
    os.exit(0)
  end)
end
