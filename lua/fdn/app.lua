-- app.lua: the Feathers application: a registry of services by path, app-level
-- hooks and events, settings, and the setup/teardown of every service.
local service = require "fdn.service"
local hooks = require "fdn.hooks"
local events = require "fdn.events"
local distribution = require "fdn.distribution"
local channels = require "fdn.channels"
local json = require "fdn.json"

local M = {}

local type, error, pairs, ipairs, tostring = type, error, pairs, ipairs, tostring

local App = {}
App.__index = App
events.mixin(App)

-- Feathers strips leading and trailing slashes from service paths.
local function normalize(path)
  if type(path) ~= "string" then error("a service path must be a string", 3) end
  path = path:gsub("^/+", ""):gsub("/+$", "")
  if path == "" then error("a service path must not be empty", 3) end
  return path
end
M.normalize = normalize

function M.new()
  return setmetatable({
    services = {},    -- path -> local service
    remotes = {},     -- path -> proxy (filled by distribution)
    order = {},       -- paths in registration order
    settings = {},
    __hooks = hooks.new_store(),
    __distribution = distribution.new(), -- app:distribution's options
    __setup_done = false,
    channels = setmetatable({}, json.array_mt), -- names of the named channels (channels.lua)
    __channels = channels.registry(),
    __publishers = {}, -- event (or channels.ALL) -> publisher
  }, App)
end

function App:use(path, raw, options)
  path = normalize(path)
  if self.services[path] then error("app:use: a service is already registered at '" .. path .. "'", 2) end
  local svc = service.wrap(self, path, raw, options)
  self.services[path] = svc
  self.order[#self.order + 1] = path
  if self.__setup_done and type(raw.setup) == "function" then raw:setup(self, path) end
  if self.__services_changed then self.__services_changed() end
  self:emit("service", svc:describe())
  return self
end

-- Removes a local service (Feathers' app.unuse); runs its teardown.
function App:unuse(path)
  path = normalize(path)
  local svc = self.services[path]
  if not svc then return nil end
  self.services[path] = nil
  for i, p in ipairs(self.order) do
    if p == path then
      table.remove(self.order, i)
      break
    end
  end
  local raw = svc.__raw
  if type(raw.teardown) == "function" then raw:teardown(self, path) end
  if self.__services_changed then self.__services_changed() end
  self:emit("service-removed", svc:describe())
  return svc
end

-- The local service at path, or the proxy of a remote one; nil if neither.
function App:service(path)
  if type(path) ~= "string" then error("app:service: path must be a string", 2) end
  local s = self:local_service(path)
  if s then return s end
  path = path:gsub("^/+", ""):gsub("/+$", "")
  return self:local_service(path) or self.remotes[path]
end

-- The local service at path. While a reload is building the new services,
-- paths it has not registered yet still answer with the running version.
function App:local_service(path)
  local s = self.services[path]
  if s == nil and self.__previous then s = self.__previous[path] end
  return s
end

-- feathers-distributed's options (see distribution.lua).
function App:distribution(opts)
  distribution.configure(self.__distribution, opts)
  if self.__services_changed then self.__services_changed() end
  return self
end

-- Feathers' channels: app:channel(name, ...) and app:publish([event,] fn(data, ctx)).
App.channel = channels.channel
App.publish = channels.register

function App:hooks(spec)
  hooks.register(self.__hooks, spec)
  return self
end

-- Feathers' app.get/app.set for settings.
function App:set(name, value)
  self.settings[name] = value
  return self
end

function App:get(name)
  return self.settings[name]
end

function App:configure(fn)
  fn(self)
  return self
end

-- Calls setup(app, path) on every service, in registration order.
function App:setup()
  if self.__setup_done then return self end
  for _, path in ipairs(self.order) do
    local raw = self.services[path].__raw
    if type(raw.setup) == "function" then raw:setup(self, path) end
  end
  self.__setup_done = true
  return self
end

-- Calls teardown() on every service, in reverse registration order; errors are
-- logged and do not stop the others.
function App:teardown()
  local log = require "fdn.log"
  for i = #self.order, 1, -1 do
    local path = self.order[i]
    local raw = self.services[path].__raw
    if type(raw.teardown) == "function" then
      local ok, err = pcall(raw.teardown, raw, self, path)
      if not ok then log.error("teardown of '" .. path .. "' failed: " .. tostring(err)) end
    end
  end
  self.__setup_done = false
  return self
end

-- Paths of every service the app knows, local first.
function App:paths()
  local out = {}
  for _, p in ipairs(self.order) do out[#out + 1] = p end
  for p in pairs(self.remotes) do
    if not self.services[p] then out[#out + 1] = p end
  end
  return out
end

return M
