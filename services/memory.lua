-- memory.lua (require "fdn.memory"): the in-memory service adapter, with the
-- behaviour, query syntax and error messages of @feathersjs/memory v5 and
-- @feathersjs/adapter-commons v5. Deviations are noted where they happen.
local errors = require "fdn.errors"

local M = {}

local type, pairs, ipairs, next, tostring, tonumber, setmetatable, getmetatable =
  type, pairs, ipairs, next, tostring, tonumber, setmetatable, getmetatable
local rawequal, rawget, error = rawequal, rawget, error
local tointeger, mtype, huge, floor, ceil, min =
  math.tointeger, math.type, math.huge, math.floor, math.ceil, math.min
local sort = table.sort
local sfind, smatch, sbyte, gmatch = string.find, string.match, string.byte, string.gmatch
local format = string.format

local BadRequest, NotFound, MethodNotAllowed =
  errors.BadRequest, errors.NotFound, errors.MethodNotAllowed

-- fdn.json exists inside the runtime only; plain lua5.4 tests run without it.
local okjson, json = pcall(require, "fdn.json")
if not okjson or type(json) ~= "table" then json = nil end
local array_mt = json and json.array_mt or nil
local null = json and json.null or nil

local EMPTY = setmetatable({}, { __newindex = function() error("read-only", 2) end })
local DOLLAR = sbyte("$")

---------------------------------------------------------------------------
-- Values
---------------------------------------------------------------------------

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

-- Results are deep copies (Feathers does JSON.parse(JSON.stringify(record))), so a
-- caller can never alias the store; metatables (array_mt) are kept.
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

---------------------------------------------------------------------------
-- Ids and the store's order
--
-- A JS object's keys are strings: 7 and "7" name one record. Here the store is
-- keyed by normalized ids: an integer, or a string that is a canonical integer
-- numeral ("7", "-3", not "07"), becomes that integer; a float with an integral
-- value becomes an integer; anything else is kept as is. A record keeps its id
-- field exactly as it was given.
--
-- Object.values order is emulated: "index" keys (integers 0..2^32-2) ascending,
-- then every other key in insertion order (a key deleted and re-added goes last;
-- overwriting a key keeps its place). Lists of keys are kept beside the store and
-- compacted lazily, so inserts and deletes are O(1) and a scan is O(n).
---------------------------------------------------------------------------

local MAX_INDEX = 4294967294

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

local function is_index(k)
  return mtype(k) == "integer" and k >= 0 and k <= MAX_INDEX
end

local function new_state(startId)
  return {
    store = {},
    uid = startId or 0,
    ikeys = {}, iset = {}, idirty = false, -- index keys, ascending once sorted
    skeys = {}, spos = {},                 -- other keys, insertion order
    live = 0, stale = 0,
  }
end

local function s_insert(s, key, rec)
  local store = s.store
  if store[key] ~= nil then
    store[key] = rec -- overwrite keeps the key's place
    return
  end
  store[key] = rec
  s.live = s.live + 1
  if is_index(key) then
    if s.iset[key] then
      s.stale = s.stale - 1 -- its old (stale) entry is live again, in place
    else
      local ik = s.ikeys
      local n = #ik
      if n > 0 and key < ik[n] then s.idirty = true end
      ik[n + 1] = key
      s.iset[key] = true
    end
  else
    local sk = s.skeys
    local n = #sk + 1
    sk[n] = key
    s.spos[key] = n -- any earlier entry of this key is now stale (counted at delete)
  end
end

local function s_delete(s, key)
  if s.store[key] == nil then return end
  s.store[key] = nil
  s.live = s.live - 1
  s.stale = s.stale + 1
end

