-- test_authentication.lua: fdn.authentication's Feathers semantics: the service's create/remove
-- answers and messages, settings errors, expiresIn, the hooks authenticate/hashPassword/protect,
-- login/logout events, the local strategy's one answer for every failure, a socket's connection.
local t = require "lib.t"
local App = require "fdn.app"
local auth = require "fdn.authentication"
local memory = require "fdn.memory"
local jwt = require "fdn.core.jwt"
local json = require "fdn.json"
local sched = require "fdn.sched"
local service = require "fdn.authentication.service"
local call = require("fdn.service").call

local SECRET = "a test secret that is long enough to be a key"

local function settings(over)
  local s = { entity = "user", service = "users", secret = SECRET, authStrategies = { "jwt", "local" },
    ["local"] = { usernameField = "email", passwordField = "password", hashSize = 4 } }
  for k, v in pairs(over or {}) do s[k] = v end
  return s
end

-- An app as the fixture makes it: users (hashed, protected, find/get guarded) and the service.
local queries = {}
local function make_app(over)
  local app = App.new()
  app:set("authentication", settings(over))
  app:use("users", memory.new {})
  app:service("users"):hooks {
    before = { find = { function(ctx) queries[#queries + 1] = ctx.params.query end, auth.authenticate("jwt") },
      get = { auth.authenticate("jwt") }, create = { auth.hashPassword("password") } },
    after = { all = { auth.protect("password") } },
  }
  local svc = auth.service(app)
  svc:register("jwt", auth.jwt())
  svc:register("local", auth["local"]())
  app:use("authentication", svc)
  return app, svc
end

local function message(fn)
  local ok, e = pcall(fn)
  if ok then return "no error" end
  return type(e) == "table" and (e.name .. ": " .. tostring(e.message)) or tostring(e)
end

local app, svc = make_app()
local users, authentication = app:service("users"), app:service("authentication")
local alice = users:create { email = "alice@example.com", password = "wonderland" }
t.check(alice.password:match "^%$2b%$04%$", "an internal create keeps the hash (cost hashSize)", alice.password)

-- settings errors
local function settings_error(over, drop)
  local a = App.new()
  local s = settings(over)
  for _, k in ipairs(drop or {}) do s[k] = nil end
  a:set("authentication", s)
  local ok, e = pcall(auth.service, a)
  return ok and "no error" or tostring(e)
end
t.check(settings_error({}, { "secret" }):find("A 'secret' must be provided in your authentication configuration", 1,
  true), "no secret", settings_error({}, { "secret" }))
t.check(settings_error({}, { "service" }):find("The 'service' option is not set in the authentication configuration",
  1, true), "no service", settings_error({}, { "service" }))
t.check(settings_error({ jwtOptions = { expiresIn = "soon" } }):find("expiresIn soon is not a duration", 1, true),
  "a bad expiresIn", settings_error({ jwtOptions = { expiresIn = "soon" } }))
t.eq(settings_error({ entity = json.null }, { "service" }), "no error", "entity null needs no service")
t.check(tostring(select(2, pcall(auth.service, App.new()))):find("is not set", 1, true), "no settings at all")

-- expiresIn forms: exp - iat
for _, c in ipairs { { "1d", 86400 }, { "2h", 7200 }, { 60, 60 }, { "1.5h", 5400 }, { "90m", 5400 } } do
  local a = App.new()
  a:set("authentication", settings { jwtOptions = { expiresIn = c[1], audience = "x", issuer = "y" } })
  local _, claims = auth.service(a):createAccessToken({})
  t.eq(claims.exp - claims.iat, c[2], "expiresIn " .. tostring(c[1]))
end

-- register / getStrategies
local got = svc:getStrategies("local", "nope", "jwt")
t.eq(#got, 2, "getStrategies leaves unknown names out")
t.check(got[1] == svc.strategies["local"] and got[2] == svc.strategies.jwt, "in the order asked")
t.eq(got[1].name, "local", "register names the strategy")

-- authenticate's messages
t.eq(message(function() svc:authenticate({}, {}, "jwt") end),
  "NotAuthenticated: Invalid authentication information (no `strategy` set)", "no strategy")
t.eq(message(function() svc:authenticate({ strategy = "local" }, {}, "jwt") end),
  "NotAuthenticated: Invalid authentication information (strategy not allowed in authStrategies)", "not allowed")
t.eq(message(function() svc:authenticate({ strategy = "oauth" }, {}, "oauth") end),
  "NotAuthenticated: Invalid authentication information", "allowed but not registered")

-- create with local: { accessToken, authentication { strategy, payload }, user }
local login = authentication:create { strategy = "local", email = "alice@example.com", password = "wonderland" }
local keys = {}
for k in pairs(login) do keys[#keys + 1] = k end
table.sort(keys)
t.eq(table.concat(keys, ","), "accessToken,authentication,user", "create's keys")
t.eq(login.authentication.strategy, "local", "authentication.strategy")
t.eq(login.authentication.accessToken, nil, "local's authentication has no accessToken (as Feathers)")
local p = login.authentication.payload
t.check(type(p.iat) == "number" and p.exp == p.iat + 86400, "payload iat and exp (1d)", json.encode(p))
t.eq({ p.aud, p.iss, p.sub }, { "https://yourdomain.com", "feathers", tostring(alice.id) }, "aud, iss, sub (a text)")
t.check(type(p.jti) == "string" and #p.jti == 36, "a jti (uuid)", tostring(p.jti))
t.eq(login.user.email, "alice@example.com", "the user")
t.check(jwt.verify(login.accessToken, SECRET, { typ = "access" }) and not jwt.verify(login.accessToken, SECRET,
  { typ = "JWT" }), "the header's typ is access")
t.eq(svc:verifyAccessToken(login.accessToken).sub, tostring(alice.id), "the token verifies")
local again = authentication:create { strategy = "local", email = "alice@example.com", password = "wonderland" }
t.check(again.authentication.payload.jti ~= p.jti, "each token a new jti")

-- create with jwt: the same token back, with authentication.accessToken
local re = authentication:create { strategy = "jwt", accessToken = login.accessToken }
t.eq(re.accessToken, login.accessToken, "jwt: the same token")
t.eq(re.authentication.accessToken, login.accessToken, "jwt: authentication.accessToken")
t.eq(re.authentication.strategy, "jwt", "jwt: the strategy")
t.eq(re.user.email, "alice@example.com", "jwt: the user")
t.eq(message(function() authentication:create({ strategy = "jwt" }) end), "NotAuthenticated: No access token",
  "jwt without a token")
t.eq(message(function() authentication:create({ strategy = "jwt", accessToken = "x.y.z" }) end):match "^%a+",
  "NotAuthenticated", "a malformed token")

-- remove: logs out with params.authentication; another id refused
local out = authentication:remove(nil, { authentication = { strategy = "jwt", accessToken = login.accessToken } })
t.eq(out.accessToken, login.accessToken, "remove answers the authentication result")
t.eq(message(function()
  authentication:remove("other", { authentication = { strategy = "jwt", accessToken = login.accessToken } })
end), "NotAuthenticated: Invalid access token", "remove with another id")
t.eq(message(function() authentication:remove(nil, {}) end),
  "NotAuthenticated: Invalid authentication information (no `strategy` set)", "remove without authentication")
t.eq(authentication:remove(login.accessToken, { authentication = { strategy = "jwt", accessToken = login.accessToken }
}).accessToken, login.accessToken, "remove with the token as id")

-- a token of another audience (same secret) is refused
local other = jwt.sign({ sub = tostring(alice.id), aud = "https://elsewhere", iss = "feathers",
  exp = os.time() + 60 }, SECRET, "access")
local e = select(2, pcall(svc.verifyAccessToken, svc, other))
t.eq(e and e.message, "jwt audience invalid. expected: https://yourdomain.com", "another audience refused")
t.eq(e and e.data and e.data.name, "JsonWebTokenError", "with jsonwebtoken's error name")
local expired = jwt.sign({ sub = "1", aud = "https://yourdomain.com", iss = "feathers", exp = os.time() - 10 },
  SECRET, "access")
e = select(2, pcall(svc.verifyAccessToken, svc, expired))
t.eq(e and e.data and e.data.name, "TokenExpiredError", "expired: TokenExpiredError")

-- the local strategy: one answer for every failure
for what, data in pairs {
  ["unknown user"] = { strategy = "local", email = "nobody@example.com", password = "wonderland" },
  ["wrong password"] = { strategy = "local", email = "alice@example.com", password = "Wonderland" },
  ["missing password"] = { strategy = "local", email = "alice@example.com" },
  ["missing username"] = { strategy = "local", password = "wonderland" },
  ["password not a text"] = { strategy = "local", email = "alice@example.com", password = 12 },
} do
  t.eq(message(function() authentication:create(data, { provider = "rest" }) end), "NotAuthenticated: Invalid login",
    "local: " .. what)
end
queries = {}
authentication:create { strategy = "local", email = "alice@example.com", password = "wonderland" }
t.eq(queries[1] and queries[1]["$limit"], 1, "the username lookup uses $limit 1")
t.eq(queries[1] and queries[1].email, "alice@example.com", "by the username field")

-- login / logout events: only for callers with a provider
local heard = {}
app:on("login", function(result, params) heard[#heard + 1] = "login " .. tostring(params.provider) .. " " ..
  tostring(result.user and result.user.email) end)
app:on("logout", function(_, params) heard[#heard + 1] = "logout " .. tostring(params.provider) end)
authentication:create { strategy = "local", email = "alice@example.com", password = "wonderland" }
authentication:remove(nil, { authentication = { strategy = "jwt", accessToken = login.accessToken } })
local ext = authentication:create({ strategy = "local", email = "alice@example.com", password = "wonderland" },
  { provider = "rest" })
authentication:remove(nil, { provider = "rest", authentication = { strategy = "jwt", accessToken = ext.accessToken } })
sched.sleep(10)
t.eq(table.concat(heard, "; "), "login rest alice@example.com; logout rest", "events for outside callers only")
t.eq(ext.user.password, nil, "an outside login's user has no password")

-- the authenticate hook
local bearer = { strategy = "jwt", accessToken = login.accessToken }
t.eq(#users:find { query = {} }, 1, "an internal call passes without authentication")
t.eq(message(function() users:find { provider = "rest" } end), "NotAuthenticated: Not authenticated",
  "a provider without authentication")
t.eq(#users:find({ provider = "rest", authenticated = true }), 1, "params.authenticated skips the check")
t.eq(message(function() users:find { provider = "rest", authentication = { strategy = "local" } } end),
  "NotAuthenticated: Invalid authentication information (strategy not allowed in authStrategies)",
  "a strategy the hook does not allow")
local ok, r, ctx = call(users, "get", alice.id, nil, { provider = "rest", authentication = bearer })
t.check(ok and ctx.params.user and ctx.params.user.email == "alice@example.com", "params.user set after")
t.check(ok and ctx.params.authenticated == true, "params.authenticated set after")
t.check(ok and ctx.params.authentication.payload and ctx.params.accessToken == nil,
  "params.authentication is the result's; no accessToken in params")
t.eq(ok and r.password, nil, "and the answer protected")
app:use("after", { get = function() return {} end })
app:service("after"):hooks { after = { get = { auth.authenticate("jwt") } } }
t.eq(message(function() app:service("after"):get(1) end),
  "NotAuthenticated: The authenticate hook must be used as a before hook", "as an after hook")
local app2 = make_app()
app2:service("authentication"):hooks { before = { create = { auth.authenticate("jwt") } } }
t.eq(message(function() app2:service("authentication"):create { strategy = "jwt" } end),
  "NotAuthenticated: The authenticate hook does not need to be used on the authentication service",
  "on the authentication service")
t.check(not pcall(auth.authenticate), "no strategy: the hook cannot be made")
t.eq(message(function()
  local a = App.new()
  a:use("s", { get = function() return {} end })
  a:service("s"):hooks { before = { get = { auth.authenticate("jwt") } } }
  a:service("s"):get(1)
end), "NotAuthenticated: Could not find a valid authentication service", "no authentication service")

-- hashPassword
local hashes = {}
app:use("raw", { create = function(_, data) hashes[#hashes + 1] = data; return data end })
app:service("raw"):hooks { before = { create = { auth.hashPassword("password") } } }
local input = { email = "b@example.com", password = "pw" }
app:service("raw"):create(input)
t.check(hashes[1].password:match "^%$2b%$04%$" and require("fdn.bcrypt").verify("pw", hashes[1].password),
  "the hash (cost from hashSize) replaces the field", hashes[1].password)
t.eq(input.password, "pw", "the caller's data is not changed in place")
app:service("raw"):create(t.list { { password = "a" }, { name = "no password" } })
t.check(hashes[2][1].password:match "^%$2b%$", "a list: each item hashed")
t.eq(hashes[2][2], { name = "no password" }, "an item without the field untouched")
t.eq(getmetatable(hashes[2]), json.array_mt, "still a list")
app:use("deep", { create = function(_, data) return data end })
app:service("deep"):hooks { before = { create = { auth.hashPassword("auth.password") } } }
local nested = { auth = { password = "pw" }, name = "n" }
local d = app:service("deep"):create(nested)
t.check(d.auth.password:match "^%$2b%$" and nested.auth.password == "pw", "a dot path, the input kept")
t.check(not pcall(auth.hashPassword), "no field: the hook cannot be made")
local lone = App.new()
lone:use("s", { create = function(_, data) return data end })
lone:service("s"):hooks { before = { create = { auth.hashPassword("password") } } }
t.eq(message(function() lone:service("s"):create { password = "x" } end),
  "BadRequest: Could not find an authentication service to hash password", "no authentication service")

-- protect
app:use("pro", memory.new { paginate = { default = 5 } })
app:service("pro"):hooks { after = { all = { auth.protect("password", "nested.secret") } } }
local pro = app:service("pro")
pro:create { id = 1, name = "a", password = "p", nested = { secret = 1, open = 2 } }
ok, r = call(pro, "get", 1, nil, { provider = "rest" })
t.check(ok, "an outside get")
t.eq(r, { id = 1, name = "a", nested = { open = 2 } }, "an outside caller's result stripped (dot path too)")
ok, r, ctx = call(pro, "get", 1, nil, {})
t.check(ok, "an internal get")
t.eq(r.password, "p", "an internal caller's result kept")
t.eq(ctx.dispatch, { id = 1, name = "a", nested = { open = 2 } }, "dispatch always stripped")
ok, r = call(pro, "find", nil, nil, { provider = "socketio", query = {} })
t.check(ok and r.total == 1 and r.data[1].password == nil and r.data[1].name == "a", "find paginated: {data} stripped")
ok, r = call(pro, "find", nil, nil, { provider = "rest", query = {}, paginate = false })
t.check(ok and #r == 1 and r[1].password == nil and getmetatable(r) == json.array_mt, "a list result stripped")

-- a socket's connection: login sets user and authentication; logout with the same token clears
local conn = { provider = "socketio" }
local li = authentication:create({ strategy = "local", email = "alice@example.com", password = "wonderland" },
  { provider = "socketio", connection = conn })
t.eq(conn.user and conn.user.email, "alice@example.com", "connection.user after login")
t.eq(conn.authentication, { strategy = "jwt", accessToken = li.accessToken },
  "connection.authentication (the jwt strategy's, as Feathers)")
t.check(svc.expires[conn] ~= nil, "an expiry timer for the connection")
authentication:remove(nil, { provider = "socketio", connection = conn,
  authentication = { strategy = "jwt", accessToken = login.accessToken } })
t.check(conn.user ~= nil, "logout with another token leaves the connection logged in")
authentication:remove(nil, { provider = "socketio", connection = conn, authentication = conn.authentication })
t.check(conn.user == nil and conn.authentication == nil and svc.expires[conn] == nil, "logout clears it")

-- expiry: a 1 s token disconnects its connection
local short = App.new()
short:set("authentication", settings { jwtOptions = { expiresIn = 1, audience = "a", issuer = "i" },
  authStrategies = { "jwt" } })
short:use("users", memory.new {})
local ss = auth.service(short)
ss:register("jwt", auth.jwt())
short:use("authentication", ss)
local u = short:service("users"):create { email = "x" }
local tok = ss:createAccessToken({}, { subject = tostring(u.id) })
local c2, gone = { provider = "socketio" }, 0
short:on("disconnect", function(c) if c == c2 then gone = gone + 1 end end)
short:service("authentication"):create({ strategy = "jwt", accessToken = tok },
  { provider = "socketio", connection = c2 })
t.check(c2.user ~= nil, "logged in with a 1 s token")
for _ = 1, 40 do
  if gone > 0 and c2.user == nil then break end
  sched.sleep(50)
end
t.eq(gone, 1, "disconnect when the token expires")
t.check(c2.user == nil and c2.authentication == nil, "and the connection logged out")
t.check(service.seconds("10") == 0.01, "a bare number in text is milliseconds (as ms)")

return t.done()
