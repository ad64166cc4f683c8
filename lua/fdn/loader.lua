-- loader.lua: loads service scripts (text only, each in an environment of its
-- own) and lets `require` find modules next to the file that requires them.
local M = {}

local type, error, tostring, load, setmetatable = type, error, tostring, load, setmetatable
local getinfo = debug.getinfo


local function dirname(path)
  return path:match("^(.*)/[^/]*$") or "."
end

local function readable(path)
  local f = io.open(path, "r")
  if f then
    f:close()
    return true
  end
  return false
end

-- `require` looks first beside the file that calls it, and caches what it
-- loads there by the file's path: two scripts with a helpers.lua each get
-- their own. Other names go to the standard require (package.path).
local std_require = require
local by_path = {}
M.by_path = by_path
local collecting = nil -- the set of files the script being loaded depends on

-- Scripts and the modules beside them are named relative to the script's directory
-- ("todos.lua:14:", "lib/util.lua:3:"), not by the path the node was started with: log lines
-- stay short and say nothing of where the server keeps its files. dir_of maps such a name
-- (as Lua's source, with its "@") to the directory it was loaded from; a name already taken
-- by a file elsewhere falls back to the file's path.
local dir_of = {}
local base_of = {} -- a directory -> the directory of the script its files are named from

local function chunk_name(path, base)
  local name = path
  if base and path:sub(1, #base + 1) == base .. "/" then name = path:sub(#base + 2) end
  local src = "@" .. name
  local dir = dirname(path)
  if dir_of[src] ~= nil and dir_of[src] ~= dir then src = "@" .. path end
  dir_of[src] = dir
  return src
end

-- loadfile(path, "t", env), with the chunk named relative to base (its script's directory).
local function load_named(path, base, env)
  local f, err = io.open(path, "r")
  if not f then return nil, err end
  local text = f:read("a")
  f:close()
  if env == nil then return load(text, chunk_name(path, base), "t") end -- (an explicit nil env is no _ENV)
  return load(text, chunk_name(path, base), "t", env)
end

local function caller_dir(level)
  local info = getinfo(level + 1, "S")
  local src = info and info.source
  if type(src) ~= "string" or src:sub(1, 1) ~= "@" then return nil end
  return dir_of[src] or dirname(src:sub(2))
end

local function beside(dir, name)
  local rel = name:gsub("%.", "/")
  for _, pattern in ipairs { "%s/%s.lua", "%s/%s/init.lua" } do
    local path = pattern:format(dir, rel)
    if readable(path) then return path end
  end
end

local function require_beside(name)
  if type(name) ~= "string" then return std_require(name) end
  local dir = caller_dir(2)
  local path = dir and package.loaded[name] == nil and beside(dir, name)
  if not path then return std_require(name) end
  if collecting then collecting[path] = true end
  local cached = by_path[path]
  if cached ~= nil then return cached, path end
  local base = base_of[dir] or dir
  local chunk, err = load_named(path, base)
  if not chunk then error(err, 2) end
  base_of[dirname(path)] = base_of[dirname(path)] or base
  local result = chunk(name, path)
  if result == nil then result = true end
  by_path[path] = result
  return result, path
end

function M.install()
  _G.require = require_beside
end

-- Runs fn(...) while recording in `deps` every file required beside a script.
function M.track(deps, fn, ...)
  local outer = collecting
  collecting = deps
  local results = table.pack(pcall(fn, ...))
  collecting = outer
  if not results[1] then error(results[2], 0) end
  return table.unpack(results, 2, results.n)
end

-- The first line of an error, as one clear line (file:line: message).
local function one_line(err)
  local s = tostring(err)
  return (s:match("^[^\n]*"))
end

-- Loads a script and returns its configure function, or nil and one line.
function M.load(path)
  if not readable(path) then return nil, path .. ": cannot open script (no such file or not readable)" end
  local env = setmetatable({}, { __index = _G })
  local dir = dirname(path)
  base_of[dir] = base_of[dir] or dir
  local chunk, err = load_named(path, dir, env)
  if not chunk then return nil, one_line(err) end
  local ok, configure = xpcall(chunk, debug.traceback)
  if not ok then return nil, one_line(configure) end
  if type(configure) ~= "function" then
    return nil, path .. ": the script must return a configure function, function(app) ... end"
  end
  return configure
end

-- Runs a configure function against an app; returns true or nil and one line.
function M.configure(path, configure, app)
  local ok, err = xpcall(configure, debug.traceback, app)
  if not ok then
    local line = one_line(err)
    if not line:find(path, 1, true) then line = path .. ": " .. line end
    return nil, line
  end
  return true
end

M.one_line = one_line

return M
