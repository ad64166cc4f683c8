"""Engine.IO v4 on the gateway's port (/socket.io/), spoken raw from Python: the polling
handshake and the direct websocket one, polling GET/POST with batched packets and a held GET,
the upgrade from polling with its probe, ping/pong and the ping timeout, maxPayload on both
transports, the reference server's errors, Lua's view (open info, packets, close reasons,
socket.send/emit/close/count through the echo fixture), and a stop that closes every session
at once. REST keeps answering throughout."""
from netns import isolate

isolate()

import json  # noqa: E402
import re  # noqa: E402
import signal  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

from eioclient import Polling, WebSocket, open_payload, request  # noqa: E402
from fdntest import Node, case, check, eq, finish, wait_until  # noqa: E402

ECHO = "tests/integration/fixtures/socket/echo.lua"
node = Node(ECHO, args=["--cors", "http://app.example", "--socket-ping-interval", "400", "--socket-ping-timeout", "300",
                        "--socket-max-payload", "2000"])
P = node.port


def heard():
    status, body, _ = node.request("GET", "/socketlog")
    assert status == 200, status
    return body


def polling_session():
    """A polling session past its CONNECT (the CONNECT's answer read)."""
    p = Polling(P)
    p.post("40")
    p.get()
    return p


def hold_get(p):
    """A GET of p in a thread of its own: (the thread, the list its answer lands in)."""
    got = []
    t = threading.Thread(target=lambda: got.append(p.get()))
    t.start()
    return t, got


def lua_id(sid):
    """Lua's id of the session with this Engine.IO sid (from its "open")."""
    for e in heard():
        if e["what"] == "open" and e["info"]["sid"] == sid:
            return e["id"]
    return None


def close_reason(sid, seconds=3):
    """The reason Lua was given when sid closed, waiting for it; None if it never closed."""
    def find():
        i = lua_id(sid)
        return next((e["reason"] for e in heard() if e["what"] == "close" and e["id"] == i), None)
    return wait_until(find, seconds)


def healthy(label):
    eq(node.request("GET", "/socketlog")[0], 200, "REST answers after " + label)


def ws_session():
    """A direct websocket session, connected to "/": (ws, sid)."""
    w = WebSocket(P)
    sid = open_payload(w.recv())["sid"]
    w.send("40")
    check(w.recv().startswith("40{"), "CONNECT answered")
    return w, sid


@case("polling handshake: the open packet, text/plain, and Lua's open with the request's info")
def _():
    status, body, headers = request(P, "GET", "EIO=4&transport=polling&t=abc", headers={"X-Who": "me"})
    eq(status, 200, "handshake status")
    eq(headers.get("content-type"), "text/plain; charset=UTF-8", "content type")
    o = open_payload(body)
    check(re.fullmatch(r"[A-Za-z0-9_-]{20}", o["sid"]) is not None, "sid: 20 base64url characters", o["sid"])
    eq({k: v for k, v in o.items() if k != "sid"},
       {"upgrades": ["websocket"], "pingInterval": 400, "pingTimeout": 300, "maxPayload": 2000},
       "open packet")
    info = next(e["info"] for e in heard() if e["what"] == "open" and e["info"]["sid"] == o["sid"])
    eq((info["transport"], info["query"], info["address"], info["headers"].get("x-who")),
       ("polling", "EIO=4&transport=polling&t=abc", "127.0.0.1", "me"), "Lua's open info")
    status, _, headers = request(P, "GET", "EIO=4&transport=polling", headers={"Origin": "http://app.example"})
    eq(headers.get("access-control-allow-origin"), "http://app.example", "CORS (--cors) on a handshake")
    status, _, headers = request(P, "OPTIONS", "EIO=4&transport=polling", headers={
        "Origin": "http://app.example", "Access-Control-Request-Method": "POST"})
    eq((status, headers.get("access-control-allow-origin")), (204, "http://app.example"), "a preflight")
    sids = {Polling(P).sid for _ in range(20)}
    eq(len(sids), 20, "every sid differs")


