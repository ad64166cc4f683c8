/* discovery_peers.h: discovery's table of the nodes it hears (discovery_peers.c): a seeded hash
 * by node id and a recency list, at most FDN_DISCOVERY_MAX_PEERS entries, the least recently
 * heard forgotten first. Not for other modules. */
#ifndef FDN_DISCOVERY_PEERS_H
#define FDN_DISCOVERY_PEERS_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#define FDN_DISCOVERY_BUCKETS 8192 /* hash buckets (twice FDN_DISCOVERY_MAX_PEERS) */

/* What discovery remembers of a node. */
struct peer {
    uint8_t id[16];
    uint32_t boot, seq, version;
    uint32_t stamp; /* the timestamp of the last beacon taken */
    struct in_addr ip;
    uint16_t port;
    int leaving;
    int64_t dispatched_ms;      /* last handed to Lua */
    int64_t ip_seen_ms;         /* last heard from ip */
    int64_t heard_ms;           /* last beacon taken (the recency list's order) */
    struct peer *hnext;         /* bucket chain */
    struct peer *older, *newer; /* recency list: oldest is evicted first */
};

/* The table, zeroed to start; seed set before the first add. */
struct fdn_discovery_peers {
    struct peer *buckets[FDN_DISCOVERY_BUCKETS];
    struct peer *oldest, *newest;
    size_t count;
    uint64_t seed;
    uint64_t evicted; /* entries reused because the table was full */
};

static inline void fdn_discovery_peers_unlink(struct fdn_discovery_peers *t, struct peer *p)
{
    if (p->older)
        p->older->newer = p->newer;
    else
        t->oldest = p->newer;
    if (p->newer)
        p->newer->older = p->older;
    else
        t->newest = p->older;
    p->older = p->newer = NULL;
}

static inline void fdn_discovery_peers_push(struct fdn_discovery_peers *t, struct peer *p)
{
    p->older = t->newest;
    p->newer = NULL;
    if (t->newest)
        t->newest->newer = p;
    else
        t->oldest = p;
    t->newest = p;
}

/* p was just heard: it becomes the most recent (inline: every beacon taken does this). */
static inline void fdn_discovery_peers_touch(struct fdn_discovery_peers *t, struct peer *p)
{
    fdn_discovery_peers_unlink(t, p);
    fdn_discovery_peers_push(t, p);
}

/* The entry of node id, or NULL. */
struct peer *fdn_discovery_peers_find(const struct fdn_discovery_peers *t, const uint8_t id[16]);

/* A new zeroed entry for id (not in the table), the most recent; when the table is full, the
 * least recently heard entry is reused (and counted in evicted). */
struct peer *fdn_discovery_peers_add(struct fdn_discovery_peers *t, const uint8_t id[16]);

/* Frees every entry. */
void fdn_discovery_peers_clear(struct fdn_discovery_peers *t);

#endif
