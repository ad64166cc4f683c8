-- boot.lua: the Lua side's entry. C calls start(mode, scripts) once and then
-- sends every event to dispatch. Sets up the `fdn` global, loads the scripts,
-- starts the gateway, and stops the node in order.
local core = require "fdn.core.node"
local sched = require "fdn.sched"
local loader = require "fdn.loader"

local M = { dispatch = sched.dispatch }

local stderr = io.stderr

-- fdn.memory is shipped in services/ (the adapters that come with fdnode).
local function install_services_searcher(lib_dir)
  local dir = lib_dir .. "/services/"
  package.preload["fdn.memory"] = function()
    local chunk = assert(loadfile(dir .. "memory.lua", "t"))
    return chunk("fdn.memory")
  end
end

local function make_fdn(info)
  local log = require "fdn.log"
  local fdn = {
    sleep = sched.sleep,
    timer = sched.timer,
    every = sched.every,
    now = core.now,
    log = log,
    node = { id = info.id, name = info.name },
    json = require "fdn.json",
    errors = require "fdn.errors",
    version = "0.1.0",
  }
  _G.fdn = fdn
  package.loaded.fdn = fdn
  return fdn
end

local function fatal(line)
  stderr:write("fdnode: ", line, "\n")
  core.exit(1)
end

local function serve(scripts, fdn, info)
  local app = require("fdn.app").new()
  fdn.app = app
  for _, path in ipairs(scripts) do
    local configure, err = loader.load(path)
    if not configure then return fatal(err) end
    local ok, cerr = loader.configure(path, configure, app)
    if not ok then return fatal(cerr) end
  end
  local ok, err = pcall(app.setup, app)
  if not ok then return fatal("setup failed: " .. loader.one_line(err)) end
  require("fdn.rest").attach(app)
  local listening, lerr = core.http_listen()
  if not listening and info.http_port > 0 then return fatal(lerr) end
  local paths = app:paths()
  fdn.log.info(("node %s (%s) serving %s%s"):format(info.name, info.id:sub(1, 8),
    #paths > 0 and table.concat(paths, ", ") or "no services",
    info.http_port > 0 and (" - REST on http://%s:%d"):format(info.http_host, info.http_port) or ""))

  sched.handle("signal", function(sig)
    if sig == "stop" then
      sched.on_drained(function()
        app:teardown()
        core.exit()
      end)
    elseif sig == "hup" then
      fdn.log.info("SIGHUP: reload is not available yet; ignored")
    end
  end)
end

local function run(scripts)
  local path = scripts[1]
  local chunk, err = loadfile(path, "t")
  if not chunk then return fatal(loader.one_line(err)) end
  local ok, ret = xpcall(chunk, debug.traceback, table.unpack(scripts, 2))
  if not ok then
    stderr:write("fdnode: ", tostring(ret), "\n")
    return core.exit(1)
  end
  core.exit(math.type(ret) == "integer" and ret or 0)
end

function M.start(mode, scripts)
  local info = core.info()
  install_services_searcher(info.lib_dir)
  loader.install()
  local fdn = make_fdn(info)
  sched.handle("signal", function(sig)
    if sig == "stop" then core.exit() end
  end)
  if mode == "run" then
    sched.spawn(run, scripts)
  else
    sched.spawn(serve, scripts, fdn, info)
  end
  return true
end

return M
