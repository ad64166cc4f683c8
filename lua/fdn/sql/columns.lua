-- columns.lua (require "fdn.sql.columns"): a table's columns for fdn.sql.query: quoting,
-- each column's kind (how its values compare), the schema of db:columns(table), and a value
-- converted to a column's type (a REST string, as the memory adapter compares it). Pure.
local errors = require "fdn.errors"
local fq = require "fdn.query"

local M = {}

local type, ipairs, tostring, tonumber, rawequal, error = type, ipairs, tostring, tonumber, rawequal, error
local tointeger, mtype, huge = math.tointeger, math.type, math.huge
local sfind, sgsub, slower = string.find, string.gsub, string.lower

local BadRequest = errors.BadRequest
local null = fq.null

local function is_null(v) return v == nil or (null ~= nil and rawequal(v, null)) end
M.is_null = is_null

-- quote(name): an identifier as "name" ('"' doubled).
function M.quote(name)
  return '"' .. sgsub(name, '"', '""') .. '"'
end

-- kind(declared type): how values compare with a column: "integer", "real", "boolean",
-- "text", "json" or "other" (SQLite's affinity rules, and PostgreSQL's type names).
function M.kind(decl)
  local d = slower(type(decl) == "string" and decl or "")
  if sfind(d, "bool", 1, true) then return "boolean" end
  if sfind(d, "int", 1, true) or d == "serial" or d == "bigserial" then return "integer" end
  if sfind(d, "json", 1, true) then return "json" end
  if sfind(d, "char", 1, true) or sfind(d, "clob", 1, true) or sfind(d, "text", 1, true) then
    return "text"
  end
  if sfind(d, "real", 1, true) or sfind(d, "floa", 1, true) or sfind(d, "doub", 1, true)
      or sfind(d, "numeric", 1, true) or sfind(d, "decimal", 1, true) then
    return "real"
  end
  return "other"
end

-- schema(columns): db:columns(table)'s list as { by = { name = col }, list = cols };
-- each col gets its kind.
function M.schema(columns)
  local by, list = {}, {}
  for i, c in ipairs(columns or {}) do
    local col = { name = c.name, type = c.type, kind = M.kind(c.type), pk = c.pk }
    by[c.name], list[i] = col, col
  end
  return { by = by, list = list }
end

-- column(S, name): the column, or BadRequest "Unknown column" (the error carries
-- .unknown_column, so that the service may read the columns again once).
local function column(S, name)
  local col = type(name) == "string" and S.by[name] or nil
  if col then return col end
  local e = BadRequest("Unknown column '" .. tostring(name) .. "'")
  e.unknown_column = tostring(name)
  error(e, 0)
end
M.column = column

local function bad_value(col)
  error(BadRequest("Invalid value for column '" .. col.name .. "'"), 0)
end
M.bad_value = bad_value

local function num_text(v)
  if mtype(v) == "float" and tointeger(v) then return tostring(tointeger(v)) end
  return tostring(v)
end
M.num_text = num_text

-- value(col, v) -> the value to bind, or NULL (nil) for the null cases: a value from
-- REST (a string) converted to the column's type as the memory adapter compares it.
-- A value that cannot be converted, or a table, is BadRequest.
local function value(col, v)
  if is_null(v) then return nil end
  local t, k = type(v), col.kind
  if t == "table" then bad_value(col) end
  if k == "integer" or k == "real" then
    if t == "string" then
      if v == "null" then return nil end
      v = tonumber(v)
      if v == nil then bad_value(col) end
    elseif t ~= "number" then
      bad_value(col)
    end
    if v ~= v or v == huge or v == -huge then bad_value(col) end
    return tointeger(v) or v
  elseif k == "boolean" then
    if t == "boolean" then return v end
    if v == "true" or v == 1 then return true end
    if v == "false" or v == 0 then return false end
    if v == "null" then return nil end
    bad_value(col)
  elseif k == "text" then
    if t == "number" then return num_text(v) end
    if t == "boolean" then return tostring(v) end
    return v
  end
  return v
end
M.value = value

return M
