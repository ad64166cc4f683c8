"""The real npm clients over Socket.IO (socket.io-client 4 with raw emits, and
@feathersjs/socketio-client 5) against an fdnode gateway, on one node and with the
service on another node: CRUD, errors keeping their class, a custom method, events,
channel membership and a slow call not blocking a fast one on the same socket, each
over websocket, polling with the upgrade, and polling only (client/socket_client.js)."""
from netns import isolate

isolate()

import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402

from fdntest import Node, answers, case, check, eq, finish, wait_until  # noqa: E402

client = os.path.join(os.path.dirname(os.path.abspath(__file__)), "client")
node_bin = shutil.which("node")
FIX = "tests/integration/fixtures/socket/"
MESSAGES = FIX + "messages.lua"  # the messages service (memory, a refusing hook, stats, slow)
GATEWAY = FIX + "gateway.lua"    # channels, publishers and the rooms service


def run_scenarios(gateway, label):
    """Runs every scenario of socket_client.js against gateway: one check per
    scenario, transport and client kind, named after label."""
    url = "http://127.0.0.1:%d" % gateway.port
    p = subprocess.run([node_bin, os.path.join(client, "socket_client.js"), url, "all", "all", "all"],
                       capture_output=True, text=True, timeout=100)
    lines = [json.loads(ln) for ln in p.stdout.splitlines() if ln.startswith("{")]
    for r in lines:
        name = "%s: %s over %s, %s client" % (label, r["scenario"], r["transport"], r["client"])
        check(r["ok"], name, r.get("error", ""))
    # 6 scenarios x 3 transports x 2 clients
    eq(len(lines), 36, "%s: every scenario ran (%s)" % (label, p.stdout.splitlines()[-1:] or p.stderr[-300:]))
    check(p.returncode == 0, "%s: the client script exits 0" % label, p.stderr[-2000:])
    check(gateway.alive(), "%s: the gateway still runs" % label, gateway.log()[-2000:])


@case("Node.js and the socket clients' npm packages are installed")
def _():
    check(node_bin is not None, "node is installed (tools/setup installs it)")
    for pkg in ("socket.io-client", "@feathersjs/socketio-client"):
        check(os.path.isdir(os.path.join(client, "node_modules", pkg)),
              "%s is installed (tools/test runs npm ci)" % pkg)


@case("one node: the gateway serves the messages service")
def _():
    if node_bin:
        n = Node(MESSAGES, GATEWAY, name="solo")
        run_scenarios(n, "one node")
        eq(n.stop(), 0, "the node exits 0 on SIGTERM")


@case("two nodes: the gateway holds the sockets, messages runs on the other node")
def _():
    if node_bin:
        store = Node(MESSAGES, name="store", http=False)
        gw = Node(GATEWAY, name="gateway")
        check(wait_until(answers(gw, "/messages"), 8), "the remote messages service answers on the gateway")
        run_scenarios(gw, "two nodes")
        eq(gw.stop(), 0, "the gateway exits 0 on SIGTERM")
        eq(store.stop(), 0, "the store node exits 0 on SIGTERM")


finish()
