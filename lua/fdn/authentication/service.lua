-- authentication/service.lua: Feathers' AuthenticationService. Settings come from
-- app:get("authentication") when auth.service(app) runs; strategies register by name; create
-- answers { accessToken, authentication, user }, remove logs out, and a socket's connection is
-- logged in and out (channels left on logout, the socket closed when its token expires).
local jwt = require "fdn.core.jwt"
local errors = require "fdn.errors"
local channel = require "fdn.channel"
local channels = require "fdn.channels"
local sched = require "fdn.sched"
local util = require "fdn.authentication.util"

local M = {}

local type, pairs, ipairs, tostring, select, setmetatable, error, os_time =
  type, pairs, ipairs, tostring, select, setmetatable, error, os.time
local copy, fail = util.copy, util.fail

-- Feathers' defaults (options.ts); the settings' jwtOptions replace them whole, as Feathers'
-- shallow merge does.
local function default_jwt_options()
  return { header = { typ = "access" }, audience = "https://yourdomain.com", issuer = "feathers",
    algorithm = "HS256", expiresIn = "1d" }
end

-- Seconds in an expiresIn: a number of seconds, or a text as the npm package ms reads it
-- ("1d", "2 hours", "90m", "1.5h", "10s"; a bare number in text is milliseconds).
local UNIT = { ms = 0.001, msec = 0.001, msecs = 0.001, millisecond = 0.001, milliseconds = 0.001,
  s = 1, sec = 1, secs = 1, second = 1, seconds = 1, m = 60, min = 60, mins = 60, minute = 60,
  minutes = 60, h = 3600, hr = 3600, hrs = 3600, hour = 3600, hours = 3600, d = 86400, day = 86400,
  days = 86400, w = 604800, week = 604800, weeks = 604800, y = 31557600, yr = 31557600,
  yrs = 31557600, year = 31557600, years = 31557600 }

function M.seconds(v)
  if type(v) == "number" then return v end
  if type(v) ~= "string" then return nil end
  local n, unit = v:match("^%s*(-?%d*%.?%d+)%s*(%a*)%s*$")
  n = tonumber(n)
  if not n then return nil end
  local f = unit == "" and 0.001 or UNIT[unit:lower()]
  return f and n * f or nil
end

local Service = {}
Service.__index = Service

-- auth.service(app [, key]): the service, with settings app:get(key or "authentication").
function M.new(app, key)
  if type(app) ~= "table" or type(app.use) ~= "function" then
    error("An application instance has to be passed to the authentication service", 2)
  end
  key = key or "authentication"
  local settings = app:get(key)
  if type(settings) ~= "table" then
    error(("auth.service: app:get(%q) is not set (the authentication settings)"):format(key), 2)
  end
  local config = copy(settings)
  config.jwtOptions = type(settings.jwtOptions) == "table" and copy(settings.jwtOptions) or default_jwt_options()
  config.authStrategies = config.authStrategies or {}
  if config.entity == nil then config.entity = "user" end
  if type(config.secret) ~= "string" or config.secret == "" then
    error("A 'secret' must be provided in your authentication configuration", 2)
  end
  if config.entity ~= false and config.entity ~= require("fdn.json").null and type(config.service) ~= "string" then
    error("The 'service' option is not set in the authentication configuration", 2)
  end
  local jo = config.jwtOptions
  if jo.algorithm ~= nil and jo.algorithm ~= "HS256" then
    error("auth.service: jwtOptions.algorithm " .. tostring(jo.algorithm) .. " is not supported (HS256 is)", 2)
  end
  if jo.expiresIn ~= nil and not M.seconds(jo.expiresIn) then
    error("auth.service: jwtOptions.expiresIn " .. tostring(jo.expiresIn) .. " is not a duration", 2)
  end
  local typ = type(jo.header) == "table" and jo.header.typ or nil
  local self = setmetatable({
    app = app, configKey = key, configuration = config, strategies = {},
    typ = typ,
    -- connection -> its token's expiry timer: on the app, so that a reloaded service finds the
    -- timers of the connections that logged in before it
    expires = app.__auth_expiry or setmetatable({}, { __mode = "k" }),
    -- the connections that disconnected (weak): a login that ends after its socket went (it
    -- waited for bcrypt or the entity) must not log it in and hold it in a timer until expiry
    gone = app.__auth_gone or setmetatable({}, { __mode = "k" }),
  }, Service)
  app.__auth_expiry, app.__auth_gone = self.expires, self.gone
  self.verify_options = { typ = typ or "JWT", audience = jo.audience, issuer = jo.issuer, algorithm = "HS256" }
  if app:get("defaultAuthentication") == nil then app:set("defaultAuthentication", key) end
  local all = {} -- a new table, so that a failed reload puts the old one back (reload.lua)
  for k, v in pairs(app.__authentications or {}) do all[k] = v end
  all[key] = self
  app.__authentications = all
  if app:get("defaultAuthentication") == key then app.__authentication = self end
  app:on("disconnect", function(connection)
    self.gone[connection] = true
    self:handleConnection("disconnect", connection)
  end)
  return self
end

-- The entity service is Feathers' `app.service(service)`: local, or a proxy of another node's.
function Service:entityService()
  local name = self.configuration.service
  return type(name) == "string" and self.app:service(name) or nil
end

function Service:register(name, strategy)
  if type(name) ~= "string" or type(strategy) ~= "table" then
    error("register(name, strategy): a name and a strategy expected", 2)
  end
  strategy.name, strategy.app, strategy.authentication = name, self.app, self
  if strategy.verifyConfiguration then strategy:verifyConfiguration() end
  self.strategies[name] = strategy
  return self
end

