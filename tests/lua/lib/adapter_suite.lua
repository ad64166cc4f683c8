-- adapter_suite.lua: the behaviour every service adapter shares with @feathersjs/memory
-- (find/get/create/update/patch/remove, multi, paginate, the query syntax, errors), run on
-- fdn.memory and on fdn.sql.service. suite(make, label): make(options) returns a fresh, empty
-- service ({ id =, paginate =, multi = }) whose records may hold the fields name, age
-- (integer), admin (boolean), text, code (text), extra, n, flag, z (integer), g (text), seen
-- (boolean). Records are told apart by their fields, never by the ids a store gives.
local t = require "t" -- lib/t.lua, beside this file: the same module as the tests' "lib.t"
local json = require "fdn.json"
local check, throws = t.check, t.throws
local null = json.null

local function absent(v) return v == nil or v == null end

-- The values of one field of a list of records, as "a,b,...".
local function field(list, f)
  local out = {}
  for i, r in ipairs(list) do out[i] = tostring(r[f]) end
  return table.concat(out, ",")
end
local function names(list) return field(list, "name") end

local function q(query, extra)
  local p = { query = query }
  for k, v in pairs(extra or {}) do p[k] = v end
  return p
end

local function keys(r)
  local n = 0
  for _, v in pairs(r) do if not absent(v) then n = n + 1 end end
  return n
end

