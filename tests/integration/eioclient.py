"""eioclient: a tiny Engine.IO v4 client for the tests, speaking the wire itself: polling over
http.client, and WebSocket (RFC 6455) over a raw socket with masked frames, so that tests can
also send what a real client never would (unmasked frames, huge lengths, bad handshakes)."""
import base64
import http.client
import json
import os
import socket
import struct
import time

SEP = "\x1e"


def request(port, method, query, body=None, headers=None, timeout=10):
    """One HTTP request to /socket.io/?query: (status, body text, headers dict)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, "/socket.io/?" + query, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read().decode(), {k.lower(): v for k, v in resp.getheaders()}
    finally:
        conn.close()


def open_payload(text):
    """The open packet's JSON, from '0{...}'."""
    assert text.startswith("0"), text
    return json.loads(text[1:])


class Polling:
    """A polling session: handshake on creation, then get() and post()."""

    def __init__(self, port, query="EIO=4&transport=polling", headers=None):
        self.port = port
        status, body, _ = request(port, "GET", query, headers=headers)
        assert status == 200, (status, body)
        self.open = open_payload(body)
        self.sid = self.open["sid"]

    def q(self):
        return "EIO=4&transport=polling&sid=" + self.sid

    def get(self, timeout=10):
        """Packets of one GET (held until the server has some): (status, [packet, ...])."""
        status, body, _ = request(self.port, "GET", self.q(), timeout=timeout)
        return status, body.split(SEP) if status == 200 else body

    def post(self, *packets):
        status, body, _ = request(self.port, "POST", self.q(), body=SEP.join(packets).encode())
        return status, body


def _recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return buf


def frame(opcode, payload, mask=True, fin=True, length=None):
    """A client frame; length overrides the written length (a lie, for hostile tests)."""
    if isinstance(payload, str):
        payload = payload.encode()
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | opcode])
    mbit = 0x80 if mask else 0
    if n < 126:
        head += bytes([mbit | n])
    elif n < 65536:
        head += bytes([mbit | 126]) + struct.pack(">H", n)
    else:
        head += bytes([mbit | 127]) + struct.pack(">Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


class WebSocket:
    """A websocket to /socket.io/ (a new session, or the upgrade of sid)."""

    def __init__(self, port, sid=None, key=None, version="13", extra=b"", timeout=5, rcvbuf=None):
        self.s = socket.socket()
        if rcvbuf:
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.s.settimeout(timeout)
        self.s.connect(("127.0.0.1", port))
        key = key if key is not None else base64.b64encode(os.urandom(16)).decode()
        q = "EIO=4&transport=websocket" + ("&sid=" + sid if sid else "")
        req = ("GET /socket.io/?%s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\n" % q)
        if key:
            req += "Sec-WebSocket-Key: %s\r\n" % key
        if version:
            req += "Sec-WebSocket-Version: %s\r\n" % version
        self.s.sendall(req.encode() + b"\r\n" + extra)
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.s.recv(1)
            if not chunk:
                raise EOFError("closed during the handshake: %r" % head)
            head += chunk
        self.status = int(head.split(b" ")[1])
        self.head = head.decode("latin-1")
        self.autopong = True

    def send(self, text):
        self.s.sendall(frame(1, text))

    def send_raw(self, data):
        self.s.sendall(data)

    def recv_frame(self):
        """(opcode, payload bytes) of the next server frame; server frames are never masked."""
        b0, b1 = _recv_exact(self.s, 2)
        assert not b1 & 0x80, "a masked server frame"
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack(">H", _recv_exact(self.s, 2))[0]
        elif n == 127:
            n = struct.unpack(">Q", _recv_exact(self.s, 8))[0]
        return b0 & 0x0F, _recv_exact(self.s, n) if n else b""

    def recv(self):
        """The next text message; Engine.IO pings are answered and skipped unless autopong is
        False (then the caller sees "2" itself)."""
        while True:
            op, data = self.recv_frame()
            if op == 8:
                raise ConnectionError("close %d" % close_code(data))
            assert op == 1, op
            if data == b"2" and self.autopong:
                self.send("3")
                continue
            return data.decode()

    def recv_until(self, want, seconds=5):
        """Messages until one equal to want (or starting with it, when want ends with '*')."""
        deadline = time.monotonic() + seconds
        seen = []
        while time.monotonic() < deadline:
            m = self.recv()
            seen.append(m)
            if m == want or (want.endswith("*") and m.startswith(want[:-1])):
                return m
        raise TimeoutError("no %r in %r" % (want, seen))

    def close_code(self, seconds=5):
        """Reads until the server's close frame: its code (None on EOF without one)."""
        deadline = time.monotonic() + seconds
        self.s.settimeout(seconds)
        while time.monotonic() < deadline:
            try:
                op, data = self.recv_frame()
            except (EOFError, OSError):
                return None
            if op == 8:
                return close_code(data)
        return None

    def close(self):
        self.s.close()


def close_code(data):
    return struct.unpack(">H", data[:2])[0] if len(data) >= 2 else 1005
