/* buf.h: a growable byte buffer (JSON is encoded into one, frames are built in one); growth
 * that cannot be allocated aborts (xrealloc). Pure: no I/O. */
#ifndef FDN_BUF_H
#define FDN_BUF_H

#include <stddef.h>
#include <string.h>

struct fdn_buf {
    char *data;
    size_t len, cap;
};

void fdn_buf_init(struct fdn_buf *b);
void fdn_buf_free(struct fdn_buf *b);                  /* frees data and re-inits; accepts NULL */
void fdn_buf_reserve(struct fdn_buf *b, size_t extra); /* ensures cap >= len + extra */

/* Room for n more bytes at the end (len is not moved). */
static inline char *fdn_buf_room(struct fdn_buf *b, size_t n)
{
    if (b->cap - b->len < n)
        fdn_buf_reserve(b, n);
    return b->data + b->len;
}

static inline void fdn_buf_put(struct fdn_buf *b, const void *s, size_t n)
{
    if (n) {
        memcpy(fdn_buf_room(b, n), s, n);
        b->len += n;
    }
}

static inline void fdn_buf_putc(struct fdn_buf *b, char c)
{
    *fdn_buf_room(b, 1) = c;
    b->len++;
}

#endif
