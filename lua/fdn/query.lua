-- query.lua (require "fdn.query"): the Feathers query language for any adapter:
-- filters ($limit $skip $sort $select), a matcher compiled from a query, the NeDB
-- sort order and $select, with @feathersjs/adapter-commons v5's error messages.
local errors = require "fdn.errors"

local M = {}

local type, pairs, ipairs, next, tostring, tonumber, setmetatable, getmetatable =
  type, pairs, ipairs, next, tostring, tonumber, setmetatable, getmetatable
local rawequal, rawget, error = rawequal, rawget, error
local tointeger, mtype, huge, floor, ceil, min =
  math.tointeger, math.type, math.huge, math.floor, math.ceil, math.min
local sort = table.sort
local sfind, smatch, sbyte, gmatch = string.find, string.match, string.byte, string.gmatch

local BadRequest = errors.BadRequest

local EMPTY = setmetatable({}, { __newindex = function() error("read-only", 2) end })
local DOLLAR = sbyte("$")

local FILTERS = { ["$skip"] = true, ["$sort"] = true, ["$limit"] = true, ["$select"] = true,
  ["$or"] = true, ["$and"] = true }
-- the filters that are not conditions: filter() takes them out of the query
local PAGING = { ["$skip"] = true, ["$sort"] = true, ["$limit"] = true, ["$select"] = true }
local OPERATORS = { ["$in"] = true, ["$nin"] = true, ["$lt"] = true, ["$lte"] = true,
  ["$gt"] = true, ["$gte"] = true, ["$ne"] = true, ["$or"] = true }

---------------------------------------------------------------------------
-- Helpers that do not depend on the JSON sentinels
---------------------------------------------------------------------------

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

-- JavaScript's parseInt(v, 10) for the filters; nil stands for NaN.
local function parse_int(v)
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

-- A JS object's keys are strings: 7 and "7" name one field or record. An integer,
-- or a string that is a canonical integer numeral ("7", "-3", not "07"), becomes
-- that integer; a float with an integral value becomes an integer; anything else
-- is returned as is.
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

local function is_dollar(k)
  return type(k) == "string" and sbyte(k, 1) == DOLLAR
end

local function bool_of(s)
  if s == "true" then return true elseif s == "false" then return false end
  return nil
end

local function truthy(v) return v ~= nil and v ~= false and v ~= 0 and v ~= "" end

