-- test_hooks.lua: Feathers hook semantics: order (app around → app before →
-- service around → service before → method → service after → app after),
-- all/per-method, context fields, skipping with ctx.result, error hooks.
local t = require "lib.t"
local App = require "fdn.app"
local errors = require "fdn.errors"

local function recorder()
  local log = {}
  local function mark(name) return function(ctx) log[#log + 1] = name end end
  local function around(name)
    return function(ctx, next)
      log[#log + 1] = name .. ">"
      next()
      log[#log + 1] = "<" .. name
    end
  end
  return log, mark, around
end

-- order
do
  local app = App.new()
  local log, mark, around = recorder()
  app:use("s", { get = function(self, id) log[#log + 1] = "method"; return { id = id } end })
  app:hooks {
    around = { all = { around("appAroundAll") }, get = { around("appAroundGet") } },
    before = { all = { mark("appBeforeAll") }, get = { mark("appBeforeGet") } },
    after = { all = { mark("appAfterAll") }, get = { mark("appAfterGet") } },
  }
  app:service("s"):hooks {
    around = { all = { around("svcAround") } },
    before = { all = { mark("svcBeforeAll") }, get = { mark("svcBeforeGet1"), mark("svcBeforeGet2") } },
    after = { all = mark("svcAfterAll"), get = { mark("svcAfterGet") } },
  }
  local r = app:service("s"):get(1)
  t.eq(r, { id = 1 }, "result passes through hooks")
  t.eq(log, {
    "appAroundAll>", "appAroundGet>", "appBeforeAll", "appBeforeGet",
    "svcAround>", "svcBeforeAll", "svcBeforeGet1", "svcBeforeGet2",
    "method",
    "svcAfterAll", "svcAfterGet", "<svcAround",
    "appAfterAll", "appAfterGet", "<appAroundGet", "<appAroundAll",
  }, "Feathers hook order")
end

-- context fields, each method's arguments, params, type
do
  local app = App.new()
  local seen = {}
  local svc = {
    find = function(self, params) return { "found" } end,
    get = function(self, id, params) return { id = id } end,
    create = function(self, data, params) return data end,
    update = function(self, id, data, params) return { id = id, data = data } end,
    patch = function(self, id, data, params) return { id = id, data = data } end,
    remove = function(self, id, params) return { id = id } end,
    shout = function(self, data, params) return { said = data.text:upper() } end,
  }
  app:use("m", svc, { methods = { "find", "get", "create", "update", "patch", "remove", "shout" } })
  app:service("m"):hooks {
    before = { all = { function(ctx)
      seen[ctx.method] = { app = ctx.app == app, service = ctx.service == app:service("m"),
        path = ctx.path, type = ctx.type, id = ctx.id, data = ctx.data, params = ctx.params }
    end } },
    after = { all = { function(ctx)
      seen[ctx.method].after_type = ctx.type
      seen[ctx.method].result = ctx.result
    end } },
  }
  local m = app:service("m")
  m:find({ query = { a = 1 } })
  m:get(7, { user = "u" })
  m:create({ x = 1 })
  m:update(3, { y = 2 })
  m:patch(4, { z = 3 })
  m:remove(5)
  local r = m:shout({ text = "hi" })
  t.eq(r, { said = "HI" }, "custom method runs")
  t.eq(seen.find.params, { query = { a = 1 } }, "find: params")
  t.check(seen.find.app and seen.find.service, "ctx.app and ctx.service")
  t.eq(seen.find.path, "m", "ctx.path")
  t.eq(seen.find.type, "before", "ctx.type in a before hook")
  t.eq(seen.find.after_type, "after", "ctx.type in an after hook")
  t.eq(seen.get.id, 7, "get: ctx.id")
  t.eq(seen.get.params.user, "u", "get: params")
  t.eq(seen.create.data, { x = 1 }, "create: ctx.data")
  t.eq({ seen.update.id, seen.update.data }, { 3, { y = 2 } }, "update: id and data")
  t.eq({ seen.patch.id, seen.patch.data }, { 4, { z = 3 } }, "patch: id and data")
  t.eq(seen.remove.id, 5, "remove: id")
  t.eq(seen.shout.data, { text = "hi" }, "custom method: ctx.data")
  t.eq(seen.shout.result, { said = "HI" }, "custom method: ctx.result in after hook")
  t.check(seen.remove.params ~= nil, "params defaults to a table")
end

-- ctx.result in a before hook skips the method; after hooks still run
do
  local app = App.new()
  local called, after = false, false
  app:use("c", { get = function() called = true; return { real = true } end })
  app:service("c"):hooks {
    before = { get = function(ctx) ctx.result = { cached = true } end },
    after = { get = function(ctx) after = true end },
  }
  t.eq(app:service("c"):get(1), { cached = true }, "before hook result is the result")
  t.check(not called, "the method was skipped")
  t.check(after, "after hooks still ran")
end

-- a hook may modify data and result; a returned table is merged into ctx
do
  local app = App.new()
  app:use("d", { create = function(self, data) return data end })
  app:service("d"):hooks {
    before = { create = { function(ctx) ctx.data.stamp = 1 end,
      function(ctx) return { data = { replaced = true, stamp = ctx.data.stamp } } end } },
    after = { create = function(ctx) ctx.result.after = true end },
  }
  t.eq(app:service("d"):create({ a = 1 }), { replaced = true, stamp = 1, after = true },
    "hooks change data and result; returned table merges into ctx")
end

-- error hooks: see the error, replace it, or recover with a result
do
  local app = App.new()
  local seen
  app:use("e", {
    get = function(self, id)
      if id == "bug" then return (nil).y end -- a plain Lua error
      error(errors.NotFound("nope " .. id))
    end,
  })
  app:service("e"):hooks {
    error = { get = function(ctx)
      seen = { type = ctx.type, name = ctx.error.name, original = ctx.original ~= nil }
      if ctx.id == "replace" then ctx.error = errors.Forbidden("replaced") end
      if ctx.id == "recover" then ctx.result = { recovered = true } end
    end },
  }
  local e = app:service("e")
  local err = t.raises(function() e:get("x") end, "error passes through error hooks")
  t.eq({ err.name, err.message, err.code }, { "NotFound", "nope x", 404 }, "error keeps its class")
  t.eq(seen, { type = "error", name = "NotFound", original = true }, "error hook sees ctx.error, type, original")
  err = t.raises(function() e:get("replace") end, "replaced error")
  t.eq(err.name, "Forbidden", "an error hook can replace the error")
  t.eq(e:get("recover"), { recovered = true }, "an error hook can set a result")
  err = t.raises(function() e:get("bug") end, "runtime error")
  t.eq({ err.name, err.code }, { "GeneralError", 500 }, "a Lua runtime error becomes GeneralError")
  t.check(tostring(err.message):find("attempt to index") ~= nil, "GeneralError keeps the Lua message", err.message)
  t.eq(seen.name, "GeneralError", "error hooks see GeneralError for runtime errors")
end

-- an error in a before hook skips the method and reaches app error hooks
do
  local app = App.new()
  local called, app_error = false, nil
  app:use("b", { create = function() called = true end })
  app:service("b"):hooks { before = { create = function() error(errors.BadRequest("bad")) end } }
  app:hooks { error = { all = function(ctx) app_error = ctx.error.name end } }
  t.raises(function() app:service("b"):create({}) end, "before hook error")
  t.check(not called, "method skipped after a before hook error")
  t.eq(app_error, "BadRequest", "app error hook saw the service's error")
end

-- hooks registered in the short forms
do
  local app = App.new()
  local log = {}
  app:use("f", { find = function() log[#log + 1] = "find"; return {} end })
  app:service("f"):hooks { function(ctx, next) log[#log + 1] = "a1"; next() end }
  app:service("f"):hooks { find = { function(ctx, next) log[#log + 1] = "a2"; next() end } }
  app:service("f"):hooks { before = function(ctx) log[#log + 1] = "b" end }
  app:service("f"):find()
  t.eq(log, { "a1", "a2", "b", "find" }, "list of around hooks, around by method, single before function")
  t.raises(function() app:service("f"):hooks { [1.5] = {} } end, "bad hook type")
end

-- around hook can short-circuit by not calling next, and see the result
do
  local app = App.new()
  app:use("g", { get = function() return { real = true } end })
  app:service("g"):hooks { around = { get = function(ctx, next)
    if ctx.id == 0 then ctx.result = { short = true }; return end
    next()
    ctx.result.wrapped = true
  end } }
  t.eq(app:service("g"):get(0), { short = true }, "around hook short-circuits")
  t.eq(app:service("g"):get(1), { real = true, wrapped = true }, "around hook sees and changes the result")
end

-- a service calls another service, and hooks may yield (sleep)
do
  local app = App.new()
  app:use("inner", { get = function(self, id) fdn.sleep(5); return { id = id, inner = true } end })
  app:use("outer", { get = function(self, id) return { from = app:service("inner"):get(id) } end })
  app:service("outer"):hooks { before = function(ctx) fdn.sleep(1) end }
  t.eq(app:service("outer"):get(3), { from = { id = 3, inner = true } }, "a service calls another; hooks may sleep")
end

-- setup and teardown
do
  local app = App.new()
  local calls = {}
  app:use("x", { setup = function(self, a, path) calls[#calls + 1] = "setup " .. path end,
    teardown = function(self) calls[#calls + 1] = "teardown" end, find = function() return {} end })
  app:setup()
  app:teardown()
  t.eq(calls, { "setup x", "teardown" }, "setup(app, path) and teardown() are called")
end

-- a misspelt hook type or method is refused, naming it (Feathers refuses it too)
do
  local app = App.new()
  app:use("m", { find = function() return {} end, create = function(_, d) return d end })
  local svc = app:service("m")
  local function refused(spec, needle, name)
    local ok, err = pcall(svc.hooks, svc, spec)
    t.check(not ok and tostring(err):find(needle, 1, true) ~= nil, name, tostring(err))
  end
  refused({ bfore = { create = function() end } }, "'bfore' is not a hook type", "a misspelt type")
  refused({ before = { crate = function() end } }, "'crate' is not a method of this service",
    "a misspelt method")
  refused({ before = { create = { a = 1 } } }, "hooks must be a function or a list", "a map where a list goes")
  refused({ remove = { function() end } }, "'remove' is not a hook type", "around hooks of a method it lacks")
  local ok, err = pcall(app.hooks, app, { bfore = { create = function() end } })
  t.check(not ok and tostring(err):find("'bfore' is not a hook type", 1, true) ~= nil, "app hooks too", tostring(err))
  t.check(pcall(svc.hooks, svc, { find = { function(_, nxt) nxt() end } }), "around hooks by method still work")
  t.check(pcall(app.hooks, app, { before = { anything = function() end } }),
    "app hooks may name any method (they apply to every service)")
end

return t.done()
