"""The PostgreSQL driver against a real server (pgserver.py starts one in a temporary directory):
the contract (tests/lua/test_pg.lua) over TCP and the unix socket, prepared statements and
batches (tests/lua/test_pg_prepared.lua), the pool and its queue's bound, a slow query beside an
echo loop (the reactor is not blocked), and a server restart under load."""
from netns import isolate

isolate()

import http.client
import json
import os
import threading
import time

from fdntest import Node, case, check, echo_latencies, eq, figure, finish, percentile, run_fdnode
from pgserver import PgServer

server = PgServer()



@case("the contract over TCP with a password")
def _():
    os.environ["FDN_PG_URL"] = server.url
    rc, out, err = run_fdnode("run", "tests/lua/test_pg.lua", timeout=60)
    eq((rc, err.strip()), (0, ""), "tests/lua/test_pg.lua passes: " + out.strip())


@case("the contract over the unix socket")
def _():
    os.environ["FDN_PG_URL"] = server.socket_url
    rc, out, err = run_fdnode("run", "tests/lua/test_pg.lua", timeout=60)
    eq((rc, err.strip()), (0, ""), "tests/lua/test_pg.lua passes: " + out.strip())


@case("prepared statements and batches (tests/lua/test_pg_prepared.lua)")
def _():
    os.environ["FDN_PG_URL"] = server.url
    rc, out, err = run_fdnode("run", "tests/lua/test_pg_prepared.lua", timeout=60)
    eq((rc, err.strip()), (0, ""), "tests/lua/test_pg_prepared.lua passes: " + out.strip())


@case("shared reads of the SQL service (tests/lua/test_pg_shared.lua)")
def _():
    os.environ["FDN_PG_URL"] = server.url
    rc, out, err = run_fdnode("run", "tests/lua/test_pg_shared.lua", timeout=60)
    eq((rc, err.strip()), (0, ""), "tests/lua/test_pg_shared.lua passes: " + out.strip())


def get(port, path, timeout=30):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, json.loads(r.read() or b"null")
    finally:
        c.close()


@case("pool=2, queue=1: two sleep at once, one waits, the next is Unavailable")
def _():
    n = Node("tests/integration/fixtures/pg.lua", env={"FDN_PG_URL": server.url + "?pool=2&queue=1"})
    eq(get(n.port, "/one/5")[0], 200, "warm up")
    results = {}

    def call(i):
        t0 = time.monotonic()
        results[i] = (get(n.port, "/sleep?s=0.5"), time.monotonic() - t0)

    threads = []
    for i in range(4):
        threads.append(threading.Thread(target=call, args=(i,)))
        threads[-1].start()
        time.sleep(0.05)
    for t in threads:
        t.join(10)
    statuses = sorted(r[0][0] for r in results.values())
    eq(statuses, [200, 200, 200, 503], "three served, the fourth refused")
    took = sorted(r[1] for r in results.values() if r[0][0] == 200)
    figure("pool=2 queue=1: served in %s s; the refused one in %.3f s" % (
        ", ".join("%.2f" % x for x in took), min(r[1] for r in results.values() if r[0][0] == 503)))
    check(took[2] >= 0.8, "the third waited for a connection", str(took))
    refused = [r for r in results.values() if r[0][0] == 503][0]
    eq(refused[0][1].get("name"), "Unavailable", "Unavailable")
    n.stop()


@case("pg_sleep(0.5) leaves echo p99 under 5 ms")
def _():
    n = Node("tests/integration/fixtures/pg.lua", env={"FDN_PG_URL": server.url})
    get(n.port, "/one/1")
    out = []
    t = threading.Thread(target=lambda: out.append(get(n.port, "/sleep?s=0.5")))
    conn = http.client.HTTPConnection("127.0.0.1", n.port, timeout=10)
    t.start()
    lat = echo_latencies(conn, t.is_alive, 10)
    t.join(10)
    conn.close()
    eq(out and out[0][0], 200, "the slow query answered")
    p50, p99 = percentile(lat, 0.5), percentile(lat, 0.99)
    figure("pg_sleep(0.5) beside %d echo calls: p50 %.2f ms, p99 %.2f ms, max %.2f ms" % (len(lat), p50, p99, max(lat)))
    check(len(lat) >= 20, "echo calls ran meanwhile", str(len(lat)))
    check(p99 < 5, "echo p99 under 5 ms", "%.2f ms" % p99)
    n.stop()


@case("a server restart under load: Unavailable fast, then served again")
def _():
    n = Node("tests/integration/fixtures/pg.lua", env={"FDN_PG_URL": server.url})
    conn = http.client.HTTPConnection("127.0.0.1", n.port, timeout=10)
    log = []  # (time, status, seconds)
    stop = []

    def load():
        c = http.client.HTTPConnection("127.0.0.1", n.port, timeout=10)
        i = 0
        while not stop and i < 200000:
            i += 1
            t0 = time.monotonic()
            c.request("GET", "/one/%d" % i)
            r = c.getresponse()
            r.read()
            log.append((t0, r.status, time.monotonic() - t0))
            if r.status != 200:
                time.sleep(0.01)
        c.close()

    threads = [threading.Thread(target=load) for _ in range(3)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    t_down = time.monotonic()
    server.stop_server()
    down_at = time.monotonic()
    time.sleep(1.0)
    start_at = time.monotonic()
    server.start()
    up_at = time.monotonic()
    ok_again = None
    deadline = up_at + 10
    while time.monotonic() < deadline and ok_again is None:
        time.sleep(0.05)
        ok_again = next((t0 for t0, st, _ in list(log) if t0 > up_at and st == 200), None)
    stop.append(1)
    for t in threads:
        t.join(15)
    check(all(not t.is_alive() for t in threads), "no call hangs")
    during = [(st, d) for t0, st, d in log if down_at + 0.05 < t0 < start_at]
    eq(sorted(set(st for st, _ in during)), [503], "calls while the server is down are Unavailable")
    slowest = max((d for _, d in during), default=0) * 1000
    figure("restart under load: %d calls; %d while down, all 503, slowest %.1f ms; stop took %.2f s; served again "
           "%.2f s after the server was back" % (len(log), len(during), slowest, down_at - t_down,
                                                 (ok_again or deadline) - up_at))
    check(slowest < 100, "Unavailable fast (under 100 ms)", "%.1f ms" % slowest)
    check(ok_again is not None and ok_again - up_at < 2, "served again within 2 s of the restart")
    check(n.alive(), "the node is still running")
    eq(get(n.port, "/one/9")[0], 200, "and serves")
    conn.close()
    n.stop()


finish()
