/* discovery.h: beacons on UDP multicast: one socket shared by every node of the host, joined
 * on each usable interface; sends this node's beacon on a schedule and hands the beacons of
 * other nodes of the same partition to Lua (dispatch kind "beacon"). Only a hint (§2). */
#ifndef FDN_DISCOVERY_H
#define FDN_DISCOVERY_H

#include <stddef.h>
#include <stdint.h>

struct fdn_node;
struct fdn_discovery;

#define FDN_DISCOVERY_GROUP "239.255.70.68"
#define FDN_DISCOVERY_PORT 47468

struct fdn_discovery_opts {
    const char *group;       /* IPv4 multicast group; NULL: FDN_DISCOVERY_GROUP */
    int port;                /* UDP port; 0: FDN_DISCOVERY_PORT */
    const char *bind;        /* IPv4 address: use only the interface that has it; NULL, "",
                              * "0.0.0.0" or "::": every interface (loopback included) */
    const char *key;         /* partition key; NULL: "default" */
    int tcp_port;            /* advertised RPC port */
    uint32_t version;        /* initial services version */
    uint32_t boot_id;        /* this run's boot id (the one Lua's HELLO carries); 0: a random one */
    int send;                /* 0: listen only (fdnode ls/call) */
    const uint8_t *auth_key; /* the secret's beacon key (32 bytes, copied), or NULL: no secret */
};

/* Dispatch of a beacon: fdn_node_dispatch_begin(n, "beacon") then 7 arguments:
 *   node     string, the sender's node id in 32 lowercase hex digits
 *   boot     integer, the sender's boot id
 *   seq      integer, its sequence number (grows by one per beacon sent)
 *   ip       string, the datagram's source address ("10.0.0.2")
 *   port     integer, the sender's RPC port
 *   version  integer, its services version
 *   leaving  boolean, true when it is shutting down
 * Dropped (and counted) without dispatch: malformed datagrams, tagged ones (no secret set),
 * our own, other partitions (key hash differs), duplicates and stale ones (same boot, seq not
 * newer: a node on this host is heard once per shared interface).
 * With a secret (auth_key), beacons are sent tagged (HMAC-SHA256 of the whole beacon under the
 * beacon key, beacon.h) and only beacons whose tag verifies (compared in constant time) are
 * heard; then also dropped: a timestamp more than FDN_DISCOVERY_WINDOW_S away from our clock,
 * and a replayed beacon: same boot and seq not newer (as above), or another boot with a
 * timestamp older than the last one heard from that node (a node that restarts sends newer
 * ones). The per-packet problems are logged at most once per 10 s per kind. A beacon that changes
 * nothing (same boot, version, leaving, ip, port as the last one dispatched for that node) is
 * not dispatched either, but one is at least every FDN_DISCOVERY_REFRESH_MS per node so that
 * Lua can keep "last seen". A node heard on several addresses keeps the one it was first heard
 * on until that one has been silent for FDN_DISCOVERY_IP_HOLD_MS. The table behind this
 * holds at most FDN_DISCOVERY_MAX_PEERS nodes (the least recently heard is forgotten). */
#define FDN_DISCOVERY_REFRESH_MS 4000
#define FDN_DISCOVERY_IP_HOLD_MS 2500
#define FDN_DISCOVERY_MAX_PEERS 4096
#define FDN_DISCOVERY_WINDOW_S 30

/* Opens the socket, joins the group and, when o->send, sends the first beacon at once, then
 * after 100, 300 and 700 ms, then every second (with a little jitter; less often once it hears
 * more than 16 nodes, see beacon_interval_ms in discovery.c). Interfaces are scanned
 * again every 10 s. The node gives the event base, the node id and the Lua state. 0 on
 * success; -1 after logging one line (bad address, socket or bind failure). */
int fdn_discovery_new(struct fdn_node *n, const struct fdn_discovery_opts *o,
                      struct fdn_discovery **out);

/* Closes everything without dispatching to Lua; leaving beacons still pending are sent at
 * once. Safe from inside a beacon dispatch (the memory goes when the dispatch returns). */
void fdn_discovery_free(struct fdn_discovery *d);

/* A new services version: sent at once, and in every beacon after (the schedule stays). */
void fdn_discovery_set_version(struct fdn_discovery *d, uint32_t version);

/* Clean shutdown: a leaving beacon at once and twice more 20 ms apart; then no more beacons.
 * Receiving goes on. No-op for a listen-only discovery or when already leaving. */
void fdn_discovery_leave(struct fdn_discovery *d);

struct fdn_discovery_stats {
    uint64_t sent;            /* datagrams sent (one per beacon per interface) */
    uint64_t send_errors;     /* datagrams the kernel refused */
    uint64_t received;        /* datagrams read */
    uint64_t malformed;       /* not a beacon: bad length, magic, version or flags */
    uint64_t untrusted;       /* tagged, but we have no secret */
    uint64_t unauthenticated; /* we have a secret: untagged, or a tag that does not verify */
    uint64_t stale;           /* we have a secret: timestamp outside the window */
    uint64_t replayed;        /* we have a secret: an older boot of a node heard since */
    uint64_t foreign;         /* another partition (key hash differs) */
    uint64_t own;             /* our own beacons coming back */
    uint64_t duplicate;       /* same beacon again (another interface) or stale */
    uint64_t dispatched;      /* handed to Lua */
    uint64_t evicted;         /* nodes forgotten because the table was full */
    size_t peers;             /* nodes in the table */
    size_t interfaces;        /* interfaces joined */
    int authenticated;        /* 1: a secret is set (beacons tagged and checked) */
    uint32_t boot_id, seq, version;
};

void fdn_discovery_stats(const struct fdn_discovery *d, struct fdn_discovery_stats *out);

#endif
