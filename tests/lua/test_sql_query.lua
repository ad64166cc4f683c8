-- test_sql_query.lua: fdn.sql.query alone (a Feathers query -> SQL text and arguments),
-- including hostile input: nothing from a query reaches the SQL text but known column names.
local t = require "lib.t"
local check, eq, throws = t.check, t.eq, t.throws
local sq = require "fdn.sql.query"
local json = require "fdn.json"
local null = json.null

local S = sq.schema {
  { name = "id", type = "integer", pk = 1 }, { name = "name", type = "text" },
  { name = "age", type = "INTEGER" }, { name = "admin", type = "boolean" },
  { name = "score", type = "real" }, { name = "meta", type = "jsonb" },
  { name = "at", type = "timestamp with time zone" }, { name = "odd\"col", type = "text" },
}

local function W(q, dialect)
  local sql, args = sq.where(S, q, dialect or "sqlite")
  local a = {}
  for i = 1, args.n do a[i] = args[i] == nil and "NULL" or args[i] end
  return sql, a, args.n
end

local function P(q, opts)
  opts = opts or {}
  local p = sq.plan(S, q, { dialect = opts.dialect or "sqlite", id = "id", paginate = opts.paginate })
  return sq.select_sql("people", p, opts.dialect or "sqlite"), p
end

---------------------------------------------------------------------------
-- kinds and quoting
do
  check(sq.kind("INTEGER") == "integer" and sq.kind("bigint") == "integer" and sq.kind("int4") == "integer",
    "integer kinds")
  check(sq.kind("boolean") == "boolean" and sq.kind("text") == "text" and sq.kind("varchar(20)") == "text",
    "boolean and text kinds")
  check(sq.kind("double precision") == "real" and sq.kind("numeric(10,2)") == "real", "real kinds")
  check(sq.kind("jsonb") == "json" and sq.kind("timestamp") == "other" and sq.kind(nil) == "other",
    "json and other kinds")
  eq(sq.quote('a"b'), '"a""b"', "quote doubles a double quote")
end

