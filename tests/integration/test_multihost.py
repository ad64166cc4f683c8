"""Several hosts (DESIGN §9): three network namespaces joined by a bridge,
one fdnode in each, no flags. Discovery across hosts; a host cut off by
firewall rules (iptables or nft) is declared lost by the two others within a
few seconds and calls fail over; once the rules go, it rejoins. Root only:
exits 77 (skipped) otherwise, or when `ip netns` or a firewall tool is missing.

Every packet stays inside namespaces this test creates: the test re-executes
itself in a private network namespace (netns.isolate()) and a private mount
namespace (so `ip netns add` touches no file outside it), creates the three
host namespaces and the bridge there, and all of them vanish with it."""
import json
import os
import shutil
import subprocess
import sys
import time

from netns import isolate

HERE = os.path.dirname(os.path.abspath(__file__))


def skip(why):
    print("skipped: " + why)
    sys.exit(77)


if os.geteuid() != 0 and os.environ.get("FDN_IN_NETNS") != "1":
    skip("needs root")
isolate()


def sh(*cmd, check=True, timeout=10):
    p = subprocess.run(cmd, capture_output=True, timeout=timeout)
    if check and p.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(cmd), p.returncode, p.stderr.decode().strip()))
    return p


if not shutil.which("ip") or sh("ip", "netns", "list", check=False).returncode != 0:
    skip("`ip netns` is not available")
FIREWALL = None
want = os.environ.get("FDN_FIREWALL")  # iptables or nft: force one (default: iptables, else nft)
if want == "nft" and shutil.which("nft") and sh("nft", "list", "ruleset", check=False).returncode == 0:
    FIREWALL = "nft"
elif shutil.which("iptables") and sh("iptables", "-S", check=False).returncode == 0:
    FIREWALL = "iptables"
elif shutil.which("nft") and sh("nft", "list", "ruleset", check=False).returncode == 0:
    FIREWALL = "nft"
if FIREWALL is None:
    skip("neither iptables nor nft is available (or usable here)")

# a private mount namespace too: `ip netns add` then mounts and creates files only in it
if os.environ.get("FDN_IN_MNTNS") != "1":
    unshare = shutil.which("unshare")
    if not unshare or sh(unshare, "-m", "--propagation", "private", "true", check=False).returncode != 0:
        skip("cannot create a mount namespace for `ip netns add`")
    os.execve(unshare, [unshare, "-m", "--propagation", "private", sys.executable, *sys.argv],
              dict(os.environ, FDN_IN_MNTNS="1"))

from cluster import CONSUMER, NAMED, PROVIDER, finish, kill_all, log_times, lost_lines, ms, stop_all  # noqa: E402
from fdntest import FDNODE, ROOT, Node, case, check, eq  # noqa: E402

HOSTS = ["h1", "h2", "h3"]
ADDR = {h: "10.77.0.%d" % (i + 1) for i, h in enumerate(HOSTS)}
BRIDGE = "fdnbr0"
PORT = 3030  # each host's gateway, on its own lo
fdnode_bin = FDNODE if os.path.isabs(FDNODE) else os.path.join(ROOT, FDNODE)


def setup():
    os.makedirs("/run/netns", exist_ok=True)
    sh("mount", "-t", "tmpfs", "fdn-netns", "/run/netns")
    sh("ip", "link", "add", BRIDGE, "type", "bridge")
    sh("ip", "link", "set", BRIDGE, "type", "bridge", "mcast_snooping", "0", check=False)
    sh("ip", "link", "set", BRIDGE, "up")
    for h in HOSTS:
        sh("ip", "netns", "add", h)
        sh("ip", "link", "add", "v" + h, "type", "veth", "peer", "name", "eth0", "netns", h)
        sh("ip", "link", "set", "v" + h, "master", BRIDGE, "up")
        sh("ip", "-n", h, "addr", "add", ADDR[h] + "/24", "dev", "eth0")
        sh("ip", "-n", h, "link", "set", "eth0", "up")
        sh("ip", "-n", h, "link", "set", "lo", "up")


def teardown():
    for h in HOSTS:
        sh("ip", "netns", "del", h, check=False)
    sh("ip", "link", "del", BRIDGE, check=False)
    sh("umount", "/run/netns", check=False)


