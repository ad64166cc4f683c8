-- memory.lua (require "fdn.memory"): the in-memory service adapter, with the
-- behaviour and error messages of @feathersjs/memory v5; the query language
-- (fdn.query) is @feathersjs/adapter-commons v5's. Deviations are noted where they happen.
local errors = require "fdn.errors"
local query = require "fdn.query"
local adapter = require "fdn.query.adapter"

local M = {}

local type, pairs, ipairs, tostring, setmetatable, rawequal, error =
  type, pairs, ipairs, tostring, setmetatable, rawequal, error
local huge, min = math.huge, math.min
local sort = table.sort

local BadRequest, MethodNotAllowed = errors.BadRequest, errors.MethodNotAllowed

-- Lists and null are fdn.json's (inside the runtime; plain lua5.4 runs without
-- it). A test may load this file afresh with a stand-in fdn.json: the query
-- module is then bound to the stand-in too.
local okjson, json = pcall(require, "fdn.json")
if okjson and type(json) == "table"
    and not (rawequal(json.null, query.null) and rawequal(json.array_mt, query.array_mt)) then
  query = query.new(json)
end
local null = query.null
local new_list, is_null, is_list, deep_copy, normkey =
  query.new_list, query.is_null, query.is_list, query.deep_copy, query.normkey
local select_copy = query.select

local EMPTY = setmetatable({}, { __newindex = function() error("read-only", 2) end })

---------------------------------------------------------------------------
-- Ids and the store's order
--
-- A JS object's keys are strings: 7 and "7" name one record. Here the store is
-- keyed by normalized ids: an integer, or a string that is a canonical integer
-- numeral ("7", "-3", not "07"), becomes that integer; a float with an integral
-- value becomes an integer; anything else is kept as is. A record keeps its id
-- field exactly as it was given. The records are kept in Object.values order by
-- memory_store.lua (require "fdn.memory.store").
---------------------------------------------------------------------------

local ordered = require "fdn.memory.store"
local new_state, s_insert, s_delete, s_collect = ordered.new, ordered.insert, ordered.delete, ordered.collect

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
  local st = self.store
  if st ~= s.store then
    local ns = new_state(s.uid)
    s_load(ns, self.options.id, st)
    self._s, self.store = ns, ns.store
    s = ns
  end
  return s
end

---------------------------------------------------------------------------
-- The service
---------------------------------------------------------------------------

local Service = {}

-- Everything a call needs from params.query, validated and compiled once:
-- { match = predicate|nil (nil: every record), limit, skip, sort, select }.
local function plan(params, paginate)
  local p, q = query.filter(params.query, paginate)
  local match, all = query.matcher(q)
  if not all then p.match = match end
  return p
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
    query.sort(recs, p.sort)
    return recs, first, min(last, total), total
  end
  local recs, total = s_collect(s, p.match, first, last, early and last or huge)
  return recs, 1, #recs, total
end

local function lookup(s, id, match)
  local rec = s.store[normkey(id)]
  if rec == nil and id == nil then rec = s.store["null"] end
  if rec ~= nil and (match == nil or match(rec)) then return rec end
  adapter.not_found(id, is_null)
end

local function check_data(data, method) adapter.check_data(data, method, null) end
local function call_options(self, params) return adapter.call_options(self.options, params) end

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
  local fields = type(q) == "table" and query.parse_select(q["$select"]) or nil
  if is_list(data) then
    local _, multi = call_options(self, params)
    if not adapter.allows_multi(multi, "create") then
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
  local paginate = call_options(self, params)
  adapter.check_multi(self.options, params, id, "patch", is_null)
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
  local paginate = call_options(self, params)
  adapter.check_multi(self.options, params, id, "remove", is_null)
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
  local os_ = old._s
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

-- Exposed for tests (fdn.query has them all).
M.compare = query.compare
M.normkey = normkey

return M