"""A handler stuck inside a C function (a pattern that backtracks without end), where
--call-budget's hook never runs, does not freeze its node: the node logs the service and
method of the call and exits with status 70, and a consumer answers 503 and routes around
it. C that comes back within a few budgets, and a Lua loop, are still stopped by the budget
alone, and the node goes on."""
import http.client
import time

from netns import isolate

isolate()

from fdntest import Node, answers, case, check, eq, finish, wait_until  # noqa: E402

FIXTURE = "tests/integration/fixtures/stuck.lua"
BUDGET = ["--call-budget", "200"]
STUCK_EXIT = 70


def exit_after(node, t0, seconds=5):
    """The node's exit status and when it exited (seconds after t0), or (None, None)."""
    if not wait_until(lambda: not node.alive(), seconds, interval=0.01):
        return None, None
    took = time.monotonic() - t0
    return node.proc.wait(), took


@case("the budget still stops what it can reach, and the node goes on")
def _():
    n = Node(FIXTURE, name="stuck-n", args=BUDGET)
    s, r, _ = n.request("GET", "/spin")
    eq((s, r["name"]), (500, "GeneralError"), "a Lua loop is stopped by the budget")
    check("call budget" in r["message"], "the message says why", r["message"])
    t0 = time.monotonic()
    s, r, _ = n.request("GET", "/slow")
    took = time.monotonic() - t0
    eq((s, r["name"]), (500, "GeneralError"), "C that comes back after 2.5 budgets: stopped back in Lua")
    check(0.45 < took < 2, "when the C function came back (0.5 s)", "%.2fs" % took)
    eq(n.request("GET", "/ok")[1], {"fine": True}, "the node goes on serving")
    check(n.alive(), "and is still there")
    eq(n.stop(), 0, "exits 0 on SIGTERM")


@case("without a budget there is no watchdog: the slow call just runs")
def _():
    m = Node(FIXTURE, name="stuck-m", args=["--call-budget", "0"])
    eq(m.request("GET", "/slow")[:2], (200, {"slept": True}), "--call-budget 0: the slow call runs to its end")
    eq(m.stop(), 0, "exits 0 on SIGTERM")


@case("stuck in C, called over REST: the node ends, naming the call")
def _():
    p = Node(FIXTURE, name="stuck-p", args=BUDGET)
    t0 = time.monotonic()
    try:
        answer = p.request("GET", "/match/a", timeout=10)[0]
    except (OSError, http.client.HTTPException) as e:
        answer = type(e).__name__
    status, took = exit_after(p, t0)
    print("stuck node: status %s after %ss" % (status, took and round(took, 2)))
    eq(status, STUCK_EXIT, "a handler stuck in C ends the node with status %d" % STUCK_EXIT)
    check(took is not None and 0.75 < took < 2.5,
          "after its budget and 3 budgets with no Lua run (~0.9 s at 200 ms)", "took %s" % took)
    check(answer in ("RemoteDisconnected", "ConnectionResetError"), "the client sees the connection close", answer)
    stuck = [line for line in p.log().splitlines() if "stuck in C" in line]
    eq(len(stuck), 1, "one line says so")
    check(stuck and "the call to service 'match' method 'get'" in stuck[0], "it names the service and the method",
          p.log()[-600:])
    check(stuck and "status 70" in stuck[0], "and the exit status", stuck)


@case("two replicas and a consumer: the call to the one that died answers 503")
def _():
    r1 = Node(FIXTURE, name="stuck-r1", args=BUDGET)
    r2 = Node(FIXTURE, name="stuck-r2", args=BUDGET)
    c = Node("tests/integration/fixtures/stuck_consumer.lua", name="stuck-c")
    check(wait_until(answers(c, "/ok"), 5), "the consumer sees the replicas' services")
    check(wait_until(lambda: all("peer %s " % x.name in c.log() for x in (r1, r2)), 5),
          "the consumer knows both replicas", c.log()[-800:])
    t0 = time.monotonic()
    s, r, _ = c.request("POST", "/match", {}, timeout=10)
    took = time.monotonic() - t0
    wait_until(lambda: not (r1.alive() and r2.alive()), 2)
    dead = [x for x in (r1, r2) if not x.alive()]
    eq(len(dead), 1, "the replica that ran the call is gone")
    eq((s, r and r.get("name")), (503, "Unavailable"), "the consumer answers 503 Unavailable (the call may have run)")
    check(took < 2.5, "as soon as the replica is gone", "%.2fs" % took)
    print("503 from the consumer after %.2fs" % took)
    if dead:
        eq(dead[0].proc.wait(), STUCK_EXIT, "it exited with status %d" % STUCK_EXIT)
        check(wait_until(lambda: "peer %s " % dead[0].name in c.log() and " lost" in c.log(), 2),
              "the consumer's log says the replica was lost", c.log()[-600:])
        check("stuck in C: the call to service 'match' method 'create'" in dead[0].log(),
              "its log names the call that came over RPC (a C function under pcall)", dead[0].log()[-600:])
    live = [x for x in (r1, r2) if x.alive()]
    oks = [c.request("GET", "/ok")[:2] for _ in range(4)]
    eq(oks, [(200, {"fine": True})] * 4, "the consumer's next calls go to the replica left")
    for x in live:
        eq(x.stop(), 0, "the other replica exits 0 on SIGTERM")
    eq(c.stop(), 0, "the consumer exits 0 on SIGTERM")


@case("a poisoned get through a consumer: retried once, not on to every replica")
def _():
    rs = [Node(FIXTURE, name="poison-r%d" % i, args=BUDGET) for i in range(3)]
    c = Node("tests/integration/fixtures/stuck_consumer.lua", name="poison-c")
    check(wait_until(lambda: all("peer %s " % x.name in c.log() for x in rs), 5), "the consumer knows the 3 replicas")
    t0 = time.monotonic()
    s, r, _ = c.request("GET", "/match/a", timeout=15)
    took = time.monotonic() - t0
    wait_until(lambda: sum(1 for x in rs if not x.alive()) >= 2, 2)
    time.sleep(0.5)  # (a third death, were the call sent on again, would come within a budget or two)
    eq(sum(1 for x in rs if not x.alive()), 2, "the get that takes its provider down is retried once: two replicas go")
    eq((s, r and r.get("name")), (503, "Unavailable"), "then the consumer answers 503")
    check("for the second time" in (r or {}).get("message", ""), "saying the provider was lost twice", r)
    check(took < 5, "at once, not after --timeout", "%.2fs" % took)
    eq(c.request("GET", "/ok")[:2], (200, {"fine": True}), "the replica left serves")
    for x in rs:
        x.stop()
    c.stop()


finish()
