/* buf.c: a growable byte buffer (see buf.h). */
#include "buf.h"

#include <stdint.h>
#include <stdlib.h>

#include "util.h"

void fdn_buf_init(struct fdn_buf *b)
{
    b->data = NULL;
    b->len = b->cap = 0;
}

void fdn_buf_free(struct fdn_buf *b)
{
    if (!b)
        return;
    free(b->data);
    fdn_buf_init(b);
}

void fdn_buf_reserve(struct fdn_buf *b, size_t extra)
{
    if (b->cap - b->len >= extra)
        return;
    size_t need = b->len + extra;
    if (need < b->len)
        abort(); /* size_t overflow: no allocation could satisfy it */
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    b->data = xrealloc(b->data, cap);
    b->cap = cap;
}
