-- filter.lua (require "fdn.query.filter"): Feathers' filterQuery: $limit (with the
-- paginate option), $skip, $sort and $select taken out of a query, and $select
-- applied to a record. V: the helpers of values.bind.
local errors = require "fdn.errors"
local values = require "fdn.query.values"
local sort = require "fdn.query.sort"

local M = {}

local type, pairs, ipairs, tostring, setmetatable, rawequal, error =
  type, pairs, ipairs, tostring, setmetatable, rawequal, error
local huge, min = math.huge, math.min
local parse_int, normkey, truthy = values.parse_int, values.normkey, values.truthy

local BadRequest = errors.BadRequest

local EMPTY = setmetatable({}, { __newindex = function() error("read-only", 2) end })
-- the filters that are not conditions: filter() takes them out of the query
local PAGING = { ["$skip"] = true, ["$sort"] = true, ["$limit"] = true, ["$select"] = true }

-- parse_limit(raw, paginate): adapter-commons getLimit: with paginate.default or
-- .max, $limit is clamped to [.., max] and a missing or invalid one becomes
-- default (or 0).
function M.parse_limit(raw, paginate)
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

-- parse_select(V, v) -> fields|nil: $select as a list of field names (strings).
function M.parse_select(V, v)
  if v == nil or rawequal(v, V.null) then return nil end
  if type(v) ~= "table" then return { tostring(v) } end
  local out = {}
  for _, f in ipairs(V.values_of(v)) do out[#out + 1] = tostring(f) end
  return out
end

-- select(V) -> select(rec, fields, idf): a deep copy of the selected fields (a
-- numeric name also reaches an integer key) and of the id field; all fields when
-- fields is nil. Bound to V once: it runs for every record a call returns.
function M.select(V)
  local deep_copy = V.deep_copy
  return function(rec, fields, idf)
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
end

-- The query without the paging filters: q itself when it has none (never modified).
local function conditions(q)
  for k in pairs(q) do
    if PAGING[k] then
      local rest = {}
      for k2, v in pairs(q) do
        if not PAGING[k2] then rest[k2] = v end
      end
      return rest
    end
  end
  return q
end

-- filter(V) -> fdn.query's filter(query, paginate) -> filters, rest (see init.lua).
function M.filter(V)
  local null, parse_limit, parse_select, parse_sort = V.null, M.parse_limit, M.parse_select, sort.parse
  return function(q, paginate)
    if q == nil or rawequal(q, null) then q = EMPTY end
    if type(q) ~= "table" then error(BadRequest("Invalid query"), 0) end
    local filters = {
      limit = parse_limit(q["$limit"], paginate),
      skip = parse_int(q["$skip"]),
      sort = parse_sort(V, q["$sort"]),
      select = parse_select(V, q["$select"]),
    }
    return filters, conditions(q)
  end
end

return M
