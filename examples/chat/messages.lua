-- messages.lua: the chat's messages. Each message names its author by userId;
-- an after hook resolves the author by calling the users service (local here,
-- remote when users runs on another node).
local memory = require "fdn.memory"
local errors = require "fdn.errors"

local function resolve_user(ctx)
  local users = ctx.app:service("users")
  if not users then return end
  local r = ctx.result
  if type(r) ~= "table" then return end
  local list = r.data or (r[1] and r) or { r }
  for _, msg in ipairs(list) do
    if msg.userId ~= nil then
      local ok, user = pcall(users.get, users, msg.userId)
      msg.user = ok and user or nil
    end
  end
end

return function(app)
  app:use("messages", memory.new { paginate = { default = 10, max = 50 } })
  app:service("messages"):hooks {
    before = {
      create = { function(ctx)
        if type(ctx.data.text) ~= "string" or ctx.data.text == "" then
          error(errors.BadRequest("text is required"))
        end
        ctx.data.createdAt = os.time()
      end },
    },
    after = { all = { resolve_user } },
  }
  app:service("messages"):on("created", function(msg)
    fdn.log.info("new message", msg.id, msg.text)
  end)
end
