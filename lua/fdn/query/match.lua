-- match.lua (require "fdn.query.match"): a query's conditions (fields, operators,
-- $or, $and) validated as adapter-commons query.ts does, then compiled once into a
-- predicate over records. Every function takes V, the bound helpers of values.bind.
local errors = require "fdn.errors"
local values = require "fdn.query.values"

local M = {}

local type, pairs, ipairs, tonumber, rawequal, error =
  type, pairs, ipairs, tonumber, rawequal, error
local sfind = string.find
local deep_equal, is_dollar, bool_of, split_path, walk =
  values.deep_equal, values.is_dollar, values.bool_of, values.split_path, values.walk

local BadRequest = errors.BadRequest

-- The $-keys a query may hold at its top: $or and $and are conditions, the paging
-- filters are left to filter.lua.
local FILTERS = { ["$skip"] = true, ["$sort"] = true, ["$limit"] = true, ["$select"] = true,
  ["$or"] = true, ["$and"] = true }

---------------------------------------------------------------------------
-- Field values from REST arrive as strings. A string query value is coerced to
-- the record value's type when it parses as that type: "30" equals 30,
-- "true"/"false" equal booleans, "null" matches a missing or null field.
-- Numbers, booleans and tables in the query are compared without coercion (a
-- number never equals a string). $lt/$lte/$gt/$gte compare numbers with numbers
-- and strings with strings (sift's rule), false otherwise. An array field
-- matches an operator when any of its elements does (sift's rule); $ne/$nin
-- then mean "no element".
---------------------------------------------------------------------------

-- A predicate true when p holds for the value or for any element of it.
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

-- A predicate true when every one of preds is (true for none). Callers return a
-- single predicate as it is, saving this call.
local function all_of(preds)
  local n = #preds
  return function(x)
    for i = 1, n do
      if not preds[i](x) then return false end
    end
    return true
  end
end

-- A predicate true when one of preds is (false for none).
local function any_of(preds)
  local n = #preds
  return function(x)
    for i = 1, n do
      if preds[i](x) then return true end
    end
    return false
  end
end

-- Equality with one query value (before the any-element rule).
local function make_eq(V, q)
  local null, t = V.null, type(q)
  if V.is_null(q) then
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
-- boolean they parse as; tables are compared deeply. Any element of an array
-- field may be in the set.
local function make_in(V, list)
  local null, is_null = V.null, V.is_null
  local set, tables, nullok = {}, nil, false
  for _, q in ipairs(V.values_of(list)) do
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
  return any_element(function(rv)
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
  end)
end

local CMP = {
  ["$lt"] = function(a, b) return a < b end,
  ["$lte"] = function(a, b) return a <= b end,
  ["$gt"] = function(a, b) return a > b end,
  ["$gte"] = function(a, b) return a >= b end,
}

-- $lt $lte $gt $gte (op) with the query value q, for any element of an array field.
local function make_cmp(_, q, op)
  local cmp = CMP[op]
  local t = type(q)
  if t == "string" then
    local n, b = tonumber(q), bool_of(q)
    local bn = b ~= nil and (b and 1 or 0) or nil
    return any_element(function(rv)
      local rt = type(rv)
      if rt == "string" then return cmp(rv, q)
      elseif rt == "number" then return n ~= nil and cmp(rv, n)
      elseif rt == "boolean" then return bn ~= nil and cmp(rv and 1 or 0, bn) end
      return false
    end)
  elseif t == "number" then
    return any_element(function(rv) return type(rv) == "number" and cmp(rv, q) end)
  elseif t == "boolean" then
    local qn = q and 1 or 0
    return any_element(function(rv) return type(rv) == "boolean" and cmp(rv and 1 or 0, qn) end)
  end
  return any_element(function() return false end)
end

local function match_all() return true end
local function match_none() return false end

local compile_value

-- The operators a field's value may use, each compiled from (V, query value,
-- operator). Their names are also the $-keys validate_prop lets through.
local OPS = {
  ["$in"] = make_in,
  ["$nin"] = function(V, q)
    local inp = make_in(V, q)
    return function(rv) return not inp(rv) end
  end,
  ["$ne"] = function(V, q)
    local eq = any_element(make_eq(V, q))
    return function(rv) return not eq(rv) end
  end,
  ["$or"] = function(V, q)
    local alts = {}
    for _, x in ipairs(V.values_of(q)) do alts[#alts + 1] = compile_value(V, x) end
    return any_of(alts)
  end,
}
for op in pairs(CMP) do OPS[op] = make_cmp end

-- validateQueryProperty: every $-key of a plain object (recursively) must be an
-- operator. Arrays are not looked into.
local function validate_prop(V, q)
  if not V.is_object(q) then return end
  for k, v in pairs(q) do
    if is_dollar(k) and not OPS[k] then
      error(BadRequest("Invalid query parameter " .. k, q), 0)
    end
    if V.is_object(v) then validate_prop(V, v) end
  end
end

-- A field's operator object: {$gt = 1, $lt = 5, ...}, every operator ANDed;
-- plain keys beside operators are ignored.
local function compile_ops(V, v)
  local preds = {}
  for op, q in pairs(v) do
    if is_dollar(op) then
      local make = OPS[op]
      if not make then error(BadRequest("Invalid query parameter " .. op, v), 0) end
      preds[#preds + 1] = make(V, q, op)
    end
  end
  if #preds == 1 then return preds[1] end
  return all_of(preds)
end

local function has_dollar(t)
  for k in pairs(t) do
    if is_dollar(k) then return true end
  end
  return false
end

-- A predicate over one field value.
compile_value = function(V, v)
  if V.is_object(v) and has_dollar(v) then return compile_ops(V, v) end
  return any_element(make_eq(V, v))
end

-- A field accessor: dotted paths ("user.name") walk nested tables.
local function compile_field(V, k, v)
  local p = compile_value(V, v)
  if type(k) ~= "string" or not sfind(k, ".", 1, true) then
    return function(r) return p(r[k]) end
  end
  local path, is_list = split_path(k), V.is_list
  return function(r) return p(walk(r, path, is_list)) end
end

-- dollar_key(k, top, q): a $-key of query object q (top: the whole query). True for $or,
-- and $and at the top (a list of queries); false for a filter at the top ($limit, ...);
-- anything else raises adapter-commons' BadRequest.
function M.dollar_key(k, top, q)
  if k == "$or" or (k == "$and" and top) then return true end
  if top then
    if not FILTERS[k] then error(BadRequest("Invalid filter value " .. k), 0) end
    return false
  end
  error(BadRequest("Invalid query parameter " .. k, q), 0)
end

local compile_query

-- $or / $and: each element is a query object. Returns the predicates of the
-- elements that have conditions, in order, and how many others (matching
-- everything) there are.
local function compile_subs(V, k, v)
  if type(v) ~= "table" or rawequal(v, V.null) then
    error(BadRequest("Invalid filter value " .. k), 0)
  end
  local preds, open = {}, 0
  for _, sub in ipairs(V.values_of(v)) do
    if not V.is_object(sub) then
      error(BadRequest("Invalid filter value " .. k), 0)
    end
    validate_prop(V, sub)
    local m = compile_query(V, sub, false)
    if m then preds[#preds + 1] = m else open = open + 1 end
  end
  return preds, open
end

-- $or / $and as one predicate, or nil when it matches everything. An empty $or
-- matches nothing; one with an element matching everything matches everything
-- (as a predicate, not nil, unless every element does).
local function compile_list(V, k, v)
  local preds, open = compile_subs(V, k, v)
  local n = #preds
  if k == "$and" then
    if n < 2 then return preds[1] end -- nil: no condition
    return all_of(preds)
  end
  if n == 0 then return open == 0 and match_none or nil end
  if open > 0 then return match_all end
  if n == 1 then return preds[1] end
  return any_of(preds)
end

-- Compile a query object into a predicate (nil when it matches everything).
-- top: the whole query, where $-keys are filters; inside $or/$and only $or is
-- allowed besides fields (adapter-commons validates those with the operators).
compile_query = function(V, q, top)
  local conds = {}
  for k, v in pairs(q) do
    if is_dollar(k) then
      if M.dollar_key(k, top, q) then
        local c = compile_list(V, k, v)
        if c then conds[#conds + 1] = c end
      end
    else
      validate_prop(V, v)
      conds[#conds + 1] = compile_field(V, k, v)
    end
  end
  if #conds < 2 then return conds[1] end -- nil: no condition
  return all_of(conds)
end

-- matcher(V) -> fdn.query's matcher(query) -> predicate, all (see init.lua).
function M.matcher(V)
  local null = V.null
  return function(q)
    if q == nil or rawequal(q, null) then return match_all, true end
    if type(q) ~= "table" then error(BadRequest("Invalid query"), 0) end
    local m = compile_query(V, q, true)
    if m == nil then return match_all, true end
    return m, false
  end
end

-- Parts for tests: make_eq(V, q) (equality, before the any-element rule),
-- make_in(V, list), make_cmp(V, q, op), any_element(p), all_of(preds), any_of(preds).
M.make_eq, M.make_in, M.make_cmp = make_eq, make_in, make_cmp
M.any_element, M.all_of, M.any_of = any_element, all_of, any_of

return M
