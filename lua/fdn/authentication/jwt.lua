-- authentication/jwt.lua: Feathers' JWT strategy (auth.jwt()): reads a token from the
-- Authorization header (schemes Bearer and JWT), verifies it, and loads its entity (payload.sub)
-- from the entity service. On a socket it keeps the connection logged in until the token expires.
local util = require "fdn.authentication.util"
local json = require "fdn.json"
local core = require "fdn.core.node"

local M = {}

local type, pairs, ipairs, error, pcall, os_time = type, pairs, ipairs, error, pcall, os.time
local copy, fail, given = util.copy, util.fail, util.given
local null = json.null

local Strategy = {}
Strategy.__index = Strategy

local OPTIONS = { entity = true, entityId = true, service = true, header = true, schemes = true }

-- auth.jwt([options]): options as the settings' authentication.<name> section (header, schemes).
function M.new(options)
  return setmetatable({ options = options }, Strategy)
end

-- The strategy's settings: the authentication service's entity and service, then
-- authentication.<name> from the app's settings, then the options given to auth.jwt().
function Strategy:configuration()
  local c = self.config
  if c then return c end
  local auth = self.authentication.configuration
  c = { service = auth.service, entity = auth.entity, entityId = auth.entityId, header = "Authorization",
    schemes = { "Bearer", "JWT" } }
  for k, v in pairs(util.strategy_settings(self)) do
    if not OPTIONS[k] then
      error(("Invalid JwtStrategy option 'authentication.%s.%s'. Did you mean to set it in "
        .. "'authentication.jwtOptions'?"):format(self.name, k), 0)
    end
    c[k] = v
  end
  if type(c.header) ~= "string" then
    error(("The 'header' option for the %s strategy must be a string"):format(self.name), 0)
  end
  c.header_key = c.header:lower()
  c.lower_schemes = {}
  for i, s in ipairs(c.schemes) do c.lower_schemes[i] = s:lower() end
  self.config = c
  return c
end

Strategy.verifyConfiguration = Strategy.configuration

-- The last index of the run of non-space characters (%S) that starts at i: a plain search for
-- each space character, so that it costs linear time (Lua's "(%S+)%s+(%S+)" is quadratic on a
-- value without a space: 2 s of the reactor for 16 KB) and no per-character matching.
local find, sub = string.find, string.sub
local SPACES = { " ", "\t", "\n", "\v", "\f", "\r" }
local function run_end(value, i)
  local e = #value
  for _, ch in ipairs(SPACES) do
    local j = find(value, ch, i, true)
    if j and j <= e then e = j - 1 end
  end
  return e
end

-- Feathers' parse: "<scheme> <token>" with a scheme it knows (any case), or a bare token; another
-- scheme is not ours (nil, so another strategy may read it). Its /(\S+)\s+(\S+)/ takes the first
-- two runs of non-space characters.
function Strategy:parse(headers)
  local c = self.config or self:configuration()
  local value = headers[c.header_key]
  if type(value) ~= "string" or value == "" then return nil end
  local s1 = find(value, "%S")
  local e1 = s1 and run_end(value, s1)
  local s2 = e1 and find(value, "%S", e1 + 1)
  if s2 then
    local scheme, token = sub(value, s1, e1), sub(value, s2, run_end(value, s2))
    local low, known = scheme:lower(), false
    for _, s in ipairs(c.lower_schemes) do
      if low:find(s, 1, true) then known = true end
    end
    if not known then return nil end
    return { strategy = self.name, accessToken = token }
  end
  return { strategy = self.name, accessToken = value }
end

-- svc:get(id, params), where a missing entity (a token without sub, or of a deleted user) is
-- NotAuthenticated 401 rather than Feathers' NotFound 404: the caller's token is what is wrong,
-- and a client drops its stored token on a 401 only.
local function get_entity(svc, id, params)
  if id == nil or id == null then fail("Not authenticated") end
  local ok, entity = pcall(svc.get, svc, id, params)
  if ok then return entity end
  if type(entity) == "table" and (entity.name == "NotFound" or entity.code == 404) then
    fail("Not authenticated")
  end
  error(entity, 0)
end

-- The entity of a verified token: an internal get, then (for an outside caller) a get with the
-- caller's params so that the entity service's hooks (protect) see who asks.
function Strategy:getEntity(id, params)
  local c = self.config
  local svc = self.authentication:entityService()
  if not svc then fail("Could not find entity service") end
  local p = copy(params, { provider = true })
  p.query = {}
  local entity = get_entity(svc, id, p)
  if not params.provider then return entity end
  local q = copy(params)
  q[c.entity] = entity
  return get_entity(svc, id, q)
end

function Strategy:authenticate(authentication, params)
  local c = self.config or self:configuration()
  local token = authentication.accessToken
  if not given(token) then fail("No access token") end
  local payload = self.authentication:verifyAccessToken(token, params.jwt)
  local result = { accessToken = token, authentication = { strategy = "jwt", accessToken = token, payload = payload } }
  if c.entity == nil or c.entity == null or c.entity == false then return result end
  result[c.entity] = self:getEntity(payload.sub, params)
  return result
end

-- core.timer waits 30 days at most (Feathers uses long-timeout for the same reason): a token
-- that lives longer is waited for in steps, else its socket would close while it is valid.
local TIMER_MAX_MS = 2592000000

local function arm(app, timers, connection, exp)
  local ms = math.max(0, (exp - os_time()) * 1000)
  local step = math.floor(math.min(ms, TIMER_MAX_MS))
  timers[connection] = core.timer(step, function()
    timers[connection] = nil
    if ms > TIMER_MAX_MS then return arm(app, timers, connection, exp) end
    require("fdn.authentication.service").expire(app, connection)
  end)
end

-- A socket's connection: logged in (its authentication and entity set, and closed when the
-- token expires), or logged out (on logout with the same token, or on disconnect).
function Strategy:handleConnection(event, connection, result)
  local c = self.config or self:configuration()
  local auth = self.authentication
  local timers = auth.expires
  local token = type(result) == "table" and result.accessToken or nil
  local current = connection.authentication
  if event == "login" and token then
    local a = result.authentication
    local payload = type(a) == "table" and a.payload or auth:verifyAccessToken(token)
    local old = timers[connection]
    if old then old:cancel() end
    timers[connection] = nil
    if type(payload.exp) == "number" then arm(self.app, timers, connection, payload.exp) end
    connection.authentication = { strategy = self.name, accessToken = token }
    if c.entity then connection[c.entity] = result[c.entity] end
  elseif event == "disconnect"
      or (event == "logout" and type(current) == "table" and current.accessToken == token) then
    if c.entity then connection[c.entity] = nil end
    connection.authentication = nil
    local t = timers[connection]
    if t then
      t:cancel()
      timers[connection] = nil
    end
  end
end

return M
