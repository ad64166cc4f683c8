-- bcrypt.lua: password hashing for services, off the reactor thread: hash and verify suspend the
-- calling coroutine while a worker thread runs bcrypt (fdn.core.bcrypt), then resume it.
local core = require "fdn.core.bcrypt"
local sched = require "fdn.sched"
local errors = require "fdn.errors"

local M = {}

local error, type, tostring, mtype = error, type, tostring, math.type

M.default_cost = 10

-- Runs op(password, arg, cb) and waits for cb's values; level 3 is the caller of hash/verify.
local function await(name, op, password, arg)
  local co = sched.current()
  if not co then error("bcrypt." .. name .. " called outside a coroutine (call it from a service, hook or task)", 3) end
  if type(password) ~= "string" then error("bcrypt." .. name .. ": the password must be a string", 3) end
  local ok, err = op(password, arg, function(...) sched.wake(co, ...) end)
  if err == "busy" then -- (a flood of logins: a 503 the client may retry, not a 500)
    error(errors.Unavailable("Too many password hashes queued, try again later"), 0)
  end
  if not ok then error("bcrypt." .. name .. ": " .. tostring(err), 3) end
  return sched.wait()
end

-- hash(password [, cost]) -> "$2b$<cost>$...": cost 4..31, 10 by default; bcrypt reads only the
-- password's first 72 bytes (as bcryptjs does); a NUL byte in it raises.
function M.hash(password, cost)
  cost = cost or M.default_cost
  if mtype(cost) ~= "integer" or cost < 4 or cost > 31 then
    error("bcrypt.hash: cost must be an integer from 4 to 31, got " .. tostring(cost), 2)
  end
  local h, err = await("hash", core.hash, password, cost)
  if not h then error("bcrypt.hash: " .. tostring(err), 2) end
  return h
end

-- verify(password, hash) -> true when hash ($2a$, $2b$ or $2y$) is password's; a hash that is
-- not a bcrypt hash is false, never an error.
function M.verify(password, hash)
  if type(hash) ~= "string" then return false end
  return await("verify", core.verify, password, hash) == true
end

return M
