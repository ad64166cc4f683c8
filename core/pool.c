/* pool.c: the small-block allocator (see pool.h). Slabs are mapped from the system directly,
 * aligned to their size, so that each can be unmapped on its own once it is wholly free. */
#include "pool.h"

#include <stdint.h>
#include <sys/mman.h>

#define SLAB_BYTES FDN_POOL_SLAB
#define SLAB_GROUP 16 /* slabs mapped at once: one mmap per MiB as the pool grows */

/* At the start of every slab, padded to one grain so that blocks stay aligned. */
struct slab {
    struct slab *next;
    uint32_t carved; /* bytes handed out from it: final once a newer slab is carved */
    uint32_t free;   /* fdn_pool_trim's count of its bytes on the free lists */
};
_Static_assert(sizeof(struct slab) <= FDN_POOL_GRAIN, "slab header larger than a grain");
#define SLAB_HEAD FDN_POOL_GRAIN

static struct slab *slab_of(const void *block)
{
    return (struct slab *)((uintptr_t)block & ~(uintptr_t)(SLAB_BYTES - 1));
}

/* Maps SLAB_GROUP aligned slabs onto the spare list (the mapping is over-sized by one slab,
 * and its unaligned ends unmapped). Their pages take memory only once they are written. */
static int map_group(struct fdn_pool *p)
{
    size_t len = (SLAB_GROUP + 1) * (size_t)SLAB_BYTES;
    char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return -1;
    char *first = (char *)slab_of(m + SLAB_BYTES - 1);
    size_t head = (size_t)(first - m), tail = len - head - SLAB_GROUP * (size_t)SLAB_BYTES;
    if (head)
        munmap(m, head);
    if (tail)
        munmap(first + SLAB_GROUP * (size_t)SLAB_BYTES, tail);
    for (int i = SLAB_GROUP - 1; i >= 0; i--) {
        char *s = first + (size_t)i * SLAB_BYTES;
        *(void **)s = p->spare;
        p->spare = s;
    }
    return 0;
}

/* Records how much of the newest slab is carved (its count is final once another is). */
static void seal(struct fdn_pool *p)
{
    if (p->cur)
        ((struct slab *)p->slabs)->carved = (uint32_t)(p->cur - ((char *)p->slabs + SLAB_HEAD));
}

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
        if (!p->spare && map_group(p) < 0)
            return NULL;
        seal(p);
        struct slab *s = p->spare;
        p->spare = *(void **)s;
        s->next = p->slabs;
        s->carved = 0;
        p->slabs = s;
        p->slab_bytes += SLAB_BYTES;
        p->cur = (char *)s + SLAB_HEAD;
        p->end = (char *)s + SLAB_BYTES;
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

static int empty(const struct slab *s)
{
    return s->free == s->carved;
}

size_t fdn_pool_trim(struct fdn_pool *p)
{
    seal(p);
    for (struct slab *s = p->slabs; s; s = s->next)
        s->free = 0;
    for (size_t c = 0; c < FDN_POOL_CLASSES; c++)
        for (void *b = p->free[c]; b; b = *(void **)b)
            slab_of(b)->free += (uint32_t)((c + 1) * FDN_POOL_GRAIN);
    size_t n = 0;
    for (struct slab *s = p->slabs; s; s = s->next)
        n += empty(s);
    if (n == 0)
        return 0;
    for (size_t c = 0; c < FDN_POOL_CLASSES; c++) {
        void **link = &p->free[c];
        while (*link) {
            void *b = *link;
            if (empty(slab_of(b)))
                *link = *(void **)b;
            else
                link = (void **)b;
        }
    }
    size_t freed = 0;
    for (struct slab **link = (struct slab **)&p->slabs; *link;) {
        struct slab *s = *link;
        if (!empty(s)) {
            link = &s->next;
            continue;
        }
        if (s == p->slabs && p->cur) /* the newest: nothing is carved from it any more */
            p->cur = p->end = NULL;
        *link = s->next;
        munmap(s, SLAB_BYTES);
        freed += SLAB_BYTES;
    }
    p->slab_bytes -= freed;
    return freed;
}

void fdn_pool_release(struct fdn_pool *p)
{
    void **lists[] = {&p->slabs, &p->spare};
    for (int i = 0; i < 2; i++)
        while (*lists[i]) {
            void *next = *(void **)*lists[i];
            munmap(*lists[i], SLAB_BYTES);
            *lists[i] = next;
        }
    *p = (struct fdn_pool){0};
}
