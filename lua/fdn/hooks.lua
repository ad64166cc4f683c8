-- hooks.lua: Feathers hooks. Registration (service:hooks / app:hooks) and the
-- compiled chain for one method: app around → app before → service around →
-- service before → method → service after → app after, error hooks on a throw.
local M = {}

local type, ipairs, pairs, error, xpcall, next = type, ipairs, pairs, error, xpcall, next

local TYPES = { before = true, after = true, error = true, around = true }

-- Moves on at every change to any store: a registration, or a store put in the app's
-- place (reload stages a new one, and puts the old one back when it fails). A chain
-- compiled in one epoch is good until the next (service.lua).
M.epoch = 0

function M.changed()
  M.epoch = M.epoch + 1
end

-- A store keeps, per hook type, a map method -> list (with "all" for every method).
function M.new_store()
  M.changed()
  return { before = {}, after = {}, error = {}, around = {} }
end

-- Whether v is a list of hooks: empty, or a list as JSON sees one (fdn.json.is_array).
local is_array = require("fdn.json").is_array
local function is_list(v)
  return next(v) == nil or is_array(v)
end

-- Errors name the line that called service:hooks / app:hooks: register is two levels
-- below it, check_method three, as_list four (through add).
local LEVEL = 4

local function as_list(v, where)
  if type(v) == "function" then return { v } end
  if type(v) ~= "table" or not is_list(v) then
    error(where .. ": hooks must be a function or a list of functions", LEVEL + 1)
  end
  for i, h in ipairs(v) do
    if type(h) ~= "function" then error(where .. ": hook " .. i .. " is not a function", LEVEL + 1) end
  end
  return v
end

-- methods: the set of the service's methods (nil for the app's hooks, which apply to any).
local function check_method(method, methods, kind)
  if type(method) ~= "string" then
    error("hooks: " .. kind .. " has a key that is not a method name: " .. tostring(method), LEVEL)
  end
  if methods and method ~= "all" and not methods[method] then
    error(("hooks: '%s' is not a method of this service (in %s)"):format(method, kind), LEVEL)
  end
end

local function add(store, kind, method, hooks)
  local map = store[kind]
  local list = map[method]
  if not list then
    list = {}
    map[method] = list
  end
  for _, h in ipairs(as_list(hooks, kind .. "." .. method)) do list[#list + 1] = h end
end

-- Accepts Feathers' registration forms:
--   { before = { all = {...}, get = fn }, after = ..., error = ..., around = ... }
--   { find = { aroundHook, ... } }   (around hooks by method)
--   { aroundHook, ... }              (around hooks for all methods)
-- A key that is neither a hook type nor (for a service) one of its methods is refused,
-- naming it, as Feathers does: a misspelt `bfore` must not pass for a method's hooks.
function M.register(store, spec, methods)
  if type(spec) ~= "table" then error("hooks: expected a table", 3) end
  if spec[1] ~= nil then
    add(store, "around", "all", spec)
  else
    for key, value in pairs(spec) do
      if TYPES[key] then
        if type(value) == "function" or (type(value) == "table" and value[1] ~= nil) then
          add(store, key, "all", value)
        elseif type(value) == "table" then
          for method, hooks in pairs(value) do
            check_method(method, methods, key)
            add(store, key, method, hooks)
          end
        else
          error("hooks: '" .. tostring(key) .. "' must be a table or a function", 3)
        end
      elseif type(key) == "string" and (methods == nil or methods[key])
          and (type(value) == "function" or (type(value) == "table" and is_list(value))) then
        add(store, "around", key, value)
      else
        error(("hooks: '%s' is not a hook type (before, after, error, around)%s"):format(tostring(key),
          methods and " nor a method of this service" or ""), 3)
      end
    end
  end
  M.changed()
end

-- Runs one regular hook; a returned table other than ctx is merged into ctx.
local function run_hook(h, ctx, kind)
  local previous = ctx.type
  ctx.type = kind
  local r = h(ctx)
  ctx.type = previous
  if type(r) == "table" and r ~= ctx then
    for k, v in next, r do ctx[k] = v end
  end
end

local function concat(a, b)
  if not a or #a == 0 then return b end
  if not b or #b == 0 then return a end
  local out = {}
  for i = 1, #a do out[#out + 1] = a[i] end
  for i = 1, #b do out[#out + 1] = b[i] end
  return out
end

local function with_before(list, inner)
  if not list or #list == 0 then return inner end
  local n = #list
  return function(ctx)
    for i = 1, n do run_hook(list[i], ctx, "before") end
    return inner(ctx)
  end
end

local function with_after(list, inner)
  if not list or #list == 0 then return inner end
  local n = #list
  return function(ctx)
    inner(ctx)
    for i = 1, n do run_hook(list[i], ctx, "after") end
  end
end

-- Error hooks catch what the layers inside them throw. `catch` turns a thrown
-- value into the error object (and logs a traceback for non-Feathers errors).
local function with_error(list, inner, catch)
  if not list or #list == 0 then return inner end
  local n = #list
  return function(ctx)
    local ok, err = xpcall(inner, catch, ctx)
    if ok then return end
    if ctx.error ~= err or ctx.result ~= nil then
      local original = {}
      for k, v in next, ctx do original[k] = v end
      ctx.original = original
      ctx.error = err
      ctx.result = nil
    end
    for i = 1, n do run_hook(list[i], ctx, "error") end
    if ctx.result == nil and ctx.error ~= nil then error(ctx.error, 0) end
  end
end

local function with_around(list, inner)
  if not list or #list == 0 then return inner end
  for i = #list, 1, -1 do
    local h, nxt = list[i], inner
    inner = function(ctx)
      return h(ctx, function() return nxt(ctx) end)
    end
  end
  return inner
end

-- Wraps `inner` in the hooks one store has for `method` (Feathers' collectHooks:
-- around.all, around[m], error.all+before.all, error[m]+before[m]+after[m], after.all).
local function wrap_store(store, method, inner, catch, include_all)
  local b, a, e, r = store.before, store.after, store.error, store.around
  local all = include_all and "all" or nil
  inner = with_after(all and a.all, inner)
  inner = with_error(e[method], with_before(b[method], with_after(a[method], inner)), catch)
  inner = with_error(all and e.all, with_before(all and b.all, inner), catch)
  inner = with_around(concat(all and r.all, r[method]), inner)
  return inner
end

-- Compiles the whole chain for one method call: app hooks outside, service
-- hooks inside, `method_fn(ctx)` at the centre.
function M.compile(app_store, svc_store, method, method_fn, catch, include_all)
  local inner = wrap_store(svc_store, method, method_fn, catch, include_all)
  if app_store then inner = wrap_store(app_store, method, inner, catch, include_all) end
  return inner
end

return M
