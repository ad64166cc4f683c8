"""fdn.http.request against servers this test starts (a raw HTTP/1.1 server it controls byte by
byte, and the same behind TLS with a CA made here with `openssl`): headers both ways, chunked and
close-framed bodies, keep-alive reuse, TLS verification, a slow server (the node stays
responsive), a huge response (bounded memory), a close mid-response, redirects, concurrency."""
from netns import isolate

isolate()

import json
import os
import socket
import ssl
import subprocess
import tempfile
import threading
import time

from fdntest import Node, case, check, check_memory, eq, figure, finish, rss_kb

CONNS = {"n": 0}
STOP = threading.Event()


def read_request(f):
    line = f.readline(65536)
    if not line:
        return None
    method, target, _ = line.decode().split(" ", 2)
    headers = {}
    while True:
        h = f.readline(65536).decode()
        if h in ("\r\n", "\n", ""):
            break
        k, v = h.split(":", 1)
        headers[k.strip().lower()] = v.strip()
    body = f.read(int(headers.get("content-length", "0")))
    return method, target, headers, body


def answer(conn, f, req):
    """Writes the answer of one request; False when the connection must close."""
    method, target, headers, body = req
    path = target.split("?")[0]

    def send(status, payload, extra=b"", ctype=b"application/json"):
        conn.sendall(b"HTTP/1.1 " + status + b"\r\nContent-Type: " + ctype + b"\r\nContent-Length: " +
                     str(len(payload)).encode() + b"\r\n" + extra + b"\r\n" + payload)

    if path == "/echo":
        send(b"200 OK", json.dumps({"method": method, "target": target, "headers": headers,
                                    "body": body.decode()}).encode(),
             b"X-Reply: one\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n")
    elif path == "/chunked":
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
                     b"7;ext=1\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n")
    elif path == "/close":
        conn.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nread until close")
        return False
    elif path == "/slow":
        STOP.wait(3)
        send(b"200 OK", b"late")
    elif path == "/huge":  # chunked, without end: the client must stop reading
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"%x\r\n" % 65536 + b"x" * 65536 + b"\r\n"
        try:
            for _ in range(2000):  # 128 MiB at most
                conn.sendall(chunk)
        except OSError:
            pass
        return False
    elif path == "/cut":
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nonly a few bytes")
        return False
    elif path == "/fold":
        conn.sendall(b"HTTP/1.1 200 OK\r\nX-A: a\r\n folded\r\nContent-Length: 0\r\n\r\n")
        return False
    elif path == "/stale":
        send(b"200 OK", b"kept", ctype=b"text/plain")
    elif path == "/redirect":
        send(b"302 Found", b"", b"Location: /echo?from=redirect\r\n")
    elif path == "/see-other":
        send(b"303 See Other", b"", b"Location: http://127.0.0.1:%d/echo?from=303\r\n" % PLAIN_PORT)
    elif path == "/loop":
        send(b"307 Temporary Redirect", b"", b"Location: /loop\r\n")
    elif path == "/wait":
        time.sleep(0.3)
        send(b"200 OK", target.encode(), ctype=b"text/plain")
    else:
        send(b"404 Not Found", b"{}")
    return True


def serve_conn(conn):
    CONNS["n"] += 1
    try:
        f = conn.makefile("rb")
        stale = False
        for _ in range(1000):
            req = read_request(f)
            if req is None or stale:  # /stale: the next request on it finds it closed
                break
            stale = req[1] == "/stale"
            if not answer(conn, f, req):
                break
    except (OSError, ValueError, ssl.SSLError):
        pass
    finally:
        try:
            conn.close()
        except OSError:
            pass


