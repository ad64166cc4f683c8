-- service_watcher.lua: the peer of the service-table sweep of tests/bench/scale. It waits until
-- it has seen EXPECT remote services s0001... (tests/bench/many_services.lua), prints one JSON
-- line (how long after the other node's script loaded, what came in on its links, its memory),
-- then stays up, idle, until it is stopped (bounded by the watchdog).
--   EXPECT=1000 fdnode tests/bench/service_watcher.lua --name watcher
local B = require "bench_common"
local link = require "fdn.core.link"

local now = fdn.now
local EXPECT = B.env_int("EXPECT", 1000)

local function fail(msg)
  io.stderr:write("service_watcher: ", tostring(msg), "\n")
  B.result { "workload", "services", "services", EXPECT, "error", tostring(msg) }
  os.exit(1)
end

-- The port of the node that serves s0001 (its beacons say the same port; the node's peers:
-- app.__node, see fdn/node.lua).
local function provider_port(app)
  for _, p in pairs(app.__node.cluster.peers) do
    if p.services.s0001 then return p.port end
  end
  return nil
end

local function report(app, t_first, t_all, stats)
  local svc = app:service("s0001")
  local ok, meta = pcall(svc.get, svc, "meta")
  if not ok or type(meta) ~= "table" then fail("meta failed: " .. tostring(meta)) end
  local mem = B.memory()
  B.result { "workload", "services", "services", EXPECT, "table_bytes", meta.table_bytes,
    "first_seen_ms", B.round(t_first - meta.loaded_at), "all_seen_ms", B.round(t_all - meta.loaded_at),
    "watcher_bytes_in", stats.bytes_in,
    "watcher_rss_kib", mem.rss_kib, "watcher_lua_kib", B.round(mem.lua_kib), "peer_port", provider_port(app) }
end

return function(app)
  B.watchdog("service_watcher")
  local seen, t_first = 0, nil
  app:on("service", function(d)
    if not d.path:match("^s%d+$") then return end
    seen = seen + 1
    t_first = t_first or now()
    if seen == EXPECT then
      local t_all, stats = now(), link.stats()
      fdn.timer(0, report, app, t_first, t_all, stats)
    end
  end)
  fdn.timer(B.DISCOVERY_TIMEOUT_MS, function()
    if seen < EXPECT then fail(("saw %d of %d services within 30 s"):format(seen, EXPECT)) end
  end)
end
