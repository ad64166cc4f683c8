"""Hostile peers against a real fdnode's RPC listener and discovery (DESIGN §2, §4, §5): garbage,
absurd frame lengths, unknown frame types, bad HELLOs, frames before HELLO, connections that
never speak, a consumer that stops reading, and a flood of forged beacons. Each is refused or
disconnected; after each the node still answers over REST; its memory (VmRSS), descriptors
(/proc/PID/fd) and log stay bounded. Ends with a --secret node dropping untagged beacons."""
from netns import isolate

isolate()

import json  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import select  # noqa: E402
import socket  # noqa: E402
import struct  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

from fdntest import (Node, case, check, check_memory, connect, eq, figure, finish, free_port, nfds,  # noqa: E402
                     open_many, print_figures, raise_nofile, rss_kb, wait_until)

T0 = time.monotonic()
BIG = "tests/integration/fixtures/hostile/big.lua"
GROUP, GROUP_PORT = "239.255.70.68", 47468
HELLO, SERVICES, REQ, RES, ERR = 1, 2, 3, 4, 5
SEED = int(os.environ.get("FDN_HOSTILE_SEED") or random.SystemRandom().randrange(1, 1 << 30))
RNG = random.Random(SEED)  # the random streams' contents (datagram ids and tags come from urandom)
SEED_NOTE = "(FDN_HOSTILE_SEED=%d)" % SEED

raise_nofile(8192)



def frame(ftype, fid=0, body=b"", flags=0):
    if isinstance(body, str):
        body = body.encode()
    return struct.pack(">IBBI", len(body) + 6, ftype, flags, fid) + body


def hello(v=1, key="default", node=None, port=0):
    return frame(HELLO, 0, json.dumps({"v": v, "node": node or os.urandom(16).hex(), "name": "hostile",
                                       "key": key, "port": port, "boot": RNG.randrange(1, 1 << 31)}))


def closed_by_peer(s, seconds):
    """Reads (and discards) until the node closes the connection (EOF or reset): the seconds
    that took, or None when it was still open after `seconds`."""
    t0 = time.monotonic()
    deadline = t0 + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        r, _, _ = select.select([s], [], [], left)
        if not r:
            continue
        try:
            if not s.recv(65536):
                return time.monotonic() - t0
        except OSError:  # reset
            return time.monotonic() - t0


def send_quietly(s, data):
    try:
        s.sendall(data)
    except OSError:
        pass  # the node may already have hung up: that is an answer too


node = None


def serving(label):
    """The node is alive and its gateway answers."""
    ok = node.alive()
    status = None
    if ok:
        try:
            status = node.request("GET", "/echo/7", timeout=5)[0]
        except Exception as e:  # noqa: BLE001 - any client-side failure is a failed call
            status = repr(e)
    eq((ok, status), (True, 200), "%s: the node still serves REST afterwards" % label)


def log_lines():
    return node.log().splitlines()


def case_disconnect(label, payload, seconds, needle):
    """Sends payload on a fresh connection; the node must close it within `seconds` and log a
    line containing needle."""
    before = len(log_lines())
    s = connect(rpc)
    send_quietly(s, payload)
    took = closed_by_peer(s, seconds)
    s.close()
    check(took is not None, "%s: the node disconnects" % label, "still open after %s s" % seconds)
    new = log_lines()[before:]
    if needle:
        wait_until(lambda: any(needle in ln for ln in log_lines()[before:]), 2)
        new = log_lines()[before:]
        # logged, unless that kind of failure is being rate-limited right now (the
        # node logs at most 20 of a kind per 10 s, then how many it left out)
        limited = sum(needle in ln for ln in log_lines()) >= 20
        check(any(needle in ln for ln in new) or limited, "%s: the node logs '%s'" % (label, needle),
              "\n".join(new))
    serving(label)
    return took, new


