/* alloc.c: the Lua state's allocator: counts the bytes Lua holds, refuses to pass the cap
 * (Lua then raises "not enough memory" in the code that asked), and serves small blocks from
 * a pool (pool.c) with no header and no locking. */
#include "alloc.h"

#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define POOLED 0 /* AddressSanitizer must see every block to check it */
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define POOLED 0
#endif
#endif
#ifndef POOLED
#define POOLED 1
#endif

static int small(size_t n)
{
    return POOLED && n <= FDN_POOL_MAX;
}

static void release(struct fdn_alloc *g, void *ptr, size_t size)
{
    if (small(size))
        fdn_pool_free(&g->pool, ptr, size);
    else
        free(ptr);
}

/* Resizes a block when either size is small: in place within its size class, else by
 * moving it. */
static void *resize(struct fdn_alloc *g, void *ptr, size_t osize, size_t nsize)
{
    if (ptr && small(osize) && small(nsize) &&
        (osize + FDN_POOL_GRAIN - 1) / FDN_POOL_GRAIN ==
            (nsize + FDN_POOL_GRAIN - 1) / FDN_POOL_GRAIN)
        return ptr;
    void *p = small(nsize) ? fdn_pool_alloc(&g->pool, nsize) : malloc(nsize);
    if (p && ptr) {
        memcpy(p, ptr, osize < nsize ? osize : nsize);
        release(g, ptr, osize);
    }
    return p;
}

void *fdn_alloc_lua(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct fdn_alloc *g = ud;
    if (!ptr)
        osize = 0; /* osize then encodes the type of the new object, not a size */
    if (nsize == 0) {
        if (ptr)
            release(g, ptr, osize);
        g->used -= osize;
        return NULL;
    }
    if (g->cap && g->enforce && nsize > osize && g->used - osize + nsize > g->cap) {
        g->refused++;
        return NULL;
    }
    void *p = small(osize) || small(nsize) ? resize(g, ptr, osize, nsize) : realloc(ptr, nsize);
    if (p) {
        g->used = g->used - osize + nsize;
        if (g->used > g->peak)
            g->peak = g->used;
    }
    return p;
}

void fdn_alloc_release(struct fdn_alloc *g)
{
    fdn_pool_release(&g->pool);
}
