-- json.lua: fdn.json, the exact JSON codec (core/json*.c): encode, decode, array_mt (marks a
-- table as a JSON array), null (the JSON null sentinel) and is_array(v), whether encode
-- writes v as an array: the one definition of "a list" (array_mt, or a sequence 1..n).
local core = require "fdn.core.json"

return {
  encode = core.encode,
  decode = core.decode,
  array_mt = core.array_mt,
  null = core.null,
  is_array = core.is_array,
  -- array(t): marks t (or a new table) as a JSON array and returns it.
  array = function(t) return setmetatable(t or {}, core.array_mt) end,
}
