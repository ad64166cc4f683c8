-- http.lua: fdn.http, the outbound HTTP/1.1 client for services: http.request{...} sends one
-- request on the reactor (fdn.core.http_client: kept-alive connections, TLS with the system's CA
-- bundle) while the calling coroutine waits; failures raise Feathers errors.
local core = require "fdn.core.http_client"
local sched = require "fdn.sched"
local errors = require "fdn.errors"
local json = require "fdn.json"

local M = {}

local type, pairs, tostring, tonumber, error, mtype = type, pairs, tostring, tonumber, error, math.type
local concat, lower, find, match, upper = table.concat, string.lower, string.find, string.match, string.upper

M.default_timeout = 30000       -- ms
M.default_max_size = 10 << 20   -- bytes of body

local REDIRECT = { [301] = true, [302] = true, [303] = true, [307] = true, [308] = true }
-- sent again on a new connection when a kept-alive one turns out closed before any answer
local IDEMPOTENT = { GET = true, HEAD = true, PUT = true, DELETE = true, OPTIONS = true, TRACE = true }
local FRAMING = { ["content-length"] = true, ["transfer-encoding"] = true, connection = true }

local function fail(msg) error("http.request: " .. msg, 3) end

-- "https://host:port/path?q#f" -> { tls, host, port, target, origin }, or nil, why
local function parse_url(url)
  local scheme, authority, rest = match(url, "^(%a[%w+.-]*)://([^/?#]*)(.*)$")
  if not scheme then return nil, "not an absolute http(s) URL: " .. url end
  scheme = lower(scheme)
  if scheme ~= "http" and scheme ~= "https" then return nil, "unsupported scheme " .. scheme end
  if find(authority, "@", 1, true) then return nil, "credentials in the URL are not supported" end
  local host, port = match(authority, "^%[([%x:.]+)%]:?(%d*)$")
  if not host then host, port = match(authority, "^([%w.-]+):?(%d*)$") end
  if not host or host == "" then return nil, "bad host in " .. url end
  port = port ~= "" and tonumber(port) or (scheme == "https" and 443 or 80)
  if port < 1 or port > 65535 then return nil, "bad port in " .. url end
  local target = match(rest, "^[^#]*")
  if find(target, "[%s%c]") then return nil, "spaces or control characters in " .. url end
  if target == "" or target:sub(1, 1) == "?" then target = "/" .. target end
  local hostport = find(host, ":", 1, true) and "[" .. host .. "]" or host
  if port ~= (scheme == "https" and 443 or 80) then hostport = hostport .. ":" .. port end
  return { tls = scheme == "https", host = lower(host), port = port, target = target,
           hostport = hostport, origin = scheme .. "://" .. hostport }
end

-- The Location of a redirect, made absolute against the URL it answered.
local function resolve_location(u, loc)
  if match(loc, "^%a[%w+.-]*://") then return loc end
  if loc:sub(1, 2) == "//" then return (u.tls and "https:" or "http:") .. loc end
  if loc:sub(1, 1) == "/" then return u.origin .. loc end
  local dir = match(u.target, "^([^?]*/)") or "/"
  return u.origin .. dir .. loc
end

local function check_header(name, value)
  if type(name) ~= "string" or not match(name, "^[%w!#$%%&'*+.^_`|~-]+$") then
    fail("bad header name " .. tostring(name))
  end
  if type(value) == "number" then value = tostring(value) end
  if type(value) ~= "string" or find(value, "[%z\r\n]") then
    fail("bad value for header " .. name)
  end
  return value
end

