/* pool.c: the small-block allocator (see pool.h). */
#include "pool.h"

#include <stdlib.h>

#define SLAB_BYTES (64 * 1024)
#define SLAB_HEAD FDN_POOL_GRAIN /* the link to the next slab, padded to keep blocks aligned */

void *fdn_pool_alloc(struct fdn_pool *p, size_t n)
{
    size_t c = fdn_pool_class(n);
    void *block = p->free[c];
    if (block) {
        p->free[c] = *(void **)block;
        return block;
    }
    size_t size = (c + 1) * FDN_POOL_GRAIN;
    if ((size_t)(p->end - p->cur) < size) {
        /* the slab's tail (less than one block) is left unused */
        char *slab = malloc(SLAB_BYTES);
        if (!slab)
            return NULL;
        *(void **)slab = p->slabs;
        p->slabs = slab;
        p->slab_bytes += SLAB_BYTES;
        p->cur = slab + SLAB_HEAD;
        p->end = slab + SLAB_BYTES;
    }
    block = p->cur;
    p->cur += size;
    return block;
}

void fdn_pool_free(struct fdn_pool *p, void *block, size_t n)
{
    size_t c = fdn_pool_class(n);
    *(void **)block = p->free[c];
    p->free[c] = block;
}

void fdn_pool_release(struct fdn_pool *p)
{
    while (p->slabs) {
        void *next = *(void **)p->slabs;
        free(p->slabs);
        p->slabs = next;
    }
    *p = (struct fdn_pool){0};
}
