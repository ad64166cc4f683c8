-- tools.lua: the operator's commands. `fdnode ls` lists the cluster's nodes
-- and what each serves; `fdnode call PATH METHOD [ID] [JSON]` makes one call.
-- Both join the cluster as a client: no listener, no beacons.
local core = require "fdn.core.node"
local json = require "fdn.json"
local errors = require "fdn.errors"
local sched = require "fdn.sched"
local service = require "fdn.service"

local M = {}

local stdout, stderr = io.stdout, io.stderr

-- Discovery has settled once it has had time to hear every node (beacons come every
-- second, gossip with the first link) and every link it started is up or gone.
local HEAR_ALL_MS = 1200

local function connecting(peers)
  for _, p in pairs(peers) do
    if p.state == "connecting" then return true end
  end
  return false
end

-- Waits until done() is true or the node's discovery has settled, bounded by `ms`.
local function settle(node, ms, done)
  local start = core.now()
  while core.now() - start < ms do
    if done and done() then return end
    if core.now() - start >= HEAR_ALL_MS and not connecting(node.cluster.peers) then return end
    sched.sleep(done and 20 or 50)
  end
end

local function sorted_peers(node)
  local list = {}
  for _, p in pairs(node.cluster.peers) do
    if p.state == "up" or p.state == "leaving" then list[#list + 1] = p end
  end
  table.sort(list, function(a, b) return (a.name or a.node) < (b.name or b.node) end)
  return list
end

function M.ls(node, args, info, as_json)
  settle(node, info.timeout)
  local list = sorted_peers(node)
  if as_json then
    local out = json.array()
    for _, p in ipairs(list) do
      local services = json.array()
      for path, d in pairs(p.services) do
        services[#services + 1] = { path = path, methods = json.array(d.methods), events = json.array(d.events) }
      end
      table.sort(services, function(a, b) return a.path < b.path end)
      out[#out + 1] = { id = p.node, name = p.name, host = p.host, port = p.port, services = services }
    end
    stdout:write(json.encode(out), "\n")
    return core.exit(0)
  end
  local rows = { { "NODE", "ID", "ADDRESS", "SERVICES" } }
  for _, p in ipairs(list) do
    local paths = {}
    for path, d in pairs(p.services) do
      paths[#paths + 1] = path .. "(" .. table.concat(d.methods or {}, ",") .. ")"
    end
    table.sort(paths)
    local addr = p.host == "nats" and "nats" or p.host .. ":" .. p.port -- (--nats: no address)
    rows[#rows + 1] = { p.name or "?", p.node:sub(1, 8), addr, table.concat(paths, " ") }
  end
  local widths = {}
  for _, r in ipairs(rows) do
    for i = 1, 3 do widths[i] = math.max(widths[i] or 0, #r[i]) end
  end
  for _, r in ipairs(rows) do
    stdout:write(("%-" .. widths[1] .. "s  %-" .. widths[2] .. "s  %-" .. widths[3] .. "s  %s\n"):format(
      r[1], r[2], r[3], r[4]))
  end
  if #list == 0 then stderr:write("fdnode: no node found (key '", info.key, "')\n") end
  core.exit(0)
end

local function fail(err)
  local e = errors.from(err)
  stderr:write(json.encode(e:toJSON()) or tostring(err), "\n")
  core.exit(1)
end

local function parse_json(s, what)
  local v, err = json.decode(s)
  if v == nil then fail(errors.BadRequest(what .. " is not JSON: " .. tostring(err))) end
  if v == json.null then return nil end
  return v
end

-- The id argument: a number when it looks like one, null for "null".
local function parse_id(s)
  if s == nil or s == "null" then return nil end
  return math.tointeger(tonumber(s)) or s
end

function M.call(node, args, info)
  local app, path, method = node.app, args[1], args[2]
  settle(node, info.timeout, function() return app:service(path) ~= nil end)
  local svc = app:service(path)
  if not svc then
    return fail(errors.NotFound("No node serves '" .. tostring(path) .. "' (key '" .. info.key .. "')"))
  end
  if type(svc[method]) ~= "function" then
    return fail(errors.MethodNotAllowed("Method `" .. tostring(method) .. "` is not supported by '" .. path .. "'"))
  end
  -- the arguments after PATH METHOD, as the method's shape takes them: [ID] then [JSON]
  -- (the data, or for find/get/remove the query)
  local how, id, data, params = service.shape(method), nil, nil, nil
  local rest = 3
  if how == "id" or how == "id_data" then
    id, rest = parse_id(args[3]), 4
  end
  if how == "params" or how == "id" then
    params = { query = args[rest] and parse_json(args[rest], "the query") or {} }
  else
    data = args[rest] and parse_json(args[rest], "the data")
  end
  local ok, result = service.call(svc, method, id, data, params)
  if not ok then return fail(result) end
  stdout:write(result == nil and "null" or json.encode(result), "\n")
  core.exit(0)
end

return M
