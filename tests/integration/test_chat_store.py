"""examples/chat keeps its users and messages in a database (issue 16, point 6): a SQLite file by
default, PostgreSQL when FDN_DATABASE names one. Sign up, log in and post; stop the node; start
it again: the user logs in with the same password and the message is there, on both."""
from netns import isolate

isolate()

import json  # noqa: E402
import os  # noqa: E402

from fdntest import Node, case, check, eq, finish, logdir  # noqa: E402
from pgserver import PgServer  # noqa: E402

CHAT = "examples/chat/"
SCRIPTS = [CHAT + s for s in ("authentication.lua", "users.lua", "messages.lua", "channels.lua")]
USER = {"email": "ada@example.com", "password": "lovelace"}


def login(n):
    s, r = n.request("POST", "/authentication", body=dict(USER, strategy="local"))[:2]
    return s, (r or {}).get("accessToken")


def chat_survives(database, what):
    env = {"FDN_DATABASE": database}
    n = Node(*SCRIPTS, name=what, env=env)
    eq(n.request("POST", "/users", body=USER)[0], 201, what + ": sign-up")
    s, token = login(n)
    eq(s, 201, what + ": log-in")
    auth = {"Authorization": "Bearer " + token}
    s, msg = n.request("POST", "/messages", body={"text": "kept across a restart"}, headers=auth)[:2]
    eq((s, msg.get("text")), (201, "kept across a restart"), what + ": a message posted")
    eq(n.stop(), 0, what + ": the node stops")

    n = Node(*SCRIPTS, name=what + "-again", env=env)
    s, token = login(n)
    eq(s, 201, what + ": after the restart the user logs in with the same password")
    s, page = n.request("GET", "/messages", headers={"Authorization": "Bearer " + token})[:2]
    eq((s, [m["text"] for m in page.get("data", [])]), (200, ["kept across a restart"]),
       what + ": and the message is there, with its author")
    check(page["data"] and page["data"][0]["user"]["email"] == USER["email"], what + ": its author resolved",
          json.dumps(page)[:300])
    eq(n.request("POST", "/users", body=USER)[0], 409, what + ": signing up again is a Conflict (the email is unique)")
    eq(n.stop(), 0, what + ": the node stops again")


@case("SQLite (the example's default kind of URL): the chat survives a restart")
def _():
    path = os.path.join(logdir(), "chat.db")
    chat_survives("sqlite:" + path, "sqlite")
    check(os.path.getsize(path) > 0, "the data is in the file")


@case("PostgreSQL (FDN_DATABASE=postgresql://...): the chat survives a restart")
def _():
    pg = PgServer()
    chat_survives(pg.url, "postgres")
    pg.stop()


finish()
