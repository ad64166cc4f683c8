"""Authentication on the gateway, as a Feathers client sees it: over REST (sign-up, local login,
Feathers' 401 bodies, the Authorization header's schemes, reAuthenticate, logout, no password in
any answer) and over Socket.IO (login on the connection, params.user, channels for logged-in
sockets only, logout, and the socket disconnected when its token expires)."""
from netns import isolate

isolate()

import atexit  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import tempfile  # noqa: E402
import urllib.error  # noqa: E402
import urllib.request  # noqa: E402

from eioclient import WebSocket  # noqa: E402
from fdntest import Node, case, check, eq, finish, wait_until  # noqa: E402

FIX = "tests/integration/fixtures/auth/"
SCRIPTS = (FIX + "users.lua", FIX + "app.lua")
TMP = tempfile.mkdtemp(prefix="fdn-auth-")
atexit.register(shutil.rmtree, TMP, True)

node = Node(*SCRIPTS, name="auth")
P = node.port


def rest(method, path, body=None, token=None, header=None, port=None):
    """(status, decoded JSON) over urllib; token goes as `Authorization: Bearer`, header as given."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port or P, path), data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    if header is not None:
        req.add_header("Authorization", header)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            text = r.read()
            return r.status, json.loads(text) if text else None
    except urllib.error.HTTPError as e:
        return e.code, untraced(json.loads(e.read()))


def untraced(err):
    """An error body without its traceId (a trace id per request: test_trace checks it)."""
    if isinstance(err, dict):
        err.pop("traceId", None)
    return err


def unauthenticated(message):
    return {"name": "NotAuthenticated", "message": message, "code": 401, "className": "not-authenticated"}


def login(email, password, port=None):
    return rest("POST", "/authentication", {"strategy": "local", "email": email, "password": password}, port=port)


def no_password(value):
    text = json.dumps(value)
    return "password" not in text and "$2b$" not in text and "$2a$" not in text


def counted():
    return rest("GET", "/events")[1]


class Sock:
    """A Socket.IO client on the websocket: call() sends `42<id>[...]` and waits for its ack,
    keeping the events that arrive meanwhile (in .events)."""

    def __init__(self, port=None):
        self.ws = WebSocket(port or P)
        assert self.ws.status == 101, self.ws.status
        assert self.ws.recv().startswith("0{"), "no Engine.IO open"
        self.ws.send("40")
        self.ws.recv_until("40*")
        self.n = 0
        self.events = []

    def call(self, *args):
        self.n += 1
        self.ws.send("42%d%s" % (self.n, json.dumps(list(args))))
        while True:
            m = self.ws.recv()
            if m.startswith("43%d[" % self.n):
                r = json.loads(m[len("43%d" % self.n):])  # [error] or [null, result]
                return [untraced(r[0])] + r[1:]
            if m.startswith("42["):
                self.events.append(json.loads(m[2:]))

    def names(self):
        return [e[0] for e in self.events]


state = {}


@case("REST: sign-up, then local login answers Feathers' shape; the password never comes back")
def _():
    s, user = rest("POST", "/users", {"email": "alice@example.com", "password": "wonderland"})
    eq(s, 201, "sign-up is 201")
    check(no_password(user) and user.get("email") == "alice@example.com", "sign-up answer without the password", user)
    s, r = login("alice@example.com", "wonderland")
    eq(s, 201, "login is 201")
    eq(sorted(r), ["accessToken", "authentication", "user"], "the answer's keys")
    eq(r["authentication"]["strategy"], "local", "authentication.strategy")
    eq(sorted(r["authentication"]["payload"]), ["aud", "exp", "iat", "iss", "jti", "sub"], "the payload's claims")
    eq(r["authentication"]["payload"]["sub"], str(user["id"]), "sub is the user's id, as text")
    check(no_password(r), "login answer without the password", r)
    state.update(token=r["accessToken"], user=user)


@case("REST: failed logins and unguarded calls get Feathers' 401 bodies exactly")
def _():
    eq(login("alice@example.com", "Wonderland"), (401, unauthenticated("Invalid login")), "wrong password")
    eq(login("nobody@example.com", "wonderland"), (401, unauthenticated("Invalid login")), "unknown user")
    eq(rest("POST", "/authentication", {"strategy": "local", "email": "alice@example.com"}),
       (401, unauthenticated("Invalid login")), "no password")
    eq(rest("POST", "/authentication", {"email": "alice@example.com", "password": "wonderland"}),
       (401, unauthenticated("Invalid authentication information (no `strategy` set)")), "no strategy")
    eq(rest("POST", "/authentication", {"strategy": "oauth"}),
       (401, unauthenticated("Invalid authentication information (strategy not allowed in authStrategies)")),
       "a strategy not allowed")
    eq(rest("GET", "/users"), (401, unauthenticated("Not authenticated")), "a guarded find without the header")
    eq(rest("GET", "/secrets"), (401, unauthenticated("Not authenticated")), "a guarded service without it")


@case("REST: the Authorization header with Bearer, JWT, a bare token; another scheme is not read")
def _():
    tok = state["token"]
    for label, value in [("Bearer", "Bearer " + tok), ("JWT", "JWT " + tok), ("bare", tok),
                         ("lower-case bearer", "bearer " + tok)]:
        s, r = rest("GET", "/users", header=value)
        check(s == 200 and r["total"] == 1 and no_password(r), "guarded find with " + label, (s, r))
    eq(rest("GET", "/users", header="Basic " + tok), (401, unauthenticated("Not authenticated")),
       "an unknown scheme is no authentication")
    s, r = rest("GET", "/users", header="Bearer " + tok[:-2] + ("AA" if not tok.endswith("AA") else "BB"))
    check(s == 401 and r["name"] == "NotAuthenticated" and r["message"] == "invalid signature"
          and r["data"] == {"name": "JsonWebTokenError"}, "a tampered token: jsonwebtoken's message", r)
    s, r = rest("GET", "/users/%s" % state["user"]["id"], token=tok)
    check(s == 200 and r["email"] == "alice@example.com" and no_password(r), "guarded get, no password", (s, r))
    s, r = rest("GET", "/echo/1", token=tok)
    eq((s, r.get("user"), r.get("provider")), (200, None, "rest"),
       "a service without the authenticate hook gets no user (as Feathers: the hook loads it)")


@case("REST: reAuthenticate (strategy jwt) returns the same token; DELETE /authentication logs out")
def _():
    tok = state["token"]
    s, r = rest("POST", "/authentication", {"strategy": "jwt", "accessToken": tok})
    eq((s, r["accessToken"], r["authentication"]["strategy"]), (201, tok, "jwt"), "the same token back")
    check(no_password(r) and r["user"]["email"] == "alice@example.com", "with the user, no password", r)
    before = counted()["logout"]
    s, r = rest("DELETE", "/authentication", token=tok)
    eq((s, r["accessToken"]), (200, tok), "logout answers the authentication")
    eq(counted()["logout"], before + 1, "the logout event ran")
    eq(rest("DELETE", "/authentication"),
       (401, unauthenticated("Invalid authentication information (no `strategy` set)")), "logout without the header")


@case("Socket.IO: login on the connection; later calls carry params.user; secrets events go to it only")
def _():
    rest("POST", "/users", {"email": "bob@example.com", "password": "builder"})
    a, anon = Sock(), Sock()
    eq(a.call("get", "echo", 1, {})[1].get("user"), None, "before login: no user")
    eq(a.call("find", "secrets", {})[0], unauthenticated("Not authenticated"), "before login: a guarded find is 401")
    before = counted()["login"]
    err = a.call("create", "authentication", {"strategy": "local", "email": "bob@example.com", "password": "wrong"})
    eq(err, [unauthenticated("Invalid login")], "a wrong password over the socket")
    r = a.call("create", "authentication", {"strategy": "local", "email": "bob@example.com", "password": "builder"})
    check(r[0] is None and r[1]["user"]["email"] == "bob@example.com" and no_password(r), "login over the socket", r)
    eq(counted()["login"], before + 1, "the login event ran")
    echo = a.call("get", "echo", 1, {})[1]
    check(echo.get("user") and echo["user"]["email"] == "bob@example.com" and echo["provider"] == "socketio",
          "a later call carries params.user", echo)
    check(no_password(echo), "the connection's user has no password", echo)
    s = a.call("find", "secrets", {})
    check(s[0] is None, "a guarded find on the logged-in socket", s)
    eq(anon.call("find", "secrets", {})[0], unauthenticated("Not authenticated"), "still 401 on the anonymous one")
    eq(rest("POST", "/secrets", {"text": "one"}, token=r[1]["accessToken"])[0], 201, "a secret made over REST")
    a.call("get", "echo", 2, {})
    anon.call("get", "echo", 2, {})
    eq(a.names(), ["secrets created"], "the logged-in socket got the secrets event")
    eq(anon.names(), [], "the anonymous socket did not")
    state.update(sock=a, anon=anon, bob=r[1]["accessToken"])


@case("Socket.IO: remove authentication null logs out: no more secrets events, guarded calls 401")
def _():
    a, anon, tok = state["sock"], state["anon"], state["bob"]
    a.events.clear()
    before = counted()["logout"]
    r = a.call("remove", "authentication", None, {})
    check(r[0] is None and r[1]["accessToken"] == tok, "logout over the socket", r)
    eq(counted()["logout"], before + 1, "the logout event ran")
    eq(a.call("find", "secrets", {})[0], unauthenticated("Not authenticated"), "a guarded call after logout")
    eq(a.call("get", "echo", 1, {})[1].get("user"), None, "no user after logout")
    eq(rest("POST", "/secrets", {"text": "two"}, token=tok)[0], 201, "another secret over REST")
    a.call("get", "echo", 3, {})
    eq(a.names(), [], "no secrets event after logout")
    eq(a.call("remove", "authentication", None, {})[0],
       unauthenticated("Invalid authentication information (no `strategy` set)"), "a second logout")
    a.ws.close()
    anon.ws.close()


@case("Socket.IO: a token of 2 s: the server disconnects the socket when it expires, and disconnect runs")
def _():
    conf = os.path.join(TMP, "short")
    os.makedirs(conf)
    with open(os.path.join(FIX, "config", "default.json")) as f:
        settings = json.load(f)
    settings["authentication"]["jwtOptions"]["expiresIn"] = "2s"
    with open(os.path.join(conf, "default.json"), "w") as f:
        json.dump(settings, f)
    short = Node(*SCRIPTS, name="short", args=["--config", conf])
    rest("POST", "/users", {"email": "c@example.com", "password": "pw"}, port=short.port)
    s = Sock(short.port)
    r = s.call("create", "authentication", {"strategy": "local", "email": "c@example.com", "password": "pw"})
    p = r[1]["authentication"]["payload"]
    eq(p["exp"] - p["iat"], 2, "a 2 s token")
    check(s.call("find", "secrets", {})[0] is None, "logged in")
    gone = wait_until(lambda: rest("GET", "/events", port=short.port)[1].get("disconnect", 0) >= 1, seconds=6)
    check(gone, "app 'disconnect' ran within 6 s", rest("GET", "/events", port=short.port)[1])
    # as socket.io's socket.disconnect(): a DISCONNECT packet to "/" ("41": the client then sees
    # "io server disconnect" and does not reconnect by itself)
    got, frames = None, []
    s.ws.s.settimeout(3)
    try:
        for _ in range(20):
            frame = s.ws.recv()
            frames.append(frame)
            if frame in ("41", b"41"):
                got = frame
                break
    except (socket.timeout, ConnectionError, EOFError, OSError) as e:
        frames.append(type(e).__name__)
    check(got is not None, "the server sent the Socket.IO DISCONNECT (41)", frames)
    short.stop()


finish()
