-- rest.lua: the REST gateway's Feathers mapping. An HTTP request from C becomes
-- a service call (route → method, query string, JSON body) and its answer.
local qs = require "fdn.core.qs"
local http = require "fdn.core.http"
local json = require "fdn.json"
local errors = require "fdn.errors"
local sched = require "fdn.sched"
local trace = require "fdn.trace"
local serving = require("fdn.core.node").serving -- nil without a call budget

local M = {}

local service = require "fdn.service"
local STANDARD, call = service.is_standard, service.call

local encode, decode = json.encode, json.decode
local type, tostring, math_type, pairs = type, tostring, math.type, pairs
local respond, send_file = http.respond, http.send_file

local JSON_TYPE = { ["content-type"] = "application/json; charset=utf-8" }

-- The response's headers: extra's (a shared table, not changed), and the traceparent of the
-- request's trace (its id, this gateway's span) when the request came with one or something
-- used it (a log line, a call to another node, the access log): a request that needs no trace
-- makes none.
local access_log = false -- --access-log (set by attach)
local function with_trace(extra)
  if not (access_log or trace.known()) then return extra end
  local t = trace.get()
  local h = { traceparent = t.header }
  for k, v in pairs(extra) do h[k] = v end
  return h
end

-- The error's JSON, its code as the status, with the request's trace id (traceId). Data (or
-- errors) that is not JSON is left out, as serve.lua does for a remote caller: the class, code
-- and message still go.
local function send_error(req_id, err)
  local e = errors.from(err)
  local code = e.code
  if math_type(code) ~= "integer" or code < 400 or code > 599 then code = 500 end
  local t = e:toJSON()
  local tr = trace.get()
  if tr then t.traceId = tr.id end
  local body, why = encode(t)
  if not body then
    t.data, t.errors = nil, nil
    body = encode(t)
    require("fdn.log").warn("gateway: the data of " .. tostring(e.name) .. " is not JSON ("
      .. tostring(why) .. "): sent without it")
  end
  if not body then -- (a message or name that is not a string: only a hand-made error)
    code = 500
    body = encode(errors.GeneralError("Error"):toJSON())
  end
  respond(req_id, code, body, tr and { traceparent = tr.header } or nil)
end

-- Feathers' getStatusCode: an explicit ctx.http.status, else 303 with a
-- location, 201 for create, 204 without a body, else 200. (http: ctx.http, when the
-- call made a context.)
local function status_of(method, result, http_ctx)
  if type(http_ctx) == "table" then
    if math_type(http_ctx.status) == "integer" then return http_ctx.status end
    if type(http_ctx.location) == "string" then return 303 end
  end
  if method == "create" then return 201 end
  if result == nil or result == false or result == "" then return 204 end
  return 200
end

local HAS_BODY = { POST = true, PUT = true, PATCH = true }

-- The request's data: {} when a POST/PUT/PATCH has no body (as Express's
-- body parser gives), an object or array from JSON (strict, as Express), or
-- the fields of an urlencoded form.
local function parse_body(method, headers, body)
  if body == nil or body == "" then return HAS_BODY[method] and {} or nil end
  local ctype = headers["content-type"] or ""
  if ctype:find("application/x-www-form-urlencoded", 1, true) then
    local data, err = qs.parse(body)
    if data == nil then error(errors.BadRequest("Invalid form body: " .. tostring(err)), 0) end
    return data
  end
  local data, err = decode(body)
  if data == nil then error(errors.BadRequest("Invalid JSON body: " .. tostring(err)), 0) end
  if type(data) ~= "table" then error(errors.BadRequest("The JSON body must be an object or an array"), 0) end
  return data
end

-- Finds the service and id for a decoded path: the whole path as a service, or
-- all but its last segment as the service and the last segment as the id.
local function resolve(app, method, path)
  local full, parent, last = qs.route(method, path)
  if full == nil then return nil end
  local svc = app:service(full)
  if svc then return svc, nil, full end
  if parent then
    svc = app:service(parent)
    if svc then return svc, last, parent end
  end
  return nil
