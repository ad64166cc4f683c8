/* alloc.h: the Lua state's allocator: a byte count, a cap, and small blocks from a pool. */
#ifndef FDN_ALLOC_H
#define FDN_ALLOC_H

#include <stddef.h>
#include <stdint.h>

#include "pool.h"

struct fdn_alloc {
    size_t used;          /* bytes the Lua state holds */
    size_t peak;          /* the most `used` has been since node.c last reset it */
    size_t cap;           /* refuse allocations beyond it; 0 = no cap */
    uint64_t refused;     /* allocations refused by the cap */
    int enforce;          /* the cap applies only while Lua runs under lua_pcall: C code that
                             pushes a dispatch's arguments must never fail */
    struct fdn_pool pool; /* small blocks (not under AddressSanitizer: it must see each one) */
};

/* The lua_Alloc for lua_newstate; ud is the struct fdn_alloc. */
void *fdn_alloc_lua(void *ud, void *ptr, size_t osize, size_t nsize);
/* Returns the small-block pool to the system: after lua_close. */
void fdn_alloc_release(struct fdn_alloc *a);

#endif
