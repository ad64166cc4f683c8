-- json_prelude.lua: the Lua helpers of tests/unit/test_json.c, whose cases are Lua expressions:
-- called with the codec's own json table (null, array_mt), it sets the globals json, null,
-- arr(...) (an array_mt table) and eq(a, b) (deep: integer vs float, -0.0, metatables).
-- luacheck: globals json null arr eq
json = ...
null = json.null

function arr(...) return setmetatable({ ... }, json.array_mt) end

function eq(a, b)
  if type(a) ~= type(b) then return false end
  if type(a) == "number" then
    if math.type(a) ~= math.type(b) then return false end
    return a == b and (a ~= 0 or 1 / a == 1 / b)
  end
  if type(a) ~= "table" then return a == b end
  if getmetatable(a) ~= getmetatable(b) then return false end
  for k, v in pairs(a) do if not eq(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end
