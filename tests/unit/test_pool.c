/* test_pool.c: the small-block allocator (core/pool.c): sizes and alignment, blocks that do
 * not overlap, reuse by size class, slabs beyond the first, and release. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "pool.h"

#define MANY 5000 /* blocks of 256 bytes: more than four slabs */

static void *blocks[MANY];
static size_t sizes[MANY];

int main(void)
{
    struct fdn_pool p = {0};

    /* every size from 1 to the largest: aligned, writable, distinct */
    for (size_t n = 1; n <= FDN_POOL_MAX; n++) {
        void *b = fdn_pool_alloc(&p, n);
        CHECK(b != NULL && ((uintptr_t)b % FDN_POOL_GRAIN) == 0);
        memset(b, (int)n, n);
        blocks[n] = b;
        sizes[n] = n;
    }
    int intact = 1;
    for (size_t n = 1; n <= FDN_POOL_MAX; n++)
        for (size_t i = 0; i < n; i++)
            intact &= ((unsigned char *)blocks[n])[i] == (unsigned char)n;
    CHECK(intact); /* no block overlaps another */

    /* a freed block comes back for any size of its class, last freed first */
    fdn_pool_free(&p, blocks[20], 20);
    fdn_pool_free(&p, blocks[30], 30);
    CHECK(fdn_pool_alloc(&p, 17) == blocks[30]);
    CHECK(fdn_pool_alloc(&p, 32) == blocks[20]);
    void *other = fdn_pool_alloc(&p, 33); /* the next class: a new block */
    CHECK(other != blocks[20] && other != blocks[30]);

    /* many large blocks: new slabs, still no overlap */
    size_t before = p.slab_bytes;
    for (int i = 0; i < MANY; i++) {
        blocks[i] = fdn_pool_alloc(&p, FDN_POOL_MAX);
        CHECK(blocks[i] != NULL);
        memset(blocks[i], i & 0xff, FDN_POOL_MAX);
    }
    CHECK(p.slab_bytes >= before + (size_t)MANY * FDN_POOL_MAX);
    intact = 1;
    for (int i = 0; i < MANY; i++)
        for (int j = 0; j < FDN_POOL_MAX; j++)
            intact &= ((unsigned char *)blocks[i])[j] == (unsigned char)(i & 0xff);
    CHECK(intact);

    /* freeing them all and allocating again takes no new slab */
    for (int i = 0; i < MANY; i++)
        fdn_pool_free(&p, blocks[i], FDN_POOL_MAX);
    size_t held = p.slab_bytes;
    for (int i = 0; i < MANY; i++)
        blocks[i] = fdn_pool_alloc(&p, 250);
    CHECK(p.slab_bytes == held);

    fdn_pool_release(&p);
    CHECK(p.slabs == NULL && p.slab_bytes == 0 && p.free[0] == NULL);
    CHECK(fdn_pool_alloc(&p, 8) != NULL); /* usable again after release */
    fdn_pool_release(&p);
    return check_summary("pool");
}
