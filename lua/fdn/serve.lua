-- serve.lua: the provider side of links: the service table we publish,
-- requests from other nodes (REQ -> RES/ERR), subscriptions and events out.
local link = require "fdn.core.link"
local json = require "fdn.json"
local errors = require "fdn.errors"
local sched = require "fdn.sched"
local dist = require "fdn.distribution"
local service = require "fdn.service"

local M = {}

local T = link.TYPES
local encode, decode = json.encode, json.decode
local send = link.send
-- sched.spawn for a task named after the call it serves: should it get stuck inside C, the
-- node's last words name that call
local spawn_call = require("fdn.core.node").spawn_call
local type, pairs, ipairs, setmetatable, next, select =
  type, pairs, ipairs, setmetatable, next, select
local array_mt = json.array_mt

local app
local published = {}  -- path -> { methods = set, events = set, descriptor }
local subs = {}       -- path -> { [link id] = true }
local version = 0
local table_body = nil

local function set_of(list)
  local s = {}
  for _, v in ipairs(list) do s[v] = true end
  return s
end

-- Recomputes what we publish from the app's local services and the options.
function M.refresh()
  published = {}
  local list = setmetatable({}, array_mt)
  for _, path in ipairs(app.order) do
    local svc = app.services[path]
    local d = svc:describe()
    if dist.publishes(d) then
      local methods = setmetatable(dist.methods_of(d.methods), array_mt)
      local events = setmetatable(dist.events_of(d.events), array_mt)
      published[path] = { methods = set_of(methods), events = set_of(events) }
      list[#list + 1] = { path = path, methods = methods, events = events }
    end
  end
  version = version + 1
  table_body = encode { version = version, services = list }
  return version, table_body
end

function M.table_body()
  return table_body or select(2, M.refresh())
end

function M.version()
  return version
end

local reply, publish_to = link.reply, link.publish

-- An ERR answer. When the error's data or errors are not JSON (a function in them, say),
-- its class, code and message still go, without them.
local function answer_error(lid, id, err)
  local e = errors.is(err) and err or errors.from(err)
  local body = e:toJSON()
  if reply(lid, T.ERR, id, body) ~= nil then return end
  body.data, body.errors = nil, nil
  if reply(lid, T.ERR, id, body) == nil then -- (a link that is gone takes nothing at all)
    send(lid, T.ERR, 0, id, '{"name":"GeneralError","message":"error","code":500}')
  end
end

-- Requests being served, per link: a consumer may have MAX_INFLIGHT of them; more are
-- refused at once (TooManyRequests) rather than queued without bound.
M.MAX_INFLIGHT = 1024
local inflight = {} -- link id -> count

local run_method = service.run
local call_begin, call_end = sched.call_begin, sched.call_end

-- Serves one REQ [path, method, id, data, params], in a coroutine of its own.
local function run(path, method, lid, rid, id, data, params)
  call_begin()
  local pub = published[path]
  local svc = pub and (app.services[path] or app:local_service(path))
  if path == "_health" or (svc and method == "_health") then
    send(lid, T.RES, 0, rid, "true")
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
    local ok, result = run_method(svc, method, id, data, params)
    if not ok then
      answer_error(lid, rid, result)
    else
      local sent, _, why = reply(lid, T.RES, rid, result)
      if not sent and why then -- (a link that is gone needs no answer)
        answer_error(lid, rid, errors.GeneralError("Result of " .. method .. " is not JSON: " .. why))
      end
    end
  end
  local n = inflight[lid]
  if n then inflight[lid] = n - 1 end
  call_end()
end

function M.request(lid, rid, path, method, id, data, params)
  local n = inflight[lid] or 0
  if n >= M.MAX_INFLIGHT then
    return answer_error(lid, rid, errors.TooManyRequests("Too many requests in flight on this link (" .. n .. ")"))
  end
  inflight[lid] = n + 1
  spawn_call(run, path, method, lid, rid, id, data, params)
end

-- SUB { path = p }: events of p go to this link from now on.
function M.subscribe(c, body)
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
function M.unsubscribe_all(c)
  inflight[c.link] = nil
  for path in pairs(c.subs or {}) do
    local set = subs[path]
    if set then set[c.link] = nil end
  end
end

-- Called for every event a local service emits: encoded once, sent to the
-- links that subscribed to the path.
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
  publish_to(set, path, event, data, meta)
end

-- The bytes queued toward the slowest node subscribed to path's events (to any
-- path's when path is nil): what an event producer watches to keep pace with its
-- consumers (a link with more than 8 MiB queued is dropped as a slow consumer).
local pending = link.pending

local function most_pending(set, most)
  for lid in pairs(set) do
    local n = pending(lid)
    if n and n > most then most = n end
  end
  return most
end

function M.backlog(path)
  if path ~= nil then return most_pending(subs[path] or {}, 0) end
  local most = 0
  for _, set in pairs(subs) do most = most_pending(set, most) end
  return most
end

function M.start(the_app)
  app = the_app
  app.__publish = publish
end

return M
