"""fdntest: helpers for integration tests that run real fdnode processes and
speak HTTP to them. Every wait is bounded; every process is killed at exit. A test
is a series of named cases (@case): an exception fails its case, not the ones after."""
import atexit
import http.client
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

FDNODE = os.environ.get("FDNODE", "build/fdnode")
ROOT = os.environ.get("FDN_SOURCE_ROOT", os.getcwd())
_procs = []
_passed = 0
_failed = 0
_failed_cases = []  # (case name, what failed), for finish()'s summary


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


_logdir = []  # made with the first node; removed at exit unless FDN_KEEP_LOGS=1


def logdir():
    """The folder of this test's node logs (one file a node)."""
    if not _logdir:
        _logdir.append(tempfile.mkdtemp(prefix="fdn-test-"))
        atexit.register(_cleanup_logs)
    return _logdir[0]


def _cleanup_logs():
    if os.environ.get("FDN_KEEP_LOGS") == "1":
        print("logs kept in", _logdir[0], file=sys.stderr)
    else:
        shutil.rmtree(_logdir[0], ignore_errors=True)


_nats = []  # FDN_TRANSPORT=nats: the test's nats-server, started with its first node


def nats_server():
    """The NatsServer every node of the test joins when FDN_TRANSPORT=nats (else None): a
    distribution test runs over NATS unchanged (started after netns.isolate())."""
    if os.environ.get("FDN_TRANSPORT") != "nats":
        return None
    if not _nats:
        from natsserver import NatsServer
        _nats.append(NatsServer())
    return _nats[0]


def transport_args():
    """The flags that put a node on the test's transport: --nats URL, or none (TCP)."""
    server = nats_server()
    return ["--nats", server.url] if server else []


