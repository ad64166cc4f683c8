-- boot.lua: the Lua side's entry. C calls start(mode, args) once and then
-- sends every event to dispatch. Sets up the `fdn` global, loads the scripts,
-- joins the cluster, starts the gateway, and stops the node in order.
local core = require "fdn.core.node"
local sched = require "fdn.sched"
local loader = require "fdn.loader"
local fdn_node = require "fdn.node"

local M = { dispatch = sched.dispatch }

-- Most of what a call allocates (context, params, the decoded body) dies young:
-- generational collection handles that without going over the whole heap, which
-- keeps the slowest calls (p99) about a third faster than incremental mode does.
collectgarbage("generational")

local stderr = io.stderr

local function install_services_searcher(lib_dir)
  local dir = lib_dir .. "/services/"
  for name, file in pairs { ["fdn.memory"] = "memory.lua", ["fdn.memory.store"] = "memory_store.lua" } do
    package.preload[name] = function()
      local chunk = assert(loadfile(dir .. file, "t"))
      return chunk(name)
    end
  end
end

-- Back-pressure for event producers: the bytes queued toward the slowest
-- subscribed node (fdn.backlog; 0 outside a node), and a wait until that is at most
-- `high` (fdn.drain: sleeps 1 ms at a time, at most ms; true when drained).
local function backlog(path)
  local node = fdn.app and fdn.app.__node
  return node and node.serve.backlog(path) or 0
end

local function drain(high, path, ms)
  if type(high) ~= "number" or high < 0 then error("fdn.drain: high must be a number of bytes", 2) end
  local deadline = core.now() + (ms or 10000)
  while backlog(path) > high do
    if core.now() >= deadline then return false end
    sched.sleep(1)
  end
  return true
end

local function make_fdn(info)
  local log = require "fdn.log"
  local fdn = {
    sleep = sched.sleep,
    timer = sched.timer,
    every = sched.every,
    now = core.now,
    backlog = backlog,
    drain = drain,
    log = log,
    node = { id = info.id, name = info.name },
    json = require "fdn.json",
    errors = require "fdn.errors",
    version = info.version,
  }
  _G.fdn = fdn
  package.loaded.fdn = fdn
  return fdn
end

local function fatal(line)
  stderr:write("fdnode: ", line, "\n")
  core.exit(1)
end

-- The settings of the configuration folder (config.lua) into app, before any script runs.
local function configure(app, info, scripts)
  local config = require "fdn.config"
  local done, ok, err = pcall(config.apply, app, config.dir(info.config_dir, scripts[1]))
  if not (done and ok) then fatal(done and err or loader.one_line(ok)) end
  return done and ok
end

local function serve(scripts, fdn, info)
  local app = require("fdn.app").new()
  fdn.app = app
  if not configure(app, info, scripts) then return end
  local admin = { info = info, ready = false } -- --admin's view of the start (fdn.admin)
  if info.admin_port > 0 then
    require("fdn.admin").attach(admin)
    local listening, aerr = core.admin_listen()
    if not listening then return fatal(aerr) end
  end
  local node = fdn_node.new { app = app } -- the real bindings, the command line's options
  admin.node = node
  local reload = node.reload
  local booted, berr = reload.boot(scripts)
  if not booted then return fatal(berr) end
  local ok, err = pcall(app.setup, app)
  if not ok then return fatal("setup failed: " .. loader.one_line(err)) end
  local port, jerr = fdn_node.join(node, info, false)
  if not port then return fatal(jerr) end
  require("fdn.rest").attach(app, { health = node.remote.health })
  if info.http_port > 0 then
    -- Socket.IO on the gateway, unless a script speaks to fdn.core.socket itself (a test's)
    if not sched.handler("socket") then require("fdn.socket").attach(app) end
    local listening, lerr = core.http_listen()
    if not listening then return fatal(lerr) end
    local origins = app:get("origins") -- Feathers' setting; --cors wins over it
    if origins then
      local set, why = pcall(require("fdn.core.http").set_cors, origins)
      if not set then return fatal("app setting 'origins': " .. loader.one_line(why)) end
    end
  end
  admin.ready = true
  local paths = app:paths()
  fdn.log.info(("node %s (%s) serving %s on %s%s"):format(info.name, info.id:sub(1, 8),
    #paths > 0 and table.concat(paths, ", ") or "no services", node.transport and "NATS" or "port " .. port,
    info.http_port > 0 and (" - REST on http://%s:%d"):format(info.http_host, info.http_port) or ""))

  sched.handle("signal", function(sig)
    if sig == "stop" then
      admin.ready = false
      -- The drain: no new request is run (each is refused as "not run", so its caller sends
      -- it elsewhere); every consumer is told we leave and acknowledges it after the last
      -- request it sent us; the calls in flight end and their answers go out before the
      -- links close, and the process exits once they are sent (C bounds it all by
      -- --shutdown-timeout).
      fdn_node.leave(node, function()
        sched.on_drained(function()
          -- teardowns may wait (flush, sleep): they run in a coroutine of their own
          sched.spawn(function()
            app:teardown()
            node.cluster.close_all()
            -- over NATS, the last answers and BYEs are in libnats' buffer: out before we go
            if node.transport then node.transport.flush(1000) end
            core.exit()
          end)
        end)
      end)
    elseif sig == "hup" then
      fdn.log.info("SIGHUP: reloading every script")
      sched.spawn(reload.reload)
    end
  end)
  if info.watch then reload.watch() end
end

local function run(scripts, fdn, info)
  fdn.app = require("fdn.app").new() -- a script's own app, as a service's configure function gets
  if not configure(fdn.app, info, scripts) then return end
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

-- fdnode ls / fdnode call: join as a client (no listener, no beacons).
local function client(mode, args, fdn, info)
  local app = require("fdn.app").new()
  fdn.app = app
  local node = fdn_node.new { app = app }
  local _, err = fdn_node.join(node, info, true)
  if err then return fatal(err) end
  require("fdn.tools")[mode == "call" and "call" or "ls"](node, args, info, mode == "ls-json")
end

-- The coroutine library, on core.resume: the call budget's watchdog must
-- know which coroutine runs, users' own coroutines included.
local function track_coroutines()
  local resume, create, pack, unpack = core.resume, coroutine.create, table.pack, table.unpack
  coroutine.resume = resume -- luacheck: ignore 122 (on purpose: the budget watchdog must see every resume)
  coroutine.wrap = function(f) -- luacheck: ignore 122
    local co = create(f)
    return function(...)
      local r = pack(resume(co, ...))
      if r[1] then return unpack(r, 2, r.n) end
      error(r[2], 0)
    end
  end
end

-- A fault in the start itself (the scripts' own errors are reported above, with their file
-- and line) ends the node with its traceback, rather than leaving it running with nothing
-- started.
local function started(fn, ...)
  local ok, err = xpcall(fn, debug.traceback, ...)
  if not ok then fatal("internal error while starting: " .. tostring(err)) end
end

function M.start(mode, args)
  local info = core.info()
  track_coroutines()
  math.randomseed(tonumber(info.id:sub(1, 8), 16), os.time())
  install_services_searcher(info.lib_dir)
  loader.install()
  local fdn = make_fdn(info)
  sched.handle("signal", function(sig)
    if sig == "stop" then core.exit() end
  end)
  if mode == "run" then
    sched.spawn(started, run, args, fdn, info)
  elseif mode == "serve" then
    sched.spawn(started, serve, args, fdn, info)
  else
    sched.spawn(started, client, mode, args, fdn, info)
  end
  return true
end

return M
