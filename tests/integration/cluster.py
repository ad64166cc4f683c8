"""cluster: helpers for the multi-node integration tests (replicas, failover,
discovery, multi-host). Builds on fdntest: its nodes are killed at exit and
its check/eq/finish count the results. Every wait here is bounded."""
import json
import re
import signal
import sys
import threading
import time

import fdntest
from fdntest import Node, eq

FIX = "tests/integration/fixtures/cluster/"
PROVIDER = FIX + "provider.lua"      # items + echo (echo:get answers {id, node})
CONSUMER = FIX + "consumer.lua"      # heard: remote events and service/service-removed
LOCAL_ECHO = FIX + "local_echo.lua"  # a local `echo` (and, with FDN_LATE_MS, a late local `items`)
NAMED = FIX + "named.lua"            # one service at $FDN_PATH or "svc-<node name>"
_T0 = time.monotonic()


def finish():
    """fdntest.finish(), after a line with the test's runtime."""
    print("runtime: %.1f s" % (time.monotonic() - _T0))
    fdntest.finish()


def stop_all(nodes):
    """SIGTERM to every node at once, then waits for each: each must exit 0
    (the tail of its log is printed when it does not)."""
    nodes = list(nodes)
    for n in nodes:
        if n.alive():
            n.signal(signal.SIGTERM)
    for n in nodes:
        code = n.stop()
        if code != 0:
            dump(n, title="exit %r" % code)
        eq(code, 0, "%s exits 0 on SIGTERM" % n.name)


def kill_all(nodes):
    for n in nodes:
        n.kill()


class Fleet:
    """The nodes a test (or one part of it) starts, to end them together."""

    def __init__(self):
        self.nodes = []

    def node(self, *scripts, **kw):
        """Starts a Node (same arguments) that belongs to the fleet."""
        n = Node(*scripts, **kw)
        self.nodes.append(n)
        return n

    def stop_all(self):
        """Stops every node with SIGTERM: each must exit 0. The fleet is empty again."""
        stop_all(self.nodes)
        self.nodes.clear()

    def kill_all(self):
        """Kills every node (-9): the next part starts on a clean cluster."""
        kill_all(self.nodes)
        self.nodes.clear()


def dump(node, lines=40, title=None):
    """Prints the tail of a node's log to stderr (for a failure's report)."""
    text = node.log().splitlines()[-lines:]
    print("---- log of %s%s ----" % (node.name, (" (" + title + ")") if title else ""), file=sys.stderr)
    for line in text:
        print("  " + line, file=sys.stderr)


def lost_lines(*nodes):
    """Log lines in which a node says it lost a peer: in a healthy cluster there
    are none (DESIGN §2: a peer leaves only when its link fails or its pings go
    unanswered, never because of one beacon)."""
    return ["%s: %s" % (n.name, ln) for n in nodes for ln in n.log().splitlines()
            if " lost: " in ln or " restarted (boot " in ln]


def get(node, path, timeout=10):
    """GET path on node's gateway: (status, body); (None, error text) when the
    request itself fails (refused, reset, client timeout)."""
    try:
        s, r, _ = node.request("GET", path, timeout=timeout)
        return s, r
    except Exception as e:  # noqa: BLE001 - any client-side failure is a failed call
        return None, "%s: %s" % (type(e).__name__, e)


def request(node, method, path, body=None, timeout=10, headers=None):
    try:
        s, r, _ = node.request(method, path, body, headers=headers, timeout=timeout)
        return s, r
    except Exception as e:  # noqa: BLE001
        return None, "%s: %s" % (type(e).__name__, e)


def who(body):
    return body.get("node") if isinstance(body, dict) else None


def ms(seconds):
    return int(round(seconds * 1000))


def wait_providers(node, names, path="/echo/%d", seconds=8.0):
    """Polls GET path on node until every name in `names` has answered;
    returns the set of names seen."""
    names = set(names)
    seen = set()
    deadline = time.monotonic() + seconds
    i = 0
    while not names <= seen and time.monotonic() < deadline:
        i += 1
        s, r = get(node, path % i, timeout=3)
        if s == 200 and who(r):
            seen.add(who(r))
        else:
            time.sleep(0.02)
    return seen


