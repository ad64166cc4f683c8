-- test_config.lua: fdn.config, the configuration folder as node-config reads it: the deep merge,
-- the FDN_ENV (NODE_ENV) overlay, custom-environment-variables.json (__name/__format), missing
-- files, and errors with file:line:col. Files go to a temporary folder, removed at the end.
local t = require "lib.t"
local config = require "fdn.config"
local json = require "fdn.json"

local list = t.list

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p '" .. dir .. "'"))
local made = {}
local function write(name, text)
  local path = dir .. "/" .. name
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
  made[path] = true
end
local function remove(name)
  os.remove(dir .. "/" .. name)
  made[dir .. "/" .. name] = nil
end
local function env(vars) return function(name) return vars[name] end end

-- merge: objects key by key, arrays and scalars replace, null removes
do
  local into = { a = 1, o = { x = 1, y = { z = 1 } }, arr = list { 1, 2, 3 }, s = "k", gone = 1 }
  config.merge(into, { o = { y = { w = 2 } }, arr = list { 9 }, s = { now = "object" }, gone = json.null,
    n = { inner = json.null, keep = 0 } })
  t.eq(into, { a = 1, o = { x = 1, y = { z = 1, w = 2 } }, arr = list { 9 }, s = { now = "object" },
    n = { keep = 0 } }, "merge: objects deep, arrays and scalars replace, null removes the key")
  local o = { arr = list { 1 } }
  config.merge(o, { arr = { k = 1 } })
  t.eq(o.arr, { k = 1 }, "merge: an object replaces an array")
  local nulls = config.merge({}, { l = list { 1, json.null } })
  t.check(nulls.l[2] == json.null, "merge: a null inside an array stays fdn.json.null")
end

-- no folder, no files: no settings
t.eq(config.load(dir .. "/none", env {}), {}, "a missing folder: no settings")
t.eq(config.load(dir, env {}), {}, "an empty folder: no settings")

-- default.json, the overlay, the deployment's name
write("default.json", '{"port": 3030, "host": "localhost", "paginate": {"default": 10, "max": 50},\n'
  .. ' "origins": ["http://a"], "nothing": null}')
write("production.json", '{"host": "prod.example", "paginate": {"max": 100}, "origins": []}')
t.eq(config.load(dir, env {}), { port = 3030, host = "localhost", paginate = { default = 10, max = 50 },
  origins = list { "http://a" } }, "default.json alone (null: not set)")
t.eq(config.load(dir, env { FDN_ENV = "production" }), { port = 3030, host = "prod.example",
  paginate = { default = 10, max = 100 }, origins = list {} }, "FDN_ENV=production: deep-merged overlay")
t.eq(config.load(dir, env { NODE_ENV = "production" }).host, "prod.example", "NODE_ENV when FDN_ENV is not set")
t.eq(config.load(dir, env { FDN_ENV = "staging", NODE_ENV = "production" }).host, "localhost",
  "FDN_ENV wins over NODE_ENV; an overlay that is not there is fine")
local _, bad = config.load(dir, env { FDN_ENV = "../etc/x" })
t.check(bad and bad:find("FDN_ENV: '../etc/x' is not a configuration name", 1, true), "a name with a / is refused",
  tostring(bad))
remove("default.json")
t.eq(config.load(dir, env { FDN_ENV = "production" }), { host = "prod.example", paginate = { max = 100 },
  origins = list {} }, "no default.json but an overlay: the overlay alone")

-- custom-environment-variables.json
write("default.json", '{"port": 3030, "host": "localhost", "authentication": {"secret": "dev", "n": 1}}')
write("custom-environment-variables.json", [[{
  "port": {"__name": "PORT", "__format": "number"},
  "host": "HOSTNAME",
  "authentication": {"secret": "FEATHERS_SECRET", "jwtOptions": {"__name": "JWT", "__format": "json"}},
  "flag": {"__name": "FLAG", "__format": "boolean"},
  "plain": {"__name": "PLAIN"}
}]])
t.eq(config.load(dir, env {}), { port = 3030, host = "localhost", authentication = { secret = "dev", n = 1 } },
  "variables not set leave the values alone")
