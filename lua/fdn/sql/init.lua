-- sql/init.lua (fdn.sql): connect(url) opens a database by its URL (sqlite:PATH,
-- sqlite::memory:, postgres:// or postgresql://) and returns the driver's db object;
-- service(opts) makes a Feathers service on a table (fdn.sql.service).
local M = {}

local type, error, require, pcall = type, error, require, pcall

local FORMS = '"sqlite:PATH" (relative to the current directory), "sqlite::memory:", '
  .. '"postgresql://user:pass@host:port/db" or "postgres://..."'

local function driver(name)
  local ok, mod = pcall(require, name)
  if not ok then
    if type(mod) == "string" and mod:find("module '" .. name .. "' not found", 1, true) then
      error("fdn.sql: the driver " .. name .. " is not installed", 3)
    end
    error(mod, 0)
  end
  return mod
end

function M.connect(url)
  if type(url) ~= "string" then
    error("fdn.sql.connect: the URL must be a string: " .. FORMS, 2)
  end
  local path = url:match("^sqlite:(.*)$")
  if path then
    if path == "" then error("fdn.sql.connect: no path in " .. url .. ": use " .. FORMS, 2) end
    if path:find("\0", 1, true) then error("fdn.sql.connect: the path holds a NUL byte", 2) end
    -- "sqlite://x" would be opened as a file named "//x": refuse it rather than guess
    if path:find("^//") then
      error("fdn.sql.connect: " .. url .. " is not a form this takes; use " .. FORMS, 2)
    end
    return driver("fdn.sql.sqlite").open(path)
  end
  if url:find("^postgres://") or url:find("^postgresql://") then
    return driver("fdn.sql.postgres").connect(url)
  end
  error("fdn.sql.connect: unknown database URL " .. url .. ": use " .. FORMS, 2)
end

M.service = function(...) return require("fdn.sql.service").new(...) end

return M
