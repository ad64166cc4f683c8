-- event_sink.lua: one subscriber node of the events fan-out sweep of tests/bench/scale. It counts
-- the `created` events of echo (tests/bench/echo_provider.lua) and serves its counts as
-- `sink<SINK_INDEX>`. Sink 1 also drives the run and prints its one JSON line:
--   SINKS=4 SINK_INDEX=1 DURATION=3 fdnode tests/bench/event_sink.lua --name sink1
local t_start = fdn.now()
local B = require "bench_common"

local now, sleep = fdn.now, fdn.sleep
local NSINKS = B.env_int("SINKS", 1)
local INDEX = B.env_int("SINK_INDEX", 1)
local LEAD = INDEX == 1
local POLL_MS = 200

local function fail(msg)
  io.stderr:write("event_sink: ", tostring(msg), "\n")
  B.result { "workload", "events", "subscribers", NSINKS, "error", tostring(msg) }
  os.exit(1)
end

-- Waits (bounded) until cond() holds; what names the failure.
local function wait_for(what, cond, pause)
  local t0 = now()
  while not cond() do
    if now() - t0 > B.DISCOVERY_TIMEOUT_MS then fail(what .. " within 30 s") end
    sleep(pause or 20)
  end
end

local function sink_path(i)
  return "sink" .. i
end

-- Every sink's counts, in order; nil when one does not answer.
local function gather(app)
  local out = {}
  for i = 1, NSINKS do
    local svc = app:service(sink_path(i))
    local ok, st = pcall(svc.get, svc, "stats")
    if not ok or type(st) ~= "table" then return nil end
    out[i] = st
  end
  return out
end

local function all_probed(app)
  local list = gather(app)
  if not list then return false end
  for i = 1, NSINKS do
    if not list[i].probe_seen then return false end
  end
  return true
end

-- After the source is done: waits until every sink has every event, or none came for
-- DRAIN_IDLE_MS (bounded by DRAIN_MAX_MS); returns the last counts.
local function drain(app, sent)
  local list, total_before, t_change = gather(app), -1, now()
  local t_end = now() + B.DRAIN_MAX_MS
  while now() < t_end do
    local total, complete = 0, true
    for i = 1, NSINKS do
      total = total + list[i].received
      if list[i].received < sent then complete = false end
    end
    if complete then break end
    if total ~= total_before then total_before, t_change = total, now() end
    if now() - t_change > B.DRAIN_IDLE_MS then break end
    sleep(POLL_MS)
    list = gather(app) or list
  end
  return list
end

local function report(list, stats, t_begin, setup_ms)
  local received, rates = {}, {}
  local delivered, lost, t_last = 0, 0, t_begin
  for i = 1, NSINKS do
    local st = list[i]
    received[i], delivered = st.received, delivered + st.received
    lost = lost + (stats.sent - st.received)
    local last = st.t_last or t_begin
    if last > t_last then t_last = last end
    rates[i] = last > t_begin and B.round(st.received / ((last - t_begin) / 1000)) or 0
  end
  local secs = (t_last - t_begin) / 1000
  B.result { "workload", "events", "subscribers", NSINKS, "sent", stats.sent,
    "received", setmetatable(received, fdn.json.array_mt), "delivered", delivered, "lost", lost,
    "seconds", B.round(secs * 1000) / 1000, "events_per_s", secs > 0 and B.round(delivered / secs) or 0,
    "per_subscriber_events_per_s", setmetatable(rates, fdn.json.array_mt),
    "sent_per_s", B.round(stats.sent / B.DURATION), "paused_ms", stats.paused_ms, "setup_ms", setup_ms }
end

-- Sink 1: every sink subscribed (each saw a probe), then the flood, then the counts.
local function lead(app)
  wait_for("discovery: no echo/control/sinks", function()
    if not (app:service("echo") and app:service("control")) then return false end
    for i = 1, NSINKS do
      if not app:service(sink_path(i)) then return false end
    end
    return true
  end)
  local control = app:service("control")
  wait_for("events: not every sink saw a probe", function()
    pcall(control.get, control, "probe")
    return all_probed(app)
  end, 100)
  local setup_ms = B.round(now() - t_start)
  local t_begin, stats = B.run_source(control, fail, POLL_MS)
  report(drain(app, stats.sent), stats, t_begin, setup_ms)
  os.exit(0)
end

return function(app)
  B.watchdog("event_sink")
  -- consume only what the run needs: echo's events, control, and (sink 1) the other sinks
  app:distribution { remoteServices = function(d)
    return d.path == "echo" or d.path == "control" or (LEAD and d.path:match("^sink%d+$") ~= nil)
  end }

  local counter, on_event = B.event_counter()
  app:use(sink_path(INDEX), {
    get = function()
      return counter
    end,
  })


  local listening = false
  app:on("service", function(d)
    if d.path == "echo" and not listening then
      listening = true
      app:service("echo"):on("created", on_event)
    end
  end)
  if LEAD then fdn.timer(0, lead, app) end
end
