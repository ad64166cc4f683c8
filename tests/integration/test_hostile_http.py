"""Hostile HTTP clients against the REST gateway (DESIGN §1.3, §5): a body over the limit is
refused (413) from its headers, before a byte of it is sent; JSON nested too deep is 400; query
strings that are huge, have too many parameters or make no sense are 4xx, never 500; headers
over 16 KiB are 431; a client that trickles a head that never ends gets 408 after
--http-timeout; methods are case-sensitive (400), an Expect other than 100-continue is 417, an
absolute-form target is routed by its path; a client that pipelines without reading, or does
not read a large answer, is bounded; past the 1024-connection cap the extra connections get 503
(or are closed), an idle one gives way, and the node answers again once they go. After every
case the node still answers."""
from netns import isolate

isolate()

import json  # noqa: E402
import os  # noqa: E402
import select  # noqa: E402
import socket  # noqa: E402
import time  # noqa: E402
from urllib.parse import quote  # noqa: E402

import fdntest  # noqa: E402
from fdntest import (Node, case, check, check_memory, eq, figure, finish, nfds, open_many, print_figures,  # noqa: E402
                     raise_nofile, rss_kb, wait_until)

T0 = time.monotonic()
BIG = "tests/integration/fixtures/hostile/big.lua"
LAB = "tests/integration/fixtures/lab.lua"
HTTP_TIMEOUT_MS = 1000

raise_nofile(4096)



def connect(port, timeout=5, rcvbuf=None):
    """A connection to the gateway, without Nagle's delay."""
    return fdntest.connect(port, timeout, rcvbuf, nodelay=True)


def read_response(s, seconds=5.0):
    """Reads one response (1xx interim answers skipped): (status, headers, body bytes), or
    (None, what happened, b"") on EOF, reset or timeout before a whole response."""
    buf = b""
    deadline = time.monotonic() + seconds
    while True:
        while b"\r\n\r\n" in buf:
            head, rest = buf.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            try:
                status = int(lines[0].split(" ")[1])
            except (IndexError, ValueError):
                return None, "bad status line %r" % lines[0], b""
            headers = {}
            for ln in lines[1:]:
                k, _, v = ln.partition(":")
                headers[k.strip().lower()] = v.strip()
            if 100 <= status < 200:
                buf = rest
                continue
            n = int(headers.get("content-length", "0"))
            while len(rest) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None, "timeout in the body", b""
                s.settimeout(left)
                try:
                    chunk = s.recv(65536)
                except OSError as e:
                    return None, type(e).__name__, b""
                if not chunk:
                    return None, "eof in the body", b""
                rest += chunk
            return status, headers, rest[:n]
        left = deadline - time.monotonic()
        if left <= 0:
            return None, "timeout", b""
        s.settimeout(left)
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            return None, "timeout", b""
        except OSError as e:
            return None, type(e).__name__, b""
        if not chunk:
            return None, "eof", b""
        buf += chunk


def raw(port, data, seconds=5.0):
    """Sends data on a fresh connection, reads one response: (status, headers, body)."""
    s = connect(port)
    try:
        s.sendall(data)
    except OSError:
        pass
    r = read_response(s, seconds)
    s.close()
    return r


def body_json(body):
    try:
        return json.loads(body)
    except ValueError:
        return None


def closed_within(s, seconds):
    """The seconds until the peer closes s (EOF or reset; data read meanwhile is discarded),
    or None."""
    t0 = time.monotonic()
    deadline = t0 + seconds
    while time.monotonic() < deadline:
        r, _, _ = select.select([s], [], [], max(0.0, deadline - time.monotonic()))
        if not r:
            continue
        try:
            if not s.recv(65536):
                return time.monotonic() - t0
        except OSError:
            return time.monotonic() - t0
    return None


def serving(label, n=None):
    n = n or node
    try:
        st = n.request("GET", "/echo/1", timeout=5)[0]
    except OSError as e:
        st = repr(e)
    eq((n.alive(), st), (True, 200), "%s: the node still answers afterwards" % label)