---------------------------------------------------------------------------
-- conditions
do
  local sql, a = W({ name = "Bob" })
  eq(sql, '"name" = ?', "equality"); eq(a, { "Bob" }, "equality value bound")
  sql, a = W({ age = 25, admin = true })
  eq(sql, '("admin" = ? AND "age" = ?)', "two fields ANDed (sorted)"); eq(a, { true, 25 }, "their values")
  sql, a = W({ age = { ["$in"] = { 25, 35 } } })
  eq(sql, '"age" IN (?, ?)', "$in"); eq(a, { 25, 35 }, "$in values")
  sql = W({ age = { ["$nin"] = { 25 } } })
  eq(sql, '("age" IS NULL OR "age" NOT IN (?))', "$nin keeps NULL rows (memory adapter)")
  eq(W({ age = { ["$in"] = {} } }), "1 = 0", "empty $in matches nothing")
  eq(W({ age = { ["$nin"] = {} } }), "1 = 1", "empty $nin matches everything")
  eq(W({ age = { ["$in"] = { 1, null } } }), '("age" IN (?) OR "age" IS NULL)', "$in with null")
  eq(W({ age = { ["$nin"] = { null } } }), '"age" IS NOT NULL', "$nin of null alone")
  eq(W({ age = { ["$lt"] = 30 } }), '"age" < ?', "$lt")
  eq(W({ age = { ["$gte"] = 30, ["$lte"] = 40 } }), '("age" >= ? AND "age" <= ?)', "range")
  eq(W({ age = { ["$gt"] = null } }), "1 = 0", "$gt null never matches")
  eq(W({ age = { ["$ne"] = 25 } }), '"age" IS NOT ?', "$ne on SQLite (NULL rows kept)")
  eq(W({ age = { ["$ne"] = 25 } }, "postgres"), '"age" IS DISTINCT FROM ?', "$ne on PostgreSQL")
  eq(W({ age = { ["$ne"] = null } }), '"age" IS NOT NULL', "$ne null")
  eq(W({ age = null }), '"age" IS NULL', "equality with null")
  eq(W({ age = "null" }), '"age" IS NULL', "\"null\" from REST on a number column")
  sql, a = W({ name = "null" })
  check(sql == '"name" = ?' and a[1] == "null", "\"null\" is text on a text column")
  sql, a = W({ name = { ["$like"] = "B%" } })
  check(sql == '"name" LIKE ?' and a[1] == "B%", "$like")
  eq(W({ name = { ["$notlike"] = "B%" } }), '"name" NOT LIKE ?', "$notlike")
  eq(W({ name = { ["$ilike"] = "b%" } }), '"name" LIKE ?', "$ilike is LIKE on SQLite")
  eq(W({ name = { ["$ilike"] = "b%" } }, "postgres"), '"name" ILIKE ?', "$ilike on PostgreSQL")
  eq(W({ age = { ["$like"] = 3 } }, "postgres"), 'CAST("age" AS TEXT) LIKE ?', "$like on a number column (pg)")
  eq(W({ ["$or"] = { { name = "Alice" }, { age = 35 } } }), '("name" = ? OR "age" = ?)', "$or")
  eq(W({ ["$or"] = { { name = "A" }, {} } }), nil, "$or with an empty alternative: no condition")
  eq(W({ ["$or"] = {} }), "1 = 0", "empty $or matches nothing")
  eq(W({ ["$and"] = { { age = { ["$gte"] = 25 } }, { age = { ["$lt"] = 30 } } } }),
    '("age" >= ? AND "age" < ?)', "$and")
  eq(W({ ["$and"] = { { ["$or"] = { { name = "A" }, { name = "B" } } }, { admin = true } } }),
    '(("name" = ? OR "name" = ?) AND "admin" = ?)', "$and with nested $or")
  eq(W({ ["$or"] = { { name = "A", age = 1 }, { admin = false } }, score = 1 }),
    '((("age" = ? AND "name" = ?) OR "admin" = ?) AND "score" = ?)', "$or ANDed with a field")
  eq(W({ age = { ["$or"] = { 30, { ["$gt"] = 32 } } } }), '("age" = ? OR "age" > ?)', "field-level $or")
  eq(W({ ["odd\"col"] = 1 }), '"odd""col" = ?', "a column name with a quote is quoted")
  eq(W({}), nil, "no condition")
  eq(W({ ["$limit"] = 1, ["$select"] = { "x" } }), nil, "filters are no conditions")
end

---------------------------------------------------------------------------
-- values converted to the column's type (REST strings)
do
  local _, a = W({ age = "30" })
  check(a[1] == 30 and math.type(a[1]) == "integer", "\"30\" -> 30 on an integer column")
  _, a = W({ score = "2.5" }); check(a[1] == 2.5, "\"2.5\" -> 2.5 on a real column")
  _, a = W({ age = 30.0 }); check(math.type(a[1]) == "integer", "30.0 -> 30")
  _, a = W({ admin = "true" }); check(a[1] == true, "\"true\" -> true on a boolean column")
  _, a = W({ admin = "false" }); check(a[1] == false, "\"false\" -> false")
  _, a = W({ admin = 1 }); check(a[1] == true, "1 -> true on a boolean column")
  _, a = W({ name = 10 }); check(a[1] == "10", "10 -> \"10\" on a text column")
  _, a = W({ age = { ["$in"] = { "25", "35" } } }); eq(a, { 25, 35 }, "$in strings -> numbers")
  _, a = W({ at = "2024-01-01" }); check(a[1] == "2024-01-01", "other types: the value as given")
  throws(function() W({ age = "abc" }) end, "BadRequest", "Invalid value for column 'age'",
    "a string that is no number on an integer column")
  throws(function() W({ age = { ["$gt"] = "1x" } }) end, "BadRequest", nil, "... in an operator")
  throws(function() W({ admin = "yes" }) end, "BadRequest", nil, "\"yes\" on a boolean column")
  throws(function() W({ age = true }) end, "BadRequest", nil, "a boolean on an integer column")
  throws(function() W({ age = "nan" }) end, "BadRequest", nil, "nan")
  throws(function() W({ age = "inf" }) end, "BadRequest", nil, "inf")
  throws(function() W({ age = { ["$in"] = { 1, { 2 } } } }) end, "BadRequest", nil, "a table in $in")
  throws(function() W({ meta = { a = 1 } }) end, "BadRequest", "Invalid value for column 'meta'",
    "object equality")
  throws(function() W({ name = { ["$like"] = true } }) end, "BadRequest", nil, "$like with a boolean")
