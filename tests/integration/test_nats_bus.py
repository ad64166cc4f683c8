"""fdn.core.nats against a real nats-server (natsserver.py starts one with a user and a
password): two nodes publish to themselves and to each other, a request/reply round trip, an
echo call on the reactor stays fast while 10,000 messages flow, the inbound queue's bound
(drops counted), a server restart (disconnected, reconnected, publishing resumes), and a
clean exit (the sanitizer build finds no leak or error at the node's end)."""
from netns import isolate

isolate()

import http.client
import json
import threading
import time

from fdntest import Node, case, check, eq, figure, finish, percentile, wait_until
from natsserver import NatsServer

server = NatsServer(user="fdn", password="p@ss:w/rd %")  # escaped in the URL
FIXTURE = "tests/integration/fixtures/nats_bus.lua"


def start(name, **env):
    n = Node(FIXTURE, name=name, env={"FDN_NATS_URL": server.url, "FDN_NATS_NAME": name, **env})
    check(wait_until(lambda: state(n).get("connected"), 10), "%s connected" % name, json.dumps(state(n)))
    return n


def state(n):
    return n.request("GET", "/state")[1]


def publish(n, subject, count=1, data=None, every=0):
    body = {"subject": subject, "count": count, "every": every}
    if data is not None:
        body["data"] = data
    status, value, _ = n.request("POST", "/publish", body=body, timeout=60)
    eq(status, 201, "publish %d to %s: %s" % (count, subject, value))



def clean_exit(n):
    code = n.stop()
    log = n.log()
    eq(code, 0, "%s exits with 0" % n.name)
    check("Sanitizer" not in log and "runtime error" not in log, "%s: no sanitizer report" % n.name, log[-3000:])


a = b = None


@case("a wrong password: connect's callback says why, the node runs on")
def _():
    bad = "nats://fdn:nope@127.0.0.1:%d" % server.port
    n = Node(FIXTURE, name="bad", env={"FDN_NATS_URL": bad, "FDN_NATS_NAME": "bad"})
    s = wait_until(lambda: state(n).get("error"), 10)
    check(s and s.startswith("Authorization"), "the error names the authorization", repr(s))
    eq(state(n)["connected"], False, "not connected")
    clean_exit(n)


@case("two nodes: to itself, to the other, and a request/reply round trip")
def _():
    global a, b
    a, b = start("a"), start("b")
    eq((state(a)["status"], state(b)["status"]), ("connected", "connected"), "status: connected")
    publish(a, "t.a.in", data="self")
    check(wait_until(lambda: state(a)["got"] == 1, 5), "a got its own message", json.dumps(state(a)))
    eq(state(a)["last"], "self", "its data")
    publish(a, "t.b.in", data="x" * 100000)
    check(wait_until(lambda: state(b)["got"] == 1, 5), "b got a's message", json.dumps(state(b)))
    eq(len(state(b)["last"]), 100000, "100 kB intact")
    t0 = time.monotonic()
    status, value, _ = a.request("GET", "/request?subject=t.b.echo&data=hi")
    figure("request/reply a -> b -> a over NATS: %.2f ms (with HTTP)" % ((time.monotonic() - t0) * 1000))
    eq((status, value), (200, {"reply": "b:hi"}), "b answered a's request")
    t0 = time.monotonic()
    status, value, _ = a.request("GET", "/request?subject=t.nobody&timeout=5000")
    eq((status, value.get("name")), (503, "Unavailable"), "no subscriber: the server says so")
    check(time.monotonic() - t0 < 1, "at once, not after the timeout", "%.2f s" % (time.monotonic() - t0))
    status, value, _ = a.request("GET", "/request?subject=t.b.in&timeout=300")
    eq((status, value.get("name")), (408, "Timeout"), "a subscriber that does not answer: Timeout")


@case("direct subscriptions: 20,000 messages in order, none dropped; one that unsubscribes in its handler; no thread started")
def _():
    publish(a, "t.b.direct", count=20000, data=None, every=500)
    check(wait_until(lambda: state(b)["direct"] >= 20000, 20), "b took the 20,000", json.dumps(state(b)))
    s = state(b)
    eq((s["direct"], s["out_of_order"], s["dropped"]), (20000, 0, 0), "all of them, in order, none dropped")
    publish(a, "t.b.once", count=10)
    publish(a, "t.b.in", data="after-once")
    check(wait_until(lambda: state(b)["last"] == "after-once", 5), "b still takes messages after")
    eq(state(b)["once"], 1, "the handler that unsubscribed ran once")
    eq(s["direct_threads"], 0, "18 direct subscriptions started no thread")


