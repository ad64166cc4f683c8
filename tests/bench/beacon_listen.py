#!/usr/bin/env python3
"""beacon_listen.py: counts fdnode discovery beacons on loopback, for tests/bench/scale.

Joins the discovery group on 127.0.0.1 for SECONDS and prints one JSON object: per node
(id) of the partition KEY, the beacons heard, their sizes and the TCP port they advertise
(the beacon layout is in core/beacon.h). With --node-port, a flat summary instead: the
beacons of the node advertising that port, and how many nodes of KEY were heard.

    beacon_listen.py --key KEY [--seconds 5] [--node-port P] [--group 239.255.70.68] [--port 47468]
"""
import argparse
import json
import socket
import struct
import time

BEACON_LEN, TAGGED_LEN = 44, 76  # core/beacon.h: untagged, tagged (HMAC) beacon sizes


def key_hash(key):
    """32-bit FNV-1a of the partition key, as fdn_beacon_key_hash."""
    h = 2166136261
    for c in key.encode():
        h = ((h ^ c) * 16777619) & 0xFFFFFFFF
    return h


def open_socket(group, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind((group, port))
    mreq = socket.inet_aton(group) + socket.inet_aton("127.0.0.1")
    s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
    return s


def parse(data):
    """(node id hex, tcp port, key hash, leaving) of a beacon, or None."""
    if len(data) not in (BEACON_LEN, TAGGED_LEN) or data[:4] != b"FDNB":
        return None
    node = data[6:22].hex()
    port, khash = struct.unpack(">H", data[30:32])[0], struct.unpack(">I", data[32:36])[0]
    return node, port, khash, bool(data[5] & 1)


def listen(sock, seconds, khash):
    nodes = {}
    end = time.monotonic() + seconds
    while True:  # bounded by `end`
        left = end - time.monotonic()
        if left <= 0:
            break
        sock.settimeout(left)
        try:
            data = sock.recv(2048)
        except socket.timeout:
            break
        b = parse(data)
        if b is None or b[2] != khash:
            continue
        n = nodes.setdefault(b[0], {"node": b[0], "port": b[1], "beacons": 0, "bytes": 0, "sizes": []})
        n["beacons"] += 1
        n["bytes"] += len(data)
        if len(data) not in n["sizes"]:
            n["sizes"].append(len(data))
    return list(nodes.values())


def summary(nodes, seconds, port):
    """The beacons of the node advertising `port`, flat, for tests/bench/scale."""
    mine = next((n for n in nodes if n["port"] == port), {"beacons": 0, "bytes": 0, "sizes": []})
    return {"beacon_bytes": max(mine["sizes"], default=None), "beacons": mine["beacons"],
            "beacons_per_s": round(mine["beacons"] / seconds, 2),
            "beacon_bytes_per_s": round(mine["bytes"] / seconds, 1),
            "beacon_nodes": len(nodes)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--key", required=True)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--group", default="239.255.70.68")
    ap.add_argument("--port", type=int, default=47468)
    ap.add_argument("--node-port", type=int, help="summarize the node advertising this TCP port")
    a = ap.parse_args()
    sock = open_socket(a.group, a.port)
    nodes = listen(sock, a.seconds, key_hash(a.key))
    if a.node_port is not None:
        print(json.dumps(summary(nodes, a.seconds, a.node_port), separators=(",", ":")))
    else:
        print(json.dumps({"seconds": a.seconds, "nodes": nodes}))


if __name__ == "__main__":
    main()
