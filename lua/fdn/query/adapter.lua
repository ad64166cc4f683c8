-- adapter.lua (require "fdn.query.adapter"): what every service adapter (fdn.memory,
-- fdn.sql.service) shares with adapter-commons: the options of one call, the multi option,
-- and the errors for a missing record and for data that is no object.
local errors = require "fdn.errors"

local M = {}

local type, ipairs, tostring, rawequal, error = type, ipairs, tostring, rawequal, error
local tointeger, mtype, format = math.tointeger, math.type, string.format

-- call_options(options, params) -> paginate, multi: params.paginate / params.adapter
-- override the adapter's options for one call (adapter-commons getOptions).
function M.call_options(options, params)
  local paginate = params.paginate
  if paginate == nil then paginate = options.paginate end
  local multi = options.multi
  local ad = params.adapter
  if type(ad) == "table" then
    if ad.paginate ~= nil then paginate = ad.paginate end
    if ad.multi ~= nil then multi = ad.multi end
  end
  return paginate, multi
end

-- allows_multi(multi, method): the multi option (true, or a list of methods) allows it.
function M.allows_multi(multi, method)
  if multi == true then return true end
  if type(multi) == "table" then
    for _, m in ipairs(multi) do
      if m == method then return true end
    end
  end
  return false
end

-- check_multi(options, params, id, method): a call with a null id on a method that the
-- multi option does not allow is MethodNotAllowed ("patch" / "remove").
function M.check_multi(options, params, id, method, is_null)
  if not is_null(id) then return end
  local _, multi = M.call_options(options, params)
  if not M.allows_multi(multi, method) then
    error(errors.MethodNotAllowed("Can not " .. method .. " multiple entries"), 0)
  end
end

-- not_found(id, is_null): raises NotFound "No record found for id '<id>'".
function M.not_found(id, is_null)
  if mtype(id) == "float" and tointeger(id) then id = tointeger(id) end
  error(errors.NotFound(format("No record found for id '%s'", is_null(id) and "null" or tostring(id))), 0)
end

-- check_data(data, method, null): data must be an object (a table, not null).
function M.check_data(data, method, null)
  if type(data) ~= "table" or (null ~= nil and rawequal(data, null)) then
    error(errors.BadRequest(format("A data object must be provided to the '%s' method", method)), 0)
  end
end

return M
