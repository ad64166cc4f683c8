/* http_limits.c: the gateway's connection caps: the client addresses it holds connections from
 * (a seeded hash, with counts), and room made for a new connection by closing idle kept-alive
 * ones, oldest first, before a 503. */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "http_int.h"
#include "util.h"

/* The client address of an accepted connection, in addr; its length (0: not an IP address). */
static size_t peer_addr(const struct sockaddr *sa, uint8_t addr[16])
{
    if (sa->sa_family == AF_INET) {
        memcpy(addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return 4;
    }
    if (sa->sa_family != AF_INET6)
        return 0;
    const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(a6)) {
        memcpy(addr, a6->s6_addr + 12, 4);
        return 4;
    }
    memcpy(addr, a6->s6_addr, 16);
    return 16;
}

/* Where the address's entry is in its hash chain, or where it would go (*result NULL). */
static struct peer **peer_find(struct fdn_http *h, const uint8_t *addr, size_t len)
{
    uint64_t x = h->hash_seed;
    for (size_t i = 0; i < len; i++)
        x = (x ^ addr[i]) * 0x100000001b3u;
    struct peer **pp = &h->peers[(x ^ x >> 29) & (h->npeers - 1)];
    while (*pp && ((*pp)->len != len || memcmp((*pp)->addr, addr, len) != 0))
        pp = &(*pp)->next;
    return pp;
}

void fdn_http_limits_init(struct fdn_http *h)
{
    for (h->npeers = 64; h->npeers < (size_t)h->nslots; h->npeers *= 2)
        ;
    h->peers = xcalloc(h->npeers, sizeof *h->peers);
    if (getrandom(&h->hash_seed, sizeof h->hash_seed, 0) != (ssize_t)sizeof h->hash_seed)
        h->hash_seed = (uint64_t)(uintptr_t)h ^ (uint64_t)getpid() << 32;
}

static void evict(struct conn *c, const char *why)
{
    fdn_debug("http: closing an idle keep-alive connection (%s)", why);
    fdn_http_conn_free(c);
}

int fdn_http_admit(struct fdn_http *h, const struct sockaddr *sa, struct peer **pe,
                   const char **why)
{
    uint8_t addr[16];
    size_t alen = h->max_per_addr > 0 ? peer_addr(sa, addr) : 0;
    struct peer *p = alen ? *peer_find(h, addr, alen) : NULL;
    *pe = NULL;
    if (p && p->nconns >= h->max_per_addr) {
        if (!p->idle.head) {
            *why = "Too many connections from this address";
            return -1;
        }
        evict(p->idle.head, "its client is at its cap"); /* p may be gone if the cap is 1 */
    }
    if (h->nfree == 0 && h->idle.head)
        evict(h->idle.head, "the gateway is full");
    if (h->nfree == 0) {
        *why = "Too many connections";
        return -1;
    }
    if (alen) {
        struct peer **pp = peer_find(h, addr, alen);
        if (!*pp) {
            *pp = xcalloc(1, sizeof **pp);
            (*pp)->len = (uint8_t)alen;
            memcpy((*pp)->addr, addr, alen);
        }
        *pe = *pp;
        (*pe)->nconns++;
    }
    return 0;
}

void fdn_http_release(struct conn *c)
{
    fdn_http_unpark(c);
    if (c->peer && --c->peer->nconns == 0) {
        struct peer **pp = peer_find(c->h, c->peer->addr, c->peer->len);
        *pp = c->peer->next;
        free(c->peer);
    }
}
