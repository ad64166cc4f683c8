-- serve.lua: the provider side of links: the service table we publish,
-- requests from other nodes (REQ -> RES/ERR), subscriptions and events out.
-- serve.new(node) makes one node's instance (see node.lua): its state is locals of new.
local json = require "fdn.json"
local errors = require "fdn.errors"
local sched = require "fdn.sched"
local dist = require "fdn.distribution"
local service = require "fdn.service"
local log = require "fdn.log"
local trace = require "fdn.trace"
-- sched.spawn for a task named after the call it serves: should it get stuck inside C, the
-- node's last words name that call
local spawn_call = require("fdn.core.node").spawn_call

local M = {}

local encode, decode = json.encode, json.decode
local type, pairs, ipairs, setmetatable, next, select, tostring =
  type, pairs, ipairs, setmetatable, next, select, tostring
local array_mt = json.array_mt
local call_method = service.call
local call_begin, call_end = sched.call_begin, sched.call_end
local trace_start, trace_stop = trace.start, trace.stop

local MAX_MESSAGE = 4096 -- an error message that would not fit a frame is cut to this
local EVENT_LOG_MS = 10000 -- an event that cannot go is logged at most this often (per path and event)

local function set_of(list)
  local s = {}
  for _, v in ipairs(list) do s[v] = true end
  return s
end

-- Whether a frame that could not go out failed for its own sake ("not json", "too large"),
-- rather than because its link is gone (or was just dropped as a slow consumer).
local function frame_at_fault(err)
  return err == "not json" or err == "too large"
end

