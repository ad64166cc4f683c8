-- app.lua: the fdnode side of tests/bench/auth, the workload of auth_peer/server.mjs: JWT + local
-- authentication, users in memory (sign-up open, find/get guarded, password hashed and
-- protected), and the same echo service guarded ("guarded") and open ("echo").
local auth = require "fdn.authentication"
local memory = require "fdn.memory"

local function get(_, id)
  return { id = tonumber(id) or id, text = "hello" }
end

return function(app)
  app:use("users", memory.new {})
  app:service("users"):hooks {
    before = {
      find = { auth.authenticate("jwt") },
      get = { auth.authenticate("jwt") },
      create = { auth.hashPassword("password") },
    },
    after = { all = { auth.protect("password") } },
  }
  local authentication = auth.service(app)
  authentication:register("jwt", auth.jwt())
  authentication:register("local", auth["local"]())
  app:use("authentication", authentication)

  app:use("echo", { get = get })
  app:use("guarded", { get = get })
  app:service("guarded"):hooks { before = { all = { auth.authenticate("jwt") } } }
end