end

local function serve(app, req_id, method, path, query, headers, body)
  local svc, id = resolve(app, method, path)
  if not svc then
    -- no service: a file of --public, if any (C answers it), else 404
    if (method == "GET" or method == "HEAD") and (send_file(req_id, path, query)) then return end
    return send_error(req_id, errors.NotFound("Page not found"))
  end
  local custom = headers["x-service-method"]
  if custom and STANDARD[custom] then
    return send_error(req_id, errors.MethodNotAllowed("Method `" .. custom .. "` is not supported by this endpoint."))
  end
  local fmethod = qs.method(method, id ~= nil, custom)
  if not fmethod or not svc:exposes(fmethod) then
    local name = fmethod or headers["x-service-method"] or method:lower()
    return send_error(req_id,
      errors.MethodNotAllowed("Method `" .. tostring(name) .. "` is not supported by this endpoint."))
  end
  local q = {}
  if query and query ~= "" then
    local err
    q, err = qs.parse(query)
    if q == nil then return send_error(req_id, errors.BadRequest("Invalid query string: " .. tostring(err))) end
  end
  local okb, data = pcall(parse_body, method, headers, body)
  if not okb then return send_error(req_id, data) end
  local params = { query = q, provider = "rest", headers = headers, route = {} }
  local auth = app.__authentication -- (fdn.authentication: the token a header carries)
  if auth then params.authentication = auth:parse(headers) end
  if serving then serving(svc.__path, fmethod) end -- (the watchdog names it should it stick in C)
  local ok, result, ctx = call(svc, fmethod, id, data, params)
  if not ok then return send_error(req_id, result) end
  local http_ctx = ctx and ctx.http
  local out = ""
  if result ~= nil then
    local err
    out, err = encode(result)
    if out == nil then
      return send_error(req_id, errors.GeneralError("Result of " .. fmethod .. " is not JSON: " .. tostring(err)))
    end
  end
  local extra = JSON_TYPE
  local hh = type(http_ctx) == "table" and http_ctx.headers
  if type(hh) == "table" then
    extra = { ["content-type"] = JSON_TYPE["content-type"] }
    for k, v in pairs(hh) do extra[k:lower()] = tostring(v) end
  end
  local location = type(http_ctx) == "table" and http_ctx.location
  if type(location) == "string" then
    if extra == JSON_TYPE then extra = { ["content-type"] = JSON_TYPE["content-type"] } end
    extra.location = location
  end
  respond(req_id, status_of(fmethod, result, http_ctx), out, with_trace(extra))
end

-- GET /distribution/healthcheck: probes every remote service; 200 with
-- {"<path>":true,...} when all answer, else 503 Unavailable with the map in data.
local function healthcheck(health, req_id)
  local map = health(3000)
  local all = true
  for _, ok in pairs(map) do if not ok then all = false end end
  if all then return respond(req_id, 200, encode(map), with_trace(JSON_TYPE)) end
  send_error(req_id, errors.Unavailable("Some remote services do not answer", map))
end

-- Installs the "http" dispatch handler for app: each request in a coroutine, with its trace
-- (the traceparent header's, else a new one, made when first needed).
-- opts.health is the probe behind /distribution/healthcheck.
function M.attach(app, opts)
  local health = opts and opts.health
  access_log = require("fdn.core.node").info().access_log and true or false
  sched.handle("http", function(req_id, method, path, query, headers, body)
    sched.spawn(function()
      sched.call_begin()
      trace.start(headers.traceparent)
      local ok, err
      if health and path == "/distribution/healthcheck" and method == "GET" then
        ok, err = pcall(healthcheck, health, req_id)
      else
        ok, err = pcall(serve, app, req_id, method, path, query, headers, body)
      end
      if not ok then
        require("fdn.log").error("gateway: " .. tostring(err))
        send_error(req_id, errors.GeneralError("Internal error"))
      end
      trace.stop()
      sched.call_end()
    end)
  end)
end

return M
