"""The REST gateway against real fdnode processes: Feathers' routes and status
codes, query strings, errors, custom methods, limits, keep-alive, timeouts."""
from netns import isolate

isolate()

import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

from fdntest import Node, case, check, connect, eq, figure, finish, logdir



@case("CRUD on a memory service")
def _():
    global n
    n = Node("tests/integration/fixtures/lab.lua")
    s, b, h = n.request("POST", "/items", {"name": "a", "age": 30})
    eq(s, 201, "create answers 201")
    eq(b, {"id": 0, "name": "a", "age": 30}, "create returns the record")
    check(h.get("content-type", "").startswith("application/json"), "JSON content type")
    n.request("POST", "/items", {"name": "b", "age": 10})
    n.request("POST", "/items", {"name": "c", "age": 20})
    s, b, _ = n.request("GET", "/items")
    eq((s, [r["name"] for r in b]), (200, ["a", "b", "c"]), "find lists all")
    s, b, _ = n.request("GET", "/items?age[$gt]=18&$sort[age]=-1")
    eq([r["name"] for r in b], ["a", "c"], "query string with $gt and $sort")
    n.request("POST", "/items", {"name": "a", "age": 5})
    s, b, _ = n.request("GET", "/items?$sort[name]=1&$sort[age]=-1&$select[]=age")
    eq([r["age"] for r in b], [30, 5, 10, 20], "multi-key $sort keeps the query's key order")
    s, b, _ = n.request("GET", "/items?$sort[age]=-1&$sort[name]=1&$select[]=age")
    eq([r["age"] for r in b], [30, 20, 10, 5], "multi-key $sort, the other order")
    n.request("DELETE", "/items/3")
    s, b, _ = n.request("GET", "/items?name[$in][]=a&name[$in][]=b")
    eq(sorted(r["name"] for r in b), ["a", "b"], "query string with $in array")
    s, b, _ = n.request("GET", "/items?$or[0][name]=a&$or[1][age]=10")
    eq(sorted(r["name"] for r in b), ["a", "b"], "query string with $or")
    s, b, _ = n.request("GET", "/items/1")
    eq((s, b), (200, {"id": 1, "name": "b", "age": 10}), "get by id from the path")
    s, b, _ = n.request("PUT", "/items/1", {"name": "B"})
    eq((s, b), (200, {"id": 1, "name": "B"}), "update replaces")
    s, b, _ = n.request("PATCH", "/items/1", {"age": 11})
    eq((s, b), (200, {"id": 1, "name": "B", "age": 11}), "patch merges")
    s, b, _ = n.request("PATCH", "/items?name=c", {"age": 21})
    eq((s, [r["age"] for r in b]), (200, [21]), "patch many by query (id null)")
    s, b, _ = n.request("DELETE", "/items/1")
    eq((s, b["id"]), (200, 1), "remove returns the record")
    s, b, _ = n.request("GET", "/items/1")
    eq((s, b["name"], b["code"], b["className"]), (404, "NotFound", 404, "not-found"), "get missing: NotFound")
    eq(b["message"], "No record found for id '1'", "NotFound message verbatim")
    s, b, _ = n.request("PUT", "/items", {"x": 1})
    eq((s, b["name"]), (400, "BadRequest"), "update without id is refused")


@case("a custom method through X-Service-Method, and a module found beside the script")
def _():
    s, b, _ = n.request("POST", "/items", {"hello": 1}, headers={"X-Service-Method": "stats"})
    eq((s, b.get("echo"), b.get("word")), (200, {"hello": 1}, "beside"), "custom method via X-Service-Method")
    s, b, _ = n.request("POST", "/items", {}, headers={"X-Service-Method": "nope"})
    eq((s, b["name"]), (405, "MethodNotAllowed"), "unknown custom method: 405")


