-- authentication/hooks.lua: Feathers' authentication hooks. authenticate(...) guards a service
-- (outside callers must authenticate; internal calls pass), hashPassword(field) hashes a field of
-- the data with the local strategy, protect(...) strips fields from what outside callers get.
local errors = require "fdn.errors"
local json = require "fdn.json"
local util = require "fdn.authentication.util"

local M = {}

local type, ipairs, pairs, error, select, unpack, tostring, next =
  type, ipairs, pairs, error, select, table.unpack, tostring, next
local copy, fail, get, set, omit = util.copy, util.fail, util.get, util.set, util.omit
local null, is_array, array_mt = json.null, json.is_array, json.array_mt

-- The authentication service named `key`, else the app's default one (Feathers'
-- app.defaultAuthentication).
local function auth_service(app, key)
  local all = app.__authentications
  if key then return all and all[key] end
  return app.__authentication
end
M.auth_service = auth_service

local NO_PROVIDER = { provider = true, authentication = true }

-- authenticate("jwt", ...) or authenticate { service = key, strategies = { ... } }.
function M.authenticate(first, ...)
  local settings
  if type(first) == "table" then
    settings = first
  else
    settings = { strategies = { first, ... } }
  end
  local strategies = settings.strategies
  if first == nil or type(strategies) ~= "table" or #strategies == 0 then
    error("The authenticate hook needs at least one allowed strategy", 2)
  end
  local key, n = settings.service, #strategies
  return function(ctx, nxt)
    if ctx.type ~= "before" and ctx.type ~= "around" then
      fail("The authenticate hook must be used as a before hook")
    end
    local auth = auth_service(ctx.app, key)
    if not auth then fail("Could not find a valid authentication service") end
    local svc = ctx.service
    if svc == auth or (type(svc) == "table" and svc.__raw == auth) then
      fail("The authenticate hook does not need to be used on the authentication service")
    end
    local params = ctx.params
    if params.authenticated ~= true then
      local authentication = params.authentication
      if authentication ~= nil and authentication ~= null then
        local result = auth:authenticate(authentication, copy(params, NO_PROVIDER), unpack(strategies, 1, n))
        local p = copy(params)
        for k, v in pairs(result) do
          if k ~= "accessToken" then p[k] = v end
        end
        p.authenticated = true
        ctx.params = p
      elseif params.provider then
        fail("Not authenticated")
      end
    end
    if nxt then return nxt() end
  end
end

-- hashPassword(field [, { authentication = key, strategy = "local" }]): replaces data[field]
-- (a dot path; every item of a list) with its bcrypt hash; items without it are left alone.
function M.hashPassword(field, options)
  if type(field) ~= "string" or field == "" then
    error("The hashPassword hook requires a field name option", 2)
  end
  options = options or {}
  local name = options.strategy or "local"
  return function(ctx, nxt)
    local data = ctx.data
    if data ~= nil and data ~= null then
      local auth = auth_service(ctx.app, options.authentication)
      if not auth then error(errors.BadRequest("Could not find an authentication service to hash password"), 0) end
      local strategy = auth.strategies[name]
      if not strategy or not strategy.hashPassword then
        error(errors.BadRequest(("Could not find '%s' strategy to hash password"):format(name)), 0)
      end
      local function hashed(item)
        local password = get(item, field)
        if password == nil or password == null then return item end
        return set(item, field, strategy:hashPassword(password, ctx.params))
      end
      if type(data) == "table" and is_array(data) and #data > 0 then
        local out = setmetatable({}, array_mt)
        for i, item in ipairs(data) do out[i] = hashed(item) end
        ctx.data = out
      elseif type(data) == "table" then
        ctx.data = hashed(data)
      end
    end
    if nxt then return nxt() end
  end
end

-- The protected field a query filters or sorts on, if any: by its name or its first dot-path
-- segment, at the top, in $sort, and inside $or/$and (a list, or an object: the query engine
-- takes an object's values, so $or[a][password]=... filters too).
local function queried_field(query, heads)
  if type(query) ~= "table" or query == null then return nil end
  for k, v in pairs(query) do
    if k == "$or" or k == "$and" then
      if type(v) == "table" then
        for _, sub in pairs(v) do
          local f = queried_field(sub, heads)
          if f then return f end
        end
      end
    elseif k == "$sort" then
      if type(v) == "table" then
        for sk in pairs(v) do
          if heads[tostring(sk):match("^[^.]*")] then return sk end
        end
      end
    elseif type(k) == "string" and heads[k:match("^[^.]*")] then
      return k
    end
  end
  return nil
end

-- protect("password", ...): what an outside caller gets (result) and what events carry
-- (dispatch) leave those fields out; an internal caller's result keeps them. As an around (or
-- before) hook it also refuses an outside caller's query that filters or sorts on them: with
-- only the after hook, `password[$gt]=...` answers whether a hash sorts above a value, and a
-- few hundred such queries read a whole hash.
function M.protect(...)
  local fields, n = { ... }, select("#", ...)
  local heads = {}
  for i = 1, n do heads[fields[i]:match("^[^.]*")] = true end
  local function strip(item)
    if type(item) ~= "table" or item == null or is_array(item) then return item end
    for i = 1, n do item = omit(item, fields[i]) end
    return item
  end
  local function check(ctx)
    local params = ctx.params
    if not (params and params.provider) then return end
    local f = queried_field(params.query, heads)
    if f then error(errors.BadRequest(("Can not query on protected field '%s'"):format(tostring(f))), 0) end
  end
  return function(ctx, nxt)
    if nxt then
      check(ctx)
      nxt()
    elseif ctx.type == "before" then
      return check(ctx)
    end
    local result = ctx.dispatch
    if result == nil then result = ctx.result end
    if result == nil or result == null or type(result) ~= "table" then return end
    local out
    if is_array(result) and next(result) ~= nil then
      out = setmetatable({}, array_mt)
      for i, item in ipairs(result) do out[i] = strip(item) end
    elseif ctx.method == "find" and type(result.data) == "table" then
      out = copy(result)
      local list = setmetatable({}, array_mt)
      for i, item in ipairs(result.data) do list[i] = strip(item) end
      out.data = list
    else
      out = strip(result)
    end
    ctx.dispatch = out
    if ctx.params and ctx.params.provider then ctx.result = out end
  end
end

return M
