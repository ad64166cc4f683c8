"""Configuration files (node-config's, as Feathers apps have them): config/ beside the first
script or --config DIR, the FDN_ENV overlay, custom-environment-variables.json, settings seen
at configure time and kept by a reload; a malformed file stops the node with file:line:col."""
import atexit
import json
import os
import shutil
import signal
import subprocess
import tempfile

from netns import isolate

isolate()

from fdntest import FDNODE, ROOT, Node, case, check, eq, finish, wait_until  # noqa: E402

TMP = tempfile.mkdtemp(prefix="fdn-config-")
atexit.register(shutil.rmtree, TMP, True)

# a service answering app:get(id), and what the script saw while it configured
APP = """return function(app)
  local seen = { name = app:get("name"), paginate = app:get("paginate") }
  app:use("settings", {
    get = function(self, id)
      if id == "seen" then return seen end
      return { value = app:get(id) }
    end,
  })
end
"""


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def app_dir(name, files):
    """A folder with app.lua and the config files given ({name: text}); its app.lua's path."""
    d = os.path.join(TMP, name)
    write(os.path.join(d, "app.lua"), APP)
    for f, text in files.items():
        write(os.path.join(d, "config", f), text if isinstance(text, str) else json.dumps(text))
    return os.path.join(d, "app.lua")


def setting(node, key):
    s, r, _ = node.request("GET", "/settings/" + key)
    eq(s, 200, "GET /settings/" + key)
    return r.get("value")


def start_fails(args, env=None):
    """(exit code, stderr lines) of a node that must stop at start."""
    p = subprocess.run([FDNODE, *args], cwd=ROOT, capture_output=True, timeout=10,
                       env={**os.environ, **(env or {})})
    return p.returncode, [l for l in p.stderr.decode(errors="replace").splitlines() if l.strip()]


DEFAULT = {"name": "chat", "port": 3030, "paginate": {"default": 10, "max": 50},
           "authentication": {"secret": "dev", "authStrategies": ["jwt", "local"]}}


@case("config/default.json beside the first script: app:get, already when the scripts configure")
def _():
    script = app_dir("plain", {"default.json": DEFAULT})
    n = Node(script, name="plain")
    eq(setting(n, "name"), "chat", "a string")
    eq(setting(n, "port"), 3030, "a number")
    eq(setting(n, "authentication"), DEFAULT["authentication"], "an object, with its array")
    eq(setting(n, "missing"), None, "a key no file sets: nil")
    eq(n.request("GET", "/settings/seen")[1], {"name": "chat", "paginate": {"default": 10, "max": 50}},
       "the settings are there while the script configures")
    n.stop()


@case("FDN_ENV: config/<env>.json deep-merged over default.json; NODE_ENV when FDN_ENV is unset")
def _():
    script = app_dir("overlay", {"default.json": DEFAULT,
                                 "production.json": {"paginate": {"max": 100},
                                                     "authentication": {"authStrategies": ["jwt"]}}})
    n = Node(script, name="overlay", env={"FDN_ENV": "production"})
    eq(setting(n, "paginate"), {"default": 10, "max": 100}, "objects merge key by key")
    eq(setting(n, "authentication"), {"secret": "dev", "authStrategies": ["jwt"]}, "arrays replace")
    n.stop()
    n = Node(script, name="node-env", env={"NODE_ENV": "production"})
    eq(setting(n, "paginate")["max"], 100, "NODE_ENV selects the overlay too")
    n.stop()
    n = Node(script, name="no-env", env={"FDN_ENV": "staging", "NODE_ENV": "production"})
    eq(setting(n, "paginate")["max"], 50, "FDN_ENV wins; an overlay file that is not there is fine")
    n.stop()


@case("custom-environment-variables.json maps environment variables, __format json and number")
def _():
    cev = {"port": {"__name": "PORT", "__format": "number"}, "host": "HOSTNAME",
           "authentication": {"secret": "FEATHERS_SECRET",
                              "jwtOptions": {"__name": "JWT_OPTIONS", "__format": "json"}}}
    script = app_dir("envmap", {"default.json": DEFAULT, "custom-environment-variables.json": cev})
    n = Node(script, name="envmap", env={"PORT": "8080", "FEATHERS_SECRET": "s3cret",
                                         "JWT_OPTIONS": '{"audience": "https://x", "expiresIn": "1d"}'})
    eq(setting(n, "port"), 8080, "PORT as a number")
    eq(setting(n, "authentication"), {"secret": "s3cret", "authStrategies": ["jwt", "local"],
                                      "jwtOptions": {"audience": "https://x", "expiresIn": "1d"}},
       "a string and a json variable merged into the object")
    eq(setting(n, "host"), None, "a variable that is not set leaves the value alone (here: none)")
    n.stop()
    code, lines = start_fails([script], env={"PORT": "eighty"})
    check(code != 0 and len(lines) == 1 and "PORT (number): not a number" in lines[0],
          "a variable that does not parse stops the node, one line", lines)


@case("a reload (SIGHUP) keeps the settings and does not read the files again")
def _():
    script = app_dir("reload", {"default.json": DEFAULT})
    n = Node(script, name="reload")
    write(os.path.join(TMP, "reload", "config", "default.json"), json.dumps({**DEFAULT, "name": "changed"}))
    n.signal(signal.SIGHUP)
    check(wait_until(lambda: "reloaded 1 script" in n.log(), 5), "the reload happens", n.log()[-500:])
    eq(setting(n, "name"), "chat", "the settings of the start, after a reload")
    eq(n.request("GET", "/settings/seen")[1]["name"], "chat", "the reloaded script sees them as it configures")
    n.stop()


@case("a malformed or wrong file: one line on stderr with file:line:col, non-zero exit")
def _():
    script = app_dir("broken", {"default.json": '{\n  "name": "chat",\n  "port": 30 30\n}\n'})
    code, lines = start_fails([script])
    path = os.path.join(TMP, "broken", "config", "default.json")
    check(code != 0, "non-zero exit", code)
    eq(lines, ["fdnode: %s:3:14: unexpected character" % path], "one line: file, line, column, what")
    script = app_dir("broken-env", {"default.json": "{}", "test.json": '{"a": [1, 2}'})
    code, lines = start_fails([script], env={"FDN_ENV": "test"})
    eq((code != 0, lines), (True, ["fdnode: %s:1:12: unexpected character"
                                   % os.path.join(TMP, "broken-env", "config", "test.json")]),
       "the overlay's error names the overlay")
    script = app_dir("array", {"default.json": "[1, 2]"})
    code, lines = start_fails([script])
    check(code != 0 and len(lines) == 1 and lines[0].endswith("default.json: not a JSON object at the top"),
          "a file that is not an object at the top", lines)


@case("--config DIR; no config folder at all is fine")
def _():
    conf = os.path.join(TMP, "elsewhere")
    write(os.path.join(conf, "default.json"), json.dumps({"name": "from --config"}))
    script = app_dir("noconf", {})
    n = Node(script, name="noconf")
    eq(setting(n, "name"), None, "no config/ folder: no settings, the node runs")
    n.stop()
    n = Node(script, name="option", args=["--config", conf])
    eq(setting(n, "name"), "from --config", "--config DIR is read instead")
    n.stop()
    code, lines = start_fails(["--config", os.path.join(TMP, "nowhere"), script])
    check(code != 0 and len(lines) == 1 and "--config" in lines[0] and "not a readable directory" in lines[0],
          "--config on a folder that is not there: one line", lines)


finish()
