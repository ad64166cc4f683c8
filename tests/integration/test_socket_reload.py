"""Hot reload of a gateway that holds sockets (--watch): every websocket stays connected and
every connection stays in its channels; from the reload on, the new version's publishers and
connection handlers apply; a broken version changes nothing."""
import atexit
import json
import os
import shutil
import tempfile

from netns import isolate

isolate()

from eioclient import WebSocket  # noqa: E402
from fdntest import Node, case, check, eq, finish, wait_until  # noqa: E402

VERSION = """
local memory = require "fdn.memory"
return function(app)
  app:use("messages", memory.new {})
  app:on("connection", function(conn)
    conn.joined_by = VERSION
    app:channel(CHANNEL):join(conn)
  end)
  app:service("messages"):publish("created", function(data)
    return { app:channel("all"):send({ version = VERSION, text = data.text }),
             app:channel("late"):send({ version = VERSION, text = data.text, late = true }) }
  end)
end
"""

work = tempfile.mkdtemp(prefix="fdn-socket-reload-")
atexit.register(shutil.rmtree, work, ignore_errors=True)
script = os.path.join(work, "gateway.lua")


def write(version, channel="all", broken=False):
    text = VERSION.replace("VERSION", str(version)).replace("CHANNEL", json.dumps(channel))
    if broken:
        text += "\nthis is not Lua\n"
    with open(script, "w") as f:
        f.write(text)


write(1)
node = Node(script, args=["--watch"])


class Client:
    """A Socket.IO client on a raw websocket, speaking Feathers' protocol."""

    def __init__(self):
        self.ws = WebSocket(node.port)
        assert self.ws.status == 101, self.ws.status
        assert self.ws.recv().startswith("0{")
        self.ws.send("40")
        assert self.ws.recv().startswith("40{")
        self.acks = 0
        self.events = []

    def create(self, text):
        self.acks += 1
        n = self.acks
        self.ws.send("42%d%s" % (n, json.dumps(["create", "messages", {"text": text}, {}])))
        want = "43%d" % n
        while True:
            m = self.ws.recv()
            if m.startswith(want):
                return json.loads(m[len(want):])
            self.heard(m)

    def heard(self, m):
        assert m.startswith("42["), m
        self.events.append(json.loads(m[2:]))

    def event(self, seconds=5):
        """The next event, [name, data]."""
        if self.events:
            return self.events.pop(0)
        self.ws.s.settimeout(seconds)
        self.heard(self.ws.recv())
        return self.events.pop(0)


@case("before the reload: version 1's publisher, both sockets in 'all'")
def _():
    global a, b
    a, b = Client(), Client()
    ack = a.create("one")
    eq(ack[0], None, "create acked without error")
    eq(b.event(), ["messages created", {"version": 1, "text": "one"}], "b hears version 1's payload")
    eq(a.event(), ["messages created", {"version": 1, "text": "one"}], "a hears it too")


@case("a broken version: nothing changes, the sockets stay")
def _():
    log_before = len(node.log())
    write(2, broken=True)
    check(wait_until(lambda: "reload failed" in node.log()[log_before:], 10), "the reload failed", node.log()[-500:])
    a.create("two")
    eq(b.event(), ["messages created", {"version": 1, "text": "two"}], "still version 1")
    eq(a.event(), ["messages created", {"version": 1, "text": "two"}], "for a too")


@case("after the reload: the same sockets, the same channels, version 2's publisher")
def _():
    log_before = len(node.log())
    write(2, channel="late")
    check(wait_until(lambda: "reloaded 1 script" in node.log()[log_before:], 10), "the reload happened",
          node.log()[-500:])
    ack = a.create("three")
    eq(ack[0], None, "the old socket still calls")
    eq(b.event(), ["messages created", {"version": 2, "text": "three"}],
       "b, joined by version 1, is still in 'all' and hears version 2's payload")
    eq(a.event(), ["messages created", {"version": 2, "text": "three"}], "a as well")
    eq(node.request("GET", "/messages")[1][-1]["text"], "three", "the data survived the reload")


@case("a connection made after the reload is joined by version 2's handler")
def _():
    c = Client()
    a.create("four")
    eq(c.event(), ["messages created", {"version": 2, "text": "four", "late": True}],
       "the new socket joined 'late' (version 2's handler)")
    eq(b.event(), ["messages created", {"version": 2, "text": "four"}], "b is unchanged")
    for cl in (a, b, c):
        cl.ws.close()


finish()
