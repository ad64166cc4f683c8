-- service.lua: a Feathers service around a user's service table: hooked
-- methods, the per-method compiled hook chain, standard events, the emitter.
local hooks = require "fdn.hooks"
local events = require "fdn.events"
local errors = require "fdn.errors"
local json = require "fdn.json"
local channels = require "fdn.channels"
-- the node's counters (metrics.h): a series per (path, method) made when a chain is compiled
local metrics = require "fdn.core.metrics"

local M = {}

local type, pairs, ipairs, setmetatable, error, xpcall, tostring =
  type, pairs, ipairs, setmetatable, error, xpcall, tostring
local array_mt = json.array_mt
local traceback = debug.traceback
local series, clock, served, count, timed = metrics.series, metrics.clock, metrics.served, metrics.count, metrics.timed

M.STANDARD = { "find", "get", "create", "update", "patch", "remove" }
local STANDARD = {}
for _, m in ipairs(M.STANDARD) do STANDARD[m] = true end
M.is_standard = STANDARD

local EVENT_OF = { create = "created", update = "updated", patch = "patched", remove = "removed" }
M.EVENT_OF = EVENT_OF
local STANDARD_EVENT = {}
for _, e in pairs(EVENT_OF) do STANDARD_EVENT[e] = true end
local RESERVED = { hooks = true, on = true, once = true, off = true, emit = true, setup = true,
  teardown = true, listeners = true, migrate = true, publish = true }

-- Feathers' argument shapes (its defaultServiceArguments), the one table of them: which of
-- id and data a method takes before params. "params": find(params); "id": get/remove(id,
-- params); "id_data": update/patch(id, data, params); "data": create and every custom
-- method (data, params). Every place that maps (id, data, params) onto a method's own
-- arguments, or back, switches on M.shape(method).
local SHAPE = { find = "params", get = "id", remove = "id", update = "id_data", patch = "id_data", create = "data" }
local function shape(method)
  return SHAPE[method] or "data"
