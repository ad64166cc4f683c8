"""A clean stop answers every call it ran, and runs no call it will not answer (DESIGN §5).
A raw consumer checks the drain's protocol step by step (BYE, requests refused as "not run",
the answer of a call in flight, the BYE back, the close); then a provider stopped with
SIGTERM while 20 calls run answers all 20, and rolling restarts of two replicas under eight
threads of creates fail none and run none twice."""
from netns import isolate

isolate()

import http.client  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import struct  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402

from fdntest import Node, answers, case, check, eq, finish, tcp_case, wait_until  # noqa: E402

PROVIDER = "tests/integration/fixtures/drain/provider.lua"
GATEWAY = "tests/integration/fixtures/drain/gateway.lua"
HELLO, SERVICES, REQ, RES, ERR, BYE, PEERS = 1, 2, 3, 4, 5, 10, 11
NOT_RUN = 1


def rpc_port(node):
    m = re.search(r" on port (\d+)", node.log())
    return int(m.group(1))


class RawConsumer:
    """A consumer that speaks the link protocol itself, so that the test decides when each
    frame goes."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.buf = b""
        self.send(HELLO, 0, {"v": 1, "node": os.urandom(16).hex(), "name": "raw", "key": "default",
                             "port": 0, "boot": 1})

    def send(self, ftype, fid, body, flags=0):
        data = b"" if body is None else json.dumps(body).encode()
        self.s.sendall(struct.pack(">IBBI", len(data) + 6, ftype, flags, fid) + data)

    def next_frame(self, seconds=5):
        """(type, flags, id, body) of the next frame but PING/PONG; None at EOF or after
        `seconds`."""
        deadline = time.monotonic() + seconds
        while True:
            if len(self.buf) >= 10:
                length, ftype, flags, fid = struct.unpack(">IBBI", self.buf[:10])
                if len(self.buf) >= 4 + length:
                    body = self.buf[10:4 + length]
                    self.buf = self.buf[4 + length:]
                    if ftype in (8, 9):
                        continue
                    return ftype, flags, fid, json.loads(body) if body else None
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.s.settimeout(left)
            try:
                data = self.s.recv(65536)
            except (socket.timeout, ConnectionError):
                return None
            if not data:
                return None
            self.buf += data

    def until(self, ftype, seconds=5):
        """Frames up to the first of type ftype (that one), skipping the others."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            f = self.next_frame(deadline - time.monotonic())
            if f is None or f[0] == ftype:
                return f
        return None


@tcp_case("the protocol, step by step: BYE, requests refused as 'not run', the answer in flight, the close")
def _():
    p = Node(PROVIDER, name="raw-provider", http=False)
    c = RawConsumer(rpc_port(p))
    check(c.until(SERVICES) is not None, "raw consumer: HELLO answered, service table sent")
    c.send(REQ, 7, ["echo", "get", "inflight", None, {"query": {"ms": "600"}}])
    time.sleep(0.2)
    t_stop = time.monotonic()
    p.signal(signal.SIGTERM)
    f = c.until(BYE, 3)
    check(f is not None, "a stopping node says BYE to its consumers at once")
    c.send(REQ, 8, ["echo", "get", "late", None, None])
    c.send(REQ, 9, ["echo", "create", None, {"k": "late"}, None])
    refused = [c.next_frame(3) for _ in range(2)]
    eq([(x[0], x[1], x[2]) if x else None for x in refused], [(ERR, NOT_RUN, 8), (ERR, NOT_RUN, 9)],
       "requests that arrive after the BYE are refused, flagged 'not run'")
    eq(refused[0][3].get("name") if refused[0] else None, "Unavailable", "the refusal is an Unavailable error")
    f = c.next_frame(3)
    eq((f[0], f[2], f[3].get("id")) if f else None, (RES, 7, "inflight"), "the call in flight still gets its answer")
    check(p.alive(), "the node waits for the consumer's BYE before it closes")
    c.send(BYE, 0, None)
    check(c.next_frame(3) is None, "after the BYE back, the link closes")
    eq(p.stop(), 0, "the provider exits 0")
    log = p.log()
    check("ran late" not in log and "ended late" not in log, "the refused requests never ran", log[-400:])
    check("ended inflight" in log, "the call in flight ran to its end")
    took = time.monotonic() - t_stop
    check(took < 3, "the drain took the call's time, not a timeout", "%.2fs" % took)