class Node:
    """One fdnode process. Its log goes to a file of its own in logdir(), readable
    while it runs (never a full pipe that blocks a chatty node). `http=False`
    starts it without a REST gateway; `prefix` runs it under another command
    (e.g. `ip netns exec NS`); `name` is its --name (and its log file's)."""

    def __init__(self, *scripts, name=None, args=(), http=True, port=None, wait=True, env=None,
                 prefix=(), http_host=None):
        self.name = name
        self.port = (port or free_port()) if http else None
        self.logpath = os.path.join(logdir(), "%s-%d.log" % (name or "node", len(_procs)))
        self._logfile = open(self.logpath, "wb")
        cmd = [*prefix, FDNODE]
        if http:
            cmd += ["--http", str(self.port)]
            if http_host:
                cmd += ["--http-host", http_host]
        if name:
            cmd += ["--name", name]
        cmd += [*transport_args(), *args, *scripts]
        self.signalled = False
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self._logfile, env={**os.environ, **(env or {})})
        _procs.append(self.proc)
        if wait:
            self.wait_ready()

    def wait_ready(self, seconds=10):
        """Ready when the node logs that it serves (its gateway, if any, listens by
        then): the same for a node with or without a gateway, in any namespace."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if " serving " in self.log():
                return
            if self.proc.poll() is not None:
                raise RuntimeError("fdnode %s exited early (%s): %s" % (self.name, self.proc.returncode, self.log()))
            time.sleep(0.01)
        raise RuntimeError("fdnode %s not serving after %ss: %s" % (self.name, seconds, self.log()))

    def request(self, method, path, body=None, headers=None, raw=None, timeout=10):
        """Returns (status, decoded JSON or None, headers dict). A request that fails (refused,
        reset, timed out) or an answer that is not JSON raises as it would, with a note that
        names the request, the node, and whether the node still runs."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        h = dict(headers or {})
        data = raw
        if body is not None:
            data = json.dumps(body)
            h.setdefault("Content-Type", "application/json")
        try:
            conn.request(method, path, body=data, headers=h)
            resp = conn.getresponse()
            text = resp.read()
        except (OSError, http.client.HTTPException) as e:
            e.add_note(self._about(method, path))
            raise
        finally:
            conn.close()
        try:
            value = json.loads(text) if text else None
        except ValueError as e:
            e.add_note("%s: status %d, a body that is not JSON: %r" % (self._about(method, path), resp.status,
                                                                       text[:200]))
            raise
        return resp.status, value, {k.lower(): v for k, v in resp.getheaders()}

    def _about(self, method, path):
        """A failed request's note: the request, the node, and whether the node still runs."""
        code = self.proc.poll()
        state = ("still runs" if code is None else "was killed by signal %d" % -code if code < 0
                 else "has exited with status %d" % code)
        who = "node %s (gateway port %s)" % (self.name, self.port) if self.name else "the node at port %s" % self.port
        return "%s %s on %s, which %s" % (method, path[:200], who, state)

    def signal(self, sig):
        if sig in (signal.SIGTERM, signal.SIGINT):
            self.signalled = True
        self.proc.send_signal(sig)

    def stop(self, timeout=10):
        """SIGTERM (unless the test already sent a stop signal), then wait: the
        exit code, or None when it had to be killed."""
        if self.proc.poll() is None and not self.signalled:
            self.signalled = True
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def kill(self):
        """SIGKILL, and reap it."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)

    def alive(self):
        return self.proc.poll() is None

    def log(self):
        """The node's log (its stderr) so far."""
        try:
            with open(self.logpath, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    stderr = log


def rss_kb(pid, field="VmRSS:"):
    """A process's resident set now (VmRSS), or its peak so far ("VmHWM:"), in kB; -1 if unknown.
    A process that is gone raises: a bound on its memory cannot pass."""
    try:
        f = open("/proc/%d/status" % pid)
    except FileNotFoundError:
        raise RuntimeError("rss_kb: process %d is gone (it exited, or was never started)" % pid) from None
    with f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    return -1


def nfds(pid):
    """How many file descriptors a process has open; -1 if unknown."""
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return -1


def connect(port, timeout=5, rcvbuf=None, nodelay=False):
    """A TCP connection to port on 127.0.0.1; rcvbuf (set before connecting, so the window stays
    small) for a client that is not going to read."""
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(timeout)
    try:
        s.connect(("127.0.0.1", port))
    except OSError as e:
        s.close()
        e.add_note("connecting to 127.0.0.1:%d" % port)
        raise
    if nodelay:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def open_many(port, n, pause_every, label):
    """Opens up to n connections to port, pausing 10 ms after every pause_every of them (so
    the listener's backlog keeps up). A connection that fails is a failed check named after
    label and stops the opening. Returns the sockets, when each was opened, and the seconds
    it all took."""
    socks, opened_at = [], []
    t = time.monotonic()
    for i in range(n):
        try:
            socks.append(connect(port))
            opened_at.append(time.monotonic())
        except OSError as e:
            check(False, "%s: connection %d opens" % (label, i), repr(e))
            break
        if i % pause_every == pause_every - 1:
            time.sleep(0.01)
    return socks, opened_at, time.monotonic() - t


def run_fdnode(*args, timeout=10):
    """Runs fdnode to completion; returns (exit code, stdout, stderr)."""
    if args and args[0] in ("ls", "call"):
        args = (args[0], *transport_args(), *args[1:])
    p = subprocess.run([FDNODE, *args], cwd=ROOT, capture_output=True, timeout=timeout)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def raise_nofile(want):
    """Raises this process's soft limit of descriptors to want (at most the hard limit): a test
    that opens thousands of connections."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, want) if hard != resource.RLIM_INFINITY else want
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


FIGURES = []  # the figures a test measured: printed as they come, and again by print_figures()


def figure(line):
    FIGURES.append(line)
    print("  " + line)


def percentile(values, p):
    """The value at fraction p (0..1) of the sorted values."""
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * p))]


def echo_latencies(conn, busy, seconds, pause=0.0, limit=100000):
    """GET /echo?n=i on a kept-alive connection while busy() holds (bounded: seconds, limit
    calls), `pause` s after each: the latencies in ms. A call answered with another call's echo
    is a failed check and ends the loop. The probe of the reactor the off-reactor tests share."""
    import json
    lat, deadline, i = [], time.monotonic() + seconds, 0
    while busy() and time.monotonic() < deadline and i < limit:
        i += 1
        c0 = time.monotonic()
        conn.request("GET", "/echo?n=%d" % i)
        body = json.loads(conn.getresponse().read())
        lat.append((time.monotonic() - c0) * 1000)
        if body.get("echo") != str(i):
            check(False, "echo answers its own call", repr(body))
            break
        if pause:
            time.sleep(pause)
    return lat


def print_figures():
    print("figures:\n  " + "\n  ".join(FIGURES), file=sys.stderr)


def check(cond, name, detail=""):
    global _passed, _failed
    if cond:
        _passed += 1
    else:
        _failed += 1
        print("FAIL:", name, detail, file=sys.stderr)


# tools/test --sanitize sets this: ASan keeps freed memory in quarantine and
# pads every block, so resident-memory bounds hold only in the plain build.
SANITIZED = os.environ.get("FDN_SANITIZED") == "1"


def check_memory(cond, name, detail=""):
    """A bound on a node's resident memory: checked in the plain build; under
    sanitizers the figures are printed and the check is skipped."""
    if SANITIZED:
        print("not checked under sanitizers: %s (%s)" % (name, detail))
        return
    check(cond, name, detail)


def tcp_case(name):
    """@case, for a case about the TCP links themselves (a raw peer speaking their frames): run
    only on the TCP transport; with FDN_TRANSPORT=nats it is skipped (said in the output)."""
    if os.environ.get("FDN_TRANSPORT", "tcp") == "tcp":
        return case(name)
    return lambda fn: print("skipped over NATS (a case about the TCP links): %s" % name)


def eq(actual, expected, name):
    check(actual == expected, name, "\n  expected %r\n  got      %r" % (expected, actual))


def case(name):
    """A decorator that runs the function at once as the case `name`:

        @case("a provider stopped with 20 calls in flight answers all 20")
        def _():
            ...

    An exception inside it is printed with its traceback and the case's name and counted as
    one failed check; then the next case runs. State that later cases use stays at module
    level (`global`): when the case that makes it fails, the cases that need it fail too."""
    def run(fn):
        global _failed
        failed_before, what = _failed, []
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - whatever it is, it fails this case only
            _failed += 1
            print("ERROR: case '%s' raised:" % name, file=sys.stderr)
            traceback.print_exception(e.__class__, e, e.__traceback__.tb_next, file=sys.stderr)
            first = traceback.format_exception_only(e)[0].strip()[:200]
            what.append("; ".join(["raised " + first, *getattr(e, "__notes__", [])[:1]]))
        checks = _failed - failed_before - len(what)
        if checks:
            what.insert(0, "%d check%s failed" % (checks, "" if checks == 1 else "s"))
        if what:
            _failed_cases.append((name, ", ".join(what)))
        return fn
    return run


def finish():
    for p in _procs:
        if p.poll() is None:
            p.kill()
            p.wait()
    for name, what in _failed_cases:
        print("FAILED CASE: %s (%s)" % (name, what), file=sys.stderr)
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
