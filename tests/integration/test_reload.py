"""Hot reload (--watch, SIGHUP): a script, or a module it requires, edited on
disk serves its new code without losing a call: state carried over (memory
stores by default, migrate(old) for the rest), hooks and listeners replaced,
not doubled; a broken version never replaces a working one; peers never see a
path that remains disappear."""
import atexit
import os
import shutil
import signal
import tempfile
import threading
import time

from netns import isolate

isolate()

from fdntest import ROOT, Node, answers, case, check, eq, finish, wait_until  # noqa: E402

TEMPLATE = open(os.path.join(ROOT, "tests/integration/fixtures/reload/template.lua")).read()
C = "tests/integration/fixtures/cluster/consumer.lua"
work = tempfile.mkdtemp(prefix="fdn-reload-")
atexit.register(shutil.rmtree, work, ignore_errors=True)
script = os.path.join(work, "svc.lua")
helper = os.path.join(work, "helper.lua")


def write(path, text, how="inplace"):
    """Saves like an editor would: in place, temp file renamed over, or delete and recreate."""
    if how == "rename":
        with open(path + ".swp", "w") as f:
            f.write(text)
        os.rename(path + ".swp", path)
        return
    if how == "recreate":
        os.unlink(path)
        time.sleep(0.02)
    with open(path, "w") as f:
        f.write(text)


def version(v, extra=""):
    return TEMPLATE.replace("@VERSION@", str(v)).replace("@EXTRA@", extra).replace("@HELPER@", "helper")


def counter(node):
    s, r, _ = node.request("GET", "/counter/1")
    return r if s == 200 else {}


def serves_version(node, v, seconds=3):
    return wait_until(lambda: counter(node).get("version") == v, seconds)


@case("a watched node serves version 1; a peer sees its services")
def _():
    global n, peer
    write(helper, 'return { word = function() return "one" end }\n')
    write(script, version(1))
    n = Node(script, args=["--name", "reloader", "--watch"])
    peer = Node(C, args=["--name", "peer", "--grace", "1000"])
    check(wait_until(lambda: peer.request("GET", "/notes")[0] == 200, 5), "the peer sees the service")
    n.request("POST", "/notes", {"text": "kept"})
    eq(counter(n)["version"], 1, "version 1 serves")


@case("editors' ways of saving: each is picked up, within 1 s")
def _():
    for v, how in ((2, "inplace"), (3, "rename"), (4, "recreate")):
        t0 = time.monotonic()
        write(script, version(v), how)
        ok = serves_version(n, v)
        check(ok, "a save by %s is picked up" % how)
        check(time.monotonic() - t0 < 1.0, "... and serving within 1 s", "%.2fs" % (time.monotonic() - t0))


@case("state survives: memory records by default, migrate(old) for the counter")
def _():
    s, r, _ = n.request("GET", "/notes")
    eq([x.get("text") for x in r], ["kept"], "fdn.memory keeps its records across reloads")
    hits = counter(n)["hits"]
    check(hits >= 5, "migrate(old) carried the counter's state", str(hits))


@case("a burst of writes is one reload")
def _():
    before = n.stderr().count("reloaded ")
    for i in range(10):
        write(script, version(5))
    serves_version(n, 5)
    time.sleep(0.4)
    eq(n.stderr().count("reloaded ") - before, 1, "a burst of writes makes one reload")


@case("a module the script requires is watched too")
def _():
    write(helper, 'return { word = function() return "two" end }\n', "rename")
    check(wait_until(lambda: counter(n).get("word") == "two", 3), "editing a required module reloads the script")


@case("a broken version: the old one keeps serving, one log line names file and line")
def _():
    write(script, version(6).replace("return function(app)", "return function(app) local x = = 1"))
    time.sleep(0.6)
    eq(counter(n).get("version"), 5, "a syntax error: the previous version keeps serving")
    log = n.stderr()
    check("reload failed" in log and "svc.lua:" in log, "one log line names the file and line", log[-400:])
    write(script, version(7, 'error("boom in configure")'))
    time.sleep(0.6)
    eq(counter(n).get("version"), 5, "a configure error: the previous version keeps serving")
    write(script, version(8, 'app:service("counter").setup = function() error("setup says no") end'))
    time.sleep(0.6)
    eq(counter(n).get("version"), 5, "an error thrown by setup: the previous version keeps serving")
    write(script, version(9))
    check(serves_version(n, 9), "a later good save reloads")


@case("hooks and listeners are replaced, not doubled")
def _():
    s, r, _ = n.request("POST", "/notes", {"text": "after"})
    eq(r.get("stamped"), 1, "the before hook ran once (not once per reload)")
    time.sleep(0.1)
    eq(counter(n).get("heard"), 1, "the listener heard the event once")


@case("continuous calls through 20 reloads: zero failures")
def _():
    failures, calls, stop = [], [0], threading.Event()

    def hammer():
        while not stop.is_set() and calls[0] < 100000:
            try:
                s, r, _ = n.request("GET", "/counter/1")
                if s != 200:
                    failures.append((s, r))
                s, r, _ = n.request("POST", "/notes", {"text": "x"})
                if s != 201:
                    failures.append((s, r))
            except OSError as e:
                failures.append(repr(e))
            calls[0] += 2

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    for t in threads:
        t.start()
    for v in range(10, 30):
        write(script, version(v), "inplace" if v % 2 else "rename")
        serves_version(n, v, 3)
    n.proc.send_signal(signal.SIGHUP)  # SIGHUP reloads every script once
    time.sleep(0.3)
    stop.set()
    for t in threads:
        t.join(10)
    eq(failures[:3], [], "no call failed through 20 reloads (%d calls)" % calls[0])
    check("SIGHUP: reloading" in n.stderr(), "SIGHUP reloads")
    eq(counter(n).get("version"), 29, "the last version serves")


@case("a failed reload puts the app's hooks back, for proxies called from Lua too")
def _():
    # the failing version calls a proxy while its own (empty) hooks are staged (each extra is one
    # line: the template's comment names @EXTRA@ too)
    hooked = ('app:hooks { after = { all = { function(ctx) if ctx.path == "heard" then '
              'ctx.result.hooked_by = "app" end end } } } '
              'app:use("probe", { find = function() return app:service("heard"):find() end })')
    write(script, version(29, hooked))
    check(wait_until(lambda: n.request("GET", "/probe")[1].get("hooked_by") == "app", 3),
          "an app hook runs on a proxy called from Lua")
    write(script, version(29, 'pcall(function() return app:service("heard"):find() end) '
                              'error("boom after a proxy call")'))
    check(wait_until(lambda: n.stderr().count("boom after a proxy call") > 0, 3), "that version fails")
    eq(n.request("GET", "/probe")[1].get("hooked_by"), "app", "after a failed reload the app hook still runs")


@case("across the cluster: a path that remains never disappears; new ones come, removed ones go")
def _():
    write(script, version(30, 'app:use("fresh", { find = function() return { fresh = true } end })'))
    check(wait_until(lambda: peer.request("GET", "/fresh")[0] == 200, 3), "a new path is announced to peers")
    write(script, version(31))
    check(wait_until(lambda: peer.request("GET", "/fresh")[0] != 200, 5), "a removed path is withdrawn")
    s, heard, _ = peer.request("GET", "/heard")
    removed = heard.get("removed_services") or []
    check("notes" not in removed and "counter" not in removed,
          "peers never saw a remaining path disappear", str(removed))
    eq(peer.request("GET", "/notes")[0], 200, "the peer's proxy kept working throughout")

    n.stop()
    peer.stop()


finish()
