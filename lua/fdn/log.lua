-- log.lua: fdn.log.debug/info/warn/error(...): one line per call through the
-- node's log (level filtering happens before any formatting).
local core = require "fdn.core.node"

local M = {}

local select, tostring, concat = select, tostring, table.concat
local clog, level = core.log, core.log_level

local function emit(lvl, ...)
  if lvl < level() then return end
  local n = select("#", ...)
  local parts = {}
  for i = 1, n do parts[i] = tostring((select(i, ...))) end
  clog(lvl, concat(parts, " "))
end

function M.debug(...) emit(0, ...) end
function M.info(...) emit(1, ...) end
function M.warn(...) emit(2, ...) end
function M.error(...) emit(3, ...) end

return M