@tcp_case("a consumer that never says BYE back: the stop is bounded all the same")
def _():
    p = Node(PROVIDER, name="raw-provider-2", http=False, args=["--shutdown-timeout", "1500"])
    c = RawConsumer(rpc_port(p))
    c.until(SERVICES)
    t_stop = time.monotonic()
    p.signal(signal.SIGTERM)
    check(c.until(BYE, 3) is not None, "BYE sent")
    eq(p.stop(timeout=5), 0, "without the consumer's BYE back the node still exits 0")
    took = time.monotonic() - t_stop
    check(took < 3, "within --shutdown-timeout (1.5 s)", "%.2fs" % took)


@case("a provider stopped with 20 calls in flight answers all 20")
def _():
    global gw
    gw = Node(GATEWAY, name="gw")
    p = Node(PROVIDER, name="p1", http=False)
    check(wait_until(answers(gw, "/echo/ready"), 5), "the gateway sees the provider")
    codes = []

    def one(i):
        try:
            codes.append(gw.request("GET", "/echo/%d?ms=1500" % i, timeout=15)[0])
        except OSError as e:
            codes.append(repr(e))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    time.sleep(0.5)  # the 20 calls reach the provider and sleep there
    p.signal(signal.SIGTERM)
    for t in threads:
        t.join(20)
    eq(p.stop(), 0, "the provider exits 0")
    eq(Counter(codes), Counter({200: 20}), "SIGTERM with 20 calls in flight: all 20 answered")
    eq(len(re.findall(r"ended \d+", p.log())), 20, "the provider ran all 20 to their end")


@case("rolling restarts of two replicas under eight threads of creates")
def _():
    replicas = {"a": Node(PROVIDER, name="a0", http=False), "b": Node(PROVIDER, name="b0", http=False)}
    all_nodes = list(replicas.values())
    check(wait_until(lambda: gw.request("POST", "/echo", {"k": "probe"})[0] == 201 and
                     "ran probe" in all_nodes[0].log() and "ran probe" in all_nodes[1].log(), 5),
          "the gateway reaches both replicas")
    stop_load = threading.Event()
    sent, failed, lock = [0], [], threading.Lock()

    def creator(w):
        conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=30)
        n = 0
        while not stop_load.is_set() and n < 100000:
            k = "%d-%d" % (w, n)
            n += 1
            try:
                conn.request("POST", "/echo", json.dumps({"k": k}), {"Content-Type": "application/json"})
                r = conn.getresponse()
                body = r.read()
                status = r.status
            except OSError as e:
                status, body = repr(e), b""
                conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=30)
            with lock:
                sent[0] += 1
                if status != 201:
                    failed.append((k, status, body[:100]))

    workers = [threading.Thread(target=creator, args=(w,)) for w in range(8)]
    for t in workers:
        t.start()
    for r in (1, 2):
        for name in ("a", "b"):
            time.sleep(1.5)
            old = replicas[name]
            old.signal(signal.SIGTERM)
            eq(old.stop(), 0, "replica %s exits 0 on SIGTERM" % old.name)
            replicas[name] = Node(PROVIDER, name="%s%d" % (name, r), http=False)
            all_nodes.append(replicas[name])
    time.sleep(1.5)
    stop_load.set()
    for t in workers:
        t.join(40)
    ran = Counter()
    for node in all_nodes:
        ran.update(k for k in re.findall(r"ran (\d+-\d+)", node.log()))
    print("rolling restarts: %d creates sent, %d failed, %d ran, %d ran twice or more"
          % (sent[0], len(failed), sum(ran.values()), sum(1 for v in ran.values() if v > 1)))
    check(sent[0] > 200, "the load ran", sent[0])
    eq(failed, [], "rolling restarts under load: no create failed")
    eq([k for k, v in ran.items() if v > 1], [], "no create ran twice")
    eq(sum(ran.values()), sent[0], "every create answered ran exactly once")
    for node in replicas.values():
        node.stop()
    gw.stop()


finish()
