-- test_reload.lua: scripts loaded and reloaded in place (the node's reload instance over
-- fakes): a good reload swaps services and takes state over (migrate); a failing one (load,
-- configure, setup) keeps the running version; --watch reloads on a file change.
local t = require "lib.t"
local fake = require "lib.fake"
local log = require "fdn.log"

local script = os.tmpname()
local function write(text)
  local f = assert(io.open(script, "w"))
  f:write(text)
  f:close()
end

-- a script serving `s`, whose get answers its version and a count taken over by migrate
local function version(v, extra)
  return ([[
return function(app)
  app:use("s", {
    n = 0,
    get = function(self) self.n = self.n + 1; return { v = %d, n = self.n } end,
    migrate = function(self, old) self.n = old.n end,
    %s
  })
end
]]):format(v, extra or "")
end

local watched = {}
local watch = { clear = function() watched = {} end, add = function(f) watched[#watched + 1] = f end }
local app = require("fdn.app").new()
local node = fake.node { app = app, watch = watch }
local reload = node.reload
local changed = 0
app.__services_changed = function() changed = changed + 1 end

write(version(1))
t.check(reload.boot({ script }), "boot loads the script")
app:setup()
changed = 0
local s = app:service("s")
t.eq(s:get(), { v = 1, n = 1 }, "version 1 serves")

-- errors are logged, not raised
local logged = {}
local log_error = log.error
log.error = function(msg) logged[#logged + 1] = msg end
local function failing(text, what)
  write(text)
  logged = {}
  local before = changed
  reload.reload({ [script] = true })
  t.eq(app:service("s"):get().v, 1, what .. ": the old service still answers")
  t.eq(changed, before, what .. ": the service table did not change")
  t.check(#logged == 1 and logged[1]:find("reload failed", 1, true), what .. ": logged", logged[1])
end
failing("return function(app) app:use(", "a syntax error")
failing("return function(app) error('boom') end", "a configure that raises")
failing("return 42", "a script that returns no function")
failing(version(2, "setup = function() error('no setup') end,"), "a setup that raises")
log.error = log_error

-- a good reload: new services, state taken over, the table announced
write(version(3))
reload.reload({ [script] = true })
t.eq(app:service("s"):get(), { v = 3, n = 6 }, "version 3 serves, with the count migrated")
t.eq(changed, 1, "the service table changed once")

-- a change to a file the script does not depend on reloads nothing
reload.reload({ ["/nowhere.lua"] = true })
t.eq(changed, 1, "an unrelated change reloads nothing")

-- --watch: the script's files are watched; a change event reloads
reload.watch()
t.eq(watched, { script }, "watch: the script is watched")
write(version(4))
node.handled.watch({ script })
t.eq(app:service("s"):get().v, 4, "a watch event reloads")

os.remove(script)
return t.done()
