"""The live cluster page of the admin port, in headless Chromium (Debian's `chromium`), on a
3-node cluster: `chromium --headless --dump-dom` of the page lists every node and every service;
then, in a tab driven over the DevTools protocol (cdp.py), the figures move under load (calls/s
of a local service and of a service on another node, whose figures reach this node over its link
as "_stats"), and the page says when its node stops answering. /cluster.json is checked as
JSON. A screenshot goes to the build's meson-logs/ (admin_page.png)."""
from netns import isolate

isolate()

import http.client  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

import cdp  # noqa: E402
from fdntest import FDNODE, ROOT, Node, case, check, eq, finish, free_port, logdir, wait_until  # noqa: E402

FIX = "tests/integration/fixtures/admin/"
ARTIFACTS = os.path.join(os.path.dirname(os.path.abspath(os.path.join(ROOT, FDNODE))), "meson-logs")
SERVICES = ("echo", "users", "messages", "rooms")


def cluster_json(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/cluster.json")
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


admin = free_port()
a = Node(FIX + "echo.lua", name="alpha", args=["--admin", str(admin)])
b = Node(FIX + "users.lua", name="bravo", http=False)
c = Node(FIX + "messages.lua", name="charlie", http=False)


def joined():
    try:
        st, body = cluster_json(admin)
    except (OSError, ValueError):
        return False
    names = {n.get("name") for n in body.get("nodes", []) if "error" not in n}
    return st == 200 and names == {"alpha", "bravo", "charlie"}


@case("/cluster.json lists the 3 nodes, each with its address, process figures and services")
def _():
    check(wait_until(joined, seconds=15, interval=0.2), "the 3 nodes joined", json.dumps(cluster_json(admin)[1]))
    st, body = cluster_json(admin)
    eq(st, 200, "/cluster.json")
    by = {n["name"]: n for n in body["nodes"]}
    eq(body["nodes"][0]["name"], "alpha", "this node first")
    eq(sorted(s["path"] for s in by["charlie"]["services"]), ["messages", "rooms"], "charlie's services")
    eq([s["path"] for s in by["bravo"]["services"]], ["users"], "bravo's services")
    for n in by.values():
        check(n["rss"] > 1e6 and n["now"] >= n["start"] and n["links"] >= 1 and ":" in n["address"],
              "%s's figures" % n["name"], json.dumps(n)[:300])
    # bound to every interface, a node names the address its peers reach it at, not 0.0.0.0
    check(by["alpha"]["address"].startswith("127.0.0.1:"), "alpha's own address", by["alpha"]["address"])


@case("chromium --headless --dump-dom: the rendered page lists every node and every service")
def _():
    profile = os.path.join(logdir(), "chromium-dump")
    p = subprocess.run([cdp.CHROMIUM, *[f for f in cdp.FLAGS if not f.startswith("--remote-debugging")],
                        "--user-data-dir=" + profile, "--virtual-time-budget=4000", "--dump-dom",
                        "http://127.0.0.1:%d/" % admin], capture_output=True, timeout=60)
    dom = p.stdout.decode(errors="replace")
    for name in ("alpha", "bravo", "charlie"):
        check('data-node="%s"' % name in dom, "the DOM lists node " + name, dom[-600:])
    for path in SERVICES:
        check('data-service="%s"' % path in dom, "the DOM lists service " + path)
    check("<script" in dom and "http" not in dom.split("<script", 1)[1].split("</script>")[0].replace(
        "HTTP ", ""), "the page loads nothing from elsewhere (no URL in its script)")


class Load(threading.Thread):
    """Calls GET path on node's gateway until stopped (at most `seconds`)."""

    def __init__(self, node, path, seconds=30):
        super().__init__(daemon=True)
        self.node, self.path, self.seconds, self.stop, self.calls = node, path, seconds, threading.Event(), 0

    def run(self):
        deadline = time.monotonic() + self.seconds
        conn = http.client.HTTPConnection("127.0.0.1", self.node.port, timeout=5)
        while not self.stop.is_set() and time.monotonic() < deadline:
            conn.request("GET", self.path % self.calls)
            conn.getresponse().read()
            self.calls += 1
        conn.close()


def cell(node, path, klass):
    return ("(() => { const r = document.querySelector('[data-node=\"%s\"] [data-service=\"%s\"] .%s');"
            " return r ? r.textContent : null; })()" % (node, path, klass))


@case("in a live tab the figures move under load: calls/s of a local service and of a remote node's")
def _():
    browser = cdp.Browser(os.path.join(logdir(), "chromium.log"))
    page = browser.page("http://127.0.0.1:%d/" % admin)
    page.call("Emulation.setDeviceMetricsOverride", {"width": 1280, "height": 760, "deviceScaleFactor": 1,
                                                     "mobile": False})
    check(page.wait("document.querySelectorAll('[data-node]').length === 3", seconds=10), "3 node cards")
    eq(page.eval("[...document.querySelectorAll('[data-service]')].map(e => e.dataset.service).sort().join()"),
       ",".join(sorted(SERVICES)), "every service listed")
    idle = page.eval(cell("alpha", "echo", "calls"))
    eq(idle, "0.00", "echo is idle before the load")
    loads = [Load(a, "/echo/%d"), Load(a, "/users?n=%d")]
    for t in loads:
        t.start()
    moving = page.wait("parseFloat(%s) > 5 && parseFloat(%s) > 5" % (cell("alpha", "echo", "calls"),
                                                                      cell("bravo", "users", "calls")), seconds=10)
    check(moving, "calls/s of alpha's echo and of bravo's users move under load",
          "%s %s" % (page.eval(cell("alpha", "echo", "calls")), page.eval(cell("bravo", "users", "calls"))))
    first = page.eval(cell("bravo", "users", "total"))
    time.sleep(2.2)
    check(int(page.eval(cell("bravo", "users", "total"))) > int(first), "bravo's total goes up, second by second")
    check(page.eval(cell("alpha", "echo", "latency")).endswith("s"), "a latency is shown",
          page.eval(cell("alpha", "echo", "latency")))
    try:
        os.makedirs(ARTIFACTS, exist_ok=True)
        print("screenshot: %s" % page.screenshot(os.path.join(ARTIFACTS, "admin_page.png")))
    except (OSError, RuntimeError) as e:
        print("no screenshot: %s" % e)
    for t in loads:
        t.stop.set()
        t.join(10)
    check(page.wait("%s === '0.00'" % cell("alpha", "echo", "calls"), seconds=5), "back to 0 once the load stops")
    a.stop()
    check(page.wait("document.getElementById('status').className === 'stale'", seconds=5),
          "the page says when its node no longer answers")
    browser.close()


finish()
