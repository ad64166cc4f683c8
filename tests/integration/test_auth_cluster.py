"""Authentication across nodes (fixtures/auth_cluster): a gateway serves "authentication"
while "users" lives on a provider (the local strategy finds the user through the proxy); the
gateway's hook passes params.user and params.authentication to a remote service; a provider
with the same secret verifies the forwarded token itself (401 with its class when it is
tampered with or missing); Feathers' authentication-client logs in through the gateway over REST
and Socket.IO; with "authentication" on both nodes the gateway serves its own."""
from netns import isolate

isolate()

import os  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402

from cluster import Fleet, finish  # noqa: E402
from fdntest import answers, case, check, eq, wait_until  # noqa: E402

FIX = "tests/integration/fixtures/auth_cluster/"
USERS = "tests/integration/fixtures/auth/users.lua"
EMAIL, PASSWORD = "ada@example.com", "correct horse"


def start(fleet, auth_on_store=False):
    """A store (users, whoami, relay) and a gateway, once the gateway reaches the users."""
    env = {"FDN_AUTH_USE": "1"} if auth_on_store else {}
    store = fleet.node(FIX + "store.lua", USERS, name="store", env=env)
    gw = fleet.node(FIX + "gateway.lua", "tests/integration/fixtures/auth/app.lua", name="gateway")
    check(wait_until(answers(gw, "/users", 401), 8) and wait_until(answers(gw, "/whoami/1", 401), 8),
          "the gateway reaches the store's services")
    return store, gw


def bearer(token):
    return {"Authorization": "Bearer " + token}


def login(node, email=EMAIL, password=PASSWORD):
    return node.request("POST", "/authentication", {"strategy": "local", "email": email, "password": password})


def not_authenticated(got, message, name):
    s, r = got[0], got[1]
    eq((s, r.get("name"), r.get("className"), r.get("code"), r.get("message")),
       (401, "NotAuthenticated", "not-authenticated", 401, message), name)


fleet = Fleet()
token, user, gw = None, None, None


@case("login through the gateway, the users on another node")
def _():
    global token, user, gw
    _, gw = start(fleet)
    s, r, _ = gw.request("POST", "/users", {"email": EMAIL, "password": PASSWORD})
    eq((s, r.get("email"), "password" in r), (201, EMAIL, False), "sign-up through the gateway, no password back")
    user = r
    s, r, _ = login(gw)
    u = r.get("user", {})
    eq((s, r.get("authentication", {}).get("strategy"), u.get("email"), "password" in u),
       (201, "local", EMAIL, False), "local login at the gateway finds the user on the store")
    token = r.get("accessToken")
    eq(r["authentication"]["payload"]["sub"], str(user["id"]), "the token's subject is the remote user's id")
    not_authenticated(login(gw, password="wrong"), "Invalid login", "a wrong password: Invalid login")
    not_authenticated(login(gw, email="nobody@example.com"), "Invalid login", "an unknown user: Invalid login")
    s, r, _ = gw.request("POST", "/authentication", {"strategy": "jwt", "accessToken": token})
    eq((s, r.get("accessToken"), r.get("user", {}).get("email")), (201, token, EMAIL),
       "jwt re-authentication at the gateway fetches the remote user")
    eq(gw.request("GET", "/events")[1]["login"], 2, "the gateway counted both logins")


@case("the token guards services on both nodes")
def _():
    s, r, _ = gw.request("POST", "/secrets", {"text": "x"}, headers=bearer(token))
    eq(s, 201, "a guarded service on the gateway (its entity fetched from the store)")
    not_authenticated(gw.request("GET", "/secrets"), "Not authenticated", "no token: Not authenticated")
    s, r, _ = gw.request("GET", "/users/%d" % user["id"], headers=bearer(token))
    eq((s, r.get("email"), "password" in r), (200, EMAIL, False), "the store's guarded users.get with the token")


