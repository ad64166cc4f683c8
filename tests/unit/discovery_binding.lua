-- discovery_binding.lua: the Lua side of tests/unit/test_discovery.c, checks of the discovery
-- binding with the node's configuration. Called with the binding; returns the steps, which the
-- C test calls one at a time and runs the loop in between (a step raises when a check fails).
local disc = ...
local steps = {}

-- Misuse before and at start, then a start that sends its first beacon and a version change.
function steps.start()
  local none, why = disc.stats()
  assert(none == nil and why == 'not started')
  disc.set_version(1) -- not started: nothing to do
  assert(not pcall(disc.set_version, -1))
  assert(not pcall(disc.start, { tcp_port = 1, boot = 2^32 }))
  assert(not pcall(disc.start, { tcp_port = 0 }))
  assert(not pcall(disc.start, { tcp_port = 70000 }))
  assert(not pcall(disc.start, { tcp_port = 1, version = -1 }))
  assert(not pcall(disc.start, 5))
  assert(disc.start { tcp_port = 5555, version = 3, boot = 0x7fffffff } == true)
  assert(not pcall(disc.start, { tcp_port = 5555 }))
  local s = disc.stats()
  assert(s.sent == 1 and s.seq == 1 and s.version == 3 and s.interfaces == 1, s.sent)
  assert(s.boot_id == 0x7fffffff and s.peers == 0)
  disc.set_version(4)
  assert(disc.stats().seq == 2 and disc.stats().version == 4)
end

-- Once the others were heard: leave and stop (twice each), then a start that only listens.
function steps.finish()
  local s = disc.stats()
  assert(s.peers >= 1 and s.received >= 1, s.peers)
  disc.leave(); disc.leave()
  disc.stop(); disc.stop()
  local none, why = disc.stats()
  assert(none == nil and why == 'not started')
  disc.leave()
  assert(disc.start { send = false } == true)
  assert(disc.stats().sent == 0)
  disc.stop()
end

return steps
