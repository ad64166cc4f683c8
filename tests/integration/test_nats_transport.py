"""--nats: nodes that reach each other only through a NATS server (natsserver.py starts a real
one in the test's namespace): no RPC listener and no multicast socket of their own; partition
keys; 20 nodes that all see each other; fdnode ls and call; with --secret, a NATS client without
it reads nothing and injects nothing; a server restart under load. (test_cluster, test_replicas,
test_failover, test_drain and test_frame_limit run over NATS too: tests/meson.build.)"""
import json
import os
import struct
import time

from netns import isolate

isolate()

from cluster import NAMED, PROVIDER, CallLoop, Fleet, finish, get, request  # noqa: E402
from fdntest import case, check, eq, figure, run_fdnode, wait_until  # noqa: E402
from natsserver import NatsServer, RawClient  # noqa: E402

server = NatsServer()
NATS = ["--nats", server.url]
fleet = Fleet()


def node(name, *args, path=None):
    env = {"FDN_PATH": path} if path else None
    return fleet.node(NAMED, name=name, args=[*NATS, *args], env=env)


def sockets(pid):
    """(TCP listening ports, UDP ports) of the process pid, from /proc."""
    inodes = set()
    fd_dir = "/proc/%d/fd" % pid
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    out = []
    for table, listening in (("tcp", "0A"), ("udp", None)):
        ports = []
        for fam in (table, table + "6"):
            try:
                lines = open("/proc/%d/net/%s" % (pid, fam)).read().splitlines()[1:]
            except OSError:
                continue
            for line in lines:
                f = line.split()
                if f[9] in inodes and (listening is None or f[3] == listening):
                    ports.append(int(f[1].split(":")[1], 16))
        out.append(sorted(ports))
    return out


def finds(n, path):
    s, _ = get(n, "/" + path, timeout=3)
    return s == 200


def sees(n, path):
    s, _ = get(n, "/" + path + "/1", timeout=3)
    return s == 200


def openssl_kib(pid):
    """KiB of libcrypto's and libssl's read-only file pages the process maps (its smaps)."""
    total, lib = 0, False
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            head = line.split()
            if "-" in head[0] and len(head) >= 5 and ":" in head[3]:
                lib = len(head) >= 6 and ("/libcrypto.so" in head[5] or "/libssl.so" in head[5]) \
                    and "w" not in head[1]
            elif lib and head[0] == "Rss:":
                total += int(head[1])
            elif lib and head[0] == "Anonymous:":
                total -= int(head[1])  # (relocated constants: written at load, kept)
    return total


@case("two nodes find each other and call each other's services through NATS alone")
def _():
    global a, b
    a = node("a")
    t0 = time.monotonic()
    b = node("b")
    check(wait_until(lambda: sees(b, "svc-a") and sees(a, "svc-b"), 5), "each calls the other's service")
    figure("--nats: a node's start until both call each other: %.0f ms" % ((time.monotonic() - t0) * 1000))
    s, r = get(b, "/svc-a/7")
    eq((s, r.get("node")), (200, "a"), "b's call ran on a")
    tcp, udp = sockets(a.proc.pid)
    eq(tcp, [a.port], "a listens on its HTTP port only (no RPC listener)")
    eq(udp, [], "a has no UDP socket (no multicast beacon)")
    kib = openssl_kib(a.proc.pid)
    check(kib < 512, "a maps few of the OpenSSL pages libnats' start touched (nats://: some 3 MiB)", kib)



@case("fdnode ls and fdnode call with --nats")
def _():
    code, out, err = run_fdnode("ls", *NATS, timeout=20)
    eq(code, 0, "ls exits 0: " + err)
    rows = {ln.split()[0]: ln.split() for ln in out.splitlines()[1:] if ln.strip()}
    eq(sorted(rows), ["a", "b"], "ls lists both nodes")
    eq([rows["a"][2], rows["a"][3]], ["nats", "svc-a(find,get)"], "their address (nats) and services")
    code, out, err = run_fdnode("call", *NATS, "svc-b", "get", "5", timeout=20)
    eq(code, 0, "call exits 0: " + err)
    check('"node":"b"' in out.replace(" ", ""), "the call ran on b", out)


@case("a node of another --key sees none of them, and they do not see it")
def _():
    k = node("k", "--key", "other")
    time.sleep(1.5)
    check(not sees(k, "svc-a") and not sees(a, "svc-k"), "keys partition one NATS server")
    k.stop()


@case("20 nodes on one NATS server: every node sees every other node's service")
def _():
    many = [node("n%d" % i) for i in range(18)]
    t_last = time.monotonic()
    nodes = [a, b, *many]
    names = [n.name for n in nodes]

    def all_see():
        for n in (nodes[0], nodes[7], nodes[-1]):
            for m in names:
                if m != n.name and not sees(n, "svc-" + m):
                    return False
        return True
    check(wait_until(all_see, 15, interval=0.1), "every probed node calls all 19 others' services")
    figure("--nats, 20 nodes: full view %.2f s after the last start (3 nodes probed)" % (time.monotonic() - t_last))
    for n in many:
        n.stop()


