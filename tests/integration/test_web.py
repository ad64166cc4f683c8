"""The gateway's browser side against real fdnode processes: CORS (--cors, Feathers' "origins"
setting, preflights, credentials) and static files (--public: types, ETag and Last-Modified
with 304, index.html, HEAD, a large file, and hostile paths that must reveal nothing)."""
from netns import isolate

isolate()

import os
import shutil
import socket
import tempfile
import time

from fdntest import Node, case, check, check_memory, eq, finish, rss_kb, run_fdnode

ITEMS = "tests/integration/fixtures/web/app.lua"
SECRET = "TOP-SECRET-OUTSIDE"
BIG = 256 << 20  # the large file: 256 MB (sparse on disk)


def raw(port, target, method="GET", headers=None, limit=1 << 20):
    """Sends one request as given (no client-side normalisation of the target); returns
    (status, headers with lowercase names, body), reading at most limit bytes of body."""
    lines = ["%s %s HTTP/1.1" % (method, target), "Host: x", "Connection: close"]
    lines += ["%s: %s" % kv for kv in (headers or {}).items()]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        data = b""
        deadline = time.monotonic() + 10
        while b"\r\n\r\n" not in data or len(data) < limit:
            chunk = s.recv(65536)
            if not chunk or time.monotonic() > deadline:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *fields = head.decode("latin-1").split("\r\n")
    hdrs = {}
    for f in fields:
        k, _, v = f.partition(":")
        k = k.strip().lower()
        hdrs[k] = hdrs[k] + ", " + v.strip() if k in hdrs else v.strip()
    return int(status_line.split()[1]), hdrs, body


# The public directory: pages, a symlink to /etc/passwd, a symlinked directory out, a file
# beside it that must stay unreachable, dotfiles, and a large sparse file.
base = tempfile.mkdtemp(prefix="fdn-web-")
pub = os.path.join(base, "public")
os.makedirs(os.path.join(pub, "sub"))
os.makedirs(os.path.join(pub, "empty"))
os.makedirs(os.path.join(pub, ".git"))
files = {
    "index.html": "<!doctype html><h1>home</h1>",
    "sub/index.html": "<h1>sub</h1>",
    "app.js": "console.log(1)",
    "mod.mjs": "export {}",
    "style.css": "h1{}",
    "data.json": "{\"a\":1}",
    "app.js.map": "{}",
    "logo.svg": "<svg/>",
    "i.png": "PNG",
    "i.jpg": "JPG",
    "i.webp": "WEBP",
    "favicon.ico": "ICO",
    "notes.txt": "plain",
    "f.woff2": "W2",
    "m.wasm": "WASM",
    "blob.bin": "BIN",
    "items": "a file named like a service",
    ".env": SECRET,
    ".git/config": SECRET,
}
for name, text in files.items():
    with open(os.path.join(pub, name), "w") as f:
        f.write(text)
with open(os.path.join(base, "secret.txt"), "w") as f:
    f.write(SECRET)
os.symlink("/etc/passwd", os.path.join(pub, "passwd"))
os.symlink("/etc", os.path.join(pub, "etc"))
os.symlink("../secret.txt", os.path.join(pub, "up.txt"))
os.symlink("..", os.path.join(pub, "parent"))
with open(os.path.join(pub, "big.bin"), "wb") as f:
    f.truncate(BIG)
os.mkfifo(os.path.join(pub, "pipe.html"))  # special files: never served, never waited on
os.makedirs(os.path.join(pub, "piped"))
os.mkfifo(os.path.join(pub, "piped", "index.html"))


@case("CORS is off by default: no CORS headers, and OPTIONS is Lua's 405")
def _():
    n = Node(ITEMS)
    s, _, h = n.request("GET", "/items", headers={"Origin": "http://a.example"})
    eq(s, 200, "GET answers")
    eq([k for k in h if k.startswith("access-control") or k == "vary"], [], "no CORS headers")
    s, h, _ = raw(n.port, "/items", "OPTIONS", {"Origin": "http://a.example",
                                                "Access-Control-Request-Method": "POST"})
    eq(s, 405, "a preflight without --cors gets 405 as before")
    n.stop()


