-- canonical.lua: canonical JSON of a parsed query, for tests/unit/test_qs.c: object keys
-- sorted, arrays only for tables with the array metatable (so a missing metatable shows up
-- as a failure), strings escaped. Called with the array metatable; returns the dumper.
local mt = ...
local esc_map = { ['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n" }

local function esc(s)
  return '"' .. s:gsub('[%z\1-\31"\\]', function(c)
    return esc_map[c] or string.format("\\u%04x", c:byte())
  end) .. '"'
end

local function dump(v)
  if type(v) == "string" then return esc(v) end
  if type(v) == "boolean" then return tostring(v) end
  assert(type(v) == "table", "unexpected " .. type(v))
  local out = {}
  if mt and getmetatable(v) == mt then
    for k in pairs(v) do
      assert(math.type(k) == "integer" and k >= 1 and k <= #v, "sparse array")
    end
    for i = 1, #v do out[i] = dump(v[i]) end
    return "[" .. table.concat(out, ",") .. "]"
  end
  local m = getmetatable(v)
  assert(m == nil or (rawget(m, "__order") and next(m, "__order") == nil and next(m) == "__order"),
    "object with a metatable (other than $sort's __order)")
  local keys = {}
  for k in pairs(v) do
    assert(type(k) == "string", "non-string key")
    keys[#keys + 1] = k
  end
  table.sort(keys)
  for i, k in ipairs(keys) do out[i] = esc(k) .. ":" .. dump(v[k]) end
  return "{" .. table.concat(out, ",") .. "}"
end

return dump
