"""The admin port (--admin [HOST:]PORT): /healthz, /readyz (503 until the scripts are set up and
the node has joined), /metrics in Prometheus' text format (checked by `promtool check metrics`,
Prometheus' own parser; counts right after known calls, errors and events, over REST and through
a proxy; a REST 404 on a raw URL makes no series), and a real Prometheus server (Debian's
`prometheus`) scraping a node, whose query API then returns fdn_calls_total."""
import http.client
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.parse

from netns import isolate

isolate()

from eioclient import WebSocket  # noqa: E402
from fdntest import Node, case, check, eq, finish, free_port, logdir, run_fdnode, wait_until  # noqa: E402

FIX = "tests/integration/fixtures/admin/"


def admin_get(port, path, timeout=5):
    """(status, body text, headers) of GET path on an admin port."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read().decode(), {k.lower(): v for k, v in resp.getheaders()}
    finally:
        conn.close()


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def samples(text):
    """{(name, frozenset of (label, value)): value} of an exposition's sample lines."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        if not m:
            raise ValueError("not a sample line: %r" % line)
        out[(m.group(1), frozenset(LABEL.findall(m.group(2) or "")))] = float(m.group(3))
    return out


def value(s, name, **labels):
    return s.get((name, frozenset(labels.items())))


def promtool(text):
    """(exit status, output) of `promtool check metrics` on text."""
    p = subprocess.run(["promtool", "check", "metrics"], input=text.encode(), capture_output=True, timeout=30)
    return p.returncode, (p.stdout + p.stderr).decode()


def rest(node, method, path, body=None):
    return node.request(method, path, body)[0]


@case("bad --admin values are refused with one line; the flag is in --help")
def _():
    for bad in ("0", "host:", "x:70000", ":9100", "abc"):
        code, _, err = run_fdnode("--admin", bad, FIX + "echo.lua")
        check(code == 2 and "--admin" in err and err.count("\n") == 1, "--admin %s refused" % bad, err)
    code, out, _ = run_fdnode("--help")
    check(code == 0 and "--admin [HOST:]PORT" in out, "--help lists --admin", out[-400:])


admin_port = free_port()
node = Node(FIX + "echo.lua", name="a", args=["--admin", str(admin_port)])


@case("/healthz and /readyz answer 200 on a running, joined node; other paths 404, POST 405")
def _():
    check("admin: listening on 127.0.0.1 port %d" % admin_port in node.log(), "on 127.0.0.1 by default",
          node.log())
    st, body, h = admin_get(admin_port, "/healthz")
    eq((st, body), (200, "ok\n"), "/healthz")
    st, body, _ = admin_get(admin_port, "/readyz")
    eq((st, body), (200, "ready\n"), "/readyz")
    eq(admin_get(admin_port, "/nothing")[0], 404, "an unknown admin path is 404")
    conn = http.client.HTTPConnection("127.0.0.1", admin_port, timeout=5)
    conn.request("POST", "/metrics", body="x")
    eq(conn.getresponse().status, 405, "POST on the admin port is 405")
    conn.close()
    # the gateway does not serve the admin paths, nor the admin port the services
    eq(rest(node, "GET", "/metrics"), 404, "the gateway has no /metrics")
    eq(admin_get(admin_port, "/echo/1")[0], 404, "the admin port serves no service")


@case("/readyz is 503 while the scripts are still being set up, then 200; /healthz is 200 all along")
def _():
    port = free_port()
    slow = Node(FIX + "slow_setup.lua", name="slow", http=False, args=["--admin", "127.0.0.1:%d" % port],
                wait=False)

    def status(path):
        try:
            return admin_get(port, path, timeout=1)[0]
        except OSError:
            return None
    first = wait_until(lambda: status("/readyz"), seconds=5)
    eq(first, 503, "/readyz before the setup is done")
    eq(status("/healthz"), 200, "/healthz while starting")
    check(wait_until(lambda: status("/readyz") == 200, seconds=10), "/readyz once set up")
    slow.stop()


metrics_text = ""


