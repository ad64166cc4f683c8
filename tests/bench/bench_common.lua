-- bench_common.lua: what the bench nodes (echo_provider.lua, bench_client.lua) share: the
-- parameters (from the environment, with the peers' harness defaults), the bounds, and the
-- one-line JSON result in the peers' key order (lib/common.js of the peers' harness).
local M = {}

local function num(name, dflt)
  local v = tonumber(os.getenv(name))
  if v and v > 0 then return v end
  return dflt
end

M.DURATION = num("DURATION", 5)               -- measured seconds
M.WARMUP = num("WARMUP", 1)                   -- rpc warm-up seconds (not measured)
M.CONCURRENCY = math.floor(num("CONCURRENCY", 64)) -- rpc calls in flight
M.WORKLOAD = os.getenv("WORKLOAD") or "rpc"   -- rpc | events
M.PEER = os.getenv("BENCH_PEER") or "fdnode"
M.DISCOVERY_TIMEOUT_MS = 30000                -- bound on waiting for the remote side
M.BATCH = math.floor(num("BATCH", 100))       -- events emitted between yields (as the peers)
-- rpc: PAYLOAD=bytes makes echo's get return a text of that many bytes (tests/bench/scale);
-- unset, the text is "hello" as in the peers' harness. The client checks the text it gets.
M.PAYLOAD = math.floor(num("PAYLOAD", 0))
M.TEXT = M.PAYLOAD > 0 and string.rep("x", M.PAYLOAD) or "hello"
-- events: the provider stops emitting while a subscriber's link has more than this many bytes
-- queued (0: never, pure batch-and-yield as the peers do). fdnode drops a consumer whose
-- pending output passes 8 MiB, so unpaced emission at more than the consumer's speed loses it.
M.PENDING_HIGH = math.floor(tonumber(os.getenv("EVENTS_PENDING_HIGH") or "") or 1048576)
M.DRAIN_IDLE_MS = 1000                        -- events: stop waiting after this long without one
M.DRAIN_MAX_MS = 20000                        -- events: hard bound on the drain
-- every bench process exits by itself after this long, even if its parent died
M.MAX_LIFETIME_S = M.DISCOVERY_TIMEOUT_MS / 1000 + M.WARMUP + 2 * M.DURATION
  + M.DRAIN_MAX_MS / 1000 + 20

-- Profiling knob (not for the reported figures): BENCH_GC=stop|generational|incremental sets
-- the Lua collector's mode in the node that loads this module.
local gc_mode = os.getenv("BENCH_GC")
if gc_mode == "stop" or gc_mode == "generational" or gc_mode == "incremental" then
  collectgarbage(gc_mode)
end

local floor, format, concat = math.floor, string.format, table.concat

function M.round(x)
  return floor(x + 0.5)
end

-- One JSON object with its keys in the given order; values are strings, numbers (integers
-- printed as such), tables (as fdn.json encodes them) or nil (null). Written on stdout and
-- flushed.
function M.result(fields)
  local parts = {}
  for i = 1, #fields, 2 do
    local k, v = fields[i], fields[i + 1]
    local s
    if v == nil then
      s = "null"
    elseif type(v) == "string" or type(v) == "table" then
      s = fdn.json.encode(v)
    elseif math.type(v) == "integer" then
      s = tostring(v)
    elseif v == floor(v) and v > -2^53 and v < 2^53 then
      s = format("%d", v)
    else
      s = format("%.3f", v)
    end
    parts[#parts + 1] = format("%q:%s", k, s)
  end
  io.write("{", concat(parts, ","), "}\n")
  io.flush()
end

-- This process's memory after a full collection: { rss_kib = VmRSS, lua_kib = the Lua heap }.
function M.memory()
  collectgarbage("collect")
  local rss
  local f = io.open("/proc/self/status", "r")
  if f then
    for line in f:lines() do
      rss = rss or tonumber(line:match("^VmRSS:%s*(%d+)"))
    end
    f:close()
  end
  return { rss_kib = rss, lua_kib = collectgarbage("count") }
end

-- A whole-number environment knob (dflt when unset or not a positive number).
function M.env_int(name, dflt)
  return math.floor(num(name, dflt))
end

-- Exits after MAX_LIFETIME_S whatever happens (the harness also runs us under timeout(1)).
function M.watchdog(role)
  fdn.timer(M.MAX_LIFETIME_S * 1000, function()
    io.stderr:write(role, ": watchdog: still alive after ", M.MAX_LIFETIME_S, " s, exiting\n")
    os.exit(124)
  end)
end

-- Starts the event source (node A's control service) and waits, polling its stats every
-- poll_ms, until it reports it is done (bounded: DURATION + 30 s). Returns when the start
-- was asked (ms) and the last stats; fail(msg) ends the run on an error.
function M.run_source(control, fail, poll_ms)
  local now, sleep = fdn.now, fdn.sleep
  local t_begin = now()
  local ok, err = pcall(control.get, control, "start")
  if not ok then fail("events: start failed: " .. tostring(err)) end
  local stats = { done = false, sent = 0 }
  local deadline = now() + (M.DURATION + 30) * 1000
  while not stats.done do
    if now() > deadline then fail("events: source did not finish") end
    sleep(poll_ms)
    local sok, s = pcall(control.get, control, "stats")
    if sok and type(s) == "table" then stats = s end
  end
  return t_begin, stats
end

-- An event counter for the events workload: returns the count (received, probe_seen,
-- t_last: when the last counted event arrived) and the listener that keeps it.
function M.event_counter()
  local counter = { received = 0, probe_seen = false, t_last = nil }
  local now = fdn.now
  return counter, function(data)
    if type(data) ~= "table" then return end
    if data.probe then
      counter.probe_seen = true
    elseif data.seq ~= nil then
      counter.received = counter.received + 1
      counter.t_last = now()
    end
  end
end

return M