return function(make, label)
  local function L(s) return label .. ": " .. s end
  local function people()
    local svc = make({})
    local ids = {}
    for i, r in ipairs { { name = "Alice", age = 30, admin = true }, { name = "Bob", age = 25, admin = false },
        { name = "Carol", age = 35, admin = false }, { name = "Dave", age = 25, admin = true } } do
      ids[i] = svc:create(r).id
    end
    return svc, ids
  end

  -- create, get, ids
  do
    local svc = make({})
    local a = svc:create({ text = "one" })
    local b = svc:create({ text = "two" })
    check(a.id ~= nil and b.id ~= nil and a.id ~= b.id and a.text == "one", L("create gives ids"))
    check(svc:get(b.id).text == "two", L("get by id"))
    check(svc:get(tostring(b.id)).text == "two", L("get with the id as a string (REST)"))
    check(svc:get(b.id + 0.0).text == "two", L("get with an integral float id"))
    local c = svc:create({ id = 42, text = "given" })
    check(c.id == 42 and svc:get(42).text == "given", L("an id given in data is kept"))
    local e = throws(function() svc:get(999) end, "NotFound", "No record found for id '999'",
      L("get missing: the NotFound message"))
    check(e and e.code == 404, L("NotFound code"))
    throws(function() svc:get("abc") end, "NotFound", "No record found for id 'abc'", L("NotFound with a string id"))
    local s3 = make({ id = "_id" })
    local r = s3:create({ text = "x" })
    check(r._id ~= nil and absent(r.id), L("custom id field"))
    check(s3:get(r._id).text == "x", L("get with a custom id field"))
    local sel = svc:create({ text = "sel", extra = 1 }, q({ ["$select"] = { "text" } }))
    check(sel.text == "sel" and absent(sel.extra) and sel.id ~= nil, L("create honours $select, keeps id"))
    throws(function() svc:create("text") end, "BadRequest",
      "A data object must be provided to the 'create' method", L("create with non-table data"))
    local g = svc:get(a.id)
    g.text = "changed"
    check(svc:get(a.id).text == "one", L("mutating a get result does not alter the store"))
  end

  -- multi create
  do
    local svc = make({})
    throws(function() svc:create({ { text = "x" }, { text = "y" } }) end, "MethodNotAllowed",
      "Can not create multiple entries", L("multi create refused by default"))
    local sm = make({ multi = true })
    local list = sm:create({ { text = "x" }, { text = "y" } })
    check(#list == 2 and field(list, "text") == "x,y" and list[1].id ~= list[2].id, L("multi create"))
    check(getmetatable(list) == json.array_mt, L("multi create result is a JSON list"))
    check(#sm:create(t.list {}) == 0, L("create([]) creates nothing"))
    local sl = make({ multi = { "create" } })
    check(#sl:create({ { n = 1 }, { n = 2 }, { n = 3 } }) == 3, L("multi create allowed by list"))
    throws(function() sl:patch(nil, { n = 0 }) end, "MethodNotAllowed",
      "Can not patch multiple entries", L("multi patch refused when only create listed"))
    throws(function() sl:remove(nil) end, "MethodNotAllowed",
      "Can not remove multiple entries", L("multi remove refused when only create listed"))
    throws(function() sl:create({ { n = 1 } }, { adapter = { multi = false } }) end,
      "MethodNotAllowed", "Can not create multiple entries", L("params.adapter.multi overrides"))
    local sa = make({ multi = true })
    throws(function() sa:create({ { n = 1 }, "x" }) end, "BadRequest",
      "A data object must be provided to the 'create' method", L("multi create with a bad item"))
    check(#sa:find() == 0, L("a refused multi create created nothing"))
  end

  -- find: equality and operators
  do
    local svc = people()
    local function f(query) return names(svc:find(q(query))) end
    check(f({}) == "Alice,Bob,Carol,Dave", L("find without $sort: creation order"))
    check(f({ name = "Bob" }) == "Bob", L("equality"))
    check(f({ age = 25, admin = true }) == "Dave", L("two fields ANDed"))
    check(f({ age = { ["$in"] = { 25, 35 } } }) == "Bob,Carol,Dave", L("$in"))
    check(f({ age = { ["$nin"] = { 25, 35 } } }) == "Alice", L("$nin"))
    check(f({ age = { ["$lt"] = 30 } }) == "Bob,Dave", L("$lt"))
    check(f({ age = { ["$lte"] = 30 } }) == "Alice,Bob,Dave", L("$lte"))
    check(f({ age = { ["$gt"] = 30 } }) == "Carol", L("$gt"))
    check(f({ age = { ["$gte"] = 30 } }) == "Alice,Carol", L("$gte"))
    check(f({ age = { ["$ne"] = 25 } }) == "Alice,Carol", L("$ne"))
    check(f({ age = { ["$gt"] = 24, ["$lt"] = 31 } }) == "Alice,Bob,Dave", L("$gt and $lt together"))
    check(f({ name = { ["$gt"] = "B" } }) == "Bob,Carol,Dave", L("$gt on strings"))
    check(f({ ["$or"] = { { name = "Alice" }, { age = 35 } } }) == "Alice,Carol", L("$or"))
    check(f({ ["$or"] = { { name = { ["$in"] = { "Bob", "Dave" } } }, { age = 35 } }, admin = false })
      == "Bob,Carol", L("$or with $in, ANDed with a field"))
    check(f({ ["$and"] = { { age = { ["$gte"] = 25 } }, { age = { ["$lt"] = 30 } } } }) == "Bob,Dave", L("$and"))
    check(f({ ["$and"] = { { ["$or"] = { { name = "Alice" }, { name = "Bob" } } }, { admin = true } } })
      == "Alice", L("$and with a nested $or"))
    check(f({ ["$or"] = {} }) == "", L("empty $or matches nothing"))
    check(f({ age = { ["$or"] = { 30, { ["$gt"] = 32 } } } }) == "Alice,Carol", L("field-level $or"))
  end

  -- REST strings against typed values
  do
    local svc, ids = people()
    local function f(query) return names(svc:find(q(query))) end
    check(f({ age = { ["$gt"] = "18" } }) == "Alice,Bob,Carol,Dave", L("\"18\" compares as a number"))
    check(f({ age = { ["$gt"] = "29" } }) == "Alice,Carol", L("$gt \"29\""))
    check(f({ age = { ["$lte"] = "25" } }) == "Bob,Dave", L("$lte \"25\""))
    check(f({ age = "30" }) == "Alice", L("equality \"30\" == 30"))
    check(f({ age = 30.0 }) == "Alice", L("30.0 == 30"))
    check(f({ admin = "true" }) == "Alice,Dave", L("\"true\" == true"))
    check(f({ admin = "false" }) == "Bob,Carol", L("\"false\" == false"))
    check(f({ admin = { ["$ne"] = "true" } }) == "Bob,Carol", L("$ne \"true\""))
    check(f({ age = { ["$in"] = { "25", "35" } } }) == "Bob,Carol,Dave", L("$in with strings"))
    check(f({ age = { ["$nin"] = { "25" } } }) == "Alice,Carol", L("$nin with strings"))
    check(f({ id = { ["$in"] = { tostring(ids[2]), tostring(ids[3]) } } }) == "Bob,Carol", L("id $in with strings"))
    local s2 = make({})
    s2:create({ code = "10" })
    s2:create({ code = "9" })
    check(field(s2:find(q({ code = { ["$gt"] = "5" } })), "code") == "9", L("strings compare as strings"))
  end

  -- $sort, $skip, $limit, $select
  do
    local svc = people()
    local function f(query) return names(svc:find(q(query))) end
    check(f({ ["$sort"] = { age = 1 } }) == "Bob,Dave,Alice,Carol", L("$sort ascending (stable)"))
    check(f({ ["$sort"] = { age = -1 } }) == "Carol,Alice,Bob,Dave", L("$sort descending (stable)"))
    check(f({ ["$sort"] = { age = "-1" } }) == "Carol,Alice,Bob,Dave", L("$sort direction as string"))
    check(f({ ["$sort"] = { name = -1 } }) == "Dave,Carol,Bob,Alice", L("$sort on strings"))
    check(f({ ["$sort"] = { { "age", 1 }, { "name", -1 } } }) == "Dave,Bob,Alice,Carol", L("$sort multi-key list"))
    check(f({ ["$sort"] = { { age = -1 }, { name = 1 } } }) == "Carol,Alice,Bob,Dave",
      L("$sort multi-key (list of single-key maps)"))
    check(f({ ["$sort"] = { age = 1, name = -1 } }) == "Dave,Bob,Alice,Carol", L("$sort map: keys by name"))
    local ordered = setmetatable({ age = 1, name = -1 }, { __order = { "name", "age" } })
    check(f({ ["$sort"] = ordered }) == "Dave,Carol,Bob,Alice", L("$sort map with __order"))
    check(f({ ["$sort"] = { age = 1 }, ["$skip"] = 1, ["$limit"] = 2 }) == "Dave,Alice", L("$sort + $skip + $limit"))
    check(f({ ["$limit"] = "2" }) == "Alice,Bob", L("$limit as string"))
    check(f({ ["$skip"] = "3" }) == "Dave", L("$skip as string"))
    check(f({ ["$limit"] = 0 }) == "", L("$limit 0 without pagination"))
    check(f({ ["$limit"] = "abc" }) == "Alice,Bob,Carol,Dave", L("invalid $limit ignored"))
    local sel = svc:find(q({ ["$select"] = { "name" }, ["$sort"] = { name = 1 } }))
    check(#sel == 4 and sel[1].name == "Alice" and sel[1].id ~= nil and absent(sel[1].age), L("$select keeps id"))
    check(keys(sel[1]) == 2, L("$select: only the selected fields and id"))
    local carol = svc:find(q({ name = "Carol" }))[1]
    local g = svc:get(carol.id, q({ ["$select"] = { "age" } }))
    check(g.age == 35 and g.id == carol.id and absent(g.name), L("$select on get"))
    local s2 = make({ id = "_id" })
    s2:create({ n = 1, z = 2 })
    local r = s2:find(q({ ["$select"] = { "n" } }))[1]
    check(r._id ~= nil and r.n == 1 and absent(r.z), L("$select keeps a custom id field"))
  end

  -- pagination
  do
    local svc = make({ paginate = { default = 2, max = 3 }, multi = true })
    for i = 1, 5 do svc:create({ n = i }) end
    local page = svc:find()
    check(page.total == 5 and page.limit == 2 and page.skip == 0 and #page.data == 2, L("paginate.default"))
    check(field(page.data, "n") == "1,2", L("first page"))
    page = svc:find(q({ ["$skip"] = 2 }))
    check(page.skip == 2 and field(page.data, "n") == "3,4" and page.total == 5, L("second page"))
    page = svc:find(q({ ["$skip"] = 4 }))
    check(page.total == 5 and field(page.data, "n") == "5", L("last page"))
    page = svc:find(q({ ["$skip"] = 9 }))
    check(page.total == 5 and #page.data == 0, L("past the end: the total"))
    page = svc:find(q({ ["$limit"] = 10 }))
    check(page.limit == 3 and #page.data == 3, L("paginate.max caps $limit"))
    page = svc:find(q({ ["$limit"] = "1" }))
    check(page.limit == 1 and #page.data == 1, L("$limit string under max"))
    page = svc:find(q({ ["$limit"] = 0 }))
    check(page.total == 5 and page.limit == 0 and #page.data == 0, L("$limit 0 gives the total only"))
    page = svc:find(q({ ["$limit"] = 0, n = { ["$gt"] = 3 } }))
    check(page.total == 2 and #page.data == 0, L("$limit 0 with a query: matching total"))
    page = svc:find(q({ n = { ["$gte"] = 2 } }))
    check(page.total == 4 and #page.data == 2, L("total counts every match, not the page"))
    page = svc:find(q({ ["$limit"] = -5 }))
    check(page.limit == 2, L("negative $limit -> default"))
    check(getmetatable(page.data) == json.array_mt, L("page data is a JSON list"))
    local plain = svc:find({ paginate = false })
    check(#plain == 5 and plain.total == nil, L("params.paginate = false disables it"))
    plain = svc:find({ paginate = false, query = { ["$limit"] = 10 } })
    check(#plain == 5, L("no max without pagination"))
    local p2 = make({})
    p2:create({})
    page = p2:find({ paginate = { default = 10 } })
    check(page.total == 1 and page.limit == 10, L("params.paginate enables it for a call"))
    local p3 = make({ paginate = { max = 2 } })
    for _ = 1, 3 do p3:create({}) end
    page = p3:find()
    check(page.limit == 0 and #page.data == 0 and page.total == 3, L("paginate with only max: default 0"))
    page = p3:find(q({ ["$limit"] = 5 }))
    check(page.limit == 2 and #page.data == 2, L("paginate with only max caps"))
  end

  -- query validation: adapter-commons messages
  do
    local svc, ids = people()
    local function bad(query, msg, name) throws(function() svc:find(q(query)) end, "BadRequest", msg, L(name)) end
    bad({ ["$foo"] = 1 }, "Invalid filter value $foo", "unknown top-level $ key")
    bad({ ["$in"] = { 1 } }, "Invalid filter value $in", "operator at top level")
    local e = throws(function() svc:find(q({ age = { ["$regex"] = "x" } })) end, "BadRequest",
      "Invalid query parameter $regex", L("unknown operator on a field"))
    check(e and e.data and e.data["$regex"] == "x", L("invalid query parameter carries the object as data"))
    bad({ ["$or"] = { { name = { ["$bad"] = 1 } } } }, "Invalid query parameter $bad", "unknown operator in $or")
    bad({ ["$or"] = { { ["$and"] = { { age = 1 } } } } }, "Invalid query parameter $and", "$and inside $or")
    bad({ name = { inner = { ["$x"] = 1 } } }, "Invalid query parameter $x", "nested objects validated")
    bad({ age = { ["$eq"] = 30 } }, "Invalid query parameter $eq", "$eq is not a Feathers operator")
    bad({ ["$or"] = "x" }, "Invalid filter value $or", "$or must be a list")
    throws(function() svc:get(ids[1], q({ ["$foo"] = 1 })) end, "BadRequest", "Invalid filter value $foo",
      L("get validates the query"))
    throws(function() svc:remove(ids[1], q({ age = { ["$x"] = 1 } })) end, "BadRequest",
      "Invalid query parameter $x", L("remove validates the query"))
    check(svc:get(ids[1]).name == "Alice", L("nothing removed by a rejected query"))
  end

  -- get / update / patch / remove with a query
  do
    local svc, ids = people()
    local A, B, C, D = ids[1], ids[2], ids[3], ids[4]
    check(svc:get(A, q({ admin = true })).name == "Alice", L("get with a matching query"))
    throws(function() svc:get(B, q({ admin = true })) end, "NotFound",
      "No record found for id '" .. B .. "'", L("get with a query that does not match"))
    throws(function() svc:get(tostring(B), q({ admin = "true" })) end, "NotFound", nil,
      L("get with a string id and a query"))
    local u = svc:update(tostring(B), { name = "Bobby", id = 99999 })
    check(u.id == B and math.type(u.id) == "integer", L("update keeps the id (and its type)"))
    check(u.name == "Bobby" and absent(u.age), L("update replaces the record"))
    check(svc:get(B).name == "Bobby", L("update stored under the old id"))
    throws(function() svc:get(99999) end, "NotFound", nil, L("update did not move the record"))
    throws(function() svc:update(C, { name = "x" }, q({ name = "nobody" })) end, "NotFound",
      "No record found for id '" .. C .. "'", L("update with a non-matching query"))
    check(svc:get(C).name == "Carol", L("rejected update changed nothing"))
    throws(function() svc:update(nil, { name = "x" }) end, "BadRequest",
      "You can not replace multiple instances. Did you mean 'patch'?", L("update with id nil"))
    throws(function() svc:update(B, { { name = "x" } }) end, "BadRequest",
      "You can not replace multiple instances. Did you mean 'patch'?", L("update with a list"))
    throws(function() svc:update(1234, { name = "x" }) end, "NotFound",
      "No record found for id '1234'", L("update of a missing record"))
    local us = svc:update(C, { name = "Caroline", age = 36 }, q({ ["$select"] = { "age" } }))
    check(us.age == 36 and absent(us.name) and us.id == C, L("update honours $select"))

    local p = svc:patch(D, { age = 26, id = 50000 })
    check(p.id == D and p.age == 26 and p.name == "Dave", L("patch merges and keeps the id"))
    throws(function() svc:get(50000) end, "NotFound", nil, L("patch cannot change the id"))
    throws(function() svc:patch(D, { age = 1 }, q({ admin = false })) end, "NotFound",
      "No record found for id '" .. D .. "'", L("patch with a non-matching query"))
    check(svc:get(D).age == 26, L("rejected patch changed nothing"))
    local ps = svc:patch(D, { age = 27 }, q({ ["$select"] = { "name" } }))
    check(ps.name == "Dave" and absent(ps.age) and ps.id == D, L("patch honours $select"))
    check(svc:patch(D, { id = D }).age == 27, L("patch with only the id: the record as it is"))
    throws(function() svc:patch(nil, { n = 1 }) end, "MethodNotAllowed",
      "Can not patch multiple entries", L("multi patch refused by default"))

    local r = svc:remove(tostring(D))
    check(r.id == D and r.name == "Dave", L("remove returns the removed record"))
    throws(function() svc:get(D) end, "NotFound", nil, L("removed is gone"))
    throws(function() svc:remove(D) end, "NotFound", nil, L("removing twice"))
    throws(function() svc:remove(A, q({ admin = false })) end, "NotFound",
      "No record found for id '" .. A .. "'", L("remove with a non-matching query"))
    check(svc:get(A).name == "Alice", L("rejected remove removed nothing"))
    throws(function() svc:remove(nil) end, "MethodNotAllowed",
      "Can not remove multiple entries", L("multi remove refused by default"))
  end

  -- multi patch / remove by query
  do
    local svc = make({ multi = true })
    svc:create({ { g = "a", n = 1 }, { g = "b", n = 2 }, { g = "a", n = 3 }, { g = "a", n = 4 } })
    local list = svc:patch(nil, { seen = true }, q({ g = "a" }))
    check(field(list, "n") == "1,3,4" and list[1].seen == true, L("multi patch by query"))
    check(getmetatable(list) == json.array_mt, L("multi patch result is a JSON list"))
    check(field(svc:find(q({ seen = true })), "n") == "1,3,4", L("multi patch only touched matches"))
    list = svc:patch(nil, { flag = 1 }, q({ g = "a", ["$limit"] = 1, ["$sort"] = { n = -1 } }))
    check(field(list, "n") == "4,3,1", L("multi patch ignores $limit, honours $sort"))
    list = svc:patch(nil, { z = 1 }, q({ g = "a", ["$select"] = { "n" } }))
    check(list[1].n == 1 and absent(list[1].z) and list[1].id ~= nil, L("multi patch honours $select"))
    list = svc:patch(nil, { z = 2 }, q({ g = "a", ["$skip"] = 1 }))
    check(field(list, "n") == "3,4", L("multi patch honours $skip"))
    check(#svc:patch(nil, { z = 3 }, q({ g = "none" })) == 0, L("multi patch of nothing"))
    local removed = svc:remove(nil, q({ n = { ["$gt"] = "2" } }))
    check(field(removed, "n") == "3,4", L("multi remove by query (string value)"))
    check(getmetatable(removed) == json.array_mt, L("multi remove result is a JSON list"))
    check(field(svc:find(), "n") == "1,2", L("multi remove left the rest"))
    removed = svc:remove(nil)
    check(#removed == 2 and #svc:find() == 0, L("multi remove of everything"))
    local sr = make({ multi = { "remove" } })
    sr:create({ n = 1 })
    check(#sr:remove(nil, q({ n = 1 })) == 1, L("multi remove allowed by list"))
  end

  -- null
  do
    local svc = make({ multi = true })
    svc:create({ { n = 1, extra = 1 }, { n = 2, extra = null }, { n = 3 } })
    local function f(query) return field(svc:find(q(query)), "n") end
    check(f({ extra = null }) == "2,3", L("{extra = null} matches null and missing"))
    check(f({ extra = "null" }) == "2,3", L("\"null\" from REST matches null"))
    check(f({ extra = { ["$ne"] = null } }) == "1", L("$ne null"))
    check(f({ extra = { ["$ne"] = 1 } }) == "2,3", L("$ne keeps null"))
    check(f({ extra = { ["$nin"] = { 1 } } }) == "2,3", L("$nin keeps null"))
    check(f({ extra = { ["$in"] = { "1", null } } }) == "1,2,3", L("$in with null"))
    check(f({ extra = { ["$gt"] = 0 } }) == "1", L("$gt never matches null"))
    check(f({ ["$sort"] = { extra = 1 }, n = { ["$lt"] = 3 } }) == "2,1", L("$sort: null first"))
    check(f({ ["$sort"] = { extra = -1 }, n = { ["$lt"] = 3 } }) == "1,2", L("$sort descending: null last"))
    local p = svc:patch(svc:find(q({ n = 1 }))[1].id, { extra = null })
    check(p.extra == null, L("patch stores null as null"))
    throws(function() svc:get(null) end, "NotFound", "No record found for id 'null'", L("get(null)"))
  end
end
