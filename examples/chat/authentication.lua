-- authentication.lua: the chat's authentication service (settings from config/default.json):
-- log in with email and password (local), stay logged in with the token (jwt).
local auth = require "fdn.authentication"

return function(app)
  local authentication = auth.service(app)
  authentication:register("jwt", auth.jwt())
  authentication:register("local", auth["local"]())
  app:use("authentication", authentication)
end
