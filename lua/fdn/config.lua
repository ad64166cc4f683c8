-- config.lua: the app's settings from configuration files, as node-config reads them for Feathers:
-- config/default.json, overlaid by config/<FDN_ENV>.json, then the environment variables that
-- config/custom-environment-variables.json maps. Read once at start, before the scripts configure.
local json = require "fdn.json"

local M = {}

local type, pairs, ipairs, next, tostring, tonumber = type, pairs, ipairs, next, tostring, tonumber
local getmetatable = getmetatable
local null, array_mt = json.null, json.array_mt

local function is_object(v)
  return type(v) == "table" and getmetatable(v) ~= array_mt
end

-- v with its objects' null members dropped (nil in Lua: the key is not set); arrays keep null.
local function normalize(v)
  if type(v) ~= "table" then return v end
  local object = is_object(v)
  for k, x in pairs(v) do
    if x == null and object then v[k] = nil else v[k] = normalize(x) end
  end
  return v
end

-- node-config's deep merge: objects merge key by key, anything else (arrays, scalars) replaces;
-- a null removes the key. Returns into.
function M.merge(into, from)
  for k, v in pairs(from) do
    if v == null then
      into[k] = nil
    elseif is_object(v) and is_object(into[k]) then
      M.merge(into[k], v)
    else
      into[k] = normalize(v)
    end
  end
  return into
end

-- "FILE:LINE:COL: what" from the decoder's "what at POS" (POS: 1-based byte offset in text).
local function where(file, text, err)
  local what, pos = err:match("^(.-) at (%d+)$")
  if not pos then return file .. ": " .. err end
  pos = tonumber(pos)
  local line, start = 1, 1
  for i in text:sub(1, pos - 1):gmatch("()\n") do line, start = line + 1, i + 1 end
  return ("%s:%d:%d: %s"):format(file, line, pos - start + 1, what)
end

-- The object in file; nil when the file does not exist; nil and one line when it cannot be
-- read, is not JSON or is not an object at the top.
local function read_object(file)
  local f, oerr, code = io.open(file, "rb")
  if not f then
    if code == 2 then return nil end -- ENOENT: a file that is not there is no settings
    return nil, oerr
  end
  local text, rerr = f:read("a")
  f:close()
  if not text then return nil, file .. ": " .. tostring(rerr) end
  local value, derr = json.decode(text)
  if value == nil then return nil, where(file, text, derr) end
  if not is_object(value) then return nil, file .. ": not a JSON object at the top" end
  return value
end
M.read_object = read_object

-- One environment variable's value in the format __format names, or nil, or nil and why.
local formats = {
  json = function(s) return json.decode(s) end,
  number = function(s)
    local n = tonumber(s)
    if n == nil or n ~= n then return nil, "not a number" end
    return n
  end,
  boolean = function(s)
    if s == "true" then return true elseif s == "false" then return false end
    return nil, "not true or false"
  end,
}

-- The settings the variables of map (custom-environment-variables.json's object) give: a
-- leaf is a variable's name, or {__name = NAME, __format = "json"|"number"|"boolean"}; a
-- variable that is not set or empty leaves the value alone (node-config's rule). Raises one
-- line on a wrong map or a value that does not parse.
local function substitute(map, getenv, path, file)
  local out = {}
  for k, leaf in pairs(map) do
    local at = path == "" and k or path .. "." .. k
    if type(leaf) == "string" then
      local s = getenv(leaf)
      if s and s ~= "" then out[k] = s end
    elseif is_object(leaf) and leaf.__name ~= nil then
      local name, format = leaf.__name, leaf.__format
      if type(name) ~= "string" then error(file .. ": " .. at .. ": __name must be a string", 0) end
      local parse = format == nil and tostring or formats[format]
      if not parse then error(file .. ": " .. at .. ": unknown __format '" .. tostring(format) .. "'", 0) end
      local s = getenv(name)
      if s and s ~= "" then
        local value, err = parse(s)
        if value == nil and err then
          error(("%s: %s: environment variable %s (%s): %s"):format(file, at, name, format, err), 0)
        end
        if value ~= nil and value ~= null then out[k] = normalize(value) end
      end
    elseif is_object(leaf) then
      local sub = substitute(leaf, getenv, at, file)
      if next(sub) ~= nil then out[k] = sub end
    else
      error(file .. ": " .. at .. ": a leaf must be an environment variable's name or {\"__name\": ...}", 0)
    end
  end
  return out
end

function M.substitute(map, getenv, file)
  local ok, out = pcall(substitute, map, getenv, "", file or "custom-environment-variables.json")
  if not ok then return nil, out end
  return out
end

-- The deployment's name: FDN_ENV, else NODE_ENV (node-config's), else none; nil and why when
-- it could name a file outside the folder.
function M.env_name(getenv)
  local name, var = getenv("FDN_ENV"), "FDN_ENV"
  if not name or name == "" then name, var = getenv("NODE_ENV"), "NODE_ENV" end
  if not name or name == "" then return false end
  if not name:match("^[%w_][%w_.-]*$") then
    return nil, var .. ": '" .. name .. "' is not a configuration name (letters, digits, _ . -)"
  end
  return name
end

-- The configuration folder: --config DIR, else config/ beside the first script.
function M.dir(option, script)
  if option then return option end
  local parent = script and script:match("^(.*)/")
  return parent and parent .. "/config" or "config"
end

-- All the settings of folder dir (see the top), or nil and one line (file:line:col: what).
-- getenv: os.getenv, or a test's.
function M.load(dir, getenv)
  getenv = getenv or os.getenv
  local env, eerr = M.env_name(getenv)
  if env == nil then return nil, eerr end
  local settings = {}
  for _, name in ipairs { "default", env or nil } do
    local obj, err = read_object(dir .. "/" .. name .. ".json")
    if err then return nil, err end
    if obj then M.merge(settings, obj) end
  end
  local file = dir .. "/custom-environment-variables.json"
  local map, merr = read_object(file)
  if merr then return nil, merr end
  if map then
    local vars, serr = M.substitute(map, getenv, file)
    if not vars then return nil, serr end
    M.merge(settings, vars)
  end
  return settings
end

-- Loads dir's settings into app (app:set each); true, or nil and one line.
function M.apply(app, dir, getenv)
  local settings, err = M.load(dir, getenv)
  if not settings then return nil, err end
  for k, v in pairs(settings) do app:set(k, v) end
  return true
end

return M
