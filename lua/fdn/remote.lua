-- remote.lua: the consumer side: a proxy service per remote path, calls
-- balanced over its providers (fewest in flight, round robin on ties), call
-- timeouts, retries when a provider is lost, the grace period, remote events.
-- remote.new(node) makes one node's instance (see node.lua): its state is locals of new.
local json = require "fdn.json"
local errors = require "fdn.errors"
local sched = require "fdn.sched"
local log = require "fdn.log"
local service = require "fdn.service"
local hooks_of = require "fdn.hooks"
local dist = require "fdn.distribution"
local metrics = require "fdn.core.metrics"
local trace_of = require("fdn.trace").get

local M = {}

local encode = json.encode
local type, pairs, ipairs, tostring, error, pcall = type, pairs, ipairs, tostring, error, pcall
local running, suspend, wake = coroutine.running, sched.suspend, sched.resume
local spawn = sched.spawn
local series, count = metrics.series, metrics.count
local SWEEP_MS = 25 -- how often late calls are looked for: a timeout is late by at most this
local IDEMPOTENT = { find = true, get = true, _health = true }
local SPARE_MAX = 256 -- finished calls' tables kept for reuse
local SLOTS <const> = 65536 -- slot numbers are the 16 low bits of a request id; 0 is none

-- Fewest calls in flight, round robin on ties.
local function pick(route, exclude)
  local list = route.providers
  local n = #list
  if n == 1 and not exclude then -- the common case: one provider
    local p = list[1]
    return p.state == "up" and p or nil
  end
  if n == 0 then return nil end
  route.rr = (route.rr % n) + 1
  local best
  for k = 0, n - 1 do
    local p = list[((route.rr + k - 1) % n) + 1]
    if p.state == "up" and not (exclude and exclude[p]) and (not best or p.inflight < best.inflight) then
      best = p
    end
  end
  return best
end

local function remove_waiter(route, call)
  local w = route.waiters
  for i = 1, #w do
    if w[i] == call then
      table.remove(w, i)
      return
    end
  end
end

local function descriptor(route, p)
  local d = route.desc
  return { path = route.path, node = p and p.node or d.node, key = d.key, methods = d.methods, events = d.events,
    remote = route.remote }
end

