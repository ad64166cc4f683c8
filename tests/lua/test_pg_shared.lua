-- test_pg_shared.lua: shared reads of fdn.sql.service on a real PostgreSQL (URL in FDN_PG_URL; run
-- by tests/integration/test_pg.py): identical finds and gets waiting for a busy pool share one
-- execution and get equal, independent copies; a write completed before a find is seen by it;
-- a read already sent takes no joiner; raw queries are never shared; errors reach every sharer;
-- joiners count against the queue's bound.
local t = require "lib.t"
local sched = require "fdn.sched"
local pg = require "fdn.sql.postgres"
local sql = require "fdn.sql"
local errors = require "fdn.errors"

local url = os.getenv("FDN_PG_URL")
if not url then
  io.stderr:write("skipped: FDN_PG_URL is not set (tests/integration/test_pg.py sets it)\n")
  return 77
end
local function connect(extra) return pg.connect(url .. (url:find("?", 1, true) and "&" or "?") .. extra) end
local pack = table.pack

-- Runs the functions in coroutines of their own, in order, and waits for all: their pack(pcall()).
local function together(fns)
  local me, left, out = sched.current(), #fns, {}
  for i, fn in ipairs(fns) do
    sched.spawn(function()
      out[i] = pack(pcall(fn))
      left = left - 1
      if left == 0 then sched.wake(me) end
    end)
  end
  if left > 0 then sched.wait() end
  return out
end
local function rep(n, fn)
  local fns = {}
  for i = 1, n do fns[i] = fn end
  return fns
end

local writer = connect("pool=1") -- another client: its writes do not queue behind the reads
writer:exec("DROP VIEW IF EXISTS shared_gated")
writer:exec("DROP TABLE IF EXISTS shared_people")
writer:exec("CREATE TABLE shared_people (id serial PRIMARY KEY, name text, age int, j jsonb)")
writer:exec([[INSERT INTO shared_people (name, age, j)
  SELECT 'p' || i, i, jsonb_build_object('a', jsonb_build_array(i)) FROM generate_series(1, 20) i]])
writer:exec("DROP SEQUENCE IF EXISTS shared_seq")
writer:exec("CREATE SEQUENCE shared_seq")
local rows = 20
local function insert(name)
  writer:exec("INSERT INTO shared_people (name, age) VALUES (?, ?)", name or "new", 1)
  rows = rows + 1
end

-- Gates, so that no step depends on timing: the writer's session holds advisory lock k (shut),
-- and a statement calling shared_gate(k) waits there until the writer lets it go (open).
writer:exec([[CREATE OR REPLACE FUNCTION shared_gate(k int) RETURNS boolean LANGUAGE plpgsql VOLATILE
  AS $$ BEGIN PERFORM pg_advisory_lock_shared(k); PERFORM pg_advisory_unlock_shared(k); RETURN true; END $$]])
writer:exec("CREATE VIEW shared_gated AS SELECT * FROM shared_people WHERE shared_gate(42)")
local function shut(k) writer:query("SELECT pg_advisory_lock(?)", k) end
local function open(k) writer:query("SELECT pg_advisory_unlock(?)", k) end
local function poll(cond) -- waits until cond() (5 s at most); cond()
  for _ = 1, 1000 do
    if cond() then return true end
    sched.sleep(5)
  end
  return cond()
end
local function at_gates(n) -- n statements wait at gates
  return poll(function()
    return writer:query("SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")[1].n >= n
  end)
end

local db = connect("pool=2")
local people = sql.service { db = db, table = "shared_people", paginate = { default = 10, max = 50 } }
local Q = { query = { ["$limit"] = 5, age = { ["$gte"] = 1 }, ["$sort"] = { id = 1 } } }
local function find() return people:find(Q) end
local function busy() db:query("SELECT pg_sleep(0.2)") end -- (the calls after it queue in the same step)
local function gate43() db:query("SELECT shared_gate(43)") end
together { busy, busy } -- both connections open
find() -- the table's columns read (the first calls read them, each with a raw query)

