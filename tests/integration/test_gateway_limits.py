"""No single client locks others out of the gateway (DESIGN §5): kept-alive connections close
after --http-idle-timeout (5 s by default); a client address holds at most --http-max-per-addr
connections (256), its idle ones closed first; a full gateway closes its oldest idle ones."""
from netns import isolate

isolate()

import json  # noqa: E402
import select  # noqa: E402
import socket  # noqa: E402
import time  # noqa: E402

from fdntest import Node, case, check, eq, figure, finish, print_figures, raise_nofile, wait_until  # noqa: E402

T0 = time.monotonic()
BIG = "tests/integration/fixtures/hostile/big.lua"
A, B = "127.0.0.1", "127.0.0.2"  # two clients: lo answers the whole of 127/8
N_HOLD = 1100  # over the gateway's 1024 connections

raise_nofile(4096)



def connect(port, source):
    """A connection to the gateway from the client address source."""
    s = socket.socket()
    s.settimeout(5)
    s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def ask(s, path, seconds=3.0):
    """Sends GET path on s (kept alive) and reads the answer: (status, body as JSON or None),
    or (None, what happened)."""
    try:
        s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode())
    except OSError as e:
        return None, type(e).__name__
    buf, deadline = b"", time.monotonic() + seconds
    while True:
        if b"\r\n\r\n" in buf:
            head, rest = buf.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            n = 0
            for ln in lines[1:]:
                k, _, v = ln.partition(":")
                if k.strip().lower() == "content-length":
                    n = int(v)
            if len(rest) >= n:
                try:
                    return int(lines[0].split(" ")[1]), json.loads(rest[:n] or b"null")
                except ValueError:
                    return None, "bad answer %r" % buf[:100]
        left = deadline - time.monotonic()
        if left <= 0:
            return None, "timeout"
        s.settimeout(left)
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            return None, "timeout"
        except OSError as e:
            return None, type(e).__name__
        if not chunk:
            return None, "eof"
        buf += chunk


def readable(s, seconds):
    p = select.poll()  # (select() cannot watch descriptors past 1023)
    p.register(s, select.POLLIN)
    return bool(p.poll(seconds * 1000))


def is_open(s):
    """The gateway has not closed s (no EOF, no reset) and has sent nothing unasked."""
    return not readable(s, 0)