@case("--cors with a list: allowed origins echoed with credentials, others get nothing")
def _():
    global n_list
    n_list = Node(ITEMS, args=["--cors", "https://app.example, http://localhost:8080/"])
    s, _, h = n_list.request("GET", "/items", headers={"Origin": "https://app.example"})
    eq((s, h.get("access-control-allow-origin")), (200, "https://app.example"), "origin echoed")
    eq(h.get("access-control-allow-credentials"), "true", "credentials allowed")
    eq(h.get("vary"), "Origin", "Vary: Origin")
    s, _, h = n_list.request("GET", "/items", headers={"Origin": "http://localhost:8080"})
    eq(h.get("access-control-allow-origin"), "http://localhost:8080", "the second origin (its '/' dropped)")
    s, _, h = n_list.request("GET", "/items", headers={"Origin": "https://evil.example"})
    eq((s, h.get("access-control-allow-origin"), h.get("access-control-allow-credentials")),
       (200, None, None), "a disallowed origin gets no allow headers")
    eq(h.get("vary"), "Origin", "but Vary: Origin (the answer depends on it)")
    s, _, h = n_list.request("GET", "/items", headers={"Origin": "https://app.example.evil.example"})
    eq(h.get("access-control-allow-origin"), None, "no prefix match")
    s, _, h = n_list.request("GET", "/items")
    eq(h.get("access-control-allow-origin"), None, "no Origin: nothing to allow")
    s, b, h = n_list.request("GET", "/items/404", headers={"Origin": "https://app.example"})
    eq((s, b["name"], h.get("access-control-allow-origin")), (404, "NotFound", "https://app.example"),
       "errors carry CORS too (the browser can read them)")
    s, b, h = n_list.request("POST", "/items", {"t": 1}, headers={"Origin": "https://app.example"})
    eq((s, h.get("access-control-allow-origin")), (201, "https://app.example"), "create too")