end

---------------------------------------------------------------------------
-- validation: adapter-commons messages, unknown columns
do
  throws(function() W({ ["$foo"] = 1 }) end, "BadRequest", "Invalid filter value $foo", "unknown $ key")
  throws(function() W({ ["$in"] = { 1 } }) end, "BadRequest", "Invalid filter value $in", "operator at top")
  local e = throws(function() W({ age = { ["$regex"] = "x" } }) end, "BadRequest",
    "Invalid query parameter $regex", "unknown operator")
  check(e.data and e.data["$regex"] == "x", "unknown operator: the object as data")
  throws(function() W({ age = { ["$eq"] = 1 } }) end, "BadRequest", "Invalid query parameter $eq", "$eq")
  throws(function() W({ ["$or"] = { { name = { ["$bad"] = 1 } } } }) end, "BadRequest",
    "Invalid query parameter $bad", "unknown operator inside $or")
  throws(function() W({ ["$or"] = { { ["$and"] = { { age = 1 } } } } }) end, "BadRequest",
    "Invalid query parameter $and", "$and inside $or")
  throws(function() W({ ["$or"] = "x" }) end, "BadRequest", "Invalid filter value $or", "$or not a list")
  throws(function() W({ ["$or"] = { 1 } }) end, "BadRequest", "Invalid filter value $or", "$or of a scalar")
  throws(function() W({ meta = { inner = { ["$x"] = 1 } } }) end, "BadRequest",
    "Invalid query parameter $x", "nested objects validated")
  throws(function() W("x") end, "BadRequest", "Invalid query", "a query that is no table")
  e = throws(function() W({ missing = 1 }) end, "BadRequest", "Unknown column 'missing'", "unknown column")
  check(e.unknown_column == "missing" and e:toJSON().unknown_column == nil,
    "the unknown column is marked for the service, not sent to the client")
  throws(function() W({ ["user.name"] = "y" }) end, "BadRequest", "Unknown column 'user.name'",
    "dotted paths are no columns")
end

