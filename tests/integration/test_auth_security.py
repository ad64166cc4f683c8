"""Authentication's security (issue 15): wrong tokens get 401 with jsonwebtoken's messages, bad
Authorization headers never crash the gateway, unknown-user and wrong-password logins take as long,
the password hash is never answered nor logged, and logins leave an echo call's p99 under 15 ms."""
import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netns  # noqa: E402

netns.isolate()

from fdntest import SANITIZED, Node, case, check, eq, figure, finish, print_figures  # noqa: E402

FIX = "tests/integration/fixtures/auth/"
SECRET = json.load(open(os.path.join(FIX, "config", "default.json")))["authentication"]["secret"]
AUD, ISS = "https://yourdomain.com", "feathers"
PASSWORD = "correct horse battery staple 15"
HASH_RE = re.compile(r"\$2[abxy]?\$\d\d\$[./A-Za-z0-9]{53}")

node = Node(FIX + "users.lua", FIX + "app.lua", name="auth", args=("--log-level", "debug"))


def b64(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def sign(header, payload, key=SECRET, alg=hashlib.sha256):
    """header.payload.signature (HMAC with alg over the first two parts); header and payload are
    dicts (made JSON) or text already base64url."""
    h = header if isinstance(header, str) else b64(json.dumps(header).encode())
    p = payload if isinstance(payload, str) else b64(json.dumps(payload).encode())
    mac = hmac.new(key.encode(), ("%s.%s" % (h, p)).encode(), alg).digest()
    return "%s.%s.%s" % (h, p, b64(mac))


def claims(**over):
    now = int(time.time())
    c = {"iat": now, "exp": now + 3600, "aud": AUD, "iss": ISS, "sub": "0", "jti": "x"}
    c.update(over)
    return {k: v for k, v in c.items() if v is not None}


HEADER = {"alg": "HS256", "typ": "access"}


def rest(method, path, body=None, token=None):
    h = {"Authorization": "Bearer " + token} if token else {}
    return node.request(method, path, body=body, headers=h)


def login(email, password):
    return rest("POST", "/authentication", {"strategy": "local", "email": email, "password": password})


def raw_request(head_lines, timeout=10):
    """GET /secrets with raw header lines (bytes): the status, or None when the gateway closed
    without an answer."""
    s = socket.create_connection(("127.0.0.1", node.port), timeout=timeout)
    try:
        s.sendall(b"GET /secrets HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + b"".join(
            line + b"\r\n" for line in head_lines) + b"\r\n")
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    except ConnectionResetError:
        return None
    finally:
        s.close()
    m = re.match(rb"HTTP/1\.1 (\d{3}) ", data)
    return int(m.group(1)) if m else None


def still_answers(name):
    st, body, _ = rest("GET", "/echo/1")
    eq((st, body and body.get("id")), (200, "1"), "%s: the node answers the next request" % name)


st, user, _ = rest("POST", "/users", {"email": "alice@example.com", "password": PASSWORD})
assert st == 201, (st, user)
st, res, _ = login("alice@example.com", PASSWORD)
assert st == 201, (st, res)
GOOD = res["accessToken"]
UID = str(user["id"])


@case("a well-made token (Python's HMAC) opens /secrets; the fixture's own token too")
def _():
    eq(rest("GET", "/secrets", token=sign(HEADER, claims(sub=UID)))[0], 200, "python-made token")
    eq(rest("GET", "/secrets", token=GOOD)[0], 200, "login's token")


def refused(name, token, message, data_name=None):
    st, body, _ = rest("GET", "/secrets", token=token)
    eq((st, body and body.get("name"), body and body.get("className")), (401, "NotAuthenticated", "not-authenticated"),
       name + ": 401 NotAuthenticated")
    eq(body and body.get("message"), message, name + ": message")
    if data_name:
        eq(((body or {}).get("data") or {}).get("name"), data_name, name + ": data.name")


