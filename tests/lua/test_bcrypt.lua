-- test_bcrypt.lua: fdn.bcrypt (hash and verify on the worker threads, the coroutine waiting)
-- and fdn.core.bcrypt's callbacks: bcryptjs' hashes verify, malformed ones are false, misuse raises.
local t = require "lib.t"
local bcrypt = require "fdn.bcrypt"
local core = require "fdn.core.bcrypt"
local sched = require "fdn.sched"

-- made once by npm bcryptjs 2.4.3 (hashSync(password, cost), which writes $2a$; the prefix then set
-- to $2a$, $2b$ or $2y$, and bcryptjs' compareSync checked each: true for the password, false else)
local VECTORS = {
  { "correct horse", "$2a$04$gCeqra4HJTw6B5tXoFiv..eVed80AYnVeeZ5AhcJePUmTGDkrIzuu" },
  { "pässwörd", "$2b$05$vkwNgaRwGPXruxkcjlhWw.qFUAWIjagPfSOg1mitlxYZruv8vzQLK" },
  { ("x"):rep(72), "$2y$04$6KOXWyK9B6e1svgbOwDTVuThwfjfM6dWyfzrDacDhChyY/5ccvBAC" },
}

local h = bcrypt.hash("s3cret", 4)
t.check(h:match "^%$2b%$04%$[./A-Za-z0-9]+$" and #h == 60, "a $2b$ hash with the cost in it", h)
t.eq(bcrypt.verify("s3cret", h), true, "the password verifies")
t.eq(bcrypt.verify("s3creT", h), false, "another does not")
t.check(bcrypt.hash("s3cret", 4) ~= h, "a new salt each time")
t.check(bcrypt.hash("x"):match "^%$2b%$10%$", "cost 10 by default")

for _, v in ipairs(VECTORS) do
  t.eq(bcrypt.verify(v[1], v[2]), true, "bcryptjs " .. v[2]:sub(1, 4) .. " verifies")
  t.eq(bcrypt.verify(v[1] .. "!", v[2]), v[1]:len() >= 72, "bcryptjs " .. v[2]:sub(1, 4) .. " wrong password")
end
t.eq(bcrypt.verify(("x"):rep(72) .. "yz", VECTORS[3][2]), true, "only the first 72 bytes count")
t.eq(bcrypt.verify(("x"):rep(71), VECTORS[3][2]), false, "71 bytes are not 72")

local good = VECTORS[1][2]
for _, bad in ipairs {
  "", "x", good:sub(1, 59), good .. "a", "$2x$" .. good:sub(5), "$2c$" .. good:sub(5), "$1$" .. good:sub(4),
  good:sub(1, 4) .. "4" .. good:sub(6), good:sub(1, 30) .. "!" .. good:sub(32), good:sub(1, 30) .. "\0" .. good:sub(32),
  "$2a$99$" .. good:sub(8), "$2a$03$" .. good:sub(8), ("$"):rep(60),
} do
  t.eq(bcrypt.verify("correct horse", bad), false, "malformed hash is false: " .. bad:gsub("%z", "\\0"))
end
t.eq(bcrypt.verify("correct horse", nil), false, "no hash is false")

t.raises(function() bcrypt.hash("x", 3) end, "cost 3 raises")
t.raises(function() bcrypt.hash("x", 32) end, "cost 32 raises")
t.raises(function() bcrypt.hash("x", 10.5) end, "a fractional cost raises")
t.raises(function() bcrypt.hash("a\0b", 4) end, "a NUL byte raises")
t.raises(function() bcrypt.verify("a\0b", good) end, "a NUL byte raises in verify")
t.raises(function() bcrypt.hash(nil) end, "no password raises")
t.raises(function() core.hash("x", 4, "not a function") end, "core: a callback is required")
t.raises(function() core.hash("x", 40, function() end) end, "core: cost checked")
local ok, msg = pcall(bcrypt.hash, "x", 2)
t.check(not ok and msg:find "cost must be an integer from 4 to 31", "a clear message", msg)

-- outside a coroutine (a bare timer callback runs on the main thread): a clear error
local node = require "fdn.core.node"
local outside, me0 = nil, sched.current()
node.timer(0, function()
  local ok2, m2 = pcall(bcrypt.hash, "x", 4)
  outside = { ok2, m2 }
  sched.wake(me0)
end)
sched.wait()
t.check(outside[1] == false and tostring(outside[2]):find "outside a coroutine", "outside a coroutine raises",
  tostring(outside[2]))

-- the core binding: callbacks on the reactor, several at once
local got, me = {}, sched.current()
for i = 1, 4 do
  t.eq(core.hash("p" .. i, 4, function(hh, err)
    got[#got + 1] = { i = i, h = hh, err = err }
    if #got == 4 then sched.wake(me) end
  end), true, "queued " .. i)
end
sched.wait()
t.eq(#got, 4, "four callbacks")
local all = true
for _, g in ipairs(got) do all = all and g.err == nil and bcrypt.verify("p" .. g.i, g.h) end
t.check(all, "each hash verifies with its password")
local vr = {}
core.verify("correct horse", "nonsense", function(r) vr[#vr + 1] = r; sched.wake(me) end)
sched.wait()
t.eq(vr, { false }, "core verify of a malformed hash calls back false")

return t.done()
