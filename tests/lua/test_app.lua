-- test_app.lua: the application: registering services, paths, the methods
-- and events options, settings, unuse.
local t = require "lib.t"
local App = require "fdn.app"

local app = App.new()
local raw = {
  find = function() return {} end,
  get = function(self, id) return { id = id, self_is_raw = self.marker == "raw" } end,
  secret = function() return "hidden" end,
  marker = "raw",
}
app:use("/things/", raw)
t.check(app:service("things") ~= nil, "leading and trailing slashes are stripped")
t.check(app:service("/things") == app:service("things"), "lookup normalizes the path too")
t.check(app:service("nothing") == nil, "an unknown path gives nil")
t.eq(app:service("things"):get(3), { id = 3, self_is_raw = true }, "methods run with self = the service table")
t.check(app:service("things"):exposes("find") and app:service("things"):exposes("get"),
  "standard methods are exposed by default")
t.check(not app:service("things"):exposes("secret"), "an unlisted custom method is not exposed")
t.eq(app:service("things"):secret(), "hidden", "but it stays callable from Lua")
t.check(app:service("things").marker == "raw", "the service's own fields are visible")

local err = t.raises(function() app:use("things", {}) end, "registering a path twice")
t.check(tostring(err):find("already registered", 1, true) ~= nil, "clear message for a duplicate path", tostring(err))
err = t.raises(function() app:use("bad", { find = function() end }, { methods = { "nope" } }) end,
  "listing a method the service lacks")
t.check(tostring(err):find("nope", 1, true) ~= nil, "the message names the method", tostring(err))
t.raises(function() app:use("", {}) end, "an empty path")
t.raises(function() app:use("x", 42) end, "a service that is not a table")

app:use("custom", { create = function(_, data) return data end, run = function(_, data) return { ran = data } end },
  { methods = { "create", "run" }, events = { "ran" } })
local d = app:service("custom"):describe()
t.eq(d, { path = "custom", methods = t.list { "create", "run" }, events = t.list { "ran" } }, "descriptor")
t.check(not app:service("custom"):exposes("find"), "methods option replaces the default list")

app:set("answer", 42)
t.eq(app:get("answer"), 42, "settings")

local removed
app:on("service-removed", function(desc) removed = desc.path end)
local torn = false
app:use("temp", { find = function() return {} end, teardown = function() torn = true end })
app:unuse("temp")
fdn.sleep(1)
t.check(app:service("temp") == nil, "unuse removes the service")
t.check(torn, "unuse runs teardown")
t.eq(removed, "temp", "unuse emits service-removed")

local paths = app:paths()
t.eq(paths, { "things", "custom" }, "paths in registration order")

-- service.call: the one entry of every transport
do
  local service = require "fdn.service"
  local errors = require "fdn.errors"
  local app2 = App.new()
  app2:use("plain", { get = function(_, id) return { id = id } end,
    create = function(_, data) return data end, find = function() error(errors.Conflict("no")) end })
  local svc = app2:service("plain")
  local ok, r, ctx = service.call(svc, "get", 7, nil, { provider = "rest" })
  t.eq({ ok, r, ctx }, { true, { id = 7 } }, "no hook: the result, and no context")
  ok, r = service.call(svc, "find", nil, nil, {})
  t.check(not ok and errors.is(r, "Conflict"), "an error comes back, not raised")
  svc:hooks { before = { create = function(c) c.http.status = 202 end } }
  local seen_id = "unset"
  svc:hooks { before = { create = function(c) seen_id = c.id end } }
  ok, r, ctx = service.call(svc, "create", 9, { a = 1 }, {})
  t.eq({ ok, r, ctx and ctx.http.status }, { true, { a = 1 }, 202 }, "with hooks: the context, for ctx.http")
  t.eq(seen_id, nil, "create takes no id: its context has none")
  t.eq({ service.shape("find"), service.shape("get"), service.shape("patch"), service.shape("create"),
    service.shape("resetPassword") }, { "params", "id", "id_data", "data", "data" }, "the argument shapes")
end

return t.done()