@case("/metrics counts calls, errors and events, parses with promtool, and a REST 404 makes no series")
def _():
    global metrics_text
    for i in range(5):
        eq(rest(node, "GET", "/echo/%d" % i), 200, "get")
    eq(rest(node, "GET", "/echo/bad"), 400, "BadRequest")
    eq(rest(node, "GET", "/echo/boom"), 500, "GeneralError")
    eq(rest(node, "POST", "/echo", {"a": 1}), 201, "create")
    eq(node.request("POST", "/echo", {"b": 2}, headers={"X-Service-Method": "ping"})[0], 200, "ping")
    for _ in range(3):
        eq(rest(node, "GET", "/random/xyz"), 404, "a raw URL no service has")
    st, text, h = admin_get(admin_port, "/metrics")
    eq(st, 200, "/metrics")
    check(h.get("content-type", "").startswith("text/plain; version=0.0.4"), "its content type", str(h))
    metrics_text = text
    rc, out = promtool(text)
    eq(rc, 0, "promtool check metrics: " + out)
    s = samples(text)
    eq(value(s, "fdn_calls_total", path="echo", method="get", outcome="ok"), 5, "5 gets ok")
    eq(value(s, "fdn_calls_total", path="echo", method="get", outcome="BadRequest"), 1, "1 BadRequest")
    eq(value(s, "fdn_calls_total", path="echo", method="get", outcome="GeneralError"), 1, "1 GeneralError")
    eq(value(s, "fdn_calls_total", path="echo", method="create", outcome="ok"), 1, "1 create")
    eq(value(s, "fdn_calls_total", path="echo", method="ping", outcome="ok"), 1, "1 ping")
    eq(value(s, "fdn_call_duration_seconds_count", path="echo", method="get"), 7, "7 gets timed")
    eq(value(s, "fdn_call_duration_seconds_bucket", path="echo", method="get", le="+Inf"), 7, "+Inf bucket")
    check(0 < value(s, "fdn_call_duration_seconds_sum", path="echo", method="get") < 5, "a sum of seconds")
    eq(value(s, "fdn_events_total", path="echo", event="created"), 1, "1 created event")
    eq(value(s, "fdn_events_total", path="echo", event="pinged"), 1, "1 pinged event")
    eq(value(s, "fdn_http_requests_total", method="GET", status="200"), 5, "5 GET 200")
    eq(value(s, "fdn_http_requests_total", method="GET", status="404"), 4, "4 GET 404 (/metrics on the gateway, 3 raw URLs)")
    eq(value(s, "fdn_http_requests_total", method="POST", status="201"), 1, "1 POST 201")
    check("random" not in text and "xyz" not in text, "no series from the raw URL")
    # a call that waits (it yields inside the counted call) is counted with its whole duration
    sum_before = value(s, "fdn_call_duration_seconds_sum", path="echo", method="get")
    eq(node.request("GET", "/echo/slow")[1], {"id": "slow", "text": "hello"}, "a call that sleeps")
    s2 = samples(admin_get(admin_port, "/metrics")[1])
    eq(value(s2, "fdn_call_duration_seconds_count", path="echo", method="get"), 8, "counted once")
    check(value(s2, "fdn_call_duration_seconds_sum", path="echo", method="get") - sum_before >= 0.029,
          "with its 30 ms")
    eq(value(s2, "fdn_call_duration_seconds_bucket", path="echo", method="get", le="0.025"),
       value(s, "fdn_call_duration_seconds_bucket", path="echo", method="get", le="0.025"), "above 25 ms")
    for name in ("process_resident_memory_bytes", "process_cpu_seconds_total", "process_open_fds",
                 "process_start_time_seconds", "fdn_lua_memory_bytes", "fdn_cluster_nodes", "fdn_links"):
        check(value(s, name) is not None and value(s, name) >= 0, name + " is there", str(value(s, name)))
    check(abs(value(s, "process_start_time_seconds") - time.time()) < 120, "start time is recent")
    eq(value(s, "fdn_cluster_nodes"), 1, "a lone node knows one node")
    eq(value(s, "fdn_reloads_total", outcome="ok"), 0, "no reload yet")


@case("a call through a proxy counts on both nodes: fdn_remote_calls_total at the caller, fdn_calls_total at "
      "the provider; the cluster gauges count 2 nodes")
def _():
    port = free_port()
    caller = Node(FIX + "caller.lua", name="b", args=["--admin", str(port)])
    check(wait_until(lambda: caller.request("GET", "/echo/x", timeout=2)[0] == 200, seconds=10),
          "the caller reaches echo")
    before = value(samples(admin_get(admin_port, "/metrics")[1]), "fdn_calls_total", path="echo", method="get",
                   outcome="ok")
    remote_before = value(samples(admin_get(port, "/metrics")[1]), "fdn_remote_calls_total", path="echo",
                          method="get", outcome="ok") or 0
    for i in range(10):
        eq(caller.request("GET", "/echo/%d" % i)[0], 200, "remote get")
    eq(caller.request("GET", "/echo/bad")[0], 400, "remote BadRequest")
    s = samples(admin_get(port, "/metrics")[1])
    eq(value(s, "fdn_remote_calls_total", path="echo", method="get", outcome="ok") - remote_before, 10,
       "10 remote calls ok at the caller")
    eq(value(s, "fdn_remote_calls_total", path="echo", method="get", outcome="BadRequest"), 1,
       "1 remote BadRequest at the caller")
    eq(value(s, "fdn_calls_total", path="echo", method="get", outcome="ok"), None, "the caller serves no echo")
    eq(value(s, "fdn_cluster_nodes"), 2, "the caller knows 2 nodes")
    check(value(s, "fdn_links") >= 1, "the caller has a link")
    s = samples(admin_get(admin_port, "/metrics")[1])
    eq(value(s, "fdn_calls_total", path="echo", method="get", outcome="ok") - before, 10,
       "10 served at the provider")
    caller.stop()


