/* test_pool.c: the small-block allocator (core/pool.c): sizes and alignment, blocks that do
 * not overlap, reuse by size class, slabs beyond the first, trim (wholly free slabs go back to
 * the system, the others stay intact), and release. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "pool.h"

#define MANY 5000 /* blocks of 256 bytes: more than four slabs */

static void *blocks[MANY];
static size_t sizes[MANY];
static void *blocks_small[FDN_POOL_MAX + 1]; /* the first ones, one of each size */

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
    memcpy(blocks_small, blocks, sizeof blocks_small); /* (20 and 30 keep their class) */

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

    /* trim: nothing is free, nothing goes */
    CHECK(fdn_pool_trim(&p) == 0 && p.slab_bytes == held);

    /* free all but every 300th block (about one per slab in four): the slabs that hold one
     * stay, intact, the others go; what is allocated next is writable and does not overlap
     * a survivor */
    int kept = 0;
    for (int i = 0; i < MANY; i++) {
        if (i % 300 == 0) {
            memset(blocks[i], 0x5a, 250);
            kept++;
        } else {
            fdn_pool_free(&p, blocks[i], 250);
        }
    }
    size_t gone = fdn_pool_trim(&p);
    CHECK(gone > 0 && gone % FDN_POOL_SLAB == 0 && p.slab_bytes == held - gone);
    CHECK(p.slab_bytes >= (size_t)kept * FDN_POOL_SLAB / 2); /* (two survivors may share one) */
    CHECK(fdn_pool_trim(&p) == 0);                           /* nothing more to give */
    intact = 1;
    for (int i = 0; i < MANY; i += 300)
        for (int j = 0; j < 250; j++)
            intact &= ((unsigned char *)blocks[i])[j] == 0x5a;
    CHECK(intact);
    for (int i = 0; i < MANY; i++) {
        if (i % 300 == 0)
            continue;
        blocks[i] = fdn_pool_alloc(&p, 250);
        memset(blocks[i], 0x33, 250); /* a block of an unmapped slab would fault here */
    }
    intact = 1;
    for (int i = 0; i < MANY; i++)
        for (int j = 0; j < 250; j++)
            intact &= ((unsigned char *)blocks[i])[j] == (i % 300 == 0 ? 0x5a : 0x33);
    CHECK(intact);

    /* everything free: every slab goes, the newest too, and the pool carves anew */
    for (int i = 0; i < MANY; i++)
        fdn_pool_free(&p, blocks[i], 250);
    for (size_t n = 1; n <= FDN_POOL_MAX; n++)
        fdn_pool_free(&p, blocks_small[n], n);
    fdn_pool_free(&p, other, 33);
    CHECK(fdn_pool_trim(&p) > 0);
    CHECK(p.slabs == NULL && p.slab_bytes == 0 && p.cur == NULL);
    for (size_t c = 0; c < FDN_POOL_CLASSES; c++)
        CHECK(p.free[c] == NULL);
    void *again = fdn_pool_alloc(&p, 100);
    CHECK(again != NULL && p.slab_bytes == FDN_POOL_SLAB);
    memset(again, 1, 100);

    fdn_pool_release(&p);
    CHECK(p.slabs == NULL && p.slab_bytes == 0 && p.free[0] == NULL);
    CHECK(fdn_pool_alloc(&p, 8) != NULL); /* usable again after release */
    fdn_pool_release(&p);
    return check_summary("pool");
}