def nsget(host, path, timeout=3.0):
    """GET path on host's gateway, from inside host's namespace: (status, body)."""
    p = sh("ip", "netns", "exec", host, sys.executable, os.path.join(HERE, "cluster.py"), "get", str(PORT), path,
           str(timeout), check=False, timeout=timeout + 10)
    try:
        s, r = json.loads(p.stdout)
        return s, r
    except ValueError:
        return None, p.stderr.decode(errors="replace").strip()


def node_of(r):
    return r.get("node") if isinstance(r, dict) else None


def poll(pred, seconds, interval=0.05):
    """Polls pred() until true or `seconds` pass; returns the time it took, or None."""
    t = time.monotonic()
    while time.monotonic() < t + seconds:
        if pred():
            return time.monotonic() - t
        time.sleep(interval)
    return None


def cut(host):
    if FIREWALL == "iptables":
        for chain, flag in (("INPUT", "-i"), ("OUTPUT", "-o")):
            sh("ip", "netns", "exec", host, "iptables", "-A", chain, "!", flag, "lo", "-j", "DROP")
    else:
        rules = ("table inet fdncut {\n"
                 "  chain in { type filter hook input priority 0; policy accept; iifname != \"lo\" drop; }\n"
                 "  chain out { type filter hook output priority 0; policy accept; oifname != \"lo\" drop; }\n"
                 "}\n")
        p = subprocess.run(["ip", "netns", "exec", host, "nft", "-f", "-"], input=rules.encode(), capture_output=True)
        if p.returncode != 0:
            raise RuntimeError("nft failed: " + p.stderr.decode())


def uncut(host):
    if FIREWALL == "iptables":
        sh("ip", "netns", "exec", host, "iptables", "-F", "INPUT")
        sh("ip", "netns", "exec", host, "iptables", "-F", "OUTPUT")
    else:
        sh("ip", "netns", "exec", host, "nft", "delete", "table", "inet", "fdncut")


nodes = {}
try:
    setup()
except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
    teardown()
    skip("cannot build the three host namespaces here: %s" % e)


@case("one node per host, no discovery flags")
def _():
    global t_start
    # --grace 1000 so a lost path goes soon. Each serves svc-<host>; h2 and h3 also serve echo
    # (replicas), which h1 consumes (it has no echo of its own).
    t_start = time.monotonic()
    for h in HOSTS:
        scripts = (NAMED, CONSUMER) if h == "h1" else (NAMED, PROVIDER)
        nodes[h] = Node(*scripts, name=h, port=PORT, args=["--grace", "1000"],
                        prefix=["ip", "netns", "exec", h], wait=False)
    for n in nodes.values():
        n.wait_ready()


@case("discovery across hosts")
def _():
    def sees_all():
        for h in HOSTS:
            for o in HOSTS:
                if o != h and node_of(nsget(h, "/svc-%s/1" % o)[1]) != o:
                    return False
        return True

    took = poll(sees_all, 10, interval=0.1)
    check(took is not None, "each host sees the two others' services (no flags)")
    print("multi-host discovery: every host answers for the two others %s ms after the starts "
          "(polled from inside the namespaces, ~80 ms a probe: an upper bound)"
          % (ms(time.monotonic() - t_start) if took is not None else "> 10000"))
    last_start = max(max(log_times(n, " serving ") or [0]) for n in nodes.values())
    met = [min(log_times(nodes[h], "peer %s " % o, " joined") or [float("inf")]) for h in HOSTS for o in HOSTS
           if o != h]
    print("multi-host discovery (from the logs): every host joined the two others %s ms after the last start"
          % ms(max(met) - last_start))
    for h in HOSTS:
        joined = [ln for ln in nodes[h].log().splitlines() if " joined" in ln]
        others = {o for o in HOSTS if o != h}
        eq({o for o in others if any("peer %s " % o in ln and ADDR[o] + ":" in ln for ln in joined)}, others,
           "%s joined the others at their bridge addresses" % h)
    p = sh("ip", "netns", "exec", "h1", fdnode_bin, "ls", "--json", check=False, timeout=30)
    try:
        listing = json.loads(p.stdout)
    except ValueError:
        listing = []
    eq(sorted((x["name"], x["host"]) for x in listing if x["name"] != "h1"),
       [("h2", ADDR["h2"]), ("h3", ADDR["h3"])], "fdnode ls on h1 lists h2 and h3 at their addresses")


