-- users.lua: the chat's users, kept by the memory adapter. Passwords never
-- leave the service: an after hook strips them from every result.
local memory = require "fdn.memory"
local errors = require "fdn.errors"

local function strip_password(ctx)
  local r = ctx.result
  if type(r) ~= "table" then return end
  local list = r.data or (r[1] and r) or { r }
  for _, user in ipairs(list) do user.password = nil end
end

return function(app)
  app:use("users", memory.new {
    paginate = { default = 10, max = 50 },
    store = {
      [1] = { id = 1, name = "ada", password = "secret" },
      [2] = { id = 2, name = "grace", password = "secret" },
    },
    startId = 3,
  })
  app:service("users"):hooks {
    before = {
      create = { function(ctx)
        if type(ctx.data.name) ~= "string" or ctx.data.name == "" then
          error(errors.BadRequest("name is required", { field = "name" }))
        end
      end },
    },
    after = { all = { strip_password } },
  }
end
