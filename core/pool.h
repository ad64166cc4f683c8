/* pool.h: a small-block allocator for the Lua state. Most of what Lua allocates per call is
 * small (tables, their parts, short strings, closures) and dies young; taking such blocks
 * from per-size free lists, carved from 64 KiB slabs, costs a few instructions where
 * malloc and free cost a hundred. Lua tells the allocator the size of every block it frees,
 * so blocks carry no header. Freed blocks go back to their list, never to the system: the
 * pool keeps the state's peak of small blocks until fdn_pool_release. */
#ifndef FDN_POOL_H
#define FDN_POOL_H

#include <stddef.h>

#define FDN_POOL_GRAIN 16                                /* block sizes are multiples of it */
#define FDN_POOL_MAX 256                                 /* larger blocks go to malloc */
#define FDN_POOL_CLASSES (FDN_POOL_MAX / FDN_POOL_GRAIN) /* 16, 32, ..., 256 bytes */

struct fdn_pool {
    void *free[FDN_POOL_CLASSES]; /* per size class, linked through each block's first word */
    char *cur, *end;              /* what is left of the newest slab */
    void *slabs;                  /* every slab, linked through its first word */
    size_t slab_bytes;            /* held in slabs */
};

/* The size class of a block of n bytes (1..FDN_POOL_MAX): blocks of one class are
 * interchangeable. */
static inline size_t fdn_pool_class(size_t n)
{
    return (n + FDN_POOL_GRAIN - 1) / FDN_POOL_GRAIN - 1;
}

/* A block of n bytes (1..FDN_POOL_MAX), 16-byte aligned; NULL when the system has no memory. */
void *fdn_pool_alloc(struct fdn_pool *p, size_t n);
/* Gives back a block that fdn_pool_alloc returned for a size of n. */
void fdn_pool_free(struct fdn_pool *p, void *block, size_t n);
/* Returns every slab to the system: every block is invalid after it. */
void fdn_pool_release(struct fdn_pool *p);

#endif
