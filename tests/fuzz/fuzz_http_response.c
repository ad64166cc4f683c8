/* fuzz_http_response.c: libFuzzer target for the outbound client's response parser. The input
 * (its first byte picks a body limit, a HEAD request and a piece size) is parsed whole, then in
 * pieces; both runs must agree on the result, the status, the headers and the body. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_response.h"

struct run {
    int r;
    size_t used;
    int status;
    struct fdn_buf headers, body;
};

static void parse(const char *d, size_t n, size_t piece, size_t max_body, int head, struct run *out)
{
    struct fdn_hresp p;
    fdn_hresp_init(&p, max_body, head);
    size_t off = 0;
    int r = FDN_HRESP_MORE;
    while (off < n && r == FDN_HRESP_MORE) {
        size_t k = n - off < piece ? n - off : piece, used = 0;
        r = fdn_hresp_feed(&p, d + off, k, &used);
        if (used > k)
            abort();
        if (r == FDN_HRESP_MORE && used != k)
            abort();
        off += used;
    }
    if (r == FDN_HRESP_MORE)
        r = fdn_hresp_eof(&p);
    if (r == FDN_HRESP_DONE && (p.status < 200 || p.status > 999 || p.body.len > max_body))
        abort();
    if (r < 0 && !p.err)
        abort();
    out->r = r;
    out->used = off;
    out->status = p.status;
    out->headers = p.headers;
    out->body = p.body;
    p.headers.data = p.body.data = NULL; /* moved to out */
    fdn_buf_init(&p.headers);
    fdn_buf_init(&p.body);
    fdn_hresp_free(&p);
}

static int same(const struct fdn_buf *a, const struct fdn_buf *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned c = data[0];
    size_t max_body = (c & 3) == 0 ? 16 : (c & 3) == 1 ? 300 : 1 << 20;
    int head = (c >> 2) & 1;
    size_t piece = 1 + (c >> 3);
    const char *d = (const char *)data + 1;
    size_t n = size - 1;
    struct run a, b;
    parse(d, n, n ? n : 1, max_body, head, &a);
    parse(d, n, piece, max_body, head, &b);
    /* a DONE response consumed the same bytes either way; an error may be found at once in
     * one run and a little later in the other only if both are errors */
    if ((a.r >= 0 || b.r >= 0) && (a.r != b.r || a.status != b.status))
        abort();
    if (a.r == FDN_HRESP_DONE &&
        (a.used != b.used || !same(&a.headers, &b.headers) || !same(&a.body, &b.body)))
        abort();
    fdn_buf_free(&a.headers);
    fdn_buf_free(&a.body);
    fdn_buf_free(&b.headers);
    fdn_buf_free(&b.body);
    return 0;
}
