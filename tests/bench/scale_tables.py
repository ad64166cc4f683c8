#!/usr/bin/env python3
"""scale_tables.py: the markdown tables of a tests/bench/scale run, from its JSON lines.

    scale_tables.py [RESULTS.jsonl]     (default: standard input)
"""
import json
import statistics
import sys


def size(n):
    """16 B, 4 KiB, 64 KiB."""
    if n is None:
        return "-"
    return f"{n // 1024} KiB" if n >= 1024 and n % 1024 == 0 else f"{n} B"


def num(v, digits=0):
    if v is None:
        return "-"
    if isinstance(v, float) and digits:
        return f"{v:,.{digits}f}"
    return f"{round(v):,}"


def span(values):
    """min–max of a list of numbers, or the one value."""
    if not values:
        return "-"
    lo, hi = min(values), max(values)
    return num(lo) if lo == hi else f"{num(lo)}–{num(hi)}"


def table(title, head, rows):
    out = [f"**{title}**", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out) + "\n"


def failed(first, r, width):
    """A row for a measurement that failed: its first cell, then the error."""
    return [first, "error: " + str(r["error"])] + [""] * (width - 2)


def runs(rs, key):
    """The rpc lines grouped by point (key), in first-seen order: [(point, ok lines, failed lines)]."""
    groups = {}
    for r in rs:
        g = groups.setdefault(r.get(key), ([], []))
        g[1 if "error" in r else 0].append(r)
    return [(k, ok, bad) for k, (ok, bad) in groups.items()]


def rpc_cells(ok, bad, payload_mb):
    """Median calls/s and its range over the runs, median p50 and p99, [median payload MB/s],
    errors, runs."""
    rates = [r["calls_per_s"] for r in ok]
    cells = [num(statistics.median(rates)), span(rates), num(statistics.median(r["p50_us"] for r in ok)),
             num(statistics.median(r["p99_us"] for r in ok))]
    if payload_mb:
        cells.append(num(statistics.median(r["payload_mb_per_s"] for r in ok), 1))
    return cells + [sum(r["errors"] for r in ok), f"{len(ok)}" + (f" ({len(bad)} failed)" if bad else "")]


def rpc_table(title, first, rs, key, label, payload_mb):
    head = [first, "calls/s (median)", "calls/s (range)", "p50 (µs)", "p99 (µs)"]
    head += ["payload MB/s"] if payload_mb else []
    head += ["errors", "runs"]
    rows = [failed(label(k), bad[0], len(head)) if not ok else [label(k)] + rpc_cells(ok, bad, payload_mb)
            for k, ok, bad in runs(rs, key)]
    return table(title, head, rows)


def concurrency(rs):
    return rpc_table("rpc against calls in flight (echo get, small result; medians over the runs)",
                     "calls in flight", rs, "concurrency", str, False)


def payload(rs):
    conc = next((r.get("concurrency") for r in rs if "concurrency" in r), "?")
    return rpc_table(f"rpc against payload size ({conc} calls in flight; medians over the runs)",
                     "result text", rs, "payload_bytes", size, True)


def fanout(rs):
    head = ["subscribing nodes", "emitted/s", "delivered events/s (all)", "events/s per subscriber",
            "received per subscriber", "lost", "provider paused (ms)"]
    rows = [failed(r.get("subscribers"), r, 7) if "error" in r else
            [r["subscribers"], num(r["sent_per_s"]), num(r["events_per_s"]),
             span(r["per_subscriber_events_per_s"]), span(r["received"]), num(r["lost"]),
             num(r["paused_ms"])] for r in rs]
    return table("events against subscribing nodes (one provider)", head, rows)


def links(rs):
    by = {}
    for r in rs:
        by.setdefault(r["peers"], {})[r["tls"]] = r
    head = ["peers", "RSS (KiB)", "per peer (KiB)", "marginal (KiB)",
            "RSS, TLS (KiB)", "per peer, TLS (KiB)", "marginal, TLS (KiB)"]

    def cells(r):
        if r is None:
            return ["-"] * 3
        if "error" in r:
            return ["error", r["error"], ""]
        return [num(r.get("rss_kib")), r.get("kib_per_peer", "-"), r.get("marginal_kib_per_peer", "-")]
    rows = [[k] + cells(by[k].get(0)) + cells(by[k].get(1)) for k in sorted(by)]
    return table("memory of one idle node against the peers joined to it (a link each way per peer)",
                 head, rows)


def inflight(rs):
    head = ["calls in flight", "clients × providers", "caller holds", "caller RSS/call (B)",
            "caller Lua heap/call (B)", "provider holds", "provider RSS/call (B)",
            "provider Lua heap/call (B)", "errors"]
    rows = []
    for r in rs:
        if "error" in r:
            rows.append(failed(r.get("calls_in_flight"), r, 9))
            continue
        one = r.get("provider_calls") is not None
        rows.append([num(r["calls_in_flight"]), f'{r["clients"]} × {r["providers"]}', num(r["caller_calls"]),
                     num(r["caller_rss_per_call_b"]), num(r["caller_lua_per_call_b"]),
                     num(r["provider_calls"]) if one else f'{num(r["calls_in_flight"] // r["providers"])} each',
                     num(r["provider_rss_per_call_b"]), num(r["provider_lua_per_call_b"]), r["errors"]])
    return table("memory per call in flight (RSS and Lua heap after a full collection)", head, rows)


def services(rs):
    head = ["services", "beacon (B)", "beacons/s", "beacon B/s", "service table (B)",
            "peer sees all after (ms)", "node RSS (KiB)", "peer RSS (KiB)", "node idle CPU (%)"]
    rows = [failed(r.get("services"), r, 9) if "error" in r else
            [num(r["services"]), num(r.get("beacon_bytes")), r.get("beacons_per_s", "-"),
             r.get("beacon_bytes_per_s", "-"),
             num(r["table_bytes"]), num(r["all_seen_ms"]), num(r["rss_kib"]), num(r["watcher_rss_kib"]),
             r["idle_cpu_pct"]] for r in rs]
    return table("services on one node: beacons, service table, memory, idle CPU", head, rows)


SWEEPS = [("concurrency", concurrency), ("payload", payload), ("fanout", fanout), ("links", links),
          ("inflight", inflight), ("services", services)]


def main():
    src = open(sys.argv[1], encoding="utf-8") if len(sys.argv) > 1 else sys.stdin
    by = {}
    for line in src:
        line = line.strip()
        if line.startswith("{"):
            r = json.loads(line)
            by.setdefault(r.get("sweep"), []).append(r)
    print("\n".join(f(by[name]) for name, f in SWEEPS if name in by), end="")


if __name__ == "__main__":
    main()
