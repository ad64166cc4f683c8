/* pool.h: a small-block allocator for the Lua state. Most of what Lua allocates per call is
 * small (tables, their parts, short strings, closures) and dies young; taking such blocks
 * from per-size free lists, carved from 64 KiB slabs, costs a few instructions where
 * malloc and free cost a hundred. Lua tells the allocator the size of every block it frees,
 * so blocks carry no header. Freed blocks go back to their list; only fdn_pool_trim (after a
 * spike, when the node asks) gives the slabs that are wholly free back to the system. */
#ifndef FDN_POOL_H
#define FDN_POOL_H

#include <stddef.h>

#define FDN_POOL_GRAIN 16                                /* block sizes are multiples of it */
#define FDN_POOL_MAX 256                                 /* larger blocks go to malloc */
#define FDN_POOL_CLASSES (FDN_POOL_MAX / FDN_POOL_GRAIN) /* 16, 32, ..., 256 bytes */
/* Slab size, and its alignment: a block's slab is found by masking its address. */
#define FDN_POOL_SLAB (64 * 1024)

struct fdn_pool {
    void *free[FDN_POOL_CLASSES]; /* per size class, linked through each block's first word */
    char *cur, *end;              /* what is left of the newest slab (NULL: none to carve) */
    void *slabs;                  /* every slab, newest first, linked through its header */
    void *spare;                  /* slabs mapped but never used (no memory behind them yet) */
    size_t slab_bytes;            /* held in slabs (spares not counted) */
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
/* Returns to the system every slab all of whose blocks are free, and takes their blocks off
 * the free lists; the other blocks stay where they are. Costs a walk of every free block:
 * for after a spike, not for every call. Returns the bytes given back. */
size_t fdn_pool_trim(struct fdn_pool *p);
/* Returns every slab to the system: every block is invalid after it. */
void fdn_pool_release(struct fdn_pool *p);

#endif
