-- users.lua: the chat's users, in the chat's database (store.lua). Anyone may sign up
-- (create); the password is hashed on the way in and never leaves the service; the rest needs a
-- login.
local sql = require "fdn.sql"
local store = require "store"
local errors = require "fdn.errors"
local auth = require "fdn.authentication"

local function validate(ctx)
  local d = ctx.data
  if type(d.email) ~= "string" or not d.email:match("^[^@%s]+@[^@%s]+$") then
    error(errors.BadRequest("A valid email is required", { field = "email" }))
  end
  if type(d.password) ~= "string" or #d.password < 4 then
    error(errors.BadRequest("A password of 4 characters or more is required", { field = "password" }))
  end
  local taken = ctx.service:find { query = { email = d.email, ["$limit"] = 1 } }
  if taken.total > 0 then
    error(errors.Conflict("That email is already signed up", { field = "email" }))
  end
  ctx.data = { email = d.email, password = d.password } -- nothing else from the client
end

-- An outside caller changes or removes only its own user.
local function only_self(ctx)
  local user = ctx.params.user
  if ctx.params.provider and (type(user) ~= "table" or tostring(user.id) ~= tostring(ctx.id)) then
    error(errors.Forbidden("You can only change your own user"))
  end
end

return function(app)
  local db = store.open(app)
  app:use("users", sql.service { db = db, table = "users", paginate = { default = 10, max = 50 } })
  app:service("users"):hooks {
    before = {
      find = { auth.authenticate("jwt") },
      get = { auth.authenticate("jwt") },
      create = { validate, auth.hashPassword("password") },
      update = { auth.authenticate("jwt"), only_self, auth.hashPassword("password") },
      patch = { auth.authenticate("jwt"), only_self, auth.hashPassword("password") },
      remove = { auth.authenticate("jwt"), only_self },
    },
    -- around, not after: it also refuses a query on the password (a hash read by $gt probes)
    around = { all = { auth.protect("password") } },
  }
end