function M.new(node)
  local link, app, now_ms, timer = node.link, node.app, node.now, node.timer
  local options = app.__distribution
  local T = link.TYPES
  local send, request = link.send, node.rpc.request
  local NOT_RUN = link.FLAGS.NOT_RUN
  local timeout_ms, grace_ms = node.options.timeout, node.options.grace -- --timeout, --grace

  -- Calls this node may have waiting for remote answers (R.MAX_PENDING), one per slot; more
  -- are refused at once (TooManyRequests) rather than queued without bound.
  local R = { MAX_PENDING = SLOTS - 1 }
  local routes = {}     -- local path -> route
  local by_remote = {}  -- remote path -> route
  -- Calls waiting for an answer live in `pending`, indexed by a slot number
  -- (1..MAX_PENDING, reused from a free list so the table stays a plain array);
  -- the frame's request id is slot + generation * SLOTS, so that an answer that
  -- comes after its call timed out never matches the slot's next call.
  local pending = {}    -- slot -> call
  local free_slots, nslots, nfree = {}, 0, 0 -- free_slots is a stack of nfree slots
  local generation = 0
  local npending = 0
  -- Tables of finished calls, reused for new ones (a call allocates no table).
  local spare, nspare = {}, 0
  local sweeper = nil -- a timer while calls are pending: times out the late ones

  local function new_slot()
    local slot
    if nfree > 0 then
      slot = free_slots[nfree]
      free_slots[nfree] = nil
      nfree = nfree - 1
    else
      nslots = nslots + 1
      slot = nslots
    end
    generation = (generation + 1) & 0xffff
    return slot, slot + generation * SLOTS
  end

  -- The call's outcome: its coroutine resumes with it, or, when the call ends before
  -- it was sent (no answer could come), call() finds it in the call and returns at once.
  local function finish(call, ok, value)
    local slot = call.slot
    if pending[slot] ~= call then return end
    pending[slot] = false
    nfree = nfree + 1
    free_slots[nfree] = slot
    npending = npending - 1
    if call.peer then call.peer.inflight = call.peer.inflight - 1 end
    local co = call.co
    if co then
      wake(co, ok, value)
    else
      call.ok, call.value = ok, value
    end
  end

  -- Sends a call to a provider, or parks it until one comes (grace period).
  local function dispatch(call)
    local route = routes[call.path]
    if not route then
      return finish(call, false, errors.NotFound("Service '" .. call.path .. "' is not available"))
    end
    local tried = call.tried
    while true do
      local p = pick(route, tried)
      if not p then
        route.waiters[#route.waiters + 1] = call
        return
      end
      local ok, err, why = request(p.link, call.id, route.remote, call.method, call.arg_id, call.data,
        call.params)
      if ok then
        call.peer = p
        p.inflight = p.inflight + 1
        return
      end
      if err == "too large" then
        return finish(call, false, errors.BadRequest("Request to '" .. call.path .. "' is larger than the frame limit"))
      elseif why then
        return finish(call, false, errors.BadRequest("Data for " .. call.method .. " is not JSON: " .. why))
      end
      tried = tried or {}
      call.tried = tried
      tried[p] = true
    end
  end

  local function timeout(call)
    if pending[call.slot] ~= call then return end
    local route = routes[call.path]
    if route and not call.peer then remove_waiter(route, call) end
    local msg = ("Timeout of %dms exceeded calling %s on %s"):format(call.ms, call.method, call.path)
    finish(call, false, errors.Timeout(msg))
  end

  local function sweep()
    local now = now_ms()
    for slot = 1, nslots do
      local call = pending[slot]
      if call and call.deadline <= now then timeout(call) end
    end
    if npending == 0 and sweeper then
      sweeper:cancel()
      sweeper = nil
    end
  end

  -- A remote call: looks blocking, only suspends the calling coroutine. It waits with
  -- sched.suspend (no waiting-table entry): only finish() resumes it, once.
  -- It raises fdn errors only: a quiet proxy's methods call it with no pcall around.
  local function call_remote(path, method, id, data, params, ms)
    local co, main = running()
    if main then
      error(errors.GeneralError("a remote call must run inside a coroutine (a service, hook or task)"), 0)
    end
    local route = routes[path]
    if not route then error(errors.NotFound("Service '" .. path .. "' is not available"), 0) end
    local tr = trace_of(co) -- the call's trace goes on in params.traceparent (this span its parent)
    if tr then
      if type(params) ~= "table" then params = {} end
      params.traceparent = tr.header
    end
    ms = ms or options.timeout or timeout_ms
    if npending >= R.MAX_PENDING then
      error(errors.TooManyRequests("Too many remote calls in flight (" .. npending .. ")"), 0)
    end
    local slot, rid = new_slot()
    local call
    if nspare > 0 then -- a finished call's table: every field is set again
      call = spare[nspare]
      spare[nspare] = nil
      nspare = nspare - 1
      call.path, call.method, call.arg_id, call.data, call.params = path, method, id, data, params
      call.slot, call.id, call.ms, call.deadline = slot, rid, ms, now_ms() + ms
    else
      call = { co = false, path = path, method = method, arg_id = id, data = data, params = params, slot = slot,
        id = rid, ms = ms, deadline = now_ms() + ms, peer = false }
    end
    pending[slot] = call
    npending = npending + 1
    if not sweeper then sweeper = timer(SWEEP_MS, sweep, true) end
    dispatch(call)
    local ok, value
    if pending[slot] == call then -- sent, or parked until a provider comes: wait for the outcome
      call.co = co
      ok, value = suspend()
    else -- ended at once (too large, not JSON, no route)
      ok, value = call.ok, call.value
    end
    local counted = route.series[method] -- (fdn_remote_calls_total: this path's methods only)
    if not counted then
      counted = series("remote", path, tostring(method))
      route.series[method] = counted
    end
    count(counted, ok, value)
    -- finished: nothing refers to the call any more (pending, waiters and peers let go of
    -- it in finish), so its table serves a later call
    call.co, call.peer, call.tried, call.ok, call.value, call.lost = false, false, nil, nil, nil, nil
    call.arg_id, call.data, call.params = nil, nil, nil
    if nspare < SPARE_MAX then
      nspare = nspare + 1
      spare[nspare] = call
    end
    if ok then return value end
    error(value, 0)
  end
  R.call = call_remote

  -- One request to peer p itself, outside the routes (the cluster page's "_stats"): its
  -- answer, or raises (Timeout after ms, Unavailable when the peer is lost meanwhile).
  function R.ask(p, path, method, ms)
    local co = running()
    local slot, rid = new_slot()
    local call = { co = co, path = path, method = method, slot = slot, id = rid, ms = ms,
      deadline = now_ms() + ms, peer = false }
    pending[slot] = call
    npending = npending + 1
    if not sweeper then sweeper = timer(SWEEP_MS, sweep, true) end
    if not request(p.link, rid, path, method) then
      call.co = false
      finish(call, false, errors.Unavailable("Cannot reach node " .. tostring(p.name or p.node)))
      error(call.value, 0)
    end
    call.peer = p
    p.inflight = p.inflight + 1
    local ok, value = suspend()
    if ok then return value end
    error(value, 0)
  end

  -- The call a RES/ERR answers, if it is still waiting for it from this link.
  local function answered(lid, rid)
    local call = pending[rid % SLOTS]
    if call and call.id == rid and call.peer and call.peer.link == lid then return call end
  end

  -- RES: the result (nil when the body was empty), err when it was not JSON.
  function R.answer(lid, rid, value, err)
    local call = answered(lid, rid)
    if not call then return end -- late: dropped
    if err then return finish(call, false, errors.GeneralError("Malformed response: " .. err)) end
    finish(call, true, value)
  end

  -- ERR: the error's JSON form. With the NOT_RUN flag the provider refused the call before
  -- running it (it is stopping): the call goes to another provider, whatever its method.
  function R.failed(lid, rid, e, _, flags)
    local call = answered(lid, rid)
    if not call then return end
    if flags and flags & NOT_RUN ~= 0 then
      local p = call.peer
      p.inflight = p.inflight - 1
      call.peer = false
      local tried = call.tried or {}
      call.tried = tried
      tried[p] = true
      return dispatch(call)
    end
    finish(call, false, errors.convert(type(e) == "table" and e or { message = "malformed error" }))
  end

  -- The proxy: a Feathers service (hooks, events, REST) whose methods are remote calls: a
  -- direct service (service.wrap), whose one call function is call_remote.
  local function make_proxy(lp, d)
    -- every event comes from the provider: the proxy never emits standard events itself
    local evs = {}
    for _, e in ipairs(dist.STANDARD_EVENTS) do evs[#evs + 1] = e end
    for _, e in ipairs(d.events or {}) do evs[#evs + 1] = e end
    local svc = service.wrap(app, lp, {}, { methods = d.methods or {}, events = evs, direct = call_remote })
    local hooks = options.hooks
    -- the same hooks for every proxy: a method one of them lacks is no error
    if hooks then hooks_of.register(svc.__hooks, hooks) end
    return svc
  end

  function R.provider_added(p, d)
    if not dist.consumes(options, d) then return end
    local lp = dist.local_path(options, d)
    if app.services[lp] then
      log.debug("remote '" .. d.path .. "' of " .. p.node:sub(1, 8) .. " not used: a local service has the path")
      return
    end
    local route = routes[lp]
    if not route then
      route = { path = lp, remote = d.path, providers = {}, waiters = {}, rr = 0, desc = d, series = {} }
      route.svc = make_proxy(lp, d)
      routes[lp] = route
      by_remote[d.path] = route
      app.remotes[lp] = route.svc
      app:emit("service", descriptor(route, p))
    end
    for _, q in ipairs(route.providers) do if q == p then return end end
    route.providers[#route.providers + 1] = p
    if route.grace then
      route.grace:cancel()
      route.grace = nil
    end
    send(p.link, T.SUB, 0, 0, encode { path = d.path })
    local waiting = route.waiters
    route.waiters = {}
    for _, call in ipairs(waiting) do
      if pending[call.slot] == call then dispatch(call) end
    end
  end

  local function expire(route)
    route.grace = nil
    if #route.providers > 0 or routes[route.path] ~= route then return end
    routes[route.path] = nil
    if by_remote[route.remote] == route then by_remote[route.remote] = nil end
    if app.remotes[route.path] == route.svc then app.remotes[route.path] = nil end
    log.info("remote service '" .. route.path .. "' removed: no provider came back")
    app:emit("service-removed", descriptor(route))
    local waiting = route.waiters
    route.waiters = {}
    for _, call in ipairs(waiting) do
      finish(call, false, errors.NotFound("Service '" .. route.path .. "' is not available"))
    end
  end

  function R.provider_removed(p, d)
    local route = by_remote[d.path]
    if not route then return end
    local list = route.providers
    for i = #list, 1, -1 do
      if list[i] == p then table.remove(list, i) end
    end
    if #list == 0 and not route.grace then
      route.grace = timer(grace_ms, function() expire(route) end)
    end
  end

  -- A leaving peer gets no new calls; its answers still count.
  function R.peer_leaving(p)
    for _, d in pairs(p.services) do R.provider_removed(p, d) end
  end

  -- A lost peer: its find/get calls go to another replica, once (a request that takes its
  -- provider down, twice, is not sent on to take down the next), other calls that were sent
  -- fail with Unavailable (they may have run).
  function R.peer_lost(p, reason)
    for _, d in pairs(p.services) do R.provider_removed(p, d) end
    local lost = {}
    for slot = 1, nslots do
      local call = pending[slot]
      if call and call.peer == p then lost[#lost + 1] = call end
    end
    for _, call in ipairs(lost) do
      p.inflight = p.inflight - 1
      call.peer = false
      local lost_before = call.lost
      call.lost = true
      if IDEMPOTENT[call.method] and not lost_before then
        dispatch(call)
      else
        local msg = ("Provider of '%s' was lost during %s%s (%s)"):format(call.path, call.method,
          lost_before and ", for the second time" or "", tostring(reason))
        finish(call, false, errors.Unavailable(msg))
      end
    end
  end

  -- EVT [path, event, data, meta]: heard by the gateway's sockets and the proxy's listeners
  R.event = require("fdn.remote_events").handler(app, by_remote)

  -- Probes every remote path at once; returns a map path -> true/false.
  function R.health(ms)
    local out, paths = {}, {}
    for lp in pairs(routes) do paths[#paths + 1] = lp end
    local left, co = #paths, sched.current()
    for _, lp in ipairs(paths) do
      spawn(function()
        out[lp] = pcall(call_remote, lp, "_health", nil, nil, nil, ms)
        left = left - 1
        if left == 0 then sched.wake(co) end
      end)
    end
    if left > 0 then sched.wait() end
    return out
  end

  return R
end

return M