@case("errors keep their class and data")
def _():
    s, b, _ = n.request("POST", "/items", {"reject": True})
    eq((s, b["name"], b.get("data")), (422, "Unprocessable", {"reason": "asked"}), "hook error with data")
    s, b, _ = n.request("GET", "/crash/error")
    eq((s, b["name"], b["message"]), (409, "Conflict", "already there"), "thrown Feathers error")
    s, b, _ = n.request("GET", "/crash/1")
    eq((s, b["name"], b["code"]), (500, "GeneralError", 500), "Lua runtime error: GeneralError 500")
    s, b, _ = n.request("GET", "/crash")
    eq((s, b), (200, {"ok": True}), "the node goes on serving after an error")


@case("routing, bodies and query strings")
def _():
    s, b, _ = n.request("GET", "/nothing-here")
    eq((s, b["name"]), (404, "NotFound"), "unknown path: 404")
    s, b, _ = n.request("POST", "/readonly", {"a": 1})
    eq((s, b["name"]), (405, "MethodNotAllowed"), "method not exposed: 405")
    s, b, _ = n.request("DELETE", "/readonly/1")
    eq(s, 405, "remove not exposed: 405")
    s, b, _ = n.request("POST", "/api/v1/things", {"deep": True})
    eq(s, 201, "service path with slashes")
    s, b, _ = n.request("GET", "/api/v1/things/0")
    eq((s, b.get("deep")), (200, True), "get on a path with slashes")
    s, b, _ = n.request("POST", "/items", raw="{not json", headers={"Content-Type": "application/json"})
    eq((s, b["name"]), (400, "BadRequest"), "malformed JSON body: 400")
    s, b, _ = n.request("POST", "/items", raw="[" * 200 + "]" * 200, headers={"Content-Type": "application/json"})
    eq((s, b["name"]), (400, "BadRequest"), "JSON nested deeper than the limit: 400")
    check("too deep" in b["message"], "the message says why", b["message"])
    s, b, _ = n.request("GET", "/items?" + "&".join("a%d=1" % i for i in range(1001)))
    eq((s, b["name"]), (400, "BadRequest"), "more than 1000 query parameters: 400")
    s, b, _ = n.request("POST", "/items", raw="name=zed&age=5",
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    eq((s, b.get("name"), b.get("age")), (201, "zed", "5"), "urlencoded body")


@case("body limit: 413 without reading the body")
def _():
    big = b"x" * (2 << 20)
    conn = http.client.HTTPConnection("127.0.0.1", n.port, timeout=10)
    conn.putrequest("POST", "/items")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(len(big)))
    conn.endheaders()
    resp = conn.getresponse()
    eq(resp.status, 413, "body over the limit: 413 before the body is sent")
    conn.close()


@case("keep-alive: several requests on one connection")
def _():
    conn = http.client.HTTPConnection("127.0.0.1", n.port, timeout=10)
    statuses = []
    for i in range(5):
        conn.request("GET", "/slow")
        r = conn.getresponse()
        r.read()
        statuses.append(r.status)
    eq(statuses, [200] * 5, "keep-alive serves several requests on one connection")
    conn.close()


@case("coroutines: a 500 ms call does not hold up a fast one")
def _():
    slow_result = {}

    def slow_call():
        t0 = time.monotonic()
        s, b, _ = n.request("GET", "/slow/500")
        slow_result["s"] = (s, time.monotonic() - t0)

    t = threading.Thread(target=slow_call)
    t.start()
    time.sleep(0.1)
    t0 = time.monotonic()
    s, b, _ = n.request("GET", "/slow/0")
    fast = time.monotonic() - t0
    t.join(5)
    eq(s, 200, "fast call answers")
    check(fast < 0.35, "fast call answers at once while a slow one sleeps", "%.3fs" % fast)
    check(slow_result.get("s", (0, 0))[0] == 200 and slow_result["s"][1] >= 0.49, "slow call took its 500 ms",
          str(slow_result))


