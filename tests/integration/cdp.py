"""cdp: a small client of Chromium's DevTools protocol over a WebSocket, with the standard
library only: starts headless Chromium, opens pages, evaluates JavaScript in them and takes
screenshots. Every wait is bounded; the browser is killed at exit."""
import atexit
import base64
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-default-apps", "--mute-audio",
         "--hide-scrollbars", "--window-size=720,520", "--remote-debugging-port=0"]


class WebSocket:
    """A client WebSocket (RFC 6455) on a plain TCP connection: masked text frames out,
    messages in (fragments joined, pings answered)."""

    def __init__(self, url, timeout=10):
        m = re.match(r"ws://([^:/]+):(\d+)(/.*)", url)
        self.sock = socket.create_connection((m.group(1), int(m.group(2))), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(("GET %s HTTP/1.1\r\nHost: %s:%s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
                           % (m.group(3), m.group(1), m.group(2), key)).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("the DevTools endpoint closed during the handshake")
            head += chunk
        head, self.buf = head.split(b"\r\n\r\n", 1)
        if not head.startswith(b"HTTP/1.1 101"):
            raise ConnectionError("DevTools handshake refused: %r" % head[:100])

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the DevTools connection closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _frame(self, op, payload):
        head = bytes([0x80 | op])
        n = len(payload)
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack("!Q", n)
        mask = os.urandom(4)
        self.sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def send(self, text):
        self._frame(1, text.encode())

    def recv(self):
        """The next text message (a close frame raises)."""
        message = b""
        while True:
            b0, b1 = self._read(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._read(8))[0]
            payload = self._read(n)
            op = b0 & 0x0F
            if op == 9:
                self._frame(10, payload)
            elif op == 8:
                raise ConnectionError("the DevTools connection was closed")
            elif op in (0, 1, 2):
                message += payload
                if b0 & 0x80:
                    return message.decode()

    def close(self):
        self.sock.close()


class Browser:
    """One headless Chromium with a profile of its own; .page(url) opens a tab."""

    def __init__(self, logpath, timeout=30):
        self.profile = tempfile.mkdtemp(prefix="fdn-chromium-")
        self.closed = False
        self.log = open(logpath, "wb")
        self.proc = subprocess.Popen([CHROMIUM, *FLAGS, "--user-data-dir=" + self.profile, "about:blank"],
                                     stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
                                     start_new_session=True)  # its helpers in its own group
        atexit.register(self.close)
        self.logpath, self.next_id, self.events = logpath, 0, []
        deadline = time.monotonic() + timeout
        url = None
        while url is None and time.monotonic() < deadline:
            with open(logpath, "rb") as f:
                m = re.search(rb"DevTools listening on (ws://\S+)", f.read())
            if m:
                url = m.group(1).decode()
            elif self.proc.poll() is not None:
                raise RuntimeError("chromium exited early (%s)" % self.proc.returncode)
            else:
                time.sleep(0.05)
        if url is None:
            raise RuntimeError("chromium did not start its DevTools endpoint in %ss" % timeout)
        self.ws = WebSocket(url)

    def call(self, method, params=None, session=None, timeout=15):
        """Sends one command and waits for its answer (events met meanwhile are kept)."""
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        self.ws.send(json.dumps(msg))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.ws.sock.settimeout(max(0.05, deadline - time.monotonic()))
            r = json.loads(self.ws.recv())
            if r.get("id") == self.next_id:
                if "error" in r:
                    raise RuntimeError("%s: %s" % (method, r["error"]))
                return r.get("result", {})
            if len(self.events) < 10000:
                self.events.append(r)
        raise TimeoutError("no answer to %s in %ss" % (method, timeout))

    def page(self, url, own_storage=False):
        """A tab on url; own_storage: in a browser context of its own (its own localStorage and
        cookies, like another browser's profile)."""
        params = {"url": "about:blank"}
        if own_storage:
            params["browserContextId"] = self.call("Target.createBrowserContext")["browserContextId"]
        target = self.call("Target.createTarget", params)["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        p = Page(self, session)
        p.call("Page.enable")
        p.call("Runtime.enable")
        p.call("Page.navigate", {"url": url})
        return p

    def close(self):
        """Asks Chromium to quit; kills its process group if it has not within 5 s."""
        if self.closed:
            return
        self.closed = True
        if self.proc.poll() is None and hasattr(self, "ws"):
            try:
                self.call("Browser.close", timeout=5)
                self.proc.wait(timeout=5)
            except (OSError, RuntimeError, TimeoutError, ValueError, subprocess.TimeoutExpired):
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the group of the browser this object started
        except OSError:
            pass
        if self.proc.poll() is None:
            self.proc.wait(timeout=10)
        shutil.rmtree(self.profile, ignore_errors=True)


class Page:
    def __init__(self, browser, session):
        self.browser, self.session = browser, session

    def call(self, method, params=None, timeout=15):
        return self.browser.call(method, params, session=self.session, timeout=timeout)

    def eval(self, expression, timeout=15):
        """The value of a JavaScript expression in the page (promises awaited)."""
        r = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True},
                      timeout=timeout)
        if "exceptionDetails" in r:
            raise RuntimeError("page script failed: %s" % r["exceptionDetails"].get("exception", {})
                               .get("description", r["exceptionDetails"].get("text")))
        return r["result"].get("value")

    def wait(self, expression, seconds=5.0, interval=0.02):
        """Polls a JavaScript expression until it is truthy or `seconds` pass; returns its last value."""
        deadline = time.monotonic() + seconds
        value = self.eval(expression)
        while not value and time.monotonic() < deadline:
            time.sleep(interval)
            value = self.eval(expression)
        return value

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", {"format": "png"})["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        return path