@case("10,000 messages a -> b: none dropped, b's echo p99 under 10 ms meanwhile")
def _():
    before = state(b)["got"]
    out = []
    t = threading.Thread(target=lambda: out.append(publish(a, "t.b.in", count=10000, every=100)))
    conn = http.client.HTTPConnection("127.0.0.1", b.port, timeout=10)
    lat = []
    t0 = time.monotonic()
    t.start()
    i = 0
    while (t.is_alive() or state(b)["got"] < before + 10000) and time.monotonic() < t0 + 20 and i < 100000:
        i += 1
        c0 = time.monotonic()
        conn.request("GET", "/echo?n=%d" % i)
        body = json.loads(conn.getresponse().read())
        lat.append((time.monotonic() - c0) * 1000)
        eq(body.get("echo"), str(i), "echo answers its own call")
    t.join(20)
    conn.close()
    took = time.monotonic() - t0
    s = state(b)
    eq((s["got"] - before, s["dropped"]), (10000, 0), "all 10,000 arrived, none dropped")
    p50, p99 = percentile(lat, 0.5), percentile(lat, 0.99)
    figure("10,000 messages in %.2f s (%.0f/s) beside %d echo calls on the receiver: p50 %.2f ms, "
           "p99 %.2f ms, max %.2f ms" % (took, 10000 / took, len(lat), p50, p99, max(lat)))
    check(len(lat) >= 20, "echo calls ran meanwhile", str(len(lat)))
    check(p99 < 10, "echo p99 under 10 ms", "%.2f ms" % p99)


@case("flush: once it calls back, the server has every message published before it")
def _():
    before = state(b)["got"]
    status, value, _ = a.request("POST", "/publish", body={"subject": "t.b.in", "count": 2000, "flush": True})
    eq(status, 201, "published and flushed")
    check(wait_until(lambda: state(b)["got"] == before + 2000, 5), "b got the 2000", json.dumps(state(b)))


@case("a slow subscriber with queue=100: the excess is dropped and counted, the rest handled")
def _():
    c = start("c", FDN_NATS_QUEUE="100")
    publish(a, "t.c.slow", count=3000)
    check(wait_until(lambda: state(c)["slow"] + state(c)["dropped"] >= 3000, 20), "every message handled or dropped",
          json.dumps(state(c)))
    s = state(c)
    figure("queue=100, 3000 messages of 1 ms work each: %d handled, %d dropped" % (s["slow"], s["dropped"]))
    eq(s["slow"] + s["dropped"], 3000, "handled + dropped = sent")
    check(s["dropped"] > 0 and s["slow"] >= 100, "some dropped, at least a queue's worth handled", json.dumps(s))
    eq(s["queued"], 0, "the queue is empty after")
    clean_exit(c)


@case("a server restart: disconnected, then reconnected; publishing and requests resume")
def _():
    before = state(b)["got"]
    server.stop_server()
    for n in (a, b):
        check(wait_until(lambda: "disconnected" in state(n)["statuses"], 5), "%s: disconnected" % n.name,
              json.dumps(state(n)))
        eq(state(n)["status"], "reconnecting", "%s: status reconnecting" % n.name)
    time.sleep(0.5)
    t_up = time.monotonic()
    server.start()
    for n in (a, b):
        check(wait_until(lambda: "reconnected" in state(n)["statuses"], 10), "%s: reconnected" % n.name,
              json.dumps(state(n)))
    figure("reconnected %.2f s after the server came back" % (time.monotonic() - t_up))
    eq(state(a)["statuses"], ["disconnected", "reconnected"], "a: in that order, once each")
    publish(a, "t.b.in", count=10)
    check(wait_until(lambda: state(b)["got"] == before + 10, 5), "b got the 10 sent after", json.dumps(state(b)))
    status, value, _ = a.request("GET", "/request?subject=t.b.echo&data=again")
    eq((status, value), (200, {"reply": "b:again"}), "request/reply again")


@case("both nodes exit cleanly")
def _():
    clean_exit(a)
    clean_exit(b)


finish()
