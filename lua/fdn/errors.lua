-- errors.lua: the Feathers error classes (@feathersjs/errors v5) as Lua values that
-- can be thrown with error(), tested with errors.is, sent as JSON (err:toJSON()) and
-- rebuilt on the other side (errors.convert).
local M = {}

local type, pairs, ipairs, tostring, setmetatable, getmetatable, rawequal, rawget =
  type, pairs, ipairs, tostring, setmetatable, getmetatable, rawequal, rawget
local tonumber = tonumber
local error = error

local okjson, json = pcall(require, "fdn.json")
local null = okjson and type(json) == "table" and json.null or nil

-- The one metatable every error object shares; methods live in `methods`.
local methods = { type = "FeathersError" }
local mt = { __index = methods, __name = "fdn.error" }

local byCode, byName, byClassName = {}, {}, {}
M.byCode = byCode

-- "a list" as the encoder sees it (fdn.json.is_array)
local is_list = okjson and type(json) == "table" and json.is_array or function() return false end

-- A JS-style "truthy" string/value used as a message ("" and nil fall back).
local function msg_of(v, default)
  if v == nil or v == false or v == "" or rawequal(v, null) then return default end
  if type(v) == "string" then return v end
  return tostring(v)
end

-- Everything of `t` but message and errors (Feathers' `{ message, errors, ...rest }`).
local function rest_of(t)
  local r = {}
  for k, v in pairs(t) do
    if k ~= "message" and k ~= "errors" then r[k] = v end
  end
  return r
end

-- Feathers' FeathersError constructor: err may be a string, an error object, a
-- plain table (its message/errors are taken, the rest becomes data) or nil.
local function construct(cls, err, data)
  if rawequal(data, null) then data = nil end
  local msg = type(err) == "string" and err or "Error"
  local e = { name = cls.name, code = cls.code, className = cls.className }
  if type(data) == "table" and is_list(data) then
    e.data = data
  elseif getmetatable(err) == mt then
    -- an fdn error as message: keep its message, data and errors
    msg = err.message or msg
    e.data, e.errors = err.data, err.errors
  elseif type(err) == "table" or data ~= nil then
    local src = type(err) == "table" and err or data
    if type(src) == "table" then
      msg = msg_of(src.message, msg)
      e.errors = src.errors
      e.data = rest_of(src)
    else
      e.data = src -- a scalar as data
    end
  end
  e.message = msg
  return setmetatable(e, mt)
end

local class_mt = {
  __call = construct,
  __tostring = function(cls) return "class " .. cls.name end,
}

-- Feathers' classes (name, code, className) come from the one table of statuses and error
-- classes (core/status.c), which the HTTP layer answers with too.
local CLASSES = {}
for _, s in ipairs(require("fdn.core.http").STATUSES) do
  if s.feathers and s.name then CLASSES[#CLASSES + 1] = { s.name, s.code, s.className } end
end

for i = 1, #CLASSES do
  local c = CLASSES[i]
  local cls = setmetatable({ name = c[1], code = c[2], className = c[3] }, class_mt)
  M[c[1]] = cls
  M[c[2]] = cls -- Feathers' numeric aliases: errors[404] == errors.NotFound
  byCode[c[2]] = cls
  byName[c[1]] = cls
  byClassName[c[3]] = cls
end

local GeneralError = M.GeneralError

-- Resolve a class from a class table, a name ("NotFound"), a className
-- ("not-found") or a code (404 or "404").
local function class_of(x)
  if getmetatable(x) == class_mt then return x end
  if type(x) == "string" then
    return byName[x] or byClassName[x] or byCode[tonumber(x)]
  end
  if type(x) == "number" then return byCode[x] end
  return nil
end

-- errors.is(v [, class]) -> true when v is an fdn error (of that class, when given:
-- a class, a name, a className or a code).
function M.is(v, cls)
  if getmetatable(v) ~= mt then return false end
  if cls == nil then return true end
  local c = class_of(cls)
  return c ~= nil and v.name == c.name
end

-- errors.convert(t) rebuilds an error from its decoded JSON form. The class is found
-- by name, else className, else code; an unknown one becomes GeneralError. The
-- class gives name/code/className; message, data, errors and any other fields are
-- taken as they are (Feathers' Object.assign).
function M.convert(t)
  if t == nil or t == false or rawequal(t, null) then return t end
  if getmetatable(t) == mt then return t end
  if type(t) ~= "table" then return GeneralError(tostring(t)) end
  local cls = (type(t.name) == "string" and byName[t.name])
    or (type(t.className) == "string" and byClassName[t.className])
    or byCode[tonumber(t.code) or false]
    or GeneralError
  local e = {}
  for k, v in pairs(t) do
    if not rawequal(v, null) then e[k] = v end
  end
  e.name, e.code, e.className = cls.name, cls.code, cls.className
  e.message = msg_of(t.message, "Error")
  return setmetatable(e, mt)
end

-- A Lua error message as a caller may see it: without the "chunk:line: " prefixes that
-- error() and the VM put before it (they name the node's files, often by absolute path),
-- and its first line only (a failed require lists every path it searched).
local function client_message(msg)
  msg = msg:match("^[^\n]*")
  for _ = 1, 8 do -- one prefix per error(msg) that re-raised it
    local rest = msg:match('^%[string ".-"%]:%d+: (.*)$') or msg:match("^.-%.lua:%d+: (.*)$")
    if rest == nil then break end
    msg = rest
  end
  return msg ~= "" and msg or "Error"
end

-- errors.from(v [, traceback]) turns any thrown value into an fdn error: fdn errors
-- pass through; anything else becomes a GeneralError. Its message is a string's (or
-- number's) text without Lua's position prefix, first line only; a table's own string
-- `message` (raw field); else "Error", as Feathers says for a throw that is not an
-- Error: nil, booleans, other tables (their tostring is a heap address), functions. The
-- value itself is for the log (service.lua logs it once). The traceback, when given,
-- is kept in err.stack (never sent).
function M.from(v, traceback)
  if getmetatable(v) == mt then return v end
  local msg
  local t = type(v)
  if t == "string" or t == "number" then
    msg = client_message(tostring(v))
  elseif t == "table" and type(rawget(v, "message")) == "string" then
    msg = rawget(v, "message")
  end
  local e = GeneralError(msg)
  if traceback ~= nil then e.stack = traceback end
  return e
end

-- err:toJSON() -> a plain table ready for JSON encoding.
function methods.toJSON(self)
  local r = { name = self.name, message = self.message, code = self.code,
    className = self.className }
  if self.data ~= nil then r.data = self.data end
  if self.errors ~= nil then r.errors = self.errors end
  return r
end

mt.__tostring = function(self)
  return tostring(self.name) .. ": " .. tostring(self.message)
end

-- errors.new(class, message, data): construct from a class, name or code.
function M.new(cls, message, data)
  local c = class_of(cls)
  if not c then error("errors.new: unknown error class " .. tostring(cls), 2) end
  return construct(c, message, data)
end

M.metatable = mt

return M
