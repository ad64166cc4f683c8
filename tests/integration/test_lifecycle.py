"""A node's life: a Lua error is logged once with a traceback and the node goes
on; a request that never finishes sending is timed out; SIGTERM and SIGINT let
calls in flight finish and exit 0; `meson install` gives a working fdnode."""
from netns import isolate

isolate()

import os
import signal
import socket
import subprocess
import tempfile
import threading
import time

from fdntest import FDNODE, ROOT, Node, case, check, eq, finish



@case("a Lua runtime error: 500 to the caller; the node goes on")
def _():
    global n
    n = Node("tests/integration/fixtures/lab.lua", args=["--http-timeout", "500"])
    s, b, _ = n.request("GET", "/crash/1")
    eq((s, b["name"]), (500, "GeneralError"), "runtime error answers GeneralError")
    s, b, _ = n.request("GET", "/crash")
    eq(s, 200, "node still serving")


@case("a request that never finishes sending gets 408 after --http-timeout")
def _():
    sock = socket.create_connection(("127.0.0.1", n.port), timeout=5)
    sock.sendall(b"POST /items HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"half\":")
    t0 = time.monotonic()
    reply = b""
    try:
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
    except socket.timeout:
        pass
    waited = time.monotonic() - t0
    sock.close()
    check(reply.startswith(b"HTTP/1.1 408"), "unfinished request: 408", reply[:80])
    check(0.3 < waited < 3, "timed out after about --http-timeout", "%.2fs" % waited)


@case("SIGTERM exits 0; the Lua error was logged once, with a traceback")
def _():
    err = n.stop()
    eq(err, 0, "SIGTERM exits 0")
    log = n.stderr()
    eq(log.count("attempt to index a nil value"), 1, "the Lua error is logged once")
    check("stack traceback" in log and "lab.lua" in log, "the log has a traceback naming the file", log[-600:])


def stop_with_a_call_in_flight(sig):
    name = signal.Signals(sig).name

    @case("%s with a call in flight: the call finishes, then exit 0" % name)
    def _():
        n = Node("tests/integration/fixtures/lab.lua")
        got = {}

        def slow_call():
            try:
                got["r"] = n.request("GET", "/slow/700")
            except Exception as e:  # noqa: BLE001 - reported below
                got["e"] = repr(e)

        th = threading.Thread(target=slow_call)
        th.start()
        time.sleep(0.2)
        n.signal(sig)
        time.sleep(0.1)
        try:
            socket.create_connection(("127.0.0.1", n.port), timeout=1).close()
            refused = False
        except OSError:
            refused = True
        th.join(10)
        code = n.proc.wait(10)  # no second signal: a second one means exit now
        check(refused, name + ": stops accepting")
        eq(got.get("r", (None,))[0], 200, name + ": the call in flight finishes")
        eq(code, 0, name + ": exit 0")


for sig in (signal.SIGTERM, signal.SIGINT):
    stop_with_a_call_in_flight(sig)


@case("a call that outlives the shutdown bound does not keep the node up")
def _():
    n = Node("tests/integration/fixtures/lab.lua", args=["--shutdown-timeout", "300"])

    def doomed_call():
        try:
            n.request("GET", "/slow/5000")
        except OSError:
            pass  # the node exits before answering: that is the point

    th = threading.Thread(target=doomed_call)
    th.daemon = True
    th.start()
    time.sleep(0.2)
    t0 = time.monotonic()
    n.signal(signal.SIGTERM)
    n.proc.wait(10)
    check(time.monotonic() - t0 < 2, "shutdown is bounded by --shutdown-timeout")


@case("meson install: fdnode on PATH finds its Lua library in the installed layout")
def _():
    with tempfile.TemporaryDirectory() as dest:
        build = os.path.dirname(os.path.abspath(FDNODE))
        p = subprocess.run(["meson", "install", "-C", build, "--destdir", dest, "--quiet"],
                           capture_output=True, text=True, timeout=120)
        check(p.returncode == 0, "meson install", p.stderr[-500:])
        found = [os.path.join(r, f) for r, _, fs in os.walk(dest) for f in fs if f == "fdnode"]
        check(len(found) == 1, "fdnode is installed once", str(found))
        if found:
            env = {k: v for k, v in os.environ.items() if k != "FDN_LIB_DIR"}
            env["PATH"] = os.path.dirname(found[0]) + ":" + env.get("PATH", "")
            p = subprocess.run(["fdnode", "run", os.path.join(ROOT, "tests/lua/test_runtime.lua")],
                               capture_output=True, text=True, timeout=30, env=env, cwd=dest)
            check(p.returncode == 0, "the installed fdnode runs a Lua test", p.stdout + p.stderr)


finish()
