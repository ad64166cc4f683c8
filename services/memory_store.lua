-- memory_store.lua (require "fdn.memory.store"): the memory adapter's records in the order
-- @feathersjs/memory shows them (a JS object's key order): "index" keys (integers
-- 0..2^32-2) ascending, then every other key in insertion order; a key deleted and re-added
-- goes last, an overwritten key keeps its place. Keys are normalized ids (memory.lua).
-- Lists of keys are kept beside the records; a delete leaves a stale entry, and the delete
-- that makes the stale entries outnumber the live ones (and 32) compacts the lists. Inserts
-- and deletes are amortized O(1), a scan is O(live), and the lists never hold more than
-- 2 * live + 32 entries, whether or not anyone scans.
local M = {}

local mtype, sort = math.type, table.sort

local MAX_INDEX = 4294967294

local function is_index(k)
  return mtype(k) == "integer" and k >= 0 and k <= MAX_INDEX
end

function M.new(startId)
  return {
    store = {},
    uid = startId or 0,
    ikeys = {}, iset = {}, idirty = false, -- index keys, ascending once sorted
    skeys = {}, spos = {},                 -- other keys, insertion order
    live = 0, stale = 0,
  }
end

function M.insert(s, key, rec)
  local store = s.store
  if store[key] ~= nil then
    store[key] = rec -- overwrite keeps the key's place
    return
  end
  store[key] = rec
  s.live = s.live + 1
  if is_index(key) then
    if s.iset[key] then
      s.stale = s.stale - 1 -- its old (stale) entry is live again, in place
    else
      local ik = s.ikeys
      local n = #ik
      if n > 0 and key < ik[n] then s.idirty = true end
      ik[n + 1] = key
      s.iset[key] = true
    end
  else
    local sk = s.skeys
    local n = #sk + 1
    sk[n] = key
    s.spos[key] = n -- any earlier entry of this key is now stale (counted at delete)
  end
end

-- Drop the stale entries from the key lists, keeping the order of the others.
local function s_compact(s)
  local store = s.store
  local ik, iset = {}, {}
  local old = s.ikeys
  for i = 1, #old do
    local k = old[i]
    if store[k] ~= nil then ik[#ik + 1] = k; iset[k] = true end
  end
  local sk, spos = {}, {}
  local opos
  old, opos = s.skeys, s.spos
  for i = 1, #old do
    local k = old[i]
    if opos[k] == i and store[k] ~= nil then sk[#sk + 1] = k; spos[k] = #sk end
  end
  s.ikeys, s.iset, s.skeys, s.spos, s.stale = ik, iset, sk, spos, 0
end

function M.delete(s, key)
  if s.store[key] == nil then return end
  s.store[key] = nil
  s.live = s.live - 1
  local stale = s.stale + 1
  s.stale = stale
  if stale > 32 and stale > s.live then s_compact(s) end
end

-- Sort the index keys when out of order.
local function s_tidy(s)
  if s.idirty then
    sort(s.ikeys)
    s.idirty = false
  end
end

-- Scans the records in store order: counts those matching `match` (nil: all),
-- keeps the from-th to to-th of them, stops after the stop-th.
function M.collect(s, match, from, to, stop)
  s_tidy(s)
  local store, out, n, total = s.store, {}, 0, 0
  local ik = s.ikeys
  for i = 1, #ik do
    local r = store[ik[i]]
    if r ~= nil and (match == nil or match(r)) then
      total = total + 1
      if total >= from and total <= to then n = n + 1; out[n] = r end
      if total >= stop then return out, total end
    end
  end
  local sk, spos = s.skeys, s.spos
  for i = 1, #sk do
    local k = sk[i]
    if spos[k] == i then
      local r = store[k]
      if r ~= nil and (match == nil or match(r)) then
        total = total + 1
        if total >= from and total <= to then n = n + 1; out[n] = r end
        if total >= stop then return out, total end
      end
    end
  end
  return out, total
end

return M
