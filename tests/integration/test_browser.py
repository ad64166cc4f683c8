"""The chat example in a browser: headless Chromium (Debian's `chromium`, driven over its
DevTools protocol by cdp.py) opens examples/chat's page, served by the node with --public, in
three tabs with storage of their own: two sign up and log in, each sees the other's message
within a second; the third stays anonymous and sees none. A reload stays logged in (the token
in localStorage), a log-out empties the page. On one node, and with the users and messages
services on a second node. Screenshots go to the build's meson-logs/."""
from netns import isolate

isolate()

import json  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402

import cdp  # noqa: E402
from fdntest import FDNODE, ROOT, Node, answers, case, check, eq, finish, logdir, wait_until  # noqa: E402

CHAT = "examples/chat/"
PUBLIC = CHAT + "public"
SCRIPTS = [CHAT + f for f in ("authentication.lua", "users.lua", "messages.lua", "channels.lua")]
VENDOR = [os.path.join(ROOT, PUBLIC, "vendor", f) for f in ("feathers.min.js", "socket.io.min.js")]
ARTIFACTS = os.path.join(os.path.dirname(os.path.abspath(os.path.join(ROOT, FDNODE))), "meson-logs")
LI = "[...document.querySelectorAll('#messages li[data-id]')]"
JSON = {"Content-Type": "application/json"}
SHOWN = "!document.getElementById('%s').hidden"


def has(text):
    """A page expression: a message whose text includes `text` is listed."""
    return "%s.some((li) => li.textContent.includes(%r))" % (LI, text)


def post(page, text):
    page.eval("document.getElementById('text').value = %r;"
              "document.getElementById('send').requestSubmit(); true" % text)


def fill(page, email, password, button):
    """Types the email and password into the form and presses `button` (signin or signup)."""
    page.eval("document.getElementById('email').value = %r; document.getElementById('password').value = %r;"
              "document.getElementById(%r).click(); true" % (email, password, button))


def shoot(page, name):
    try:
        os.makedirs(ARTIFACTS, exist_ok=True)
        print("screenshot: %s" % page.screenshot(os.path.join(ARTIFACTS, name + ".png")))
    except (OSError, RuntimeError) as e:
        print("no screenshot: %s" % e)


def earlier_message(gateway, label):
    """A user signs up and posts over REST, before any page opens."""
    st, linus, _ = gateway.request("POST", "/users", {"email": "linus@example.com", "password": "pw-linus"}, JSON)
    eq(st, 201, "%s: sign-up over REST" % label)
    st, body, _ = gateway.request("POST", "/authentication", {"strategy": "local", "email": "linus@example.com",
                                                              "password": "pw-linus"}, JSON)
    eq(st, 201, "%s: log-in over REST" % label)
    token = (body or {}).get("accessToken", "")
    st, _, _ = gateway.request("POST", "/messages", {"text": "posted before the pages opened"}, JSON)
    eq(st, 401, "%s: no message without a login" % label)
    st, msg, _ = gateway.request("POST", "/messages", {"text": "posted before the pages opened", "userId": 12345},
                                 dict(JSON, Authorization="Bearer " + token))
    eq(st, 201, "%s: a logged-in user posts" % label)
    eq(((msg or {}).get("userId"), ((msg or {}).get("user") or {}).get("email")),
       ((linus or {}).get("id"), "linus@example.com"),
       "%s: the author is the logged-in user, not the client's userId" % label)
    return (msg or {}).get("id")


