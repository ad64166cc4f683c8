-- watch_binding.lua: the Lua side of tests/unit/test_watch.c, checks of the file-watch binding
-- (fdn.core.watch, as require finds it). Returns the steps, which the C test calls one at a time
-- and runs the loop in between (a step raises when a check fails).
local w = require "fdn.core.watch"
local steps = {}

-- Misuse and failures, then l.lua and m.lua watched, m.lua removed again.
function steps.watch(dir)
  assert(require "fdn.core.watch" == w)
  w.quiet(30)
  local none, why = w.remove(dir .. "/l.lua")
  assert(#w.files() == 0 and none == nil and why == "not watched")
  assert(w.add(dir .. "/l.lua") == true)
  assert(w.add(dir .. "/l.lua") == true)
  local ok, err = w.add(dir .. "/nodir/l.lua")
  assert(ok == nil and err == "not found", tostring(err))
  assert(w.add(dir .. "/m.lua"))
  local fs = w.files()
  assert(#fs == 2 and fs[1] == dir .. "/l.lua" and fs[2] == dir .. "/m.lua")
  assert(w.remove(dir .. "/m.lua") == true and #w.files() == 1)
  assert(not pcall(w.quiet, -1) and not pcall(w.quiet, 60001) and not pcall(w.add))
end

function steps.clear()
  w.clear()
  assert(#w.files() == 0)
end

-- l.lua watched again with a long quiet period: its change is still pending at lua_close.
function steps.pending(dir)
  w.quiet(1000)
  assert(w.add(dir .. "/l.lua"))
end

return steps