---------------------------------------------------------------------------
-- hostile input: injection through every place a query reaches
do
  local evil = { 'name" = 1; DROP TABLE people; --', "name; DROP TABLE people", "id) OR (1=1",
    '"', "__index", "__proto__", "constructor", "1 OR 1=1", "name--", "" }
  for _, k in ipairs(evil) do
    throws(function() W({ [k] = 1 }) end, "BadRequest", nil, "field name rejected: " .. k)
    throws(function() P({ ["$sort"] = { [k] = 1 } }) end, "BadRequest", nil, "$sort key rejected: " .. k)
    throws(function() P({ ["$select"] = { "name", k } }) end, "BadRequest", nil, "$select field rejected: " .. k)
    throws(function() W({ ["$or"] = { { name = "a" }, { [k] = 1 } } }) end, "BadRequest", nil,
      "field name inside $or rejected: " .. k)
    throws(function() W({ ["$and"] = { { ["$or"] = { { [k] = 1 } } } } }) end, "BadRequest", nil,
      "field name inside $and/$or rejected: " .. k)
    local sql = W({ age = { [k] = 1, ["$gt"] = 1 } })
    eq(sql, '"age" > ?', "a plain key beside an operator is ignored, never in SQL: " .. k)
  end
  throws(function() W({ age = { ["$gt) OR 1=1 --"] = 1 } }) end, "BadRequest",
    "Invalid query parameter $gt) OR 1=1 --", "operator name injection")
  throws(function() W({ ["$or; DROP TABLE x"] = { {} } }) end, "BadRequest", nil, "filter name injection")
  local sql, a = W({ name = "x' OR '1'='1", score = { ["$lt"] = "1" } }, "postgres")
  eq(sql, '("name" = ? AND "score" < ?)', "values never reach the SQL text")
  eq(a, { "x' OR '1'='1", 1 }, "they are bound")
  throws(function() W({ age = { ["$in"] = { "1); DROP TABLE people; --" } } }) end, "BadRequest",
    "Invalid value for column 'age'", "an injection as a number value")
  sql, a = W({ name = { ["$like"] = "%'; DROP TABLE people; --" } })
  check(sql == '"name" LIKE ?' and a[1] == "%'; DROP TABLE people; --", "a $like pattern is bound")
  -- a table with a metatable (__index) as the query: only its own keys count
  local sneaky = setmetatable({}, { __index = function() return "x" end })
  eq(W(sneaky), nil, "__index on a query table adds no condition")
end

