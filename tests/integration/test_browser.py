"""The chat example in a browser: headless Chromium (Debian's `chromium`, driven over its
DevTools protocol by cdp.py) opens examples/chat's page, served by the node with --public,
in two tabs; a message posted in one shows in the other within a second. On one node, and
with the messages service on a second node. Screenshots go to the build's meson-logs/."""
from netns import isolate

isolate()

import os  # noqa: E402
import time  # noqa: E402

import cdp  # noqa: E402
from fdntest import FDNODE, ROOT, Node, answers, case, check, eq, finish, logdir, wait_until  # noqa: E402

CHAT = "examples/chat/"
PUBLIC = CHAT + "public"
VENDOR = [os.path.join(ROOT, PUBLIC, "vendor", f) for f in ("feathers.min.js", "socket.io.min.js")]
ARTIFACTS = os.path.join(os.path.dirname(os.path.abspath(os.path.join(ROOT, FDNODE))), "meson-logs")
LI = "[...document.querySelectorAll('#messages li[data-id]')]"


def has(text):
    """A page expression: a message whose text includes `text` is listed."""
    return "%s.some((li) => li.textContent.includes(%r))" % (LI, text)


def post(page, name, text):
    page.eval("document.getElementById('name').value = %r; document.getElementById('text').value = %r;"
              "document.getElementById('send').requestSubmit(); true" % (name, text))


def chat_in_two_tabs(gateway, label, shot):
    """Two tabs on gateway's chat page: each posts, the other shows it within a second."""
    gateway.request("POST", "/messages", {"name": "grace", "text": "posted before the pages opened"})
    browser = cdp.Browser(os.path.join(logdir(), "chromium-%s.log" % shot))
    b = None
    try:
        url = "http://127.0.0.1:%d/" % gateway.port
        a, b = browser.page(url), browser.page(url)
        for tab, who in ((a, "A"), (b, "B")):
            check(tab.wait("typeof feathers === 'function' && typeof io === 'function'", 10),
                  "%s: page %s loads the client libraries from the node" % (label, who))
            online = tab.wait("document.getElementById('status')?.textContent === 'online'", 10)
            check(online, "%s: page %s connects over socket.io" % (label, who))
            if not online:
                return
            check(tab.wait(has("posted before the pages opened"), 3),
                  "%s: page %s lists the earlier messages" % (label, who))
        t0 = time.monotonic()
        post(a, "ada", "hello from A")
        seen = b.wait(has("hello from A"), 1.0, interval=0.01)
        ms = (time.monotonic() - t0) * 1000
        print("%s: page B shows A's message %.0f ms after A posted it" % (label, ms))
        check(seen, "%s: a message posted on page A shows on page B within a second" % label, "%.0f ms" % ms)
        check(a.wait(has("hello from A"), 1.0), "%s: and on page A" % label)
        post(b, "grace", "and hello from B")
        check(a.wait(has("and hello from B"), 1.0), "%s: B's answer shows on A within a second" % label)
        b.wait(has("and hello from B"), 1.0)
        eq(a.eval("%s.map((li) => li.querySelector('.who').textContent)" % LI), ["grace", "ada", "grace"],
           "%s: the names shown on A" % label)
        eq(b.eval("%s.length" % LI), 3, "%s: B shows each message once" % label)
        post(a, "ada", " ")
        eq(a.eval("document.getElementById('text').value"), " ", "%s: a blank message is not sent" % label)
    finally:
        if b:  # the page as the test left it, passed or not
            try:
                os.makedirs(ARTIFACTS, exist_ok=True)
                print("screenshot: %s" % b.screenshot(os.path.join(ARTIFACTS, shot + ".png")))
            except (OSError, RuntimeError) as e:
                print("no screenshot: %s" % e)
        browser.close()


@case("Chromium and the chat page's libraries are installed")
def _():
    check(cdp.CHROMIUM is not None, "chromium is installed (tools/setup installs Debian's chromium)")
    for f in VENDOR:
        check(os.path.isfile(f), "%s is there (tools/setup copies it from the pinned npm packages)"
              % os.path.relpath(f, ROOT))


ready = cdp.CHROMIUM is not None and all(os.path.isfile(f) for f in VENDOR)


@case("one node: two tabs of the chat")
def _():
    if ready:
        n = Node(CHAT + "users.lua", CHAT + "messages.lua", CHAT + "channels.lua", name="chat",
                 args=["--public", PUBLIC])
        chat_in_two_tabs(n, "one node", "chat")
        eq(n.stop(), 0, "the node exits 0 on SIGTERM")


@case("two nodes: the gateway serves the page and holds the sockets, messages runs on another node")
def _():
    if ready:
        store = Node(CHAT + "users.lua", CHAT + "messages.lua", name="store", http=False)
        gw = Node(CHAT + "channels.lua", name="gateway", args=["--public", PUBLIC])
        check(wait_until(answers(gw, "/messages"), 8), "the remote messages service answers on the gateway")
        chat_in_two_tabs(gw, "two nodes", "chat-two-nodes")
        eq(gw.stop(), 0, "the gateway exits 0 on SIGTERM")
        eq(store.stop(), 0, "the store node exits 0 on SIGTERM")


finish()
