-- bench_client.lua: node B of the distributed benchmark (DESIGN §10), a service script with no
-- service of its own, so that it joins the cluster (`fdnode run` does not):
--   WORKLOAD=rpc|events CONCURRENCY=64 DURATION=5 WARMUP=1 fdnode tests/bench/bench_client.lua --name b
-- (PAYLOAD=bytes, rpc: echo answers that many bytes of text and the client checks them)
-- It waits for node A's `echo` (tests/bench/echo_provider.lua), runs the workload the way the
-- peers' harness does (lib/common.js: rpcPhase, runRpc, runEvents), prints one JSON line on
-- stdout and exits. discovery_ms is the time from this script's load (before the node joins
-- the cluster) until the remote echo:get(0) answered.
local t_start = fdn.now()
local B = require "bench_common"
local sched = require "fdn.sched"

local now, sleep = fdn.now, fdn.sleep

local function fail(msg)
  io.stderr:write("bench_client: ", tostring(msg), "\n")
  local fields = { "peer", B.PEER, "workload", B.WORKLOAD, "concurrency", B.CONCURRENCY }
  if B.PAYLOAD > 0 then fields[#fields + 1], fields[#fields + 2] = "payload_bytes", B.PAYLOAD end
  fields[#fields + 1], fields[#fields + 2] = "error", tostring(msg)
  B.result(fields)
  os.exit(1)
end

-- One closed-loop phase: CONCURRENCY coroutines each keep one call in flight until `seconds`
-- elapse. Latencies (µs) go to lat when given.
local function rpc_phase(echo, seconds, lat)
  local t0 = now()
  local t_end = t0 + seconds * 1000
  local calls, errors, left = 0, 0, B.CONCURRENCY
  local me = sched.current()
  local get, text = echo.get, B.TEXT
  local function worker(w)
    local i = 0
    while now() < t_end do -- bounded in time (each call is bounded by --timeout)
      local c0 = now()
      local ok, r = pcall(get, echo, w * 1000000 + i)
      i = i + 1
      if ok and type(r) == "table" and r.text == text then
        calls = calls + 1
        if lat then lat[#lat + 1] = (now() - c0) * 1000 end
      else
        errors = errors + 1
        if errors <= 3 then io.stderr:write("call error: ", tostring(ok and "bad reply" or r), "\n") end
        sleep(1) -- no hot spin on a failing peer
      end
    end
    left = left - 1
    if left == 0 then sched.wake(me) end
  end
  for w = 0, B.CONCURRENCY - 1 do sched.spawn(worker, w) end
  if left > 0 then sched.wait() end
  return calls, errors, (now() - t0) / 1000
end

local function pct(sorted, p)
  local n = #sorted
  if n == 0 then return nil end
  return sorted[math.min(n, math.floor(p * n) + 1)]
end

local function run_rpc(echo, discovery_ms)
  rpc_phase(echo, B.WARMUP, nil) -- warm-up, not recorded
  local lat = {}
  local calls, errors, secs = rpc_phase(echo, B.DURATION, lat)
  table.sort(lat)
  local p50, p99 = pct(lat, 0.50), pct(lat, 0.99)
  if #lat > 0 then -- the shape of the tail, for the log
    io.stderr:write(("bench_client: latency us p10 %.0f p50 %.0f p90 %.0f p99 %.0f p99.9 %.0f max %.0f\n"):format(
      pct(lat, 0.10), p50, pct(lat, 0.90), p99, pct(lat, 0.999), lat[#lat]))
  end
  local fields = { "peer", B.PEER, "workload", "rpc", "concurrency", B.CONCURRENCY, "calls", calls,
    "seconds", math.floor(secs * 1000 + 0.5) / 1000, "calls_per_s", B.round(calls / secs),
    "p50_us", p50 and B.round(p50), "p99_us", p99 and B.round(p99), "errors", errors,
    "discovery_ms", discovery_ms }
  if B.PAYLOAD > 0 then -- only with PAYLOAD set: the default line keeps the peers' format
    local n = #fields
    fields[n + 1], fields[n + 2] = "payload_bytes", B.PAYLOAD
    fields[n + 3], fields[n + 4] = "payload_mb_per_s", B.round(calls / secs * B.PAYLOAD / 1e4) / 100
  end
  B.result(fields)
end

local function run_events(app, counter, discovery_ms)
  local control = app:service("control")
  -- 1. make sure the event path itself is live: ask A for marker events until one arrives
  local t0 = now()
  while not counter.probe_seen do
    if now() - t0 > B.DISCOVERY_TIMEOUT_MS then fail("events: subscription not live within 30 s") end
    pcall(control.get, control, "probe")
    for _ = 1, 10 do
      if counter.probe_seen then break end
      sleep(20)
    end
  end
  -- 2. start the flood and wait for A to report it finished
  local t_begin, stats = B.run_source(control, fail, 200)
  -- 3. let in-flight events drain (bounded)
  local drain_end = now() + B.DRAIN_MAX_MS
  while counter.received < stats.sent and now() < drain_end
    and now() - (counter.t_last or t_begin) < B.DRAIN_IDLE_MS do
    sleep(50)
  end
  local secs = ((counter.t_last or now()) - t_begin) / 1000
  B.result { "peer", B.PEER, "workload", "events", "sent", stats.sent, "received", counter.received,
    "lost", stats.sent - counter.received, "seconds", math.floor(secs * 1000 + 0.5) / 1000,
    "events_per_s", B.round(counter.received / secs), "sent_per_s", B.round(stats.sent / B.DURATION),
    "paused_ms", stats.paused_ms, "discovery_ms", discovery_ms }
end

return function(app)
  B.watchdog("bench_client")
  if B.WORKLOAD ~= "rpc" and B.WORKLOAD ~= "events" then fail("unknown workload " .. B.WORKLOAD) end

  local counter, on_event = B.event_counter()

  local started = false
  local function main()
    -- both paths come in one service table; wait (bounded) until the second is there too
    while not (app:service("echo") and app:service("control")) do
      if now() - t_start > B.DISCOVERY_TIMEOUT_MS then fail("discovery: no echo/control within 30 s") end
      sleep(1)
    end
    local echo = app:service("echo")
    if B.WORKLOAD == "events" then echo:on("created", on_event) end
    local ok, r = pcall(echo.get, echo, 0)
    if not ok or type(r) ~= "table" or r.text ~= B.TEXT then fail("first call failed: " .. tostring(r)) end
    local discovery_ms = B.round(now() - t_start)
    if B.WORKLOAD == "rpc" then
      run_rpc(echo, discovery_ms)
    else
      run_events(app, counter, discovery_ms)
    end
    os.exit(0)
  end
  local function begin()
    if started then return end
    started = true
    fdn.timer(0, main)
  end
  app:on("service", function(d)
    if d.path == "echo" or d.path == "control" then begin() end
  end)
  -- discovery bound: nothing at all within 30 s
  fdn.timer(B.DISCOVERY_TIMEOUT_MS, function()
    if not started then fail("discovery: no remote service within 30 s") end
  end)
end