-- Sort the index keys when out of order; drop stale entries when they outnumber
-- the live ones.
local function s_tidy(s)
  local store = s.store
  if s.stale > 32 and s.stale > s.live then
    local ik, iset = {}, {}
    for _, k in ipairs(s.ikeys) do
      if store[k] ~= nil then ik[#ik + 1] = k; iset[k] = true end
    end
    local sk, spos = {}, {}
    local old, opos = s.skeys, s.spos
    for i = 1, #old do
      local k = old[i]
      if opos[k] == i and store[k] ~= nil then sk[#sk + 1] = k; spos[k] = #sk end
    end
    s.ikeys, s.iset, s.skeys, s.spos, s.stale = ik, iset, sk, spos, 0
  end
  if s.idirty then
    sort(s.ikeys)
    s.idirty = false
  end
end

-- Scans the records in store order: counts those matching `match` (nil: all),
-- keeps the from-th to to-th of them, stops after the stop-th.
local function s_collect(s, match, from, to, stop)
  s_tidy(s)
  local store, out, n, total = s.store, {}, 0, 0
  local ik = s.ikeys
  for i = 1, #ik do
    local r = store[ik[i]]
    if r ~= nil and (match == nil or match(r)) then
      total = total + 1
      if total >= from and total <= to then n = n + 1; out[n] = r end
      if total >= stop then return out, total end
    end
  end
  local sk, spos = s.skeys, s.spos
  for i = 1, #sk do
    local k = sk[i]
    if spos[k] == i then
      local r = store[k]
      if r ~= nil and (match == nil or match(r)) then
        total = total + 1
        if total >= from and total <= to then n = n + 1; out[n] = r end
        if total >= stop then return out, total end
      end
    end
  end
  return out, total
end

-- Load initial records (a table keyed by id, or a list) into a fresh state. A
-- record's id field wins over its key; a record without one gets its key (map) or
-- the next auto id (list). Records are copied so that the caller's tables are
-- never patched in place.
local function s_load(s, idf, records)
  if type(records) ~= "table" then return end
  local keys = {}
  for k in pairs(records) do keys[#keys + 1] = k end
  -- a deterministic order for the non-index keys of a map (Lua has no insertion order)
  sort(keys, function(a, b)
    local ta, tb = type(a), type(b)
    if ta ~= tb then return ta < tb end
    if ta == "number" or ta == "string" then return a < b end
    return tostring(a) < tostring(b)
  end)
  local list = is_list(records)
  for _, k in ipairs(keys) do
    local rec = deep_copy(records[k])
    if type(rec) == "table" then
      local id = rec[idf]
      if is_null(id) then
        if list then
          repeat id = s.uid; s.uid = id + 1 until s.store[normkey(id)] == nil
        else
          id = k
        end
        rec[idf] = id
      end
      s_insert(s, normkey(id), rec)
    end
  end
end

-- The state, rebuilt when someone assigned a new table to svc.store.
local function state(self)
  local s = self._s
  local st = rawget(self, "store")
  if st ~= s.store then
    local ns = new_state(s.uid)
    s_load(ns, self.options.id, st)
    self._s, self.store = ns, ns.store
    s = ns
  end
  return s
end

-- Dotted paths ("user.name", "items.0.sku"): a numeric part indexes a JSON array
-- from 0 (Lua's [n + 1]), or else the key itself (as integer, then as string).
local function split_path(k)
  local path = {}
  for part in gmatch(k, "[^.]+") do path[#path + 1] = part end
  return path
end

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

local function id_text(id)
  if mtype(id) == "float" and tointeger(id) then id = tointeger(id) end
  if is_null(id) then return "null" end
  return tostring(id)
end

---------------------------------------------------------------------------
-- Query: validation (adapter-commons query.ts) and a matcher compiled once per call
--
-- Field values from REST arrive as strings. A string query value is coerced to the
-- record value's type when it parses as that type: "30" equals 30, "true"/"false"
-- equal booleans, "null" matches a missing or null field. Numbers, booleans and
-- tables in the query are compared without coercion (a number never equals a
-- string). $lt/$lte/$gt/$gte compare numbers with numbers and strings with strings
-- (sift's rule), false otherwise. An array field matches an operator when any of its
-- elements does (sift's rule); $ne/$nin then mean "no element".
---------------------------------------------------------------------------

local FILTERS = { ["$skip"] = true, ["$sort"] = true, ["$limit"] = true, ["$select"] = true,
  ["$or"] = true, ["$and"] = true }
local OPERATORS = { ["$in"] = true, ["$nin"] = true, ["$lt"] = true, ["$lte"] = true,
  ["$gt"] = true, ["$gte"] = true, ["$ne"] = true, ["$or"] = true }

local function is_dollar(k)
  return type(k) == "string" and sbyte(k, 1) == DOLLAR
end

local function is_object(v)
  return type(v) == "table" and not rawequal(v, null) and not is_list(v)
end

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

-- The values of a list-like query value (a list, a map keyed "0", "1"..., or a
-- scalar standing for a list of one).
local function values_of(v)
  if type(v) ~= "table" or rawequal(v, null) then return { v } end
  if is_list(v) then return v end
  local out = {}
  for _, x in pairs(v) do out[#out + 1] = x end
  return out
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

local function bool_of(s)
  if s == "true" then return true elseif s == "false" then return false end
  return nil
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

---------------------------------------------------------------------------
-- Filters: $limit $skip $sort $select
---------------------------------------------------------------------------

local function truthy(v) return v ~= nil and v ~= false and v ~= 0 and v ~= "" end

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
-- decoder may set one), else the keys sorted by name. Ordered forms are also
-- accepted: { {"name", 1}, {"age", -1} } or { {name = 1}, {age = -1} }.
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
    local order = type(m) == "table" and type(rawget(m, "__order")) == "table" and m.__order
    if not order then
      order = {}
      for k in pairs(v) do
        if type(k) == "string" then order[#order + 1] = k end
      end
      sort(order)
    end
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

---------------------------------------------------------------------------
-- Sorting (adapter-commons sort.ts, from NeDB): undefined < null < numbers <
-- strings < booleans < arrays < objects; arrays element by element then by
-- length; objects by their sorted keys' values then by key count. NaN sorts
-- before every number (JS would make the order inconsistent). Stable.
---------------------------------------------------------------------------

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

local function key_lt(a, b)
  return tostring(a) < tostring(b)
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

---------------------------------------------------------------------------
-- The service
---------------------------------------------------------------------------

local Service = {}

-- params.paginate / params.adapter override the options for one call
-- (adapter-commons getOptions).
local function call_options(self, params)
  local paginate = params.paginate
  if paginate == nil then paginate = self.options.paginate end
  local multi = self.options.multi
  local ad = params.adapter
  if type(ad) == "table" then
    if ad.paginate ~= nil then paginate = ad.paginate end
    if ad.multi ~= nil then multi = ad.multi end
  end
  return paginate, multi
end

local function allows_multi(multi, method)
  if multi == true then return true end
  if not multi then return false end
  if type(multi) == "table" then
    for _, m in ipairs(multi) do
      if m == method then return true end
    end
  end
  return false
end

-- Everything a call needs from params.query, validated and compiled once.
local function plan(params, paginate)
  local q = params.query
  if q == nil or rawequal(q, null) then q = EMPTY end
  if type(q) ~= "table" then error(BadRequest("Invalid query"), 0) end
  return {
    match = compile_query(q, true),
    limit = get_limit(q["$limit"], paginate),
    skip = parse_int(q["$skip"]),
    sort = parse_sort(q["$sort"]),
    select = parse_select(q["$select"]),
  }
end

-- The records that $skip (and $limit when uselimit) leave of the matching ones, in
-- order, as recs[first..last] (no copies), and the total of matches. With
-- `early` the scan stops once the window is full (the total is then not needed).
local function entries(s, p, uselimit, early)
  local skip = p.skip
  if skip == nil or skip < 0 then skip = 0 end
  local limit = uselimit and p.limit or nil
  local first, last = skip + 1, limit and skip + limit or huge
  if p.sort then
    local recs = s_collect(s, p.match, 1, huge, huge)
    local total = #recs
    sort_records(recs, p.sort)
    return recs, first, min(last, total), total
  end
  local recs, total = s_collect(s, p.match, first, last, early and last or huge)
  return recs, 1, #recs, total
end

local function lookup(s, id, match)
  local rec = s.store[normkey(id)]
  if rec == nil and id == nil then rec = s.store["null"] end
  if rec ~= nil and (match == nil or match(rec)) then return rec end
  error(NotFound(format("No record found for id '%s'", id_text(id))), 0)
end

local function check_data(data, method)
  if type(data) ~= "table" or rawequal(data, null) then
    error(BadRequest(format("A data object must be provided to the '%s' method", method)), 0)
  end
end

function Service.find(self, params)
  params = params or EMPTY
  local s = state(self)
  local paginate = call_options(self, params)
  local p = plan(params, paginate)
  local idf, sel = self.options.id, p.select
  -- without pagination no total is needed: the scan stops once the page is full
  local recs, first, last, total = entries(s, p, true, not paginate)
  local data = new_list()
  for i = first, last do data[#data + 1] = select_copy(recs[i], sel, idf) end
  if not paginate then return data end
  return { total = total, limit = p.limit, skip = p.skip or 0, data = data }
end

function Service.get(self, id, params)
  params = params or EMPTY
  local s = state(self)
  local p = plan(params, call_options(self, params))
  return select_copy(lookup(s, id, p.match), p.select, self.options.id)
end

local function create_one(self, s, data, fields)
  check_data(data, "create")
  local idf = self.options.id
  local rec = deep_copy(data)
  local id = rec[idf]
  if id == nil or id == false or id == "" or rawequal(id, null) then
    local store = s.store
    repeat id = s.uid; s.uid = id + 1 until store[id] == nil
    rec[idf] = id
  end
  s_insert(s, normkey(id), rec)
  return select_copy(rec, fields, idf)
end

function Service.create(self, data, params)
  params = params or EMPTY
  local s = state(self)
  local q = params.query
  local fields = type(q) == "table" and parse_select(q["$select"]) or nil
  if is_list(data) then
    local _, multi = call_options(self, params)
    if not allows_multi(multi, "create") then
      error(MethodNotAllowed("Can not create multiple entries"), 0)
    end
    for i = 1, #data do check_data(data[i], "create") end -- all or nothing
    local out = new_list()
    for i = 1, #data do out[i] = create_one(self, s, data[i], fields) end
    return out
  end
  return create_one(self, s, data, fields)
end

function Service.update(self, id, data, params)
  params = params or EMPTY
  if is_null(id) or is_list(data) then
    error(BadRequest("You can not replace multiple instances. Did you mean 'patch'?"), 0)
  end
  check_data(data, "update")
  local s = state(self)
  local p = plan(params, call_options(self, params))
  local idf = self.options.id
  -- the query must match the record as it is (Feathers checks it after the write)
  local old = lookup(s, id, p.match)
  local rec = deep_copy(data)
  rec[idf] = old[idf] -- the id keeps its type
  s_insert(s, normkey(old[idf]), rec)
  return select_copy(rec, p.select, idf)
end

local function patch_record(rec, data, idf)
  for k, v in pairs(data) do
    if k ~= idf then rec[k] = deep_copy(v) end
  end
end

function Service.patch(self, id, data, params)
  params = params or EMPTY
  local s = state(self)
  local paginate, multi = call_options(self, params)
  if is_null(id) and not allows_multi(multi, "patch") then
    error(MethodNotAllowed("Can not patch multiple entries"), 0)
  end
  check_data(data, "patch")
  local p = plan(params, paginate)
  local idf = self.options.id
  if not is_null(id) then
    local rec = lookup(s, id, p.match)
    patch_record(rec, data, idf)
    return select_copy(rec, p.select, idf)
  end
  local recs, first, last = entries(s, p, false) -- $limit is ignored (Feathers drops it)
  local out = new_list()
  for i = first, last do
    local rec = recs[i]
    patch_record(rec, data, idf)
    out[#out + 1] = select_copy(rec, p.select, idf)
  end
  return out
end

function Service.remove(self, id, params)
  params = params or EMPTY
  local s = state(self)
  local paginate, multi = call_options(self, params)
  if is_null(id) and not allows_multi(multi, "remove") then
    error(MethodNotAllowed("Can not remove multiple entries"), 0)
  end
  local p = plan(params, paginate)
  local idf = self.options.id
  if not is_null(id) then
    local rec = lookup(s, id, p.match)
    local out = select_copy(rec, p.select, idf)
    s_delete(s, normkey(rec[idf]))
    return out
  end
  local recs, first, last = entries(s, p, false)
  local out = new_list()
  for i = first, last do
    local rec = recs[i]
    out[#out + 1] = select_copy(rec, p.select, idf)
    s_delete(s, normkey(rec[idf]))
  end
  return out
end

-- Hot reload: take over the records, the order and the id counter of the old
-- service. With an fdn memory service the state is shared (calls still running
-- on the old one write to the same store); anything else with a `store` table is
-- loaded as initial records.
function Service.migrate(self, old)
  if type(old) ~= "table" then return end
  local os_ = rawget(old, "_s")
  if type(os_) == "table" and os_.store ~= nil then
    state(old) -- fold in a store table assigned by hand
    os_ = old._s
    self._s, self.store = os_, os_.store
    return
  end
  if type(old.store) == "table" then
    local s = new_state(self._s.uid)
    s_load(s, self.options.id, old.store)
    local uid = old._uId
    if type(uid) == "number" and uid > s.uid then s.uid = uid end
    self._s, self.store = s, s.store
  end
end

-- memory.new(options) -> a service table. options: id ("id"), startId (0),
-- store (records keyed by id, or a list), paginate ({default=, max=}),
-- multi (false | true | {"create", "patch", "remove"}).
function M.new(options)
  options = options or {}
  local opts = {}
  for k, v in pairs(options) do opts[k] = v end
  if opts.id == nil then opts.id = "id" end
  if opts.startId == nil then opts.startId = 0 end
  if opts.paginate == nil then opts.paginate = false end
  if opts.multi == nil then opts.multi = false end
  local s = new_state(opts.startId)
  s_load(s, opts.id, opts.store)
  opts.store = nil
  local svc = { options = opts, id = opts.id, _s = s, store = s.store }
  for name, fn in pairs(Service) do svc[name] = fn end
  return svc
end

-- Exposed for tests and other adapters.
M.compare = compare
M.normkey = normkey

return M
