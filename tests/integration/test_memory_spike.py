"""Memory that a spike took goes back to the system: a handler that builds a 200 MB temporary
(under --lua-memory 512) leaves the node's RSS within 16 MiB of where it was, a moment after it
answered, and again on a second spike; the same when the handler collected its garbage itself
(then only the allocators hold it). Figures are checked in the plain build only."""
import time

from netns import isolate

isolate()

from fdntest import SANITIZED, Node, case, check, check_memory, eq, finish, rss_kb, wait_until  # noqa: E402

MB = 50 if SANITIZED else 200  # (sanitizers multiply the memory; their figures are not checked)


@case("a node with --lua-memory 512, and its baseline")
def _():
    global n, pid, base
    n = Node("tests/integration/fixtures/spike.lua", args=["--lua-memory", "512"])
    pid = n.proc.pid
    for _ in range(3):
        n.request("GET", "/heap")
    time.sleep(0.3)
    base = rss_kb(pid)
    print("baseline: VmRSS %d kB, Lua heap %d kB" % (base, n.request("GET", "/heap")[1]["kb"]))


def spike(label, query):
    s, r, _ = n.request("GET", "/spike/%d%s" % (MB, query), timeout=60)
    eq((s, r.get("items")), (200, MB * 3000), "%s: the handler built its temporary" % label)
    check(r.get("heap_kb", 0) > MB * 1024 * 0.8, "%s: ... about %d MB of Lua heap" % (label, MB), r)
    hwm = rss_kb(pid, "VmHWM:")
    back = wait_until(lambda: rss_kb(pid) - base < 16 * 1024, 3)
    heap = n.request("GET", "/heap")[1]["kb"]
    print("%s: Lua heap %d kB at its peak, %d kB after; VmRSS %d -> %d kB (VmHWM %d kB)"
          % (label, r.get("heap_kb", 0), heap, base, rss_kb(pid), hwm))
    check_memory(hwm - base > MB * 1024 * 0.8, "%s: it took memory (VmHWM)" % label, "%d kB" % hwm)
    check(heap < 16 * 1024, "%s: its garbage was collected" % label, "%d kB" % heap)
    check_memory(back, "%s: VmRSS back within 16 MiB of its baseline within 3 s" % label,
                 "%d -> %d kB" % (base, rss_kb(pid)))


for label, query in (("a spike", ""), ("a second spike", ""), ("a spike collected by its handler", "?collect=1")):
    case(label)(lambda label=label, query=query: spike(label, query))


@case("the node goes on serving, and stops")
def _():
    eq(n.request("GET", "/heap")[0], 200, "the node goes on serving")
    eq(n.stop(), 0, "exits 0 on SIGTERM")


finish()