@case("forged and wrong tokens: 401 NotAuthenticated with jsonwebtoken's messages")
def _():
    good = sign(HEADER, claims(sub=UID))
    h, p, s = good.split(".")
    forged = b64(json.dumps(claims(sub=UID, admin=True)).encode())
    refused("tampered payload", "%s.%s.%s" % (h, forged, s), "invalid signature", "JsonWebTokenError")
    flip = ("A" if s[0] != "A" else "B") + s[1:]
    refused("tampered signature", "%s.%s.%s" % (h, p, flip), "invalid signature")
    refused("signature cut short", "%s.%s.%s" % (h, p, s[:-2]), "invalid signature")
    now = int(time.time())
    refused("expired", sign(HEADER, claims(sub=UID, iat=now - 7200, exp=now - 3600)), "jwt expired",
            "TokenExpiredError")
    refused("not yet valid (nbf)", sign(HEADER, claims(sub=UID, nbf=now + 3600)), "jwt not active",
            "NotBeforeError")
    refused("wrong audience", sign(HEADER, claims(sub=UID, aud="https://evil.example")),
            "jwt audience invalid. expected: " + AUD)
    refused("wrong issuer", sign(HEADER, claims(sub=UID, iss="not-feathers")),
            "jwt issuer invalid. expected: " + ISS)
    none_h = b64(json.dumps({"alg": "none", "typ": "access"}).encode())
    refused("alg none, no signature", "%s.%s." % (none_h, p), "jwt signature is required")
    refused("alg none, with a signature", "%s.%s.%s" % (none_h, p, s), "invalid algorithm")
    refused("alg NONE, HMAC-signed", sign({"alg": "NONE", "typ": "access"}, claims(sub=UID)), "invalid algorithm")
    refused("HS512 header and HMAC-SHA512", sign({"alg": "HS512", "typ": "access"}, claims(sub=UID), alg=hashlib.sha512),
            "invalid algorithm")
    refused("HS512 header, HS256 signature", sign({"alg": "HS512", "typ": "access"}, claims(sub=UID)),
            "invalid algorithm")
    refused("RS256 header (key confusion)", sign({"alg": "RS256", "typ": "access"}, claims(sub=UID)),
            "invalid algorithm")
    refused("another key", sign(HEADER, claims(sub=UID), key="another secret that is long enough too"),
            "invalid signature")
    refused("typ JWT (not access)", sign({"alg": "HS256", "typ": "JWT"}, claims(sub=UID)), "invalid token")
    refused("typ refresh", sign({"alg": "HS256", "typ": "refresh"}, claims(sub=UID)), "invalid token")
    refused("exp as text", sign(HEADER, claims(sub=UID, exp=str(now + 3600))), "invalid exp value")
    refused("nbf as text", sign(HEADER, claims(sub=UID, nbf="0")), "invalid nbf value")
    refused("payload a list", sign(HEADER, b64(b"[1,2]")), "invalid token")
    refused("two dots only", "..", "invalid token")
    refused("not a token", "hello", "jwt malformed")


@case("a token without sub, and one of a deleted user: 401, not 404 or 500")
def _():
    refused("token without sub", sign(HEADER, claims(sub=None)), "Not authenticated")
    refused("token of a user that never was", sign(HEADER, claims(sub="987654")), "Not authenticated")
    st, bob, _ = rest("POST", "/users", {"email": "bob@example.com", "password": "bob's"})
    eq(st, 201, "bob signs up")
    st, res, _ = login("bob@example.com", "bob's")
    eq(st, 201, "bob logs in")
    tok = res["accessToken"]
    eq(rest("GET", "/secrets", token=tok)[0], 200, "bob's token opens /secrets")
    eq(rest("DELETE", "/users/%s" % bob["id"], token=tok)[0], 200, "bob deletes himself")
    refused("token of the deleted user", tok, "Not authenticated")
    still_answers("deleted user")


