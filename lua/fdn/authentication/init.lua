-- fdn.authentication: Feathers' authentication for fdnode (@feathersjs/authentication and
-- authentication-local): the authentication service, the jwt and local strategies, and the
-- hooks authenticate, hashPassword and protect. README "Authentication" tells how to use it.
local service = require "fdn.authentication.service"
local hooks = require "fdn.authentication.hooks"

return {
  service = service.new,
  jwt = require("fdn.authentication.jwt").new,
  ["local"] = require("fdn.authentication.local").new,
  authenticate = hooks.authenticate,
  hashPassword = hooks.hashPassword,
  protect = hooks.protect,
}
