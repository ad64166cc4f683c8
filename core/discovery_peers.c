/* discovery_peers.c: discovery's table of the nodes it hears: a bucket hash by node id (seeded,
 * so that ids chosen to collide cannot make chains long) and a recency list, holding at most
 * FDN_DISCOVERY_MAX_PEERS nodes; when full, the least recently heard one is forgotten. */
#include "discovery_peers.h"

#include <stdlib.h>
#include <string.h>

#include "discovery.h"
#include "util.h"

static size_t bucket_of(const struct fdn_discovery_peers *t, const uint8_t id[16])
{
    uint64_t a, b;
    memcpy(&a, id, 8);
    memcpy(&b, id + 8, 8);
    uint64_t h = (a ^ t->seed) * 0x9e3779b97f4a7c15u;
    h = (h ^ (h >> 29) ^ b) * 0xbf58476d1ce4e5b9u;
    return (size_t)((h ^ (h >> 32)) & (FDN_DISCOVERY_BUCKETS - 1));
}

struct peer *fdn_discovery_peers_find(const struct fdn_discovery_peers *t, const uint8_t id[16])
{
    for (struct peer *p = t->buckets[bucket_of(t, id)]; p; p = p->hnext)
        if (memcmp(p->id, id, 16) == 0)
            return p;
    return NULL;
}

static void unlink_bucket(struct fdn_discovery_peers *t, struct peer *p)
{
    struct peer **pp = &t->buckets[bucket_of(t, p->id)];
    while (*pp != p)
        pp = &(*pp)->hnext;
    *pp = p->hnext;
}

struct peer *fdn_discovery_peers_add(struct fdn_discovery_peers *t, const uint8_t id[16])
{
    struct peer *p;
    if (t->count >= FDN_DISCOVERY_MAX_PEERS) {
        p = t->oldest;
        fdn_discovery_peers_unlink(t, p);
        unlink_bucket(t, p);
        t->evicted++;
    } else {
        p = xmalloc(sizeof *p);
        t->count++;
    }
    memset(p, 0, sizeof *p);
    memcpy(p->id, id, 16);
    size_t k = bucket_of(t, id);
    p->hnext = t->buckets[k];
    t->buckets[k] = p;
    fdn_discovery_peers_push(t, p);
    return p;
}

void fdn_discovery_peers_clear(struct fdn_discovery_peers *t)
{
    struct peer *p = t->oldest;
    while (p) {
        struct peer *next = p->newer;
        free(p);
        p = next;
    }
    memset(t->buckets, 0, sizeof t->buckets);
    t->oldest = t->newest = NULL;
    t->count = 0;
}
