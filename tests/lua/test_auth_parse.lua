-- test_auth_parse.lua: the jwt strategy's parse of the Authorization header: Feathers'
-- /(\S+)\s+(\S+)/ (a known scheme, any case; a bare token; another scheme not ours), in time
-- linear in the header's length (a 16 KB value without a space must not stall the reactor).
local t = require "lib.t"
local jwt = require "fdn.authentication.jwt"

local s = jwt.new()
s.name, s.authentication = "jwt", { configuration = { entity = "user", service = "users" } }

local function parse(value)
  local r = s:parse { authorization = value }
  return r and r.accessToken, r and r.strategy
end

-- the reference: Lua's form of Feathers' regex, on short values only (it is quadratic)
local function reference(value)
  if value == "" then return nil end
  local scheme, token = value:match("(%S+)%s+(%S+)")
  if not scheme then return value end
  local low = scheme:lower()
  if low:find("bearer", 1, true) or low:find("jwt", 1, true) then return token end
  return nil
end

local cases = { "Bearer abc", "bearer abc", "JWT abc", "jwt\tabc", "Bearer  abc", "  Bearer abc",
  "Bearer abc def", "Bearer abc  ", "Basic abc", "abc", "abc ", " abc", "Bearer", "Bearer ",
  "Bearer \t\v\f x", "XBearerY abc", "Bearer a\vb", "a.b.c", "Bearer\fa.b.c\rd" }
for _, v in ipairs(cases) do
  local token, strategy = parse(v)
  t.eq(token, reference(v), ("%q"):format(v))
  if token then t.eq(strategy, "jwt", ("%q: the strategy"):format(v)) end
end
t.eq({ parse("") }, {}, "an empty header is none")
t.eq({ s:parse {} }, {}, "no header")

for _, v in ipairs { ("A"):rep(16000), "Bearer " .. ("A"):rep(16000), ("A"):rep(8000) .. " " .. ("B"):rep(8000),
  "Bearer" .. (" "):rep(16000), ("A "):rep(8000) } do
  local t0 = os.clock()
  local token = parse(v)
  local ms = (os.clock() - t0) * 1000
  t.check(ms < 100, ("a %d-byte value parsed in %.1f ms"):format(#v, ms))
  if not v:find(" ", 1, true) then t.eq(token, v, "a 16 KB bare token") end
end
t.eq(parse("Bearer " .. ("A"):rep(16000)), ("A"):rep(16000), "a 16 KB token after Bearer")

return t.done()