end
M.shape = shape
local HAS_ID = { get = true, update = true, patch = true, remove = true } -- (a context's id)

-- What was thrown, for the log: a string as it is; another value with its type, its
-- tostring (which may be a heap address, or raise) and, for a table, its JSON.
local function describe(err)
  local t = type(err)
  if t == "string" then return err end
  local ok, s = pcall(tostring, err)
  s = "a " .. t .. " was thrown, not an error: " .. (ok and type(s) == "string" and s or "?")
  local text = t == "table" and json.encode(err)
  if text then s = s .. " " .. (#text > 200 and text:sub(1, 200) .. "..." or text) end
  return s
end

-- Turns anything thrown inside a call into an fdn error object. A plain Lua
-- error is a bug in service code: it is logged here, once, with its traceback
-- (the caller gets GeneralError with a message fit for clients: errors.from).
local function catch(err)
  if errors.is(err) then return err end
  local tb = traceback(describe(err), 2)
  require("fdn.log").error("error in service code: " .. tb)
  return errors.from(err, tb)
end
M.catch = catch

local is_list = json.is_array

-- The service object: hooked methods and the emitter on top of the user's
-- table. Reads fall through to that table; writes go to it (self.count = 1
-- inside a method changes the user's table, which is what migrate sees).
local Service = {}
Service.__index = function(self, k)
  local v = Service[k]
  if v ~= nil then return v end
  return self.__raw[k]
end
Service.__newindex = function(self, k, v)
  self.__raw[k] = v
end
events.mixin(Service)

-- A local service's events also go to the nodes that subscribed to them
-- (app.__publish is installed by serve.lua); a direct service's (a proxy's) stay local:
-- they came from its source. Both go to the gateway's sockets its channels choose
-- (app.__sockets, installed by socket.lua; remote.lua calls it for a proxy's events).
local emit_local = events.emit
function Service:emit(event, ...)
  local counted = self.__counted -- event -> its series (a local service's: a proxy's came from its source)
  if counted then
    local n = counted[event]
    if not n then
      n = series("event", self.__path, tostring(event))
      counted[event] = n
    end
    count(n, true)
  end
  local all, had = self.__listeners, false
  if all and all[event] then had = emit_local(self, event, ...) end
  local app = self.__app
  local publish = not self.__direct and app.__publish
  if publish then publish(self, event, ...) end
  local sockets = app.__sockets
  if sockets then sockets(self, event, ...) end
  return had
end

-- Runs the raw method for the context, unless a before hook set ctx.result.
-- As `this` in Feathers, `self` is the service: its own fields and methods,
-- with the hooked methods and emit/on on top (self:get goes through hooks).
local function method_caller(method)
  local how = shape(method)
  if how == "params" then
    return function(ctx)
      if ctx.result == nil then
        local svc = ctx.service
        ctx.result = svc.__raw[method](svc, ctx.params)
      end
    end
  elseif how == "id_data" then
    return function(ctx)
      if ctx.result == nil then
        local svc = ctx.service
        ctx.result = svc.__raw[method](svc, ctx.id, ctx.data, ctx.params)
      end
    end
  elseif how == "id" then
    return function(ctx)
      if ctx.result == nil then
        local svc = ctx.service
        ctx.result = svc.__raw[method](svc, ctx.id, ctx.params)
      end
    end
  else
    return function(ctx)
      if ctx.result == nil then
        local svc = ctx.service
        ctx.result = svc.__raw[method](svc, ctx.data, ctx.params)
      end
    end
  end
end

-- fn(self, id, data, params) with a method's own arguments: function(self, <its arguments>).
-- (Specialised per shape: a generic spread would cost a call per call.)
local function spread(method, fn)
  local how = shape(method)
  if how == "params" then
    return function(self, params) return fn(self, nil, nil, params) end
  elseif how == "id_data" then
    return function(self, id, data, params) return fn(self, id, data, params) end
  elseif how == "id" then
    return function(self, id, params) return fn(self, id, nil, params) end
  end
  return function(self, data, params) return fn(self, nil, data, params) end
end
M.spread = spread

-- How a method with no hook at all is called: the raw method with the arguments
-- it takes, from (self, id, data, params).
local function bare_caller(method)
  local how = shape(method)
  if how == "params" then
    return function(svc, _, _, params) return svc.__raw[method](svc, params) end
  elseif how == "id_data" then
    return function(svc, id, data, params) return svc.__raw[method](svc, id, data, params) end
  elseif how == "id" then
    return function(svc, id, _, params) return svc.__raw[method](svc, id, params) end
  end
  return function(svc, _, data, params) return svc.__raw[method](svc, data, params) end
end

-- What a method runs, compiled once per hook epoch (hooks.epoch): fn, its hook chain; bare,
-- the raw method's caller when no hook applies (else nil); quiet, true when there is no hook
-- and no event for this service to send, so nothing could ever see a context.
local function compiled(self, method)
  local c = self.__chains[method]
  if c and c.epoch == hooks.epoch then return c end
  local caller = method_caller(method)
  local fn = hooks.compile(self.__app.__hooks, self.__hooks, method, caller, catch, self.__hooked[method] ~= nil)
  local bare = fn == caller and bare_caller(method) or nil
  local ev = EVENT_OF[method]
  c = { epoch = hooks.epoch, fn = fn, bare = bare, quiet = bare ~= nil and (ev == nil or self.__own_events[ev]),
    series = not self.__direct and series("served", self.__path, method) or 0 } -- (a proxy's: remote.lua)
  self.__chains[method] = c
  return c
end

local function new_context(self, method, id, data, params)
  if params == nil then params = {} end
  return {
    app = self.__app, service = self, self = self, path = self.__path, method = method,
    type = "around", params = params, id = HAS_ID[method] and id or nil, data = data, event = EVENT_OF[method],
    http = {}, arguments = nil,
  }
end

-- Sends the standard event once per item when the call succeeded.
local function send_event(self, ctx)
  local ev = ctx.event
  if type(ev) ~= "string" or self.__own_events[ev] then return end
  local result = ctx.result
  if is_list(result) then
    for i = 1, #result do self:emit(ev, result[i], ctx) end
  else
    self:emit(ev, result, ctx)
  end
end

-- Runs a method call through its hooks; never throws: returns ok, ctx
-- (ctx.error set on failure). Standard events go out after a success.
local function try(self, method, id, data, params)
  local ctx = new_context(self, method, id, data, params)
  local ok, err = xpcall(compiled(self, method).fn, catch, ctx)
  if not ok then
    ctx.error = err
    return false, ctx
  end
  if ctx.event then send_event(self, ctx) end
  return true, ctx
end

-- The one entry of every transport (REST, RPC from other nodes, `fdnode call`, and the
-- transports to come): runs svc's method with (id, data, params), as the method's shape
-- takes them, through its hooks. Never throws: returns true, result, ctx or false, err (an
-- fdn error, logged once with its traceback when it was a plain Lua error). ctx is the
-- hook context, for what a transport reads back from it (ctx.http); it is nil when
-- nothing could see one (no hook, no event to send: the raw method ran under xpcall
-- alone). A direct service's (a proxy's) calls go straight to its one call function, with
-- the same arguments (nil params taken as none).
local function call(self, method, id, data, params)
  local c = compiled(self, method)
  if c.quiet then
    local direct = self.__direct
    if direct then return xpcall(direct, catch, self.__path, method, id, data, params) end
    return timed(c.series, c.bare, catch, self, id, data, params == nil and {} or params) -- (xpcall, counted)
  end
  local t0 = clock()
  local ok, ctx = try(self, method, id, data, params)
  if ok then
    served(c.series, t0, true)
    return true, ctx.result, ctx
  end
  served(c.series, t0, false, ctx.error)
  return false, ctx.error
end
M.call = call

function Service:hooks(spec)
  hooks.register(self.__hooks, spec, self.__hooked)
  return self
end

-- Feathers' service:publish([event,] fn(data, ctx)): this service's publishers (channels.lua),
-- for its standard events and the custom events it lists.
function Service:publish(event, fn)
  return channels.register(self, event, fn, function(ev)
    if not (STANDARD_EVENT[ev] or self.__own_events[ev]) then
      error("publish: '" .. ev .. "' is not an event of '" .. self.__path .. "'", 3)
    end
  end)
end

-- Methods callable from outside (REST, other nodes): the `methods` option.
function Service:exposes(method)
  return self.__methods[method] == true
end

function Service:describe()
  local methods, evs = setmetatable({}, array_mt), setmetatable({}, array_mt)
  for _, m in ipairs(self.__method_list) do methods[#methods + 1] = m end
  for _, e in ipairs(self.__event_list) do evs[#evs + 1] = e end
  return { path = self.__path, methods = methods, events = evs }
end

-- A hooked method called from Lua: call, raising the error.
local function invoke(self, method, id, data, params)
  local ok, r = call(self, method, id, data, params)
  if ok then return r end
  error(r, 0)
end

-- The methods. A quiet direct service's (a proxy's) method is its call function itself,
-- made at once with no pcall around it (a proxy's remote call raises fdn errors only). The
-- check is written out per shape rather than through spread(): the extra call would cost
-- about a third of what the shortcut saves (measured with callgrind).
local function make_method(method)
  local how = shape(method)
  if how == "params" then
    return function(self, params)
      local rc, c = self.__direct, self.__chains[method]
      if rc and c and c.quiet and c.epoch == hooks.epoch then
        return rc(self.__path, method, nil, nil, params)
      end
      return invoke(self, method, nil, nil, params)
    end
  elseif how == "id_data" then
    return function(self, id, data, params)
      local rc, c = self.__direct, self.__chains[method]
      if rc and c and c.quiet and c.epoch == hooks.epoch then
        return rc(self.__path, method, id, data, params)
      end
      return invoke(self, method, id, data, params)
    end
  elseif how == "id" then
    return function(self, id, params)
      local rc, c = self.__direct, self.__chains[method]
      if rc and c and c.quiet and c.epoch == hooks.epoch then
        return rc(self.__path, method, id, nil, params)
      end
      return invoke(self, method, id, nil, params)
    end
  end
  return function(self, data, params)
    local rc, c = self.__direct, self.__chains[method]
    if rc and c and c.quiet and c.epoch == hooks.epoch then
      return rc(self.__path, method, nil, data, params)
    end
    return invoke(self, method, nil, data, params)
  end
end

-- Wraps a raw service table. options.methods lists what is exposed (default:
-- the standard methods it has); options.events lists its custom events. options.direct,
-- a function (path, method, id, data, params), makes a direct service (what a proxy is):
-- every listed method is that one function (raw may be empty), called straight, with no
-- argument mapping, when no hook applies; its events are its source's, so it publishes none.
function M.wrap(app, path, raw, options)
  if type(raw) ~= "table" then error("app:use: the service for '" .. path .. "' must be a table", 3) end
  options = options or {}
  local direct = options.direct
  if direct then
    for _, m in ipairs(options.methods or {}) do
      if type(m) == "string" then
        raw[m] = spread(m, function(_, id, data, params) return direct(path, m, id, data, params) end)
      end
    end
  end
  local methods, method_list = {}, {}
  if options.methods ~= nil then
    if type(options.methods) ~= "table" then error("app:use: methods must be a list of names", 3) end
    for _, m in ipairs(options.methods) do
      if type(raw[m]) ~= "function" then
        error("app:use: method '" .. tostring(m) .. "' of '" .. path .. "' is not a function", 3)
      end
      if RESERVED[m] then error("app:use: '" .. m .. "' is a reserved name, not a method", 3) end
      if not methods[m] then
        methods[m] = true
        method_list[#method_list + 1] = m
      end
    end
  else
    for _, m in ipairs(M.STANDARD) do
      if type(raw[m]) == "function" then
        methods[m] = true
        method_list[#method_list + 1] = m
      end
    end
  end
  local own_events, event_list = {}, {}
  for _, e in ipairs(options.events or {}) do
    own_events[e] = true
    event_list[#event_list + 1] = e
  end
  local svc = setmetatable({
    __raw = raw, __app = app, __path = path, __hooks = hooks.new_store(), __chains = {},
    __methods = methods, __method_list = method_list, __own_events = own_events,
    __event_list = event_list, __hooked = {}, __options = options, __listeners = false,
    __direct = options.direct or false, __publishers = false, __counted = not options.direct and {},
  }, Service)
  -- Hooked methods: the standard ones the service has, and every listed one.
  for _, m in ipairs(M.STANDARD) do
    if type(raw[m]) == "function" then svc.__hooked[m] = true end
  end
  for m in pairs(methods) do svc.__hooked[m] = true end
  for m in pairs(svc.__hooked) do rawset(svc, m, make_method(m)) end
  return svc
end


return M
