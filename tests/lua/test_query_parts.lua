-- test_query_parts.lua: fdn.query's parts (query/values, match, filter, sort) on
-- their own, each given V = values.bind(null, array_mt) with stand-in sentinels;
-- test_query.lua covers the language through fdn.query's public API.
local t = require "lib.t"
local check, throws, ids = t.check, t.throws, t.ids
local values = require "fdn.query.values"
local match = require "fdn.query.match"
local filter = require "fdn.query.filter"
local sort = require "fdn.query.sort"

local amt = { __name = "array" }
local null = setmetatable({}, { __name = "null" })
local V = values.bind(null, amt)
local P = values.bind(nil, nil) -- plain Lua: no null, no array metatable
local function list(...) return setmetatable({ ... }, amt) end

---------------------------------------------------------------------------
-- values: the helpers that need no sentinels
do
  check(values.is_dollar("$in") and not values.is_dollar("in") and not values.is_dollar(1), "is_dollar")
  check(values.bool_of("true") == true and values.bool_of("false") == false and values.bool_of("1") == nil,
    "bool_of")
  check(values.truthy(1) and not values.truthy(0) and not values.truthy("") and not values.truthy(false)
    and not values.truthy(nil), "truthy: JavaScript's falsy values")
  check(values.dotted("a.b") and not values.dotted("ab") and not values.dotted(3), "dotted")
  local p = values.split_path("a..b.0")
  check(#p == 3 and p[1] == "a" and p[2] == "b" and p[3] == "0", "split_path skips empty parts")

  local is_list = V.is_list
  local doc = { items = list({ n = 1 }, { n = 2 }), map = { [0] = "int", [1] = "one" }, s = { ["0"] = "str" } }
  check(values.walk(doc, { "items", "1", "n" }, is_list) == 2, "walk: a list is indexed from 0")
  check(values.walk(doc, { "map", "0" }, is_list) == "int", "walk: an object's integer key")
  check(values.walk(doc, { "s", "0" }, is_list) == "str", "walk: the string key first")
  check(values.walk(doc, { "items", "0", "n", "x" }, is_list) == nil, "walk through a scalar: nil")
  check(values.get(doc, "items.0.n", is_list) == 1 and values.get(doc, "map", is_list) == doc.map,
    "get: dotted and plain keys")
  check(values.get({ [3] = "x" }, 3, is_list) == "x", "get: a non-string key is a plain key")
end

---------------------------------------------------------------------------
-- values.bind: the helpers bound to the sentinels
do
  check(V.null == null and V.array_mt == amt, "bind keeps the sentinels")
  check(V.is_null(nil) and V.is_null(null) and not V.is_null(false) and not P.is_null(null),
    "is_null: nil and the bound null only")
  check(V.is_list(setmetatable({}, amt)) and not P.is_list(setmetatable({}, amt)),
    "is_list: an empty table is a list by array_mt only")
  check(V.is_list({ 1, 2 }) and not V.is_list({ 1, nil, 3 }) and not V.is_list({ 1, x = 2 })
    and not V.is_list(null), "is_list: a sequence 1..n; null is not")
  check(V.is_object({}) and not V.is_object(null) and not V.is_object(list()) and not V.is_object("x"),
    "is_object")
  check(getmetatable(V.new_list()) == amt and getmetatable(P.new_list()) == nil, "new_list")

  local src = { a = list({ x = 1 }), n = null }
  local c = V.deep_copy(src)
  check(c ~= src and c.a ~= src.a and c.a[1] ~= src.a[1] and c.a[1].x == 1, "deep_copy shares no table")
  check(getmetatable(c.a) == amt and c.n == null, "deep_copy keeps array_mt and null itself")

  local vs = V.values_of(null)
  check(#vs == 1 and vs[1] == null, "values_of(null): a list of one null")
  local l = list("a", "b")
  check(V.values_of(l) == l and #V.values_of("x") == 1, "values_of: a list as is, a scalar as one")
  vs = V.values_of({ ["0"] = "a", ["1"] = "b" })
  table.sort(vs)
  check(#vs == 2 and vs[1] == "a" and vs[2] == "b", "values_of: a map keyed 0, 1")
end

---------------------------------------------------------------------------
-- match: the predicates and the matcher, per binding
do
  local eq = match.make_eq(V, "30")
  check(eq(30) and eq("30") and not eq("x") and not eq(null), "make_eq: a string coerced to the record's number")
  eq = match.make_eq(V, "null")
  check(eq(nil) and eq(null) and eq("null") and not eq(0), "make_eq(\"null\"): missing or null")
  eq = match.make_eq(V, null)
  check(eq(nil) and eq(null) and not eq("null"), "make_eq(null): missing or null, not the string")
  check(match.make_eq(V, { a = 1 })({ a = 1 }) and not match.make_eq(V, 1)("1"), "make_eq: tables deep, numbers strict")

  local inp = match.make_in(V, list("5", null, { k = 1 }))
  check(inp(5) and inp("5") and inp(nil) and inp(null) and inp({ k = 1 }) and not inp(6),
    "make_in: coerced strings, null, tables")
  check(inp(list(7, 5)) and not inp(list(7, 8)), "make_in: any element of an array")
  check(not match.make_in(V, list(0 / 0))(0 / 0), "make_in: NaN is in no set")

  local gt = match.make_cmp(V, "5", "$gt")
  check(gt(6) and not gt(5) and gt("6") and not gt(true), "make_cmp: numbers with numbers, strings with strings")
  check(match.make_cmp(V, true, "$gt")(true) == false and match.make_cmp(V, false, "$lt")(false) == false
    and match.make_cmp(V, false, "$lte")(false), "make_cmp: booleans as 0 and 1")
  check(not match.make_cmp(V, {}, "$lt")(1), "make_cmp: a table query value matches nothing")

  local odd = function(x) return type(x) == "number" and x % 2 == 1 end
  check(match.any_element(odd)({ 2, 3 }) and not match.any_element(odd)({ 2, 4 }), "any_element")
  local all = match.all_of({ odd, function(x) return x > 2 end })
  check(all(3) and not all(1) and not all(4) and match.all_of({})(0), "all_of; of none: true")

  local any = match.any_of({ odd, function(x) return x == 2 end })
  check(any(3) and any(2) and not any(4) and not match.any_of({})(1), "any_of; of none: false")

  local mV, mP = match.matcher(V), match.matcher(P)
  local function all_flag(q) return select(2, mV(q)) end
  check(all_flag({ ["$and"] = list({}, {}) }) and all_flag({ ["$or"] = list({}, {}) }),
    "$and / $or of elements that match everything: all")
  check(not all_flag({ ["$or"] = list() }) and not mV({ ["$or"] = list() })({}), "an empty $or: nothing")
  local m1 = mV({ ["$or"] = list({}, { a = 1 }) })
  check(not all_flag({ ["$or"] = list({}, { a = 1 }) }) and m1({ a = 2 }),
    "$or with one element matching everything: every record, though not flagged all")
  local m2 = mV({ ["$and"] = list({}, { a = 1 }, { b = "2" }) })
  check(m2({ a = 1, b = 2 }) and not m2({ a = 1 }) and not m2({ b = 2 }), "$and skips the open elements")
  local m, everything = mV({ b = null })
  check(not everything and m({}) and m({ b = null }) and not m({ b = 1 }), "matcher(V): V's null")
  check(select(2, mV(null)) and select(2, mV({ ["$limit"] = 1 })), "matcher(V): null and paging only: all")
  check(select(2, mP(null)) == true and select(2, mP({ b = null })) == false,
    "matcher(P): without a null sentinel, V's null is an empty table")
  throws(function() mV({ a = { b = { ["$where"] = 1 } } }) end, "BadRequest",
    "Invalid query parameter $where", "matcher: unknown operator deep in a field")
end

---------------------------------------------------------------------------
-- filter: the paging filters
do
  check(filter.parse_limit("5", { default = 2, max = 4 }) == 4 and filter.parse_limit(nil, {}) == nil,
    "parse_limit: clamped; an empty paginate is none")
  check(filter.parse_select(V, null) == nil and #filter.parse_select(V, list("a", 2)) == 2
    and filter.parse_select(V, list("a", 2))[2] == "2", "parse_select: null, names as strings")

  local rec = { id = 1, a = list(1), b = 2, [3] = "three" }
  local r = filter.select(V)(rec, { "a", "3" }, "id")
  check(r.id == 1 and r.b == nil and r["3"] == "three" and r.a ~= rec.a and getmetatable(r.a) == amt,
    "select: the fields and the id, copied")
  local all = filter.select(P)(rec, nil, "id")
  check(all[3] == "three" and all.a ~= rec.a, "select(P) of every field")

  local filterV = filter.filter(V)
  local f, rest = filterV(null)
  check(f.limit == nil and next(rest) == nil, "filter(V, null): no filters, no conditions")
  f, rest = filterV({ x = 1, ["$sort"] = setmetatable({ b = 1, a = -1 }, { __order = { "b", "a" } }),
    ["$skip"] = "2" }, { default = 3 })
  check(f.limit == 3 and f.skip == 2 and f.sort[1].key == "b" and f.sort[2].dir == -1 and rest.x == 1
    and rest["$sort"] == nil, "filter: limit from paginate, skip, sort in __order, the conditions")
  throws(function() filterV(5) end, "BadRequest", "Invalid query", "filter of a number")
end

---------------------------------------------------------------------------
-- sort: specs, the comparator per binding, sort and sorter
do
  local s = sort.parse(V, list(list("b", 1), { a = -1 }))
  check(#s == 2 and s[1].key == "b" and s[2].key == "a" and s[2].dir == -1, "parse: an ordered form as a JSON list")
  check(sort.parse(V, list()) == nil and sort.parse(V, null) == nil and sort.parse(P, null) == nil,
    "parse: an empty list, null")
  s = sort.parse(V, { ["u.k"] = "-1", x = "0" })
  check(#s == 1 and s[1].path[2] == "k" and s[1].dir == -1, "parse: a dotted key, a zero direction dropped")

  local cV, cP = sort.comparator(V), sort.comparator(P)
  check(cV(nil, null) == -1 and cV(null, 0 / 0) == -1 and cV(0 / 0, -1) == -1,
    "comparator(V): nil < null < NaN < numbers")
  check(cV(setmetatable({}, amt), {}) == -1 and cP(setmetatable({}, amt), {}) == 0,
    "comparator: an empty list is an array only with array_mt")
  check(cV({ b = 1, a = 2 }, { a = 2, b = 0 }) == 1, "comparator: objects by their sorted keys' values")

  local recs = { { id = 1, it = list({ n = 2 }) }, { id = 2, it = list({ n = 1 }) }, { id = 3 } }
  sort.sort(recs, sort.parse(V, { ["it.0.n"] = 1 }), cV, V.is_list)
  check(ids(recs) == "3,2,1", "sort: by a dotted path into a list")
  local less = sort.sorter(sort.parse(V, { ["it.0.n"] = -1 }), cV, V.is_list)
  table.sort(recs, less)
  check(ids(recs) == "1,2,3", "sorter: the same order, descending")
end

return t.done()