---------------------------------------------------------------------------
-- bounds: huge lists, deep nesting, many values
do
  local big = {}
  for i = 1, sq.MAX_IN do big[i] = i end
  local sql, _, n = W({ age = { ["$in"] = big } })
  check(n == sq.MAX_IN and #sql < 6 * sq.MAX_IN + 20, "$in of " .. sq.MAX_IN .. " values")
  big[#big + 1] = 0
  throws(function() W({ age = { ["$in"] = big } }) end, "BadRequest",
    "Too many values in a list (at most " .. sq.MAX_IN .. ")", "$in beyond the bound")
  throws(function() W({ age = { ["$nin"] = big } }) end, "BadRequest", nil, "$nin beyond the bound")
  local huge = {}
  for i = 1, 100000 do huge[i] = tostring(i) end
  throws(function() W({ name = { ["$in"] = huge } }) end, "BadRequest", nil, "100000 values refused")
  local ors = {}
  for i = 1, 20 do ors[i] = { age = { ["$in"] = big and { table.unpack(big, 1, 999) } } } end
  throws(function() W({ ["$or"] = ors }) end, "BadRequest", "Query too large", "too many values in all")
  local deep = { name = "x" }
  for _ = 1, 100 do deep = { ["$or"] = { deep } } end
  throws(function() W(deep) end, "BadRequest", "Query too deep", "deeply nested $or")
  local fdeep = 1
  for _ = 1, 100 do fdeep = { ["$or"] = { fdeep } } end
  throws(function() W({ age = fdeep }) end, "BadRequest", "Query too deep", "deeply nested field $or")
end

---------------------------------------------------------------------------
-- plans: $sort, $select, $limit, $skip, paginate
do
  local sql, p = P({})
  eq(sql, 'SELECT * FROM "people" ORDER BY "id" ASC', "all, in id order")
  check(p.args.n == 0, "no arguments")
  sql = P({ ["$sort"] = { age = -1 }, ["$limit"] = "2", ["$skip"] = 1, name = "A" })
  eq(sql, 'SELECT * FROM "people" WHERE "name" = ? ORDER BY "age" DESC, "id" ASC LIMIT 2 OFFSET 1',
    "sort, limit, skip")
  sql = P({ ["$sort"] = { { "age", 1 }, { "name", -1 } } }, { dialect = "postgres" })
  eq(sql, 'SELECT * FROM "people" ORDER BY "age" ASC NULLS FIRST, "name" DESC NULLS LAST, "id" ASC',
    "PostgreSQL: nulls first ascending, as the memory adapter orders them")
  eq(P({ ["$sort"] = { id = -1 } }), 'SELECT * FROM "people" ORDER BY "id" DESC', "sort by id")
  eq(P({ ["$skip"] = 3 }), 'SELECT * FROM "people" ORDER BY "id" ASC LIMIT -1 OFFSET 3', "skip alone (SQLite)")
  eq(P({ ["$skip"] = 3 }, { dialect = "postgres" }), 'SELECT * FROM "people" ORDER BY "id" ASC OFFSET 3',
    "skip alone (PostgreSQL)")
  eq(P({ ["$skip"] = -3, ["$limit"] = "x" }), 'SELECT * FROM "people" ORDER BY "id" ASC',
    "negative skip, invalid limit")
  sql, p = P({}, { paginate = { default = 5, max = 10 } })
  check(p.limit == 5 and sql:find("LIMIT 5", 1, true), "paginate default")
  p = select(2, P({ ["$limit"] = 100 }, { paginate = { default = 5, max = 10 } }))
  check(p.limit == 10, "paginate max")
  p = select(2, P({ ["$limit"] = 1e300 }))
  check(math.type(p.limit) == "integer", "a huge $limit is an integer")
  sql, p = P({ ["$select"] = { "name", "name", "age" } })
  eq(sql, 'SELECT "name", "age", "id" FROM "people" ORDER BY "id" ASC', "$select with the id, once each")
  eq(p.fields, { "name", "name", "age" }, "the fields asked for")
  eq(P({ ["$select"] = { "id" } }), 'SELECT "id" FROM "people" ORDER BY "id" ASC', "$select of the id")
  eq(P({ ["$select"] = "name" }), 'SELECT "name", "id" FROM "people" ORDER BY "id" ASC', "$select as a string")
end

---------------------------------------------------------------------------
-- writes
do
  local sql, a = sq.insert_sql(S, "people", { name = "A", age = 3, id = null }, "id")
  eq(sql, 'INSERT INTO "people" ("age", "name") VALUES (?, ?) RETURNING *', "insert without id")
  check(a.n == 2 and a[1] == 3 and a[2] == "A", "insert values")
  sql = sq.insert_sql(S, "people", { id = 7 }, "id")
  eq(sql, 'INSERT INTO "people" ("id") VALUES (?) RETURNING *', "insert with id")
  eq(sq.insert_sql(S, "people", {}, "id"), 'INSERT INTO "people" DEFAULT VALUES RETURNING *', "empty insert")
  throws(function() sq.insert_sql(S, "people", { name = "x", ['x" TEXT); DROP TABLE y; --'] = 1 }, "id") end,
    "BadRequest", nil, "insert with an unknown column")
  sql, a = sq.update_sql(S, "people", { age = 4, id = 9 }, "id", false, '"id" = ?', { n = 1, 2 })
  eq(sql, 'UPDATE "people" SET "age" = ? WHERE "id" = ? RETURNING *', "patch: data columns, never the id")
  check(a.n == 2 and a[1] == 4 and a[2] == 2, "patch values, then the where values")
  sql, a = sq.update_sql(S, "people", { name = "B", admin = false }, "id", true, nil, { n = 0 })
  check(sql:find('SET "name" = ?, "age" = ?, "admin" = ?, "score" = ?', 1, true) and a.n == 7,
    "update: every column but the id, in table order")
  check(a[1] == "B" and a[2] == null and a[3] == false, "update: missing columns NULL, false kept")
  eq(sq.update_sql(S, "people", { id = 1 }, "id", false, nil, { n = 0 }), nil, "patch of nothing")
  eq(sq.delete_sql("people", '"id" = ?'), 'DELETE FROM "people" WHERE "id" = ? RETURNING *', "delete")
  local cond, v = sq.id_condition(S, "id", "7")
  check(cond == '"id" = ?' and v == 7, "id condition converts a numeral")
  check(sq.id_condition(S, "id", "abc") == nil, "an id that can be no integer: no condition")
end

return t.done()
