"""--nats over TLS: a real nats-server that requires TLS, with a certificate from a CA the test
makes (natsserver.TestCA). tls:// with --nats-ca (or $FDN_NATS_CA) trusting that CA: nodes find
and call each other, fdnode ls works; without it (the system's CA bundle only), for a certificate
of another host name, or to a server without TLS: refused at start, saying why. A nats:// URL to
a server that requires TLS gets the same checks. User and password over TLS; $FDN_NATS keeps
them out of ps."""
import os
import subprocess

from netns import isolate

isolate()

from cluster import NAMED, Fleet, finish, get  # noqa: E402
from fdntest import FDNODE, ROOT, case, check, eq, run_fdnode, wait_until  # noqa: E402
from natsserver import NatsServer, TestCA  # noqa: E402

ca = TestCA()
good = ca.server(["127.0.0.1", "localhost"])
server = NatsServer(tls=good)
fleet = Fleet()
CA = ["--nats-ca", ca.pem]


def node(name, *args, env=None):
    return fleet.node(NAMED, name=name, args=list(args), env=env)


def sees(n, path):
    s, _ = get(n, "/" + path + "/1", timeout=3)
    return s == 200


def refused(*args, env=None):
    """A node that must not start: (exit code, stderr) of fdnode serving NAMED (bounded)."""
    p = subprocess.run([FDNODE, "--name", "r", *args, NAMED], cwd=ROOT, capture_output=True,
                       timeout=30, env={**os.environ, **(env or {})})
    err = p.stderr.decode(errors="replace")
    check("Sanitizer" not in err and "runtime error" not in err, "no sanitizer report", err)
    return p.returncode, err


def port_of(url):
    return url.rsplit(":", 1)[1]


@case("tls:// with --nats-ca: two nodes find each other and call each other")
def _():
    global a
    check(server.url.startswith("tls://"), "the server's URL is tls://", server.url)
    a = node("a", "--nats", server.url, *CA)
    b = node("b", "--nats", server.url, *CA)
    check(wait_until(lambda: sees(b, "svc-a") and sees(a, "svc-b"), 8), "each calls the other's service")
    s, r = get(b, "/svc-a/7")
    eq((s, r.get("node")), (200, "a"), "b's call ran on a")
    code, out, err = run_fdnode("ls", "--nats", server.url, *CA, timeout=20)
    eq(code, 0, "fdnode ls over TLS exits 0: " + err)
    names = sorted(ln.split()[0] for ln in out.splitlines()[1:] if ln.strip())
    eq(names, ["a", "b"], "fdnode ls lists a and b")
    b.stop()


@case("$FDN_NATS_CA trusts the CA as --nats-ca does")
def _():
    c = node("c", "--nats", server.url, env={"FDN_NATS_CA": ca.pem})
    check(wait_until(lambda: sees(c, "svc-a"), 8), "c calls a's service")
    c.stop()


@case("a TLS server's restart: the nodes reconnect (TLS and checks again) and call each other")
def _():
    e = node("e", "--nats", server.url, *CA)
    check(wait_until(lambda: sees(e, "svc-a") and sees(a, "svc-e"), 8), "before: e and a call each other")
    server.restart(down=0.5)
    check(wait_until(lambda: sees(e, "svc-a") and sees(a, "svc-e"), 15, interval=0.2),
          "after: e and a call each other again")
    check("reconnected" in e.log(), "e logged its reconnect", e.log()[-2000:])
    e.stop()


@case("without the test's CA (the system's bundle only): refused at start, naming the certificate problem")
def _():
    code, err = refused("--nats", server.url)
    check(code != 0, "the node exits non-zero", "exit %d" % code)
    check("cannot connect to NATS" in err and "unable to get local issuer certificate" in err,
          "it says the server's certificate is not trusted", err)


@case("nats:// to a server that requires TLS: the same checks")
def _():
    plain_url = "nats://127.0.0.1:" + port_of(server.url)
    n = node("d", "--nats", plain_url, *CA)
    check(wait_until(lambda: sees(n, "svc-a"), 8), "with the CA, d (nats://) calls a's service")
    n.stop()
    code, err = refused("--nats", plain_url)
    check(code != 0 and "unable to get local issuer certificate" in err,
          "without it: refused, naming the certificate problem", err)


@case("a server certificate for another host name is refused")
def _():
    other = NatsServer(tls=ca.server(["elsewhere.example"]))
    code, err = refused("--nats", other.url, *CA)
    check(code != 0, "the node exits non-zero", "exit %d" % code)
    check("mismatch" in err, "it says the certificate names another host", err)
    other.stop()


@case("tls:// to a server without TLS is refused")
def _():
    plain = NatsServer()
    code, err = refused("--nats", "tls://127.0.0.1:" + port_of(plain.url), *CA)
    check(code != 0 and "does not offer TLS" in err, "it says the server offers no TLS", err)
    code, err = refused("--nats", plain.url, *CA)
    check(code != 0 and "does not offer TLS" in err, "--nats-ca requires TLS too", err)
    plain.stop()


@case("--nats-ca: a file that is missing or holds no certificate is an error at start")
def _():
    code, err = refused("--nats", server.url, "--nats-ca", "no/such/ca.pem")
    eq(code, 2, "a missing file: exit 2")
    check("--nats-ca" in err and "No such file" in err, "it names the flag and the problem", err)
    code, err = refused("--nats", server.url, "--nats-ca", NAMED)
    check(code != 0 and "no certificate" in err, "a file without certificates: refused", err)
    code, err = refused(env={"FDN_NATS_CA": ca.pem})
    check(code == 2 and "for --nats" in err, "a CA without --nats: exit 2", err)


@case("user and password over TLS: the right ones connect, a wrong password is refused")
def _():
    auth = NatsServer(user="fdn", password="p@ss w/rd", tls=good)
    check("p%40ss%20w%2Frd@" in auth.url, "the password is percent-escaped in the URL", auth.url)
    u = node("u", "--nats", auth.url, *CA)
    pw = "p%40ss%20w%2Frd"
    # $FDN_NATS: the URL (and its password) neither in ps nor in the process's environment
    v = node("v", *CA, env={"FDN_NATS": auth.url})
    check(wait_until(lambda: sees(u, "svc-v") and sees(v, "svc-u"), 8), "u and v call each other")
    for what in ("cmdline", "environ"):
        with open("/proc/%d/%s" % (v.proc.pid, what), "rb") as f:
            check(pw.encode() not in f.read(), "v's password is not in its /proc %s" % what)
    code, err = refused("--nats", auth.url.replace(pw, "wrong"), *CA)
    check(code != 0 and "Authorization Violation" in err, "a wrong password: refused, saying so", err)
    code, err = refused(*CA, env={"FDN_NATS": auth.url.replace(pw + "@", "").replace("fdn:", "")})
    check(code != 0 and "Authorization Violation" in err, "no credentials: refused", err)
    u.stop()
    v.stop()
    auth.stop()


fleet.stop_all()
finish()
