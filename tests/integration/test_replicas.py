"""Replicas (DESIGN §2, Proxies): two providers of the same path share the
calls a consumer makes, sequential and concurrent; a local service is never
shadowed by a remote one of the same path."""
import threading
import time

from netns import isolate

isolate()

from cluster import CONSUMER, LOCAL_ECHO, PROVIDER, finish, get, stop_all, wait_providers, who  # noqa: E402
from fdntest import Node, case, check, eq, wait_until  # noqa: E402



@case("a consumer and two replicas")
def _():
    global r1, r2, c
    r1 = Node(PROVIDER, name="r1")
    r2 = Node(PROVIDER, name="r2")
    c = Node(CONSUMER, name="c")
    seen = wait_providers(c, {"r1", "r2"}, seconds=8)
    eq(seen, {"r1", "r2"}, "the consumer reaches both replicas")


@case("200 sequential calls: shared between r1 and r2")
def _():
    counts = {}
    bad = []
    for i in range(200):
        s, r = get(c, "/echo/%d" % i)
        if s == 200 and r.get("id") == str(i):
            counts[who(r)] = counts.get(who(r), 0) + 1
        else:
            bad.append((i, s, r))
    print("200 sequential calls served by:", counts)
    eq(bad, [], "every sequential call answers 200 with its id")
    check(counts.get("r1", 0) >= 60 and counts.get("r2", 0) >= 60, "sequential calls: each replica serves >= 30%",
          repr(counts))
    eq(set(counts), {"r1", "r2"}, "sequential calls: nobody but r1 and r2 answers")


@case("concurrent calls: 16 threads x 25 calls")
def _():
    lock = threading.Lock()
    ccounts, cbad = {}, []

    def worker(k):
        for j in range(25):
            n = k * 1000 + j
            s, r = get(c, "/echo/%d" % n, timeout=10)
            with lock:
                if s == 200 and r.get("id") == str(n):
                    ccounts[who(r)] = ccounts.get(who(r), 0) + 1
                else:
                    cbad.append((n, s, r))

    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(16)]
    t = time.monotonic()
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    print("400 calls from 16 threads in %.0f ms served by: %s" % ((time.monotonic() - t) * 1000, ccounts))
    eq(cbad, [], "every concurrent call answers 200 with its id")
    check(ccounts.get("r1", 0) >= 80 and ccounts.get("r2", 0) >= 80, "concurrent calls: each replica serves >= 20%",
          repr(ccounts))


@case("the same through the balancer's other door: find")
def _():
    fcounts = {}
    for i in range(20):
        s, r = get(c, "/echo")
        if s == 200:
            fcounts[who(r)] = fcounts.get(who(r), 0) + 1
    check(fcounts.get("r1", 0) >= 6 and fcounts.get("r2", 0) >= 6, "find is balanced too", repr(fcounts))


# a local service is never shadowed: `echo` is local on L, remote on r1/r2.
# FDN_LATE_MS: L also registers a local `items` after it has learned the remote one.
@case("a local service is never shadowed by a remote one of the same path")
def _():
    global lo
    lo = Node(LOCAL_ECHO, name="L", env={"FDN_LATE_MS": "2500"})
    check(wait_until(lambda: "items" in (get(lo, "/distribution/healthcheck")[1] or {}), 2),
          "L learns the remote items")
    s, r = get(lo, "/items/0")
    check(s == 404 and r.get("message") == "No record found for id '0'",
          "L's items is the remote one (r1/r2's memory answers) before its own registers", repr((s, r)))
    local_answers, other = 0, []
    for i in range(50):
        s, r = get(lo, "/echo/%d" % i)
        if s == 200 and who(r) == "L" and r.get("local") is True:
            local_answers += 1
        else:
            other.append((s, r))
    eq((local_answers, other[:3]), (50, []), "a local echo with remote replicas: every call is answered locally")
    s, r = get(lo, "/echo")
    eq((s, who(r)), (200, "L"), "find on the local echo is local too")
    s, r = get(lo, "/distribution/healthcheck")
    check(s == 200 and "items" in (r or {}), "L's healthcheck lists the remote items", repr((s, r)))
    # L's own echo is published: the replicas' consumer c now has three providers
    seen = wait_providers(c, {"r1", "r2", "L"}, seconds=5)
    eq(seen, {"r1", "r2", "L"}, "L's local echo is a replica for c (L publishes it)")
    # r1 and r2 keep their local echo: L's does not shadow theirs
    for node in (r1, r2):
        answers_from = {who(get(node, "/echo/%d" % i)[1]) for i in range(10)}
        eq(answers_from, {node.name}, "%s's own echo answers on %s, never a remote one" % (node.name, node.name))


@case("the late local items (registered after the remote proxy existed) wins at once")
def _():
    check(wait_until(lambda: get(lo, "/items/5")[0] == 200, 5), "the late local items registers")
    late_answers = [get(lo, "/items/%d" % i) for i in range(20)]
    eq([(s, who(r), r.get("local") if isinstance(r, dict) else None) for s, r in late_answers],
       [(200, "L", True)] * 20, "a local service registered after the remote one: every call is local")


@case("every node still runs, and stops")
def _():
    if any(n.proc.poll() is not None for n in (r1, r2, c, lo)):
        check(False, "every node is still running")
    stop_all((r1, r2, c, lo))


finish()
