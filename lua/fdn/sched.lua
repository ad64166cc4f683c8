-- sched.lua: the scheduler. C hands every event to M.dispatch; this module owns
-- every coroutine (spawning, waiting, waking: every yield and resume of Lua code goes
-- through it) and the count of calls in flight.
local core = require "fdn.core.node"

local M = {}

-- core.resume is coroutine.resume that tells the call budget's watchdog
-- which coroutine runs (boot.lua installs it as coroutine.resume too)
local resume, yield, running = core.resume, coroutine.yield, coroutine.running
local traceback, tostring, error, select, setmetatable, unpack =
  debug.traceback, tostring, error, select, setmetatable, table.unpack

local handlers = {}  -- dispatch kind -> function(...)
local inflight = 0   -- calls being served (requests from outside), for shutdown
local drain_waiters = {}

local function log_error(msg)
  core.log(3, msg)
end

local waiting = setmetatable({}, { __mode = "k" }) -- coroutines suspended in M.wait

-- A task raised after it had waited (and was resumed): logged with its traceback.
local function task_failed(co, err)
  log_error("uncaught error in task: " .. traceback(co, tostring(err)))
end
M.task_failed = task_failed

local function check(co, ok, err)
  if not ok then task_failed(co, err) end
end

-- Runs fn(...) in a coroutine of its own, now, until it first waits. The
-- coroutines are pooled in C (core.spawn): one that ended its task runs the next.
-- An error is logged with the task's traceback.
M.spawn = core.spawn

-- Resumes a coroutine suspended in M.wait, passing it values. A wake for a
-- coroutine that is not waiting (parked, running, already woken) is ignored
-- and returns false: a stray wake can never run someone else's code.
function M.wake(co, ...)
  if not waiting[co] then return false end
  waiting[co] = nil
  check(co, resume(co, ...))
  return true
end

-- Suspends the running call until M.wake(co, ...) resumes it; returns those values.
function M.wait()
  local co, main = running()
  if main then error("cannot wait outside a coroutine (call it from a service, hook or task)", 2) end
  waiting[co] = true
  return yield()
end

-- A wait with one known waker: the caller stores its coroutine where that waker finds it
-- (a remote call's table: its answer, its timeout or the loss of its provider ends it,
-- once), suspends with M.suspend, and the waker resumes it with M.resume. No entry in the
-- waiting table, so a remote call costs no table write and no stray-wake check: the waker
-- is the only one that knows the coroutine.
M.suspend = yield

function M.resume(co, ...)
  check(co, resume(co, ...))
end

function M.current()
  local co, main = running()
  if main then return nil end
  return co
end

function M.sleep(ms)
  local co = M.current()
  if not co then error("fdn.sleep called outside a coroutine", 2) end
  core.timer(ms, function() M.wake(co) end)
  waiting[co] = true
  return yield()
end

-- Calls fn(...) in a new coroutine after ms; returns a handle with :cancel().
function M.timer(ms, fn, ...)
  local n, args = select("#", ...), { ... }
  return core.timer(ms, function() M.spawn(fn, unpack(args, 1, n)) end)
end

-- Calls fn() every ms, each time in a new coroutine; returns a handle with :cancel().
function M.every(ms, fn)
  return core.timer(ms, function() M.spawn(fn) end, true)
end

-- Calls in flight, counted so that shutdown can let them finish.
function M.call_begin()
  inflight = inflight + 1
end

function M.call_end()
  inflight = inflight - 1
  if inflight == 0 and #drain_waiters > 0 then
    local ws = drain_waiters
    drain_waiters = {}
    for i = 1, #ws do ws[i]() end
  end
end

-- Calls fn once no call is in flight (at once if none is).
function M.on_drained(fn)
  if inflight == 0 then return fn() end
  drain_waiters[#drain_waiters + 1] = fn
end

function M.handle(kind, fn)
  handlers[kind] = fn
end

-- The handler of a dispatch kind, or nil.
function M.handler(kind)
  return handlers[kind]
end

-- The one entry point from C: dispatch(kind, ...).
function M.dispatch(kind, ...)
  local h = handlers[kind]
  if not h then
    log_error("no handler for event " .. tostring(kind))
    return
  end
  return h(...)
end

handlers.timer = function(cb) cb() end
-- a C callback with its results (the worker threads' hand-back: fdn.core.bcrypt)
handlers.callback = function(cb, ...) cb(...) end

return M
