-- service.lua (require "fdn.sql.service"; fdn.sql.service): a Feathers service over one table
-- of a database from fdn.sql.connect, with the memory adapter's behaviour and query syntax
-- (plus $like $notlike $ilike, as @feathersjs/knex has them), compiled by fdn.sql.query.
local errors = require "fdn.errors"
local fq = require "fdn.query"
local sq = require "fdn.sql.query"
local adapter = require "fdn.query.adapter"

local M = {}

local type, pairs, ipairs, tostring, error, pcall, setmetatable =
  type, pairs, ipairs, tostring, error, pcall, setmetatable
local tointeger = math.tointeger
local unpack, pack = table.unpack, table.pack
local ostime = os.time

local BadRequest, MethodNotAllowed, GeneralError =
  errors.BadRequest, errors.MethodNotAllowed, errors.GeneralError
local null, is_list, new_list = fq.null, fq.is_list, fq.new_list
local is_null = sq.is_null

local json = require "fdn.json"

local EMPTY = setmetatable({}, { __newindex = function() error("read-only", 2) end })

---------------------------------------------------------------------------
-- The table's columns: read at the first call (configure need not wait for them), and again
-- when a query names an unknown column: at most READS times a second, and not again within
-- the second for a name the last read did not have (bad queries cannot keep the db busy).
---------------------------------------------------------------------------

local READS = 4

