"""A runaway handler is stopped and its node goes on serving: Lua that runs
past --call-budget without yielding (even inside a pcall loop) and Lua that
allocates past --lua-memory both answer GeneralError 500."""
import time

from netns import isolate

isolate()

from fdntest import Node, answers, case, check, eq, finish, wait_until  # noqa: E402



@case("an endless loop is stopped after the call budget; the node goes on")
def _():
    global n
    n = Node("tests/integration/fixtures/runaway.lua", args=["--call-budget", "300", "--lua-memory", "64"])
    t0 = time.monotonic()
    s, r, _ = n.request("GET", "/spin")
    took = time.monotonic() - t0
    eq((s, r["name"]), (500, "GeneralError"), "an endless loop is stopped: GeneralError")
    check("call budget" in r["message"], "the message says why", r["message"])
    check(took < 2, "after about the budget (300 ms)", "%.2fs" % took)
    eq(n.request("GET", "/ok")[1], {"fine": True}, "the node goes on serving")


@case("a loop around pcall cannot swallow the stop")
def _():
    s, r, _ = n.request("POST", "/spin", {})
    eq((s, r["name"]), (500, "GeneralError"), "a loop around pcall cannot swallow the stop")
    eq(n.request("GET", "/ok")[1], {"fine": True}, "still serving")


@case("allocating without end is stopped")
def _():
    s, r, _ = n.request("GET", "/spin/1")
    eq((s, r["name"]), (500, "GeneralError"), "allocating without end is stopped")
    eq(n.request("GET", "/ok")[1], {"fine": True}, "still serving")


@case("the memory cap alone (no time budget)")
def _():
    m = Node("tests/integration/fixtures/runaway.lua", args=["--call-budget", "0", "--lua-memory", "64"])
    s, r, _ = m.request("GET", "/spin/1", timeout=30)
    eq((s, r["name"], r["message"]), (500, "GeneralError", "not enough memory"),
       "past --lua-memory: 'not enough memory' for the caller")
    eq(m.request("GET", "/ok")[1], {"fine": True}, "still serving after the memory cap")
    eq(m.stop(), 0, "exits 0 on SIGTERM")


@case("repeated runaways change nothing")
def _():
    for _ in range(3):
        n.request("GET", "/spin")
    eq(n.request("GET", "/ok")[1], {"fine": True}, "repeated runaways change nothing")


@case("calls from another node that arrive in one read: the runaway among them is stopped alone")
def _():
    c = Node("tests/integration/fixtures/runaway_consumer.lua", name="runaway-consumer")
    check(wait_until(answers(c, "/ok"), 5) and wait_until(answers(c, "/together"), 5), "the consumer sees the services")
    s, r, _ = c.request("GET", "/together")
    eq((r.get("before"), r.get("after")), ({"fine": True}, {"fine": True}),
       "the calls that came with a runaway are answered")
    eq(r.get("spin", {}).get("name"), "GeneralError", "the runaway is stopped")
    c.stop()


@case("the node exits 0 on SIGTERM")
def _():
    eq(n.stop(), 0, "exits 0 on SIGTERM")


finish()
