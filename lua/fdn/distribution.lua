-- distribution.lua: app:distribution{...}, feathers-distributed's options:
-- which local services are published, which remote ones are consumed and under
-- which path, hooks on every proxy, which events and methods cross nodes.
local M = {}

local type, ipairs, pairs, error, tostring = type, ipairs, pairs, error, tostring

local STANDARD_EVENTS = { "created", "updated", "patched", "removed" }
M.STANDARD_EVENTS = STANDARD_EVENTS

-- The options of one app (app.__distribution), empty at first; a script changes them with
-- app:distribution{...}. Every function below reads them from its first argument:
--   services           list of local paths | function(descriptor) -> bool | nil (all)
--   remoteServices     list of remote paths | function(descriptor) -> bool | nil (all)
--   remoteServicePath  function(descriptor) -> local path | nil (same path)
--   hooks              hooks registered on every proxy
--   distributedEvents  list of event names | nil (standard + declared custom events)
--   distributedMethods list of method names | nil (every exposed method)
--   timeout            remote call timeout in ms | nil (--timeout)
function M.new()
  return {}
end

local KNOWN = { services = true, remoteServices = true, remoteServicePath = true, hooks = true,
  distributedEvents = true, distributedMethods = true, timeout = true }
-- feathers-distributed spells some options differently; accept those too
local ALIASES = { remoteServicesPath = "remoteServicePath" }

local function as_set(list)
  local set = {}
  for _, v in ipairs(list) do set[v] = true end
  return set
end

function M.configure(options, opts)
  if type(opts) ~= "table" then error("app:distribution: expected a table of options", 3) end
  for k, v in pairs(opts) do
    k = ALIASES[k] or k
    if not KNOWN[k] then error("app:distribution: unknown option '" .. tostring(k) .. "'", 3) end
    options[k] = v
  end
end

-- A filter option is nil (everything), a list of names, or a function.
local function passes(filter, descriptor, name)
  if filter == nil then return true end
  if type(filter) == "function" then return filter(descriptor) and true or false end
  if type(filter) == "table" then
    for _, v in ipairs(filter) do if v == name then return true end end
    return false
  end
  return true
end

function M.publishes(options, descriptor)
  return passes(options.services, descriptor, descriptor.path)
end

function M.consumes(options, descriptor)
  return passes(options.remoteServices, descriptor, descriptor.path)
end

function M.local_path(options, descriptor)
  local f = options.remoteServicePath
  if type(f) == "function" then return f(descriptor) or descriptor.path end
  return descriptor.path
end

-- The methods a local service offers to other nodes.
function M.methods_of(options, list)
  local allowed = options.distributedMethods
  if allowed == nil then return list end
  local set, out = as_set(allowed), {}
  for _, m in ipairs(list) do if set[m] then out[#out + 1] = m end end
  return out
end

-- The events a local service sends to other nodes.
function M.events_of(options, custom)
  local out, seen = {}, {}
  for _, e in ipairs(STANDARD_EVENTS) do out[#out + 1] = e; seen[e] = true end
  for _, e in ipairs(custom) do if not seen[e] then out[#out + 1] = e; seen[e] = true end end
  local allowed = options.distributedEvents
  if allowed == nil then return out end
  local set, kept = as_set(allowed), {}
  for _, e in ipairs(out) do if set[e] then kept[#kept + 1] = e end end
  return kept
end

return M
