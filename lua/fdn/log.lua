-- log.lua: fdn.log.debug/info/warn/error(...): one line per call through the
-- node's log (level filtering happens before any formatting). A last argument that is a
-- plain table (no metatable) is the line's fields: "fields" of a JSON line (--log-format
-- json), key=value pairs after the text otherwise. A line made while serving a call has its
-- trace id as the field `trace` (fdn.trace).
local core = require "fdn.core.node"
local json = require "fdn.json"
local trace = require("fdn.trace").get

local M = {}

local select, tostring, concat, type, pairs, getmetatable, sort =
  select, tostring, table.concat, type, pairs, getmetatable, table.sort
local clog, level, as_json = core.log, core.log_level, core.log_json
local encode = json.encode

local function text_of(fields)
  local keys = {}
  for k in pairs(fields) do keys[#keys + 1] = tostring(k) end
  sort(keys)
  for i, k in ipairs(keys) do
    local v = fields[k]
    keys[i] = k .. "=" .. (type(v) == "table" and (encode(v) or "?") or tostring(v))
  end
  return concat(keys, " ")
end

local function emit(lvl, ...)
  if lvl < level() then return end
  local n = select("#", ...)
  local fields = n > 0 and select(n, ...)
  if type(fields) == "table" and getmetatable(fields) == nil then
    n = n - 1
  else
    fields = nil
  end
  local tr = trace()
  if tr then
    local f = { trace = tr.id }
    if fields then for k, v in pairs(fields) do if k ~= "trace" then f[k] = v end end end
    fields = f
  end
  local parts = {}
  for i = 1, n do parts[i] = tostring((select(i, ...))) end
  local msg = concat(parts, " ")
  if not fields then return clog(lvl, msg) end
  if as_json() then return clog(lvl, msg, encode(fields) or encode { fields = "not JSON" }) end
  local t = text_of(fields)
  clog(lvl, t ~= "" and msg ~= "" and msg .. " " .. t or msg .. t)
end

function M.debug(...) emit(0, ...) end
function M.info(...) emit(1, ...) end
function M.warn(...) emit(2, ...) end
function M.error(...) emit(3, ...) end

return M
