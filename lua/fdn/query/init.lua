-- query (require "fdn.query"): the Feathers query language for any adapter, with
-- @feathersjs/adapter-commons v5's error messages, bound to fdn.json's null and
-- array_mt. Its parts, in this folder: values, match, filter, sort.
local values = require "fdn.query.values"
local match = require "fdn.query.match"
local filter = require "fdn.query.filter"
local sort = require "fdn.query.sort"

local M = {}

local type = type

-- Fills Q with the API bound to one pair of JSON sentinels: `null` (the value
-- standing for JSON null, or nil) and `array_mt` (the metatable marking a table
-- as a JSON array, or nil).
local function bind(Q, null, array_mt, is_array)
  local V = values.bind(null, array_mt, is_array)
  local is_list = V.is_list
  local compare = sort.comparator(V)

  Q.null, Q.array_mt = null, array_mt

  -- Values. is_null(v): nil or the JSON null. is_list(t): a JSON array (carries
  -- array_mt, or a non-empty sequence). new_list(): an empty JSON array.
  -- deep_copy(v) keeps metatables. get(record, key): the field's value, a dotted
  -- key ("user.name", "items.0") walking nested tables and arrays (from 0).
  Q.is_null, Q.is_list, Q.new_list, Q.deep_copy = V.is_null, is_list, V.new_list, V.deep_copy
  function Q.get(record, key) return values.get(record, key, is_list) end

  -- filter(query, paginate) -> filters, rest. query: params.query (nil or null:
  -- none; anything but a table raises BadRequest "Invalid query"). paginate: the
  -- adapter's paginate option for this call ({default=, max=} or false).
  -- filters: { limit = n|nil, skip = n|nil, sort = specs|nil, select = fields|nil }
  -- as parse_limit/parse_int/parse_sort/parse_select make them. rest: the query
  -- without $limit $skip $sort $select (the query itself when it has none of
  -- them; never modified), for matcher(). Nothing is validated here.
  Q.filter = filter.filter(V)

  -- matcher(query) -> predicate, all. Validates and compiles a query (fields,
  -- operators, $or, $and; the filters $limit $skip $sort $select are ignored)
  -- into predicate(record) -> boolean; all is true when it matches every record
  -- (callers may skip calling it). Raises BadRequest with adapter-commons'
  -- messages: "Invalid filter value $k" (unknown top-level $-key, bad $or/$and),
  -- "Invalid query parameter $k" (unknown operator; data: the object holding it).
  Q.matcher = match.matcher(V)

  -- parse_limit(raw, paginate): $limit as adapter-commons getLimit makes it.
  -- parse_sort(v) -> specs|nil: a list of { key =, path = parts|nil, dir = 1|-1 }.
  -- parse_select(v) -> fields|nil: a list of field names (strings).
  Q.parse_limit = filter.parse_limit
  function Q.parse_sort(v) return sort.parse(V, v) end
  function Q.parse_select(v) return filter.parse_select(V, v) end

  -- select(record, fields, idfield) -> a deep copy of the record's selected fields
  -- and of its id field; all fields when fields is nil.
  Q.select = filter.select(V)

  -- compare(a, b) -> -1|0|1 in the sort.ts order of types and values.
  -- sort(records, specs) sorts a list in place, stably, and returns it.
  -- sorter(specs) -> less(a, b) for table.sort (not stable by itself).
  Q.compare = compare
  function Q.sort(recs, specs) return sort.sort(recs, specs, compare, is_list) end
  function Q.sorter(specs) return sort.sorter(specs, compare, is_list) end

  return Q
end

-- Helpers shared by every binding: deep_equal(a, b); parse_int(v) (JS parseInt,
-- nil for NaN); normkey(k) (the integer a canonical numeral stands for).
M.deep_equal, M.parse_int, M.normkey = values.deep_equal, values.parse_int, values.normkey

-- new(json) -> a query module bound to json.null, json.array_mt and json.is_array (a
-- table such as fdn.json or a stand-in; nil: no null sentinel, no array metatable).
-- require "fdn.query" is bound to fdn.json when it exists (inside fdnode).
function M.new(json)
  local Q = { new = M.new, deep_equal = M.deep_equal, parse_int = M.parse_int, normkey = M.normkey }
  if json == nil then return bind(Q, nil, nil) end
  return bind(Q, json.null, json.array_mt, json.is_array)
end

local okjson, json = pcall(require, "fdn.json")
if not okjson or type(json) ~= "table" then json = nil end
bind(M, json and json.null, json and json.array_mt, json and json.is_array)

return M
