-- test_bindings.lua: the C bindings as fdnode preloads them: misuse raises, a runtime failure
-- is nil and a short lowercase word (DESIGN §8); fdn.core.rpc's LAYOUTS name the RPC bodies.
-- This node has no link and no gateway: every link and request is gone.
local t = require "lib.t"
local link = require "fdn.core.link"
local rpc = require "fdn.core.rpc"
local http = require "fdn.core.http"
local json = require "fdn.core.json"
local qs = require "fdn.core.qs"
local T = link.TYPES

t.eq(rpc.LAYOUTS.REQ, { "path", "method", "id", "data", "params" }, "a REQ body's fields")
t.eq(rpc.LAYOUTS.EVT, { "path", "event", "data", "meta" }, "an EVT body's fields")
t.check(link.request == nil and rpc.send == nil, "the transport and the codec are two modules")

-- runtime failures: nil and a word (and a detail where the caller needs one)
t.eq({ link.send(1, T.PING, 0, 0) }, { nil, "gone" }, "link.send on no link")
t.eq({ link.info(1) }, { nil, "gone" }, "link.info on no link")
t.eq({ link.pending(1) }, { nil, "gone" }, "link.pending on no link")
t.eq({ rpc.request(1, 0, "p", "get") }, { nil, "gone" }, "rpc.request on no link")
local ok, err, why = rpc.reply(1, T.RES, 0, { f = print })
t.check(ok == nil and err == "not json" and type(why) == "string", "rpc.reply of a function", why)
t.eq({ rpc.publish({ [1] = true }, "p", "created", {}) }, { 0 }, "rpc.publish to no link sends nothing")
t.eq({ http.respond(1, 200) }, { nil, "gone" }, "http.respond to a request that is gone")
t.eq({ json.decode("[1,") }, { nil, "unexpected end of input at 4" }, "json.decode of a cut list")
t.eq({ qs.method("TRACE", false) }, { nil, "not allowed" }, "qs.method of another method")

-- misuse raises
t.raises(function() link.send(0, T.PING, 0, 0) end, "link id 0")
t.raises(function() link.connect("127.0.0.1", 0) end, "port 0")
t.raises(function() rpc.request(1, 0, nil, "get") end, "a request without a path")
t.raises(function() rpc.publish(1, "p", "created") end, "publish to no set")
t.raises(function() rpc.handle(T.RES, print, "fields") end, "fields of a frame that has none")
t.raises(function() http.respond(1, 99) end, "status 99")
t.raises(function() json.encode() end, "json.encode of nothing")

-- fdn.core.json: null and array_mt shared with fdn.json (and a second open), round trips,
-- failures as nil and a message, misuse raising
local fj = require "fdn.json"
t.check(json.null == fj.null and json.array_mt == fj.array_mt and json.array_mt.__name == "fdn.json.array",
  "json: one null and one array_mt")
local s = json.encode({ a = setmetatable({ 1, 2.0 }, json.array_mt) })
t.eq(s, '{"a":[1,2.0]}', "json: an integer stays 1, a float 2.0")
t.eq(json.decode(s), { a = t.list { 1, 2.0 } }, "json: and back")
t.check(math.type(json.decode(s).a[2]) == "float", "json: 2.0 decodes as a float")
t.eq({ json.decode("[1,") }, { nil, "unexpected end of input at 4" }, "json: a failure is nil and where")
t.eq({ json.encode({ f = print }) }, { nil, "cannot encode value of type function" }, "json: what cannot be encoded")
t.eq(json.encode(string.rep("x", 100000)), '"' .. string.rep("x", 100000) .. '"', "json: a long string")
t.check(not pcall(json.decode) and not pcall(json.encode) and not pcall(json.decode, {}), "json: misuse raises")

return t.done()
