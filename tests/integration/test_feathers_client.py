"""Feathers' own REST client (@feathersjs/rest-client, from npm, on the machine's
Node.js) against a real fdnode gateway: find with a query, get, create, update,
patch, remove, a custom method and thrown errors."""
from netns import isolate

isolate()

import os
import shutil
import subprocess

from fdntest import Node, case, check, finish

client = os.path.join(os.path.dirname(os.path.abspath(__file__)), "client")
node_bin = shutil.which("node")


@case("Node.js and the client's npm packages are installed")
def _():
    check(node_bin is not None, "node is installed (tools/setup installs it)")
    check(os.path.isdir(os.path.join(client, "node_modules", "@feathersjs", "rest-client")),
          "the client's npm packages are installed (tools/test runs npm ci)")


@case("Feathers' REST client against an fdnode gateway")
def _():
    if node_bin:
        n = Node("tests/integration/fixtures/lab.lua")
        p = subprocess.run([node_bin, os.path.join(client, "feathers_client.js"), "http://127.0.0.1:%d" % n.port],
                           capture_output=True, text=True, timeout=60)
        print(p.stdout, end="")
        print(p.stderr, end="")
        check(p.returncode == 0, "Feathers REST client checks", p.stdout + p.stderr)
        check(" 0 failed" in p.stdout, "client reported no failure")
        n.stop()


finish()