def forge(client, prefix, target, key, item):
    """A HELLO then a REQ (create item on `items`) to target, as nats_link frames them (a
    message of one frame each, encoded as on a TCP link), in plain text: from a sender id made up here."""
    me = b"e" * 32
    subject = "%s.node.%s" % (prefix, target)
    hello = json.dumps({"v": 1, "node": me.decode(), "name": "evil", "key": key, "port": 0}).encode()
    client.pub(subject, struct.pack(">c32sIIBBI", b"c", me, 7, len(hello) + 6, 1, 0, 0) + hello)
    req = json.dumps(["items", "create", None, item, {}]).encode()
    client.pub(subject, struct.pack(">c32sIIBBI", b"c", me, 7, len(req) + 6, 3, 0, 1) + req)


def sniff_while(fn, seconds=2.0):
    """A plain client subscribed to '>' while fn runs: the messages it got."""
    spy = RawClient(server.port)
    spy.sub(">")
    spy.read(0.3)
    fn()
    spy.read(seconds)
    spy.close()
    return spy.got


def items_named(n, name):
    s, r = get(n, "/items?name=%s" % name)
    return len(r) if s == 200 else None


def prefix_of(got, key):
    """The partition's subject prefix (its key's FNV-1a 64, as nats_link names it), checked
    against the beacons seen: other tests' partitions beacon on the same server."""
    h = 14695981039346656037
    for b in key.encode():
        h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    prefix = "fdn.%016x" % h
    check(any(s == prefix + ".beacon" for s, _ in got), "the spy saw the partition's beacons")
    return prefix


@case("without --secret (the control): a plain NATS client reads the calls and its forged call runs")
def _():
    p = fleet.node(PROVIDER, name="plain-p", args=[*NATS, "--key", "plain"])
    c = fleet.node(NAMED, name="plain-c", args=[*NATS, "--key", "plain"])
    check(wait_until(lambda: finds(c, "items"), 5), "plain-c reaches plain-p's items")
    got = sniff_while(lambda: c.request("POST", "/items", {"name": "MARKER-PLAIN"}))
    check(any(b"MARKER-PLAIN" in d for _, d in got), "the spy read the call's data", len(got))
    prefix = prefix_of(got, "plain")
    target = json.loads(run_fdnode("ls", "--json", *NATS, "--key", "plain", timeout=20)[1])
    pid = next(n["id"] for n in target if n["name"] == "plain-p")
    spy = RawClient(server.port)
    forge(spy, prefix, pid, "plain", {"name": "FORGED"})
    spy.read(0.5)
    spy.close()
    check(wait_until(lambda: items_named(p, "FORGED") == 1, 3), "the forged create ran (no secret: anyone on the bus can call)")


@case("with --secret: a NATS client without it reads nothing and injects nothing")
def _():
    secret = ["--secret", "the cluster secret"]
    p = fleet.node(PROVIDER, name="sec-p", args=[*NATS, *secret])
    c = fleet.node(NAMED, name="sec-c", args=[*NATS, *secret])
    check(wait_until(lambda: finds(c, "items"), 5), "sec-c reaches sec-p's items (sealed)")
    got = sniff_while(lambda: c.request("POST", "/items", {"name": "MARKER-SECRET"}))
    ours = [(s, d) for s, d in got if s.startswith("fdn.")]
    check(len(ours) > 3, "the spy saw the cluster's messages", len(ours))
    readable = [s for s, d in ours if b"MARKER" in d or b"items" in d or b"sec-p" in d]
    eq(readable, [], "none of them shows the data, the service names or the node names")
    prefix = prefix_of(got, "default")
    nodes = json.loads(run_fdnode("ls", "--json", *NATS, *secret, timeout=20)[1])
    pid = next(n["id"] for n in nodes if n["name"] == "sec-p")
    spy = RawClient(server.port)
    forge(spy, prefix, pid, "default", {"name": "FORGED"})
    for s, d in ours:  # every sealed message the spy saw, replayed as it was
        spy.pub(s, d)
    spy.read(1.0)
    spy.close()
    eq(items_named(p, "FORGED"), 0, "the forged create did not run")
    eq(items_named(p, "MARKER-SECRET"), 1, "the replayed messages ran nothing twice")
    check("does not open with the cluster secret" in p.log(), "the node says it dropped them", p.log()[-500:])
    check(finds(c, "items"), "the cluster works on")


