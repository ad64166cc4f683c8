"""Feathers' own @feathersjs/authentication-client (pinned, with MemoryStorage) over REST
(rest-client with fetch) and over Socket.IO (socketio-client) against an fdnode gateway with
the auth fixture: sign-up, local login, a guarded call, reAuthenticate(true), logout, the
errors' classes, and channel events that stop at logout (client/auth_client.js); and tokens
crossing between fdnode and npm jsonwebtoken both ways (client/jwt_interop.js)."""
from netns import isolate

isolate()

import os  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402

from fdntest import Node, case, check, eq, finish  # noqa: E402

client = os.path.join(os.path.dirname(os.path.abspath(__file__)), "client")
node_bin = shutil.which("node")
FIX = "tests/integration/fixtures/auth/"


def run_client(node, transport, expect):
    """Runs auth_client.js against node over transport: one check per line it prints."""
    p = subprocess.run([node_bin, os.path.join(client, "auth_client.js"), "http://127.0.0.1:%d" % node.port,
                        transport], capture_output=True, text=True, timeout=60)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith(("ok ", "FAIL "))]
    for ln in lines:
        check(ln.startswith("ok "), "%s: %s" % (transport, ln.split(" ", 1)[1].split(" -- ")[0]), ln)
    eq(len(lines), expect, "%s: every step ran (%s)" % (transport, (p.stdout.splitlines() or [""])[-1]))
    check(p.returncode == 0, "%s: the client script exits 0" % transport, (p.stdout + p.stderr)[-2000:])


@case("Node.js and @feathersjs/authentication-client are installed")
def _():
    check(node_bin is not None, "node is installed (tools/setup installs it)")
    check(os.path.isdir(os.path.join(client, "node_modules", "@feathersjs", "authentication-client")),
          "@feathersjs/authentication-client is installed (tools/test runs npm ci)")


@case("authentication-client over REST and over Socket.IO")
def _():
    if node_bin:
        n = Node(FIX + "users.lua", FIX + "app.lua", name="auth")
        run_client(n, "rest", 10)
        run_client(n, "socketio", 13)
        s, r, _ = n.request("GET", "/events")
        eq((s, r["login"], r["logout"]), (200, 5, 2),
           "the server saw every login (REST 2, Socket.IO 3) and both logouts (reAuthenticate is a login too)")
        check(n.alive(), "the node still runs", n.log()[-2000:])
        eq(n.stop(), 0, "the node exits 0 on SIGTERM")


@case("tokens cross between fdnode and npm jsonwebtoken (Feathers' signer and verifier), both ways")
def _():
    if node_bin:
        import json
        with open(FIX + "config/default.json") as f:
            secret = json.load(f)["authentication"]["secret"]
        n = Node(FIX + "users.lua", FIX + "app.lua", name="interop")
        p = subprocess.run([node_bin, os.path.join(client, "jwt_interop.js"), "http://127.0.0.1:%d" % n.port, secret],
                           capture_output=True, text=True, timeout=60)
        lines = [ln for ln in p.stdout.splitlines() if ln.startswith(("ok ", "FAIL "))]
        for ln in lines:
            check(ln.startswith("ok "), "interop: " + ln.split(" ", 1)[1].split(" -- ")[0], ln)
        eq(len(lines), 8, "interop: every step ran")
        check(p.returncode == 0, "interop: the script exits 0", (p.stdout + p.stderr)[-2000:])
        eq(n.stop(), 0, "the node exits 0 on SIGTERM")


finish()