class Sampler(threading.Thread):
    """The node's fd count every 20 ms while it runs: .peak."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.halt = pid, 0, threading.Event()
        self.start()

    def run(self):
        while not self.halt.is_set():
            self.peak = max(self.peak, nfds(self.pid))
            time.sleep(0.02)

    def stop(self):
        self.halt.set()
        self.join(2)
        return self.peak


class Prober(threading.Thread):
    """GET /echo/N on the node's gateway every 100 ms while it runs: .results is a list of
    (seconds, status or error name)."""

    def __init__(self, n, timeout=2.0):
        super().__init__(daemon=True)
        self.n, self.timeout, self.results, self.halt = n, timeout, [], threading.Event()
        self.start()

    def run(self):
        while not self.halt.is_set():
            t = time.monotonic()
            try:
                st = self.n.request("GET", "/echo/%d" % len(self.results), timeout=self.timeout)[0]
            except Exception as e:  # noqa: BLE001 - any failure is a failed probe
                st = type(e).__name__
            self.results.append((time.monotonic() - t, st))
            self.halt.wait(0.1)

    def stop(self):
        self.halt.set()
        self.join(self.timeout + 2)
        return self.results

    def failures(self):
        return [r for r in self.results if r[1] != 200]


def key_hash(key):
    h = 2166136261
    for c in key.encode():
        h = ((h ^ c) * 16777619) & 0xFFFFFFFF
    return h


def beacon(node_id, port, key="default", boot=None, seq=None, flags=0, stamp=None):
    return (b"FDNB" + struct.pack(">BB", 1, flags) + node_id +
            struct.pack(">IIHIII", boot if boot is not None else RNG.randrange(1, 1 << 32),
                        seq if seq is not None else RNG.randrange(1 << 32), port, key_hash(key),
                        RNG.randrange(1 << 32), stamp if stamp is not None else int(time.time())))


def mcast_socket():
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1"))
    u.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
    u.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
    return u


def flood(count, tarpit_port, closed_port):
    """Sends `count` forged datagrams to the group, ~5000 a second (faster, the kernel drops
    most before the node reads them): a fifth random 44-byte packets, a tenth garbage of other
    sizes, then well-formed beacons of random node ids in our key, advertising a port that
    never answers (a listen queue nobody accepts from) or a closed one, a few tagged or
    leaving. Returns (datagrams sent, by kind)."""
    kinds = {"random": 0, "garbage": 0, "tarpit": 0, "closed": 0, "tagged": 0, "leaving": 0}
    sent = 0
    for i in range(count):
        k = i % 10
        if k < 2:
            pkt, kind = os.urandom(44), "random"
        elif k == 2:
            pkt, kind = os.urandom(RNG.choice([0, 1, 43, 45, 76, 77, 200, 1400])), "garbage"
        elif k < 6:
            pkt, kind = beacon(os.urandom(16), tarpit_port), "tarpit"
        elif k < 9:
            pkt, kind = beacon(os.urandom(16), closed_port), "closed"
        elif i % 20 == 9:
            pkt, kind = beacon(os.urandom(16), tarpit_port, flags=2) + os.urandom(32), "tagged"
        else:
            pkt, kind = beacon(os.urandom(16), tarpit_port, flags=1), "leaving"
        try:
            u.sendto(pkt, (GROUP, GROUP_PORT))
            sent += 1
            kinds[kind] += 1
        except OSError:
            pass
        if i % 200 == 199:
            time.sleep(0.03)
    return sent, kinds


assert len(beacon(b"\0" * 16, 1)) == 44

# peers that accept nothing: a listener whose queue nobody accepts from, and a closed port
tarpit = socket.socket()
tarpit.bind(("127.0.0.1", 0))
tarpit.listen(4096)
tarpit_port = tarpit.getsockname()[1]
closed_port = free_port()

u = mcast_socket()


@case("the plain node starts and serves")
def _():
    global node, pid, rpc, base_rss, base_fds
    rpc = free_port()
    node = Node(BIG, name="hostile", args=["--port", str(rpc)])
    pid = node.proc.pid
    serving("start")
    base_rss, base_fds = rss_kb(pid), nfds(pid)
    figure("baseline: VmRSS %d kB, %d fds" % (base_rss, base_fds))


@case("a. random bytes")
def _():
    # Random streams (random sizes, a few with a plausible header so that they are read further):
    # each must end with a disconnect, at the latest by the 3 s handshake deadline.
    t = time.monotonic()
    socks = []
    for i in range(40):
        s = connect(rpc)
        data = bytes(RNG.randrange(256) for _ in range(RNG.choice([1, 7, 10, 64, 1000, 65536])))
        if i % 4 == 0 and len(data) >= 10:  # a sane length and a HELLO type, then garbage
            data = struct.pack(">IB", RNG.randrange(6, 4096), RNG.choice([1, 8, 9, 10])) + data[5:]
        send_quietly(s, data)
        socks.append(s)
    open_after = [s for s in socks if closed_by_peer(s, 4.5) is None]
    for s in socks:
        s.close()
    eq(len(open_after), 0, "a: 40 connections of random bytes are all closed within 4.5 s %s" % SEED_NOTE)
    figure("a. random bytes: 40 connections closed in %.2f s" % (time.monotonic() - t))
    serving("a")
    s = connect(rpc)
    send_quietly(s, os.urandom(1 << 20))  # 1 MiB of noise on one connection
    eq(closed_by_peer(s, 4.5) is not None, True, "a: 1 MiB of random bytes: disconnected")
    s.close()
    serving("a (1 MiB)")


@case("b. absurd frame lengths")
def _():
    for ln in (0xFFFFFFFF, 0x80000000, (1 << 20) + 1):
        took, _ = case_disconnect("b: length 0x%08x" % ln, struct.pack(">IBBI", ln, HELLO, 0, 0), 2.0,
                                  "frame too large")
        figure("b. frame length 0x%08x: closed after %s s" % (ln, "%.3f" % took if took is not None else "-"))
    case_disconnect("b: length 0 (shorter than a header)", struct.pack(">IBBI", 0, HELLO, 0, 0), 2.0, "frame too short")
    case_disconnect("b: absurd length after a good HELLO", hello() + struct.pack(">IBBI", 0xFFFFFFF0, REQ, 0, 1), 2.0,
                    "frame too large")


@case("c. unknown frame types")
def _():
    for ft in (200, 0, 12):
        case_disconnect("c: frame type %d" % ft, frame(ft, 1, b"{}"), 2.0, "unknown frame type")
    case_disconnect("c: type 200 after a good HELLO", hello() + frame(200, 1, b"{}"), 2.0, "unknown frame type")


@case("d. bad HELLOs")
def _():
    case_disconnect("d: HELLO with protocol version 2", hello(v=2), 2.0, "bad HELLO (protocol version 2)")
    case_disconnect("d: HELLO that is not JSON", frame(HELLO, 0, b"\xff{not json"), 2.0, "bad HELLO")
    case_disconnect("d: HELLO without a node id", frame(HELLO, 0, json.dumps({"v": 1, "key": "default"})), 2.0,
                    "bad HELLO")


@case("d. another partition's key: refused, no HELLO, no table, no answer")
def _():
    took, _ = case_disconnect("d: HELLO with another key", hello(key="elsewhere"), 2.0, None)
    s = connect(rpc)
    send_quietly(s, hello(key="elsewhere") + frame(REQ, 1, json.dumps(["echo", "get", 1, None, {}])))
    got = b""
    while True:
        r, _, _ = select.select([s], [], [], 1.0)
        if not r:
            break
        try:
            chunk = s.recv(65536)
        except OSError:
            break
        if not chunk:
            break
        got += chunk
    s.close()
    check(b'"node":"hostile"' not in got and b"echo" not in got, "d: another key gets no HELLO, no table, no answer",
          repr(got[:200]))


@case("d. frames before any HELLO: a protocol error")
def _():
    case_disconnect("d: REQ before any HELLO", frame(REQ, 1, json.dumps(["echo", "get", 1, None, {}])), 2.0,
                    "protocol error: REQ")
    case_disconnect("d: SUB before any HELLO", frame(6, 1, json.dumps({"path": "echo"})), 2.0, "protocol error")
    case_disconnect("d: RES before any HELLO", frame(RES, 1, b"{}"), 2.0, "protocol error")


@case("d. control: a good HELLO then a REQ is answered")
def _():
    s = connect(rpc)
    send_quietly(s, hello() + frame(REQ, 77, json.dumps(["echo", "get", 5, None, {}])))
    buf, answered = b"", None
    deadline = time.monotonic() + 3
    while answered is None and time.monotonic() < deadline:
        r, _, _ = select.select([s], [], [], 0.2)
        if r:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
        while len(buf) >= 10:
            ln, ft, _, fid = struct.unpack(">IBBI", buf[:10])
            if len(buf) < ln + 4:
                break
            if ft in (RES, ERR) and fid == 77:
                answered = (ft, json.loads(buf[10:ln + 4]))
            buf = buf[ln + 4:]
    s.close()
    eq(answered, (RES, {"id": 5, "node": "hostile"}), "d: control: a good HELLO then a REQ is answered")


@case("e. 1000 connections that never speak")
def _():
    # Opened in batches of 50 (the listen queue is 128: faster, the kernel drops SYNs and connects
    # stall for a second). Until its HELLO deadline the node may send PINGs: a connection counts as
    # closed at its EOF or reset only.
    N_IDLE = 1000
    fds0, rss0, lines0 = nfds(pid), rss_kb(pid), len(log_lines())
    sampler = Sampler(pid)
    idle, opened_at, t_open = open_many(rpc, N_IDLE, 50, "e")
    serving("e (while %d silent connections are open)" % len(idle))
    closed_at, pinged = {}, 0
    pending_socks = {}
    poller = select.poll()
    for k, s in enumerate(idle):
        s.setblocking(False)
        pending_socks[s.fileno()] = k
        poller.register(s, select.POLLIN | select.POLLHUP | select.POLLERR)
    deadline = time.monotonic() + 6
    while pending_socks and time.monotonic() < deadline:
        for fd, _ in poller.poll(100):
            k = pending_socks.get(fd)
            if k is None:
                continue
            try:
                data = idle[k].recv(4096)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if data:
                pinged += 1
                continue
            del pending_socks[fd]
            poller.unregister(fd)
            closed_at[k] = time.monotonic() - opened_at[k]
    for s in idle:
        s.close()
    eq(len(pending_socks), 0, "e: every silent connection is closed by the handshake deadline (within 6 s)")
    lat = sorted(closed_at.values())
    if lat:
        check(lat[0] >= 2.5, "e: not closed before the 3 s deadline", "first after %.2f s" % lat[0])
        check(lat[-1] <= 4.5, "e: closed by the 3 s deadline (+ the 250 ms sweep, + slack for a loaded machine)",
              "last after %.2f s" % lat[-1])
    back = wait_until(lambda: nfds(pid) <= fds0 + 2, 3)
    peak = sampler.stop()
    fds1, rss1 = nfds(pid), rss_kb(pid)
    check(peak >= fds0 + len(idle) - 5, "e: the node accepted the %d connections" % len(idle),
          "fds %d -> %d" % (fds0, peak))
    eq(bool(back), True, "e: the node's fd count goes back down (%d -> peak %d -> %d)" % (fds0, peak, fds1))
    check_memory(rss1 - rss0 <= 4096, "e: VmRSS bounded after 1000 silent connections", "%d -> %d kB" % (rss0, rss1))
    new = log_lines()[lines0:]
    timeouts = [ln for ln in new if "handshake timeout" in ln]
    check(timeouts, "e: the node logs the handshake timeouts", "\n".join(new[-5:]))
    check(len(new) <= 100, "e: the log is rate-limited: %d silent connections make at most 100 lines" % N_IDLE,
          "%d lines, e.g. %r" % (len(new), new[:2]))
    figure("e. %d silent connections: opened in %.2f s; fds %d -> peak %d -> %d; closed %.2f-%.2f s after connect; "
           "%d PINGs seen before HELLO; VmRSS %d -> %d kB; %d log lines (%d 'handshake timeout')" % (
               len(idle), t_open, fds0, peak, fds1, lat[0] if lat else -1, lat[-1] if lat else -1, pinged, rss0, rss1,
               len(new), len(timeouts)))
    serving("e")


@case("f. a consumer that stops reading")
def _():
    # HELLO, then 400 requests for ~64 KiB answers, never reading: the node must drop the link as
    # a slow consumer once 8 MiB are pending (not buffer 25 MiB), and give the memory back.
    rss_f = [rss_kb(pid)]
    fds_f0 = nfds(pid)
    for rnd in range(3):
        lines0 = len(log_lines())
        s = connect(rpc, rcvbuf=4096)
        reqs = b"".join(frame(REQ, i + 1, json.dumps(["big", "get", i, None, {}])) for i in range(400))
        t = time.monotonic()
        send_quietly(s, hello() + reqs)
        dropped = wait_until(lambda: any("slow consumer" in ln for ln in log_lines()[lines0:]), 10)
        took = time.monotonic() - t
        check(dropped, "f%d: the node drops a consumer that does not read, as a slow consumer" % rnd,
              "\n".join(log_lines()[lines0:][-5:]))
        rss_peak = rss_kb(pid)
        s.setblocking(False)
        drained = 0
        end = None
        deadline = time.monotonic() + 5
        while end is None and time.monotonic() < deadline:  # what the kernel held: then EOF or reset
            r, _, _ = select.select([s], [], [], 0.5)
            if not r:
                continue
            try:
                chunk = s.recv(1 << 20)
                drained += len(chunk)
                if not chunk:
                    end = "eof"
            except BlockingIOError:
                continue
            except OSError:
                end = "reset"
        s.close()
        check(end is not None, "f%d: the slow consumer's connection is closed" % rnd)
        check(drained <= 16 << 20, "f%d: at most the node's bound (8 MiB) plus socket buffers reached the client" % rnd,
              "%d bytes" % drained)
        wait_until(lambda: nfds(pid) <= fds_f0 + 1, 3)
        serving("f%d" % rnd)
        time.sleep(0.3)
        rss_f.append(rss_kb(pid))
        figure("f%d. slow consumer: dropped after %.2f s; %d bytes had reached the client (then %s); VmRSS %d kB "
               "(%d at the drop)" % (rnd, took, drained, end, rss_f[-1], rss_peak))
    check_memory(rss_f[-1] - rss_f[0] <= 16 * 1024,
                 "f: VmRSS bounded over 3 slow consumers (at most 16 MiB above the start)", "%r kB" % rss_f)
    check_memory(rss_f[3] - rss_f[1] <= 4 * 1024, "f: no growth from one slow consumer to the next (rounds 1 -> 3)",
          "%r kB" % rss_f)
    eq(nfds(pid) <= fds_f0 + 1, True, "f: fd count back (%d -> %d)" % (fds_f0, nfds(pid)))


@case("g. a flood of forged beacons")
def _():
    N_BEACONS = 20000
    fds0, rss0, lines0 = nfds(pid), rss_kb(pid), len(log_lines())
    sampler = Sampler(pid)
    prober = Prober(node)
    t = time.monotonic()
    sent, kinds = flood(N_BEACONS, tarpit_port, closed_port)
    t_flood = time.monotonic() - t
    eq(sent, N_BEACONS, "g: %d forged datagrams sent" % N_BEACONS)
    probes = prober.stop()
    eq(prober.failures(), [], "g: the gateway answers every probe (every 100 ms, 2 s timeout) during the flood")
    serving("g (right after the beacon flood)")
    rss_flood = rss_kb(pid)
    # every bogus link ends by the 3 s connect/handshake deadlines
    back = wait_until(lambda: nfds(pid) <= fds0 + 2, 8)
    fd_peak = sampler.stop()
    fds1 = nfds(pid)
    time.sleep(0.3)
    rss1 = rss_kb(pid)
    check(node.alive(), "g: the node survives %d forged beacons" % N_BEACONS)
    eq(bool(back), True, "g: the node's fd count goes back down after the flood (%d -> %d)" % (fds0, fds1))
    check(fd_peak - fds0 <= 1024, "g: the node does not open thousands of links to bogus peers (fd peak at most +1024)",
          "fds %d -> peak %d" % (fds0, fd_peak))
    check_memory(rss1 - rss0 <= 8 * 1024, "g: VmRSS bounded after the beacon flood (at most 8 MiB more)",
          "%d -> %d kB (%d right after the flood)" % (rss0, rss1, rss_flood))
    new = log_lines()[lines0:]
    malformed = [ln for ln in new if "malformed" in ln]
    check(malformed, "g: the node logs the malformed datagrams", "\n".join(new[:5]))
    check(len(new) <= 100, "g: the log is rate-limited: %d forged beacons make at most 100 lines" % N_BEACONS,
          "%d lines; by kind: %s" % (len(new), {w: sum(w in ln for ln in new) for w in (
              "malformed", "tagged", "connect timeout", "handshake timeout", "connect failed", "joined", "lost")}))
    figure("g. %d REST probes during the flood, slowest %.3f s" % (len(probes), max(p[0] for p in probes)))
    figure("g. %d forged beacons %s in %.2f s: fds %d -> peak %d -> %d; VmRSS %d -> %d kB (%d just after); "
           "%d log lines (%d 'malformed', %d 'connect timeout', %d 'handshake timeout', %d 'tagged')" % (
               sent, kinds, t_flood, fds0, fd_peak, fds1, rss0, rss1, rss_flood, len(new), len(malformed),
               sum("connect timeout" in ln for ln in new), sum("handshake timeout" in ln for ln in new),
               sum("tagged" in ln for ln in new)))
    if len(new) > 100:
        print("  g. log sample: " + "\n    ".join([""] + new[:3] + ["..."] + new[-3:]))
    serving("g")

    # one forged beacon naming the node's own RPC port under another id: it must not become a peer
    # of itself (the HELLO that answers carries its own id)
    lines0 = len(log_lines())
    for _ in range(3):
        u.sendto(beacon(os.urandom(16), rpc), (GROUP, GROUP_PORT))
    time.sleep(1.0)
    new = log_lines()[lines0:]
    joined_self = [ln for ln in new if "peer hostile" in ln and "joined" in ln]
    eq(joined_self, [], "g: a forged beacon with the node's own port does not make it join itself")
    serving("g (own port)")
    wait_until(lambda: nfds(pid) <= fds0 + 2, 5)


@case("totals for the plain node")
def _():
    end_rss, end_fds = rss_kb(pid), nfds(pid)
    figure("plain node overall: VmRSS %d -> %d kB, fds %d -> %d, %d log lines in all" % (
        base_rss, end_rss, base_fds, end_fds, len(log_lines())))
    check_memory(end_rss - base_rss <= 24 * 1024, "overall VmRSS growth at most 24 MiB",
                 "%d -> %d kB" % (base_rss, end_rss))
    check(end_fds <= base_fds + 3, "overall fd count back to its start", "%d -> %d" % (base_fds, end_fds))
    eq(node.stop(), 0, "the plain node exits 0 on SIGTERM after all this")


@case("g2. the same flood against a node with the usual 1024 descriptors")
def _():
    # The forged peers must not exhaust the node's descriptors: its gateway keeps answering.
    g2 = Node(BIG, name="lowfd", args=["--port", str(free_port())], prefix=["prlimit", "--nofile=1024:1024"])
    g2pid = g2.proc.pid
    lines0 = len(g2.log().splitlines())
    sampler = Sampler(g2pid)
    prober = Prober(g2)
    t = time.monotonic()
    sent, kinds = flood(8000, tarpit_port, closed_port)
    time.sleep(1.0)
    probes = prober.stop()
    fd_peak = sampler.stop()
    wait_until(lambda: nfds(g2pid) <= 12, 8)
    new = g2.log().splitlines()[lines0:]
    emfile = [ln for ln in new if "Too many open files" in ln]
    check(g2.alive(), "g2: the node with 1024 descriptors survives the flood")
    eq(prober.failures(), [], "g2: with 1024 descriptors, the gateway answers every probe during the flood")
    slowest = max((p[0] for p in probes), default=-1)
    check(not emfile, "g2: the forged peers do not exhaust the node's descriptors",
          "%d lines like %r" % (len(emfile), emfile[:1]))
    check(len(new) <= 100, "g2: the log is rate-limited (8000 forged datagrams, at most 100 lines)",
          "%d lines" % len(new))
    figure("g2. RLIMIT_NOFILE 1024, %d forged datagrams in %.2f s: fd peak %d; %d REST probes (slowest %.2f s), "
           "%d failed %r; %d log lines, %d 'Too many open files'" % (
               sent, time.monotonic() - t, fd_peak, len(probes), slowest, len(prober.failures()), prober.failures()[:3],
               len(new), len(emfile)))
    g2.kill()
    tarpit.close()


@case("i. connections that announce a frame of the largest size before HELLO")
def _():
    # Each sends a header announcing a HELLO of --max-frame (1 MiB) and all but the last bytes of it,
    # then waits: the node must not hold 1 MiB for each unauthenticated connection (a HELLO is ~150
    # bytes). On a node of its own: the allocator keeps what it took.
    N_BIGHELLO = 200
    bhrpc = free_port()
    bh = Node(BIG, name="bighello", args=["--port", str(bhrpc)])
    bhpid = bh.proc.pid
    rss0, fds0 = rss_kb(bhpid), nfds(bhpid)
    announced = (1 << 20) - 4  # the length field: the frame is 1 MiB with it
    partial = struct.pack(">IBBI", announced, HELLO, 0, 0) + b"x" * (announced - 6 - 16)
    held = []
    t = time.monotonic()
    for i in range(N_BIGHELLO):
        try:
            s = connect(bhrpc)
            s.setblocking(False)
            s.send(partial)  # what the socket takes at once: no waiting on the node
            held.append(s)
        except OSError:
            pass
    serving_bh = bh.request("GET", "/echo/1", timeout=5)[0]
    wait_until(lambda: nfds(bhpid) <= fds0 + 1, 5)  # the handshake deadline closes them
    for s in held:
        s.close()
    rss_peak, rss1 = rss_kb(bhpid, "VmHWM:"), rss_kb(bhpid)
    eq(serving_bh, 200, "i: the node answers while %d partial 1 MiB HELLOs are pending" % N_BIGHELLO)
    check_memory(rss_peak - rss0 <= 64 * 1024, "i: %d partial 1 MiB HELLOs before any handshake: VmRSS +64 MiB at most"
          % N_BIGHELLO, "%d -> %d kB" % (rss0, rss_peak))
    figure("i. %d connections each sending %d bytes of an announced 1 MiB HELLO (in %.2f s): VmRSS %d -> peak "
           "(VmHWM) %d kB (%d kB after they were closed)" % (
               len(held), len(partial), time.monotonic() - t, rss0, rss_peak, rss1))
    bh.kill()


@case("h. --secret: untagged beacons are dropped")
def _():
    global node, pid
    rpc2 = free_port()
    node = Node(BIG, name="sealed", args=["--port", str(rpc2), "--secret", "hostile test secret 31337"])
    pid = node.proc.pid
    serving("h start")
    tarpit = socket.socket()
    tarpit.bind(("127.0.0.1", 0))
    tarpit.listen(256)
    tarpit_port = tarpit.getsockname()[1]
    time.sleep(0.8)  # the node's start beacons are over
    fds0, lines0 = nfds(pid), len(log_lines())
    sampler = Sampler(pid)
    for i in range(500):
        u.sendto(beacon(os.urandom(16), tarpit_port), (GROUP, GROUP_PORT))
        u.sendto(beacon(os.urandom(16), tarpit_port, flags=2) + os.urandom(32), (GROUP, GROUP_PORT))
        if i % 100 == 99:
            time.sleep(0.02)
    time.sleep(1.0)
    fd_peak = sampler.stop()
    new = log_lines()[lines0:]
    untagged = [ln for ln in new if "not tagged" in ln]
    badtag = [ln for ln in new if "bad tag" in ln]
    check(untagged or badtag, "h: a --secret node logs that it drops unauthenticated beacons", "\n".join(new[:5]))
    check(len(new) <= 10, "h: rate-limited (1000 forged beacons, at most 10 lines)", "%d lines" % len(new))
    check(fd_peak <= fds0 + 1, "h: no link is opened for an unauthenticated beacon",
          "fds %d -> peak %d" % (fds0, fd_peak))
    tarpit.setblocking(False)
    try:
        tarpit.accept()
        check(False, "h: nothing connected to the forged beacons' port")
    except BlockingIOError:
        pass
    tarpit.close()
    figure("h. --secret: 500 untagged + 500 bad-tag beacons: fds %d -> peak %d; %d log lines (%r)" % (
        fds0, fd_peak, len(new), [ln[:120] for ln in new]))
    # plaintext frames at a TLS listener: refused
    lines0 = len(log_lines())
    s = connect(rpc2)
    send_quietly(s, hello() + frame(REQ, 1, json.dumps(["echo", "get", 1, None, {}])))
    took = closed_by_peer(s, 4.0)
    s.close()
    check(took is not None, "h: a plaintext HELLO to a --secret node is disconnected")
    serving("h")
    eq(node.stop(), 0, "the --secret node exits 0 on SIGTERM")
    u.close()


print("runtime: %.1f s" % (time.monotonic() - T0))
print_figures()
finish()
