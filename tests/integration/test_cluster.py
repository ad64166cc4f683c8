"""Two nodes in a private network namespace: discovery with no flags, remote
CRUD through the gateway, custom methods, params and error classes across
nodes, events exactly once, the healthcheck, fdnode ls and fdnode call."""
import json
import time

from netns import isolate

isolate()

from fdntest import Node, answers, case, check, eq, finish, run_fdnode, wait_until  # noqa: E402

P = "tests/integration/fixtures/cluster/provider.lua"
C = "tests/integration/fixtures/cluster/consumer.lua"



@case("two nodes with no flags find each other")
def _():
    global a, b
    a = Node(P, name="alpha")
    t0 = time.monotonic()
    b = Node(C, name="beta")
    check(wait_until(answers(b, "/items"), 5), "the remote service answers on the other node")
    print("discovery to first answer: %.0f ms" % ((time.monotonic() - t0) * 1000))


@case("remote CRUD through B's gateway")
def _():
    s, r, _ = b.request("POST", "/items", {"name": "x", "n": 1})
    eq((s, r), (201, {"id": 0, "name": "x", "n": 1}), "remote create: 201")
    s, r, _ = b.request("GET", "/items/0")
    eq((s, r), (200, {"id": 0, "name": "x", "n": 1}), "remote get")
    s, r, _ = b.request("GET", "/items?n[$gte]=1")
    eq((s, [i["id"] for i in r]), (200, [0]), "remote find with a query")
    s, r, _ = b.request("PATCH", "/items/0", {"n": 2})
    eq((s, r["n"]), (200, 2), "remote patch")
    s, r, _ = b.request("PUT", "/items/0", {"name": "y"})
    eq((s, r), (200, {"id": 0, "name": "y"}), "remote update")
    s, r, _ = b.request("POST", "/items", {"k": 1}, headers={"X-Service-Method": "stats"})
    eq((s, r.get("echo"), r.get("fromRemote"), r.get("provider")), (200, {"k": 1}, True, "rest"),
       "custom method across nodes; params.provider crosses, fromRemote is set")
    s, r, _ = b.request("POST", "/items", {"reject": True})
    eq((s, r["name"], r["code"], r.get("data")), (422, "Unprocessable", 422, {"reason": "asked"}),
       "an error keeps its class, code and data across nodes")
    s, r, _ = b.request("GET", "/items/99")
    eq((s, r["name"], r["message"]), (404, "NotFound", "No record found for id '99'"), "NotFound across nodes")
    s, r, _ = b.request("GET", "/echo/unsendable")
    eq((s, r.get("name"), r.get("message"), r.get("data")), (400, "BadRequest", "data that is not JSON", None),
       "an error whose data is not JSON keeps its class and message across nodes")
    s, r, _ = b.request("DELETE", "/items/0")
    eq((s, r["id"]), (200, 0), "remote remove")


@case("a proxy's methods called from Lua code")
def _():
    s, r, _ = b.request("GET", "/via")
    eq((s, r["plain"]["query"], r["plain"]["node"]), (200, {"n": 1}, "alpha"), "a proxy's method called from Lua")
    eq(r["hooked"]["query"], {"hooked": True}, "a hook added to a proxy after a call runs from the next call on")
    eq(r["error"], {"ok": False, "name": "NotFound", "code": 404, "message": "No record found for id '12345'"},
       "a remote error reaches Lua code with its class")


@case("events exactly once, in order (with the CRUD case's)")
def _():
    b.request("POST", "/items", {"seq": 1})
    b.request("POST", "/items", {"seq": 2, "shout": "hey"})
    a.request("POST", "/items", {"seq": 3})
    wait_until(lambda: len(b.request("GET", "/heard")[1]["created"]) >= 4, 3)
    time.sleep(0.3)
    heard = b.request("GET", "/heard")[1]
    eq([e["data"].get("seq") for e in heard["created"]], [None, 1, 2, 3], "created events arrive once each, in order")
    eq(heard["created"][1]["method"], "create", "the event's context carries the method")
    eq(len(heard["patched"]), 1, "patched once")
    eq(len(heard["removed"]), 1, "removed once")
    eq([e["data"] for e in heard["custom"]], [{"shouted": "hey"}], "custom events cross nodes")
    eq(heard["services"].count("items"), 1, "app 'service' event for the remote path")


@case("the healthcheck")
def _():
    s, r, _ = b.request("GET", "/distribution/healthcheck")
    eq((s, r), (200, {"items": True, "echo": True}), "healthcheck: every remote service answers")


@case("fdnode ls and fdnode call, as clients of the cluster")
def _():
    code, out, err = run_fdnode("ls", "--json", timeout=20)
    eq(code, 0, "fdnode ls exits 0")
    try:
        nodes = json.loads(out)
    except ValueError:
        nodes = []
    names = sorted(n["name"] for n in nodes)
    eq(names, ["alpha", "beta"], "fdnode ls lists both nodes")
    alpha = [n for n in nodes if n["name"] == "alpha"]
    check(alpha and sorted(s["path"] for s in alpha[0]["services"]) == ["echo", "items"], "ls shows alpha's services",
          out)
    code, out, err = run_fdnode("ls", timeout=20)
    check(code == 0 and "alpha" in out and "items" in out, "fdnode ls prints a table", out + err)
    code, out, err = run_fdnode("call", "echo", "get", "7", timeout=20)
    eq((code, json.loads(out) if code == 0 else err), (0, {"id": 7, "node": "alpha"}), "fdnode call prints the result")
    code, out, err = run_fdnode("call", "items", "get", "12345", timeout=20)
    check(code != 0 and "NotFound" in err, "fdnode call fails with the error", err)


@case("another key sees nothing")
def _():
    code, out, err = run_fdnode("ls", "--json", "--key", "other", timeout=20)
    eq((code, out.strip()), (0, "[]"), "another key sees no node")
    a.stop()
    b.stop()


finish()
