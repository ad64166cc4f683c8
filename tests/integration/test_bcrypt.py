"""Password hashing does not stall the reactor: ten bcrypt hashes (cost 10) at once over REST,
while a loop of echo calls on one kept-alive connection measures the reactor's latency."""
from netns import isolate

isolate()

import http.client
import threading
import time

from fdntest import Node, case, check, echo_latencies, eq, figure, finish, percentile

HASHES = 10



@case("ten hashes at once leave echo p99 under 5 ms")
def _():
    n = Node("tests/integration/fixtures/bcrypt.lua")
    s, b, _ = n.request("POST", "/passwords", {"password": "warm up"})
    eq((s, b["hash"][:7]), (201, "$2b$10$"), "a cost 10 hash")
    s, b, _ = n.request("PATCH", "/passwords/1", {"password": "warm up", "hash": b["hash"]})
    eq((s, b), (200, {"ok": True}), "it verifies")

    results, errors = [], []

    def hash_one(i):
        try:
            t0 = time.monotonic()
            st, body, _ = n.request("POST", "/passwords", {"password": "pw%d" % i}, timeout=60)
            results.append((st, body.get("hash", ""), time.monotonic() - t0))
        except Exception as e:  # reported by the check below
            errors.append(repr(e))

    conn = http.client.HTTPConnection("127.0.0.1", n.port, timeout=10)
    threads = [threading.Thread(target=hash_one, args=(i,)) for i in range(HASHES)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    # echo until every hash has answered (bounded: 60 s, 100000 calls)
    lat = echo_latencies(conn, lambda: any(t.is_alive() for t in threads), 60)
    hashes_ms = (time.monotonic() - t0) * 1000
    for t in threads:
        t.join(timeout=60)
    conn.close()
    eq(errors, [], "no hash request failed")
    eq(sorted(st for st, _, _ in results), [201] * HASHES, "ten hashes answered 201")
    check(all(h.startswith("$2b$10$") and len(h) == 60 for _, h, _ in results), "ten cost 10 hashes")
    eq(len({h for _, h, _ in results}), HASHES, "ten different hashes")
    p50, p99 = percentile(lat, 0.50), percentile(lat, 0.99)
    figure("%d hashes (cost 10) at once took %.0f ms (slowest request %.0f ms); %d echo calls meanwhile: "
           "p50 %.2f ms, p99 %.2f ms, max %.2f ms" % (HASHES, hashes_ms, max(r[2] for r in results) * 1000,
                                                      len(lat), p50, p99, max(lat)))
    check(len(lat) >= 20, "echo calls ran while the hashes did", str(len(lat)))
    check(p99 < 5, "echo p99 under 5 ms while hashing", "p99 %.2f ms" % p99)
    n.stop()


finish()