function Service:getStrategies(...)
  local out = {}
  for i = 1, select("#", ...) do
    local s = self.strategies[select(i, ...)]
    if s then out[#out + 1] = s end
  end
  return out
end

-- authentication { strategy, ... } through the strategy it names, if allowed is among `...`.
function Service:authenticate(authentication, params, ...)
  local strategy = type(authentication) == "table" and authentication.strategy or nil
  -- a strategy that is not a string is "set" (a JavaScript truthy value) but never allowed
  local s = type(strategy) == "string" and self.strategies[strategy]
  local allowed = false
  for i = 1, select("#", ...) do
    if select(i, ...) == strategy then allowed = true end
  end
  if type(authentication) ~= "table" or not s or not allowed then
    fail("Invalid authentication information" .. ((not util.given(strategy) and " (no `strategy` set)")
      or (not allowed and " (strategy not allowed in authStrategies)") or ""))
  end
  local p = copy(params)
  p.authenticated = true
  return s:authenticate(authentication, p)
end

-- The authentication a request's headers carry ({ strategy, accessToken }), or nil: the first
-- of parseStrategies (else authStrategies) whose parse finds one.
function Service:parse(headers)
  local names = self.configuration.parseStrategies or self.configuration.authStrategies
  for _, name in ipairs(names) do
    local s = self.strategies[name]
    if s and s.parse then
      local r = s:parse(headers)
      if r ~= nil then return r end
    end
  end
  return nil
end

function Service:createAccessToken(payload, override, secret)
  local o = copy(self.configuration.jwtOptions)
  for k, v in pairs(override or {}) do o[k] = v end
  local claims = copy(payload)
  local now = os_time()
  if claims.iat == nil then claims.iat = now end
  if o.expiresIn ~= nil then
    if claims.exp ~= nil then
      error(errors.BadRequest('Bad "options.expiresIn" option the payload already has an "exp" property.'), 0)
    end
    claims.exp = claims.iat + math.floor(M.seconds(o.expiresIn))
  end
  claims.aud = o.audience or claims.aud
  claims.iss = o.issuer or claims.iss
  claims.sub = o.subject or claims.sub
  claims.jti = o.jwtid or claims.jti or jwt.uuid()
  local typ = type(o.header) == "table" and o.header.typ or self.typ
  local token, err = jwt.sign(claims, secret or self.configuration.secret, typ)
  if not token then error(errors.GeneralError("Can not create the access token: " .. tostring(err)), 0) end
  return token, claims
end

-- The names jsonwebtoken gives its errors, by message: Feathers sends them in error.data.
local function error_name(msg)
  if msg == "jwt expired" then return "TokenExpiredError" end
  if msg == "jwt not active" then return "NotBeforeError" end
  return "JsonWebTokenError"
end

function Service:verifyAccessToken(token, override, secret)
  local o = self.verify_options
  if override then
    o = copy(o)
    for k, v in pairs(override) do o[k] = v end
  end
  local payload, msg = jwt.verify(token, secret or self.configuration.secret, o)
  if not payload then fail(msg, { name = error_name(msg) }) end
  return payload
end

function Service:getTokenOptions(result, params)
  local c = self.configuration
  local o = copy(params.jwtOptions)
  for k, v in pairs(type(params.jwt) == "table" and params.jwt or {}) do o[k] = v end
  local value = c.service and c.entity and result[c.entity]
  if type(value) == "table" and o.subject == nil then
    local id = c.entityId or "id"
    local es = self:entityService()
    if not c.entityId and es and type(es.id) == "string" then id = es.id end
    local subject = value[id]
    if subject == nil then fail(("Can not set subject from %s.%s"):format(c.entity, id)) end
    o.subject = tostring(subject)
  end
  return o
end

-- The socket's connection logs in or out: every strategy with handleConnection hears it.
function Service:handleConnection(event, connection, result)
  for _, s in pairs(self.strategies) do
    if s.handleConnection then s:handleConnection(event, connection, result) end
  end
end

local function after(self, event, result, params)
  local conn = params.connection
  if conn and not (event == "login" and self.gone[conn]) then
    self:handleConnection(event, conn, result)
    if event == "logout" then channel.leave_all(self.app, conn) end
  end
  if params.provider and result then self.app:emit(event, result, params) end
  return result
end

function Service:create(data, params)
  params = params or {}
  local strategies = params.authStrategies or self.configuration.authStrategies
  if #strategies == 0 then
    fail("No authentication strategies allowed for creating a JWT (`authStrategies`)")
  end
  local result = self:authenticate(data, params, table.unpack(strategies))
  if result.accessToken then return after(self, "login", result, params) end
  local payload = type(params.payload) == "table" and params.payload or {}
  local token, claims = self:createAccessToken(payload, self:getTokenOptions(result, params), params.secret)
  local out = copy(result)
  out.accessToken = token
  out.authentication = copy(result.authentication)
  out.authentication.payload = claims
  return after(self, "login", out, params)
end

function Service:remove(id, params)
  params = params or {}
  local authentication = params.authentication
  if id ~= nil and id ~= require("fdn.json").null
      and (type(authentication) ~= "table" or id ~= authentication.accessToken) then
    fail("Invalid access token")
  end
  local result = self:authenticate(authentication, params, table.unpack(self.configuration.authStrategies))
  return after(self, "logout", result, params)
end

-- The authentication service publishes no events (Feathers: publish(() => null)).
function Service:setup(app, path)
  self.path = path
  if app.publish then
    local svc = app:local_service(path)
    if svc and svc.publish then svc:publish(function() return nil end) end
  end
end

-- Closes the socket of a connection whose token expired, or (no socket layer) only disconnects it.
function M.expire(app, connection)
  if app.__close_connection then return app.__close_connection(connection) end
  channels.disconnect(app, connection)
end

M.sched = sched
return M