@case("pipelining: answers in order, also on a new connection whose first packet holds three requests")
def _():
    # An answer the socket takes whole is finished at the end of the loop turn; libevent's
    # spurious first write callback on a new connection must not finish it early (it then
    # answered the next request while the first was still queued, and the node spun).
    got, socks = [], [connect(n.port) for _ in range(30)]
    for s in socks:  # all sent before the node reads any: each first read finds three requests
        s.sendall(b"".join(b"GET /items/%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in (2, 0, 2)))
    for s in socks:
        data, deadline = b"", time.monotonic() + 5
        while (data.count(b"HTTP/1.1 ") < 3 or not data.endswith(b"}")) and time.monotonic() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
        got.append([(int(p.split(b" ")[0]), re.findall(rb'"id":(\d+)', p)) for p in data.split(b"HTTP/1.1 ")[1:]])
    eq(got, [[(200, [b"2"]), (200, [b"0"]), (200, [b"2"])]] * 30, "three answers each, in order")
    eq(n.request("GET", "/items/0")[0], 200, "the node still answers")


@case("keep-alive costs the gateway a read and a write per request, nothing more (strace)")
def _():
    # Answers through the bufferevent armed and disarmed its write event (two epoll_ctl, and a
    # wakeup for it); libevent's own read asked FIONREAD (an ioctl) before each read.
    if not shutil.which("strace"):
        print("not checked: no strace")
        return
    out = os.path.join(logdir(), "rest_strace.txt")
    # its own node with --spin 0: the default polls (epoll_wait with no timeout) for 50 us after
    # each turn, and how many polls fit in that window depends on the cost of a syscall under
    # strace, not on the wakeups counted here
    quiet = Node("tests/integration/fixtures/lab.lua", name="strace", args=["--spin", "0"])
    st = subprocess.Popen(["strace", "-c", "-f", "-o", out, "-p", str(quiet.proc.pid)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    line = st.stderr.readline()  # "attached", or why not
    if "attached" not in line:
        st.wait(timeout=10)
        print("not checked: strace cannot attach (%s)" % line.strip())
        return
    s = connect(quiet.port)
    N = 200
    for _ in range(N):
        s.sendall(b"GET /items/0 HTTP/1.1\r\nHost: x\r\n\r\n")
        got = b""
        while b"\r\n\r\n" not in got or len(got) < got.index(b"\r\n\r\n") + 4 + int(
                got.split(b"Content-Length: ")[1].split(b"\r\n")[0]):
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    s.close()
    st.send_signal(signal.SIGINT)
    st.wait(timeout=10)
    calls = {}
    with open(out) as f:
        for row in f:
            cols = row.split()
            if len(cols) >= 5 and cols[3].isdigit():
                calls[cols[-1]] = int(cols[3])
    quiet.stop()
    figure("%d kept-alive requests: %s" % (N, ", ".join("%s %d" % kv for kv in sorted(calls.items()))))
    check(calls.get("epoll_ctl", 0) + calls.get("ioctl", 0) < N // 10,
          "no epoll_ctl nor ioctl per request", repr(calls))
    check(calls.get("readv", 0) + calls.get("read", 0) <= N + N // 10, "a read per request", repr(calls))
    check(calls.get("epoll_wait", 0) <= N + N // 4, "one wakeup per request (was two: the write event)",
          repr(calls))


@case("HEAD is answered as GET without the body (as Express does): same status and headers")
def _():
    for path in ("/items", "/slow/0"):
        gs, _, gh = n.request("GET", path)
        conn = http.client.HTTPConnection("127.0.0.1", n.port, timeout=5)
        conn.request("HEAD", path)
        r = conn.getresponse()
        body = r.read()
        conn.close()
        eq((r.status, body), (gs, b""), "HEAD %s: GET's status, no body" % path)
        eq(r.getheader("content-length"), gh.get("content-length"), "HEAD %s: GET's Content-Length" % path)
    n.stop()


finish()
