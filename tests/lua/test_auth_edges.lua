-- test_auth_edges.lua: fdn.authentication against odd input from outside callers (401/400, never
-- a 500), a login that ends after its socket is gone, the local strategy's decoy without a hash,
-- and bcrypt's queue when it is full.
local t = require "lib.t"
local App = require "fdn.app"
local auth = require "fdn.authentication"
local memory = require "fdn.memory"
local bcrypt = require "fdn.bcrypt"
local sched = require "fdn.sched"
local channels = require "fdn.channels"

local SECRET = "a test secret that is long enough to be a key"

-- users (sign-up hashes the password) and the authentication service with jwt and local
local function make_app()
  local app = App.new()
  app:set("authentication", { entity = "user", service = "users", secret = SECRET,
    authStrategies = { "jwt", "local" },
    ["local"] = { usernameField = "email", passwordField = "password", hashSize = 4 } })
  local svc = auth.service(app)
  app:use("users", memory.new {})
  app:service("users"):hooks { before = { create = { auth.hashPassword("password") } } }
  for name, make in pairs { jwt = auth.jwt, ["local"] = auth["local"] } do svc:register(name, make()) end
  app:use("authentication", svc)
  return app, svc
end

-- "Name: message (code)" of what fn raises, or "no error".
local function raised(fn)
  local ok, e = pcall(fn)
  if ok then return "no error" end
  if type(e) ~= "table" then return "raw: " .. tostring(e) end
  return ("%s: %s (%s)"):format(e.name, tostring(e.message), tostring(e.code))
end

local app, svc = make_app()
local authentication = app:service("authentication")
app:service("users"):create { email = "alice@example.com", password = "wonderland" }
local OUT = { provider = "rest" }

-- an access token that is not a string: jsonwebtoken's "jwt must be a string", a 401
for _, token in ipairs { {}, true, 12345 } do
  t.eq(raised(function() authentication:create({ strategy = "jwt", accessToken = token }, OUT) end),
    "NotAuthenticated: jwt must be a string (401)", "accessToken of type " .. type(token))
end

-- a strategy that is not a string: Feathers' message for a strategy given but not allowed
t.eq(raised(function() authentication:create({ strategy = 5 }, OUT) end),
  "NotAuthenticated: Invalid authentication information (strategy not allowed in authStrategies) (401)",
  "strategy 5")

-- a username that is a query (an operator) logs nobody in, though the password is right
t.eq(raised(function()
  authentication:create({ strategy = "local", email = { ["$ne"] = "nobody" }, password = "wonderland" }, OUT)
end), "NotAuthenticated: Invalid login (401)", "email {$ne: ...} is no user")
t.eq(raised(function()
  authentication:create({ strategy = "local", email = { ["$in"] = { "alice@example.com" } },
    password = "wonderland" }, OUT)
end), "NotAuthenticated: Invalid login (401)", "email {$in: [...]} is no user")

-- a password with a NUL byte: Invalid login on login, BadRequest where it would be hashed
t.eq(raised(function()
  authentication:create({ strategy = "local", email = "alice@example.com", password = "wonder\0land" }, OUT)
end), "NotAuthenticated: Invalid login (401)", "login with a NUL in the password")
t.eq(raised(function() app:service("users"):create({ email = "b@example.com", password = "a\0b" }, OUT) end),
  "BadRequest: A password must not hold a NUL byte (400)", "sign-up with a NUL in the password")

-- the decoy an unknown user is compared against costs no bcrypt hash (not on register, not on
-- each reload's new strategy, not on the first unknown user: no login waits for one)
local real_hash, hashes = bcrypt.hash, 0
bcrypt.hash = function(...) hashes = hashes + 1; return real_hash(...) end
local app2 = make_app()
t.eq(raised(function()
  app2:service("authentication"):create({ strategy = "local", email = "nobody@example.com", password = "x" }, OUT)
end), "NotAuthenticated: Invalid login (401)", "an unknown user")
bcrypt.hash = real_hash
t.eq(hashes, 0, "no bcrypt hash for the decoy")
local decoy = app2.__authentication.strategies["local"]:decoy()
t.check(decoy:match("^%$2b%$04%$[./A-Za-z0-9]+$") and #decoy == 60, "the decoy is a hash of the cost", decoy)

-- protect (around) refuses a query on the field inside an $or/$and given as an object (the
-- REST query $or[a][password][$gt]=...), which the query engine reads as a list of its values
app:use("pro", memory.new {})
app:service("pro"):hooks { around = { all = { auth.protect("password") } } }
app:service("pro"):create { name = "p", password = "$2b$04$hash" }
for _, op in ipairs { "$or", "$and" } do
  local q = { [op] = { a = { password = { ["$gt"] = "$2a" } } } }
  t.eq(raised(function() app:service("pro"):find { provider = "rest", query = q } end),
    "BadRequest: Can not query on protected field 'password' (400)", op .. " as an object")
end

-- a socket that goes while its login waits for bcrypt: not logged in, no expiry timer kept
local conn, done = { provider = "socketio" }, false
sched.spawn(function()
  pcall(authentication.create, authentication,
    { strategy = "local", email = "alice@example.com", password = "wonderland" },
    { provider = "socketio", connection = conn })
  done = true
end)
channels.disconnect(app, conn)
for _ = 1, 100 do
  if done then break end
  sched.sleep(10)
end
t.check(done, "the login ended")
t.check(conn.user == nil and conn.authentication == nil, "a gone connection is not logged in")
t.eq(svc.expires[conn], nil, "and has no expiry timer")

-- a token that lives longer than a timer may wait (30 days): its connection stays logged in
-- when the first timer fires, and a new one waits for the rest
local node, armed = require "fdn.core.node", {}
local real_timer = node.timer
local long = App.new()
long:set("authentication", { entity = false, secret = SECRET, authStrategies = { "jwt" },
  jwtOptions = { expiresIn = "60d" } })
local ls = auth.service(long)
ls:register("jwt", auth.jwt())
long:use("authentication", ls)
local lconn = { provider = "socketio" }
node.timer = function(ms, fn)
  armed[#armed + 1] = ms
  return { cancel = function() end, fire = fn }
end
long:service("authentication"):create({ strategy = "jwt", accessToken = ls:createAccessToken {} },
  { provider = "socketio", connection = lconn })
local first = ls.expires[lconn]
t.eq(armed[1], 2592000000, "the first timer waits 30 days")
first.fire()
node.timer = real_timer
t.check(lconn.authentication ~= nil, "the connection is still logged in after 30 days")
t.check(armed[2] and armed[2] > 29 * 86400000 and armed[2] <= 30 * 86400000,
  "and a timer waits the 30 days left", tostring(armed[2]))

-- bcrypt's queue full: Unavailable (503), not an error without a class (500)
local h4 = bcrypt.hash("pw", 4)
local answers, busy = 0, nil
for _ = 1, 1100 do
  sched.spawn(function()
    local ok, e = pcall(bcrypt.verify, "pw", h4)
    if not ok and busy == nil then busy = e end
    answers = answers + 1
  end)
end
for _ = 1, 600 do
  if answers == 1100 then break end
  sched.sleep(20)
end
t.eq(answers, 1100, "every verify answered")
t.eq(type(busy) == "table" and busy.code, 503, "a verify past the queue's bound is Unavailable", tostring(busy))

return t.done()