@case("direct websocket: 101, the open packet first (no upgrades), CONNECT and an acked EVENT")
def _():
    w = WebSocket(P)
    eq(w.status, 101, "status")
    o = open_payload(w.recv())
    eq(o["upgrades"], [], "no upgrade from websocket")
    w.send("40")
    eq(w.recv(), '40{"sid":"s%d"}' % lua_id(o["sid"]), "CONNECT answered by Lua")
    w.send('4212["echo",{"a":[1,2.5,null,"\u00e9"]}]')
    eq(json.loads(w.recv_until("4312*")[4:]), ["echo", {"a": [1, 2.5, None, "\u00e9"]}], "ACK 12")
    w.send('42/admin,7["x"]')
    eq(w.recv_until("43/admin,7*"), '43/admin,7["x"]', "namespace and id kept")
    info = next(e["info"] for e in heard() if e["what"] == "open" and e["info"]["sid"] == o["sid"])
    eq(info["transport"], "websocket", "Lua's open says websocket")
    w.close()
    eq(close_reason(o["sid"]), "transport close", "Lua's close reason after EOF")
    healthy("websockets")


@case("polling: POSTed packets batched, answers batched in one GET, a GET held until a packet comes")
def _():
    p = Polling(P)
    eq(p.post("40", '421["a"]', '422["b"]', "3"), (200, "ok"), "POST of 4 packets")
    status, pkts = p.get()
    eq((status, pkts[1:]), (200, ['431["a"]', '432["b"]']), "one GET, three packets")
    check(pkts[0].startswith("40{"), "CONNECT first", pkts)
    t, got = hold_get(p)
    time.sleep(0.15)
    check(not got, "the GET is held while nothing is queued")
    w, _ = ws_session()
    w.send('421["broadcast",{"n":1}]')
    t.join(5)
    check(got and got[0][1][0] == '42["news",{"n":1}]', "the held GET gets the broadcast", got)
    n = json.loads(w.recv_until("431*")[3:])[0]
    check(n >= 2, "emit says how many got it (both of these, at least)", n)
    w.close()


@case("polling: a second GET at the same time is 400 and ends the session; unknown methods 400")
def _():
    p = polling_session()
    t, got = hold_get(p)
    time.sleep(0.1)
    status, body = p.get()
    t.join(5)
    eq(status, 400, "the overlapping GET")
    eq(got and got[0], (200, ["1"]), "the held GET is told close")
    eq(close_reason(p.sid), "transport error", "Lua's reason")
    eq(request(P, "GET", p.q())[0:2], (400, '{"code":1,"message":"Session ID unknown"}'), "then unknown")
    q = Polling(P)
    eq(request(P, "PUT", q.q(), body=b"x")[0], 400, "PUT with a sid")


@case("upgrade: 2probe/3probe, the held GET released with a noop, 5 moves the session and its queue")
def _():
    p = polling_session()
    t, held = hold_get(p)
    time.sleep(0.1)
    w = WebSocket(P, sid=p.sid)
    eq(w.status, 101, "upgrade status")
    w.send("2probe")
    eq(w.recv(), "3probe", "probe answered")
    t.join(5)
    eq(held and held[0], (200, ["6"]), "the held GET gets a noop")
    other, _ = ws_session()
    other.send('421["broadcast","while upgrading"]')
    other.recv_until("431*")
    w.send("5")
    eq(w.recv_until('42["news"*'), '42["news","while upgrading"]', "the queue flushed on the websocket")
    w.send('429["after"]')
    eq(w.recv_until("439*"), '439["after"]', "the session goes on over the websocket")
    eq(request(P, "GET", p.q())[0:2], (400, '{"code":3,"message":"Bad request"}'), "polling after upgrade")
    eq(WebSocket(P, sid=p.sid).status, 400, "a second upgrade")
    eq(lua_id(p.sid) is not None and close_reason(p.sid, 0.2), None, "still open")
    w.send("1")
    eq(w.close_code(), 1000, "client close answered with 1000")
    eq(close_reason(p.sid), "client close", "Lua's reason")
    other.close()


@case("heartbeat: pings every pingInterval, kept alive by pongs; no pong closes ('ping timeout')")
def _():
    w, sid = ws_session()
    w.autopong = False
    t0 = time.monotonic()
    pings = 0
    while time.monotonic() - t0 < 1.5:
        if w.recv() == "2":
            pings += 1
            w.send("3")
    check(3 <= pings <= 4, "3 or 4 pings in 1.5 s at 400 ms", pings)
    eq(close_reason(sid, 0.1), None, "alive while it answers")
    t1 = time.monotonic()
    eq(w.close_code(), 1000, "closed after a missed pong")
    check(time.monotonic() - t1 < 1.2, "within pingInterval + pingTimeout", time.monotonic() - t1)
    eq(close_reason(sid), "ping timeout", "Lua's reason")
    p = Polling(P)
    eq(close_reason(p.sid, 1.5), "ping timeout", "a polling session that never polls times out too")
    eq(request(P, "GET", p.q())[0], 400, "its sid is then unknown")


