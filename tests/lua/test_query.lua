-- test_query.lua: fdn.query, the adapter-independent query language (filters,
-- matcher, sort order, $select), against @feathersjs/adapter-commons v5.
local t = require "lib.t"
local check, throws = t.check, t.throws
local query = require "fdn.query"
local ids, count = t.ids, t.count

-- The records of list that pred accepts, as their ids "1,2,...".
local function matching(list, q)
  local m = query.matcher(q)
  local out = {}
  for _, r in ipairs(list) do
    if m(r) then out[#out + 1] = tostring(r.id) end
  end
  return table.concat(out, ",")
end

local function keys_of(specs)
  local out = {}
  for i, s in ipairs(specs or {}) do out[i] = s.key .. (s.dir > 0 and "+" or "-") end
  return table.concat(out, ",")
end

local people = {
  { id = 1, name = "Alice", age = 30, admin = true, tags = { "a", "b" }, user = { name = "z" } },
  { id = 2, name = "Bob", age = 25, admin = false, tags = { "b" }, user = { name = "y" } },
  { id = 3, name = "Carol", age = 35, admin = false, user = { name = "x" } },
  { id = 4, name = "Dave", age = 25, admin = true, user = { name = "y" } },
}

---------------------------------------------------------------------------
-- filter: the paging filters out, the conditions left for matcher
do
  local f, rest = query.filter(nil)
  check(f.limit == nil and f.skip == nil and f.sort == nil and f.select == nil, "filter(nil): no filters")
  check(type(rest) == "table" and next(rest) == nil, "filter(nil): empty rest")
  throws(function() query.filter("x") end, "BadRequest", "Invalid query", "filter of a non-table")

  local q = { name = "Alice", ["$limit"] = "2", ["$skip"] = "1", ["$sort"] = { age = -1 },
    ["$select"] = { "name" }, ["$or"] = { { age = 30 } } }
  f, rest = query.filter(q)
  check(f.limit == 2 and f.skip == 1, "filter: $limit and $skip parsed as integers")
  check(keys_of(f.sort) == "age-", "filter: $sort parsed")
  check(f.select[1] == "name" and #f.select == 1, "filter: $select parsed")
  check(rest.name == "Alice" and rest["$or"] == q["$or"] and count(rest) == 2,
    "filter: rest keeps fields and $or, drops the paging filters")
  check(q["$limit"] == "2" and count(q) == 6, "filter: the query is not modified")
  local plain = { name = "x" }
  check(select(2, query.filter(plain)) == plain, "filter: a query without paging filters is returned as is")

  f = query.filter({ ["$skip"] = "x", ["$limit"] = "-1" })
  check(f.skip == nil and f.limit == nil, "filter: NaN skip, negative limit without paginate")
  f = query.filter({ ["$skip"] = 2.7 })
  check(f.skip == 2, "filter: $skip truncated like parseInt")
end

---------------------------------------------------------------------------
-- $limit with paginate (getLimit)
do
  local pg = { default = 10, max = 50 }
  check(query.parse_limit(nil, pg) == 10, "limit: missing -> default")
  check(query.parse_limit("100", pg) == 50, "limit: clamped to max")
  check(query.parse_limit("-3", pg) == 10, "limit: negative -> default")
  check(query.parse_limit("0", pg) == 0, "limit: 0 kept")
  check(query.parse_limit("abc", { max = 5 }) == 0, "limit: invalid with max only -> 0")
  check(query.parse_limit("7", false) == 7 and query.parse_limit(nil, false) == nil, "limit: no paginate")
  check(query.filter({ ["$limit"] = "99" }, pg).limit == 50, "filter passes paginate to the limit")
end

---------------------------------------------------------------------------
-- matcher
do
  local m, all = query.matcher({})
  check(all == true and m({}) == true, "empty query matches all")
  m, all = query.matcher({ ["$limit"] = 1, ["$sort"] = { a = 1 }, ["$skip"] = 0, ["$select"] = "a" })
  check(all == true and m({ a = 1 }) == true, "paging filters are ignored by the matcher")
  check(select(2, query.matcher({ age = 30 })) == false, "a field condition is not match-all")

  check(matching(people, { name = "Alice" }) == "1", "equality")
  check(matching(people, { age = "25" }) == "2,4", "string query value coerced to number")
  check(matching(people, { admin = "true" }) == "1,4", "\"true\" equals true")
  check(matching(people, { age = 25, admin = true }) == "4", "fields are ANDed")
  check(matching(people, { missing = "null" }) == "1,2,3,4", "\"null\" matches a missing field")
  check(matching(people, { age = "x25" }) == "", "non-numeric string never equals a number")
  check(matching(people, { tags = "b" }) == "1,2", "an array field matches any element")
  check(matching(people, { ["user.name"] = "y" }) == "2,4", "dotted path")
  check(matching(people, { age = { ["$in"] = { "30", 35 } } }) == "1,3", "$in with coercion")
  check(matching(people, { age = { ["$nin"] = { 25 } } }) == "1,3", "$nin")
  check(matching(people, { tags = { ["$ne"] = "a" } }) == "2,3,4", "$ne on an array: no element")
  check(matching(people, { age = { ["$gt"] = "25", ["$lte"] = 35 } }) == "1,3", "$gt and $lte ANDed")
  check(matching(people, { name = { ["$lt"] = "C" } }) == "1,2", "strings compare as strings")
  check(matching(people, { age = { ["$gt"] = "abc" } }) == "", "number vs non-numeric string: false")
  check(matching(people, { ["$or"] = { { name = "Bob" }, { age = 35 } } }) == "2,3", "$or")
  check(matching(people, { ["$and"] = { { age = 25 }, { admin = true } } }) == "4", "$and")
  check(matching(people, { ["$or"] = {} }) == "", "empty $or matches nothing")
  check(matching(people, { ["$or"] = { {}, { age = 35 } } }) == "1,2,3,4", "$or with a match-all element")
  check(matching(people, { age = { ["$or"] = { 25, 35 } } }) == "2,3,4", "$or inside a field")
  check(matching(people, { ["$or"] = { ["0"] = { age = 30 }, ["1"] = { age = 35 } } }) == "1,3",
    "$or as a map keyed 0, 1 (query string)")

  local e = throws(function() query.matcher({ a = { ["$regex"] = "x" } }) end, "BadRequest",
    "Invalid query parameter $regex", "unknown operator on a field")
  check(e.data and e.data["$regex"] == "x", "invalid query parameter carries the object as data")
  throws(function() query.matcher({ ["$foo"] = 1 }) end, "BadRequest",
    "Invalid filter value $foo", "unknown top-level $-key")
  throws(function() query.matcher({ ["$or"] = { { a = { ["$bad"] = 1 } } } }) end, "BadRequest",
    "Invalid query parameter $bad", "unknown operator inside $or")
  throws(function() query.matcher({ ["$or"] = { { ["$and"] = {} } } }) end, "BadRequest",
    "Invalid query parameter $and", "$and inside $or")
  throws(function() query.matcher({ ["$or"] = "x" }) end, "BadRequest",
    "Invalid filter value $or", "$or of a non-table")
  throws(function() query.matcher({ ["$and"] = { 1 } }) end, "BadRequest",
    "Invalid filter value $and", "$and element not an object")
  throws(function() query.matcher({ a = { b = { ["$x"] = 1 } } }) end, "BadRequest",
    "Invalid query parameter $x", "nested plain objects are validated")
end

---------------------------------------------------------------------------
-- $sort: specs, multi-key order (__order), ordered forms
do
  check(query.parse_sort(nil) == nil and query.parse_sort(1) == nil, "no $sort")
  check(query.parse_sort({ a = 0, b = "x" }) == nil, "zero and invalid directions dropped")
  check(keys_of(query.parse_sort({ name = "-1" })) == "name-", "\"-1\" is descending")

  -- without key order: the keys by name
  check(keys_of(query.parse_sort({ b = 1, a = -1 })) == "a-,b+", "several keys, no __order: by name")
  -- with a decoder's __order (?$sort[b]=1&$sort[a]=-1): source order
  local ordered = setmetatable({ b = 1, a = -1 }, { __order = { "b", "a" } })
  check(keys_of(query.parse_sort(ordered)) == "b+,a-", "__order gives the key priority")
  local partial = setmetatable({ c = 1, b = 1, a = -1 }, { __order = { "c" } })
  check(keys_of(query.parse_sort(partial)) == "c+,a-,b+", "keys missing from __order follow by name")
  local stray = setmetatable({ b = 1 }, { __order = { "z", "b", "b" } })
  check(keys_of(query.parse_sort(stray)) == "b+", "__order: absent and repeated keys ignored")
  check(keys_of(query.parse_sort(setmetatable({ b = 1, a = 1 }, {}))) == "a+,b+",
    "a metatable without __order: by name")

  check(keys_of(query.parse_sort({ { "b", 1 }, { "a", -1 } })) == "b+,a-", "ordered form {{k, d}}")
  check(keys_of(query.parse_sort({ { b = -1 }, { a = 1 } })) == "b-,a+", "ordered form {{k = d}}")
  local s = query.parse_sort({ ["user.name"] = 1 })
  check(s[1].path and s[1].path[1] == "user" and s[1].path[2] == "name", "dotted sort key has a path")

  -- the priority changes the result
  local recs = {
    { id = 1, a = 1, b = 2 }, { id = 2, a = 2, b = 1 }, { id = 3, a = 1, b = 1 },
  }
  local function sorted(spec)
    local copy = {}
    for i, r in ipairs(recs) do copy[i] = r end
    return ids(query.sort(copy, query.parse_sort(spec)))
  end
  -- a first: a=1 (ids 1, 3) by b, then a=2; b first: b=1 (ids 2, 3) by a, then b=2
  check(sorted(setmetatable({ b = 1, a = 1 }, { __order = { "b", "a" } })) == "3,2,1",
    "sort: __order {b, a} sorts by b first")
  check(sorted(setmetatable({ b = 1, a = 1 }, { __order = { "a", "b" } })) == "3,1,2",
    "sort: __order {a, b} sorts by a first")
  check(sorted({ b = 1, a = 1 }) == "3,1,2", "sort without __order: by key name (a first)")
  check(sorted(setmetatable({ b = -1, a = 1 }, { __order = { "b", "a" } })) == "1,3,2",
    "sort: __order with a descending first key")
  local f = query.filter({ ["$sort"] = setmetatable({ b = 1, a = 1 }, { __order = { "b", "a" } }) })
  check(keys_of(f.sort) == "b+,a+", "filter keeps the __order priority")
end

---------------------------------------------------------------------------
-- sort, sorter, compare
do
  local recs = {
    { id = 1, n = 2 }, { id = 2, n = 1 }, { id = 3, n = 2 }, { id = 4 }, { id = 5, n = "a" },
    { id = 6, n = 1 },
  }
  query.sort(recs, query.parse_sort({ n = 1 }))
  check(ids(recs) == "4,2,6,1,3,5", "sort ascending: missing < numbers < strings, stable")
  query.sort(recs, query.parse_sort({ n = -1 }))
  check(ids(recs) == "5,1,3,2,6,4", "sort descending, stable")

  local nested = { { id = 1, u = { k = 3 } }, { id = 2, u = { k = 1 } }, { id = 3, u = { k = 2 } } }
  query.sort(nested, query.parse_sort({ ["u.k"] = 1 }))
  check(ids(nested) == "2,3,1", "sort by a dotted path")

  local less = query.sorter(query.parse_sort({ { "g", 1 }, { "n", -1 } }))
  local list = { { id = 1, g = 2, n = 1 }, { id = 2, g = 1, n = 1 }, { id = 3, g = 1, n = 5 } }
  table.sort(list, less)
  check(ids(list) == "3,2,1", "sorter: a comparator for table.sort")
  check(less(list[1], list[1]) == false, "sorter: equal records are not less")

  local cmp = query.compare
  check(cmp(nil, 1) == -1 and cmp(1, "a") == -1 and cmp("a", true) == -1, "compare: type order")
  check(cmp({ 1 }, { x = 1 }) == -1, "compare: arrays before objects")
  check(cmp({ 1, 2 }, { 1, 3 }) == -1 and cmp({ 1, 2 }, { 1 }) == 1, "compare: arrays element-wise, then length")
  check(cmp({ a = 1 }, { a = 2 }) == -1 and cmp({ a = 1 }, { a = 1, b = 1 }) == -1, "compare: objects")
  check(cmp(false, true) == -1 and cmp(2, 2.0) == 0 and cmp(0 / 0, -1e308) == -1, "compare: booleans, numbers, NaN")
end

---------------------------------------------------------------------------
-- select and get
do
  local rec = { id = 7, name = "A", age = 3, nested = { x = { 1 } }, [0] = "zero" }
  local r = query.select(rec, { "name", "nested", "nope", "0" }, "id")
  check(r.id == 7 and r.name == "A" and r.age == nil and r.nope == nil, "select: fields and the id")
  check(r.nested.x[1] == 1 and r.nested ~= rec.nested, "select: deep copies")
  check(r["0"] == "zero", "select: a numeric field name reaches an integer key")
  local all = query.select(rec, nil, "id")
  check(all.age == 3 and all.nested ~= rec.nested and count(all) == count(rec), "select nil: a deep copy")
  check(query.parse_select("name")[1] == "name", "parse_select of a scalar")
  check(#query.parse_select({ ["0"] = "a", ["1"] = "b" }) == 2, "parse_select of a map keyed 0, 1")
  check(query.parse_select(nil) == nil, "parse_select(nil)")

  local doc = { user = { name = "z" }, items = { { sku = "s1" }, { sku = "s2" } }, ["a.b"] = 1 }
  check(query.get(doc, "user.name") == "z", "get: dotted path")
  check(query.get(doc, "items.1.sku") == "s2", "get: array index from 0")
  check(query.get(doc, "user.name.x") == nil and query.get(doc, "nope.x") == nil, "get: missing path")
  check(query.get(doc, "user") == doc.user, "get: plain key")
end

---------------------------------------------------------------------------
-- helpers
do
  check(query.normkey("7") == 7 and query.normkey("07") == "07" and query.normkey(3.0) == 3
    and math.type(query.normkey(3.0)) == "integer" and query.normkey("x") == "x", "normkey")
  check(query.parse_int(" 12px") == 12 and query.parse_int("-3.9") == -3 and query.parse_int("x") == nil
    and query.parse_int(-2.5) == -2 and query.parse_int(math.huge) == nil, "parse_int")
  check(query.deep_equal({ a = { 1, 2 } }, { a = { 1, 2 } }) and not query.deep_equal({ a = 1 }, { a = 1, b = 2 }),
    "deep_equal")
  check(query.is_list({ 1, 2 }) and not query.is_list({}) and not query.is_list({ 1, x = 2 }), "is_list")
  check(query.is_null(nil) and not query.is_null(false), "is_null")
end

---------------------------------------------------------------------------
-- new(json): a query module bound to other JSON sentinels
do
  local J = { array_mt = { __name = "array" }, null = setmetatable({}, { __name = "null" }) }
  local Q = query.new(J)
  local null, amt = J.null, J.array_mt
  check(Q.null == null and Q.array_mt == amt, "new: the sentinels")
  check(Q.new == query.new and Q.normkey == query.normkey, "new: shared helpers")
  check(getmetatable(Q.new_list()) == amt, "new_list carries array_mt")
  check(Q.is_list(setmetatable({}, amt)) and not Q.is_list(null), "is_list: empty array_mt table, null")
  check(Q.is_null(null) and not query.is_null(setmetatable({}, {})), "is_null: the bound null")
  local recs = { { id = 1, b = null }, { id = 2 }, { id = 3, b = 5 } }
  local m = Q.matcher({ b = null })
  check(m(recs[1]) and m(recs[2]) and not m(recs[3]), "{b = null} matches null and missing")
  m = Q.matcher({ b = { ["$in"] = setmetatable({ "5", null }, amt) } })
  check(m(recs[1]) and m(recs[2]) and m(recs[3]), "$in list with array_mt and null")
  check(Q.compare(nil, null) == -1 and Q.compare(null, 0) == -1, "compare: missing < null < numbers")
  local f = Q.filter(null)
  check(f.limit == nil and f.sort == nil, "filter(null): no filters")
  check(select(2, Q.matcher(null)) == true, "matcher(null): all")
  check(Q.parse_select(null) == nil and Q.parse_sort(null) == nil, "null $select / $sort")
  local c = Q.deep_copy({ t = setmetatable({}, amt) })
  check(getmetatable(c.t) == amt, "deep_copy keeps array_mt")
  local plain = query.new()
  check(plain.null == nil and plain.array_mt == nil and getmetatable(plain.new_list()) == nil,
    "new(nil): no sentinels")
end

return t.done()
