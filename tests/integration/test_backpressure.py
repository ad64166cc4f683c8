"""Back-pressure for event producers, with real nodes in a private network
namespace: a provider P floods `created` events of its service `flood` toward a
consumer C and watches fdn.backlog("flood") / fdn.drain(high, "flood", ms).
With C healthy the backlog is small and drains at once; with C stopped
(SIGSTOP) a flood of a few MiB builds a backlog that does not drain within a
short wait (the producer stops below the 8 MiB slow-consumer bound); after
SIGCONT it drains to 0, C gets every event once, in order, and its link was
never dropped. fdn.drain with a bad `high` raises an error."""
import signal
import time

from netns import isolate

isolate()

from cluster import dump, finish, lost_lines, request, stop_all  # noqa: E402
from fdntest import Node, case, check, eq, wait_until  # noqa: E402

FIX = "tests/integration/fixtures/backpressure/"
PROVIDER = FIX + "provider.lua"  # flood: create (the flood), find (backlog + drain(0)), misuse
CONSUMER = FIX + "consumer.lua"  # count: what C heard of flood's `created` events, per tag
MiB = 1024 * 1024
HIGH = 1 * MiB           # the drain threshold of the flood while C is stopped
LIMIT = 6 * MiB          # the flood stops once its backlog exceeds this (links drop at 8 MiB)
SIZE = 64 * 1024         # bytes of padding per event
N_STOPPED = 320          # at most 20 MiB: more than the kernel's socket buffers absorb

# The subject is the slow-consumer bound and back-pressure, not the ping timeout:
# a longer one keeps a SIGSTOP of a second or two (slower under sanitizers) from
# being declared a lost peer.
ARGS = ["--ping-timeout", "10000"]


def flood(tag, n, size, high=HIGH, ms=300, batch=4, timeout=20):
    body = {"tag": tag, "n": n, "size": size, "high": high, "ms": ms, "batch": batch, "limit": LIMIT}
    return request(p, "POST", "/flood", body, timeout=timeout)


def heard(tag):
    s, r = request(c, "GET", "/count", timeout=3)
    if s != 200 or not isinstance(r, dict):
        return {}
    return r.get(tag) or {}


def is_count(v):
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


probes = [0]


def subscribed():
    probes[0] += 1
    flood("probe", 1, 16)
    return wait_until(lambda: heard("probe").get("n", 0) > 0, 0.5)


@case("the consumer subscribes")
def _():
    global p, c
    p = Node(PROVIDER, name="prov", args=ARGS)
    c = Node(CONSUMER, name="cons", args=ARGS)
    t = time.monotonic()
    check(wait_until(subscribed, 10, interval=0.05), "C hears flood's created events (subscription live)",
          "%d probes" % probes[0])
    print("subscription live after %.0f ms (%d probes)" % ((time.monotonic() - t) * 1000, probes[0]))


@case("1. C healthy: the backlog is a count of bytes and drains at once")
def _():
    s, r = request(p, "GET", "/flood")
    check(s == 200 and is_count(r.get("backlog")), "healthy: fdn.backlog('flood') is a number >= 0", repr((s, r)))
    eq((s, r.get("drained"), r.get("after")), (200, True, 0),
       "healthy: drain(0, 'flood', 2000) is true, backlog 0 after")
    check(s == 200 and r.get("drain_ms", 1e9) < 1000, "healthy: ... at once", repr(r))

    N_HEALTHY = 64
    t = time.monotonic()
    s, r = flood("healthy", N_HEALTHY, 4096, high=0, ms=2000)
    took = time.monotonic() - t
    eq((s, r.get("sent"), r.get("early"), r.get("drained")), (201, N_HEALTHY, False, True),
       "healthy: 64 events of 4 KiB sent, drain(0) true")
    check(s == 201 and is_count(r.get("backlog")) and is_count(r.get("any")) and r["any"] >= r["backlog"],
          "healthy: backlog and backlog() are numbers, any >= backlog('flood')", repr(r))
    check(s == 201 and r.get("drain_ms", 1e9) < 1000 and took < 3, "healthy: drained quickly",
          "%r, call %.0f ms" % (r, took * 1000))
    print("healthy flood: %r (call %.0f ms)" % (r, took * 1000))
    got = wait_until(lambda: heard("healthy").get("n") == N_HEALTHY and heard("healthy"), 5)
    eq((got or heard("healthy")).get("n"), N_HEALTHY, "healthy: C heard the 64 events")


