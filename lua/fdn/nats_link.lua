-- nats_link.lua: the NATS transport's links (--nats): the interfaces of fdn.core.link and
-- fdn.core.rpc (what cluster, serve and remote use) over one NATS connection. A link to node P
-- is the same frames, published on P's own subject; each node hears its own subject. A link is
-- up while its peer is heard (its beacons, its frames): silent for --ping-timeout, it is down,
-- as a TCP link whose pings go unanswered; a peer whose connection ended (kill -9) is gone at
-- the next request sent to it (the server answers "no responders" on the reply subject each
-- request carries; links awaiting answers are probed so). With --secret every message is sealed.
local log = require "fdn.log"
local sched = require "fdn.sched"

local M = {}

local pack, unpack = string.pack, string.unpack
local pairs, tostring = pairs, tostring

-- A message: kind (1 byte), sender id (32 hex digits), the consumer's link id, then for "c"
-- (frames from the link's consumer) and "p" (from its provider) the frames a link queued in one
-- loop turn, encoded as a TCP link's (core/frame.h), appended in C (fdn.core.batch) and handed
-- to their handlers in C (rpc.deliver_frames): a message carries a turn's frames, so the
-- server, libnats and the seal work once per turn and peer, not per frame. Other kinds: "C"
-- and "P": the consumer or the provider closed the link; "k" a probe (nothing but its reply
-- subject); "a" the consumer's count of event bytes it has taken (u64): the provider's backlog
-- toward it is what it sent less that, as a TCP link's queue.
local HEAD = ">c1c32I4"
local HEAD_LEN, FRAME_HEADER = 37, 10
local BATCH = 64 * 1024 -- a link's queued frames go out at once past this many bytes
local COALESCE_MS = 1 -- how long steady traffic may hold a link's batch (send_all)
local SWEEP_MS = 100 -- how often silent peers are looked for, and links awaiting answers probed
local PROBED = { [3] = true, [1] = true, [6] = true } -- REQ, HELLO, SUB: sent with a reply subject
local LOG_MS = 10000 -- a refused message is logged at most this often
local FORGET_MS = 60000 -- a node not heard for so long leaves the table of those heard
local MAX_INBOUND = 4096 -- links consumers opened to us, at most (more HELLOs are ignored)
local ACK = ">c1c32I4I8"
-- The requests a link awaits answers to, by their id's 16 low bits (remote.lua's slot: small,
-- dense, reused): an array. Keyed by the whole id, which grows by 65536 per call, the table was
-- rehashed all the time (a microsecond or more per call).
local SLOT_MASK = 0xffff
local SLOW = 8 * 1024 * 1024 -- event bytes a consumer has not taken: past it, it is dropped (as TCP)

-- The subjects' prefix of a partition: its key hashed (FNV-1a 64), so any key makes a subject.
function M.prefix(key)
  local h = -3750763034362895579 -- 14695981039346656037
  for i = 1, #key do
    h = (h ~ key:byte(i)) * 1099511628211
  end
  return ("fdn.%016x"):format(h)
end