-- The request's bytes: head and body.
local function build(method, u, headers, body)
  local lines = { method .. " " .. u.target .. " HTTP/1.1" }
  local has = {}
  for name, value in pairs(headers) do
    value = check_header(name, value)
    local l = lower(name)
    if not FRAMING[l] then
      has[l] = true
      lines[#lines + 1] = name .. ": " .. value
    end
  end
  if not has.host then lines[#lines + 1] = "Host: " .. u.hostport end
  if not has["user-agent"] then lines[#lines + 1] = "User-Agent: fdnode" end
  if body or method == "POST" or method == "PUT" or method == "PATCH" then
    lines[#lines + 1] = "Content-Length: " .. #(body or "")
  end
  lines[#lines + 1] = ""
  lines[#lines + 1] = body or ""
  return concat(lines, "\r\n")
end

-- One exchange; the response, or raises.
local function exchange(co, method, url, u, headers, body, opts)
  local ok, err = core.request({
    tls = u.tls, host = u.host, port = u.port, ca_file = opts.ca_file,
    data = build(method, u, headers, body), head = method == "HEAD", idempotent = IDEMPOTENT[method],
    timeout = opts.timeout, max_size = opts.max_size,
  }, function(...) sched.wake(co, ...) end)
  if not ok then error(errors.Unavailable(method .. " " .. url .. ": " .. tostring(err)), 0) end
  local status, h, b = sched.wait()
  if status then return { status = status, headers = h, body = b } end
  local what = method .. " " .. url .. ": " .. tostring(b)
  if h == "timeout" then
    error(errors.Timeout(method .. " " .. url .. ": no response within " .. opts.timeout .. " ms"), 0)
  elseif h == "too big" then
    error(errors.GeneralError(method .. " " .. url .. ": response larger than max_size ("
      .. opts.max_size .. " bytes)"), 0)
  elseif h == "bad response" then
    error(errors.BadGateway(what), 0)
  end
  error(errors.Unavailable(what), 0)
end

local function integer_opt(opts, k, default, min)
  local v = opts[k]
  if v == nil then return default end
  if mtype(v) ~= "integer" or v < min then fail(k .. " must be an integer >= " .. min) end
  return v
end

-- request { method = "GET", url, headers = {}, body = string or table (sent as JSON),
-- timeout = ms, max_size = bytes, redirects = 0, ca_file = PEM bundle } -> { status, headers
-- (lower-case names, repeated ones joined with ", "), body }. Waits in the calling coroutine.
function M.request(opts)
  if type(opts) ~= "table" then fail("takes a table of options") end
  local co = sched.current()
  if not co then fail("called outside a coroutine (call it from a service, hook or task)") end
  local method = upper(opts.method or "GET")
  if not match(method, "^[%u%d!#$%%&'*+.^_`|~-]+$") then fail("bad method " .. tostring(opts.method)) end
  if type(opts.url) ~= "string" then fail("url must be a string") end
  local o = {
    timeout = integer_opt(opts, "timeout", M.default_timeout, 1),
    max_size = integer_opt(opts, "max_size", M.default_max_size, 0),
    ca_file = opts.ca_file,
  }
  local redirects = integer_opt(opts, "redirects", 0, 0)
  local headers = {}
  for k, v in pairs(opts.headers or {}) do headers[k] = v end
  local body = opts.body
  if type(body) == "table" then
    body = json.encode(body)
    local set = false
    for k in pairs(headers) do if type(k) == "string" and lower(k) == "content-type" then set = true end end
    if not set then headers["Content-Type"] = "application/json" end
  elseif body ~= nil and type(body) ~= "string" then
    fail("body must be a string or a table")
  end
  local url = opts.url
  local u, why = parse_url(url)
  if not u then fail(why) end
  local follow = redirects > 0
  for _ = 0, redirects do
    local res = exchange(co, method, url, u, headers, body, o)
    local loc = res.headers.location
    if not (follow and REDIRECT[res.status] and loc) then return res end
    if redirects == 0 then break end
    redirects = redirects - 1
    local next_url = resolve_location(u, loc)
    local nu = parse_url(next_url)
    if not nu then error(errors.BadGateway(method .. " " .. url .. ": bad redirect to " .. loc), 0) end
    if res.status == 303 or ((res.status == 301 or res.status == 302) and method == "POST") then
      method, body = method == "HEAD" and "HEAD" or "GET", nil
      for k in pairs(headers) do if lower(k) == "content-type" then headers[k] = nil end end
    end
    if nu.origin ~= u.origin then -- credentials stay with their origin
      for k in pairs(headers) do
        local l = lower(k)
        if l == "authorization" or l == "cookie" then headers[k] = nil end
      end
    end
    url, u = next_url, nu
  end
  error(errors.BadGateway(method .. " " .. opts.url .. ": too many redirects"), 0)
end

-- json { ... as request } -> the decoded body and the response; a status >= 400 raises the
-- Feathers error of that status with the body's message when it has one.
function M.json(opts)
  local o = {}
  for k, v in pairs(opts) do o[k] = v end
  local h = {}
  for k, v in pairs(opts.headers or {}) do h[k] = v end
  if h.Accept == nil and h.accept == nil then h.Accept = "application/json" end
  o.headers = h
  local res = M.request(o)
  local ok, value = pcall(json.decode, res.body)
  if res.status >= 400 then
    local cls = errors.byCode[res.status] or errors.GeneralError
    local msg = ok and type(value) == "table" and value.message or res.body
    error(cls(type(msg) == "string" and msg or ("HTTP " .. res.status), { status = res.status }), 0)
  end
  if not ok or value == nil then
    error(errors.BadGateway((opts.method or "GET") .. " " .. opts.url .. ": the response is not JSON"), 0)
  end
  return value, res
end

-- Connections opened so far, and open now (kept-alive ones included).
M.counts = core.counts

return M
