"""fdntest: helpers for integration tests that run real fdnode processes and
speak HTTP to them. Every wait is bounded; every process is killed at exit."""
import atexit
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

FDNODE = os.environ.get("FDNODE", "build/fdnode")
ROOT = os.environ.get("FDN_SOURCE_ROOT", os.getcwd())
_procs = []
_passed = 0
_failed = 0


_next_port = [20000 + (os.getpid() * 7) % 9000]


def free_port():
    """A port below the ephemeral range (where `--port 0` listeners land), so
    a gateway port picked here is never taken by a node's RPC listener."""
    for _ in range(2000):
        port = _next_port[0]
        _next_port[0] = 20000 + (port - 20000 + 1) % 12000
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise RuntimeError("no free port in 20000-31999")


class Node:
    """One fdnode process with its REST gateway on a free port."""

    def __init__(self, *scripts, args=(), port=None, wait=True, env=None):
        self.port = port or free_port()
        cmd = [FDNODE, "--http", str(self.port), *args, *scripts]
        # the log goes to a file: a pipe nobody reads would block a chatty node
        self._logfile = tempfile.TemporaryFile()
        self.signalled = False
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL,
                                     stderr=self._logfile, env={**os.environ, **(env or {})})
        _procs.append(self.proc)
        if wait:
            self.wait_ready()

    def wait_ready(self, seconds=10):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("fdnode exited early: " + self.stderr())
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("fdnode did not listen on port %d in %ss" % (self.port, seconds))

    def request(self, method, path, body=None, headers=None, raw=None, timeout=10):
        """Returns (status, decoded JSON or None, headers dict)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        h = dict(headers or {})
        data = raw
        if body is not None:
            data = json.dumps(body)
            h.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=data, headers=h)
        resp = conn.getresponse()
        text = resp.read()
        conn.close()
        value = json.loads(text) if text else None
        return resp.status, value, {k.lower(): v for k, v in resp.getheaders()}

    def signal(self, sig):
        if sig in (signal.SIGTERM, signal.SIGINT):
            self.signalled = True
        self.proc.send_signal(sig)

    def stop(self, timeout=10):
        """SIGTERM (unless the test already sent a stop signal), then wait."""
        if self.proc.poll() is None and not self.signalled:
            self.signalled = True
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def stderr(self):
        """The node's log so far."""
        self._logfile.seek(0)
        return self._logfile.read().decode(errors="replace")


def run_fdnode(*args, timeout=10):
    """Runs fdnode to completion; returns (exit code, stdout, stderr)."""
    p = subprocess.run([FDNODE, *args], cwd=ROOT, capture_output=True, timeout=timeout)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def check(cond, name, detail=""):
    global _passed, _failed
    if cond:
        _passed += 1
    else:
        _failed += 1
        print("FAIL:", name, detail, file=sys.stderr)


def eq(actual, expected, name):
    check(actual == expected, name, "\n  expected %r\n  got      %r" % (expected, actual))


def finish():
    for p in _procs:
        if p.poll() is None:
            p.kill()
            p.wait()
    print("%d passed, %d failed" % (_passed, _failed))
    sys.exit(0 if _failed == 0 else 1)


@atexit.register
def _cleanup():
    for p in _procs:
        if p.poll() is None:
            p.kill()


def wait_until(predicate, seconds=5.0, interval=0.02):
    """Polls predicate() until it is true or `seconds` pass; returns its last value."""
    deadline = time.monotonic() + seconds
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = predicate()
    return value


def answers(node, path, expect=200):
    """A predicate: node's gateway answers GET path with status `expect`."""
    def probe():
        try:
            return node.request("GET", path, timeout=2)[0] == expect
        except OSError:
            return False
    return probe
