-- hello.lua: the smallest fdnode service. A custom service with get and find,
-- and a custom method `greet` exposed over REST (X-Service-Method: greet).
local errors = require "fdn.errors"

local greetings = { en = "Hello", fr = "Bonjour", de = "Hallo", es = "Hola" }

local hello = {}

function hello:find(params)
  local out = fdn.json.array()
  for lang, word in pairs(greetings) do out[#out + 1] = { id = lang, text = word } end
  table.sort(out, function(a, b) return a.id < b.id end)
  return out
end

function hello:get(id, params)
  local word = greetings[id]
  if not word then error(errors.NotFound("No greeting for '" .. tostring(id) .. "'")) end
  local name = params.query and params.query.name or "world"
  return { id = id, text = word .. ", " .. name .. "!" }
end

function hello:greet(data, params)
  local name = type(data) == "table" and data.name or "world"
  return { text = "Hello, " .. tostring(name) .. "!", at = os.time() }
end

return function(app)
  app:use("hello", hello, { methods = { "find", "get", "greet" } })
end