-- new(info) -> transport T: T.link and T.rpc (the bindings' interfaces), T.open() (in a
-- coroutine: true | nil, why), T.attach(node), T.flush(ms), and what nats_discovery uses:
-- T.publish, T.subscribe, T.heard, T.on_connected, T.me, T.prefix.
function M.new(info)
  local core_link, core_rpc = require "fdn.core.link", require "fdn.core.rpc"
  local core = require "fdn.core.node"
  local new_batch = require("fdn.core.batch").new
  local deliver_frames, frame_at = core_rpc.deliver_frames, core_rpc.frame_at
  local T = { me = info.id, prefix = M.prefix(info.key), heard = {} }
  local TY = core_link.TYPES
  local now = core.now
  local sealer = info.secret and require("fdn.core.seal").new() or nil
  T.sealed = sealer ~= nil
  local max_frame = info.max_frame
  local max_body = max_frame - 6
  local ping_timeout = info.ping_timeout
  local me, heard = T.me, T.heard
  local mine = T.prefix .. ".node." .. me
  local gone_prefix = T.prefix .. ".nr." .. me .. "." -- .<link id>: where "no responders" come
  local forget_after = (info.timeout or 10000) + 1000 -- a request unanswered so long is no more awaited
  local conn, connected, node = nil, false, nil
  local links, inbound = {}, {} -- link id -> link; sender -> its consumer link's id here
  local next_lid, ninbound = 0, 0
  local sweeper, pruned = nil, 0
  local stats = { links = 0, connected = 0, accepted = 0, frames_in = 0, frames_out = 0, bytes_in = 0,
    bytes_out = 0, pings_sent = 0, protocol_errors = 0, tls_handshakes = 0, tls_failures = 0, unsealed = 0,
    dropped = 0, closes = {} }
  local logged = 0

  local function refused(why)
    stats.unsealed = stats.unsealed + 1
    local t = now()
    if t - logged >= LOG_MS then
      logged = t
      log.warn(("nats: dropped a message that does not open with the cluster secret (%s; %d so far)")
        :format(why, stats.unsealed))
    end
  end

  -- Publishes msg on subject (with reply, a subject), sealed with a secret: true | nil, err.
  -- msg: a string, or a batch of size bytes (cleared, sent or not).
  function T.publish(subject, msg, reply, size)
    if not connected then
      if size then msg:clear() end
      return nil, "gone"
    end
    if sealer then
      msg = sealer:seal(subject, size and msg:take() or msg)
      size = nil
    end
    local ok, err = conn:publish(subject, msg, reply)
    if not ok then
      if tostring(err):lower():find("payload", 1, true) then return nil, "too large" end
      return nil, "gone"
    end
    stats.bytes_out = stats.bytes_out + (size or #msg)
    return true
  end

  -- Subscribes fn(data, sender) to subject: data opened (with a secret), the rest refused.
  -- Taken on the reactor as they are read (direct: no thread, no queue between).
  local DIRECT = { direct = true }
  function T.subscribe(subject, fn)
    return conn:subscribe(subject, function(subj, data)
      stats.bytes_in = stats.bytes_in + #data
      if sealer then
        local msg, who = sealer:open(subj, data)
        if not msg then return refused(who) end
        return fn(msg, who)
      end
      return fn(data)
    end, DIRECT)
  end

  local function subject_of(id)
    return T.prefix .. ".node." .. id
  end

  -- The frames links queued: each link's in one message, sent at the end of the loop turn (a
  -- timer of 0 ms), or at once when a link's queue is full or about to close. A NATS message
  -- costs the server and the receiver about the same whatever its size, so under steady
  -- traffic (the link published less than COALESCE_MS ago and queued more frames this turn)
  -- a batch is held for the next turn, up to COALESCE_MS: a flood of events goes out in
  -- fewer, larger messages, while a call waits one turn more at most (the first turn that
  -- adds nothing sends it).
  local queued, spare, nqueued = {}, {}, 0

  -- Publishes l's queued frames as one message (its batch opens with the link's head):
  -- true | nil, err.
  local function send_queued(l)
    local n = l.qbytes
    if n == 0 then return true end
    l.qbytes = 0
    l.sent_at = now()
    local reply = l.probed and gone_prefix .. l.lid or nil
    l.probed = false
    return T.publish(l.subject, l.batch, reply, HEAD_LEN + n)
  end

  local function send_all()
    local list, n = queued, nqueued
    local t = now()
    queued, spare, nqueued = spare, list, 0
    for i = 1, n do
      local l = list[i]
      list[i] = nil
      local busy = l.added -- this link queued frames since send_all last looked at it
      l.added = false
      if busy and l.qbytes > 0 and t - l.sent_at < COALESCE_MS and t - l.queued_at < COALESCE_MS then
        nqueued = nqueued + 1
        queued[nqueued] = l
      else
        l.queued = false
        send_queued(l)
      end
    end
    if nqueued > 0 then node.timer(0, send_all) end
  end

  -- A link is gone: silently (close), or with a "down" event for the cluster.
  local function forget(lid)
    local l = links[lid]
    if not l then return nil end
    links[lid] = nil
    stats.links = stats.links - 1
    if not l.out then
      ninbound = ninbound - 1
      if inbound[l.peer] == lid then inbound[l.peer] = nil end
    end
    return l
  end

  local function down(lid, reason)
    if not forget(lid) then return end
    stats.closes[reason] = (stats.closes[reason] or 0) + 1
    node.cluster.on_link(lid, "down", reason)
  end

  local function sweep()
    local t = now()
    for lid, l in pairs(links) do
      local last = heard[l.peer]
      if not last or last < l.since then last = l.since end
      if t - last > ping_timeout then
        down(lid, "ping timeout")
      elseif l.reqs and next(l.reqs) then -- answers awaited: is the peer still on the server?
        local reqs, at = l.reqs, l.req_at
        for slot in pairs(reqs) do
          if t - at[slot] > forget_after then reqs[slot] = nil end
        end
        T.publish(l.subject, pack(HEAD, "k", me, l.clid), gone_prefix .. lid)
      end
    end
    if t - pruned >= FORGET_MS then -- (beacons of nodes long gone, or forged ones)
      pruned = t
      for id, at in pairs(heard) do
        if t - at > FORGET_MS then heard[id] = nil end
      end
    end
  end

  -- The server's "no responders" for a message sent on link lid: the peer's connection is gone.
  local function on_gone(subject, _, _, no_responders)
    if not no_responders then return end
    local lid = math.tointeger(tonumber(subject:sub(#gone_prefix + 1)))
    local l = lid and links[lid]
    if l and l.out then down(lid, "gone from NATS") end
  end

  local function new_link(peer, out, clid)
    next_lid = next_lid + 1
    local lid = next_lid
    links[lid] = { lid = lid, peer = peer, out = out, clid = clid or lid, subject = subject_of(peer), since = now(),
      ready = out, reqs = out and {} or nil, req_at = out and {} or nil, sent = 0, acked = 0, got = 0,
      qbytes = 0, queued = false, added = false, sent_at = -COALESCE_MS, queued_at = 0,
      batch = new_batch(pack(HEAD, out and "c" or "p", me, clid or lid)) }
    stats.links = stats.links + 1
    if not sweeper then sweeper = node.timer(SWEEP_MS, sweep, true) end
    return lid
  end

  -- Hands the frames of a message to their handlers (in C) on link lid: the event bytes taken.
  local function deliver(lid, l, data, reqs)
    local n, evt, bad = deliver_frames(lid, data, HEAD_LEN + 1, max_frame, links, l, reqs)
    stats.frames_in = stats.frames_in + n
    if bad then stats.protocol_errors = stats.protocol_errors + 1 end
    return evt
  end

  -- A message on our own subject.
  local on_first
  local function on_message(data, who)
    if #data < HEAD_LEN then
      stats.protocol_errors = stats.protocol_errors + 1
      return
    end
    local kind, from, clid = unpack(HEAD, data)
    if who and who ~= from then return refused("sender") end
    if from == me then return end
    heard[from] = now()
    local lid
    if kind == "k" then return end
    if kind == "a" then -- a consumer took our events up to its count
      local l = links[inbound[from]]
      if l and l.clid == clid and #data >= HEAD_LEN + 8 then
        local n = unpack(">I8", data, HEAD_LEN + 1)
        if n > l.acked and n <= l.sent then l.acked = n end
      end
      return
    end
    if kind == "C" or kind == "P" then -- the other end closed the link
      lid = kind == "C" and inbound[from] or clid
      local l = links[lid]
      if l and l.peer == from and l.clid == clid then down(lid, "closed by peer") end
      return
    end
    if kind ~= "c" and kind ~= "p" then
      stats.protocol_errors = stats.protocol_errors + 1
      return
    end
    if kind == "p" then -- from a node we consume from: on our outbound link
      local l = links[clid]
      if not l or not l.out or l.peer ~= from then return end
      local evt = deliver(clid, l, data, l.reqs)
      if evt > 0 then -- the count of event bytes taken, told once a loop turn
        l.got = l.got + evt
        if not l.acking then
          l.acking = true
          node.timer(0, function()
            l.acking = false
            if links[clid] == l then T.publish(l.subject, pack(ACK, "a", me, l.clid, l.got)) end
          end)
        end
      end
      return
    end
    -- from a node that consumes from us: on our inbound link for it
    lid = inbound[from]
    local l = links[lid]
    if l and l.clid == clid and l.ready then
      deliver(lid, l, data)
      return
    end
    -- a link's first message (its HELLO), or one for a link that is gone: frame by frame
    local pos = HEAD_LEN + 1
    while pos <= #data do
      local ftype, flags, rid, body, after = frame_at(data, pos, max_frame)
      if not ftype then
        stats.protocol_errors = stats.protocol_errors + 1
        return
      end
      pos = after
      if not on_first(from, clid, ftype, flags, rid, body) then return end
    end
  end

  -- One frame of a message from a consumer whose link is new or not ready: false when the
  -- rest of the message is to be dropped (its link is not there).
  on_first = function(from, clid, ftype, flags, rid, body)
    local lid = inbound[from]
    local l = links[lid]
    if not l or l.clid ~= clid then
      if ftype ~= TY.HELLO then return false end -- a frame of a link that is gone
      if l then down(lid, "replaced") end
      if ninbound >= MAX_INBOUND then return false end
      ninbound = ninbound + 1
      lid = new_link(from, false, clid)
      inbound[from] = lid
      stats.accepted = stats.accepted + 1
      node.cluster.on_link(lid, "accept")
    elseif not l.ready and ftype ~= TY.HELLO then
      return true
    end
    stats.frames_in = stats.frames_in + 1
    core_rpc.deliver(lid, ftype, flags, rid, body)
    return links[lid] ~= nil
  end

  -- The connection's state: while it is away no link can be up (calls go to the grace period or
  -- fail with Unavailable, as for links lost); once back, beacons bring the peers again.
  local function on_status(state)
    if state == "reconnected" then
      connected = true
      log.info("nats: reconnected")
      if T.on_connected then T.on_connected() end
      return
    end
    connected = false
    log.warn("nats: " .. state)
    for lid in pairs(links) do down(lid, "nats " .. state) end
  end

  -- Connects (bounded by libnats' connect timeout) and hears our subject.
  function T.open()
    local co = sched.current()
    local c, err = require("fdn.core.nats").connect(info.nats, { name = info.name, on_status = on_status },
      function(ok, why) sched.wake(co, ok, why) end)
    if not c then return nil, err end
    local ok, why = sched.wait()
    if not ok then return nil, why end
    conn, connected = c, true
    local sub, serr = T.subscribe(mine, on_message)
    if not sub then return nil, serr end
    sub, serr = conn:subscribe(gone_prefix .. "*", on_gone)
    if not sub then return nil, serr end
    return true
  end

  function T.attach(n)
    node, T.node = n, n
  end

  -- Waits (at most ms) until the server has everything published so far: at the node's end.
  function T.flush(ms)
    if not connected then return false end
    local co, done = sched.current(), false
    conn:flush(function()
      if not done then
        done = true
        sched.wake(co, true)
      end
    end)
    local t = node.timer(ms or 1000, function()
      if not done then
        done = true
        sched.wake(co, false)
      end
    end)
    local ok = sched.wait()
    t:cancel()
    return ok
  end

  function T.status()
    return conn and conn:status() or "closed"
  end

  -- fdn.core.link's interface.
  local L = { TYPES = TY, FLAGS = core_link.FLAGS }
  T.link = L

  function L.listen() return 0 end -- no listener: a NATS node is reached on its subject

  function L.stop_listening() end

  -- connect(host, port, id): a link to node id (beacons and gossip give it); "up" comes next.
  function L.connect(_, _, id)
    if type(id) ~= "string" or not id:match("^%x+$") or #id ~= 32 then return nil, "invalid address" end
    if not connected then return nil, "system error" end
    local lid = new_link(id, true)
    stats.connected = stats.connected + 1
    node.timer(0, function()
      if links[lid] then node.cluster.on_link(lid, "up") end
    end)
    return lid
  end

  function L.send(lid, ftype, flags, rid, body)
    local l = links[lid]
    if not l then return nil, "gone" end
    body = body or ""
    if #body > max_body then return nil, "too large", #body end
    if not connected then return nil, "gone" end
    if ftype == TY.EVT and not l.out then -- events toward a consumer: its backlog
      if l.sent - l.acked > SLOW then
        down(lid, "slow consumer")
        send_queued(l)
        T.publish(l.subject, pack(HEAD, "P", me, l.clid))
        return nil, "slow consumer"
      end
      l.sent = l.sent + #body
    end
    if l.out and PROBED[ftype] then l.probed = true end
    if ftype == TY.REQ and l.out then
      local slot = rid & SLOT_MASK
      l.reqs[slot], l.req_at[slot] = rid, now()
    end
    stats.frames_out = stats.frames_out + 1
    local size = FRAME_HEADER + #body
    if l.qbytes + size > BATCH then send_queued(l) end
    if l.qbytes == 0 then l.queued_at = now() end
    l.qbytes = l.batch:frame(ftype, flags, rid, body)
    l.added = true
    if size > BATCH then -- alone, at once: a frame the server refuses is refused here
      local ok, err = send_queued(l)
      if not ok then return nil, err, #body end -- ("too large": over the server's max_payload)
      return true
    end
    if not l.queued then
      l.queued = true
      nqueued = nqueued + 1
      queued[nqueued] = l
      if nqueued == 1 then node.timer(0, send_all) end
    end
    return true
  end

  function L.ready(lid)
    local l = links[lid]
    if not l then return nil, "gone" end
    l.ready = true
    return true
  end

  function L.close(lid, reason)
    local l = forget(lid)
    if not l then return nil, "gone" end
    send_queued(l)
    if reason then stats.closes[reason] = (stats.closes[reason] or 0) + 1 end
    T.publish(l.subject, pack(HEAD, l.out and "C" or "P", me, l.clid))
    return true
  end

  function L.info(lid)
    local l = links[lid]
    if not l then return nil, "gone" end
    return { ip = "nats", port = 0, inbound = not l.out, connected = connected, ready = l.ready,
      secure = sealer ~= nil, pending = l.sent - l.acked }
  end

  function L.pending(lid)
    local l = links[lid]
    if not l then return nil, "gone" end
    return l.sent - l.acked
  end

  function L.stats()
    local s = {}
    for k, v in pairs(stats) do s[k] = v end
    s.tls = sealer ~= nil
    s.sealed = sealer ~= nil
    s.nats = T.status()
    return s
  end

  T.rpc = require("fdn.nats_rpc").new(L, core_rpc)

  return T
end

return M