t.eq(config.load(dir, env { HOSTNAME = "", PORT = "" }).host, "localhost", "an empty variable leaves it alone")
local s = config.load(dir, env { PORT = "8080", HOSTNAME = "h", FEATHERS_SECRET = "shh", FLAG = "false",
  JWT = '{"audience": "a", "expiresIn": "1d", "list": [1, null], "x": null}', PLAIN = "p" })
t.eq(s, { port = 8080, host = "h", flag = false, plain = "p", authentication = { secret = "shh", n = 1,
  jwtOptions = { audience = "a", expiresIn = "1d", list = list { 1, json.null } } } },
  "mapped variables: strings, number, boolean, json (merged into the object), __name alone")
t.check(math.type(s.port) == "integer", "number: 8080 is an integer")
t.eq(config.load(dir, env { JWT = "null" }).authentication, { secret = "dev", n = 1 },
  "json null leaves the value alone (node-config)")
local function fails(vars, want, label)
  local v, err = config.load(dir, env(vars))
  t.check(v == nil and err and err:find(want, 1, true), label, tostring(err))
end
local cev = dir .. "/custom-environment-variables.json"
fails({ PORT = "80x" }, cev .. ": port: environment variable PORT (number): not a number", "a number that is not")
fails({ FLAG = "yes" }, "FLAG (boolean): not true or false", "a boolean that is not")
fails({ JWT = '{"a":' }, "JWT (json): unexpected end of input at 6", "malformed json in a variable")
write("custom-environment-variables.json", '{"a": {"__name": "A", "__format": "yaml"}}')
fails({}, cev .. ": a: unknown __format 'yaml'", "an unknown __format is an error (node-config ignores it)")
write("custom-environment-variables.json", '{"a": {"b": 5}}')
fails({}, cev .. ": a.b: a leaf must be", "a leaf that is not a name")
remove("custom-environment-variables.json")

-- malformed files: file:line:col
write("default.json", '{\n  "a": 1,\n  "b": tru\n}')
fails({}, dir .. "/default.json:3:8: invalid literal", "bad literal: line 3, column 8")
write("default.json", '{"a": 1}\n\n  x')
fails({}, dir .. "/default.json:3:3: trailing characters", "trailing characters: line 3")
write("default.json", '{"a": [1,\n')
fails({}, dir .. "/default.json:2:1: unexpected end of input", "end of input: after the last line")
write("default.json", '[1, 2]')
fails({}, dir .. "/default.json: not a JSON object at the top", "an array at the top")
write("default.json", '"x"')
fails({}, "not a JSON object at the top", "a string at the top")
write("default.json", '{}')
write("production.json", '{"a": }')
fails({ FDN_ENV = "production" }, dir .. "/production.json:1:7: unexpected character", "the overlay's error")
write("custom-environment-variables.json", '{"a": "A",}')
fails({}, dir .. "/custom-environment-variables.json:1:11", "the mapping's error")
remove("custom-environment-variables.json")
remove("production.json")
os.remove(dir .. "/default.json")
made[dir .. "/default.json"] = nil
assert(os.execute("mkdir '" .. dir .. "/default.json'"))
local v, derr = config.load(dir, env {})
t.check(v == nil and derr and derr:find("default.json", 1, true), "a folder named default.json: an error",
  tostring(derr))
os.remove(dir .. "/default.json")

-- where the folder is; apply sets every setting on the app
t.eq(config.dir(nil, "examples/chat/app.lua"), "examples/chat/config", "config/ beside the first script")
t.eq(config.dir(nil, "app.lua"), "config", "a script in the working directory")
t.eq(config.dir(nil, "/app.lua"), "/config", "a script at the root")
t.eq(config.dir("conf", "x/app.lua"), "conf", "--config DIR wins")
write("default.json", '{"name": "n", "nested": {"k": true}}')
local app = require("fdn.app").new()
app:set("name", "before")
t.check(config.apply(app, dir, env {}), "apply")
t.eq({ app:get("name"), app:get("nested") }, { "n", { k = true } }, "apply: app:get sees the settings")

for path in pairs(made) do os.remove(path) end
os.remove(dir)
t.check(io.open(dir) == nil, "the temporary folder is gone")
return t.done()
