"""app:distribution{...} (feathers-distributed's options) across two nodes:
services, remoteServices, remoteServicePath, hooks, distributedMethods,
distributedEvents, timeout; params crossing nodes; the healthcheck's 503."""
import signal
import time

from netns import isolate

isolate()

from fdntest import Node, answers, case, check, eq, finish, wait_until  # noqa: E402

P = "tests/integration/fixtures/cluster/options_provider.lua"
C = "tests/integration/fixtures/cluster/options_consumer.lua"



@case("services, remoteServices, remoteServicePath: what is published and consumed")
def _():
    global a, b
    a = Node(P, name="provider")
    b = Node(C, name="consumer", args=["--grace", "20000", "--max-frame", "4096"])
    check(wait_until(answers(b, "/things"), 5), "remoteServicePath: api/things is consumed as things")
    eq(b.request("GET", "/api/things")[0], 404, "the remote path itself is not there")
    eq(b.request("GET", "/hidden")[0], 404, "remoteServices: a skipped path is not consumed")
    eq(b.request("GET", "/private")[0], 404, "services: an unpublished path never reaches other nodes")
    eq(a.request("GET", "/private")[0], 200, "the unpublished service still serves locally")


@case("distributedMethods and distributedEvents")
def _():
    s, r, _ = b.request("POST", "/things", {"n": 1})
    eq(s, 201, "distributedMethods: create crosses")
    s, r, _ = b.request("PATCH", "/things/0", {"n": 2})
    eq((s, r["name"]), (405, "MethodNotAllowed"), "distributedMethods: patch does not")
    b.request("DELETE", "/things/0")
    wait_until(lambda: b.request("GET", "/heard")[1]["removed"] >= 1, 3)
    time.sleep(0.2)
    eq(b.request("GET", "/heard")[1], {"created": 1, "patched": 0, "removed": 1},
       "distributedEvents: created and removed cross, patched does not")


@case("hooks on every proxy; params cross nodes")
def _():
    s, r, _ = b.request("GET", "/whoami/1", headers={"X-Trace": "abc"})
    eq((s, r.get("user"), r.get("tag")), (200, {"id": 42, "name": "ada"}, "from-hook"),
       "hooks on every proxy; params.user and custom params cross nodes")
    eq(r.get("authentication"), {"strategy": "jwt", "accessToken": "t"}, "params.authentication crosses")


@case("a request larger than the frame limit is refused before it is sent, at once")
def _():
    t0 = time.monotonic()
    s, r, _ = b.request("POST", "/things", {"n": "x" * 5000})
    eq((s, r.get("name")), (400, "BadRequest"), "a request over --max-frame: BadRequest")
    check("larger than the frame limit" in r.get("message", ""), "it says why", r)
    check(time.monotonic() - t0 < 0.5, "at once, not after a timeout", "%.2fs" % (time.monotonic() - t0))
    eq(b.request("POST", "/things", {"n": 3})[0], 201, "the next call goes through")


@case("the timeout option: a slow call gets Timeout after 700 ms")
def _():
    t0 = time.monotonic()
    s, r, _ = b.request("GET", "/whoami?ms=2000")
    took = time.monotonic() - t0
    eq((s, r["name"]), (408, "Timeout"), "timeout option: a slow call gets Timeout")
    check(0.6 < took < 1.5, "after the option's 700 ms, not --timeout's 10 s", "%.2fs" % took)


@case("the healthcheck: 200 while every remote answers, 503 when a provider is gone")
def _():
    s, r, _ = b.request("GET", "/distribution/healthcheck")
    eq((s, r), (200, {"things": True, "whoami": True}), "healthcheck: 200 while every remote answers")
    a.signal(signal.SIGKILL)
    a.proc.wait(5)
    s, r, _ = b.request("GET", "/distribution/healthcheck", timeout=15)
    eq((s, r.get("name"), r.get("data")), (503, "Unavailable", {"things": False, "whoami": False}),
       "healthcheck: 503 Unavailable with the map in data when a provider is gone")
    b.stop()


@case("a cap on requests in flight per link: the rest are refused at once, not queued")
def _():
    F = "tests/integration/fixtures/cluster/flood.lua"
    fp = Node(F, name="flood-provider", env={"FDN_ROLE": "provider"})
    fc = Node(F, name="flood-consumer", env={"FDN_ROLE": "consumer"})
    check(wait_until(lambda: fc.request("POST", "/flood", {"n": 1})[1].get("ok") == 1, 5), "flood consumer ready")
    s, r, _ = fc.request("POST", "/flood", {"n": 20})
    eq((s, r), (201, {"ok": 8, "TooManyRequests": 12}), "over the in-flight cap: TooManyRequests at once")
    s, r, _ = fc.request("POST", "/flood", {"n": 8})
    eq(r, {"ok": 8}, "under the cap again once the first ones finished")
    fp.stop()
    fc.stop()


@case("a service table larger than --max-frame cannot reach any peer: the provider says so, once")
def _():
    M = "tests/integration/fixtures/cluster/many.lua"
    big = Node(M, name="big-table", args=["--max-frame", "1024"])
    peer = Node(C, name="big-table-peer", args=["--max-frame", "1024"])
    check(wait_until(lambda: "larger than --max-frame" in big.log(), 5),
          "a service table over --max-frame is logged", big.log()[-600:])
    lines = [l for l in big.log().splitlines() if "larger than --max-frame" in l]
    check(len(lines) == 1 and " error " in lines[0] and "bytes" in lines[0], "one error line, with the size", lines)
    eq(peer.request("GET", "/s001")[0], 404, "the peer does not see the services")
    big.stop()
    peer.stop()


finish()