@case("2. C stopped: a flood builds a backlog that does not drain")
def _():
    global sent, s2, mis_stopped
    c.signal(signal.SIGSTOP)
    t_stop = time.monotonic()
    time.sleep(0.05)
    t = time.monotonic()
    s, stopped = flood("stopped", N_STOPPED, SIZE, high=HIGH, ms=300)
    took = time.monotonic() - t
    s2, mis_stopped = request(p, "POST", "/flood", {}, headers={"X-Service-Method": "misuse"}, timeout=5)
    c.signal(signal.SIGCONT)
    stop_s = time.monotonic() - t_stop
    r = stopped if isinstance(stopped, dict) else {}
    print("stopped flood: %r (call %.0f ms, C stopped %.0f ms)" % (r, took * 1000, stop_s * 1000))
    eq(s, 201, "stopped: the flood call answers (201 Created)")
    sent = r.get("sent", 0)
    check(is_count(r.get("backlog")) and r["backlog"] > HIGH, "stopped: backlog('flood') > HIGH (1 MiB)", repr(r))
    check(r.get("peak", 1 << 40) <= LIMIT + 4 * (SIZE + 1024) and r.get("backlog", 1 << 40) < 8 * MiB,
          "stopped: the backlog stays below the 8 MiB slow-consumer bound", repr(r))
    check(r.get("early") is True and 0 < sent < N_STOPPED, "stopped: the producer stopped early on its backlog",
          repr(r))
    eq(r.get("drained"), False, "stopped: drain(HIGH, 'flood', 300) is false")
    check(290 <= r.get("drain_ms", 0) < 1500, "stopped: ... after about 300 ms", repr(r.get("drain_ms")))
    check(is_count(r.get("any")) and r["any"] >= r.get("backlog", 1 << 40), "stopped: backlog() >= backlog('flood')",
          repr(r))
    check(is_count(r.get("after")) and r["after"] > HIGH, "stopped: still over HIGH after the wait", repr(r))


@case("3. C resumed: the backlog drains to 0; C hears every event, its link was never dropped")
def _():
    t = time.monotonic()
    s, r = request(p, "GET", "/flood")
    print("after SIGCONT: %r (call %.0f ms)" % (r, (time.monotonic() - t) * 1000))
    eq((s, r.get("drained"), r.get("after")), (200, True, 0),
       "resumed: drain(0, 'flood', 2000) is true and the backlog is 0")
    check(s == 200 and is_count(r.get("backlog")), "resumed: backlog('flood') is a number", repr(r))
    got = wait_until(lambda: heard("stopped").get("n") == sent and heard("stopped"), 5) or heard("stopped")
    eq((got.get("n"), got.get("last"), got.get("in_order"), got.get("bytes")), (sent, sent, True, sent * SIZE),
       "resumed: C heard every event of the stopped flood once, in order (%d events, %.1f MiB)"
       % (sent, sent * SIZE / MiB))
    s, r = flood("after", 8, 1024, high=0, ms=2000)
    eq((s, r.get("sent"), r.get("drained")), (201, 8, True), "resumed: a new flood drains at once")
    got = wait_until(lambda: heard("after").get("n") == 8 and heard("after"), 5) or heard("after")
    eq((got.get("n"), got.get("in_order")), (8, True), "resumed: C still hears new events on the same link")
    eq([ln for ln in p.log().splitlines() if "slow consumer" in ln], [], "P never dropped C as a slow consumer")
    eq(lost_lines(p, c), [], "no peer lost on either node")
    check(p.alive() and c.alive(), "both nodes run")


@case("4. misuse: a bad `high` raises; a path nobody hears has no backlog")
def _():
    s, r = request(p, "POST", "/flood", {}, headers={"X-Service-Method": "misuse"}, timeout=5)
    eq(s, 200, "misuse: the method answers")
    r = r if isinstance(r, dict) else {}
    for key, what in (("string_high", "a string"), ("negative_high", "a negative number"),
                      ("missing_high", "no high"), ("table_high", "a table")):
        check("high must be a number" in str(r.get(key)), "misuse: fdn.drain with %s as high raises" % what,
              repr(r.get(key)))
    eq((r.get("unknown_path"), r.get("unknown_drained")), (0, True),
       "misuse: backlog of a path nobody hears is 0, its drain is true")
    check(r.get("unknown_ms", 1e9) < 50, "misuse: ... at once", repr(r.get("unknown_ms")))
    check(s2 == 200 and isinstance(mis_stopped, dict)
          and "high must be a number" in str(mis_stopped.get("string_high")),
          "misuse: also while C is stopped", repr(mis_stopped))


@case("both nodes run, and exit 0 on SIGTERM")
def _():
    bad = not (p.alive() and c.alive())
    stop_all([p, c])
    if bad:
        dump(p)
        dump(c)


finish()
