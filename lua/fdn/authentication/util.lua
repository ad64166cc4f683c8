-- authentication/util.lua: the small table tools the authentication modules share: shallow
-- copies with fields left out, dot-path get/set (lodash's get/set, as Feathers uses them), and
-- the NotAuthenticated error raised the way a hook or method raises it.
local errors = require "fdn.errors"
local json = require "fdn.json"

local M = {}

local type, pairs, ipairs, error = type, pairs, ipairs, error
local null = json.null

-- A shallow copy of t without the keys listed in `without` (a set), or nil.
function M.copy(t, without)
  local out = {}
  if type(t) ~= "table" then return out end
  for k, v in pairs(t) do
    if not (without and without[k]) then out[k] = v end
  end
  return out
end

-- Whether v counts as given: not nil, not JSON null, not false, not "" (JavaScript's truthy,
-- as Feathers tests `if (!password)`; 0 is falsy there too).
function M.given(v)
  return v ~= nil and v ~= null and v ~= false and v ~= "" and v ~= 0
end

-- t.a.b for path "a.b"; nil when a step is missing or not a table.
function M.get(t, path)
  for part in path:gmatch("[^.]+") do
    if type(t) ~= "table" or t == null then return nil end
    t = t[part]
  end
  return t
end

-- A copy of t with t.a.b = v for path "a.b": the tables along the path are copied, the rest
-- shared (so the caller's data is never changed in place, as Feathers' cloneDeep+set).
function M.set(t, path, v)
  local head, rest = path:match("^([^.]+)%.(.+)$")
  local out = M.copy(t)
  setmetatable(out, getmetatable(t))
  if not head then
    out[path] = v
  else
    out[head] = M.set(type(out[head]) == "table" and out[head] or {}, rest, v)
  end
  return out
end

-- A copy of t without path "a.b" (the tables along the path copied).
function M.omit(t, path)
  if type(t) ~= "table" or t == null then return t end
  local head, rest = path:match("^([^.]+)%.(.+)$")
  local out = setmetatable(M.copy(t), getmetatable(t))
  if not head then
    out[path] = nil
  elseif type(out[head]) == "table" then
    out[head] = M.omit(out[head], rest)
  end
  return out
end

-- A strategy's own settings: authentication.<its name> from the app's settings, overlaid by
-- the options given when it was made (auth.jwt(options), auth["local"](options)).
function M.strategy_settings(strategy)
  local own = {}
  for _, src in ipairs { strategy.authentication.configuration[strategy.name] or {}, strategy.options or {} } do
    for k, v in pairs(src) do own[k] = v end
  end
  return own
end

function M.fail(message, data)
  error(errors.NotAuthenticated(message, data), 0)
end

return M
