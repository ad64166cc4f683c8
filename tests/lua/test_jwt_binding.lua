-- test_jwt_binding.lua: fdn.core.jwt as fdnode preloads it: sign a table or a JSON object's text,
-- verify with options and the wall clock, jsonwebtoken's messages as nil, message; misuse raises.
-- The codec's own cases (vectors, refusals) are tests/unit/test_jwt.c.
local t = require "lib.t"
local jwt = require "fdn.core.jwt"
local json = require "fdn.core.json"

local NOW = 1700000000
-- made by npm jsonwebtoken 9.0.2: sign({ aud: ["a", "b"], iat, exp: iat + 3600 }, "k")
local NPM = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOlsiYSIsImIiXSwiaWF0IjoxNzAwMDAwMDAwLCJleHAiOjE3"
  .. "MDAwMDM2MDB9.qj4r6opfdJ_a9Jr1wdCFtS4YnTOQWbg_MNCB36G1fJE"

local p = jwt.verify(NPM, "k", { now = NOW, audience = "b", algorithm = "HS256" })
t.eq(p, { aud = t.list { "a", "b" }, iat = NOW, exp = NOW + 3600 }, "a jsonwebtoken token verifies")
t.eq(math.type(p.exp), "integer", "exp an integer")

-- the same payload text signs to the same bytes as jsonwebtoken's
t.eq(jwt.sign('{"aud":["a","b"],"iat":1700000000,"exp":1700003600}', "k"), NPM, "sign a JSON text")

local tok = jwt.sign({ sub = "42", aud = "app", iss = "fdn", exp = os.time() + 60, nbf = os.time() - 1 }, "s3")
t.check(tok:match "^eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9%.[%w_-]+%.[%w_-]+$", "three base64url parts")
t.eq(jwt.verify(tok, "s3", { audience = "app", issuer = "fdn" }).sub, "42", "the wall clock by default")
t.eq(jwt.verify(tok, "s3").sub, "42", "no options")
t.eq(jwt.verify(jwt.sign({}, "k"), "k"), {}, "an empty payload")

local function refused(want, ...)
  local ok, msg = jwt.verify(...)
  t.eq({ ok, msg }, { nil, want }, want)
end
refused("invalid signature", tok, "other")
refused("jwt expired", tok, "s3", { now = os.time() + 60 })
refused("jwt expired", NPM, "k", { now = NOW + 3600 })
refused("jwt not active", tok, "s3", { now = os.time() - 5 })
t.check(jwt.verify(tok, "s3", { now = os.time() - 5, leeway = 10 }), "leeway")
refused("jwt audience invalid. expected: web", tok, "s3", { audience = "web" })
refused("jwt issuer invalid. expected: other", tok, "s3", { issuer = "other" })
refused("jwt signature is required", "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJpYXQiOjE3MDAwMDAwMDB9.", "k")
refused("invalid algorithm", "eyJhbGciOiJub25lIn0.e30.e30", "k")
refused("jwt malformed", "a.b", "k")
refused("jwt malformed", string.rep("A", 8190) .. ".b.c", "k")
refused("invalid token", "a+.b.c", "k")
refused("jwt must be provided", "", "k")
refused("jwt must be provided", nil, "k")
refused("jwt must be a string", 42, "k")
refused("secret or public key must be provided", tok, "")
t.eq({ jwt.sign({ pad = string.rep("x", 7000) }, "k") }, { nil, "jwt too long" }, "too long to sign")

t.raises(function() jwt.sign({ 1, 2 }, "k") end, "a list payload")
t.raises(function() jwt.sign("[1]", "k") end, "a JSON list payload")
t.raises(function() jwt.sign("{", "k") end, "not JSON")
t.raises(function() jwt.sign({ f = print }, "k") end, "not encodable")
t.raises(function() jwt.sign({}, "") end, "an empty key")
t.raises(function() jwt.sign({}) end, "no key")
t.raises(function() jwt.verify(tok) end, "verify without a key")
t.raises(function() jwt.verify(tok, "k", { algorithm = "HS512" }) end, "another algorithm")
t.raises(function() jwt.verify(tok, "k", { algorithm = "none" }) end, "algorithm none")
t.raises(function() jwt.verify(tok, "k", { audience = 1 }) end, "audience not a string")
t.raises(function() jwt.verify(tok, "k", { issuer = string.rep("i", 257) }) end, "issuer too long")
local long = string.rep("a", 256)
refused("jwt audience invalid. expected: " .. long, tok, "s3", { audience = long })
t.raises(function() jwt.verify(tok, "k", { leeway = -1 }) end, "negative leeway")
t.raises(function() jwt.verify(tok, "k", "opts") end, "options not a table")
t.eq(json.encode(jwt.verify(jwt.sign({ l = json.decode "[]" }, "k"), "k")), '{"l":[]}', "[] survives")
local access = jwt.sign({ sub = "1" }, "k", "access")
t.eq(json.decode(jwt.verify(access, "k", { typ = "access" }) and '"ok"'), "ok", "typ access verifies as access")
t.eq(select(2, jwt.verify(access, "k")), "invalid token", "an access token is not a JWT-typ token")
t.eq(select(2, jwt.verify(jwt.sign({}, "k"), "k", { typ = "access" })), "invalid token", "nor the other way")
t.raises(function() jwt.sign({}, "k", 'a"b') end, "a typ that needs escaping")
t.raises(function() jwt.sign({}, "k", "") end, "an empty typ")
return t.done()