@case("maxPayload: a POST over it is 413 and ends the session; a websocket message over it 1009")
def _():
    p = Polling(P)
    status, _ = p.post('42["' + "x" * 2100 + '"]')
    eq(status, 413, "POST over maxPayload")
    eq(close_reason(p.sid), "transport error", "the session ends")
    q = Polling(P)
    eq(q.post("40", '42["' + "x" * 1900 + '"]')[0], 200, "a POST just under it")
    w, sid = ws_session()
    w.send('42["' + "x" * 2100 + '"]')
    eq(w.close_code(), 1009, "websocket message over maxPayload")
    check((close_reason(sid) or "").startswith("protocol error"), "Lua's reason", close_reason(sid))
    healthy("maxPayload")


@case("malformed packets end the session: bad Engine.IO type, bad Socket.IO packet, bad JSON")
def _():
    for bad in ["9", "4x", '42["unterminated', '42{"not":"an array"}']:
        w, sid = ws_session()
        w.send(bad)
        eq(w.close_code(), 1002, "closed after %r" % bad)
        eq(close_reason(sid), "parse error", "Lua's reason after %r" % bad)
    p = Polling(P)
    eq(p.post("40", "")[0], 400, "an empty packet in a POST")
    eq(close_reason(p.sid), "parse error", "Lua's reason")


@case("errors as the reference server gives them")
def _():
    def err(method, q, headers=None):
        status, body, h = request(P, method, q, headers=headers)
        return status, json.loads(body)
    eq(err("GET", "EIO=4&transport=carrier-pigeon"), (400, {"code": 0, "message": "Transport unknown"}), "0")
    eq(err("GET", "EIO=4"), (400, {"code": 0, "message": "Transport unknown"}), "0 (none)")
    eq(err("GET", "EIO=4&transport=polling&sid=nope"), (400, {"code": 1, "message": "Session ID unknown"}), "1")
    eq(err("POST", "EIO=4&transport=polling"), (400, {"code": 2, "message": "Bad handshake method"}), "2")
    eq(err("GET", "EIO=4&transport=websocket"), (400, {"code": 3, "message": "Bad request"}), "3")
    eq(err("GET", "EIO=3&transport=polling"), (400, {"code": 5, "message": "Unsupported protocol version"}), "5")
    eq(err("GET", "transport=polling"), (400, {"code": 5, "message": "Unsupported protocol version"}), "5 (none)")
    eq(WebSocket(P, key="").status, 400, "no Sec-WebSocket-Key")
    eq(WebSocket(P, key="not base64 of 16 bytes").status, 400, "a bad Sec-WebSocket-Key")
    eq(WebSocket(P, key="AAAAAAAAAAAAAAAAAAAA").status, 400, "a key of 15 bytes")
    eq(WebSocket(P, version="8").status, 400, "Sec-WebSocket-Version 8")
    eq(WebSocket(P, version="").status, 400, "no Sec-WebSocket-Version")
    eq(WebSocket(P, sid="nope").status, 400, "an upgrade of an unknown sid")
    healthy("bad handshakes")


@case("Lua: socket.count, 'not json', socket.close ('forced close')")
def _():
    w, sid = ws_session()
    w.send('421["count"]')
    n = json.loads(w.recv_until("431*")[3:])[0]
    check(n >= 1, "count() counts this session", n)
    w.send('425["notjson"]')
    eq(w.recv_until("435*"), '435["not json","not json"]', "send and emit of a function")
    w.send('422["bye"]')
    eq(w.close_code(), 1000, "socket.close sends a close frame")
    eq(close_reason(sid), "forced close", "Lua's reason")


@case("Lua heard one close for every session it saw open")
def _():
    log = heard()
    opened = {e["id"] for e in log if e["what"] == "open"}
    closes = [e["id"] for e in log if e["what"] == "close"]
    eq(len(closes), len(set(closes)), "no session closed twice")
    check(set(closes) <= opened, "closes only of opened sessions")


@case("SIGTERM: the held GET is told close, websockets get 1001, the node exits at once")
def _():
    p = polling_session()
    t, held = hold_get(p)
    w, _ = ws_session()
    time.sleep(0.1)
    t0 = time.monotonic()
    node.signal(signal.SIGTERM)
    eq(w.close_code(), 1001, "websocket: going away")
    t.join(5)
    eq(held and held[0], (200, ["1"]), "polling: the close packet")
    code = node.stop(10)
    eq(code, 0, "exit code")
    check(time.monotonic() - t0 < 2.0, "exits within 2 s", time.monotonic() - t0)


finish()
