-- test_memory.lua: the memory adapter (fdn.memory) against @feathersjs/memory v5.
local t = require "lib.t"
local check, throws = t.check, t.throws
local memory = require "fdn.memory"
local errors = require "fdn.errors"
local ids = t.ids

-- the behaviour every adapter shares (tests/lua/lib/adapter_suite.lua), then the memory
-- adapter's own: its ids, its store, dotted paths, array fields, migrate
require "lib.adapter_suite" (function(options) return memory.new(options) end, "memory")

local function people()
  local svc = memory.new()
  svc:create({ name = "Alice", age = 30, admin = true, tags = { "a", "b" }, user = { name = "z" } })
  svc:create({ name = "Bob", age = 25, admin = false, tags = { "b" }, user = { name = "y" } })
  svc:create({ name = "Carol", age = 35, admin = false, user = { name = "x" } })
  svc:create({ name = "Dave", age = 25, admin = true, user = { name = "y" } })
  return svc
end

local function q(query, extra)
  local p = { query = query }
  for k, v in pairs(extra or {}) do p[k] = v end
  return p
end

---------------------------------------------------------------------------
-- create / ids
do
  local svc = memory.new()
  local a = svc:create({ text = "one" })
  local b = svc:create({ text = "two" })
  check(a.id == 0 and b.id == 1, "auto ids start at 0")
  local c = svc:create({ id = 42, text = "given" })
  check(c.id == 42, "id given in data is kept")
  local d = svc:create({ text = "next" })
  check(d.id == 2, "counter continues after a given id")
  check(svc.store[42].text == "given", "svc.store keyed by id")

  local s2 = memory.new({ startId = 100 })
  check(s2:create({}).id == 100 and s2:create({}).id == 101, "startId")

  local s3 = memory.new({ id = "_id" })
  local r = s3:create({ x = 1 })
  check(r._id == 0 and r.id == nil, "custom id field")
  check(s3:get(0).x == 1, "get with custom id field")

  -- string ids from REST
  local g = svc:get("1")
  check(g.id == 1 and g.text == "two", "get(\"1\") finds id 1")
  check(svc:get(42.0).text == "given", "get(42.0) finds id 42")
  local sid = svc:create({ id = "7", text = "string id" })
  check(sid.id == "7", "string id kept as string in the record")
  check(svc:get(7).text == "string id", "get(7) finds the record whose id is \"7\"")
  throws(function() svc:get("07") end, "NotFound", "No record found for id '07'",
    "\"07\" is another key than 7")
  local e = throws(function() svc:get(999) end, "NotFound", "No record found for id '999'",
    "get missing: verbatim NotFound message")
  check(e.code == 404, "NotFound code")
  throws(function() svc:get("abc") end, "NotFound", "No record found for id 'abc'",
    "NotFound message with a string id")

  -- auto id never overwrites an existing record
  local s4 = memory.new({ store = { { id = 0, n = "zero" }, { id = 1, n = "one" } } })
  local n = s4:create({ n = "new" })
  check(n.id == 2 and s4:get(0).n == "zero", "auto id skips ids taken by the initial store")

  -- multi create
  throws(function() svc:create({ { text = "x" }, { text = "y" } }) end, "MethodNotAllowed",
    "Can not create multiple entries", "multi create refused by default")
  local sm = memory.new({ multi = true })
  local list = sm:create({ { text = "x" }, { text = "y" } })
  check(#list == 2 and list[1].id == 0 and list[2].id == 1, "multi create with multi=true")
  local sl = memory.new({ multi = { "create" } })
  check(#sl:create({ { a = 1 }, { a = 2 }, { a = 3 } }) == 3, "multi create allowed by list")
  throws(function() sl:patch(nil, { a = 0 }) end, "MethodNotAllowed",
    "Can not patch multiple entries", "multi patch refused when only create listed")
  throws(function() sl:remove(nil) end, "MethodNotAllowed",
    "Can not remove multiple entries", "multi remove refused when only create listed")
  local sp = memory.new({ multi = { "create" } })
  throws(function() sp:create({ { a = 1 } }, { adapter = { multi = false } }) end,
    "MethodNotAllowed", "Can not create multiple entries", "params.adapter.multi overrides")
  local sa = memory.new({ multi = true })
  throws(function() sa:create({ { a = 1 }, "x" }) end, "BadRequest",
    "A data object must be provided to the 'create' method", "multi create with a bad item")
  check(next(sa.store) == nil, "a refused multi create created nothing")
  throws(function() svc:create("text") end, "BadRequest",
    "A data object must be provided to the 'create' method", "create with non-table data")

  -- $select on create
  local sel = svc:create({ text = "sel", extra = 1 }, q({ ["$select"] = { "text" } }))
  check(sel.text == "sel" and sel.extra == nil and sel.id ~= nil, "create honours $select, keeps id")
end

---------------------------------------------------------------------------
-- results are copies
do
  local svc = memory.new()
  local input = { name = "n", nested = { deep = { 1, 2 } } }
  local r = svc:create(input)
  input.nested.deep[1] = 99
  check(svc:get(r.id).nested.deep[1] == 1, "the store does not alias the create input")
  r.name = "changed"
  r.nested.deep[2] = 42
  local g = svc:get(r.id)
  check(g.name == "n" and g.nested.deep[2] == 2, "mutating a create result does not alter the store")
  g.nested.deep[1] = -1
  check(svc:get(r.id).nested.deep[1] == 1, "mutating a get result does not alter the store")
  local f = svc:find()
  f[1].nested.x = true
  check(svc:get(r.id).nested.x == nil, "mutating a find result does not alter the store")
  local p = svc:patch(r.id, { name = "p" })
  p.nested.deep = nil
  check(svc:get(r.id).nested.deep ~= nil, "mutating a patch result does not alter the store")
end

---------------------------------------------------------------------------
-- What only the memory adapter has (tests/lua/lib/adapter_suite.lua has the rest): ids from
-- 0, dotted paths, array fields, object equality, fields no record has, the store table
do
  local svc = people()
  check(ids(svc:find()) == "0,1,2,3", "find without $sort keeps id order")
  check(ids(svc:find(q({ ["user.name"] = "y" }))) == "1,3", "dotted path equality")
  check(ids(svc:find(q({ ["user.name"] = { ["$lt"] = "y" } }))) == "2", "dotted path with operator")
  check(ids(svc:find(q({ tags = "b" }))) == "0,1", "array field contains value")
  check(ids(svc:find(q({ ["tags.0"] = "b" }))) == "1", "dotted path with an array index (from 0)")
  check(ids(svc:find(q({ ["tags.1"] = { ["$in"] = { "b" } } }))) == "0", "array index 1 with $in")
  check(ids(svc:find(q({ tags = { ["$in"] = { "a" } } }))) == "0", "$in on array field")
  check(ids(svc:find(q({ tags = { ["$ne"] = "a" } }))) == "1,2,3", "$ne on array field: no element")
  check(ids(svc:find(q({ tags = { "a", "b" } }))) == "0", "array equality")
  check(ids(svc:find(q({ user = { name = "x" } }))) == "2", "object equality")
  check(ids(svc:find(q({ missing = { ["$ne"] = 1 } }))) == "0,1,2,3", "$ne matches a missing field")
  check(ids(svc:find(q({ missing = { ["$gt"] = 1 } }))) == "", "$gt never matches a missing field")
  check(ids(svc:find(q({ missing = "null" }))) == "0,1,2,3", "\"null\" matches a missing field")
  -- values fdn.sql.service refuses (BadRequest) match nothing here
  check(ids(svc:find(q({ age = "abc" }))) == "", "non-numeric string never equals a number")
  check(ids(svc:find(q({ age = { ["$gt"] = "abc" } }))) == "", "non-numeric $gt never matches a number")
  local s2 = memory.new()
  s2:create({ code = "10" })
  check(ids(s2:find(q({ code = 10 }))) == "", "a number never equals a string field")
  check(ids(svc:find(q({ ["$sort"] = { ["user.name"] = 1 } }))) == "2,1,3,0", "$sort dotted path")
  check(ids(svc:find(q({ ["$sort"] = { { "user.name", -1 }, { "age", 1 } } }))) == "0,1,3,2",
    "$sort dotted + second key")
  check(ids(svc:find(q({ ["$sort"] = { tags = 1 } }))) == "2,3,0,1",
    "$sort: missing first, arrays element-wise")
  local page = memory.new({ paginate = { default = 2 } })
  for i = 1, 3 do page:create({ n = i }) end
  check(ids(page:find(q({ ["$skip"] = 1 })).data) == "1,2", "pages by id")

  local u = svc:update("1", { name = "Bobby", id = 99 })
  check(u.id == 1 and u.age == nil and svc.store[99] == nil and svc.store[1].name == "Bobby",
    "update stored under the old id, in svc.store")
  local p = svc:patch(3, { age = 26, id = 500 })
  check(p.id == 3 and svc.store[500] == nil, "patch cannot change the id")
  local m = memory.new({ multi = true })
  m:create({ { g = "a" }, { g = "b" } })
  m:remove(nil)
  check(next(m.store) == nil, "store empty after a multi remove")
end

---------------------------------------------------------------------------
-- Object.values order: integer keys ascending, then others in insertion order
do
  local svc = memory.new()
  svc:create({ id = "b" })
  svc:create({ id = 5 })
  svc:create({ id = "a" })
  svc:create({ id = 2 })
  svc:create({ id = "10" })
  check(ids(svc:find()) == "2,5,10,b,a", "integer keys first ascending, then insertion order")
  svc:remove("b")
  svc:create({ id = "b" })
  check(ids(svc:find()) == "2,5,10,a,b", "a re-created key goes last")
  svc:update("a", { v = 1 })
  check(ids(svc:find()) == "2,5,10,a,b", "update keeps the key's place")
  svc:remove(5)
  svc:create({ id = 5 })
  check(ids(svc:find()) == "2,5,10,a,b", "integer key re-created in order")
  -- many deletes trigger compaction; order stays right
  local big = memory.new()
  for _ = 1, 200 do big:create({}) end
  for i = 0, 199, 2 do big:remove(i) end
  local f = big:find(q({ ["$limit"] = 3 }))
  check(ids(f) == "1,3,5", "order after many removes")
  check(#big:find() == 100, "count after many removes")
  for i = 0, 10, 2 do big:create({ id = i }) end
  check(ids(big:find(q({ ["$limit"] = 4 }))) == "0,1,2,3", "order after re-inserting removed ids")
end

---------------------------------------------------------------------------
-- bounded memory: the key lists are trimmed by deletes, not only by a find
do
  local function heap()
    collectgarbage(); collectgarbage()
    return collectgarbage("count") -- KB
  end
  local BOUND = 256 -- KB: a few hundred KB whatever the number of cycles

  -- create+remove with nothing live (a queue): no find ever runs
  local qsvc = memory.new()
  local base = heap()
  local done, grown = 0, {}
  for _, n in ipairs({ 100000, 300000 }) do
    for i = done + 1, n do
      local r = qsvc:create({ v = i })
      qsvc:remove(r.id)
    end
    done = n
    grown[n] = heap() - base
  end
  print(string.format("  (heap growth after 100k / 300k create+remove, 0 live: %.0f / %.0f KB)",
    grown[100000], grown[300000]))
  check(grown[100000] < BOUND, "heap flat after 100k create+remove with 0 live (grew "
    .. string.format("%.0f", grown[100000]) .. " KB)")
  check(grown[300000] < BOUND, "heap flat after 300k create+remove with 0 live (grew "
    .. string.format("%.0f", grown[300000]) .. " KB)")
  check(#qsvc:find() == 0 and qsvc:create({}).id == 300000, "queue: empty, counter kept")

  -- K records live (integer and string ids): the heap stays that of K records
  local K = 1000
  local ksvc = memory.new()
  for i = 1, K do
    ksvc:create({ v = i })
    ksvc:create({ id = "k" .. i, v = i })
  end
  local hk = heap()
  for i = 1, 150000 do
    if i % 2 == 0 then
      local r = ksvc:create({ v = i })
      ksvc:remove(r.id)
    else
      ksvc:create({ id = "x" .. i, v = i })
      ksvc:remove("x" .. i)
    end
  end
  local gk = heap() - hk
  print(string.format("  (heap growth after 150k create+remove, %d live: %.0f KB)", 2 * K, gk))
  check(gk < BOUND, "heap flat after 150k create+remove with " .. 2 * K .. " live (grew "
    .. string.format("%.0f", gk) .. " KB)")
  local all = ksvc:find()
  check(#all == 2 * K and all[1].id == 0 and all[K].id == K - 1 and all[K + 1].id == "k1"
    and all[2 * K].id == "k" .. K, "K live: all there, in order")

  -- order after many creates and removes, against a model of Object.values order:
  -- index keys ascending, then the other keys in insertion order. Removes outnumber
  -- creates, so few records are live and the key lists are compacted again and again.
  local svc = memory.new()
  local ints, int_at, str_order, live_str = {}, {}, {}, {}
  local rnd = 12345
  local function rand(n) -- a small deterministic LCG: 1..n
    rnd = (rnd * 1103515245 + 12345) % 2147483648
    return (rnd >> 8) % n + 1
  end
  local function add_int(id)
    ints[#ints + 1] = id; int_at[id] = #ints
  end
  local function expected()
    local sorted = {}
    for i, k in ipairs(ints) do sorted[i] = k end
    table.sort(sorted)
    local out = {}
    for _, k in ipairs(sorted) do out[#out + 1] = tostring(k) end
    for _, k in ipairs(str_order) do out[#out + 1] = k end
    return table.concat(out, ",")
  end
  local ok_order, checks, max_live = true, 0, 0
  for step = 1, 20000 do
    local op = rand(11)
    if op <= 2 then -- auto id
      add_int(svc:create({}).id)
    elseif op == 3 then -- a given integer id, maybe one removed before
      local id = rand(400) - 1
      if not int_at[id] then svc:create({ id = id }); add_int(id) end
    elseif op <= 5 then -- a string id, maybe one removed before: it goes last
      local id = "s" .. rand(300)
      if not live_str[id] then
        svc:create({ id = id }); live_str[id] = true; str_order[#str_order + 1] = id
      end
    elseif op == 6 then -- update a string id: it keeps its place
      local id = str_order[rand(#str_order + 1)]
      if id then svc:update(id, { u = step }) end
    elseif op <= 9 then -- remove a live integer id
      local i = rand(#ints + 1)
      local id = ints[i]
      if id then
        svc:remove(id)
        local last = ints[#ints]
        ints[i], int_at[last] = last, i
        ints[#ints], int_at[id] = nil, nil
      end
    else -- remove a live string id
      local i = rand(#str_order + 1)
      local id = str_order[i]
      if id then
        svc:remove(id); live_str[id] = nil; table.remove(str_order, i)
      end
    end
    if #ints + #str_order > max_live then max_live = #ints + #str_order end
    if step % 50 == 0 then
      checks = checks + 1
      if ids(svc:find()) ~= expected() then ok_order = false; break end
    end
  end
  check(ok_order and checks == 400, "find keeps insertion order over 20k random creates/removes")
  check(max_live < 200, "few records live in the random run (max " .. max_live .. ")")
  check(ids(svc:find()) == expected(), "order at the end")
end

---------------------------------------------------------------------------
-- initial store, migrate
do
  local s1 = memory.new({ store = { [3] = { id = 3, n = "c" }, [1] = { id = 1, n = "a" } } })
  check(ids(s1:find()) == "1,3", "store given as a map")
  local s2 = memory.new({ store = { { n = "x" }, { n = "y" } } })
  check(ids(s2:find()) == "0,1" and s2:get(1).n == "y", "store given as a list without ids")
  local s3 = memory.new({ store = { ["7"] = { name = "seven" } } })
  check(s3:get(7).name == "seven" and s3:get(7).id == "7", "map key becomes the missing id")
  local given = { [1] = { id = 1, n = "orig" } }
  local s4 = memory.new({ store = given })
  s4:patch(1, { n = "patched" })
  check(given[1].n == "orig", "the initial store table is not patched in place")

  local old = memory.new()
  old:create({ t = "a" })
  old:create({ t = "b" })
  old:remove(0)
  local new = memory.new()
  new:migrate(old)
  check(ids(new:find()) == "1", "migrate takes the records")
  check(new:create({ t = "c" }).id == 2, "migrate takes the counter")
  check(new.store[1].t == "b", "svc.store after migrate")
  old:create({ t = "late" }) -- a call still running on the old code
  check(new:get(3).t == "late", "old and new share the store after migrate")
  local foreign = { store = { [4] = { id = 4 }, [9] = { id = 9 } }, _uId = 20 }
  local n2 = memory.new()
  n2:migrate(foreign)
  check(ids(n2:find()) == "4,9" and n2:create({}).id == 20, "migrate from a plain table with store")

  local s5 = memory.new()
  s5:create({})
  s5.store = { [8] = { id = 8, x = 1 } }
  check(ids(s5:find()) == "8", "assigning svc.store replaces the records")
end

---------------------------------------------------------------------------
-- compare (sort.ts order of types)
do
  local cmp = memory.compare
  check(cmp(nil, 1) == -1 and cmp(1, "a") == -1 and cmp("a", true) == -1, "type order")
  check(cmp(true, {}) == -1 or cmp(true, { 1 }) == -1, "booleans before arrays")
  check(cmp({ 1 }, { x = 1 }) == -1, "arrays before objects")
  check(cmp({ 1, 2 }, { 1, 3 }) == -1 and cmp({ 1, 2 }, { 1 }) == 1, "arrays element-wise, then length")
  check(cmp(false, true) == -1 and cmp(2, 2.0) == 0, "booleans and numbers")
end

---------------------------------------------------------------------------
-- with fdn.json: lists carry array_mt, json.null is null (a stand-in outside fdnode)
do
  local okj, real = pcall(require, "fdn.json")
  local J = okj and real or { array_mt = { __name = "array" },
    null = setmetatable({}, { __name = "null" }) }
  if not okj then package.loaded["fdn.json"] = J end
  local mem = dofile(require("fdn.core.node").info().lib_dir .. "/services/memory.lua")
  if not okj then package.loaded["fdn.json"] = nil end
  local null, amt = J.null, J.array_mt

  local svc = mem.new({ multi = true, paginate = { default = 5 } })
  local page = svc:find()
  check(getmetatable(page.data) == amt and #page.data == 0, "empty find data carries array_mt")
  check(getmetatable(svc:find({ paginate = false })) == amt, "plain find list carries array_mt")
  local made = svc:create(setmetatable({ { a = 1, tags = setmetatable({}, amt) }, { a = 2, b = null },
    { id = null, a = 3 } }, amt))
  check(getmetatable(made) == amt and #made == 3, "multi create result carries array_mt")
  check(made[3].id == 2, "id = null gets an auto id")
  check(getmetatable(made[1].tags) == amt, "nested empty arrays keep array_mt in copies")
  check(#svc:create(setmetatable({}, amt)) == 0, "create([]) is a multi create of nothing")
  check(ids(svc:find({ query = { b = null } }).data) == "0,1,2", "{b = null} matches null and missing")
  check(ids(svc:find({ query = { a = { ["$in"] = setmetatable({ "2", null }, amt) } } }).data) == "1",
    "$in list with array_mt")
  check(ids(svc:find({ query = { b = { ["$ne"] = null } } }).data) == "", "$ne null")
  local p = svc:patch(0, { c = null })
  check(p.c == null, "patch stores null as null")
  check(getmetatable(svc:patch(nil, { d = 1 }, { query = { a = 1 } })) == amt,
    "multi patch result carries array_mt")
  check(getmetatable(svc:remove(nil, { query = { a = 3 } })) == amt, "multi remove result carries array_mt")
  local e = select(2, pcall(svc.get, svc, null))
  check(errors.is(e, "NotFound") and e.message == "No record found for id 'null'", "get(null)")
  check(svc:find({ query = { ["$sort"] = { b = -1 } } }).data[2].id == 0,
    "$sort: null after missing (descending: null first)")
end

---------------------------------------------------------------------------
-- a larger store: speed sanity (not a benchmark)
do
  local svc = memory.new({ paginate = { default = 10, max = 50 } })
  local recs = {}
  for i = 1, 10000 do recs[i] = { n = i, g = i % 7, s = "k" .. (i % 100) } end
  svc.options.multi = true
  svc:create(recs)
  local t0 = os.clock()
  local page
  for _ = 1, 10 do
    page = svc:find(q({ g = "3", n = { ["$gt"] = "100" }, ["$sort"] = { { "s", -1 }, { "n", 1 } },
      ["$limit"] = 5 }))
  end
  local dt = os.clock() - t0
  check(page.total == #svc:find({ paginate = false, query = { g = 3, n = { ["$gt"] = 100 } } }),
    "large find: total")
  -- brute force: the smallest n with g == 3, n > 100 and the greatest s ("k99")
  local best
  for i = 101, 10000 do
    if i % 7 == 3 and i % 100 == 99 and (not best or i < best) then best = i end
  end
  check(#page.data == 5 and page.data[1].s == "k99" and page.data[1].n == best
    and page.data[2].s == "k99" and page.data[2].n > best, "large find: sorted page")
  check(dt < 5, "10 sorted finds over 10k records in under 5 s (took " .. string.format("%.2f", dt) .. ")")
  print(string.format("  (10 finds over 10k records with $sort: %.3f s)", dt))
end

return t.done()
