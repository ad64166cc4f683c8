-- channel.lua: Feathers' channel objects (join, leave, filter, send, length) and the app's
-- named channels (app:channel(name, ...), app.channels), with which channels each connection
-- is in, so that a disconnect leaves them all at once.
local M = {}

local type, error, pairs, select, next, tostring, getmetatable, setmetatable =
  type, error, pairs, select, next, tostring, getmetatable, setmetatable
local move = table.move

local Channel = {}
local mt = { __name = "channel" }
-- channel.length is live: the number of connections now.
mt.__index = function(self, k)
  if k == "length" then return #self.connections end
  return Channel[k]
end

-- A channel. Its fields: connections (the array), data (what :send gave), __pos (connection ->
-- index; built when first needed), __shared (connections is another channel's array, copied
-- before any change), __reg and __name (a named channel's registry), __children (combined).
local function new_channel(connections, data)
  return setmetatable({ connections = connections, data = data }, mt)
end

local function is_channel(v)
  return getmetatable(v) == mt
end
M.is_channel = is_channel

-- connection -> index, made on first use; a shared array is copied first.
local function positions(self)
  local p = self.__pos
  if p then return p end
  local list = self.connections
  if self.__shared then
    list = move(list, 1, #list, 1, {})
    self.connections, self.__shared = list, nil
  end
  p = {}
  for i = 1, #list do p[list[i]] = i end
  self.__pos = p
  return p
end

-- The registry on the app: named channels, their names in app.channels (name -> index there),
-- and which named channels each connection is in (for disconnect).
function M.registry()
  return { by_name = {}, index = {}, member = setmetatable({}, { __mode = "k" }) }
end

local function add(self, conn)
  local p = positions(self)
  if p[conn] then return end
  local list = self.connections
  local i = #list + 1
  list[i], p[conn] = conn, i
  local reg = self.__reg
  if reg then
    local m = reg.member[conn]
    if not m then
      m = {}
      reg.member[conn] = m
    end
    m[self] = true
  end
end

-- Removes conn (the last connection takes its place: O(1), order not kept).
local function remove(self, conn)
  local p = positions(self)
  local i = p[conn]
  if not i then return end
  local list = self.connections
  local n = #list
  local last = list[n]
  list[i], p[last] = last, i
  list[n], p[conn] = nil, nil
  local reg = self.__reg
  if reg then
    local m = reg.member[conn]
    if m then
      m[self] = nil
      if next(m) == nil then reg.member[conn] = nil end
    end
  end
end

-- A named channel that has become empty leaves the app (Feathers' 'empty' event); one joined
-- again later takes its name back if the name is free.
local function unname(self, app_channels)
  local reg, name = self.__reg, self.__name
  if reg.by_name[name] ~= self then return end
  local i = reg.index[name]
  local n = #app_channels
  local last = app_channels[n]
  app_channels[i], reg.index[last] = last, i
  app_channels[n], reg.index[name] = nil, nil
  reg.by_name[name] = nil
end

local function name_again(self)
  local reg, name = self.__reg, self.__name
  if reg.by_name[name] ~= nil then return end
  local list = self.__app.channels
  reg.by_name[name] = self
  list[#list + 1] = name
  reg.index[name] = #list
end

-- The union of channels' connections, each once (a combined channel's array).
local function union(children)
  local out, seen = {}, {}
  for c = 1, #children do
    local list = children[c].connections
    for i = 1, #list do
      local conn = list[i]
      if not seen[conn] then
        seen[conn] = true
        out[#out + 1] = conn
      end
    end
  end
  return out
end

local function refresh(self)
  self.connections, self.__pos = union(self.__children), nil
  return self
end

-- channel:join(conn, ...): adds each connection not there yet (nil and false are skipped).
function Channel:join(...)
  local children = self.__children
  if children then
    for c = 1, #children do children[c]:join(...) end
    return refresh(self)
  end
  if self.__reg then name_again(self) end
  for i = 1, select("#", ...) do
    local conn = select(i, ...)
    if conn then add(self, conn) end
  end
  return self
end

-- channel:leave(conn or fn, ...): removes each connection given, and every connection for
-- which a function given returns true.
function Channel:leave(...)
  local children = self.__children
  if children then
    for c = 1, #children do children[c]:leave(...) end
    return refresh(self)
  end
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    if type(v) == "function" then
      local list, out = self.connections, {}
      for j = 1, #list do
        if v(list[j]) then out[#out + 1] = list[j] end
      end
      for j = 1, #out do remove(self, out[j]) end
    elseif v then
      remove(self, v)
    end
  end
  if self.__reg and #self.connections == 0 then unname(self, self.__app.channels) end
  return self
end

-- channel:filter(fn): a new channel of the connections fn keeps, with the same data.
function Channel:filter(fn)
  if type(fn) ~= "function" then error("channel:filter: fn must be a function", 2) end
  local list, out = self.connections, {}
  for i = 1, #list do
    if fn(list[i]) then out[#out + 1] = list[i] end
  end
  return new_channel(out, self.data)
end

-- channel:send(data): a channel of the same connections whose event data is `data` (it shares
-- the array until it is changed itself).
function Channel:send(data)
  local c = new_channel(self.connections, data)
  c.__shared = true
  return c
end

-- The channel named name, made on first use.
local function named(app, name)
  local tn = type(name)
  if tn == "number" then
    name = tostring(name)
  elseif tn ~= "string" then
    error("app:channel: a channel name must be a string, not a " .. tn, 3)
  end
  local reg = app.__channels
  local ch = reg.by_name[name]
  if ch then return ch end
  ch = new_channel({}, nil)
  ch.__pos, ch.__reg, ch.__name, ch.__app = {}, reg, name, app
  local list = app.channels
  reg.by_name[name] = ch
  list[#list + 1] = name
  reg.index[name] = #list
  return ch
end

-- Every named channel of a list of names (nested lists too), each once, into out.
local function collect_named(app, names, out, seen, depth)
  if depth > 16 then error("app:channel: lists of names nested too deep", 4) end
  for i = 1, #names do
    local v = names[i]
    if type(v) == "table" then
      collect_named(app, v, out, seen, depth + 1)
    else
      local ch = named(app, v)
      if not seen[ch] then
        seen[ch] = true
        out[#out + 1] = ch
      end
    end
  end
end

-- app:channel(name): the named channel; app:channel(a, b, ...) or app:channel({ names }): a
-- combined channel, the union of those (join and leave go to each of them). An empty list
-- gives an empty combined channel (app:channel(app.channels) on an app without channels).
function M.channel(app, ...)
  local n = select("#", ...)
  if n == 0 then error("app:channel needs at least one channel name", 2) end
  local first = ...
  if n == 1 then
    if type(first) ~= "table" then return named(app, first) end
    if #first == 1 and type(first[1]) ~= "table" then return named(app, first[1]) end
  end
  local children = {}
  collect_named(app, n == 1 and first or { ... }, children, {}, 1)
  local c = new_channel(union(children), nil)
  c.__children = children
  return c
end

-- conn leaves every named channel it is in (a disconnect).
function M.leave_all(app, conn)
  local reg = app.__channels
  local m = reg.member[conn]
  if not m then return end
  for ch in pairs(m) do ch:leave(conn) end
  reg.member[conn] = nil
end

return M
