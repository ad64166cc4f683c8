"""What the gateway answers when a handler fails, and the text it reads and writes: status and
body always agree (an error whose data is not JSON goes without it, its class and code kept); a
thrown value that is not an error is GeneralError 500 "Error", logged once, and no answer holds
a heap address or a file path; a JSON body that is not UTF-8 is refused (400), and answers are
UTF-8 whatever bytes a service's strings hold. The same again through the cluster."""
import http.client
import json

from netns import isolate

isolate()

from fdntest import ROOT, Node, answers, case, check, eq, finish, wait_until  # noqa: E402

P = "tests/integration/fixtures/http_errors/provider.lua"
G = "tests/integration/fixtures/http_errors/gateway.lua"


def raw_request(node, method, path, body=None, ctype="application/json"):
    """(status, body bytes): the bytes as sent, before any decoding."""
    conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=10)
    conn.request(method, path, body=body, headers={"Content-Type": ctype} if body is not None else {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, data


def utf8(data):
    """The body as strict UTF-8 JSON, or None when it is not."""
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None


def leaks(data):
    """What an answer must never hold: a heap address, a Lua file, a path of this checkout."""
    return [w for w in (b"0x", b".lua", ROOT.encode()) if w in data]


# id -> (status and code, class, message): status and body must agree
ERRORS = {
    "cyc": (400, "BadRequest", "cyc"),               # data that is cyclic
    "cycerrors": (422, "Unprocessable", "bad fields"),  # errors that are cyclic
    "fndata": (403, "Forbidden", "no"),              # data holding a function
    "table": (500, "GeneralError", "Error"),
    "nil": (500, "GeneralError", "Error"),
    "true": (500, "GeneralError", "Error"),
    "tostring": (500, "GeneralError", "Error"),      # its __tostring is not a message
    "badtostring": (500, "GeneralError", "Error"),   # its __tostring raises
    "fn": (500, "GeneralError", "Error"),
    "string": (500, "GeneralError", "boom"),         # error("boom"): without "file.lua:12: "
    "runtime": (500, "GeneralError", "attempt to index a nil value (local 'x')"),
    "message": (500, "GeneralError", "plain table message"),
}


def check_errors(node, where):
    for id_, (status, name, message) in ERRORS.items():
        st, data = raw_request(node, "GET", "/boom/" + id_)
        body = utf8(data) or {}
        eq((st, body.get("code"), body.get("name"), body.get("message")), (status, status, name, message),
           "%s: %s answers %d %s, status and body alike" % (where, id_, status, name))
        check("data" not in body and "errors" not in body, "%s: %s carries no data" % (where, id_), data)
        eq(leaks(data), [], "%s: %s leaks no address or path" % (where, id_))
    st, data = raw_request(node, "GET", "/boom/require")
    body = utf8(data) or {}
    eq((st, body.get("name")), (500, "GeneralError"), "%s: a failed require: 500" % where)
    check(body.get("message", "").startswith("module 'no.such.module' not found"),
          "%s: ... saying which module" % where, data)
    eq(leaks(data), [], "%s: ... and not where it looked" % where)


def check_text(node, where):
    # the answer is UTF-8 whatever the service's strings hold: U+FFFD for each bad part
    st, data = raw_request(node, "GET", "/echo/binary")
    body = utf8(data)
    eq((st, body), (200, {"bytes": "ok \ufffd\ufffd \ufffd\ufffd \ufffd\ufffd\ufffd \ufffd", "text": "h\u00e9"}),
       "%s: a string that is not UTF-8 is answered as UTF-8 (U+FFFD)" % where)




@case("an error whose data is not JSON; thrown values that are not errors")
def _():
    global n
    n = Node(P, name="provider")
    lines0 = n.log().count("error in service code")
    check_errors(n, "local")
    log = n.log()
    eq(log.count("error in service code") - lines0, 10, "each value thrown that is not an fdn error is logged once")
    check("a table was thrown, not an error: table: 0x" in log, "the log says what was thrown", log[-2000:])
    check("is not JSON" in log, "the data left out is logged", log[-2000:])
    eq(n.request("GET", "/echo/1")[0], 200, "the node goes on serving")


BAD = [("0xFF", b'{"a":"\xff"}'), ("0xFE", b'{"a":"\xfe"}'), ("0xC0 0xAF (overlong '/')", b'{"a":"\xc0\xaf"}'),
       ("0xC1 0xBF (overlong)", b'{"a":"\xc1\xbf"}'), ("an overlong 3-byte form", b'{"a":"\xe0\x80\xaf"}'),
       ("an overlong 4-byte form", b'{"a":"\xf0\x80\x80\xaf"}'), ("a surrogate (U+D800)", b'{"a":"\xed\xa0\x80"}'),
       ("a CESU-8 pair", b'{"a":"\xed\xa0\xbd\xed\xb8\x80"}'), ("U+110000", b'{"a":"\xf4\x90\x80\x80"}'),
       ("0xF5", b'{"a":"\xf5\x80\x80\x80"}'), ("a truncated sequence", b'{"a":"\xe2\x82"}'),
       ("a stray continuation byte", b'{"a":"x\x80y"}'), ("a bad key", b'{"\xff":1}'),
       ("a bad byte after an escape", b'{"a":"\\n\xff"}')]


@case("JSON bodies that are not UTF-8: 400; UTF-8 at the edges of its ranges echoes back")
def _():
    for label, raw in BAD:
        st, data = raw_request(n, "POST", "/echo", raw)
        body = utf8(data) or {}
        eq((st, body.get("name")), (400, "BadRequest"), "a JSON body with %s: 400 BadRequest" % label)
        check("invalid UTF-8 at" in body.get("message", ""), "... saying where", data)
    st, data = raw_request(n, "POST", "/echo", b'{"a":"\\ud800"}')
    eq((st, (utf8(data) or {}).get("message")), (400, "Invalid JSON body: invalid unicode escape at 7"),
       "an escaped lone surrogate: 400 (no UTF-8 string can hold it)")
    good = {"a": "\u00e9\u20ac\U0001F600\U0010FFFF", "\u00fc": "\ud7ff\ue000"}
    st, data = raw_request(n, "POST", "/echo", json.dumps(good, ensure_ascii=False).encode())
    eq((st, utf8(data)), (201, good), "control: UTF-8 of every length, at the edges of the ranges, echoes back")
    check_text(n, "local")


@case("scripts and their modules are named relative to the script's directory, in logs too")
def _():
    st, data = raw_request(n, "GET", "/deep/1")
    eq((st, (utf8(data) or {}).get("message")), (500, "deep trouble"), "a module's error: its message")
    eq(leaks(data), [], "... and no path")
    check(wait_until(lambda: "lib/deep.lua:" in n.log(), 2), "the log names the module as lib/deep.lua",
          n.log()[-1500:])
    check("fixtures/http_errors" not in n.log(), "no line of the log holds the path the node was started with",
          [line for line in n.log().splitlines() if "fixtures/http_errors" in line][:3])


@case("the same through the cluster: the provider's node answers the gateway's")
def _():
    g = Node(G, name="gateway")
    check(wait_until(answers(g, "/echo/1"), 5), "the gateway node reaches the provider's services")
    check_errors(g, "remote")
    check_text(g, "remote")
    eq(g.stop(), 0, "the gateway node exits 0")
    eq(n.stop(), 0, "the provider exits 0")


finish()
