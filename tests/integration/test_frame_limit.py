"""A frame that cannot go out is an error at once (DESIGN §5): a result larger than
--max-frame answers GeneralError 500 in milliseconds and is logged by the provider; an error
whose data is too large still crosses with its class, code and message; an event too large
for a frame is logged and its subscribers stay subscribed."""
from netns import isolate

isolate()

import re  # noqa: E402
import time  # noqa: E402

from fdntest import Node, answers, case, check, eq, finish, wait_until  # noqa: E402

BIG = "tests/integration/fixtures/drain/big.lua"
LISTENER = "tests/integration/fixtures/drain/listener.lua"
LIMIT = 65536


@case("a gateway and a provider with --max-frame 64 KiB")
def _():
    global gw, p
    gw = Node(LISTENER, name="gw", args=["--max-frame", str(LIMIT)])
    p = Node(BIG, name="big", http=False, args=["--max-frame", str(LIMIT)])
    check(wait_until(answers(gw, "/big/10"), 5), "the gateway sees the provider")


@case("a result over the limit: GeneralError 500 at once, logged by the provider")
def _():
    t0 = time.monotonic()
    s, r, _ = gw.request("GET", "/big/%d" % (LIMIT * 2), timeout=15)
    took = time.monotonic() - t0
    eq((s, r.get("name")), (500, "GeneralError"), "a result over --max-frame: GeneralError 500")
    check("larger than the frame limit" in r.get("message", ""), "the message says why", r.get("message"))
    check(took < 1, "at once, not after --timeout", "%.2fs" % took)
    check(wait_until(lambda: "larger than the frame limit" in p.log(), 2), "the provider logs it", p.log()[-300:])
    eq(gw.request("GET", "/big/100")[0], 200, "the link still serves")


@case("an error whose data is over the limit: its class, code and message still cross")
def _():
    t0 = time.monotonic()
    s, r, _ = gw.request("GET", "/big?error=%d" % (LIMIT * 2), timeout=15)
    eq((s, r.get("name"), r.get("message"), "data" in r), (400, "BadRequest", "too much data", False),
       "an error with data over --max-frame: class, code and message, without the data")
    check(time.monotonic() - t0 < 1, "at once")


@case("an error whose message is over the limit: its class and code cross, the message cut")
def _():
    t0 = time.monotonic()
    s, r, _ = gw.request("GET", "/big?message=%d" % (LIMIT * 2), timeout=15)
    eq((s, r.get("name")), (400, "BadRequest"), "an error message over --max-frame: its class and code")
    msg = r.get("message", "")
    check(msg.startswith("mmm") and msg.endswith("...") and len(msg) < LIMIT, "the message cut", len(msg))
    check(time.monotonic() - t0 < 1, "at once")


@case("an event over the limit: logged; the subscriber stays subscribed")
def _():
    eq(gw.request("POST", "/big", {"size": 10, "n": 1})[0], 201, "an event of 10 bytes")
    check(wait_until(lambda: gw.request("GET", "/heard/shout")[1].get("n") == 1, 3), "is heard")
    eq(gw.request("POST", "/big", {"size": LIMIT * 2, "n": 2})[0], 201, "an event over the limit")
    logged = r"event 'shout' of 'big' not sent to its subscribers: (\d+) bytes is larger than the frame limit"
    check(wait_until(lambda: re.search(logged, p.log()), 2), "is logged by the provider", p.log()[-300:])
    size = int((re.search(logged, p.log()) or [0, 0])[1])
    check(LIMIT * 2 < size < LIMIT * 2 + 100, "with its size", size)
    eq(gw.request("POST", "/big", {"size": 10, "n": 3})[0], 201, "another small event")
    check(wait_until(lambda: gw.request("GET", "/heard/shout")[1].get("last") == 3, 3),
          "is heard: the subscriber was not dropped", gw.request("GET", "/heard/shout")[1])
    eq(gw.request("GET", "/heard/shout")[1].get("n"), 2, "the large one was not delivered, the others were")
    p.stop()
    gw.stop()


finish()
