-- echo_provider.lua: node A of the distributed benchmark (DESIGN §10), a service script:
--   fdnode tests/bench/echo_provider.lua --name a
-- Serves `echo` (get(id) -> {id=id, text="hello"}, or PAYLOAD bytes of text) and `control`,
-- the event source that node B drives as in the peers' harness (lib/common.js makeEventSource):
--   control:get("probe") -> emits one marker `created` event on echo (B knows it is subscribed)
--   control:get("start") -> emits `created` events for DURATION s, BATCH at a time, yielding
--                           to the reactor between batches (fdn.sleep(0): the link writes then)
--   control:get("stats") -> { done = bool, sent = N, paused_ms = ms spent waiting for links }
-- Pacing: fdnode disconnects a consumer whose link has more than 8 MiB queued, so when more
-- than EVENTS_PENDING_HIGH bytes are queued toward a subscriber (fdn.backlog, the public
-- back-pressure signal) the loop sleeps 1 ms instead of emitting (bounded buffering;
-- EVENTS_PENDING_HIGH=0 turns this off).
local B = require "bench_common"

return function(app)
  B.watchdog("echo_provider")

  local text = B.TEXT
  app:use("echo", {
    get = function(_, id)
      return { id = id, text = text }
    end,
  })

  local sent, done, running, paused_ms = 0, false, false, 0

  local function flood()
    local echo = app:service("echo")
    local now, sleep = fdn.now, fdn.sleep
    local batch, high = B.BATCH, B.PENDING_HIGH
    local t_end = now() + B.DURATION * 1000
    while now() < t_end do -- bounded in time
      if high > 0 and fdn.backlog("echo") > high then
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