def chat_in_three_tabs(gateway, label, shot):
    """Ada and Grace sign up in two tabs and chat; a third tab stays anonymous."""
    linus_message = earlier_message(gateway, label)
    browser = cdp.Browser(os.path.join(logdir(), "chromium-%s.log" % shot))
    a = anon = None
    try:
        url = "http://127.0.0.1:%d/" % gateway.port
        anon, a, b = (browser.page(url, own_storage=True) for _ in range(3))
        for tab, who in ((anon, "anonymous"), (a, "A"), (b, "B")):
            check(tab.wait("typeof feathers === 'function' && typeof io === 'function'", 10),
                  "%s: page %s loads the client libraries from the node" % (label, who))
            online = tab.wait("document.getElementById('status')?.textContent === 'online'", 10)
            check(online, "%s: page %s connects over socket.io" % (label, who))
            if not online:
                return
            check(tab.wait(SHOWN % "login", 5), "%s: page %s shows the log-in form" % (label, who))
            eq(tab.eval(SHOWN % "chat"), False, "%s: page %s shows no chat before a login" % (label, who))
        anon.eval("window.heard = 0; chat.service('messages').on('created', () => { window.heard++ }); true")
        for tab, who, email in ((a, "A", "ada@example.com"), (b, "B", "grace@example.com")):
            fill(tab, email, "pw-" + who, "signup")
            check(tab.wait("document.getElementById('who').textContent === %r" % email, 5),
                  "%s: page %s signs up and is logged in as %s" % (label, who, email))
            check(tab.wait(SHOWN % "chat", 1) and not tab.eval(SHOWN % "login"),
                  "%s: page %s shows the chat, not the form" % (label, who))
            check(tab.wait(has("posted before the pages opened"), 3),
                  "%s: page %s lists the earlier messages" % (label, who))
        t0 = time.monotonic()
        post(a, "hello from A")
        seen = b.wait(has("hello from A"), 1.0, interval=0.01)
        ms = (time.monotonic() - t0) * 1000
        print("%s: page B shows A's message %.0f ms after A posted it" % (label, ms))
        check(seen, "%s: a message posted on page A shows on page B within a second" % label, "%.0f ms" % ms)
        check(a.wait(has("hello from A"), 1.0), "%s: and on page A" % label)
        post(b, "and hello from B")
        check(a.wait(has("and hello from B"), 1.0), "%s: B's answer shows on A within a second" % label)
        b.wait(has("and hello from B"), 1.0)
        eq(a.eval("%s.map((li) => li.querySelector('.who').textContent)" % LI),
           ["linus@example.com", "ada@example.com", "grace@example.com"], "%s: the authors shown on A" % label)
        eq(b.eval("%s.length" % LI), 3, "%s: B shows each message once" % label)
        eq(b.eval("chat.service('messages').patch(%s, {text: 'edited'}).then(() => 'patched', (e) => e.name)"
                  % json.dumps(linus_message)),
           "Forbidden", "%s: B may not edit linus's message" % label)
        post(a, " ")
        eq(a.eval("document.getElementById('text').value"), " ", "%s: a blank message is not sent" % label)

        eq(anon.eval("%s.length" % LI), 0, "%s: the anonymous page lists no message" % label)
        eq(anon.eval("window.heard"), 0, "%s: and heard no messages event" % label)
        eq(anon.eval("chat.service('messages').find().then(() => 'found', (e) => e.name + ' ' + e.code)"),
           "NotAuthenticated 401", "%s: the anonymous page may not find messages" % label)

        a.call("Page.reload")
        check(a.wait("document.getElementById('who')?.textContent === 'ada@example.com'", 10),
              "%s: page A, reloaded, is still logged in (reAuthenticate with the stored token)" % label)
        check(a.wait("%s.length === 3" % LI, 3), "%s: and lists the messages again" % label)

        b.eval("document.getElementById('logout').click(); true")
        check(b.wait(SHOWN % "login", 3), "%s: page B logs out: the form again" % label)
        eq(b.eval("[%s.length, localStorage.getItem('feathers-jwt')]" % LI), [0, None],
           "%s: no message on B, and its token is gone" % label)
        post(a, "after B left")
        check(a.wait(has("after B left"), 1.0), "%s: A posts again" % label)
        time.sleep(0.3)
        eq(b.eval("%s.length" % LI), 0, "%s: B, logged out, does not get it" % label)
        eq(anon.eval("window.heard"), 0, "%s: nor does the anonymous page" % label)
        fill(b, "grace@example.com", "not her password", "signin")
        check(b.wait("document.getElementById('error').textContent === 'Invalid login'", 3),
              "%s: a wrong password: 'Invalid login' on the form" % label)
        fill(b, "grace@example.com", "pw-B", "signin")
        check(b.wait(SHOWN % "chat", 3) and b.wait("%s.length === 4" % LI, 3),
              "%s: B logs in again and lists the 4 messages" % label)
    finally:
        if a:  # the pages as the test left them, passed or not
            shoot(a, shot)
            shoot(anon, shot + "-anonymous")
        browser.close()


@case("Chromium and the chat page's libraries are installed")
def _():
    check(cdp.CHROMIUM is not None, "chromium is installed (tools/setup installs Debian's chromium)")
    for f in VENDOR:
        check(os.path.isfile(f), "%s is there (tools/setup copies it from the pinned npm packages)"
              % os.path.relpath(f, ROOT))


def fresh_database(name):
    """The chat's database for one case: a new SQLite file in the test's log directory (the
    example's default, examples/chat/chat.db, would keep users from run to run)."""
    path = os.path.join(logdir(), "chat-%s.db" % name)
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    return {"FDN_DATABASE": "sqlite:" + path}


ready = cdp.CHROMIUM is not None and all(os.path.isfile(f) for f in VENDOR)


@case("one node: two users chat in two tabs, a third tab stays anonymous")
def _():
    if ready:
        n = Node(*SCRIPTS, name="chat", args=["--public", PUBLIC], env=fresh_database("one"))
        chat_in_three_tabs(n, "one node", "chat")
        eq(n.stop(), 0, "the node exits 0 on SIGTERM")


@case("two nodes: the gateway serves the page, holds the sockets and logs them in; users and messages run on another node")
def _():
    if ready:
        store = Node(CHAT + "authentication.lua", CHAT + "users.lua", CHAT + "messages.lua", name="store", http=False,
                     env=fresh_database("two"))
        gw = Node(CHAT + "authentication.lua", CHAT + "channels.lua", name="gateway", args=["--public", PUBLIC])
        check(wait_until(answers(gw, "/messages", 401), 8), "the remote messages service answers on the gateway")
        chat_in_three_tabs(gw, "two nodes", "chat-two-nodes")
        eq(gw.stop(), 0, "the gateway exits 0 on SIGTERM")
        eq(store.stop(), 0, "the store node exits 0 on SIGTERM")


finish()
