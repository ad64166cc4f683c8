-- link_binding.lua: the Lua side of tests/unit/test_link.c, checks of the link and RPC bindings
-- on a real loop. Called with the link binding (steps.rpc_binding gives the RPC codec's); returns
-- the steps, which the C test calls one at a time and runs the loop in between (a step raises
-- when a check fails; the *_in steps are what it waits for).
local link = ...
local rpc
local T = link.TYPES
local got       -- what the fast door's handlers received, by frame type
local OUT, IN   -- the fast door's pair: the outbound end and the inbound one
local subs      -- request ids the raising SUB handler saw, in order
local steps = {}

-- Misuse and failures of the plain binding, then a connection that says HELLO; returns its id.
function steps.binding(port)
  assert(T.HELLO == 1 and T.PEERS == 11 and T.BYE == 10)
  local p, err = link.listen('127.0.0.1', port)
  assert(p == nil and err == 'invalid address', err) -- already listening
  assert(select(2, link.connect('nope', 1)) == 'invalid address')
  assert(not pcall(link.send, 1, 99, 0, 0, ''))
  assert(not pcall(link.send, 1, 1, 256, 0, ''))
  assert(not pcall(link.send, 1, 1, 0, 2^32, ''))
  assert(select(2, link.send(999999, 1, 0, 0, '')) == 'gone')
  assert(select(2, link.ready(999999)) == 'gone')
  assert(select(2, link.close(999999)) == 'gone')
  local none, why = link.info(999999)
  assert(none == nil and why == 'gone')
  none, why = link.pending(999999)
  assert(none == nil and why == 'gone')
  local id = assert(link.connect('127.0.0.1', port))
  assert(link.send(id, T.HELLO, 0, 0, '{"lua":true}'))
  local i = link.info(id)
  assert(i.ip == '127.0.0.1' and i.port == port and i.inbound == false)
  assert(select(2, link.send(id, 3, 0, 0, string.rep('x', 70000))) == 'too large')
  return id
end

-- Stats of everything before, then the link of steps.binding closed and the listener stopped.
function steps.finish(id)
  local s = link.stats()
  assert(s.links >= 2 and s.frames_in > 0 and s.frames_out > 0)
  assert(s.closes['slow consumer'] == 1 and s.protocol_errors >= 5)
  assert(link.ready(id) and link.info(id).ready)
  assert(link.close(id, 'done', true))
  assert(link.info(id) == nil)
  link.stop_listening()
end

-- The RPC codec's binding (fdn.core.rpc), for the fast door's steps.
function steps.rpc_binding(binding)
  rpc = binding
end

-- The fast door: handlers for HELLO (which readies the link), REQ, RES and EVT.
function steps.handlers()
  got = { hello = 0 }
  local L = rpc.LAYOUTS
  assert(table.concat(L.REQ, ' ') == 'path method id data params')
  assert(table.concat(L.EVT, ' ') == 'path event data meta')
  assert(not pcall(rpc.handle, 99, print))
  assert(not pcall(rpc.handle, T.REQ, print, 5)) -- counts come from LAYOUTS
  assert(not pcall(rpc.handle, T.RES, print, 'fields')) -- RES has none
  assert(not pcall(rpc.handle, T.REQ, print, 'bogus'))
  assert(not pcall(rpc.handle, T.REQ, 'nope'))
  rpc.handle(T.HELLO, function(lid, t, flags, rid, body)
    assert(t == T.HELLO and body == '{}')
    got.hello = got.hello + 1
    link.ready(lid)
  end)
  rpc.handle(T.REQ, function(...) got.req = table.pack(...) end, 'fields')
  rpc.handle(T.RES, function(...) got.res = table.pack(...) end, 'value')
  rpc.handle(T.EVT, function(...) got.evt = table.pack(...) end, 'fields')
end

function steps.hellos_in() return got.hello == 2 end
function steps.req_in() return got.req ~= nil end
function steps.res_in() return got.res ~= nil end
function steps.res10_in() return got.res ~= nil and got.res[2] == 10 end
function steps.evt_in() return got.evt ~= nil end
function steps.two_subs_in() return #subs >= 2 end

-- The pair the C test connected, once both HELLOs are in.
function steps.pair(out_id, in_id)
  OUT, IN = out_id, in_id
end

-- REQ: [path, method, id, data, params]; params keep only their JSON fields.
function steps.request_get()
  assert(rpc.request(OUT, 7, 'echo', 'get', 42, nil,
    { user = { id = 1 }, fn = print, out = io.stdout, [1] = 'x' }))
end

function steps.got_get_request_create()
  local r = got.req
  assert(r.n == 7 and r[1] == IN and r[2] == 7 and r[3] == 'echo' and r[4] == 'get')
  assert(r[5] == 42 and r[6] == nil and r[7].user.id == 1)
  assert(r[7].fn == nil and r[7].out == nil and r[7][1] == nil)
  got.req = nil
  assert(rpc.request(OUT, 8, 'echo', 'create', nil, { a = 1 }))
end

function steps.got_create_send_no_list()
  local r = got.req
  assert(r[2] == 8 and r[5] == nil and r[6].a == 1 and r[7] == nil)
  local ok, err, why = rpc.request(OUT, 9, 'echo', 'create', nil, { f = print })
  assert(ok == nil and err == 'not json' and type(why) == 'string', why)
  assert(select(2, rpc.request(999999, 9, 'p', 'get')) == 'gone')
  local no, big, size = rpc.request(OUT, 9, 'p', 'get', nil, ('x'):rep(70000))
  assert(no == nil and big == 'too large' and size > 70000, size)
  assert(not pcall(rpc.request, OUT, 9, nil, 'get'))
  got.req = nil
  assert(link.send(OUT, T.REQ, 0, 10, '{"not":"a list"}'))
end

function steps.got_no_list()
  local r = got.req
  assert(r[2] == 10 and r[3] == nil and r[4] == nil and r[7] == nil)
end

-- RES: the decoded value, nil for an empty body, err for a malformed one.
function steps.reply_value()
  assert(rpc.reply(IN, T.RES, 7, { id = 42, text = 'hi' }))
end

function steps.got_value_reply_empty()
  local r = got.res
  assert(r[1] == OUT and r[2] == 7 and r[3].text == 'hi' and r[4] == nil)
  got.res = nil
  assert(rpc.reply(IN, T.RES, 8))
end

function steps.got_empty_reply_malformed()
  local r = got.res
  assert(r.n == 2 and r[2] == 8)
  got.res = nil
  assert(rpc.reply(IN, T.RES, 9))
  assert(link.send(IN, T.RES, 0, 10, '{bad'))
  local ok, err = rpc.reply(IN, T.RES, 11, { f = print })
  assert(ok == nil and err == 'not json')
end

function steps.got_malformed()
  local r = got.res
  assert(r[3] == nil and type(r[4]) == 'string' and r[4]:find('at 2'), r[4])
end

-- EVT: one body for the whole set; links that are gone leave it.
function steps.publish()
  local set = { [IN] = true, [999999] = true }
  assert(rpc.publish(set, 'echo', 'created', { seq = 1 }) == 1)
  assert(set[IN] and set[999999] == nil)
  assert(select(2, rpc.publish(set, 'echo', 'x', { f = print })) == 'not json')
end

function steps.got_evt()
  local r = got.evt
  assert(r[1] == OUT and r[2] == 0 and r[3] == 'echo' and r[4] == 'created')
  assert(r[5].seq == 1 and r[6] == nil)
end

-- A SUB handler that raises on request id 2.
function steps.raising_handler()
  subs = {}
  rpc.handle(T.SUB, function(lid, t, flags, rid)
    subs[#subs + 1] = rid
    if rid == 2 then error('handler bug') end
  end)
end

function steps.got_three_subs()
  assert(#subs == 3 and subs[1] == 1 and subs[2] == 2 and subs[3] == 3)
end

return steps