function M.new(node)
  local link, app, now_ms = node.link, node.app, node.now
  local options = app.__distribution
  local T = link.TYPES
  local send, pending = link.send, link.pending
  local reply, publish_to = node.rpc.reply, node.rpc.publish
  local NOT_RUN = link.FLAGS.NOT_RUN

  -- Requests being served, per link: a consumer may have S.MAX_INFLIGHT of them; more are
  -- refused at once (TooManyRequests) rather than queued without bound.
  local S = { MAX_INFLIGHT = 1024 }
  local published = {}  -- path -> { methods = set, events = set }
  local subs = {}       -- path -> { [link id] = true }
  local inflight = {}   -- link id -> count
  local version = 0
  local table_body = nil
  local stopping = false
  local event_logged = {} -- path .. " " .. event -> when it was last logged

  -- Recomputes what we publish from the app's local services and the options.
  function S.refresh()
    published = {}
    local list = setmetatable({}, array_mt)
    for _, path in ipairs(app.order) do
      local svc = app.services[path]
      local d = svc:describe()
      if dist.publishes(options, d) then
        local methods = setmetatable(dist.methods_of(options, d.methods), array_mt)
        local events = setmetatable(dist.events_of(options, d.events), array_mt)
        published[path] = { methods = set_of(methods), events = set_of(events) }
        list[#list + 1] = { path = path, methods = methods, events = events }
      end
    end
    version = version + 1
    table_body = encode { version = version, services = list }
    return version, table_body
  end

  function S.table_body()
    return table_body or select(2, S.refresh())
  end

  -- An ERR answer. When the error's data or errors cannot go (not JSON, or too large), its
  -- class, code and message still go, without them; a message too large is cut.
  local function answer_error(lid, id, err)
    local e = errors.from(err)
    local body = e:toJSON()
    local sent, why = reply(lid, T.ERR, id, body)
    if sent or not frame_at_fault(why) then return end
    body.data, body.errors = nil, nil
    sent, why = reply(lid, T.ERR, id, body)
    if sent or not frame_at_fault(why) then return end
    body.message = tostring(body.message):sub(1, MAX_MESSAGE) .. "..."
    reply(lid, T.ERR, id, body)
  end

  -- A result that cannot be sent: the caller gets a GeneralError at once, and we log it.
  local function unsendable(lid, rid, path, method, why, detail)
    local msg
    if why == "too large" then
      msg = ("Result of %s on '%s' (%d bytes) is larger than the frame limit (--max-frame)")
        :format(method, path, detail)
    else
      msg = ("Result of %s on '%s' is not JSON: %s"):format(method, path, tostring(detail))
    end
    log.error(msg)
    answer_error(lid, rid, errors.GeneralError(msg))
  end

  -- Serves one REQ [path, method, id, data, params], in a coroutine of its own, in the trace
  -- the caller's params.traceparent names (taken out of params; a new trace if none).
  local function run(path, method, lid, rid, id, data, params)
    call_begin()
    if type(params) == "table" then
      trace_start(params.traceparent)
      params.traceparent = nil
    else
      trace_start(nil)
    end
    local pub = published[path]
    local svc = pub and (app.services[path] or app:local_service(path))
    if path == "_health" or (svc and method == "_health") then
      send(lid, T.RES, 0, rid, "true")
    elseif path == "_stats" then -- this node's figures, for another node's cluster page
      reply(lid, T.RES, rid, require("fdn.stats").summary(node))
    elseif type(path) ~= "string" or type(method) ~= "string" then
      answer_error(lid, rid, errors.BadRequest("malformed request"))
    elseif not svc then
      answer_error(lid, rid, errors.NotFound("Service '" .. path .. "' is not served by this node"))
    elseif not pub.methods[method] then
      answer_error(lid, rid, errors.MethodNotAllowed("Method `" .. method .. "` is not supported by this endpoint."))
    else
      if type(params) == "table" then
        params.fromRemote = true
      else
        params = { fromRemote = true }
      end
      local ok, result = call_method(svc, method, id, data, params)
      if not ok then
        answer_error(lid, rid, result)
      else
        local sent, why, detail = reply(lid, T.RES, rid, result)
        if not sent and frame_at_fault(why) then unsendable(lid, rid, path, method, why, detail) end
      end
    end
    local n = inflight[lid]
    if n then inflight[lid] = n - 1 end
    trace_stop()
    call_end()
  end

  -- Once the node is stopping, a request is refused before it runs, with a flag that says
  -- so: the caller sends it to another provider, whatever its method.
  local not_run_body = encode(errors.Unavailable("The node is stopping: the request was not run"):toJSON())

  function S.stop()
    stopping = true
  end

  -- The REQ frame's handler (cluster.lua installs it with rpc.handle).
  function S.request(lid, rid, path, method, id, data, params)
    if stopping then return send(lid, T.ERR, NOT_RUN, rid, not_run_body) end
    local n = inflight[lid] or 0
    if n >= S.MAX_INFLIGHT then
      return answer_error(lid, rid, errors.TooManyRequests("Too many requests in flight on this link (" .. n .. ")"))
    end
    inflight[lid] = n + 1
    spawn_call(run, path, method, lid, rid, id, data, params)
  end

  -- SUB { path = p }: events of p go to this link from now on.
  function S.subscribe(c, body)
    local s = decode(body)
    if type(s) ~= "table" or type(s.path) ~= "string" then return end
    local set = subs[s.path]
    if not set then
      set = {}
      subs[s.path] = set
    end
    set[c.link] = true
    c.subs[s.path] = true
  end

  -- The link is gone: its subscriptions and its count of requests.
  function S.unsubscribe_all(c)
    inflight[c.link] = nil
    for path in pairs(c.subs or {}) do
      local set = subs[path]
      if set then set[c.link] = nil end
    end
  end

  -- An event that cannot go to any subscriber (not JSON, or larger than a frame): logged,
  -- at most once per EVENT_LOG_MS for one path and event.
  local function event_lost(path, event, why, detail)
    local key, now = path .. " " .. event, now_ms()
    local last = event_logged[key]
    if last and now - last < EVENT_LOG_MS then return end
    event_logged[key] = now
    log.error(("event '%s' of '%s' not sent to its subscribers: %s"):format(event, path,
      why == "too large" and ("%d bytes is larger than the frame limit (--max-frame)"):format(detail)
        or tostring(why) .. ": " .. tostring(detail)))
  end

  -- Called for every event a local service emits (app.__publish): encoded once, sent to
  -- the links that subscribed to the path.
  local function publish(svc, event, data, ctx)
    local path = svc.__path
    local set = subs[path]
    if not set or next(set) == nil then return end
    local pub = published[path]
    if not pub or not pub.events[event] then return end
    local meta
    if ctx then
      local q = ctx.params and ctx.params.query
      meta = { method = ctx.method, id = ctx.id, query = type(q) == "table" and q or nil }
    end
    local sent, why, detail = publish_to(set, path, event, data, meta)
    if not sent then event_lost(path, event, why, detail) end
  end
  app.__publish = publish

  -- The bytes queued toward the slowest node subscribed to path's events (to any
  -- path's when path is nil): what an event producer watches to keep pace with its
  -- consumers (a link with more than 8 MiB queued is dropped as a slow consumer).
  local function most_pending(set, most)
    for lid in pairs(set) do
      local n = pending(lid)
      if n and n > most then most = n end
    end
    return most
  end

  function S.backlog(path)
    if path ~= nil then return most_pending(subs[path] or {}, 0) end
    local most = 0
    for _, set in pairs(subs) do most = most_pending(set, most) end
    return most
  end

  return S
end

return M
