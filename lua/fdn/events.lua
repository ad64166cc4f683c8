-- events.lua: a small event emitter mixed into services and apps
-- (on/once/off/emit/listeners); every listener runs in a coroutine of its own.
local sched = require "fdn.sched"

local M = {}

local spawn = sched.spawn
local type, error = type, error

-- Listeners live in self.__listeners[event] as an array; once-listeners are
-- wrapped so that off(event, fn) still finds them by the original function.
local function list(self, event, create)
  local all = self.__listeners
  if not all then
    if not create then return nil end
    all = {}
    rawset(self, "__listeners", all)
  end
  local l = all[event]
  if not l and create then
    l = {}
    all[event] = l
  end
  return l
end

-- Whether fn can see a second argument (the context): a Lua function declared
-- with fewer than two parameters cannot, so an emitter may skip building one.
local getinfo = debug.getinfo
local function takes_context(fn)
  local info = getinfo(fn, "u")
  return info.isvararg or info.nparams >= 2
end

local function add(self, event, fn, once, who)
  if type(fn) ~= "function" then error(who .. ": listener must be a function", 3) end
  local l = list(self, event, true)
  l[#l + 1] = { fn = fn, once = once, context = takes_context(fn) }
  return self
end

function M.on(self, event, fn)
  return add(self, event, fn, false, "on")
end

function M.once(self, event, fn)
  return add(self, event, fn, true, "once")
end

-- Whether some listener of event may look at the context it is given (false when
-- there is no listener, or each takes the data alone).
function M.wants_context(self, event)
  local l = list(self, event, false)
  if not l then return false end
  for i = 1, #l do
    if l[i].context then return true end
  end
  return false
end

-- off(event, fn) removes one listener; off(event) removes all of the event's;
-- off() removes every listener.
function M.off(self, event, fn)
  if event == nil then
    rawset(self, "__listeners", false)
    return self
  end
  local l = list(self, event, false)
  if not l then return self end
  if fn == nil then
    self.__listeners[event] = nil
    return self
  end
  for i = 1, #l do
    if l[i].fn == fn then
      table.remove(l, i)
      break
    end
  end
  return self
end

function M.listeners(self, event)
  local l = list(self, event, false)
  local out = {}
  if l then for i = 1, #l do out[i] = l[i].fn end end
  return out
end

-- Calls every listener of event with (...), each in its own coroutine, in the
-- order they were added. Returns whether there was any listener.
function M.emit(self, event, ...)
  local l = list(self, event, false)
  if not l or #l == 0 then return false end
  local n = #l
  local snapshot = l
  if n > 1 then
    snapshot = { table.unpack(l, 1, n) }
  end
  for i = 1, n do
    local entry = snapshot[i]
    if entry.once then M.off(self, event, entry.fn) end
    spawn(entry.fn, ...)
  end
  return true
end

-- Copies the emitter methods onto a table (a service or an app).
function M.mixin(t)
  t.on, t.once, t.off, t.emit, t.listeners = M.on, M.once, M.off, M.emit, M.listeners
  t.addListener, t.removeListener = M.on, M.off
  return t
end

return M
