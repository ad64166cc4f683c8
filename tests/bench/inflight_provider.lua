-- inflight_provider.lua: the provider of the calls-in-flight memory sweep of tests/bench/scale.
-- `sleepy`'s get(id) holds each call for HOLD_MS, then answers; `pmem` reports this node's
-- memory and the calls it holds, and is the clients' start barrier (ready, go).
--   HOLD_MS=6000 fdnode tests/bench/inflight_provider.lua --name p1
local B = require "bench_common"

local HOLD_MS = B.env_int("HOLD_MS", 6000)

return function(app)
  B.watchdog("inflight_provider")
  local active, ready, go = 0, 0, false

  app:use("sleepy", {
    get = function(_, id)
      active = active + 1
      fdn.sleep(HOLD_MS)
      active = active - 1
      return { id = id }
    end,
  })

  local commands = {
    ready = function()
      ready = ready + 1
      return { ready = ready }
    end,
    go = function()
      go = true
      return { go = go }
    end,
    state = function()
      return { go = go, ready = ready, active = active }
    end,
    mem = function()
      local m = B.memory()
      m.active = active
      return m
    end,
  }
  app:use("pmem", {
    get = function(_, cmd)
      local f = commands[cmd]
      if not f then error(fdn.errors.BadRequest("unknown pmem command " .. tostring(cmd))) end
      return f()
    end,
  })
end
