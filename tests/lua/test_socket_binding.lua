-- test_socket_binding.lua: fdn.core.socket as fdnode preloads it, on a node without a gateway (no
-- session exists): sends are "gone", emit reaches nobody, misuse raises (DESIGN §8). The
-- sessions themselves are tested end to end by test_socket_eio and test_hostile_socket.
local t = require "lib.t"
local socket = require "fdn.core.socket"

t.eq({ socket.send(1, 2, "/", nil, { "x" }) }, { nil, "gone" }, "send to no session")
t.eq({ socket.send(1, 2, "/", 5, { f = print }) }, { nil, "gone" }, "gone before encoding")
t.eq({ socket.ack(1, 5, { x = 1 }) }, { nil, "gone" }, "ack to no session")
t.eq({ socket.ack(1, 5) }, { nil, "gone" }, "ack of nothing to no session")
t.eq({ socket.emit({ 1, 2, 3 }, { "news", {} }) }, { 0 }, "emit to no session")
t.eq({ socket.emit({}, { "news" }) }, { 0 }, "emit to nobody")
t.eq(socket.count(), 0, "no session")
socket.close(42) -- an unknown id: nothing happens

t.raises(function() socket.send("x", 2) end, "a non-integer id")
t.raises(function() socket.send(1, 7) end, "packet type 7")
t.raises(function() socket.send(1, -1) end, "packet type -1")
t.raises(function() socket.send(1, 2, "admin") end, "a namespace without '/'")
t.raises(function() socket.send(1, 2, "/a,b") end, "a namespace with ','")
t.raises(function() socket.send(1, 2, "/" .. string.rep("a", 300)) end, "a namespace too long")
t.raises(function() socket.send(1, 3, "/", -2) end, "a negative ack id")
t.raises(function() socket.send(1, 3, "/", 1 << 53) end, "an ack id over 2^53 - 1")
t.raises(function() socket.ack(1, -1, {}) end, "ack: a negative ack id")
t.raises(function() socket.ack(1, nil, {}) end, "ack: no ack id")
t.raises(function() socket.emit(1, {}) end, "ids not a table")
t.raises(function() socket.emit({ 1 }) end, "no data")
t.raises(function() socket.close("x") end, "close of a non-integer")
return t.done()
