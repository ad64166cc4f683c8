-- json.lua: fdn.json, the exact JSON codec (core/json.c): encode, decode,
-- array_mt (marks a table as a JSON array) and null (the JSON null sentinel).
local core = require "fdn.core.json"

return {
  encode = core.encode,
  decode = core.decode,
  array_mt = core.array_mt,
  null = core.null,
  -- array(t): marks t (or a new table) as a JSON array and returns it.
  array = function(t) return setmetatable(t or {}, core.array_mt) end,
}
