-- t.lua: a minimal test helper for Lua tests run with `fdnode run`:
-- t.check(cond, name), t.eq(a, b, name) (deep), t.raises(fn, name),
-- t.throws(fn, class, message, name), t.done(); t.list{...} (a JSON list), t.ids(records) ("1,2,...") and
-- t.count(table) (its number of keys) for comparing results.
local M = {}
local passed, failed = 0, 0

-- Equal values; tables equal key by key, with the same metatable: fdn.json.array_mt decides
-- whether an empty table is [] or {} on the wire, so a list and an object never compare equal.
local function deep_eq(a, b)
  if a == b then return true end
  if type(a) ~= "table" or type(b) ~= "table" then return false end
  if getmetatable(a) ~= getmetatable(b) then return false end
  for k, v in pairs(a) do if not deep_eq(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end
M.deep_eq = deep_eq

local function show(v)
  if type(v) == "table" then
    local ok, s = pcall(fdn.json.encode, v)
    if ok and s then return s end
  end
  return tostring(v)
end

function M.check(cond, name, detail)
  if cond then
    passed = passed + 1
  else
    failed = failed + 1
    io.stderr:write("FAIL: ", name, detail and ("\n  " .. detail) or "", "\n")
  end
end

function M.eq(actual, expected, name)
  if deep_eq(actual, expected) then return M.check(true, name) end
  local detail = "expected " .. show(expected) .. "\n  got      " .. show(actual)
  if show(expected) == show(actual) then
    detail = detail .. "\n  (the same JSON: a table's metatable differs; use t.list{...} for a list)"
  end
  M.check(false, name, detail)
end

-- A list as decoded JSON and the service layer make it: {...} with fdn.json.array_mt.
function M.list(items)
  return setmetatable(items or {}, fdn.json.array_mt)
end

-- Calls fn and returns the error it raised (nil, plus a failed check, if none).
function M.raises(fn, name)
  local ok, err = pcall(fn)
  M.check(not ok, name .. " raises")
  return err
end

-- Calls fn and checks that it raises an fdn error of class `name` (and
-- `message`, when given). Returns the error.
function M.throws(fn, name, message, label)
  local errors = require "fdn.errors"
  local ok, e = pcall(fn)
  local good = not ok and errors.is(e, name) and (message == nil or e.message == message)
  M.check(good, label, "got: " .. tostring(ok) .. " " .. tostring(e))
  return e
end

-- The ids of a list of records, as "1,2,...".
function M.ids(list)
  local out = {}
  for i, r in ipairs(list) do out[i] = tostring(r.id) end
  return table.concat(out, ",")
end

-- The number of keys of a table.
function M.count(tbl)
  local n = 0
  for _ in pairs(tbl) do n = n + 1 end
  return n
end

function M.done()
  print(("%d passed, %d failed"):format(passed, failed))
  return failed == 0 and 0 or 1
end

return M