@case("giant and malformed Authorization headers: 401 or 431 (or 400), never a crash")
def _():
    good_token = sign(HEADER, claims(sub=UID))
    cases = [
        ("100 KB header", [b"Authorization: Bearer " + b"A" * 100_000], {431}),
        ("9 KB token", [b"Authorization: Bearer " + b"A" * 3000 + b"." + b"B" * 3000 + b"." + b"C" * 3000], {401}),
        ("non-ASCII bytes", [b"Authorization: Bearer \xff\xfe\xc3\xa9t\xe2\x82\xac.\x80.\x81"], {400, 401}),
        ("many spaces, no token", [b"Authorization: Bearer" + b" " * 5000], {401}),
        ("Bearer alone", [b"Authorization: Bearer"], {401}),
        ("Bearer and empty token", [b"Authorization: Bearer  "], {401}),
        ("empty header", [b"Authorization:"], {401}),
        ("two Authorization headers", [b"Authorization: Bearer " + good_token.encode(),
                                       b"Authorization: Bearer " + good_token.encode()], {401}),
        ("a NUL byte", [b"Authorization: Bearer ab\x00cd"], {400, 401}),
        ("NUL-like escapes", [b"Authorization: Bearer %00.\\u0000.\\x00"], {401}),
        ("a token of 9000 dots", [b"Authorization: Bearer " + b"." * 9000], {401}),
        ("JWT scheme, garbage", [b"Authorization: JWT !!!.###.$$$"], {401}),
        ("bare garbage", [b"Authorization: " + os.urandom(30).hex().encode()], {401}),
    ]
    seen = []
    for name, lines, ok in cases:
        status = raw_request(lines)
        seen.append("%s %s" % (name, status))
        check(status in ok, name + ": answered %s" % sorted(ok), "got %r" % status)
        check(node.alive(), name + ": the node still runs")
        still_answers(name)
    figure("malformed headers answered: " + ", ".join(seen))
    st, _, _ = node.request("GET", "/secrets", headers={"Authorization": "Bearer    " + good_token})
    eq(st, 200, "spaces before a good token (Feathers' /(\\S+)\\s+(\\S+)/): 200")


@case("timing: an unknown user and a wrong password log in as slowly (medians within 20%)")
def _():
    login("nobody@example.com", "x")  # both paths warm (the decoy hash is made on first need)
    login("alice@example.com", "x")
    unknown, wrong = [], []
    for i in range(15):
        for who, into in (("nobody%d@example.com" % i, unknown), ("alice@example.com", wrong)):
            t = time.perf_counter()
            st, body, _ = login(who, "wrong password %d" % i)
            into.append((time.perf_counter() - t) * 1000)
            eq((st, body.get("message")), (401, "Invalid login"), "%s: 401 Invalid login" % who)
    mu, mw = statistics.median(unknown), statistics.median(wrong)
    figure("login medians over 15 each (cost 10): unknown user %.1f ms, wrong password %.1f ms (ratio %.2f)"
           % (mu, mw, mu / mw))
    check(abs(mu - mw) <= 0.2 * max(mu, mw), "medians within 20%", "%.1f vs %.1f ms" % (mu, mw))


@case("the password hash is never answered (create, get, find, patch, login) nor logged")
def _():
    answers = []
    st, carol, _ = rest("POST", "/users", {"email": "carol@example.com", "password": PASSWORD + "c"})
    answers.append(("create", st, carol))
    st, res, _ = login("carol@example.com", PASSWORD + "c")
    answers.append(("login", st, res))
    tok = res["accessToken"]
    answers.append(("get",) + rest("GET", "/users/%s" % carol["id"], token=tok)[:2])
    answers.append(("find",) + rest("GET", "/users", token=tok)[:2])
    answers.append(("find by email",) + rest("GET", "/users?email=carol@example.com", token=tok)[:2])
    answers.append(("find with $select of password",) + rest(
        "GET", "/users?$select[]=password&$select[]=email", token=tok)[:2])
    answers.append(("patch",) + rest("PATCH", "/users/%s" % carol["id"], {"password": PASSWORD + "d"}, token=tok)[:2])
    answers.append(("jwt re-login",) + rest("POST", "/authentication", {"strategy": "jwt", "accessToken": tok})[:2])
    answers.append(("logout",) + rest("DELETE", "/authentication", token=tok)[:2])
    for name, st, body in answers:
        text = json.dumps(body)
        check(st in (200, 201), name + ": answered", "%s %s" % (st, text[:200]))
        check(not HASH_RE.search(text) and "password" not in text, name + ": no password nor hash in the answer",
              text[:300])
    eq(login("carol@example.com", PASSWORD + "c")[0], 401, "the old password no longer works after patch")
    eq(login("carol@example.com", PASSWORD + "d")[0], 201, "the patched password works (it was hashed)")
    eq(login("carol@example.com", "a wrong one: " + PASSWORD)[0], 401, "a wrong password")
    # a hash read through filters: password[$gt]=$2b$10$ matched and [$gt]=$2b$11$ did not, so a
    # few hundred such queries read a whole hash; protect (as an around hook) refuses them
    for q in ("password[$gt]=$2b$10$", "password[$lt]=$2b$11$", "password=x", "$sort[password]=1",
              "$or[0][password][$gt]=$2a", "$and[0][email]=carol@example.com&$and[1][password][$ne]=x",
              "$or[a][password][$gt]=$2a"):
        st, body, _ = rest("GET", "/users?" + q, token=tok)
        eq((st, body.get("name"), body.get("message")),
           (400, "BadRequest", "Can not query on protected field 'password'"),
           "a query on the password is refused: " + q)
    st, body, _ = rest("GET", "/users?email=carol@example.com&$select[]=email", token=tok)
    eq((st, len(body.get("data", []))), (200, 1), "a query on other fields still works")
    log = node.log()
    check(PASSWORD not in log, "the log has no password", "")
    check(not HASH_RE.search(log) and "$2b$" not in log, "the log has no bcrypt hash",
          (HASH_RE.search(log) or [""])[0])