-- eight identical finds while both connections are busy: one execution, eight copies
local s0 = db:stats()
local out = together { busy, busy, table.unpack(rep(8, find)) }
local s1 = db:stats()
t.eq({ s1.shared - s0.shared, s1.flights - s0.flights }, { 7, 1 }, "seven of eight finds shared one execution")
local first = out[3][2]
t.check(out[3][1] and first.total == rows and #first.data == 5, "the page and its count", tostring(first))
for i = 4, 10 do t.eq(out[i][2], first, "find " .. (i - 2) .. " is equal to the first") end
out[4][2].data[1].j.a[1] = 99
out[5][2].data[1].name = "changed"
out[6][2].total = 0
t.check(first.data[1].j.a[1] == 1 and first.data[1].name == "p1" and first.total == rows
  and out[7][2].data[1].j.a[1] == 1, "each has its own copy, nested JSON included")
t.eq(db:stats().waiting, 0, "nothing left waiting")

-- gets share too
s0 = db:stats()
out = together { busy, busy, table.unpack(rep(4, function() return people:get(3) end)) }
t.eq(db:stats().shared - s0.shared, 3, "four identical gets: one execution")
t.eq(out[6][2].name, "p3", "get answered")

-- a write completed before a find began is counted by that find, though the find joins a
-- waiting read that began earlier: the shared read is sent after both began
s0 = db:stats()
local early, late, late_began
shut(43)
together {
  gate43, gate43, -- both connections wait at the gate
  function() early = find() end, -- waits for a connection: a shared read
  function()
    t.check(at_gates(2), "both connections at the gate")
    insert() -- a write completes...
    late_began = true
    late = find() -- ...then this find begins, and joins the waiting one
  end,
  function()
    poll(function() return late_began end)
    open(43)
  end }
t.eq(db:stats().shared - s0.shared, 1, "the later find joined the waiting one")
t.eq({ early.total, late.total }, { rows, rows }, "both count the row written before the later find began")

-- a read already sent takes no joiner: a find that began after a write completed, while an
-- identical shared read was running, runs on its own and sees the write
local gated = sql.service { db = db, table = "shared_gated", paginate = { default = 10, max = 50 } }
local GQ = { query = { ["$limit"] = 5, ["$sort"] = { id = -1 } } } -- the newest first
gated:find(GQ) -- its columns read
local sent, after, after_began
s0 = db:stats()
shut(42)
shut(43)
together {
  gate43, -- one connection waits at gate 43 throughout
  function() db:query("SELECT pg_sleep(0.05)") end, -- the other, for a moment
  function() sent = gated:find(GQ) end, -- waits (a shared read), then is sent: waits at gate 42
  function()
    t.check(at_gates(2), "the shared read was sent and waits at its gate")
    insert("late write") -- a write completes while it runs (its page's snapshot is older)...
    after_began = true
    after = gated:find(GQ) -- ...then an identical find begins: no connection is idle
  end,
  function()
    poll(function() return after_began end)
    open(42)
    open(43)
  end }
t.check(sent.data[1].name ~= "late write", "the running read's page began before the write (so this means something)")
t.eq(after.data[1].name, "late write", "a find that began after the write sees it: it did not join the running read")
t.eq(db:stats().shared - s0.shared, 0, "nothing shared")

-- a raw query is never shared, not even of the same text and values
s0 = db:stats()
local function nextval() return db:query("SELECT nextval('shared_seq') AS v") end
out = together { busy, busy, table.unpack(rep(5, nextval)) }
local seen = {}
for i = 3, 7 do seen[out[i][2][1].v] = true end
t.eq(t.count(seen), 5, "five nextval() calls, five values")
t.eq(db:stats().shared - s0.shared, 0, "raw queries are not shared")

-- nor are reads inside a transaction: they run on its connection, and see its writes
s0 = db:stats()
local in_tx, tx_done
shut(43)
together {
  gate43, -- one connection
  function() -- the other
    db:transaction(function(tx)
      tx:exec("INSERT INTO shared_people (name, age) VALUES (?, ?)", "tx", 1)
      in_tx = people:find(Q) -- an identical find waits for a connection meanwhile
    end)
    rows = rows + 1
    tx_done = true
  end,
  find,
  function()
    poll(function() return tx_done end)
    open(43)
  end }
t.eq(db:stats().shared - s0.shared, 0, "a find in a transaction joins no waiting read")
t.eq(in_tx.total, rows, "and sees the transaction's own write")

-- an error reaches every sharer
s0 = db:stats()
out = together { busy, busy, table.unpack(rep(4, function()
  return people:find { query = { ["$limit"] = 5, age = 99999999999 } }
end)) }
for i = 3, 6 do
  t.check(not out[i][1] and errors.is(out[i][2], "BadRequest"), "sharer " .. (i - 2) .. ": BadRequest",
    tostring(out[i][2]))
end
t.check(out[3][2] ~= out[4][2], "each its own error")
t.eq(db:stats().shared - s0.shared, 3, "the failed read was shared")

-- the database closed while they wait: Unavailable for every sharer
local db2 = connect("pool=1")
local people2 = sql.service { db = db2, table = "shared_people", paginate = { default = 10, max = 50 } }
people2:find(Q) -- columns read, the connection open
shut(43)
out = together {
  function() db2:query("SELECT shared_gate(43)") end,
  function() return people2:find(Q) end,
  function() return people2:find(Q) end,
  function() return people2:find(Q) end,
  function()
    db2:close()
    open(43)
  end }
for i = 2, 4 do
  t.check(not out[i][1] and errors.is(out[i][2], "Unavailable"), "closed: sharer " .. (i - 1) .. " Unavailable",
    tostring(out[i][2]))
end
t.eq(db2:stats().shared, 2, "they had joined")

-- joiners count against ?queue=N: with queue=3, a flight and two joiners fill it
local db3 = connect("pool=1&queue=3")
local people3 = sql.service { db = db3, table = "shared_people", paginate = { default = 10, max = 50 } }
people3:find(Q)
out = together { function() db3:query("SELECT pg_sleep(0.2)") end,
  table.unpack(rep(4, function() return people3:find(Q) end)) }
local served, refused = 0, 0
for i = 2, 5 do
  if out[i][1] then served = served + 1 elseif errors.is(out[i][2], "Unavailable") then refused = refused + 1 end
end
t.eq({ served, refused }, { 3, 1 }, "three waited (one flight, two joiners), the fourth was refused")
db3:close()
db:close()
writer:close()

return t.done()
