-- loader.lua: loads service scripts (text only, each in an environment of its
-- own) and lets `require` find modules next to the file that requires them.
local M = {}

local type, error, tostring, loadfile, setmetatable = type, error, tostring, loadfile, setmetatable
local getinfo = debug.getinfo

M.files = {} -- every Lua file loaded through the loader (scripts and their modules)

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

-- package.searchers entry: look for the module beside the file calling require.
local function search_beside_caller(name)
  local info = getinfo(3, "S")
  local src = info and info.source
  if type(src) ~= "string" or src:sub(1, 1) ~= "@" then return nil end
  local dir = dirname(src:sub(2))
  local rel = name:gsub("%.", "/")
  local tried = {}
  for _, pattern in ipairs { "%s/%s.lua", "%s/%s/init.lua" } do
    local path = pattern:format(dir, rel)
    if readable(path) then
      local chunk, err = loadfile(path, "t")
      if not chunk then error(err, 0) end
      M.files[#M.files + 1] = path
      return chunk, path
    end
    tried[#tried + 1] = "\n\tno file '" .. path .. "'"
  end
  return table.concat(tried)
end

function M.install()
  table.insert(package.searchers, 2, search_beside_caller)
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
  local chunk, err = loadfile(path, "t", env)
  if not chunk then return nil, one_line(err) end
  M.files[#M.files + 1] = path
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