def start_server(ctx=None, host="127.0.0.1"):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, 0))
    ls.listen(64)

    def loop():
        while not STOP.is_set():
            try:
                c, _ = ls.accept()
            except OSError:
                return
            if ctx:
                try:
                    c.settimeout(5)
                    c = ctx.wrap_socket(c, server_side=True)
                    c.settimeout(None)
                except (OSError, ssl.SSLError):
                    c.close()
                    continue
            threading.Thread(target=serve_conn, args=(c,), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()
    return ls, ls.getsockname()[1]


def make_ca(d):
    """A CA and a server certificate for 127.0.0.1 and localhost, and a second CA."""
    def run(*args):
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)
    for ca in ("ca", "other"):
        run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
            "-subj", "/CN=fdnode test %s" % ca, "-keyout", ca + ".key", "-out", ca + ".pem")
    run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=localhost",
        "-keyout", "server.key", "-out", "server.csr")
    with open(os.path.join(d, "ext.cnf"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-days", "2", "-extfile", "ext.cnf", "-out", "server.pem")


TMP = tempfile.mkdtemp(prefix="fdn-httpc-")
make_ca(TMP)
sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
sctx.load_cert_chain(os.path.join(TMP, "server.pem"), os.path.join(TMP, "server.key"))
_, PLAIN_PORT = start_server()
_, TLS_PORT = start_server(sctx, "0.0.0.0")  # all of 127.0.0.0/8 (only lo in this namespace)
CA = os.path.join(TMP, "ca.pem")
OTHER_CA = os.path.join(TMP, "other.pem")
node = Node("tests/integration/fixtures/http_client.lua")
BASE = "http://127.0.0.1:%d" % PLAIN_PORT


def fetch(opts, timeout=20):
    return node.request("POST", "/fetch", opts, timeout=timeout)


@case("GET and POST: headers and bodies both ways")
def _():
    s, b, _ = fetch({"url": BASE + "/echo?q=1", "headers": {"X-Token": "abc"}})
    eq(s, 201, "the service answered")
    eq(b["status"], 200, "status 200")
    sent = json.loads(b["body"])
    eq((sent["method"], sent["target"], sent["headers"].get("x-token")), ("GET", "/echo?q=1", "abc"),
       "method, target and a header reached the server")
    eq(sent["headers"].get("host"), "127.0.0.1:%d" % PLAIN_PORT, "Host header")
    eq(b["headers"].get("x-reply"), "one", "a response header, lower-cased")
    eq(b["headers"].get("set-cookie"), "a=1, b=2", "repeated headers joined")
    s, b, _ = fetch({"method": "POST", "url": BASE + "/echo", "body": {"a": 1}})
    sent = json.loads(b["body"])
    eq((sent["method"], sent["body"], sent["headers"].get("content-type")),
       ("POST", '{"a":1}', "application/json"), "a table body goes as JSON")
    s, b, _ = fetch({"method": "PUT", "url": BASE + "/echo", "body": "raw text"})
    eq(json.loads(b["body"])["body"], "raw text", "a string body as is")


@case("http.json: the decoded body; an error status raises its Feathers error")
def _():
    s, b, _ = node.request("POST", "/fetchjson", {"url": BASE + "/echo?j=1"})
    eq((s, b["status"], b["value"]["target"]), (201, 200, "/echo?j=1"), "decoded")
    eq(b["value"]["headers"].get("accept"), "application/json", "Accept: application/json")
    s, b, _ = node.request("POST", "/fetchjson", {"url": BASE + "/nowhere"})
    eq((s, b.get("name")), (404, "NotFound"), "a 404 raises NotFound")
    s, b, _ = node.request("POST", "/fetchjson", {"url": BASE + "/close"})
    eq((s, b.get("name")), (502, "BadGateway"), "a body that is not JSON: BadGateway")


@case("chunked and close-delimited bodies")
def _():
    s, b, _ = fetch({"url": BASE + "/chunked"})
    eq((s, b["status"], b["body"]), (201, 200, "hello, world"), "chunked body decoded")
    s, b, _ = fetch({"url": BASE + "/close"})
    eq((s, b["body"]), (201, "read until close"), "body read until the close")


@case("keep-alive: sequential requests reuse one connection")
def _():
    fetch({"url": BASE + "/echo"})
    before, opened0 = CONNS["n"], node.request("GET", "/conns")[1]["opened"]
    for i in range(10):
        s, b, _ = fetch({"url": BASE + "/echo?i=%d" % i})
        eq(b["status"], 200, "request %d" % i)
    eq(CONNS["n"] - before, 0, "ten requests, no new connection at the server")
    eq(node.request("GET", "/conns")[1]["opened"] - opened0, 0, "the client opened none")


@case("a kept-alive connection the server closed: GET is sent again, POST is not")
def _():
    fetch({"url": BASE + "/stale"})
    s, b, _ = fetch({"url": BASE + "/echo?after=stale"})
    eq((s, b.get("status")), (201, 200), "GET retried on a new connection")
    fetch({"url": BASE + "/stale"})
    s, b, _ = fetch({"method": "POST", "url": BASE + "/echo", "body": "once"})
    eq((s, b.get("name")), (503, "Unavailable"), "POST not sent twice: Unavailable")


@case("TLS: a server certified by the test CA; another CA and another name fail")
def _():
    url = "https://127.0.0.1:%d/echo" % TLS_PORT
    s, b, _ = fetch({"url": url, "ca_file": CA})
    eq((s, b.get("status")), (201, 200), "https with the right CA (by address)")
    s, b, _ = fetch({"url": "https://localhost:%d/chunked" % TLS_PORT, "ca_file": CA})
    eq((s, b.get("body")), (201, "hello, world"), "https with the right CA (by name)")
    before = CONNS["n"]
    for _ in range(3):
        fetch({"url": url, "ca_file": CA})
    eq(CONNS["n"] - before, 0, "TLS connections are kept alive too")
    s, b, _ = fetch({"url": url, "ca_file": OTHER_CA})
    eq((s, b.get("name")), (503, "Unavailable"), "another CA: Unavailable")
    check("certificate" in b.get("message", "").lower() or "verif" in b.get("message", "").lower(),
          "the reason names the certificate", b.get("message"))
    s, b, _ = fetch({"url": url})
    eq(s, 503, "the system's CAs do not trust the test CA")
    # an address the certificate does not name, that still reaches the server (127.0.0.0/8 is lo)
    s, b, _ = fetch({"url": "https://127.0.0.2:%d/echo" % TLS_PORT, "ca_file": CA})
    eq((s, b.get("name")), (503, "Unavailable"), "an address the certificate does not name fails")
    check("does not name" in b.get("message", ""), "the reason says so", b.get("message"))
    s, b, _ = fetch({"url": "http://127.0.0.1:%d/echo" % TLS_PORT, "timeout": 2000})
    check(s in (502, 503, 408), "plain HTTP to a TLS server fails", str((s, b)))


@case("a slow server: the timeout fires, the node answers meanwhile")
def _():
    res = {}

    def slow():
        t0 = time.monotonic()
        res["r"] = fetch({"url": BASE + "/slow", "timeout": 500})
        res["t"] = time.monotonic() - t0

    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.1)
    lat = []
    for i in range(20):
        c0 = time.monotonic()
        s, b, _ = node.request("GET", "/echo?n=%d" % i)
        lat.append((time.monotonic() - c0) * 1000)
        eq(b, {"echo": str(i)}, "echo %d" % i)
    t.join(10)
    s, b, _ = res["r"]
    eq((s, b.get("name")), (408, "Timeout"), "Timeout after 500 ms")
    check(0.4 < res["t"] < 2.5, "it took about the timeout", "%.2f s" % res["t"])
    figure("slow server: timeout after %.0f ms; 20 echo calls meanwhile, max %.1f ms" %
           (res["t"] * 1000, max(lat)))
    check(max(lat) < 100, "echo answered meanwhile", "%.1f ms" % max(lat))


@case("a huge response: over max_size is an error, memory stays bounded")
def _():
    rss0 = rss_kb(node.proc.pid)
    t0 = time.monotonic()
    s, b, _ = fetch({"url": BASE + "/huge", "max_size": 4 << 20}, timeout=60)
    eq((s, b.get("name")), (500, "GeneralError"), "over max_size: GeneralError")
    check("max_size" in b.get("message", ""), "the message says max_size", b.get("message"))
    s, b, _ = fetch({"url": BASE + "/huge"}, timeout=60)  # the default: 10 MB
    eq(s, 500, "over the default 10 MB")
    rss1 = rss_kb(node.proc.pid)
    figure("huge response cut at max_size in %.0f ms; node RSS %d -> %d kB" %
           ((time.monotonic() - t0) * 1000, rss0, rss1))
    check_memory(rss1 - rss0 < 64 * 1024, "RSS grew less than 64 MB", "%d -> %d kB" % (rss0, rss1))


@case("malformed and cut responses, refused connections")
def _():
    s, b, _ = fetch({"url": BASE + "/cut"})
    eq((s, b.get("name")), (502, "BadGateway"), "closed mid-response: BadGateway")
    s, b, _ = fetch({"url": BASE + "/fold"})
    eq((s, b.get("name")), (502, "BadGateway"), "obs-fold: BadGateway")
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    port = ls.getsockname()[1]
    ls.close()
    s, b, _ = fetch({"url": "http://127.0.0.1:%d/" % port})
    eq((s, b.get("name")), (503, "Unavailable"), "refused: Unavailable")
    check("refused" in b.get("message", "").lower(), "the reason says refused", b.get("message"))
    s, b, _ = fetch({"url": "http://no-such-host.invalid/", "timeout": 3000})
    check(s in (503, 408), "an unknown name fails", str((s, b)))


@case("redirects: off by default, followed when asked")
def _():
    s, b, _ = fetch({"url": BASE + "/redirect"})
    eq((b["status"], b["headers"].get("location")), (302, "/echo?from=redirect"), "302 returned as is")
    s, b, _ = fetch({"url": BASE + "/redirect", "redirects": 2})
    eq((b["status"], json.loads(b["body"])["target"]), (200, "/echo?from=redirect"), "302 followed")
    s, b, _ = fetch({"method": "POST", "url": BASE + "/see-other", "body": "x", "redirects": 1})
    sent = json.loads(b["body"])
    eq((sent["method"], sent["target"], sent["body"]), ("GET", "/echo?from=303", ""), "303: GET, no body")
    s, b, _ = fetch({"url": BASE + "/loop", "redirects": 3})
    eq((s, b.get("name")), (502, "BadGateway"), "too many redirects")


@case("ten requests at once")
def _():
    results = [None] * 10

    def one(i):
        results[i] = fetch({"url": BASE + "/wait?i=%d" % i})

    t0 = time.monotonic()
    ts = [threading.Thread(target=one, args=(i,)) for i in range(10)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(20)
    took = time.monotonic() - t0
    eq([r and r[1].get("body") for r in results], ["/wait?i=%d" % i for i in range(10)], "ten answers, each its own")
    figure("10 concurrent requests to a 300 ms server: %.0f ms" % (took * 1000))
    check(took < 2.0, "they ran at once", "%.2f s" % took)
    check(node.request("GET", "/conns")[1]["open"] <= 10, "at most ten connections stay open")


@case("misuse raises")
def _():
    for opts in ({"url": "ftp://x/"}, {"url": "http://a b/"}, {"url": BASE, "headers": {"X": "a\r\nB: c"}},
                 {"url": BASE, "timeout": -1}):
        s, b, _ = fetch(opts)
        eq(s, 500, "rejected: %r" % opts)


STOP.set()
node.stop()
subprocess.run(["rm", "-rf", TMP])
finish()
