-- values.lua (require "fdn.query.values"): the values a query works on: JS-like
-- coercions of query values that arrive as strings, dotted paths, and bind(), the
-- helpers that depend on a pair of JSON sentinels (null, array_mt).
local M = {}

local type, pairs, tostring, tonumber, setmetatable, getmetatable, rawequal =
  type, pairs, tostring, tonumber, setmetatable, getmetatable, rawequal
local tointeger, mtype, huge, floor, ceil = math.tointeger, math.type, math.huge, math.floor, math.ceil
local smatch, sbyte, sfind, gmatch = string.match, string.byte, string.find, string.gmatch

local DOLLAR = sbyte("$")

-- deep_equal(a, b): equal values, tables compared key by key (metatables ignored).
local function deep_equal(a, b)
  if a == b then return true end
  if type(a) ~= "table" or type(b) ~= "table" then return false end
  for k, v in pairs(a) do
    if not deep_equal(v, b[k]) then return false end
  end
  for k in pairs(b) do
    if a[k] == nil then return false end
  end
  return true
end
M.deep_equal = deep_equal

-- parse_int(v): JavaScript's parseInt(v, 10) for the filters; nil stands for NaN.
function M.parse_int(v)
  local t = type(v)
  if t == "number" then
    if v ~= v or v == huge or v == -huge then return nil end
    v = v >= 0 and floor(v) or ceil(v)
    return tointeger(v) or v
  elseif t == "string" then
    local d = smatch(v, "^%s*([+-]?%d+)")
    if not d then return nil end
    local n = tonumber(d)
    return tointeger(n) or n
  end
  return nil
end

-- normkey(k): a JS object's keys are strings, so 7 and "7" name one field or
-- record. An integer, or a string that is a canonical integer numeral ("7", "-3",
-- not "07"), becomes that integer; a float with an integral value becomes an
-- integer; anything else is returned as is.
local function normkey(id)
  local t = type(id)
  if t == "number" then
    return tointeger(id) or id
  elseif t == "string" then
    if smatch(id, "^%-?%d+$") then
      local i = tointeger(tonumber(id))
      if i and tostring(i) == id then return i end
    end
  end
  return id
end
M.normkey = normkey

-- is_dollar(k): a "$..." key (an operator or a filter).
function M.is_dollar(k)
  return type(k) == "string" and sbyte(k, 1) == DOLLAR
end

-- bool_of(s): the boolean "true" / "false" stand for, else nil.
function M.bool_of(s)
  if s == "true" then return true elseif s == "false" then return false end
  return nil
end

-- truthy(v): JavaScript's truthiness for the values an option may hold.
function M.truthy(v) return v ~= nil and v ~= false and v ~= 0 and v ~= "" end

-- dotted(k): a key that names a nested field ("user.name", "items.0.sku").
function M.dotted(k)
  return type(k) == "string" and sfind(k, ".", 1, true) ~= nil
end

-- split_path(k): a dotted key as its list of parts.
function M.split_path(k)
  local path = {}
  for part in gmatch(k, "[^.]+") do path[#path + 1] = part end
  return path
end

-- walk(x, path, is_list): the value at path inside x, or nil. A numeric part
-- indexes a JSON array from 0 (Lua's [n + 1]), or else the key itself (as
-- integer, then as string).
local function walk(x, path, is_list)
  for i = 1, #path do
    if type(x) ~= "table" then return nil end
    local part = path[i]
    local y = x[part]
    if y == nil then
      local n = normkey(part)
      if mtype(n) == "integer" then
        if is_list(x) then y = x[n + 1] else y = x[n] end
      end
    end
    x = y
  end
  return x
end
M.walk = walk

-- get(record, key, is_list): the field's value, a dotted key walking nested
-- tables and arrays (from 0).
function M.get(record, key, is_list)
  if not M.dotted(key) then return record[key] end
  return walk(record, M.split_path(key), is_list)
end

-- The helpers bound to one pair of JSON sentinels: `null` (the value standing for
-- JSON null, or nil) and `array_mt` (the metatable marking a table as a JSON
-- array, or nil). The returned table, V, is what the other parts take as their
-- first argument: V.null, V.array_mt and
--   is_null(v)    nil or the JSON null
--   is_list(t)    a JSON array: carries array_mt, or is a non-empty sequence 1..n
--   is_object(v)  a table that is neither null nor a list
--   new_list()    an empty JSON array
--   deep_copy(v)  a copy sharing no table with v; metatables (array_mt) are kept
--   values_of(v)  the values of a list-like query value (a list, a map keyed
--                 "0", "1"..., or a scalar standing for a list of one)
-- is_array: the codec's own rule (fdn.json.is_array), the one definition of "a list";
-- without it (a stand-in json, or none) the same rule in Lua.
function M.bind(null, array_mt, is_array)
  local V = { null = null, array_mt = array_mt }

  function V.new_list()
    return array_mt and setmetatable({}, array_mt) or {}
  end

  function V.is_null(v)
    return v == nil or (null ~= nil and rawequal(v, null))
  end

  local function is_list(t)
    if type(t) ~= "table" or rawequal(t, null) then return false end
    local m = getmetatable(t)
    if m ~= nil and m == array_mt then return true end
    if t[1] == nil then return false end
    local n = 0
    for _ in pairs(t) do n = n + 1 end
    return n == #t
  end
  if is_array then is_list = is_array end
  V.is_list = is_list

  function V.is_object(v)
    return type(v) == "table" and not rawequal(v, null) and not is_list(v)
  end

  -- Feathers does JSON.parse(JSON.stringify(record)): a caller never aliases a store.
  local function deep_copy(v)
    if type(v) ~= "table" or rawequal(v, null) then return v end
    local c = {}
    for k, x in pairs(v) do
      if type(x) == "table" then x = deep_copy(x) end
      c[k] = x
    end
    local m = getmetatable(v)
    if m ~= nil then setmetatable(c, m) end
    return c
  end
  V.deep_copy = deep_copy

  function V.values_of(v)
    if type(v) ~= "table" or rawequal(v, null) then return { v } end
    if is_list(v) then return v end
    local out = {}
    for _, x in pairs(v) do out[#out + 1] = x end
    return out
  end

  return V
end

return M