local function read_schema(self)
  local o = self.options
  local now, prev = ostime(), self._schema
  local reads = (prev and prev.read_at == now) and prev.reads + 1 or 1
  local cols = o.db:columns(o.table)
  if not cols then error(GeneralError("No table '" .. tostring(o.table) .. "'"), 0) end
  local S = sq.schema(cols)
  S.read_at, S.reads, S.missing = now, reads, (prev and prev.read_at == now) and prev.missing or {}
  -- SQLite has no boolean or JSON values: 0/1 and JSON text are turned back into them
  S.fix = {}
  if o.db.dialect ~= "postgres" then
    for _, col in ipairs(S.list) do
      if col.kind == "boolean" or col.kind == "json" then S.fix[#S.fix + 1] = col end
    end
  end
  self._schema = S
  return S
end

-- compiled(self, fn): fn(S) with the schema; an unknown column makes it read the columns
-- once more and try again.
local function compiled(self, fn)
  local S = self._schema or read_schema(self)
  local r = pack(pcall(fn, S))
  if r[1] then return unpack(r, 2, r.n) end
  local e = r[2]
  local name = type(e) == "table" and e.unknown_column
  if not name or (S.read_at == ostime() and (S.missing[name] or S.reads >= READS)) then error(e, 0) end
  S = read_schema(self)
  r = pack(pcall(fn, S))
  if r[1] then return unpack(r, 2, r.n) end
  e = r[2]
  if type(e) == "table" and e.unknown_column then S.missing[e.unknown_column] = true end
  error(e, 0)
end

local function fix_row(S, row)
  for _, col in ipairs(S.fix) do
    local v = row[col.name]
    if col.kind == "boolean" then
      if v == 0 then row[col.name] = false elseif v == 1 then row[col.name] = true end
    elseif type(v) == "string" then
      local ok, d = pcall(json.decode, v)
      if ok and d ~= nil then row[col.name] = d end
    end
  end
  return row
end

local function fix_rows(S, rows)
  if #S.fix > 0 then
    for i = 1, #rows do fix_row(S, rows[i]) end
  end
  return rows
end

-- The selected fields of a row (and its id); the row itself when fields is nil.
local function pick(row, fields, idf)
  if fields == nil then return row end
  local r = {}
  for _, f in ipairs(fields) do r[f] = row[f] end
  r[idf] = row[idf]
  return r
end

---------------------------------------------------------------------------
-- Options and checks (fdn.query.adapter: the memory adapter's)
---------------------------------------------------------------------------

local function call_options(self, params) return adapter.call_options(self.options, params) end
local function not_found(id) adapter.not_found(id, is_null) end

local function check_data(data, method)
  adapter.check_data(data, method, null)
  if is_list(data) then adapter.check_data(nil, method) end
end

local function args_of(first, rest)
  local a = { n = rest.n + 1, first }
  for i = 1, rest.n do a[i + 1] = rest[i] end
  return a
end

local function plan(self, S, params)
  local o = self.options
  return sq.plan(S, params.query, { dialect = o.db.dialect, id = o.id, paginate = (call_options(self, params)) })
end

-- The plan for one record: params.query ANDed with the id; nil when no record can have it.
local function one_plan(self, S, id, params)
  local p = plan(self, S, params)
  local cond, v = sq.id_condition(S, self.options.id, id)
  if not cond then return nil end
  p.where, p.args = sq.and_where(cond, p.where), args_of(v, p.args)
  p.limit, p.skip, p.order = nil, nil, nil -- one record at most
  return p
end

---------------------------------------------------------------------------
-- The service
---------------------------------------------------------------------------

local Service = {}

local function query(db, sql, args)
  return db:query(sql, unpack(args, 1, args.n))
end

-- A SELECT of find or get (a pure read this module built): through db:read when the database
-- has it (PostgreSQL: identical reads waiting for a connection share one execution).
local function read(db, sql, args)
  if db.read then return (db:read { { sql, args } }) end
  return query(db, sql, args)
end

function Service.find(self, params)
  params = params or EMPTY
  local o = self.options
  local db, tbl = o.db, o.table
  local paginate = call_options(self, params)
  local S, p = compiled(self, function(S) return S, plan(self, S, params) end)
  local skip = p.skip or 0
  local rows, counted
  if paginate and p.limit and p.limit > 0 and skip == 0 and db.batch then
    -- the page and its count in one round trip (a first page that is short needs no count, but
    -- then the count scans no more than the page did)
    local args = p.args
    local list = { { sq.select_sql(tbl, p, db.dialect), args }, { sq.count_sql(tbl, p.where), args } }
    rows, counted = (db.read or db.batch)(db, list)
    rows = fix_rows(S, rows)
  else
    rows = p.limit == 0 and new_list() or fix_rows(S, read(db, sq.select_sql(tbl, p, db.dialect), p.args))
  end
  if not paginate then return rows end
  local total
  if counted then
    total = #rows < p.limit and #rows or counted[1].total
  elseif p.limit and #rows < p.limit and (#rows > 0 or skip == 0) then
    total = skip + #rows -- the last page: no need to count
  else
    total = read(db, sq.count_sql(tbl, p.where), p.args)[1].total
  end
  return { total = tointeger(total) or total, limit = p.limit, skip = skip, data = rows }
end

function Service.get(self, id, params)
  params = params or EMPTY
  local o = self.options
  local S, p = compiled(self, function(S) return S, one_plan(self, S, id, params) end)
  if not p then not_found(id) end
  local rows = read(o.db, sq.select_sql(o.table, p, o.db.dialect), p.args)
  if #rows == 0 then not_found(id) end
  return fix_row(S, rows[1])
end

function Service.create(self, data, params)
  params = params or EMPTY
  local o = self.options
  local q = params.query
  local many = is_list(data)
  if many then
    local _, multi = call_options(self, params)
    if not adapter.allows_multi(multi, "create") then error(MethodNotAllowed("Can not create multiple entries"), 0) end
    for i = 1, #data do check_data(data[i], "create") end -- all or nothing
  else
    check_data(data, "create")
  end
  local list = many and data or { data }
  local S, fields, stmts = compiled(self, function(S)
    local fields = type(q) == "table" and fq.parse_select(q["$select"]) or nil
    for _, f in ipairs(fields or {}) do sq.column(S, f) end
    local stmts = {}
    for i, d in ipairs(list) do
      local sql, args = sq.insert_sql(S, o.table, d, o.id)
      stmts[i] = { sql, args }
    end
    return S, fields, stmts
  end)
  local function run(db)
    local out = new_list()
    for i, st in ipairs(stmts) do out[i] = pick(fix_row(S, query(db, st[1], st[2])[1]), fields, o.id) end
    return out
  end
  if not many then return run(o.db)[1] end
  if #stmts == 0 then return new_list() end
  return o.db:transaction(run)
end

-- update (replace = true) and patch of one record.
local function write_one(self, id, data, params, replace)
  local o = self.options
  local S, p, sql, args = compiled(self, function(S)
    local p = one_plan(self, S, id, params)
    if not p then return S end
    return S, p, sq.update_sql(S, o.table, data, o.id, replace, p.where, p.args)
  end)
  if not p then not_found(id) end
  local rows
  if sql then
    rows = query(o.db, sql, args)
  else -- nothing to set: the record as it is
    p.select = "*"
    rows = query(o.db, sq.select_sql(o.table, p, o.db.dialect), p.args)
  end
  if #rows == 0 then not_found(id) end
  return pick(fix_row(S, rows[1]), p.fields, o.id)
end

function Service.update(self, id, data, params)
  params = params or EMPTY
  if is_null(id) or is_list(data) then
    error(BadRequest("You can not replace multiple instances. Did you mean 'patch'?"), 0)
  end
  check_data(data, "update")
  return write_one(self, id, data, params, true)
end

-- Multi patch / remove: the matching records ($skip honoured, $limit ignored, as the memory
-- adapter does) changed in one transaction, answered in the query's order.
local function write_many(self, params, make)
  local o = self.options
  local tbl, dialect = o.table, o.db.dialect
  local S, p, sql, args = compiled(self, function(S)
    local p = plan(self, S, params)
    local idq = sq.quote(o.id)
    if p.skip and p.skip > 0 then
      local sub = { select = idq, where = p.where, order = p.order, skip = p.skip }
      p.where = idq .. " IN (" .. sq.select_sql(tbl, sub, dialect) .. ")"
    end
    local sql, args = make(S, p)
    return S, p, sql, args
  end)
  return o.db:transaction(function(tx)
    local order = query(tx, "SELECT " .. (sql and sq.quote(o.id) or "*") .. " FROM " .. sq.quote(tbl)
      .. (p.where and (" WHERE " .. p.where) or "") .. " " .. p.order, p.args)
    local rows = sql and query(tx, sql, args) or order
    local pos = {}
    for i, r in ipairs(order) do pos[r[o.id]] = i end
    local byid = {}
    for _, r in ipairs(rows) do byid[r[o.id]] = r end
    local out = new_list()
    for _, r in ipairs(order) do
      local row = byid[r[o.id]]
      if row then out[#out + 1] = pick(fix_row(S, row), p.fields, o.id); byid[r[o.id]] = nil end
    end
    for _, r in ipairs(rows) do -- written, though not seen by the first read (another writer)
      if byid[r[o.id]] and not pos[r[o.id]] then out[#out + 1] = pick(fix_row(S, r), p.fields, o.id) end
    end
    return out
  end)
end

function Service.patch(self, id, data, params)
  params = params or EMPTY
  local o = self.options
  adapter.check_multi(o, params, id, "patch", is_null)
  check_data(data, "patch")
  if not is_null(id) then return write_one(self, id, data, params, false) end
  return write_many(self, params, function(S, p)
    return sq.update_sql(S, o.table, data, o.id, false, p.where, p.args)
  end)
end

function Service.remove(self, id, params)
  params = params or EMPTY
  local o = self.options
  adapter.check_multi(o, params, id, "remove", is_null)
  if is_null(id) then
    return write_many(self, params, function(_, p) return sq.delete_sql(o.table, p.where), p.args end)
  end
  local S, p = compiled(self, function(S) return S, one_plan(self, S, id, params) end)
  if not p then not_found(id) end
  local rows = query(o.db, sq.delete_sql(o.table, p.where), p.args)
  if #rows == 0 then not_found(id) end
  return pick(fix_row(S, rows[1]), p.fields, o.id)
end

-- new { db, table, id = "id", paginate = false | {default=, max=}, multi = false | true |
-- {"create", "patch", "remove"} } -> a service table.
function M.new(options)
  if type(options) ~= "table" or type(options.db) ~= "table" then
    error("sql.service: options.db (from sql.connect) is required", 2)
  end
  if type(options.table) ~= "string" or options.table == "" then
    error("sql.service: options.table (a table name) is required", 2)
  end
  local opts = {}
  for k, v in pairs(options) do opts[k] = v end
  if opts.id == nil then opts.id = "id" end
  if opts.paginate == nil then opts.paginate = false end
  if opts.multi == nil then opts.multi = false end
  local svc = { options = opts, id = opts.id }
  for name, fn in pairs(Service) do svc[name] = fn end
  return svc
end

return M
