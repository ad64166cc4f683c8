-- test_rpc_encode.lua: what the NATS transport takes from fdn.core.rpc: the bodies the links'
-- encoders make (encode_request/value/event, --max-frame checked), rpc.deliver handing a frame
-- to its handler as a link's would go, and nats_link's subject prefix of a key.
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

local prefix = require("fdn.nats_link").prefix
t.eq(prefix("default"), prefix("default"), "one prefix for a key")
t.check(prefix("default") ~= prefix("other"), "another for another key")
t.check(prefix("a.b *>"):match("^fdn%.%x+$") ~= nil, "any key makes a valid subject", prefix("a.b *>"))
t.eq(require("fdn.core.seal").new(), nil, "no secret: no sealer")

return t.done()