@case("params.user and params.authentication reach a remote service the gateway guarded")
def _():
    s, r, _ = gw.request("GET", "/relay/7", headers=bearer(token))
    eq(s, 200, "the gateway's hook lets the call through")
    eq((r.get("node"), r.get("fromRemote"), r.get("provider"), r.get("authenticated")),
       ("store", True, "rest", True), "the call ran on the store, from a REST caller, authenticated")
    eq(r.get("user"), {"id": user["id"], "email": EMAIL}, "params.user crosses")
    a = r.get("authentication") or {}
    eq((a.get("strategy"), a.get("accessToken"), (a.get("payload") or {}).get("sub")),
       ("jwt", token, str(user["id"])), "params.authentication crosses, with the verified payload")
    not_authenticated(gw.request("GET", "/relay/7"), "Not authenticated", "without a token the gateway's hook refuses")


@case("a provider with the same secret verifies the forwarded token itself")
def _():
    s, r, _ = gw.request("GET", "/whoami/1", headers=bearer(token))
    eq((s, r.get("node"), r.get("user"), r.get("authenticated")),
       (200, "store", {"id": user["id"], "email": EMAIL}, True),
       "a valid token passes the store's own hook (the user fetched there)")
    head, payload, sig = token.split(".")
    bad_sig = sig[:10] + ("A" if sig[10] != "A" else "B") + sig[11:]
    got = gw.request("GET", "/whoami/1", headers=bearer(".".join((head, payload, bad_sig))))
    not_authenticated(got, "invalid signature", "a tampered signature: 401 with its class across the link")
    eq((got[1].get("data") or {}).get("name"), "JsonWebTokenError", "the error's data crosses too")
    other = gw.request("POST", "/users", {"email": "eve@example.com", "password": "x"})[1]
    forged = payload[:-4] + ("A" if payload[-4] != "A" else "B") + payload[-3:]
    got = gw.request("GET", "/whoami/1", headers=bearer(".".join((head, forged, sig))))
    check(got[0] == 401 and got[1].get("className") == "not-authenticated",
          "a tampered payload: 401 not-authenticated", got[:2])
    check(other.get("id") is not None, "(a second user exists to be impersonated)", other)
    not_authenticated(gw.request("GET", "/whoami/1"), "Not authenticated", "no token: 401 Not authenticated")


@case("Feathers' authentication-client through the gateway, the users on the store; a remote "
      "service sees the socket's user, not its connection")
def _():
    node_bin = shutil.which("node")
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "client", "auth_client.js")
    for transport, steps in (("rest", 11), ("socketio", 14)):
        p = subprocess.run([node_bin or "node", script, "http://127.0.0.1:%d" % gw.port, transport, "remote"],
                           capture_output=True, text=True, timeout=60) if node_bin else None
        tally = (p.stdout.splitlines() or [""])[-1] if p else "no node"
        eq(tally, "%s: %d passed, 0 failed" % (transport, steps), "auth_client.js over %s" % transport)
        check(p and p.returncode == 0, "auth_client.js over %s exits 0" % transport,
              p and (p.stdout + p.stderr)[-3000:])
    fleet.stop_all()


@case("authentication on both nodes: the gateway serves its own")
def _():
    store, gw = start(fleet, auth_on_store=True)
    eq(store.request("POST", "/users", {"email": EMAIL, "password": PASSWORD})[0], 201, "sign-up")
    statuses = [login(gw)[0] for _ in range(6)]
    eq(statuses, [201] * 6, "six logins at the gateway")
    s, r, _ = login(gw)
    eq(gw.request("DELETE", "/authentication", headers=bearer(r["accessToken"]))[0], 200, "logout at the gateway")
    seen = gw.request("GET", "/events")[1]
    eq((seen["login"], seen["logout"]), (7, 1), "every login and the logout ran on the gateway")
    eq(store.request("GET", "/events")[1], {"login": 0, "logout": 0}, "none reached the store's replica")
    s, r, _ = login(store)
    eq(s, 201, "the store's own REST logs in on the store")
    eq(gw.request("GET", "/users/%d" % r["user"]["id"], headers=bearer(r["accessToken"]))[0], 200,
       "a token the store made works through the gateway (one secret)")
    fleet.stop_all()



finish()
