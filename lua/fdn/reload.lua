-- reload.lua: the scripts a node serves, loaded at start and reloaded in place
-- (--watch, SIGHUP). A reload re-runs every script's configure function into
-- fresh registries of the same app, takes state over with migrate(old), runs
-- setup, and swaps in one step; if anything fails the running version stays.
local loader = require "fdn.loader"
local hooks = require "fdn.hooks"
local sched = require "fdn.sched"
local log = require "fdn.log"

local M = {}

local type, pairs, ipairs, pcall, tostring = type, pairs, ipairs, pcall, tostring

-- Every file a script depends on (itself included).
local function files_of(list)
  local out = {}
  for _, e in ipairs(list) do
    out[e.path] = true
    for f in pairs(e.deps) do out[f] = true end
  end
  return out
end

-- Loads a script file; returns its entry or nil and one line.
local function load_entry(path)
  local deps = {}
  local ok, configure, err = pcall(loader.track, deps, loader.load, path)
  if not ok then return nil, loader.one_line(configure) end
  if not configure then return nil, err end
  return { path = path, configure = configure, deps = deps }
end

-- reload.new(node) makes one node's instance (see node.lua): its state is locals of new.
function M.new(node)
  local app, now = node.app, node.now
  local R = { outcomes = { ok = 0, failed = 0 } } -- outcomes: reloads so far (the admin port's metrics)
  local entries = {}     -- { path, configure, deps = { [file] = true } } in command-line order
  local busy, queued = false, nil -- queued: nil, true (all) or a set of paths
  local watcher = nil    -- the node's watch binding once --watch is on

  local function watch_all()
    if not watcher then return end
    watcher.clear()
    for f in pairs(files_of(entries)) do watcher.add(f) end
  end

  local function configure(e)
    local ok, done, err = pcall(loader.track, e.deps, loader.configure, e.path, e.configure, app)
    if not ok then return nil, loader.one_line(done) end
    return done, err
  end

  -- Start: load and configure every script, then set the services up.
  function R.boot(scripts)
    for _, path in ipairs(scripts) do
      local e, err = load_entry(path)
      if not e then return nil, err end
      local ok, cerr = configure(e)
      if not ok then return nil, cerr end
      entries[#entries + 1] = e
    end
    return true
  end

  -- Channels and their membership stay on the app; app listeners (connection, disconnect)
  -- and app publishers are the scripts', staged with the rest. Until the swap the running
  -- version's keep serving connections and events (app.__serving, read by channels.lua).
  local function stage()
    local saved = { services = app.services, order = app.order, hooks = app.__hooks,
      listeners = rawget(app, "__listeners"), settings = app.settings, changed = app.__services_changed,
      publishers = app.__publishers, auth = app.__authentication, auths = app.__authentications }
    local settings = {}
    for k, v in pairs(saved.settings) do settings[k] = v end
    app.services, app.order, app.__hooks, app.settings = {}, {}, hooks.new_store(), settings
    rawset(app, "__listeners", false)
    app.__previous, app.__services_changed, app.__setup_done = saved.services, nil, false
    app.__publishers, app.__serving = {}, { listeners = saved.listeners, publishers = saved.publishers }
    return saved
  end

  local function restore(saved)
    app.services, app.order, app.__hooks, app.settings = saved.services, saved.order, saved.hooks, saved.settings
    hooks.changed() -- chains compiled while the staged store was in place are stale
    rawset(app, "__listeners", saved.listeners)
    app.__previous, app.__services_changed, app.__setup_done = nil, saved.changed, true
    app.__publishers, app.__serving = saved.publishers, nil
    app.__authentication, app.__authentications = saved.auth, saved.auths -- (fdn.authentication)
  end

  local function attempt(changed)
    -- scripts whose file or any file they required changed load afresh; the
    -- others run their configure function again
    local fresh, n, evicted = {}, 0, {}
    for _, e in ipairs(entries) do
      local hit = changed == nil or changed[e.path]
      for f in pairs(e.deps) do hit = hit or changed[f] end
      if hit then
        fresh[e.path], n = true, n + 1
        for f in pairs(e.deps) do
          evicted[f] = loader.by_path[f]
          loader.by_path[f] = nil
        end
      end
    end
    if n == 0 then return true, 0 end
    local saved = stage()
    local function fail(line)
      restore(saved)
      for f, v in pairs(evicted) do loader.by_path[f] = v end
      return nil, line
    end
    local next_entries = {}
    for _, e in ipairs(entries) do
      local entry = e
      if fresh[e.path] then
        local err
        entry, err = load_entry(e.path)
        if not entry then return fail(err) end
      end
      local ok, cerr = configure(entry)
      if not ok then return fail(cerr) end
      next_entries[#next_entries + 1] = entry
    end
    -- state: a service takes over from the version it replaces
    for path, svc in pairs(app.services) do
      local old = saved.services[path]
      local raw = svc.__raw
      if old and type(raw.migrate) == "function" then
        local ok, err = pcall(raw.migrate, raw, old.__raw)
        if not ok then return fail("migrate of '" .. path .. "' failed: " .. loader.one_line(err)) end
      end
    end
    for _, path in ipairs(app.order) do
      local raw = app.services[path].__raw
      if type(raw.setup) == "function" then
        local ok, err = pcall(raw.setup, raw, app, path)
        if not ok then return fail("setup of '" .. path .. "' failed: " .. loader.one_line(err)) end
      end
    end
    -- the swap: from here on new calls get the new services; calls running on
    -- the old ones finish there
    app.__previous, app.__setup_done, app.__services_changed = nil, true, saved.changed
    app.__serving = nil
    entries = next_entries
    for path, old in pairs(saved.services) do
      if app.services[path] ~= old and type(old.__raw.teardown) == "function" then
        sched.spawn(function()
          local ok, err = pcall(old.__raw.teardown, old.__raw)
          if not ok then log.error("teardown of the previous '" .. path .. "' failed: " .. tostring(err)) end
        end)
      end
    end
    if app.__services_changed then app.__services_changed() end
    watch_all()
    return true, n
  end

  -- Reloads the scripts touched by `changed` (a set of paths), or all of them
  -- (nil). One reload at a time: changes that come meanwhile make one more.
  function R.reload(changed)
    if busy then
      if changed == nil or queued == true then
        queued = true
      else
        queued = queued or {}
        for f in pairs(changed) do queued[f] = true end
      end
      return
    end
    busy = true
    local t0 = now()
    local ok, n = attempt(changed)
    busy = false
    R.outcomes[ok and "ok" or "failed"] = R.outcomes[ok and "ok" or "failed"] + 1 -- (fdn_reloads_total)
    if not ok then
      log.error("reload failed, still serving the previous version: " .. tostring(n))
    elseif n > 0 then
      log.info(("reloaded %d script%s in %.1f ms; serving %s"):format(n, n == 1 and "" or "s", now() - t0,
        table.concat(app.order, ", ")))
    end
    if queued ~= nil then
      local q = queued
      queued = nil
      return R.reload(q ~= true and q or nil)
    end
  end

  -- --watch: reload when a script or a file it required changes on disk.
  function R.watch()
    watcher = node.watch
    node.handle("watch", function(paths)
      local changed = {}
      for _, p in ipairs(paths) do changed[p] = true end
      sched.spawn(R.reload, changed)
    end)
    watch_all()
  end

  return R
end

return M