@case("preflight: 204 from C with methods, headers echoed, max-age; none for a disallowed origin")
def _():
    s, h, body = raw(n_list.port, "/items/1", "OPTIONS", {
        "Origin": "https://app.example", "Access-Control-Request-Method": "PATCH",
        "Access-Control-Request-Headers": "content-type, authorization"})
    eq(s, 204, "preflight answered 204")
    eq(h.get("access-control-allow-origin"), "https://app.example", "origin echoed")
    eq(h.get("access-control-allow-credentials"), "true", "credentials")
    eq(h.get("access-control-allow-methods"), "GET,HEAD,PUT,PATCH,POST,DELETE", "methods")
    eq(h.get("access-control-allow-headers"), "content-type, authorization", "request headers echoed")
    eq(h.get("access-control-max-age"), "86400", "max age")
    eq(h.get("vary"), "Origin, Access-Control-Request-Headers", "Vary")
    eq((body, h.get("content-length")), (b"", None), "no body")
    s, h, _ = raw(n_list.port, "/items", "OPTIONS", {
        "Origin": "https://app.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "bad header\tname"})
    eq((s, h.get("access-control-allow-headers")), (204, None), "an invalid header list is not echoed")
    s, h, _ = raw(n_list.port, "/items", "OPTIONS", {
        "Origin": "https://evil.example", "Access-Control-Request-Method": "DELETE"})
    eq(s, 204, "a disallowed origin's preflight: 204 (as Express's cors)")
    eq(sorted(k for k in h if k.startswith("access-control")), [], "... with no allow headers")
    s, h, _ = raw(n_list.port, "/anything/at/all", "OPTIONS")
    eq((s, h.get("access-control-allow-origin")), (204, None), "any OPTIONS is answered with CORS on")
    # keep-alive: a preflight then a request on one connection
    with socket.create_connection(("127.0.0.1", n_list.port), timeout=10) as s2:
        s2.sendall(b"OPTIONS /items HTTP/1.1\r\nHost: x\r\nOrigin: https://app.example\r\n"
                   b"Access-Control-Request-Method: POST\r\nContent-Length: 3\r\n\r\nabc"
                   b"GET /items HTTP/1.1\r\nHost: x\r\nOrigin: https://app.example\r\nConnection: close\r\n\r\n")
        data, deadline = b"", time.monotonic() + 5
        while time.monotonic() < deadline:
            chunk = s2.recv(65536)
            if not chunk:
                break
            data += chunk
    check(data.startswith(b"HTTP/1.1 204 ") and b"HTTP/1.1 200 OK" in data and data.endswith(b"]"),
          "a preflight (with a body) and a GET on one kept-alive connection", repr(data[:300]))
    n_list.stop()


@case("--cors '*': any origin gets '*', without credentials (no page may act as a logged-in user)")
def _():
    n = Node(ITEMS, args=["--cors", "*"])
    for origin in ("http://x.example:9000", "null", "https://y.example"):
        s, _, h = n.request("GET", "/items", headers={"Origin": origin})
        eq((h.get("access-control-allow-origin"), h.get("access-control-allow-credentials")),
           ("*", None), "'*' for " + origin)
    n.stop()


@case("Feathers' origins setting turns CORS on; --cors wins over it")
def _():
    env = {"WEB_ORIGINS": "https://set.example http://localhost:3030"}
    n = Node(ITEMS, env=env)
    s, _, h = n.request("GET", "/items", headers={"Origin": "https://set.example"})
    eq(h.get("access-control-allow-origin"), "https://set.example", "the setting's origin is allowed")
    s, _, h = n.request("GET", "/items", headers={"Origin": "https://flag.example"})
    eq(h.get("access-control-allow-origin"), None, "another is not")
    n.stop()
    n = Node(ITEMS, env=env, args=["--cors", "https://flag.example"])
    s, _, h = n.request("GET", "/items", headers={"Origin": "https://flag.example"})
    eq(h.get("access-control-allow-origin"), "https://flag.example", "the flag's origin")
    s, _, h = n.request("GET", "/items", headers={"Origin": "https://set.example"})
    eq(h.get("access-control-allow-origin"), None, "the setting's is ignored")
    n.stop()
    n = Node(ITEMS, env={"WEB_ORIGINS": "not-an-origin"}, wait=False)
    code = n.proc.wait(timeout=10)
    check(code != 0 and "origins" in n.log(), "a bad origins setting stops the start", n.log())


@case("bad --cors and --public values are refused at start")
def _():
    for args, word in ((["--cors", "example.com"], "--cors"), (["--cors", ""], "--cors"),
                       (["--public", os.path.join(base, "nope")], "--public"),
                       (["--public", os.path.join(pub, "app.js")], "--public")):
        code, _, err = run_fdnode("--http", "1", *args, ITEMS)
        check(code == 2 and word in err, "refused: %s" % args, err)
    code, _, err = run_fdnode("--public", pub, ITEMS)
    check(code == 2 and "--http" in err, "--public without --http is refused", err)


@case("static files: types, index.html, services first, dotfiles hidden")
def _():
    global n_pub
    n_pub = Node(ITEMS, args=["--public", pub])
    types = {"app.js": "text/javascript; charset=utf-8", "mod.mjs": "text/javascript; charset=utf-8",
             "style.css": "text/css; charset=utf-8", "data.json": "application/json; charset=utf-8",
             "app.js.map": "application/json; charset=utf-8", "logo.svg": "image/svg+xml",
             "i.png": "image/png", "i.jpg": "image/jpeg", "i.webp": "image/webp",
             "favicon.ico": "image/x-icon", "notes.txt": "text/plain; charset=utf-8",
             "f.woff2": "font/woff2", "m.wasm": "application/wasm", "blob.bin": "application/octet-stream",
             "index.html": "text/html; charset=utf-8"}
    for name, ctype in types.items():
        s, h, body = raw(n_pub.port, "/" + name)
        eq((s, h.get("content-type"), body.decode()), (200, ctype, files[name]), "served: " + name)
    eq(h.get("cache-control"), "no-cache", "Cache-Control: no-cache")
    eq(h.get("x-content-type-options"), "nosniff", "nosniff")
    s, h, body = raw(n_pub.port, "/")
    eq((s, body.decode()), (200, files["index.html"]), "/ is index.html")
    s, h, body = raw(n_pub.port, "/sub/")
    eq((s, body.decode()), (200, files["sub/index.html"]), "/sub/ is its index.html")
    s, h, body = raw(n_pub.port, "/sub?x=1")
    eq((s, h.get("location")), (301, "/sub/?x=1"), "/sub redirects to /sub/ (query kept)")
    s, h, _ = raw(n_pub.port, "/empty/")
    eq(s, 404, "a directory without index.html: 404 (no listing)")
    s, h, _ = raw(n_pub.port, "/app.js/")
    eq(s, 404, "a file with a trailing slash: 404")
    s, b, _ = n_pub.request("GET", "/items")
    eq((s, b), (200, []), "a service wins over a file of the same name")
    s, b, _ = n_pub.request("GET", "/nothing.html")
    eq((s, b["name"]), (404, "NotFound"), "no file, no service: NotFound as before")
    s, h, _ = raw(n_pub.port, "/app.js", "POST")
    eq(s, 404, "POST to a file's path is not served")
    s, h, _ = raw(n_pub.port, "/a%20b.txt")
    eq(s, 404, "a missing name with an escape: 404")


@case("static files: ETag and Last-Modified give 304; HEAD gives headers only")
def _():
    s, h, _ = raw(n_pub.port, "/app.js")
    etag, modified = h.get("etag"), h.get("last-modified")
    check(etag and etag.startswith('W/"'), "a weak ETag", str(etag))
    check(modified and modified.endswith(" GMT"), "a Last-Modified date", str(modified))
    s, h, body = raw(n_pub.port, "/app.js", headers={"If-None-Match": etag})
    eq((s, body, h.get("etag")), (304, b"", etag), "If-None-Match: 304, no body, the ETag")
    s, h, body = raw(n_pub.port, "/app.js", headers={"If-None-Match": '"other", ' + etag})
    eq(s, 304, "one of a list of tags")
    s, h, body = raw(n_pub.port, "/app.js", headers={"If-None-Match": '"other"'})
    eq((s, body.decode()), (200, files["app.js"]), "another tag: 200")
    s, h, body = raw(n_pub.port, "/app.js", headers={"If-Modified-Since": modified})
    eq((s, body), (304, b""), "If-Modified-Since the file's date: 304")
    s, h, body = raw(n_pub.port, "/app.js", headers={"If-Modified-Since": "Thu, 01 Jan 1970 00:00:00 GMT"})
    eq(s, 200, "an older date: 200")
    s, h, body = raw(n_pub.port, "/app.js", headers={"If-None-Match": '"other"', "If-Modified-Since": modified})
    eq(s, 200, "If-None-Match decides alone when present")
    os.utime(os.path.join(pub, "app.js"), (time.time() + 5, time.time() + 5))
    s, h, body = raw(n_pub.port, "/app.js", headers={"If-None-Match": etag})
    check(s == 200 and h.get("etag") != etag, "a changed file: a new ETag, 200", str(h))
    s, h, body = raw(n_pub.port, "/index.html", "HEAD")
    eq((s, h.get("content-length"), body), (200, str(len(files["index.html"])), b""),
       "HEAD: the length, no body")
    eq(h.get("content-type"), "text/html; charset=utf-8", "HEAD: the type")


@case("a large file is streamed from the page cache (256 MB, sparse), not read into memory")
def _():
    before = rss_kb(n_pub.proc.pid)
    s, h, _ = raw(n_pub.port, "/big.bin", "HEAD")
    eq((s, h.get("content-length")), (200, str(BIG)), "HEAD: its length")
    with socket.create_connection(("127.0.0.1", n_pub.port), timeout=20) as s2:
        s2.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        got, head, deadline = 0, b"", time.monotonic() + 60
        while time.monotonic() < deadline:
            chunk = s2.recv(1 << 20)
            if not chunk:
                break
            if not head:
                head, _, chunk = chunk.partition(b"\r\n\r\n")
            got += len(chunk)
    after = rss_kb(n_pub.proc.pid)
    eq(got, BIG, "every byte arrived")
    check_memory(after - before < 64 * 1024, "the node's RSS grew by less than 64 MB",
          "%d kB -> %d kB" % (before, after))
    s, b, _ = n_pub.request("GET", "/items")
    eq(s, 200, "the node answers after it")


@case("hostile paths are refused, revealing nothing")
def _():
    hostile = [
        "/../secret.txt", "/../../../../etc/passwd", "/%2e%2e/secret.txt", "/%2e%2e%2fsecret.txt",
        "/%2E%2E/%2E%2E/etc/passwd", "/..%2fsecret.txt", "/..%2f..%2f..%2fetc%2fpasswd",
        "/%252e%252e/secret.txt", "/%252e%252e%252fsecret.txt", "/sub/..%5c..%5csecret.txt",
        "/sub\\..\\..\\secret.txt", "/index.html%00.txt", "/%00", "/passwd", "/etc/passwd",
        "/up.txt", "/parent/secret.txt", "/parent/public/index.html", "/.env", "/%2eenv",
        "/.git/config", "/sub/../.env", "//etc/passwd", "/%2fetc%2fpasswd", "/%c0%ae%c0%ae/secret.txt",
        "http://x/../secret.txt", "/sub/%2e%2e/%2e%2e/secret.txt",
    ]
    for target in hostile:
        s, h, body = raw(n_pub.port, target)
        leaked = SECRET.encode() in body or b"root:" in body
        check(s in (400, 404) and not leaked and h.get("location") is None,
              "refused: %s" % target, "status %d, body %r" % (s, body[:120]))
    s, _, body = raw(n_pub.port, "/index.html")
    eq((s, body.decode()), (200, files["index.html"]), "the gateway still serves after them")


@case("a FIFO in DIR is not served, and opening it does not block the node")
def _():
    for target in ["/pipe.html", "/piped/"]:
        t0 = time.monotonic()
        s, _, _ = raw(n_pub.port, target)
        eq(s, 404, "a FIFO is not a file to serve: %s" % target)
        check(time.monotonic() - t0 < 2, "answered at once: %s" % target)
    s, _, body = raw(n_pub.port, "/index.html")
    eq((s, body.decode()), (200, files["index.html"]), "the node still serves after them")
    n_pub.stop()


@case("--public with --cors: files carry the CORS headers")
def _():
    n = Node(ITEMS, args=["--public", pub, "--cors", "https://app.example"])
    s, h, _ = raw(n.port, "/app.js", headers={"Origin": "https://app.example"})
    eq((s, h.get("access-control-allow-origin")), (200, "https://app.example"), "a file")
    s, h, _ = raw(n.port, "/app.js", headers={"Origin": "https://app.example", "If-None-Match": h.get("etag")})
    eq((s, h.get("access-control-allow-origin")), (304, "https://app.example"), "a 304")
    n.stop()


shutil.rmtree(base, ignore_errors=True)
finish()
