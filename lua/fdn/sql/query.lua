-- query.lua (require "fdn.sql.query"): a Feathers query compiled into parameterized SQL for
-- fdn.sql.service. Pure: it reads a table's columns and returns SQL text and its arguments.
-- Every identifier is a known column, always quoted; every value is bound, never spliced.
local errors = require "fdn.errors"
local fq = require "fdn.query"
local dollar_key = require("fdn.query.match").dollar_key
local C_ = require "fdn.sql.columns"

local M = {}

local type, pairs, ipairs, tostring, error, pcall = type, pairs, ipairs, tostring, error, pcall
local tointeger, mtype, huge = math.tointeger, math.type, math.huge
local concat, sort = table.concat, table.sort
local sbyte = string.byte

local BadRequest = errors.BadRequest
local null, is_list = fq.null, fq.is_list

M.MAX_IN = 1000      -- values in one $in / $nin list
M.MAX_ARGS = 10000   -- bound values in one statement
M.MAX_DEPTH = 32     -- nesting of $or / $and

local CMP = { ["$lt"] = "<", ["$lte"] = "<=", ["$gt"] = ">", ["$gte"] = ">=" }
local LIKE = { ["$like"] = "LIKE", ["$notlike"] = "NOT LIKE", ["$ilike"] = "ILIKE" }

local is_null = C_.is_null
local function is_object(v) return type(v) == "table" and not is_null(v) and not is_list(v) end
local function is_dollar(k) return type(k) == "string" and sbyte(k, 1) == 36 end

