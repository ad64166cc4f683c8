-- authentication/local.lua: Feathers' local strategy (auth["local"]()): a username and a
-- bcrypt-hashed password in the entity service. An unknown user, a user without a password and
-- a wrong password get the same error after the same work (one bcrypt compare each).
local util = require "fdn.authentication.util"
local bcrypt = require "fdn.bcrypt"
local uuid = require("fdn.core.jwt").uuid

local M = {}

local type, pairs, ipairs, error = type, pairs, ipairs, error
local copy, fail, given, get = util.copy, util.fail, util.given, util.get

local Strategy = {}
Strategy.__index = Strategy

function M.new(options)
  return setmetatable({ options = options }, Strategy)
end

function Strategy:configuration()
  local c = self.config
  if c then return c end
  local auth = self.authentication.configuration
  local own = util.strategy_settings(self)
  c = { hashSize = 10, service = auth.service, entity = auth.entity, entityId = auth.entityId,
    errorMessage = "Invalid login", entityPasswordField = own.passwordField,
    entityUsernameField = own.usernameField }
  for k, v in pairs(own) do c[k] = v end
  for _, prop in ipairs { "usernameField", "passwordField" } do
    if type(c[prop]) ~= "string" then
      error(("'%s' authentication strategy requires a '%s' setting"):format(self.name, prop), 0)
    end
  end
  if math.type(c.hashSize) ~= "integer" or c.hashSize < 4 or c.hashSize > 31 then
    error(("'%s' authentication strategy: hashSize must be an integer from 4 to 31"):format(self.name), 0)
  end
  self.config = c
  return c
end


function Strategy:hashPassword(password)
  if type(password) ~= "string" then
    error(require("fdn.errors").BadRequest("A password must be a string"), 0)
  end
  if password:find("\0", 1, true) then
    error(require("fdn.errors").BadRequest("A password must not hold a NUL byte"), 0)
  end
  return bcrypt.hash(password, self.config.hashSize)
end

-- bcrypt's base64 alphabet; a salt's 22nd character carries 2 bits, so one of 4 is canonical.
local B64 = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
local SALT_LAST = ".Oeu"

-- A well-formed hash of the configured cost, random salt and digest, that no password matches
-- (but 2^-184): compared against when there is no user, so that the answer takes a full bcrypt
-- of that cost, as for a wrong password. Made without hashing, so no login ever waits for it
-- and a reload's new strategy costs no bcrypt run.
function Strategy:decoy()
  if self.decoy_hash then return self.decoy_hash end
  local hex = (uuid() .. uuid() .. uuid() .. uuid()):gsub("-", "")
  local out = {}
  for i = 1, 53 do
    local v = tonumber(hex:sub(i, i), 16) * 4 + (i % 4)
    out[i] = B64:sub(v + 1, v + 1)
  end
  local last = tonumber(hex:sub(54, 54), 16) % 4 + 1
  out[22] = SALT_LAST:sub(last, last)
  self.decoy_hash = ("$2b$%02d$%s"):format(self.config.hashSize, table.concat(out))
  return self.decoy_hash
end

function Strategy:verifyConfiguration()
  self:configuration()
end

-- The user whose username field is `username`: a string or a number only, so that a caller's
-- { ["$ne"] = "" } (an operator, which the internal find would obey) finds nobody.
function Strategy:findEntity(username, params)
  local c = self.config
  local kind = type(username)
  if not given(username) or (kind ~= "string" and kind ~= "number") then return nil end
  local svc = self.authentication:entityService()
  if not svc then fail("Could not find entity service") end
  local p = copy(params)
  p.query = { ["$limit"] = 1, [c.entityUsernameField] = username }
  local result = svc:find(p)
  local list = type(result) == "table" and (result.data or result) or {}
  return type(list) == "table" and list[1] or nil
end

function Strategy:getEntity(entity, params)
  local c = self.config
  local svc = self.authentication:entityService()
  local id = c.entityId or (svc and type(svc.id) == "string" and svc.id) or "id"
  if entity[id] == nil then fail("Could not get local entity") end
  if not params.provider then return entity end
  local p = copy(params)
  p[c.entity] = entity
  return svc:get(entity[id], p)
end

function Strategy:authenticate(data, params)
  local c = self.config or self:configuration()
  local username, password = get(data, c.usernameField), get(data, c.passwordField)
  -- (a NUL byte: bcrypt refuses it, so hashPassword never stored such a password)
  if not given(password) or type(password) ~= "string" or password:find("\0", 1, true) then
    fail(c.errorMessage)
  end
  local entity = self:findEntity(username, copy(params, { provider = true }))
  local hash = type(entity) == "table" and get(entity, c.entityPasswordField) or nil
  if type(hash) ~= "string" or hash == "" then
    bcrypt.verify(password, self:decoy())
    fail(c.errorMessage)
  end
  if not bcrypt.verify(password, hash) then fail(c.errorMessage) end
  local result = { authentication = { strategy = self.name } }
  result[c.entity] = self:getEntity(entity, params)
  return result
end

return M