@case("echo is served by h2 and h3: h1 balances over them; a healthy cluster loses no peer")
def _():
    seen = set()
    for i in range(12):
        seen.add(node_of(nsget("h1", "/echo/%d" % i)[1]))
    eq(seen, {"h2", "h3"}, "echo calls on h1 are shared by h2 and h3")

    time.sleep(max(0.0, t_start + 6.0 - time.monotonic()))  # a few seconds of a healthy cluster
    flaps = lost_lines(*nodes.values())
    eq((len(flaps), flaps[:3]), (0, []), "no host loses (or drops as restarted) a healthy peer")


@case("cut h3 off: the two others declare it lost within a few seconds; calls fail over")
def _():
    loop = subprocess.Popen(["ip", "netns", "exec", "h1", sys.executable, os.path.join(HERE, "cluster.py"), "loop",
                             str(PORT), "/echo/%d", "7"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(1.0)
    t_cut = time.monotonic()
    cut("h3")
    gone = {}
    for h, o in (("h1", "h3"), ("h2", "h3"), ("h3", "h1")):
        ok = poll(lambda: nsget(h, "/svc-%s/1" % o, timeout=8)[0] == 404, 10, interval=0.1)
        gone[h] = time.monotonic() - t_cut if ok is not None else None
    print("cut off (%s DROP in h3): h3's path gone on h1 at +%s ms, on h2 at +%s ms; h1's path gone on h3 at +%s ms "
          "(ping timeout 3000 + grace 1000)" % tuple([FIREWALL] + [ms(gone[h]) if gone[h] is not None else None
                                                                 for h in HOSTS]))
    for h in ("h1", "h2"):
        check(gone[h] is not None and gone[h] < 6.0,
              "%s declares h3 lost: its path is gone (404) within a few seconds" % h, repr(gone[h]))
        check(any("peer h3 " in ln and "lost" in ln for ln in nodes[h].log().splitlines()),
              "%s logs h3 lost" % h)
    check(gone["h3"] is not None, "h3, cut off, drops the others' paths too")
    out, err = loop.communicate(timeout=30)
    try:
        records = json.loads(out)
    except ValueError:
        records = []
        print("loop output:", out[-500:], err[-500:], file=sys.stderr)
    bad = [r for r in records if r[2] != 200]
    eq(bad[:5], [], "calls on h1 to echo (h2 and h3) while h3 is cut off: zero failed (of %d)" % len(records))
    worst = max((r[1] - r[0] for r in records), default=0.0)
    after = {r[3] for r in records if r[0] > t_cut + 4.0}
    print("echo calls on h1 across the cut: %d calls, worst latency %d ms" % (len(records), ms(worst)))
    check(worst <= 4.5, "the slowest call waits about the ping timeout at most (<= 4.5 s)", "%d ms" % ms(worst))
    eq(after, {"h2"}, "once h3 is lost, h1's calls go to h2")


@case("h3 rejoins once the rules go")
def _():
    t_uncut = time.monotonic()
    uncut("h3")
    back = {}
    for h in ("h1", "h2"):
        back[h] = poll(lambda: node_of(nsget(h, "/svc-h3/1")[1]) == "h3", 10, interval=0.1)
        check(back[h] is not None, "%s: h3's service answers again after the rules are removed" % h)
    b3 = poll(lambda: node_of(nsget("h3", "/svc-h1/1")[1]) == "h1", 10, interval=0.1)
    check(b3 is not None, "h3 reaches h1's service again")
    print("rejoin: h3's service answers on h1 and h2 %d ms after the rules went"
          % ms(time.monotonic() - t_uncut))
    seen = set()
    for i in range(12):
        seen.add(node_of(nsget("h1", "/echo/%d" % i)[1]))
    eq(seen, {"h2", "h3"}, "after the rejoin echo calls on h1 are shared by h2 and h3 again")


@case("every host's node exits 0 on SIGTERM")
def _():
    stop_all(nodes.values())


kill_all(nodes.values())
teardown()
finish()
