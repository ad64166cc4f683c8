-- bench_jwt.lua: JWT verifications (and signs) per second on one core through fdn.core.jwt, with a
-- Feathers-shaped access token (sub, iat, exp, aud, iss, jti) and its audience and issuer checked.
-- Run: build/fdnode run tests/bench/bench_jwt.lua   (FDN_BENCH_SECONDS=2). One JSON line per case.
local jwt = require "fdn.core.jwt"

local seconds = tonumber(os.getenv("FDN_BENCH_SECONDS")) or 2
local now = os.time()
local payload = { sub = "42", iat = now, exp = now + 86400, aud = "https://yourdomain.com", iss = "feathers",
  jti = "f3e0a8c4-0000-4000-8000-000000000000" }
local key = "a secret of thirty-two bytes....."
local tok = jwt.sign(payload, key)
local opts = { audience = "https://yourdomain.com", issuer = "feathers", algorithm = "HS256" }
assert(jwt.verify(tok, key, opts))

-- best of 5 rounds of seconds/5: steadier on a busy machine
local function rate(name, fn)
  local best = 0
  for _ = 1, 5 do
    local n, t0 = 0, os.clock()
    repeat
      for _ = 1, 1000 do fn() end
      n = n + 1000
    until os.clock() - t0 >= seconds / 5
    best = math.max(best, n / (os.clock() - t0))
  end
  print(string.format('{"case":"%s","per_second":%d}', name, math.floor(best)))
end

rate("verify", function() jwt.verify(tok, key, opts) end)
rate("verify_bad_signature", function() jwt.verify(tok, "other", opts) end)
rate("sign", function() jwt.sign(payload, key) end)
