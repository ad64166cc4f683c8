"""Hostile Socket.IO clients on the gateway (issue 14): unmasked client frames are closed with
1002, a frame announcing a huge length with 1009 before any of it is allocated, a websocket or a
polling session that never reads while the server sends is closed once its output passes
--socket-max-buffer (and the node's memory stays bounded), and 10,000 idle websockets are held
(figure: resident memory per connection), and past --socket-max sessions handshakes get 503.
REST answers through all of it."""
from netns import isolate

isolate()

import json  # noqa: E402
import time  # noqa: E402

from eioclient import Polling, WebSocket, frame, open_payload, request  # noqa: E402
from fdntest import (Node, case, check, check_memory, eq, figure, finish, print_figures,  # noqa: E402
                     raise_nofile, rss_kb, wait_until)

ECHO = "tests/integration/fixtures/socket/echo.lua"
N_IDLE = 10000
raise_nofile(N_IDLE + 2000)
node = Node(ECHO, args=["--socket-max-buffer", "1048576", "--socket-ping-interval", "120000"])
P = node.port


def heard():
    status, body, _ = node.request("GET", "/socketlog")
    assert status == 200, status
    return body


def close_reason(sid, seconds=5):
    def find():
        log = heard()
        i = next((e["id"] for e in log if e["what"] == "open" and e["info"]["sid"] == sid), None)
        return next((e["reason"] for e in log if e["what"] == "close" and e["id"] == i), None)
    return wait_until(find, seconds)


def healthy(label):
    eq(node.request("GET", "/socketlog")[0], 200, "REST answers after " + label)


def ws_session(**kw):
    w = WebSocket(P, **kw)
    sid = open_payload(w.recv())["sid"]
    w.send("40")
    w.recv()
    return w, sid


@case("an unmasked client frame is closed with 1002")
def _():
    w, sid = ws_session()
    w.send_raw(frame(1, '42["x"]', mask=False))
    eq(w.close_code(), 1002, "close code")
    check((close_reason(sid) or "").startswith("protocol error"), "Lua's reason", close_reason(sid))
    healthy("an unmasked frame")


@case("a frame announcing 2^62 bytes (or 16 MB) is closed with 1009 at once, nothing allocated")
def _():
    before = rss_kb(node.proc.pid)
    for n in (1 << 62, 16 << 20):
        w, sid = ws_session()
        w.send_raw(frame(1, b"4", length=n))
        eq(w.close_code(), 1009, "close code for %d bytes" % n)
    grew = rss_kb(node.proc.pid) - before
    check_memory(grew < 4096, "no allocation for the announced length", "%d kB" % grew)
    healthy("huge lengths")


@case("fragments are joined, a ping frame gets its pong, then the session goes on")
def _():
    w, sid = ws_session()
    w.send_raw(frame(1, '421["fr', fin=False) + frame(9, b"hi") + frame(0, 'ag",', fin=False) +
               frame(0, '"ment"]'))
    op, data = w.recv_frame()
    eq((op, data), (10, b"hi"), "pong")
    eq(w.recv(), '431["frag","ment"]', "fragments joined")


@case("a websocket that never reads while the server floods it: closed past --socket-max-buffer")
def _():
    before = rss_kb(node.proc.pid)
    w, sid = ws_session(rcvbuf=4096)
    w.send('421["flood",3000,10000]')  # 30 MB toward a client that reads nothing
    eq(close_reason(sid, 10), "output buffer full", "Lua's reason")
    peak = rss_kb(node.proc.pid, "VmHWM:") - before
    figure("never-reading websocket: node peak RSS grew %d kB for 30 MB sent at a 1 MiB bound" % peak)
    check_memory(peak < 16 * 1024, "memory stays bounded", "%d kB" % peak)
    w.close()
    healthy("a flood")


@case("a polling session that never polls while the server sends: closed past the same bound")
def _():
    p = Polling(P)
    flooder, _ = ws_session()
    for _ in range(150):  # 150 broadcasts of 10 kB: 1.5 MB toward p
        flooder.send('42["broadcast","%s"]' % ("y" * 10000))
    eq(close_reason(p.sid, 10), "output buffer full", "Lua's reason")
    flooder.close()
    healthy("a polling flood")


@case("%d idle websockets: all open, resident memory per connection, all closed again" % N_IDLE)
def _():
    base = rss_kb(node.proc.pid)
    socks, t0 = [], time.monotonic()
    for i in range(N_IDLE):
        try:
            w = WebSocket(P, timeout=10)
            w.recv()
        except OSError as e:
            check(False, "connection %d opens" % i, repr(e))
            break
        socks.append(w)
    took = time.monotonic() - t0
    eq(len(socks), N_IDLE, "websockets open")
    w, _ = ws_session()
    w.send('421["count"]')
    eq(json.loads(w.recv_until("431*")[3:])[0], N_IDLE + 1, "socket.count()")
    time.sleep(0.5)
    grew = rss_kb(node.proc.pid) - base
    per = grew * 1024 / max(len(socks), 1)
    figure("%d idle websockets opened in %.1f s; node RSS +%d kB: %.0f bytes per connection"
           % (len(socks), took, grew, per))
    check_memory(per < 5000, "under 5 KB per idle connection (Feathers: about 50 KB)", "%.0f" % per)
    healthy("%d websockets" % N_IDLE)
    for s in socks:
        s.close()
    w.send('422["count"]')
    eq(wait_until(lambda: (w.send('423["count"]'), json.loads(w.recv_until("433*")[3:])[0])[1] == 1, 10),
       True, "all closed again: count() is 1")
    healthy("closing them")


@case("past --socket-max sessions, handshakes get 503; one closing makes room")
def _():
    small = Node(ECHO, args=["--socket-max", "2"])
    a, b = WebSocket(small.port), Polling(small.port)
    a.recv()
    eq(WebSocket(small.port).status, 503, "a third websocket")
    status, body, _ = request(small.port, "GET", "EIO=4&transport=polling")
    eq(status, 503, "a third polling session")
    a.close()
    eq(wait_until(lambda: request(small.port, "GET", "EIO=4&transport=polling")[0] == 200, 5), True,
       "room again once one has closed")
    eq(b.post("40"), (200, "ok"), "the others were untouched")
    small.stop()


print_figures()
finish()
