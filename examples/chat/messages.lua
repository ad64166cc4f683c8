-- messages.lua: the chat's messages, in the chat's database (store.lua), for logged-in users
-- only. The author is the user who is logged in (params.user), never what the client sends; an
-- after hook resolves each message's author by calling the users service (local here, remote
-- when users runs on another node).
local sql = require "fdn.sql"
local store = require "store"
local errors = require "fdn.errors"
local auth = require "fdn.authentication"

local function resolve_user(ctx)
  local users = ctx.app:service("users")
  local r = ctx.result
  if not users or type(r) ~= "table" then return end
  local list = r.data or (r[1] and r) or { r }
  for _, msg in ipairs(list) do
    if msg.userId ~= nil then -- an internal get: only the public fields are copied
      local ok, user = pcall(users.get, users, msg.userId)
      msg.user = ok and { id = user.id, email = user.email } or nil
    end
  end
end

local function new_message(ctx)
  local text = ctx.data.text
  if type(text) ~= "string" or not text:find("%S") then
    error(errors.BadRequest("text is required", { field = "text" }))
  end
  local user = ctx.params.user
  if type(user) ~= "table" or user.id == nil then
    error(errors.NotAuthenticated("Not authenticated"))
  end
  ctx.data = { text = text, userId = user.id, createdAt = os.time() }
end

-- An outside caller edits (the text only) or removes only its own messages.
local function only_author(ctx)
  if not ctx.params.provider then return end
  local msg = ctx.service:get(ctx.id)
  if msg.userId ~= ctx.params.user.id then
    error(errors.Forbidden("You can only change your own messages"))
  end
  if ctx.method ~= "remove" then
    if type(ctx.data.text) ~= "string" or not ctx.data.text:find("%S") then
      error(errors.BadRequest("text is required", { field = "text" }))
    end
    ctx.data = ctx.method == "update" and { text = ctx.data.text, userId = msg.userId, createdAt = msg.createdAt }
      or { text = ctx.data.text }
  end
end

return function(app)
  local db = store.open(app)
  app:use("messages", sql.service { db = db, table = "messages", paginate = { default = 10, max = 50 } })
  app:service("messages"):hooks {
    before = {
      all = { auth.authenticate("jwt") },
      create = { new_message },
      update = { only_author },
      patch = { only_author },
      remove = { only_author },
    },
    after = { all = { resolve_user } },
  }
  app:service("messages"):on("created", function(msg)
    fdn.log.info("new message", msg.id, msg.text)
  end)
end
