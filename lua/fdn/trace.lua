-- trace.lua: W3C Trace Context. A call a node serves from outside (REST, Socket.IO, another
-- node's request) runs in a coroutine that carries its trace: the incoming traceparent's trace
-- id (a new one when there is none or it is invalid) and a span id of its own. Log lines, errors
-- sent to clients and the calls it makes to other nodes carry it.
local core = require "fdn.core.node"

local M = {}

local type, running = type, coroutine.running
local random_hex = core.random_hex

-- coroutine -> its trace: the table M.get made, or, until something asks for it, the incoming
-- traceparent as it came (false when none came): a call that logs nothing and calls no other
-- node never parses it nor draws an id.
local current = setmetatable({}, { __mode = "k" })

-- A traceparent header's trace id, parent id and flags, or nil when it is not valid (W3C Trace
-- Context level 1: lowercase hex fields of 2-32-16-2 digits, neither id all zeros, version ff
-- refused; version 00 is 55 characters exactly, a later version may go on after a "-").
M.parse = core.trace_parse

-- The trace table for an incoming traceparent (or none): { id, span, parent, flags, header },
-- header being the traceparent this span sends on.
local function make(tp)
  local id, parent, flags = M.parse(tp)
  local t = { id = id or random_hex(16), span = random_hex(8), parent = parent, flags = flags or "01" }
  t.header = "00-" .. t.id .. "-" .. t.span .. "-" .. t.flags
  return t
end
M.make = make

-- The running call starts a trace from tp (an incoming traceparent, or nil): made when first
-- asked for (M.get). M.stop ends it (the coroutine serves another task next).
function M.start(tp)
  current[running()] = tp or false
end

-- start, with the trace made at once: returns it.
function M.begin(tp)
  local t = make(tp)
  current[running()] = t
  return t
end

function M.stop()
  current[running()] = nil
end

-- The running call's trace (co: that coroutine's), or nil outside any traced call.
function M.get(co)
  co = co or running()
  local t = current[co]
  if t == nil or type(t) == "table" then return t end
  t = make(t or nil)
  current[co] = t
  return t
end

-- Whether the running call's trace was made (something asked for it) or came with the call.
function M.known()
  local t = current[running()]
  return t ~= nil and t ~= false
end

-- The running call's trace id, or nil.
function M.id()
  local t = M.get()
  return t and t.id
end

return M
