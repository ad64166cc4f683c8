-- test_rpc_encode.lua: what the NATS transport takes from fdn.core.rpc: the bodies the links'
-- encoders make (encode_request/value/event, --max-frame checked), rpc.deliver handing a frame
-- to its handler as a link's would go, a link's batch of frames (fdn.core.batch) and the frames
-- of a message handed over in C (frame_at, deliver_frames), and nats_link's subject prefix.
local t = require "lib.t"
local rpc = require "fdn.core.rpc"
local TYPES = require("fdn.core.link").TYPES

local body = assert(rpc.encode_request("items", "get", 7, nil, { query = { n = 1 }, connection = {}, fn = print }))
t.eq(body, '["items","get",7,null,{"query":{"n":1}}]',
  "a REQ body: the fields, params without connection and what is not JSON")
t.eq(rpc.encode_value(nil), "", "no value: an empty body")
t.eq(rpc.encode_value({ a = 1 }), '{"a":1}', "a value as JSON")
t.eq(rpc.encode_event("items", "created", { id = 1 }, nil), '["items","created",{"id":1},null]',
  "an EVT body")
local ok, err = rpc.encode_value(print)
t.eq({ ok, err }, { nil, "not json" }, "a function is not JSON")
local max = require("fdn.core.node").info().max_frame
local big, why, size = rpc.encode_value(("x"):rep(max))
t.eq({ big, why, size }, { nil, "too large", max + 2 }, "over --max-frame: too large, with the body's size")

local got
rpc.handle(TYPES.REQ, function(...) got = table.pack(...) end, "fields")
t.eq(rpc.deliver(5, TYPES.REQ, 0, 9, body), true, "deliver: a handler took it")
t.eq({ got[1], got[2], got[3], got[4], got[5], got[7].query.n }, { 5, 9, "items", "get", 7, 1 },
  "the handler got the link, request id and fields, as from a link")
rpc.handle(TYPES.ERR, function(...) got = table.pack(...) end, "value")
rpc.deliver(5, TYPES.ERR, 1, 10, '{"name":"NotFound"}')
t.eq({ got[1], got[2], got[3].name, got[4], got[5] }, { 5, 10, "NotFound", nil, 1 }, "value mode with its flags")
t.eq(rpc.deliver(5, TYPES.PONG, 0, 0, ""), false, "no handler: false")
t.raises(function() rpc.deliver(5, 99, 0, 0, "") end, "an unknown type raises")

-- a batch: the head, then frames as a TCP link's (u32 length, type, flags, u32 id, body)
local batch = require("fdn.core.batch").new("HEAD")
t.eq(batch:frame(TYPES.REQ, 0, 9, body), 10 + #body, "a frame: its header and body queued")
t.eq(batch:frame(TYPES.ERR, 1, 70000, ""), 20 + #body, "an empty body")
local msg = batch:take()
t.eq(msg, "HEAD" .. string.pack(">I4BBI4", #body + 6, TYPES.REQ, 0, 9) .. body ..
  string.pack(">I4BBI4", 6, TYPES.ERR, 1, 70000), "take: the head and the frames, in the links' encoding")
t.eq(batch:take(), "HEAD", "taken: only the head is left")
t.raises(function() batch:frame(0, 0, 0, "") end, "an unknown type raises")

local ftype, flags, rid, fbody, after = rpc.frame_at(msg, 5, max)
t.eq({ ftype, flags, rid, fbody, after }, { TYPES.REQ, 0, 9, body, 5 + 10 + #body }, "frame_at: the first frame")
t.eq({ rpc.frame_at(msg, after, max) }, { TYPES.ERR, 1, 70000, "", #msg + 1 }, "and the next")
t.eq({ rpc.frame_at(msg:sub(1, -2), 5 + 10 + #body, max) }, { nil, "frame cut short" }, "a frame cut short")
t.eq({ rpc.frame_at(msg, 5, 8) }, { nil, "frame too large" }, "over max_frame: refused")
t.eq({ rpc.frame_at("HEAD\0\0\0\2", 5, max) }, { nil, "frame too short" }, "a length under 6: refused")

-- deliver_frames: every frame to its handler; answers leave the awaited slots; EVT bytes counted
local seen = {}
rpc.handle(TYPES.REQ, function(lid, id) seen[#seen + 1] = { "REQ", lid, id } end, "fields")
rpc.handle(TYPES.ERR, function(lid, id) seen[#seen + 1] = { "ERR", lid, id } end, "value")
rpc.handle(TYPES.EVT, function(lid) seen[#seen + 1] = { "EVT", lid } end, "fields")
local links, link = {}, {}
links[5] = link
local ev = assert(rpc.encode_event("items", "created", { id = 1 }, nil))
batch:frame(TYPES.REQ, 0, 9, body)
batch:frame(TYPES.EVT, 0, 0, ev)
batch:frame(TYPES.ERR, 0, 70000 + 65536, "")
batch:frame(TYPES.ERR, 0, 70000, "")
local awaited = { [70000 & 0xffff] = 70000, [3] = 3 }
local n, evt, bad = rpc.deliver_frames(5, batch:take(), 5, max, links, link, awaited)
t.eq({ n, evt, bad }, { 4, #ev }, "four frames, the event's bytes, nothing malformed")
t.eq(seen, { { "REQ", 5, 9 }, { "EVT", 5 }, { "ERR", 5, 70000 + 65536 }, { "ERR", 5, 70000 } },
  "each to its handler, in order")
t.eq(awaited, { [3] = 3 }, "the answer to an awaited request took it out; one for an older id in its slot did not")

seen = {}
rpc.handle(TYPES.REQ, function(lid, id)
  seen[#seen + 1] = id
  if id == 2 then links[5] = nil end -- the handler closes the link
end, "fields")
for id = 1, 3 do batch:frame(TYPES.REQ, 0, id, body) end
t.eq({ rpc.deliver_frames(5, batch:take(), 5, max, links, link) }, { 2, 0 }, "two frames handed over")
t.eq(seen, { 1, 2 }, "a link closed by a handler: the rest of the message is dropped")

links[5] = link
seen = {}
batch:frame(TYPES.REQ, 0, 1, body)
local cut = batch:take()
t.eq({ rpc.deliver_frames(5, cut .. "\0\0", 5, max, links, link) }, { 1, 0, "frame cut short" },
  "a malformed tail: the frames before it are delivered, then why")
t.eq(seen, { 1 }, "the whole frame was")

local prefix = require("fdn.nats_link").prefix
t.eq(prefix("default"), prefix("default"), "one prefix for a key")
t.check(prefix("default") ~= prefix("other"), "another for another key")
t.check(prefix("a.b *>"):match("^fdn%.%x+$") ~= nil, "any key makes a valid subject", prefix("a.b *>"))
t.eq(require("fdn.core.seal").new(), nil, "no secret: no sealer")

return t.done()
