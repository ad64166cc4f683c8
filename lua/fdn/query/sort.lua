-- sort.lua (require "fdn.query.sort"): $sort parsed into specs (the key priority
-- from an ordered form or from the __order list on its metatable) and the order
-- of records by them: adapter-commons sort.ts, from NeDB.
local values = require "fdn.query.values"

local M = {}

local type, pairs, ipairs, next, tostring, getmetatable, rawequal, rawget =
  type, pairs, ipairs, next, tostring, getmetatable, rawequal, rawget
local min = math.min
local tsort = table.sort
local parse_int, dotted, split_path, walk = values.parse_int, values.dotted, values.split_path, values.walk

---------------------------------------------------------------------------
-- $sort: {field = 1 | -1 | "1" | "-1"}. Lua tables have no key order, so for a
-- map with several keys the order comes from its metatable's __order list
-- (core/qs.c sets one; keys it does not list follow, by name), else the keys
-- sorted by name. Ordered forms are also accepted: { {"name", 1}, {"age", -1} }
-- or { {name = 1}, {age = -1} }.
---------------------------------------------------------------------------

-- Appends the spec of key k with direction d, unless either is invalid or d is 0.
local function add_spec(out, k, d)
  d = type(d) ~= "table" and parse_int(d) or nil
  if type(k) == "string" and d and d ~= 0 then
    local path = dotted(k) and split_path(k) or nil
    out[#out + 1] = { key = k, path = path, dir = d > 0 and 1 or -1 }
  end
end

-- A $sort map's keys in priority order: those its __order lists (once each),
-- then its other string keys by name.
local function key_order(v)
  local m = getmetatable(v)
  local listed = type(m) == "table" and rawget(m, "__order")
  local order, seen = {}, {}
  if type(listed) == "table" then
    for _, k in ipairs(listed) do
      if not seen[k] then seen[k] = true; order[#order + 1] = k end
    end
  end
  local rest = {}
  for k in pairs(v) do
    if type(k) == "string" and not seen[k] then rest[#rest + 1] = k end
  end
  tsort(rest)
  for i = 1, #rest do order[#order + 1] = rest[i] end
  return order
end

-- parse(V, v) -> specs|nil: fdn.query's parse_sort (see init.lua).
function M.parse(V, v)
  if type(v) ~= "table" or rawequal(v, V.null) then return nil end
  local out = {}
  if V.is_list(v) then
    for _, e in ipairs(v) do
      if type(e) == "table" then
        if e[1] ~= nil then add_spec(out, e[1], e[2]) else add_spec(out, next(e)) end
      end
    end
  else
    for _, k in ipairs(key_order(v)) do add_spec(out, k, v[k]) end
  end
  if #out == 0 then return nil end
  return out
end

---------------------------------------------------------------------------
-- The order of values (sort.ts): undefined < null < numbers < strings <
-- booleans < arrays < objects; arrays element by element then by length; objects
-- by their sorted keys' values then by key count. NaN sorts before every number
-- (JS would make the order inconsistent).
---------------------------------------------------------------------------

local function rank(v, null, is_list)
  if v == nil then return 0 end
  if null ~= nil and rawequal(v, null) then return 1 end
  local t = type(v)
  if t == "number" then return v ~= v and 2 or 3 end
  if t == "string" then return 4 end
  if t == "boolean" then return 5 end
  if t == "table" then return is_list(v) and 6 or 7 end
  return 8
end

local function compare_lists(a, b, compare)
  local na, nb = #a, #b
  for i = 1, min(na, nb) do
    local c = compare(a[i], b[i])
    if c ~= 0 then return c end
  end
  return na < nb and -1 or (na > nb and 1 or 0)
end

local function key_lt(a, b)
  return tostring(a) < tostring(b)
end

local function sorted_keys(t)
  local ks = {}
  for k in pairs(t) do ks[#ks + 1] = k end
  tsort(ks, key_lt)
  return ks
end

local function compare_objects(a, b, compare)
  local ka, kb = sorted_keys(a), sorted_keys(b)
  for i = 1, min(#ka, #kb) do
    local c = compare(a[ka[i]], b[kb[i]])
    if c ~= 0 then return c end
  end
  return #ka < #kb and -1 or (#ka > #kb and 1 or 0)
end

-- comparator(V) -> compare(a, b) -> -1|0|1, for V's null and lists.
function M.comparator(V)
  local null, is_list = V.null, V.is_list
  local compare
  compare = function(a, b)
    if rawequal(a, b) then return 0 end
    local ra, rb = rank(a, null, is_list), rank(b, null, is_list)
    if ra ~= rb then return ra < rb and -1 or 1 end
    if ra == 3 or ra == 4 then
      if a < b then return -1 elseif a > b then return 1 end
      return 0
    elseif ra == 5 then
      if a == b then return 0 end
      return a and 1 or -1
    elseif ra == 6 then
      return compare_lists(a, b, compare)
    elseif ra == 7 then
      return compare_objects(a, b, compare)
    end
    return 0
  end
  return compare
end

---------------------------------------------------------------------------
-- Records in the order of specs (from parse), compared by compare (from
-- comparator); is_list: V.is_list, for array indexes in dotted keys.
---------------------------------------------------------------------------

local function sort_value(r, spec, is_list)
  local path = spec.path
  if not path then return r[spec.key] end
  return walk(r, path, is_list)
end

-- sort(recs, specs, compare, is_list): sorts a list in place, stably; returns it.
function M.sort(recs, specs, compare, is_list)
  local n, ns = #recs, #specs
  if n < 2 then return recs end
  local vals, dirs = {}, {} -- each key's values, read once
  for f = 1, ns do
    local spec, col = specs[f], {}
    for i = 1, n do col[i] = sort_value(recs[i], spec, is_list) end
    vals[f], dirs[f] = col, spec.dir
  end
  local idx = {}
  for i = 1, n do idx[i] = i end
  tsort(idx, function(i, j)
    for f = 1, ns do
      local col = vals[f]
      local c = compare(col[i], col[j])
      if c ~= 0 then return c * dirs[f] < 0 end
    end
    return i < j
  end)
  local out = {}
  for i = 1, n do out[i] = recs[idx[i]] end
  for i = 1, n do recs[i] = out[i] end
  return recs
end

-- sorter(specs, compare, is_list) -> less(a, b) for table.sort (not stable).
function M.sorter(specs, compare, is_list)
  local ns = #specs
  return function(a, b)
    for f = 1, ns do
      local spec = specs[f]
      local c = compare(sort_value(a, spec, is_list), sort_value(b, spec, is_list))
      if c ~= 0 then return c * spec.dir < 0 end
    end
    return false
  end
end

return M