# The 10 logins run in threads of another process: in this one, the GIL (handed over every 5 ms)
# would add its own waits to the echo calls measured here.
LOAD = """
import http.client, json, sys, threading, time
port, seconds = int(sys.argv[1]), float(sys.argv[2])
body = json.dumps({"strategy": "local", "email": sys.argv[3], "password": sys.argv[4]})
end, done = time.monotonic() + seconds, []
def run():
    while time.monotonic() < end:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("POST", "/authentication", body, {"Content-Type": "application/json"})
        done.append(c.getresponse().status)
        c.close()
ts = [threading.Thread(target=run) for _ in range(10)]
[t.start() for t in ts]
[t.join() for t in ts]
print(json.dumps(done))
"""


# A hash takes about 60 ms (cost 10): a reactor that hashed, or waited for a hash, would hold
# well over 1 % of the echo calls that long. What is left is the scheduler's: 2 vCPUs shared by
# the hashing thread, the login client's 10 threads and this client. Clean-clone CI runs saw p99s
# of 1.5 to 5.6 ms; the bound sits between those and one hash.
@case("while 10 logins run at once, an echo call's p99 stays under 15 ms (a hash is ~60 ms)")
def _():
    load = subprocess.Popen([sys.executable, "-c", LOAD, str(node.port), "5", "alice@example.com", PASSWORD],
                            stdout=subprocess.PIPE)
    times, echo = [], http.client.HTTPConnection("127.0.0.1", node.port, timeout=10)  # kept alive
    try:
        time.sleep(0.3)
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline and len(times) < 500:
            t = time.perf_counter()
            echo.request("GET", "/echo/1")
            resp = echo.getresponse()
            resp.read()
            times.append((time.perf_counter() - t) * 1000)
            check(resp.status == 200, "echo answers during logins")
            time.sleep(0.004)
    finally:
        echo.close()
        out, _ = load.communicate(timeout=60)
    done = json.loads(out)
    times.sort()
    p50, p99 = times[len(times) // 2], times[max(0, int(len(times) * 0.99) - 1)]
    figure("echo during 10 concurrent logins: %d calls, p50 %.2f ms, p99 %.2f ms, max %.2f ms; %d logins (%d ok)"
           % (len(times), p50, p99, times[-1], len(done), done.count(201)))
    check(len(times) >= 100, "enough echo calls measured", str(len(times)))
    check(len(done) >= 20 and done.count(201) == len(done), "the logins went through meanwhile", str(done[:20]))
    if SANITIZED:  # sanitizers slow every call several times: the figures only
        print("not checked under sanitizers: echo p99 %.2f ms during logins" % p99)
    else:
        check(p99 < 15.0, "echo p99 under 15 ms during logins (a hash: ~60 ms)", "%.2f ms" % p99)


check(node.alive(), "the node runs at the end")
print_figures()
finish()
