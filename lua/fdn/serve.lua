-- serve.lua: the provider side of links: the service table we publish,
-- requests from other nodes (REQ -> RES/ERR), subscriptions and events out.
local link = require "fdn.core.link"
local json = require "fdn.json"
local errors = require "fdn.errors"
local sched = require "fdn.sched"
local dist = require "fdn.distribution"

local M = {}

local T = link.TYPES
local encode, decode, null = json.encode, json.decode, json.null
local send = link.send
local type, pairs, ipairs, setmetatable, next, select, tostring =
  type, pairs, ipairs, setmetatable, next, select, tostring
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

local function answer_error(lid, id, err)
  local e = errors.is(err) and err or errors.from(err)
  send(lid, T.ERR, 0, id, encode(e:toJSON()) or '{"name":"GeneralError","message":"error","code":500}')
end

-- Serves one REQ: [path, method, id, data, params].
local function run(lid, id, body)
  sched.call_begin()
  local req = decode(body)
  if type(req) ~= "table" then
    answer_error(lid, id, errors.BadRequest("malformed request"))
    return sched.call_end()
  end
  local path, method, rid, data, params = req[1], req[2], req[3], req[4], req[5]
  if rid == null then rid = nil end
  if data == null then data = nil end
  if type(params) ~= "table" then params = {} end
  params.fromRemote = true
  local svc = app:local_service(path)
  local pub = published[path]
  if path == "_health" then
    send(lid, T.RES, 0, id, "true")
    return sched.call_end()
  end
  if not svc or not pub then
    answer_error(lid, id, errors.NotFound("Service '" .. tostring(path) .. "' is not served by this node"))
    return sched.call_end()
  end
  if method == "_health" then
    send(lid, T.RES, 0, id, "true")
    return sched.call_end()
  end
  if not pub.methods[method] then
    answer_error(lid, id, errors.MethodNotAllowed("Method `" .. tostring(method) .. "` is not supported by this endpoint."))
    return sched.call_end()
  end
  local ok, ctx = svc:__try(method, rid, data, params)
  if not ok then
    answer_error(lid, id, ctx.error)
  else
    local result = ctx.result
    local out, err = "", nil
    if result ~= nil then out, err = encode(result) end
    if out == nil then
      answer_error(lid, id, errors.GeneralError("Result of " .. method .. " is not JSON: " .. tostring(err)))
    else
      send(lid, T.RES, 0, id, out)
    end
  end
  sched.call_end()
end

-- A consumer may have this many requests in flight on one link; more are
-- refused at once (TooManyRequests) rather than queued without bound.
M.MAX_INFLIGHT = 1024

local function run_counted(c, id, body)
  run(c.link, id, body)
  c.inflight = c.inflight - 1
end

function M.request(c, id, body)
  local n = c.inflight or 0
  if n >= M.MAX_INFLIGHT then
    return answer_error(c.link, id, errors.TooManyRequests("Too many requests in flight on this link (" .. n .. ")"))
  end
  c.inflight = n + 1
  sched.spawn(run_counted, c, id, body)
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

function M.unsubscribe_all(c)
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
  local body = encode(setmetatable({ path, event, data == nil and null or data, meta or null }, array_mt))
  if not body then return end
  for lid in pairs(set) do
    if not send(lid, T.EVT, 0, 0, body) then set[lid] = nil end
  end
end

function M.start(the_app)
  app = the_app
  app.__publish = publish
end

return M