def closed_within(s, seconds):
    """The seconds until the gateway closes s, or None."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        if readable(s, 0.05):
            try:
                if not s.recv(4096):
                    return time.monotonic() - t0
            except OSError:
                return time.monotonic() - t0
    return None


def span(indexes):
    return "%d open, #%s to #%s" % (len(indexes), indexes[0] if indexes else "-", indexes[-1] if indexes else "-")


def hold(port, n, label):
    """Client A opens n connections one after another, each asking one request and keeping
    the connection: the sockets, the statuses seen, and the seconds it took."""
    socks, statuses = [], {}
    t = time.monotonic()
    for i in range(n):
        try:
            s = connect(port, A)
        except OSError as e:
            check(False, "%s: connection %d opens" % (label, i), repr(e))
            break
        socks.append(s)
        st = ask(s, "/echo/%d" % i)[0]
        statuses[st] = statuses.get(st, 0) + 1
    return socks, statuses, time.monotonic() - t


def probe(port, label):
    """Client B asks once on a fresh connection: 200, well under a second."""
    t = time.monotonic()
    try:
        s = connect(port, B)
        st, body = ask(s, "/echo/b", 3)
        s.close()
    except OSError as e:
        st, body = None, repr(e)
    took = time.monotonic() - t
    eq(st, 200, "%s: another client (%s) is answered" % (label, B))
    check(took < 0.5, "%s: ... at once" % label, "%.3f s" % took)
    return st, took


@case("1. defaults: one client keeps 1100 connections alive after a request each")
def _():
    global node, port
    node = Node(BIG, name="gate")
    port = node.port
    # the other client keeps one connection alive too: it is closed 5 s after its answer
    kept = connect(port, B)
    eq(ask(kept, "/echo/idle")[0], 200, "1: a kept-alive request")
    t_kept = time.monotonic()
    socks, statuses, took = hold(port, N_HOLD, "1")
    eq(statuses, {200: N_HOLD}, "1: each of the %d connections of one client is answered" % N_HOLD)
    open_now = [i for i, s in enumerate(socks) if is_open(s)]
    eq(len(open_now), 256, "1: the client keeps 256 of them (--http-max-per-addr)")
    check(open_now == list(range(N_HOLD - 256, N_HOLD)), "1: ... the newest: its idle ones closed oldest first",
          span(open_now))
    st, ptook = probe(port, "1")
    eq(ask(socks[-1], "/echo/again")[0], 200, "1: a connection the client kept is still served")
    figure("1. one client, %d kept-alive connections opened in %.2f s: %r; %d left open; "
           "another client: %s in %.3f s" % (N_HOLD, took, statuses, len(open_now), st, ptook))
    closed = closed_within(kept, max(0.0, t_kept + 8 - time.monotonic()))
    idle = closed and time.monotonic() - t_kept
    kept.close()
    check(idle and 4.5 <= idle <= 6.5, "1: the kept-alive connection closes after 5 s idle (the default)",
          repr(idle))
    check(wait_until(lambda: not any(is_open(s) for s in socks), 2), "1: ... and so do the client's 256")
    for s in socks:
        s.close()
    figure("1. idle kept-alive connection closed after %s s (default)" % ("%.2f" % idle if idle else "-"))


@case("1. a client at its cap with no idle connection to give up: its next one is refused (503)")
def _():
    silent = [connect(port, A) for _ in range(256)]
    time.sleep(0.2)
    eq(sum(is_open(s) for s in silent), 256, "1: 256 connections that have not asked yet are held")
    s = connect(port, A)
    st, body = ask(s, "/echo/over")
    s.close()
    check(st in (503, None), "1: the client's 257th: 503 (or closed)", repr((st, body)))
    if st == 503:
        eq(body.get("name"), "Unavailable", "1: ... Feathers' Unavailable")
    probe(port, "1 (a client at its cap)")
    eq(sum(is_open(s) for s in silent), 256, "1: the client's held connections are left alone")
    for s in silent:
        s.close()
    figure("1. at the cap with nothing idle: %r" % ((st, body.get("message") if isinstance(body, dict) else body),))
    eq(node.stop(), 0, "gate node exits 0 on SIGTERM")


@case("2. no per-address cap: a full gateway closes its oldest idle connections")
def _():
    node = Node(BIG, name="full", args=["--http-max-per-addr", "0", "--http-idle-timeout", "60000"])
    port = node.port
    socks, statuses, took = hold(port, N_HOLD, "2")
    eq(statuses, {200: N_HOLD}, "2: each of the %d connections is answered (1024 slots)" % N_HOLD)
    open_now = [i for i, s in enumerate(socks) if is_open(s)]
    check(open_now == list(range(N_HOLD - 1024, N_HOLD)), "2: the newest 1024 are kept, the oldest idle closed first",
          span(open_now))
    st, ptook = probe(port, "2")
    check(not is_open(socks[N_HOLD - 1024]) and is_open(socks[N_HOLD - 1023]),
          "2: ... its connection took the place of the next oldest")
    eq(ask(socks[-1], "/echo/again")[0], 200, "2: a kept connection is still served")
    figure("2. no per-address cap, %d kept-alive connections in %.2f s: %r; %d left open; "
           "another client: %s in %.3f s" % (N_HOLD, took, statuses, len(open_now), st, ptook))
    for s in socks:
        s.close()
    eq(node.stop(), 0, "full node exits 0 on SIGTERM")


@case("3. --http-idle-timeout: the clock restarts at every answer")
def _():
    node = Node(BIG, name="short", args=["--http-idle-timeout", "700"])
    s = connect(node.port, A)
    seen = []
    for i in range(4):  # 1.6 s in all on one connection, never idle 700 ms
        seen.append(ask(s, "/echo/%d" % i)[0])
        time.sleep(0.4)
    eq(seen, [200] * 4, "3: a connection used every 400 ms stays open past 700 ms")
    eq(ask(s, "/echo/last")[0], 200, "3: ... and is served again")
    idle = closed_within(s, 3)
    s.close()
    check(idle is not None and 0.5 <= idle <= 1.5, "3: closed 700 ms after its last answer", repr(idle))
    figure("3. --http-idle-timeout 700: closed %s s after the last answer" % ("%.2f" % idle if idle else "-"))
    eq(node.stop(), 0, "short node exits 0 on SIGTERM")


print("runtime: %.1f s" % (time.monotonic() - T0))
print_figures()
finish()