class CallLoop(threading.Thread):
    """GET path % n on node, one call after the other, until halted, `count`
    calls or `seconds` elapsed. Records (start, end, status, node or error)."""

    def __init__(self, node, path="/echo/%d", count=5000, seconds=10.0, pause=0.002, timeout=15, first=0):
        super().__init__(daemon=True)
        self.node, self.path, self.count, self.seconds = node, path, count, seconds
        self.pause, self.timeout, self.first = pause, timeout, first
        self.records = []
        self._halt = threading.Event()

    def run(self):
        deadline = time.monotonic() + self.seconds
        for i in range(self.count):
            if self._halt.is_set() or time.monotonic() >= deadline:
                break
            t0 = time.monotonic()
            s, r = get(self.node, self.path % (self.first + i), timeout=self.timeout)
            t1 = time.monotonic()
            self.records.append((t0, t1, s, who(r) if s == 200 else r))
            if self.pause:
                time.sleep(self.pause)

    def halt(self):
        self._halt.set()
        self.join(self.timeout + 5)

    def failures(self):
        return [r for r in self.records if r[2] != 200]


def ls_json(*args, timeout=20):
    """`fdnode ls --json ARGS`: (exit code, decoded list or None, stderr)."""
    code, out, err = fdntest.run_fdnode("ls", "--json", *args, timeout=timeout)
    try:
        return code, json.loads(out), err
    except ValueError:
        return code, None, err + out


_TS = re.compile(r"^(\d\d):(\d\d):(\d\d)\.(\d\d\d) ")


def log_times(node, *needles):
    """Seconds since UTC midnight of each log line of node containing every needle."""
    out = []
    for line in node.log().splitlines():
        m = _TS.match(line)
        if m and all(n in line for n in needles):
            h, mi, s, frac = (int(x) for x in m.groups())
            out.append(h * 3600 + mi * 60 + s + frac / 1000.0)
    return out


def utc_now():
    """Now as seconds since UTC midnight (the clock of the log lines)."""
    t = time.time()
    return t % 86400.0


class Call(threading.Thread):
    """One HTTP call in a thread of its own: .status, .body, .elapsed (s) and
    .done_at (monotonic) once it is joined."""

    def __init__(self, node, method, path, body=None, timeout=20, headers=None):
        super().__init__(daemon=True)
        self.node, self.method, self.path, self.body, self.timeout = node, method, path, body, timeout
        self.headers = headers
        self.status, self.result, self.elapsed, self.done_at = None, None, None, None
        self.start()

    def run(self):
        t0 = time.monotonic()
        self.status, self.result = request(self.node, self.method, self.path, self.body, timeout=self.timeout,
                                           headers=self.headers)
        self.done_at = time.monotonic()
        self.elapsed = self.done_at - t0

    def wait(self, seconds=None):
        self.join(seconds if seconds is not None else self.timeout + 5)
        return self.status, self.result


# ---- a client to run inside another network namespace (`ip netns exec NS python3 cluster.py ...`) ----

def _raw_get(port, path, timeout):
    import http.client
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        conn.request("GET", path)
        resp = conn.getresponse()
        text = resp.read()
        conn.close()
        return resp.status, (json.loads(text) if text else None)
    except Exception as e:  # noqa: BLE001
        return None, "%s: %s" % (type(e).__name__, e)


def _main(argv):
    """get PORT PATH [TIMEOUT]: prints [status, body].
    loop PORT PATH_FMT SECONDS [MAX_CALLS]: GETs PATH_FMT % n one after the other; prints
    a list of [start, end, status, node or error] (CLOCK_MONOTONIC, as time.monotonic())."""
    if len(argv) >= 4 and argv[1] == "get":
        print(json.dumps(_raw_get(int(argv[2]), argv[3], float(argv[4]) if len(argv) > 4 else 5.0)))
        return 0
    if len(argv) >= 5 and argv[1] == "loop":
        port, fmt, seconds = int(argv[2]), argv[3], float(argv[4])
        limit = int(argv[5]) if len(argv) > 5 else 100000
        out, deadline = [], time.monotonic() + seconds
        for n in range(limit):
            if time.monotonic() >= deadline:
                break
            t0 = time.monotonic()
            s, r = _raw_get(port, fmt % n, 15.0)
            out.append([t0, time.monotonic(), s, who(r) if s == 200 else r])
            time.sleep(0.002)
        print(json.dumps(out))
        return 0
    print("usage: cluster.py get PORT PATH [TIMEOUT] | loop PORT PATH_FMT SECONDS [MAX_CALLS]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv))
