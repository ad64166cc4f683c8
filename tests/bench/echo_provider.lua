-- echo_provider.lua: node A of the distributed benchmark (DESIGN §10), a service script:
--   fdnode tests/bench/echo_provider.lua --name a
-- Serves `echo` (get(id) -> {id=id, text="hello"}) and `control`, the event source that node B
-- drives as in the peers' harness (lib/common.js makeEventSource):
--   control:get("probe") -> emits one marker `created` event on echo (B knows it is subscribed)
--   control:get("start") -> emits `created` events for DURATION s, BATCH at a time, yielding
--                           to the reactor between batches (fdn.sleep(0): the link writes then)
--   control:get("stats") -> { done = bool, sent = N, paused_ms = ms spent waiting for links }
-- Pacing: fdnode disconnects a consumer whose link has more than 8 MiB queued, so when any
-- subscriber link has more than EVENTS_PENDING_HIGH bytes queued the loop sleeps 1 ms
-- instead of emitting (bounded buffering; EVENTS_PENDING_HIGH=0 turns this off).
local B = require "bench_common"

local function subscriber_links(path)
  -- fdnode has no public back-pressure signal for an event producer, so this looks at the
  -- inbound links that subscribed to `path` (cluster.conns) and their queued output.
  local cluster = require "fdn.cluster"
  local out = {}
  for lid, c in pairs(cluster.conns) do
    if c.inbound and c.subs and c.subs[path] then out[#out + 1] = lid end
  end
  return out
end

return function(app)
  B.watchdog("echo_provider")

  app:use("echo", {
    get = function(_, id)
      return { id = id, text = "hello" }
    end,
  })

  local sent, done, running, paused_ms = 0, false, false, 0

  local function queued(links, info)
    local most = 0
    for i = 1, #links do
      local li = info(links[i])
      if li and li.pending > most then most = li.pending end
    end
    return most
  end

  local function flood()
    local echo = app:service("echo")
    local now, sleep = fdn.now, fdn.sleep
    local batch, high = B.BATCH, B.PENDING_HIGH
    local info = require("fdn.core.link").info
    local links = subscriber_links("echo")
    local t_end = now() + B.DURATION * 1000
    while now() < t_end do -- bounded in time
      if high > 0 and queued(links, info) > high then
        local t0 = now()
        sleep(1)
        paused_ms = paused_ms + (now() - t0)
      else
        for _ = 1, batch do
          echo:emit("created", { seq = sent, text = "hello" })
          sent = sent + 1
        end
        sleep(0) -- yield to the reactor: lets the link write, timers and requests run
      end
    end
    done = true
  end

  app:use("control", {
    get = function(_, cmd)
      if cmd == "probe" then
        app:service("echo"):emit("created", { probe = true })
        return { ok = true }
      elseif cmd == "start" then
        if not running then
          running = true
          fdn.timer(0, flood)
        end
        return { ok = true }
      elseif cmd == "stats" then
        return { done = done, sent = sent, paused_ms = B.round(paused_ms) }
      end
      error(fdn.errors.BadRequest("unknown control command " .. tostring(cmd)))
    end,
  })
end