@case("--log-format json: one JSON object per line (time, level, node, message, fields); --access-log: a line "
      "per REST and Socket.IO request with status and duration")
def _():
    j = Node(FIX + "echo.lua", name="jay", args=["--log-format", "json", "--access-log"])
    eq(rest(j, "GET", "/echo/1"), 200, "get")
    eq(rest(j, "GET", "/echo/bad"), 400, "BadRequest")
    eq(rest(j, "GET", "/no\"pe%0A"), 404, "404 (a quote in the path)")
    eq(j.request("POST", "/echo", {"b": 2}, headers={"X-Service-Method": "ping"})[0], 200, "ping")
    w = WebSocket(j.port)
    w.recv()
    w.send("40")
    w.recv()
    w.send('421["get","echo","7"]')
    check(w.recv_until("431*").startswith("431[null,"), "socket get answered")
    w.send('422["get","echo","bad"]')
    w.recv_until("432*")
    w.close()
    check(wait_until(lambda: j.log().count('"message":"access"') >= 6, seconds=5), "6 access lines", j.log())
    j.stop()
    lines = [ln for ln in j.log().splitlines() if ln.strip()]
    parsed = []
    for ln in lines:
        try:
            parsed.append(json.loads(ln))
        except ValueError:
            check(False, "a line that is not JSON", ln)
    check(parsed and all(set(("time", "level", "node", "message")) <= set(o) for o in parsed),
          "every line has time, level, node and message", lines[:3])
    check(all(o["node"] == "jay" and re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", o["time"])
              for o in parsed), "node name and ISO time on every line")
    check(any(o["message"].startswith("node jay") for o in parsed), "the start line is there")
    access = [o["fields"] for o in parsed if o["message"] == "access"]
    rest_lines = [(a["method"], a["path"], a["status"]) for a in access if a["kind"] == "rest"]
    eq(rest_lines, [("GET", "/echo/1", 200), ("GET", "/echo/bad", 400), ("GET", "/no\"pe%0A", 404),
                    ("POST", "/echo", 200)], "REST access lines")
    sock = [(a["method"], a["path"], a["status"]) for a in access if a["kind"] == "socket"]
    eq(sock, [("get", "echo", 200), ("get", "echo", 400)], "socket access lines")
    check(all(isinstance(a["ms"], (int, float)) and 0 <= a["ms"] < 5000 for a in access), "durations in ms")
    check(all(re.match(r"[0-9a-f]{32}$", a.get("trace", "")) for a in access),
          "each access line has its request's trace id", access)
    eq(len({a.get("trace") for a in access}), 6, "a trace per request")
    pinged = [o for o in parsed if o["message"] == "pinged"]
    ping_trace = [a["trace"] for a in access if a["method"] == "POST"]
    eq([o.get("fields") for o in pinged], [{"data": {"b": 2}, "node": "jay", "trace": ping_trace[0]}],
       "a script's fields, and the trace id of the call it served")
    code, _, err = run_fdnode("--log-format", "xml", FIX + "echo.lua")
    check(code == 2 and "--log-format" in err, "--log-format xml refused", err)


@case("a real Prometheus server scrapes the node; its query API returns fdn_calls_total")
def _():
    if not shutil.which("prometheus"):
        check(False, "Debian's prometheus is installed (tools/setup)")
        return
    work = tempfile.mkdtemp(prefix="prom-", dir=logdir())
    conf = os.path.join(work, "prometheus.yml")
    with open(conf, "w") as f:
        f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n"
                "scrape_configs:\n  - job_name: fdnode\n    static_configs:\n"
                "      - targets: ['127.0.0.1:%d']\n" % admin_port)
    prom_port = free_port()
    with open(os.path.join(work, "prometheus.log"), "wb") as log:
        prom = subprocess.Popen(["prometheus", "--config.file=" + conf, "--storage.tsdb.path=" + work + "/data",
                                 "--web.listen-address=127.0.0.1:%d" % prom_port, "--log.level=warn"],
                                stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    try:
        def query():
            try:
                q = urllib.parse.quote('fdn_calls_total{path="echo",method="get",outcome="ok"}')
                conn = http.client.HTTPConnection("127.0.0.1", prom_port, timeout=2)
                conn.request("GET", "/api/v1/query?query=" + q)
                body = json.loads(conn.getresponse().read())
                conn.close()
                result = body.get("data", {}).get("result", [])
                return result or None
            except (OSError, ValueError):
                return None
        result = wait_until(query, seconds=30, interval=0.5)
        check(result, "Prometheus returns fdn_calls_total", open(os.path.join(work, "prometheus.log")).read()[-800:])
        if result:
            check(float(result[0]["value"][1]) >= 5, "with the node's count", str(result))
            eq(result[0]["metric"].get("job"), "fdnode", "scraped by the fdnode job")
    finally:
        prom.terminate()
        try:
            prom.wait(10)
        except subprocess.TimeoutExpired:
            prom.kill()
            prom.wait()


finish()
