-- inflight_client.lua: a caller node of the calls-in-flight memory sweep of tests/bench/scale. It
-- holds CALLS calls to `sleepy` (tests/bench/inflight_provider.lua) at once. With CLIENTS > 1 the
-- clients start together (the provider's pmem ready/go barrier). The lead (LEAD=1) measures its
-- own memory and, with one provider, the provider's, before and while the calls are held, and
-- prints one JSON line:
--   CALLS=1000 CLIENTS=1 PROVIDERS=1 LEAD=1 fdnode tests/bench/inflight_client.lua --name c1
local B = require "bench_common"
local sched = require "fdn.sched"

local now, sleep = fdn.now, fdn.sleep
local CALLS = B.env_int("CALLS", 1000)
local CLIENTS = B.env_int("CLIENTS", 1)
local PROVIDERS = B.env_int("PROVIDERS", 1)
local LEAD = B.env_int("LEAD", 1) == 1
local HOLD_MS = B.env_int("HOLD_MS", 6000)
local WARM_CALLS = 32 -- small calls before measuring: the call path is loaded and warm

local function fail(msg)
  io.stderr:write("inflight_client: ", tostring(msg), "\n")
  if LEAD then B.result { "workload", "inflight", "calls_in_flight", CALLS * CLIENTS, "error", tostring(msg) } end
  os.exit(1)
end

local function wait_for(what, cond, limit_ms)
  local t0 = now()
  while not cond() do
    if now() - t0 > (limit_ms or B.DISCOVERY_TIMEOUT_MS) then fail(what) end
    sleep(20)
  end
end

-- Peers serving `sleepy` whose link is up (the node's peers: app.__node, see fdn/node.lua).
local function providers_up(app)
  local n = 0
  for _, p in pairs(app.__node.cluster.peers) do
    if p.state == "up" and p.services.sleepy then n = n + 1 end
  end
  return n
end

local function call(svc, arg)
  local ok, r = pcall(svc.get, svc, arg)
  if not ok or type(r) ~= "table" then fail("pmem " .. tostring(arg) .. " failed: " .. tostring(r)) end
  return r
end

-- Starts CALLS calls at once; the returned state counts those not answered yet, and errors.
local function launch(sleepy)
  local st = { left = CALLS, errors = 0 }
  local function one(i)
    local ok, err = pcall(sleepy.get, sleepy, i)
    if not ok then
      st.errors = st.errors + 1
      if st.errors <= 3 then io.stderr:write("call error: ", tostring(err), "\n") end
    end
    st.left = st.left - 1
  end
  for i = 1, CALLS do sched.spawn(one, i) end
  return st
end

-- With several clients: everyone ready, then the lead says go.
local function barrier(pmem)
  call(pmem, "ready")
  if LEAD then
    wait_for("barrier: not every client came", function() return call(pmem, "state").ready >= CLIENTS end)
  else
    wait_for("barrier: no go", function() return call(pmem, "state").go end)
  end
end

-- The lead, once its calls are out: waits until they are all held, then samples memory.
local function sample_held(pmem)
  if PROVIDERS == 1 then
    local want = CALLS * CLIENTS
    wait_for("the provider never held every call", function() return call(pmem, "state").active >= want end,
      HOLD_MS / 2)
  end
  sleep(math.min(1000, HOLD_MS // 4)) -- every frame written and read, sockets quiet
  return B.memory(), PROVIDERS == 1 and call(pmem, "mem") or nil
end

local function per_call(base, held, key, n)
  if not base or not held then return nil end
  return B.round((held[key] - base[key]) * 1024 / n)
end

local function report(base, held, pbase, pheld, st)
  local total = CALLS * CLIENTS
  B.result { "workload", "inflight", "calls_in_flight", total, "clients", CLIENTS, "providers", PROVIDERS,
    "caller_calls", CALLS, "caller_rss_kib", fdn.json.array { base.rss_kib, held.rss_kib },
    "caller_rss_per_call_b", per_call(base, held, "rss_kib", CALLS),
    "caller_lua_per_call_b", per_call(base, held, "lua_kib", CALLS),
    "provider_calls", pheld and pheld.active,
    "provider_rss_kib", pheld and fdn.json.array { pbase.rss_kib, pheld.rss_kib },
    "provider_rss_per_call_b", per_call(pbase, pheld, "rss_kib", total),
    "provider_lua_per_call_b", per_call(pbase, pheld, "lua_kib", total),
    "errors", st.errors, "hold_ms", HOLD_MS }
end

local function main(app)
  wait_for("discovery: not every provider within 30 s", function()
    return app:service("sleepy") and app:service("pmem") and providers_up(app) >= PROVIDERS
  end)
  local pmem, sleepy = app:service("pmem"), app:service("sleepy")
  for _ = 1, WARM_CALLS do call(pmem, "state") end
  if CLIENTS > 1 then barrier(pmem) end
  local base, pbase
  if LEAD then
    base, pbase = B.memory(), PROVIDERS == 1 and call(pmem, "mem") or nil
    if CLIENTS > 1 then call(pmem, "go") end
  end
  local st = launch(sleepy)
  local held, pheld
  if LEAD then held, pheld = sample_held(pmem) end
  wait_for("calls not answered in time", function() return st.left == 0 end, HOLD_MS + 20000)
  if LEAD then report(base, held, pbase, pheld, st) end
  os.exit(st.errors == 0 and 0 or 1)
end

return function(app)
  B.watchdog("inflight_client")
  -- only the sleepy providers: the other clients serve nothing anyway
  app:distribution { remoteServices = { "sleepy", "pmem" } }
  fdn.timer(0, main, app)
end