@case("the gate node starts and serves")
def _():
    global node, port, pid, base_rss, base_fds
    node = Node(BIG, LAB, name="gate", args=["--http-timeout", str(HTTP_TIMEOUT_MS)])
    port, pid = node.port, node.proc.pid
    serving("start")
    base_rss, base_fds = rss_kb(pid), nfds(pid)
    figure("baseline: VmRSS %d kB, %d fds" % (base_rss, base_fds))


@case("1. a body over the limit: 413 from the headers alone")
def _():
    for extra, label in ((b"", "plain"), (b"Expect: 100-continue\r\n", "with Expect: 100-continue")):
        s = connect(port)
        t = time.monotonic()
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + extra +
                  b"Content-Length: 104857600\r\n\r\n")
        st, h, b = read_response(s, 3)  # no byte of the body is ever sent
        took = time.monotonic() - t
        eq(st, 413, "1: Content-Length 100 MiB (%s): 413 before any body byte is sent" % label)
        eq((body_json(b) or {}).get("name"), "PayloadTooLarge", "1: 413 with Feathers' error JSON (%s)" % label)
        eq(h.get("connection") if isinstance(h, dict) else h, "close", "1: ... and the connection closes (%s)" % label)
        check(closed_within(s, 3) is not None, "1: the node closes the connection after its 413 (%s)" % label)
        s.close()
        figure("1. Content-Length 100 MiB (%s): %s after %.3f s, no body sent" % (label, st, took))
    st, _, _ = raw(port, b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n")
    check(st in (400, 413), "1: a Content-Length beyond 64 bits: 400 or 413", repr(st))
    st, _, _ = raw(port, b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1048577\r\n\r\n")
    eq(st, 413, "1: Content-Length one byte over --max-body (1 MiB): 413")


@case("1. chunked: refused once the chunks pass 1 MiB, without the node holding more than that")
def _():
    rss0 = rss_kb(pid)
    s = connect(port)
    s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"10000\r\n" + b" " * 0x10000 + b"\r\n"  # 64 KiB chunks
    sent = 0
    try:
        for _ in range(64):  # up to 4 MiB
            s.sendall(chunk)
            sent += 0x10000
    except OSError:
        pass
    st, _, _ = read_response(s, 3)
    s.close()
    eq(st, 413, "1: a chunked body growing past 1 MiB: 413")
    check_memory(rss_kb(pid) - rss0 <= 4096, "1: ... and the node did not buffer it (VmRSS +4 MiB at most)",
          "%d -> %d kB" % (rss0, rss_kb(pid)))
    figure("1. chunked body: 413 after %d bytes sent; VmRSS %d -> %d kB" % (sent, rss0, rss_kb(pid)))
    st, _, _ = raw(port,
                   b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\n")
    check(st in (400, 413), "1: a chunk size beyond 64 bits: 400 or 413", repr(st))
    serving("1")


@case("2. JSON nested too deep")
def _():
    for label, body in (("129 arrays", "[" * 129 + "]" * 129),
                        ("200 objects", '{"a":' * 200 + "1" + "}" * 200),
                        ("100000 open brackets", "[" * 100000),
                        ("500000 mixed, closed", '[{"a":' * 50000 + "1" + "}]" * 50000)):
        s, b, _ = node.request("POST", "/echo", raw=body, headers={"Content-Type": "application/json"})
        eq((s, (b or {}).get("name")), (400, "BadRequest"), "2: JSON of %s: 400" % label)
    # (into the memory store: echo's answer {data = ...} would be one level deeper than the limit)
    s, b, _ = node.request("POST", "/items", raw='{"a":' + "[" * 127 + "]" * 127 + "}",
                           headers={"Content-Type": "application/json"})
    eq(s, 201, "2: control: JSON nested 128 deep is accepted")
    if s == 201:  # find's answer (a list of records) would be one level too deep
        node.request("DELETE", "/items/%s" % b["id"])
    for label, body in (("invalid UTF-8", b"\xff\xfe{}"), ("NaN", b'{"a":NaN}'), ("1e999999", b'{"a":1e999999}'),
                        ("a NUL", b'{"a":"\x00"}'), ("a lone surrogate", b'{"a":"\\ud800"}'),
                        ("a 900 KiB string", b'{"a":"' + b"y" * (900 << 10) + b'"}')):
        s, b, _ = node.request("POST", "/echo", raw=body, headers={"Content-Type": "application/json"})
        check(s is not None and s < 500, "2: JSON with %s: not a 5xx" % label, "status %r: %r" % (s, b))
        figure("2. JSON with %s: %s" % (label, s))
    serving("2")


@case("3. query strings: huge, too many parameters, absurd")
def _():
    q100k = "a=" + "b" * (100 << 10)
    st, h, b = raw(port, ("GET /echo?%s HTTP/1.1\r\nHost: x\r\n\r\n" % q100k).encode())
    check(st in (400, 414, 431), "3: a 100 KiB query string in the URL: 400, 414 or 431", repr((st, b[:200])))
    figure("3. 100 KiB query string in the URL: %s %s" % (st, (body_json(b) or {}).get("message")))
    s, b, _ = node.request("POST", "/echo", raw=q100k, headers={"Content-Type": "application/x-www-form-urlencoded"})
    eq((s, (b or {}).get("name")), (400, "BadRequest"), "3: a 100 KiB urlencoded body (over qs's 64 KiB): 400")
    q15k = "a=" + "b" * (15 << 10)
    s, b, _ = node.request("GET", "/echo?" + q15k)
    eq((s, len(((b or {}).get("query") or {}).get("a", ""))), (200, 15 << 10),
       "3: control: a 15 KiB query string works")
    s, b, _ = node.request("GET", "/echo?" + "&".join("p%d=1" % i for i in range(1001)))
    eq((s, (b or {}).get("name")), (400, "BadRequest"), "3: 1001 parameters: 400")
    s, b, _ = node.request("GET", "/echo?" + "&".join("p%d=1" % i for i in range(1000)))
    eq((s, len((b or {}).get("query") or {})), (200, 1000), "3: control: 1000 parameters work")
    s, b, _ = node.request("GET", "/items?" + "&".join("$or[%d][a]=1" % i for i in range(1001)))
    eq(s, 400, "3: 1001 $or clauses: 400")
    # records of mixed types for the memory adapter's queries to compare
    for rec in ({"a": 1, "b": "x"}, {"a": "str", "b": [1, 2]}, {"a": {"b": 1}, "b": None}, {"a": None, "b": True},
                {"a": [1, "2", {"c": 3}], "b": 1.5}, {"a": True}, {"b": {"c": {"d": [None]}}}):
        node.request("POST", "/items", rec)
    absurd = ["a[b][c][d][e][f][g][h]=1", "%zz", "[", "]", "a[", "a]=1", "[]=1", "a[]=1&a[b]=2&a[0]=3", "a=%", "a=%z",
              "%00=1", "a=%00", "&&&", "=", "==", "a==b", "a[b]c=1", "a[999999999]=1", "a[-1]=1", "a[1e9]=1",
              "__proto__[x]=1", "constructor[prototype][x]=1", "a[__index]=1", "a[" + "[" * 2000 + "=1",
              "a" + "[b]" * 2000 + "=1", "%E0%A4%A", "%ED%A0%80=1", "a=\u00e9".encode().decode("latin-1"),
              "$limit=abc", "$limit=-1", "$limit=1e309", "$limit[$gt]=1", "$skip=-5", "$skip=abc", "$skip[]=1",
              "$sort=1", "$sort[a]=abc", "$sort[a][b]=1", "$sort[]=1", "$select=a", "$select[a]=1", "$select[][b]=1",
              "$or=1", "$or[a]=1", "$or[0]=1", "$or[0][$or][0][$or]=1", "$and=x", "$in=1", "a[$in]=1", "a[$in][b]=1",
              "a[$nin]=x", "a[$lt][b]=1", "a[$gt]=", "a[$ne][]=1", "a[$regex]=.*", "a[$unknown]=1", "$where=1",
              "a.b.c=1", "a..b=1", "a[$lt]=1&a[$gt]=x", "b[$lte]=1", "b[$in][]=1&b[$in][]=x", "a.c=1",
              "$sort[a]=1&$sort[b]=-1", "$sort[a.b]=1", "$select[]=a.b&$select[]=__index", "a[$ne]=1&$limit=0",
              "$limit=0", "$limit=99999999999999999999", "$skip=99999999999999999999",
              "$or[0][a][$gt]=1&$or[1][b][$lt]=x", "$and[0][$or][0][a]=1", "a[$gte][$gte]=1",
              "$sort[a]=1&$select[]=a&$limit=1&$skip=1", "id[$in][]=" + "&id[$in][]=".join(str(i) for i in range(900))]
    fivexx = []
    statuses = {}
    for q in absurd:
        for path in ("/items", "/echo", "/echo/1"):
            target = path + "?" + "".join(c if 0x21 <= ord(c) < 0x7f else quote(c) for c in q)
            try:
                st, b, _ = node.request("GET", target, timeout=5)
            except Exception as e:  # noqa: BLE001
                st, b = None, repr(e)
            statuses[st] = statuses.get(st, 0) + 1
            if st is None or st >= 500:
                fivexx.append((path, q[:60], st, (b or {}).get("message") if isinstance(b, dict) else b))
    eq(fivexx, [], "3: %d absurd query strings on 3 routes: never a 5xx" % len(absurd))
    figure("3. %d absurd query strings x 3 routes: statuses %s"
           % (len(absurd), dict(sorted(statuses.items(), key=lambda kv: str(kv[0])))))
    serving("3")


@case("4. headers over 16 KiB, too many headers, malformed heads")
def _():
    st, _, b = raw(port, b"GET /echo/1 HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (17 << 10) + b"\r\n\r\n")
    eq(st, 431, "4: one header of 17 KiB: 431")
    st, _, b = raw(port, b"GET /echo/1 HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 200)
                                                                         for i in range(90)) + b"\r\n")
    eq(st, 431, "4: 90 headers of 200 bytes (18 KiB): 431")
    st, _, b = raw(port, b"GET /echo/1 HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(101)) +
                   b"\r\n")
    eq(st, 431, "4: 102 header fields: 431")
    st, _, b = raw(port, b"GET /echo/1 HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (15 << 10) + b"\r\n\r\n")
    eq(st, 200, "4: control: a 15 KiB header is accepted")
    malformed = [
        (b"GET /echo/1 HTTP/1.1\r\nHost: x\r\nX-Nul: a\x00b\r\n\r\n", (400,), "a NUL in a header value"),
        (b"GET /echo/1 HTTP/1.1\r\nHost: x\r\nX-F: a\r\n b\r\n\r\n", (400,), "obs-fold"),
        (b"GET /echo/1 HTTP/1.1\nHost: x\n\n", (400,), "bare LF"),
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}", (400,),
         "Content-Length and Transfer-Encoding"),
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}", (400,),
         "two Content-Lengths"),
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", (400,), "Content-Length -1"),
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 0x10\r\n\r\n", (400,), "Content-Length 0x10"),
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", (501,), "gzip coding"),
        (b"GET /echo/1 HTTP/2.0\r\nHost: x\r\n\r\n", (505,), "HTTP/2.0"),
        (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", (400, 505), "the HTTP/2 preface"),
        (b"G\xc3\x89T /echo/1 HTTP/1.1\r\nHost: x\r\n\r\n", (400,), "a non-token method"),
        (b"GET /echo/1 HTTP/1.1\r\nHo st: x\r\n\r\n", (400,), "a space in a header name"),
        (b"GET /echo/1 HTTP/1.1\r\n: x\r\n\r\n", (400,), "an empty header name"),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(64), (400,), "a TLS ClientHello"),
        (os.urandom(4096), (400, 431, 501, 505), "4 KiB of random bytes"),
        (b"GET /%00 HTTP/1.1\r\nHost: x\r\n\r\n", (400, 404), "%00 in the path"),
        (b"GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n", (400, 404), "a dot-dot path"),
        (b"GET /echo/%zz HTTP/1.1\r\nHost: x\r\n\r\n", (400, 404), "%zz in the path"),
        (b"GET " + b"/a" * 4000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", (400, 404, 414, 431), "4000 path segments"),
    ]
    for data, ok, label in malformed:
        st, _, b = raw(port, data)
        check(st in ok, "4: %s: %s" % (label, " or ".join(map(str, ok))), "got %r %r" % (st, b[:160]))


@case("4. methods are case-sensitive, and only those Node knows are served (as Node does: 400)")
def _():
    for method in (b"get", b"Get", b"pOST", b"FOO", b"GETS"):
        st, _, b = raw(port, method + b" /echo/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        eq((st, (body_json(b) or {}).get("name")), (400, "BadRequest"), "4: method %r: 400" % method.decode())


@case("4. an expectation other than 100-continue: 417, the body not read")
def _():
    s = connect(port)
    s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 200-ok\r\n"
              b"Content-Length: 100000\r\n\r\n")
    st, h, b = read_response(s, 3)
    eq((st, (body_json(b) or {}).get("name")), (417, "ExpectationFailed"), "4: Expect: 200-ok: 417, before the body")
    eq(h.get("connection") if isinstance(h, dict) else h, "close", "4: ... and the connection closes")
    s.close()
    st, _, b = raw(port, b"GET /echo/1 HTTP/1.1\r\nHost: x\r\nExpect: whatever\r\n\r\n")
    eq(st, 417, "4: Expect: whatever on a GET: 417")
    st, _, b = raw(port, b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   b"Expect: 100-CONTINUE\r\nContent-Length: 7\r\n\r\n{\"a\":1}")
    eq((st, body_json(b)), (201, {"data": {"a": 1}}), "4: Expect: 100-CONTINUE (any case) is honoured")


@case("4. an absolute-form target is routed by its path and query")
def _():
    st, _, b = raw(port, b"GET http://127.0.0.1:%d/echo/7 HTTP/1.1\r\nHost: x\r\n\r\n" % port)
    eq((st, (body_json(b) or {}).get("id")), (200, "7"), "4: GET http://host:port/echo/7: routed to /echo/7")
    st, _, b = raw(port, b"GET HTTP://other/echo?a=1&b[c]=2 HTTP/1.1\r\nHost: x\r\n\r\n")
    eq((st, body_json(b)), (200, {"query": {"a": "1", "b": {"c": "2"}}}),
       "4: GET HTTP://other/echo?a=1&b[c]=2: find with its query")
    serving("4")


@case("5. a head that never ends, one byte per 100 ms: 408 after --http-timeout (1 s)")
def _():
    s = connect(port)
    s.sendall(b"GET /echo/1 HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    t = time.monotonic()
    got = None
    for i in range(60):  # 6 s at most
        try:
            s.send(b"a")
        except OSError:
            break
        r, _, _ = select.select([s], [], [], 0.1)
        if r:
            got = read_response(s, 2)
            break
    took = time.monotonic() - t
    s.close()
    eq(got and got[0], 408, "5: a head trickled one byte per 100 ms: 408")
    check(0.8 <= took <= 2.5, "5: ... after --http-timeout (1 s), though bytes keep coming", "%.2f s" % took)
    figure("5. slow head (1 byte / 100 ms): %s after %.2f s (%d bytes trickled)" % (got and got[0], took, i + 1))


@case("5. a body that stalls: 408")
def _():
    s = connect(port)
    s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
              b"{\"a\":")
    t = time.monotonic()
    got = read_response(s, 4)
    took = time.monotonic() - t
    s.close()
    eq(got[0], 408, "5: a body that stalls: 408")
    check(took <= 2.5, "5: ... after --http-timeout", "%.2f s" % took)
    figure("5. stalled body: %s after %.2f s" % (got[0], took))


@case("5. a connection that never sends a byte: closed (no answer owed)")
def _():
    s = connect(port)
    took = closed_within(s, 4)
    s.close()
    check(took is not None and took <= 2.5, "5: a silent connection is closed after --http-timeout", repr(took))
    figure("5. silent connection: closed after %s s" % ("%.2f" % took if took is not None else "-"))


@case("5. 200 slow heads at once: each gets its 408, the node keeps answering others meanwhile")
def _():
    slow = [connect(port) for _ in range(200)]
    for s in slow:
        s.sendall(b"GET /echo/1 HTTP/1.1\r\nHost: x\r\n")
    t = time.monotonic()
    serving("5 (during 200 slow heads)")
    results = {}
    for s in slow:
        st = read_response(s, 3)[0]
        results[st] = results.get(st, 0) + 1
        s.close()
    eq(results, {408: 200}, "5: 200 slow heads at once: each gets its 408")
    figure("5. 200 concurrent slow heads: %r within %.2f s" % (results, time.monotonic() - t))
    serving("5")


@case("6. clients that do not read: 60,000 pipelined requests, never read")
def _():
    # 60,000 pipelined requests, never reading the answers (~8 MB of them: more than the kernel's
    # socket buffers hold, 4 MiB at most here): the node stops reading (bounded), and drops the
    # client once its answers have waited --http-timeout
    N_PIPE = 60000
    rss0, fds0 = rss_kb(pid), nfds(pid)
    s = connect(port, rcvbuf=4096)
    s.setblocking(False)
    req = b"GET /echo/1 HTTP/1.1\r\nHost: x\r\n\r\n"
    data = req * N_PIPE
    off = 0
    deadline = time.monotonic() + 3
    while off < len(data) and time.monotonic() < deadline:
        try:
            off += s.send(data[off:off + 65536])
        except BlockingIOError:
            select.select([], [s], [], 0.1)
        except OSError:
            break
    rss1 = rss_kb(pid)
    serving("6 (while a pipelining client does not read)")
    dropped = wait_until(lambda: nfds(pid) <= fds0, 5)
    check(dropped, "6: a pipelining client that never reads is dropped (write timeout)",
          "fds %d -> %d" % (fds0, nfds(pid)))
    check_memory(rss1 - rss0 <= 4096, "6: VmRSS bounded while %d pipelined requests wait" % N_PIPE,
                 "%d -> %d kB" % (rss0, rss1))
    s.close()
    figure("6. %d pipelined requests, never read: %d of %d bytes taken by the kernel; VmRSS %d -> %d kB; "
           "dropped: %s" % (N_PIPE, off, len(data), rss0, rss1, bool(dropped)))


@case("6. 300 pipelined 64 KiB answers, never read")
def _():
    rss0, fds0 = rss_kb(pid), nfds(pid)
    s = connect(port, rcvbuf=4096)
    s.sendall(b"".join(b"GET /big/%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(300)))
    time.sleep(0.5)
    rss1 = rss_kb(pid)
    dropped = wait_until(lambda: nfds(pid) <= fds0, 5)
    check(dropped, "6: a client that does not read its 64 KiB answers is dropped", "fds %d -> %d" % (fds0, nfds(pid)))
    check_memory(rss1 - rss0 <= 4096, "6: VmRSS bounded while 300 big answers wait", "%d -> %d kB" % (rss0, rss1))
    s.close()
    figure("6. 300 pipelined 64 KiB answers, never read: VmRSS %d -> %d kB; dropped: %s" % (rss0, rss1, bool(dropped)))
    serving("6")


@case("the gate node overall: VmRSS bounded over every case; exit 0")
def _():
    end_rss, end_fds = rss_kb(pid), nfds(pid)
    figure("gate node overall: VmRSS %d -> %d kB, fds %d -> %d" % (base_rss, end_rss, base_fds, end_fds))
    check_memory(end_rss - base_rss <= 16 * 1024, "gate node: VmRSS growth at most 16 MiB over every case",
          "%d -> %d kB" % (base_rss, end_rss))
    eq(node.stop(), 0, "gate node exits 0 on SIGTERM")


@case("7. over the connection cap")
def _():
    # No flag sets the cap (fdnode --help): it is 1024. 1100 connections: 1024 are served, the others
    # get 503 or are closed; the node answers again once they go. (--http-max-per-addr 0 lifts the
    # per-address cap, so that one client can reach the gateway's; test_gateway_limits tests both.)
    cap = Node(BIG, name="capped", args=["--http-max-per-addr", "0"])
    cport, cpid = cap.port, cap.proc.pid
    serving("7 start", cap)
    fds0, rss0, lines0 = nfds(cpid), rss_kb(cpid), len(cap.log().splitlines())
    conns, _, t_open = open_many(cport, 1100, 100, "7")
    time.sleep(0.5)
    peak = nfds(cpid)
    told, closed, silent, names = 0, 0, [], set()
    poller = select.poll()
    for s in conns:
        poller.register(s, select.POLLIN)
    readable = {fd for fd, _ in poller.poll(0)}
    for s in conns:
        if s.fileno() not in readable:
            silent.append(s)
            continue
        st, h, b = read_response(s, 2)
        if st == 503:
            told += 1
            names.add((body_json(b) or {}).get("name"))
        elif st is None:
            closed += 1
        else:
            check(False, "7: an extra connection gets 503 or is closed", repr((st, b[:100])))
    eq(len(silent), 1024, "7: 1024 connections are held open (the cap)")
    check(names <= {"Unavailable"}, "7: the 503s are Feathers' Unavailable", repr(names))
    eq(told + closed, len(conns) - 1024, "7: each connection past the cap gets 503 or is closed")
    check(told > 0, "7: at least the first ones past the cap are told 503", "%d told, %d closed" % (told, closed))
    st, _, _ = raw(cport, b"GET /echo/1 HTTP/1.1\r\nHost: x\r\n\r\n", 3)
    check(st in (503, None), "7: a new connection while full, none of them idle: 503 (or closed)", repr(st))
    # a held connection is served while the cap is reached; kept alive, it is then the one idle
    s = silent[0]
    s.sendall(b"GET /echo/1 HTTP/1.1\r\nHost: x\r\n\r\n")
    eq(read_response(s, 3)[0], 200, "7: a connection within the cap is served while the gateway is full")
    st, _, _ = raw(cport, b"GET /echo/1 HTTP/1.1\r\nHost: x\r\n\r\n", 3)
    eq(st, 200, "7: a new connection while full is served in place of the idle one")
    check(closed_within(s, 2) is not None, "7: ... which is closed")
    for s in conns:
        s.close()
    back = wait_until(lambda: nfds(cpid) <= fds0 + 1, 5)
    fds1 = nfds(cpid)
    serving("7 (after the 1100 connections close)", cap)
    eq(bool(back), True, "7: the node's fd count goes back down (%d -> peak %d -> %d)" % (fds0, peak, fds1))
    rss1 = rss_kb(cpid)
    check_memory(rss1 - rss0 <= 8 * 1024, "7: VmRSS bounded (+8 MiB at most)", "%d -> %d kB" % (rss0, rss1))
    new = cap.log().splitlines()[lines0:]
    check(len(new) <= 20, "7: the log stays short (at most 20 lines)", "%d lines: %r" % (len(new), new[:3]))
    figure("7. 1100 connections (opened in %.2f s): %d held, %d told 503, %d closed; fds %d -> peak %d -> %d; "
           "VmRSS %d -> %d kB; %d log lines"
           % (t_open, len(silent), told, closed, fds0, peak, fds1, rss0, rss1, len(new)))
    eq(cap.stop(), 0, "capped node exits 0 on SIGTERM")


print("runtime: %.1f s" % (time.monotonic() - T0))
print_figures()
finish()