@case("the NATS server restarts under load: calls wait out the grace or fail fast with 503, then all answer")
def _():
    p = fleet.node(PROVIDER, name="r-p", args=[*NATS, "--key", "restart"])
    c = fleet.node(NAMED, name="r-c", args=[*NATS, "--key", "restart"])
    check(wait_until(lambda: sees(c, "echo"), 5), "r-c reaches r-p's echo")
    loops = [CallLoop(c, count=100000, seconds=12, pause=0.005, timeout=20, first=j * 100000) for j in range(4)]
    for lp in loops:
        lp.start()
    time.sleep(1.5)
    t_down = time.monotonic()
    server.restart(down=1.0)
    t_up = time.monotonic()
    for lp in loops:
        lp.join(40)
    records = [r for lp in loops for r in lp.records]
    bad = [r for r in records if r[2] != 200]
    eq(sorted({r[2] for r in bad}) if bad else [], [503] if bad else [], "a call that fails says Unavailable (503)")
    slow_fail = [r for r in bad if r[1] - r[0] > 1.0]
    eq(slow_fail, [], "... at once (none after more than 1 s)")
    after = [r for r in records if r[0] > t_up + 5]
    check(after and all(r[2] == 200 for r in after), "every call started 5 s after the server came back answered",
          len(after))
    waited = max((r[1] - r[0] for r in records if r[2] == 200), default=0)
    first_ok = min((r[1] for r in records if r[2] == 200 and r[0] > t_down), default=None)
    figure("NATS restart (down %.1f s): %d calls, %d failed (503), longest wait %.2f s, first answer %.2f s "
           "after the server came back" % (t_up - t_down, len(records), len(bad), waited,
                                           (first_ok - t_up) if first_ok else -1))
    check(waited < 10, "no call waited past the grace period (10 s)", waited)


@case("frames past a message's 64 KiB go alone: 200 KiB arrives whole, one over the server's max_payload fails at once")
def _():
    big = ["--key", "big", "--max-frame", str(4 << 20)]
    p = fleet.node("tests/integration/fixtures/drain/big.lua", name="big-p", args=[*NATS, *big])
    c = fleet.node(NAMED, name="big-c", args=[*NATS, *big])
    check(wait_until(lambda: get(c, "/big/10")[0] == 200, 5), "big-c reaches big-p")
    s, r = get(c, "/big/%d" % (200 << 10))
    eq((s, len(r.get("blob", "")) if s == 200 else r), (200, 200 << 10), "a 200 KiB result, alone in its message")
    t0 = time.monotonic()
    s, r = get(c, "/big/%d" % (2 << 20), timeout=15)
    eq((s, r.get("name") if isinstance(r, dict) else r), (500, "GeneralError"),
       "a 2 MiB result (nats-server's max_payload is 1 MiB): GeneralError")
    check(time.monotonic() - t0 < 2, "at once, not after --timeout", "%.2fs" % (time.monotonic() - t0))
    eq(get(c, "/big/100")[0], 200, "the link still serves")
    p.stop()
    c.stop()


@case("a flood of events goes out in fewer messages than turns, every event heard once, in order")
def _():
    # the producer yields after every BATCH events (one loop turn each); before coalescing each
    # turn was one NATS message. The spy counts the messages that carry the flood's tag.
    fix = "tests/integration/fixtures/backpressure/"
    key = ["--key", "coalesce"]
    p = fleet.node(fix + "provider.lua", name="co-p", args=[*NATS, *key])
    c = fleet.node(fix + "consumer.lua", name="co-c", args=[*NATS, *key])

    def heard(tag):
        s, r = get(c, "/count", timeout=3)
        return (r.get(tag) or {}) if s == 200 and isinstance(r, dict) else {}

    def subscribed():
        request(p, "POST", "/flood", {"tag": "probe", "n": 1, "size": 8})
        return wait_until(lambda: heard("probe").get("n", 0) > 0, 0.5)

    check(wait_until(subscribed, 10, interval=0.05), "co-c hears co-p's events")
    N, BATCH = 4000, 10
    turns = N // BATCH
    flood = {"tag": "coalesce", "n": N, "size": 16, "batch": BATCH, "high": 0, "ms": 3000}
    got = sniff_while(lambda: request(p, "POST", "/flood", flood, timeout=20), seconds=1.0)
    carrying = sum(1 for subject, payload in got if ".node." in subject and b'"coalesce"' in payload)
    h = wait_until(lambda: heard("coalesce").get("n") == N and heard("coalesce"), 5) or heard("coalesce")
    eq((h.get("n"), h.get("last"), h.get("in_order")), (N, N, True), "co-c heard the %d events once, in order" % N)
    figure("a flood of %d events in %d turns: %d NATS messages" % (N, turns, carrying))
    check(0 < carrying <= turns // 4, "the %d turns' events went out in at most %d messages" % (turns, turns // 4),
          "%d messages" % carrying)
    p.stop()
    c.stop()


@case("every node stops cleanly on SIGTERM (exit 0)")
def _():
    fleet.stop_all()


finish()