-- Dotted paths ("user.name", "items.0.sku") as lists of parts.
local function split_path(k)
  local path = {}
  for part in gmatch(k, "[^.]+") do path[#path + 1] = part end
  return path
end

local function key_lt(a, b)
  return tostring(a) < tostring(b)
end

-- Fills Q with the functions bound to one pair of JSON sentinels: `null` (the
-- value standing for JSON null, or nil) and `array_mt` (the metatable marking a
-- table as a JSON array, or nil).
local function bind(Q, null, array_mt)

  -------------------------------------------------------------------------
  -- Values
  -------------------------------------------------------------------------

  local function new_list()
    return array_mt and setmetatable({}, array_mt) or {}
  end

  local function is_null(v)
    return v == nil or (null ~= nil and rawequal(v, null))
  end

  -- A JSON array: carries array_mt, or is a non-empty sequence 1..n.
  local function is_list(t)
    if type(t) ~= "table" or rawequal(t, null) then return false end
    local m = getmetatable(t)
    if m ~= nil and m == array_mt then return true end
    if t[1] == nil then return false end
    local n = 0
    for _ in pairs(t) do n = n + 1 end
    return n == #t
  end

  local function is_object(v)
    return type(v) == "table" and not rawequal(v, null) and not is_list(v)
  end

  -- A deep copy (Feathers does JSON.parse(JSON.stringify(record))), so a caller
  -- can never alias a store; metatables (array_mt) are kept.
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

  -- A numeric part indexes a JSON array from 0 (Lua's [n + 1]), or else the key
  -- itself (as integer, then as string).
  local function walk(x, path)
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

  -- The values of a list-like query value (a list, a map keyed "0", "1"..., or a
  -- scalar standing for a list of one).
  local function values_of(v)
    if type(v) ~= "table" or rawequal(v, null) then return { v } end
    if is_list(v) then return v end
    local out = {}
    for _, x in pairs(v) do out[#out + 1] = x end
    return out
  end

  -------------------------------------------------------------------------
  -- The matcher: validation (adapter-commons query.ts) and a predicate compiled
  -- once per query.
  --
  -- Field values from REST arrive as strings. A string query value is coerced to
  -- the record value's type when it parses as that type: "30" equals 30,
  -- "true"/"false" equal booleans, "null" matches a missing or null field.
  -- Numbers, booleans and tables in the query are compared without coercion (a
  -- number never equals a string). $lt/$lte/$gt/$gte compare numbers with numbers
  -- and strings with strings (sift's rule), false otherwise. An array field
  -- matches an operator when any of its elements does (sift's rule); $ne/$nin
  -- then mean "no element".
  -------------------------------------------------------------------------

  -- validateQueryProperty: every $-key of a plain object (recursively) must be an
  -- operator. Arrays are not looked into.
  local function validate_prop(q)
    if not is_object(q) then return end
    for k, v in pairs(q) do
      if is_dollar(k) and not OPERATORS[k] then
        error(BadRequest("Invalid query parameter " .. k, q), 0)
      end
      if is_object(v) then validate_prop(v) end
    end
  end

  local function any_element(p)
    return function(rv)
      if p(rv) then return true end
      if type(rv) == "table" then
        for i = 1, #rv do
          if p(rv[i]) then return true end
        end
      end
      return false
    end
  end

  -- Equality with one query value (before the any-element rule).
  local function make_eq(q)
    local t = type(q)
    if is_null(q) then
      return function(rv) return rv == nil or rv == null end
    elseif t == "string" then
      local n, b, isnull = tonumber(q), bool_of(q), q == "null"
      return function(rv)
        if rv == q then return true end
        local rt = type(rv)
        if rt == "number" then return rv == n
        elseif rt == "boolean" then return rv == b
        elseif rv == nil or rv == null then return isnull end
        return false
      end
    elseif t == "table" then
      return function(rv) return deep_equal(rv, q) end
    end
    return function(rv) return rv == q end
  end

  -- $in: a set of the values, with string values also entered as the number and
  -- boolean they parse as; tables are compared deeply.
  local function make_in(list)
    local set, tables, nullok = {}, nil, false
    for _, q in ipairs(values_of(list)) do
      local t = type(q)
      if is_null(q) then
        nullok = true
      elseif t == "table" then
        tables = tables or {}
        tables[#tables + 1] = q
      elseif t == "string" then
        set[q] = true
        local n = tonumber(q)
        if n and n == n then set[n] = true end
        local b = bool_of(q)
        if b ~= nil then set[b] = true end
        if q == "null" then nullok = true end
      elseif q == q then -- not NaN
        set[q] = true
      end
    end
    return function(rv)
      if rv == nil or rv == null then return nullok end
      if type(rv) == "table" then
        if tables then
          for i = 1, #tables do
            if deep_equal(rv, tables[i]) then return true end
          end
        end
        return false
      end
      if rv ~= rv then return false end
      return set[rv] == true
    end
  end

  local CMP = {
    ["$lt"] = function(a, b) return a < b end,
    ["$lte"] = function(a, b) return a <= b end,
    ["$gt"] = function(a, b) return a > b end,
    ["$gte"] = function(a, b) return a >= b end,
  }

  local function make_cmp(op, q)
    local cmp = CMP[op]
    local t = type(q)
    if t == "string" then
      local n, b = tonumber(q), bool_of(q)
      local bn = b ~= nil and (b and 1 or 0) or nil
      return function(rv)
        local rt = type(rv)
        if rt == "string" then return cmp(rv, q)
        elseif rt == "number" then return n ~= nil and cmp(rv, n)
        elseif rt == "boolean" then return bn ~= nil and cmp(rv and 1 or 0, bn) end
        return false
      end
    elseif t == "number" then
      return function(rv) return type(rv) == "number" and cmp(rv, q) end
    elseif t == "boolean" then
      local qn = q and 1 or 0
      return function(rv) return type(rv) == "boolean" and cmp(rv and 1 or 0, qn) end
    end
    return function() return false end
  end

  local compile_value

  -- A field's operator object: {$gt = 1, $lt = 5, ...}, every operator ANDed.
  local function compile_ops(v)
    local preds = {}
    for op, q in pairs(v) do
      if is_dollar(op) then
        local p
        if op == "$in" then
          p = any_element(make_in(q))
        elseif op == "$nin" then
          local inp = any_element(make_in(q))
          p = function(rv) return not inp(rv) end
        elseif op == "$ne" then
          local eq = any_element(make_eq(q))
          p = function(rv) return not eq(rv) end
        elseif op == "$or" then
          local alts = {}
          for _, x in ipairs(values_of(q)) do alts[#alts + 1] = compile_value(x) end
          p = function(rv)
            for i = 1, #alts do
              if alts[i](rv) then return true end
            end
            return false
          end
        elseif CMP[op] then
          p = any_element(make_cmp(op, q))
        else
          error(BadRequest("Invalid query parameter " .. op, v), 0)
        end
        preds[#preds + 1] = p
      end
      -- plain keys beside operators are ignored
    end
    if #preds == 1 then return preds[1] end
    return function(rv)
      for i = 1, #preds do
        if not preds[i](rv) then return false end
      end
      return true
    end
  end

  local function has_dollar(t)
    for k in pairs(t) do
      if is_dollar(k) then return true end
    end
    return false
  end

  -- A predicate over one field value.
  compile_value = function(v)
    if is_object(v) and has_dollar(v) then return compile_ops(v) end
    return any_element(make_eq(v))
  end

  local compile_query

  -- $or / $and: each element is a query object.
  local function compile_list(k, v)
    if type(v) ~= "table" or rawequal(v, null) then
      error(BadRequest("Invalid filter value " .. k), 0)
    end
    local subs, all = {}, true
    for _, sub in ipairs(values_of(v)) do
      if not is_object(sub) then
        error(BadRequest("Invalid filter value " .. k), 0)
      end
      validate_prop(sub)
      local m = compile_query(sub, false)
      if m then all = false end
      subs[#subs + 1] = m or false
    end
    local n = #subs
    if k == "$and" then
      if all then return nil end
      return function(r)
        for i = 1, n do
          local m = subs[i]
          if m and not m(r) then return false end
        end
        return true
      end
    end
    if n > 0 and all then return nil end -- an element that matches everything
    return function(r) -- $or; an empty $or matches nothing
      for i = 1, n do
        local m = subs[i]
        if not m or m(r) then return true end
      end
      return false
    end
  end

  -- A field accessor: dotted paths ("user.name") walk nested tables.
  local function compile_field(k, v)
    local p = compile_value(v)
    if type(k) ~= "string" or not sfind(k, ".", 1, true) then
      return function(r) return p(r[k]) end
    end
    local path = split_path(k)
    return function(r) return p(walk(r, path)) end
  end

  -- Compile a query object into a predicate (nil when it matches everything).
  -- top: the whole query, where $-keys are filters; inside $or/$and only $or is
  -- allowed besides fields (adapter-commons validates those with the operators).
  compile_query = function(q, top)
    local conds = {}
    for k, v in pairs(q) do
      if is_dollar(k) then
        if k == "$or" or (k == "$and" and top) then
          local c = compile_list(k, v)
          if c then conds[#conds + 1] = c end
        elseif top then
          if not FILTERS[k] then error(BadRequest("Invalid filter value " .. k), 0) end
        else
          error(BadRequest("Invalid query parameter " .. k, q), 0)
        end
      else
        validate_prop(v)
        conds[#conds + 1] = compile_field(k, v)
      end
    end
    local n = #conds
    if n == 0 then return nil end
    if n == 1 then return conds[1] end
    return function(r)
      for i = 1, n do
        if not conds[i](r) then return false end
      end
      return true
    end
  end

  -------------------------------------------------------------------------
  -- Filters: $limit $skip $sort $select
  -------------------------------------------------------------------------

  -- adapter-commons getLimit: with paginate.default or .max, $limit is clamped to
  -- [.., max] and a missing or invalid one becomes default (or 0).
  local function get_limit(raw, paginate)
    local limit = parse_int(raw)
    if type(paginate) == "table" and (truthy(paginate.default) or truthy(paginate.max)) then
      local base = truthy(paginate.default) and paginate.default or 0
      local lower = (limit ~= nil and limit >= 0) and limit or base
      local upper = type(paginate.max) == "number" and paginate.max or huge
      return min(lower, upper)
    end
    if limit ~= nil and limit < 0 then return nil end
    return limit
  end

  -- $sort: {field = 1 | -1 | "1" | "-1"}. Lua tables have no key order, so for a
  -- map with several keys the order comes from its metatable's __order list (a
  -- decoder may set one; keys it does not list follow, by name), else the keys
  -- sorted by name. Ordered forms are also accepted: { {"name", 1}, {"age", -1} }
  -- or { {name = 1}, {age = -1} }.
  local function parse_sort(v)
    if type(v) ~= "table" or rawequal(v, null) then return nil end
    local out = {}
    local function add(k, d)
      d = type(d) ~= "table" and parse_int(d) or nil
      if type(k) == "string" and d and d ~= 0 then
        local path = sfind(k, ".", 1, true) and split_path(k) or nil
        out[#out + 1] = { key = k, path = path, dir = d > 0 and 1 or -1 }
      end
    end
    if is_list(v) then
      for _, e in ipairs(v) do
        if type(e) == "table" then
          if e[1] ~= nil then add(e[1], e[2]) else
            local k, d = next(e)
            add(k, d)
          end
        end
      end
    else
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
      sort(rest)
      for i = 1, #rest do order[#order + 1] = rest[i] end
      for _, k in ipairs(order) do add(k, v[k]) end
    end
    if #out == 0 then return nil end
    return out
  end

  local function parse_select(v)
    if v == nil or rawequal(v, null) then return nil end
    if type(v) ~= "table" then return { tostring(v) } end
    local out = {}
    for _, f in ipairs(values_of(v)) do out[#out + 1] = tostring(f) end
    return out
  end

  -- Picks the selected fields (and the id, always) out of a record, as a copy.
  local function select_copy(rec, fields, idf)
    if fields == nil then return deep_copy(rec) end
    local r = {}
    for i = 1, #fields do
      local f = fields[i]
      local x = rec[f]
      if x == nil then
        local nk = normkey(f)
        if nk ~= f then x = rec[nk] end
      end
      if x ~= nil then r[f] = deep_copy(x) end
    end
    r[idf] = deep_copy(rec[idf])
    return r
  end

  -------------------------------------------------------------------------
  -- Sorting (adapter-commons sort.ts, from NeDB): undefined < null < numbers <
  -- strings < booleans < arrays < objects; arrays element by element then by
  -- length; objects by their sorted keys' values then by key count. NaN sorts
  -- before every number (JS would make the order inconsistent). Stable.
  -------------------------------------------------------------------------

  local compare

  local function rank(v)
    if v == nil then return 0 end
    if null ~= nil and rawequal(v, null) then return 1 end
    local t = type(v)
    if t == "number" then return v ~= v and 2 or 3 end
    if t == "string" then return 4 end
    if t == "boolean" then return 5 end
    if t == "table" then return is_list(v) and 6 or 7 end
    return 8
  end

  compare = function(a, b)
    if rawequal(a, b) then return 0 end
    local ra, rb = rank(a), rank(b)
    if ra ~= rb then return ra < rb and -1 or 1 end
    if ra == 3 or ra == 4 then
      if a < b then return -1 elseif a > b then return 1 end
      return 0
    elseif ra == 5 then
      if a == b then return 0 end
      return a and 1 or -1
    elseif ra == 6 then
      local na, nb = #a, #b
      for i = 1, min(na, nb) do
        local c = compare(a[i], b[i])
        if c ~= 0 then return c end
      end
      return na < nb and -1 or (na > nb and 1 or 0)
    elseif ra == 7 then
      local ka, kb = {}, {}
      for k in pairs(a) do ka[#ka + 1] = k end
      for k in pairs(b) do kb[#kb + 1] = k end
      sort(ka, key_lt)
      sort(kb, key_lt)
      for i = 1, min(#ka, #kb) do
        local c = compare(a[ka[i]], b[kb[i]])
        if c ~= 0 then return c end
      end
      return #ka < #kb and -1 or (#ka > #kb and 1 or 0)
    end
    return 0
  end

  local function sort_value(r, spec)
    local path = spec.path
    if not path then return r[spec.key] end
    return walk(r, path)
  end

  -- Sorts the list of records in place, stably, by the parsed $sort.
  local function sort_records(recs, specs)
    local n, ns = #recs, #specs
    if n < 2 then return recs end
    local vals, dirs = {}, {}
    for f = 1, ns do
      local spec, col = specs[f], {}
      for i = 1, n do col[i] = sort_value(recs[i], spec) end
      vals[f], dirs[f] = col, spec.dir
    end
    local idx = {}
    for i = 1, n do idx[i] = i end
    sort(idx, function(i, j)
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

  -------------------------------------------------------------------------
  -- The API
  -------------------------------------------------------------------------

  Q.null, Q.array_mt = null, array_mt

  -- Values. is_null(v): nil or the JSON null. is_list(t): a JSON array (carries
  -- array_mt, or a non-empty sequence). new_list(): an empty JSON array.
  -- deep_copy(v) keeps metatables. get(record, key): the field's value, a dotted
  -- key ("user.name", "items.0") walking nested tables and arrays (from 0).
  Q.is_null, Q.is_list, Q.new_list, Q.deep_copy = is_null, is_list, new_list, deep_copy
  function Q.get(record, key)
    if type(key) ~= "string" or not sfind(key, ".", 1, true) then return record[key] end
    return walk(record, split_path(key))
  end

  -- filter(query, paginate) -> filters, rest. query: params.query (nil or null:
  -- none; anything but a table raises BadRequest "Invalid query"). paginate: the
  -- adapter's paginate option for this call ({default=, max=} or false).
  -- filters: { limit = n|nil, skip = n|nil, sort = specs|nil, select = fields|nil }
  -- as parse_limit/parse_int/parse_sort/parse_select make them. rest: the query
  -- without $limit $skip $sort $select (the query itself when it has none of
  -- them; never modified), for matcher(). Nothing is validated here.
  function Q.filter(q, paginate)
    if q == nil or rawequal(q, null) then q = EMPTY end
    if type(q) ~= "table" then error(BadRequest("Invalid query"), 0) end
    local filters = {
      limit = get_limit(q["$limit"], paginate),
      skip = parse_int(q["$skip"]),
      sort = parse_sort(q["$sort"]),
      select = parse_select(q["$select"]),
    }
    local rest = q
    for k in pairs(q) do
      if PAGING[k] then
        rest = {}
        for k2, v in pairs(q) do
          if not PAGING[k2] then rest[k2] = v end
        end
        break
      end
    end
    return filters, rest
  end

  -- matcher(query) -> predicate, all. Validates and compiles a query (fields,
  -- operators, $or, $and; the filters $limit $skip $sort $select are ignored)
  -- into predicate(record) -> boolean; all is true when it matches every record
  -- (callers may skip calling it). Raises BadRequest with adapter-commons'
  -- messages: "Invalid filter value $k" (unknown top-level $-key, bad $or/$and),
  -- "Invalid query parameter $k" (unknown operator; data: the object holding it).
  local function match_all() return true end
  function Q.matcher(q)
    if q == nil or rawequal(q, null) then return match_all, true end
    if type(q) ~= "table" then error(BadRequest("Invalid query"), 0) end
    local m = compile_query(q, true)
    if m == nil then return match_all, true end
    return m, false
  end

  -- parse_limit(raw, paginate): $limit as adapter-commons getLimit makes it.
  -- parse_sort(v) -> specs|nil: a list of { key =, path = parts|nil, dir = 1|-1 }.
  -- parse_select(v) -> fields|nil: a list of field names (strings).
  Q.parse_limit, Q.parse_sort, Q.parse_select = get_limit, parse_sort, parse_select

  -- select(record, fields, idfield) -> a deep copy of the record's selected fields
  -- and of its id field; all fields when fields is nil.
  Q.select = select_copy

  -- compare(a, b) -> -1|0|1 in the sort.ts order of types and values.
  -- sort(records, specs) sorts a list in place, stably, and returns it.
  -- sorter(specs) -> less(a, b) for table.sort (not stable by itself).
  Q.compare, Q.sort = compare, sort_records
  function Q.sorter(specs)
    local ns = #specs
    return function(a, b)
      for f = 1, ns do
        local spec = specs[f]
        local c = compare(sort_value(a, spec), sort_value(b, spec))
        if c ~= 0 then return c * spec.dir < 0 end
      end
      return false
    end
  end

  return Q
end

-- Helpers shared by every binding: deep_equal(a, b); parse_int(v) (JS parseInt,
-- nil for NaN); normkey(k) (the integer a canonical numeral stands for).
M.deep_equal, M.parse_int, M.normkey = deep_equal, parse_int, normkey

-- new(json) -> a query module bound to json.null and json.array_mt (a table
-- such as fdn.json or a stand-in; nil: no null sentinel, no array metatable).
-- require "fdn.query" is bound to fdn.json when it exists (inside fdnode).
function M.new(json)
  local Q = { new = M.new, deep_equal = deep_equal, parse_int = parse_int, normkey = normkey }
  if json == nil then return bind(Q, nil, nil) end
  return bind(Q, json.null, json.array_mt)
end

local okjson, json = pcall(require, "fdn.json")
if not okjson or type(json) ~= "table" then json = nil end
bind(M, json and json.null, json and json.array_mt)

return M
