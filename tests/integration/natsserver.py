"""natsserver: a real NATS server (Debian's nats-server) for the tests: a config file in a
temporary directory, listening on 127.0.0.1 on a free port, with an optional user and password,
and optionally TLS with a certificate from a TestCA (made with openssl). restart() keeps the
port; stopped at exit. Call it after netns.isolate(): the server's port is inside the test's
namespace."""
import atexit
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from urllib.parse import quote

from fdntest import free_port


def binary():
    """nats-server's path, or None."""
    return shutil.which("nats-server") or next(
        (p for p in ("/usr/sbin/nats-server", "/usr/bin/nats-server") if os.path.exists(p)), None)


def _quoted(s):
    return '"%s"' % s.replace("\\", "\\\\").replace('"', '\\"')


class TestCA:
    """A certificate authority of the test's own (openssl, in a temporary directory, removed at
    exit): ca.pem its certificate; server(names) -> (cert, key) files of a server certificate
    it signed for those names (IP addresses or DNS names) in subjectAltName."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="fdn-ca-")
        atexit.register(shutil.rmtree, self.dir, True)
        self.pem = self._path("ca.pem")
        self.key = self._path("ca.key")
        self.count = 0
        self._openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                      "-nodes", "-keyout", self.key, "-out", self.pem, "-days", "2",
                      "-subj", "/CN=fdnode test CA")

    def _path(self, name):
        return os.path.join(self.dir, name)

    def _openssl(self, *args):
        p = subprocess.run(["openssl", *args], capture_output=True, timeout=30)
        if p.returncode != 0:
            raise RuntimeError("openssl %s: %s" % (args[0], p.stderr.decode(errors="replace")))

    def server(self, names):
        self.count += 1
        key, csr, cert, ext = (self._path("srv%d.%s" % (self.count, x)) for x in ("key", "csr", "pem", "ext"))
        alt = ",".join(("IP:" if n.replace(".", "").isdigit() else "DNS:") + n for n in names)
        with open(ext, "w") as f:
            f.write("subjectAltName=%s\n" % alt)
        self._openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                      "-keyout", key, "-out", csr, "-subj", "/CN=%s" % names[0])
        self._openssl("x509", "-req", "-in", csr, "-CA", self.pem, "-CAkey", self.key,
                      "-set_serial", str(self.count), "-out", cert, "-days", "2", "-extfile", ext)
        return cert, key


class NatsServer:
    """server = NatsServer(user=None, password=None, tls=None); tls: (cert, key) files (TestCA
    .server): the server requires TLS. server.url (nats://, or tls:// with tls, with the
    credentials); restart(down); stop_server(); start(); stop() (also run at exit); log()."""

    def __init__(self, user=None, password=None, tls=None):
        self.bin = binary()
        if not self.bin:
            print("skipped: nats-server is not installed (apt-get install nats-server)")
            sys.exit(77)
        self.dir = tempfile.mkdtemp(prefix="fdn-nats-")
        self.port = free_port()
        self.logfile = os.path.join(self.dir, "server.log")
        self.conf = os.path.join(self.dir, "server.conf")
        self.proc = None
        lines = ["listen: 127.0.0.1:%d" % self.port, "max_payload: 1048576"]
        if user is not None:
            lines.append("authorization { user: %s, password: %s }" % (_quoted(user), _quoted(password)))
        if tls:
            lines.append("tls { cert_file: %s, key_file: %s }" % (_quoted(tls[0]), _quoted(tls[1])))
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        cred = "%s:%s@" % (quote(user, safe=""), quote(password, safe="")) if user is not None else ""
        self.url = "%s://%s127.0.0.1:%d" % ("tls" if tls else "nats", cred, self.port)
        atexit.register(self.stop)
        self.start()

    def start(self, seconds=10):
        """Starts the server and waits (bounded) until its port accepts."""
        log = open(self.logfile, "ab")
        self.proc = subprocess.Popen([self.bin, "-c", self.conf], stdin=subprocess.DEVNULL,
                                     stdout=log, stderr=subprocess.STDOUT, cwd=self.dir)
        log.close()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("nats-server exited (%s): %s" % (self.proc.returncode, self.log()))
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    if s.recv(4096).startswith(b"INFO "):
                        return
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError("nats-server not listening after %ss: %s" % (seconds, self.log()))

    def stop_server(self):
        """Stops the server (SIGTERM, then SIGKILL after 10 s): its clients see the connection end."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None

    def restart(self, down=0.0):
        """Stops the server and starts it again on the same port after down seconds."""
        self.stop_server()
        time.sleep(down)
        self.start()

    def log(self):
        try:
            with open(self.logfile, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        if not self.dir:
            return
        try:
            self.stop_server()
        except Exception as e:  # at exit: report, go on removing the directory
            print("natsserver: stop failed: %s" % e, file=sys.stderr)
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None


class RawClient:
    """A plain NATS client on a socket (the protocol's text lines), knowing nothing of fdnode:
    what other software sharing the server sees and can do. sub(subject) records every
    message (subject, payload) in .got while read(seconds) runs; pub(subject, payload)."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.buf = b""
        self.got = []
        self._line()  # INFO
        self.sock.sendall(b'CONNECT {"verbose":false,"pedantic":false,"headers":true}\r\nPING\r\n')
        self.sids = 0

    def _fill(self):
        data = self.sock.recv(1 << 16)
        if not data:
            raise OSError("server closed the connection")
        self.buf += data

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _bytes(self, n):
        while len(self.buf) < n + 2:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def sub(self, subject):
        self.sids += 1
        self.sock.sendall(b"SUB %s %d\r\n" % (subject.encode(), self.sids))

    def pub(self, subject, payload):
        self.sock.sendall(b"PUB %s %d\r\n%s\r\n" % (subject.encode(), len(payload), payload))

    def read(self, seconds):
        """Records the messages that come within seconds (bounded)."""
        deadline = time.monotonic() + seconds
        self.sock.settimeout(0.1)
        while time.monotonic() < deadline:
            try:
                line = self._line()
            except socket.timeout:
                continue
            if line.startswith(b"PING"):
                self.sock.sendall(b"PONG\r\n")
            elif line.startswith(b"MSG ") or line.startswith(b"HMSG "):
                f = line.split()
                data = self._bytes(int(f[-1]))
                if line.startswith(b"HMSG "):
                    data = data[int(f[-2]):]
                self.got.append((f[1].decode(), data))

    def close(self):
        self.sock.close()
