"""W3C trace context across three nodes: a gateway A, B (relay, which calls deep with no params)
and C (deep). A REST request's traceparent (or a new trace when it has none, or an invalid one)
shows as one trace id in the JSON log lines of all three nodes (A's access line, B's and C's
service lines), in the error body a client gets (traceId) and in the response's traceparent."""
import json
import re

from netns import isolate

isolate()

from eioclient import WebSocket  # noqa: E402
from fdntest import Node, answers, case, check, eq, finish, wait_until  # noqa: E402

FIX = "tests/integration/fixtures/trace/"
JSON = ["--log-format", "json"]
TP = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def lines(node, message):
    """The fields of node's JSON log lines with that message."""
    out = []
    for ln in node.log().splitlines():
        try:
            o = json.loads(ln)
        except ValueError:
            continue
        if o.get("message") == message:
            out.append(o.get("fields") or {})
    return out


def traced(node, message, trace_id):
    return [f for f in lines(node, message) if f.get("trace") == trace_id]


def seen_everywhere(trace_id, id_):
    """A's access line, B's relay line and C's deep line for id_ all carry trace_id."""
    def probe():
        return (any(f.get("trace") == trace_id for f in lines(a, "access"))
                and any(f.get("id") == id_ for f in traced(b, "relay", trace_id))
                and any(f.get("id") == id_ for f in traced(c, "deep", trace_id)))
    return wait_until(probe, 5)


@case("three nodes: A (gateway) reaches relay on B, which calls deep on C")
def _():
    global a, b, c
    c = Node(FIX + "deep.lua", name="cee", http=False, args=JSON)
    b = Node(FIX + "relay.lua", name="bee", http=False, args=JSON)
    a = Node(FIX + "gateway.lua", name="aye", args=JSON + ["--access-log"])
    check(wait_until(answers(a, "/relay/1"), 10), "A reaches relay, and relay reaches deep", a.log())


@case("a given traceparent: one trace id in the error body, the response header and all three logs")
def _():
    tid, parent = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    s, body, h = a.request("GET", "/relay/bad", headers={"traceparent": "00-%s-%s-01" % (tid, parent)})
    eq((s, body.get("name")), (400, "BadRequest"), "C's error reaches the client")
    eq(body.get("traceId"), tid, "the error body carries the trace id")
    m = TP.match(h.get("traceparent", ""))
    check(m and m.group(1) == tid and m.group(2) != parent and m.group(3) == "01",
          "the response's traceparent: the same trace, the gateway's own span", h)
    check(seen_everywhere(tid, "bad"), "A, B and C log the trace id",
          (lines(a, "access")[-2:], lines(b, "relay")[-2:], lines(c, "deep")[-2:]))


@case("no traceparent: a new trace, the same on all three nodes, and what deep's fdn.trace.id() sees")
def _():
    s, body, h = a.request("GET", "/relay/ok1")
    eq(s, 200, "answered")
    m = TP.match(h.get("traceparent", ""))
    check(m is not None, "a traceparent in the response", h)
    tid = m.group(1)
    eq(body["deep"]["trace"], tid, "C's service sees the trace id")
    check(seen_everywhere(tid, "ok1"), "A, B and C log the new trace id")
    s, body2, h2 = a.request("GET", "/relay/ok2")
    check(TP.match(h2["traceparent"]).group(1) not in (tid, "0" * 32), "each request its own trace", h2)


@case("an invalid traceparent is ignored: a new trace is made")
def _():
    bad = ["00-%s-00f067aa0ba902b7-01" % ("0" * 32),         # all-zero trace id
           "00-4bf92f3577b34da6a3ce929d0e0e4736-%s-01" % ("0" * 16),  # all-zero parent id
           "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  # uppercase
           "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # version ff
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",  # version 00 with more
           "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01", "garbage"]
    for i, tp in enumerate(bad):
        s, body, h = a.request("GET", "/relay/bad", headers={"traceparent": tp})
        eq(s, 400, "answered")
        m = TP.match(h.get("traceparent", ""))
        check(m and m.group(1) != "4bf92f3577b34da6a3ce929d0e0e4736" and m.group(1) != "0" * 32
              and body.get("traceId") == m.group(1), "a new trace for %r" % tp, (h, body))
    # a later version is read as version 00 is, what follows its fields ignored
    tid = "0af7651916cd43dd8448eb211c80319c"
    s, body, h = a.request("GET", "/relay/bad", headers={"traceparent": "01-%s-b7ad6b7169203331-00-x" % tid})
    eq(body.get("traceId"), tid, "version 01 with a further field is accepted")


def socket_call(traceparent=None):
    """A Socket.IO get of relay "bad" (the handshake with traceparent, if given): the error the
    ack carries."""
    w = WebSocket(a.port, version="13" + ("\r\ntraceparent: " + traceparent if traceparent else ""))
    try:
        w.recv()
        w.send("40")
        w.recv()
        w.send('421["get","relay","bad"]')
        reply = w.recv_until("431*")
    finally:
        w.close()
    return json.loads(reply[3:])[0]


@case("Socket.IO: a call's error carries its trace id, logged on all three nodes; the handshake's "
      "traceparent is the trace of the socket's calls")
def _():
    err = socket_call()
    eq(err.get("name"), "BadRequest", "C's error reaches the socket")
    tid = err.get("traceId", "")
    check(re.match(r"[0-9a-f]{32}$", tid), "a new trace id in the error", err)
    check(seen_everywhere(tid, "bad"), "A, B and C log it")
    given = "0af7651916cd43dd8448eb211c80319c"
    err = socket_call("00-%s-b7ad6b7169203331-01" % given)
    eq(err.get("traceId"), given, "the handshake's trace id")
    check(seen_everywhere(given, "bad"), "A, B and C log the handshake's trace id")


@case("the nodes stop cleanly")
def _():
    for n in (a, b, c):
        eq(n.stop(), 0, "exit 0")


finish()