local function values_of(v)
  if type(v) ~= "table" or is_null(v) then return { v } end
  if is_list(v) then return v end
  local out = {}
  for _, x in pairs(v) do out[#out + 1] = x end
  return out
end

local quote, column, value, bad_value, num_text = C_.quote, C_.column, C_.value, C_.bad_value, C_.num_text
M.quote, M.kind, M.schema, M.column, M.value = C_.quote, C_.kind, C_.schema, C_.column, C_.value

-- A compilation: the schema, the dialect, the arguments bound so far. bind(C, v, col): a
-- placeholder for v; PostgreSQL reads a parameter as the column's type, so a fraction
-- compared with an integer column is given as a double ("age" > 29.5 stays true for 30).
local function bind(C, v, col)
  local n = C.args.n + 1
  if n > M.MAX_ARGS then error(BadRequest("Query too large"), 0) end
  C.args[n], C.args.n = v, n
  if col and col.kind == "integer" and C.dialect == "postgres" and mtype(v) == "float" then
    return "CAST(? AS DOUBLE PRECISION)"
  end
  return "?"
end

local function sorted_keys(t)
  local ks = {}
  for k in pairs(t) do ks[#ks + 1] = k end
  sort(ks, function(a, b) return tostring(a) < tostring(b) end)
  return ks
end

-- validateQueryProperty: every $-key of a plain object (recursively) is an operator.
local function validate_prop(v, depth)
  if not is_object(v) then return end
  if depth > M.MAX_DEPTH then error(BadRequest("Query too deep"), 0) end
  for k, x in pairs(v) do
    if is_dollar(k) and not (CMP[k] or LIKE[k] or k == "$in" or k == "$nin" or k == "$ne"
        or k == "$or") then
      error(BadRequest("Invalid query parameter " .. k, v), 0)
    end
    validate_prop(x, depth + 1)
  end
end

local function join(parts, op, empty)
  if #parts == 0 then return empty end
  if #parts == 1 then return parts[1] end
  return "(" .. concat(parts, op) .. ")"
end

-- $in (negate false) / $nin (negate true): NULL is matched as the memory adapter does.
local function in_list(C, col, qc, list, negate)
  local vals = values_of(list)
  if #vals > M.MAX_IN then
    error(BadRequest("Too many values in a list (at most " .. M.MAX_IN .. ")"), 0)
  end
  local marks, nullok = {}, false
  for _, x in ipairs(vals) do
    local v = value(col, x)
    if v == nil then nullok = true else marks[#marks + 1] = bind(C, v, col) end
  end
  local inx = #marks > 0 and (qc .. (negate and " NOT IN (" or " IN (") .. concat(marks, ", ") .. ")")
  if not negate then
    if nullok then return inx and "(" .. inx .. " OR " .. qc .. " IS NULL)" or qc .. " IS NULL" end
    return inx or "1 = 0"
  end
  if nullok then return inx and "(" .. qc .. " IS NOT NULL AND " .. inx .. ")" or qc .. " IS NOT NULL" end
  return inx and "(" .. qc .. " IS NULL OR " .. inx .. ")" or "1 = 1"
end

local function equal(C, col, qc, x)
  local v = value(col, x)
  if v == nil then return qc .. " IS NULL" end
  return qc .. " = " .. bind(C, v, col)
end

local field_value

-- One operator of a field's operator object.
local function operator(C, col, qc, op, x, depth)
  if op == "$in" or op == "$nin" then return in_list(C, col, qc, x, op == "$nin") end
  if op == "$ne" then
    local v = value(col, x)
    if v == nil then return qc .. " IS NOT NULL" end
    return qc .. (C.dialect == "postgres" and " IS DISTINCT FROM " or " IS NOT ") .. bind(C, v, col)
  end
  if CMP[op] then
    local v = value(col, x)
    if v == nil then return "1 = 0" end -- nothing is less than null (memory adapter)
    return qc .. " " .. CMP[op] .. " " .. bind(C, v, col)
  end
  if LIKE[op] then
    local t = type(x)
    if t == "number" then x = num_text(x) elseif t ~= "string" then bad_value(col) end
    local sql = LIKE[op]
    if op == "$ilike" and C.dialect ~= "postgres" then sql = "LIKE" end -- SQLite: ASCII-insensitive
    local lhs = qc
    if C.dialect == "postgres" and col.kind ~= "text" then lhs = "CAST(" .. qc .. " AS TEXT)" end
    return lhs .. " " .. sql .. " " .. bind(C, x)
  end
  if op == "$or" then
    local alts = {}
    for _, alt in ipairs(values_of(x)) do alts[#alts + 1] = field_value(C, col, qc, alt, depth + 1) end
    return join(alts, " OR ", "1 = 0")
  end
  return nil
end

-- A field's condition: an operator object (plain keys beside operators are ignored), or equality.
field_value = function(C, col, qc, v, depth)
  if depth > M.MAX_DEPTH then error(BadRequest("Query too deep"), 0) end
  if is_object(v) then
    local parts = {}
    for _, op in ipairs(sorted_keys(v)) do
      if is_dollar(op) then
        local sql = operator(C, col, qc, op, v[op], depth)
        if not sql then error(BadRequest("Invalid query parameter " .. op, v), 0) end
        parts[#parts + 1] = sql
      else
        validate_prop(v[op], depth + 1)
      end
    end
    if #parts > 0 then return join(parts, " AND ") end
  end
  if type(v) == "table" and not is_null(v) then
    validate_prop(v, depth)
    bad_value(col)
  end
  return equal(C, col, qc, v)
end

local compile_query

-- $or / $and: a list of query objects.
local function compile_list(C, k, v, depth)
  if type(v) ~= "table" or is_null(v) then error(BadRequest("Invalid filter value " .. k), 0) end
  local parts, open = {}, 0
  for _, sub in ipairs(values_of(v)) do
    if not is_object(sub) then error(BadRequest("Invalid filter value " .. k), 0) end
    local sql = compile_query(C, sub, false, depth + 1)
    if sql then parts[#parts + 1] = sql else open = open + 1 end
  end
  if k == "$and" then return join(parts, " AND ", nil) end
  if open > 0 then return nil end -- an alternative without conditions matches everything
  return join(parts, " OR ", "1 = 0")
end

-- A query object's conditions as SQL (nil: none). top: the whole query, where $-keys are
-- filters; inside $or/$and only $or is allowed besides fields (adapter-commons).
compile_query = function(C, q, top, depth)
  if depth > M.MAX_DEPTH then error(BadRequest("Query too deep"), 0) end
  local parts = {}
  for _, k in ipairs(sorted_keys(q)) do
    local v = q[k]
    if is_dollar(k) then
      if dollar_key(k, top, q) then
        local sql = compile_list(C, k, v, depth)
        if sql then parts[#parts + 1] = sql end
      end
    else
      local col = column(C.S, k)
      parts[#parts + 1] = field_value(C, col, quote(col.name), v, depth)
    end
  end
  return join(parts, " AND ", nil)
end

-- where(S, conditions, dialect, args) -> sql|nil: conditions (a query without the
-- paging filters) as a WHERE expression; its values appended to args ({n = count}).
function M.where(S, conds, dialect, args)
  local C = { S = S, dialect = dialect, args = args or { n = 0 } }
  if is_null(conds) then return nil, C.args end
  if type(conds) ~= "table" then error(BadRequest("Invalid query"), 0) end
  return compile_query(C, conds, true, 0), C.args
end

-- plan(S, query, opts) -> { where, args, order, limit, skip, select }: params.query
-- compiled. opts: { dialect, id (the id column), paginate }.
--   where: SQL or nil; args: its values ({n = count}); order: "ORDER BY ..." (always
--   ending with the id column, so that pages are stable); limit, skip: integers or nil;
--   select: the quoted column list ("*" when all).
function M.plan(S, q, opts)
  local filters, conds = fq.filter(q, opts.paginate)
  local where, args = M.where(S, conds, opts.dialect)
  local idq = quote(column(S, opts.id).name)
  local pg = opts.dialect == "postgres"
  local order, seen = {}, {}
  for _, spec in ipairs(filters.sort or {}) do
    local col = column(S, spec.key)
    if not seen[col.name] then
      seen[col.name] = true
      -- the memory adapter's order: null before any value
      local dir = spec.dir > 0 and (pg and " ASC NULLS FIRST" or " ASC") or (pg and " DESC NULLS LAST" or " DESC")
      order[#order + 1] = quote(col.name) .. dir
    end
  end
  if not seen[opts.id] then order[#order + 1] = idq .. " ASC" end
  local select = "*"
  if filters.select then
    local cols, had = {}, {}
    for _, f in ipairs(filters.select) do
      local col = column(S, f)
      if not had[col.name] then had[col.name] = true; cols[#cols + 1] = quote(col.name) end
    end
    if not had[opts.id] then cols[#cols + 1] = idq end
    select = concat(cols, ", ")
  end
  local function int(n)
    if type(n) ~= "number" or n ~= n or n == huge then return nil end
    if n < 0 then n = 0 end
    return tointeger(n) or tointeger(n // 1) or math.maxinteger
  end
  return { where = where, args = args, order = "ORDER BY " .. concat(order, ", "),
    limit = int(filters.limit), skip = int(filters.skip), select = select,
    fields = filters.select }
end

-- id_condition(S, idf, id) -> sql, value | nil: "id = ?" for one id, converted to the id
-- column's type; nil when the id cannot be of that type (no record has it).
function M.id_condition(S, idf, id)
  local col = column(S, idf)
  local ok, v = pcall(value, col, id)
  if not ok or v == nil then return nil end
  return quote(col.name) .. " = ?", v
end

-- and_where(a, b): two WHERE expressions (either may be nil) ANDed.
function M.and_where(a, b)
  if a and b then return a .. " AND " .. b end
  return a or b
end

local function where_clause(w) return w and (" WHERE " .. w) or "" end

-- select_sql(table, plan, dialect) -> sql (plan.args are its arguments, then limit/offset
-- as literal integers: they are integers made here, never text from the query).
function M.select_sql(tbl, p, dialect)
  local sql = "SELECT " .. p.select .. " FROM " .. quote(tbl) .. where_clause(p.where)
  if p.order then sql = sql .. " " .. p.order end
  if p.limit then
    sql = sql .. " LIMIT " .. p.limit
  elseif p.skip and p.skip > 0 and dialect ~= "postgres" then
    sql = sql .. " LIMIT -1"
  end
  if p.skip and p.skip > 0 then sql = sql .. " OFFSET " .. p.skip end
  return sql
end

function M.count_sql(tbl, where)
  return "SELECT COUNT(*) AS total FROM " .. quote(tbl) .. where_clause(where)
end

-- Data columns in order: { col, value } for each key of data that is not skip (the id).
local function data_columns(S, data, skip)
  local out = {}
  for _, k in ipairs(sorted_keys(data)) do
    if k ~= skip then
      local col = column(S, k)
      local v = data[k]
      if is_null(v) then v = null end
      out[#out + 1] = { col = col, v = v }
    end
  end
  return out
end

-- insert_sql(S, table, data, idf) -> sql, args: one row, RETURNING *; the id column is
-- left out when data's id is empty (nil, null, false or "") so that the database makes it.
function M.insert_sql(S, tbl, data, idf)
  local id = data[idf]
  local skip = (is_null(id) or id == false or id == "") and idf or nil
  local cols = data_columns(S, data, skip)
  local args = { n = #cols }
  if #cols == 0 then return "INSERT INTO " .. quote(tbl) .. " DEFAULT VALUES RETURNING *", args end
  local names, marks = {}, {}
  for i, c in ipairs(cols) do names[i], marks[i], args[i] = quote(c.col.name), "?", c.v end
  return "INSERT INTO " .. quote(tbl) .. " (" .. concat(names, ", ") .. ") VALUES ("
    .. concat(marks, ", ") .. ") RETURNING *", args
end

-- update_sql(S, table, data, idf, replace, where, wargs) -> sql, args | nil (nothing to
-- set). replace (update): every column but the id is set, to NULL when data lacks it;
-- else (patch) only data's columns. The id column is never set.
function M.update_sql(S, tbl, data, idf, replace, where, wargs)
  local sets, args = {}, { n = 0 }
  local cols = data_columns(S, data, idf)
  if replace then
    local given = {}
    for _, c in ipairs(cols) do given[c.col.name] = c end
    cols = {}
    for _, col in ipairs(S.list) do
      if col.name ~= idf then cols[#cols + 1] = given[col.name] or { col = col, v = null } end
    end
  end
  if #cols == 0 then return nil end
  for i, c in ipairs(cols) do
    sets[i] = quote(c.col.name) .. " = ?"
    args[i] = c.v
  end
  args.n = #cols
  for i = 1, wargs.n do args[args.n + i] = wargs[i] end
  args.n = args.n + wargs.n
  return "UPDATE " .. quote(tbl) .. " SET " .. concat(sets, ", ") .. where_clause(where)
    .. " RETURNING *", args
end

function M.delete_sql(tbl, where)
  return "DELETE FROM " .. quote(tbl) .. where_clause(where) .. " RETURNING *"
end

M.is_null = is_null
return M
