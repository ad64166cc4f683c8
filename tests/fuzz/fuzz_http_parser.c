/* fuzz_http_parser.c: libFuzzer target for the HTTP/1.1 request parser. The input is parsed
 * whole, then in pieces sized from its first byte; both runs must report the same events, and
 * every field reported must be well formed (known method, origin-form target, Expect). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_parser.h"

#define MAX_BODY 300

struct digest {
    uint64_t h;      /* FNV-1a over every event and its fields */
    uint64_t body_h; /* over the body bytes of the current request */
    uint64_t body_n;
    int errors;
};

static void mix(uint64_t *h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++)
        *h = (*h ^ p[i]) * 1099511628211ULL;
}

static void mix_int(uint64_t *h, uint64_t v)
{
    mix(h, &v, sizeof v);
}

static void check_head(const struct fdn_http_parser *p, struct digest *d)
{
    if (!p->method || !p->target || !*p->method || !*p->target)
        abort();
    for (const char *m = p->method; *m; m++) /* known methods only: uppercase, or M-SEARCH */
        if (!((*m >= 'A' && *m <= 'Z') || *m == '-'))
            abort();
    if (strncasecmp(p->target, "http://", 7) == 0 || strncasecmp(p->target, "https://", 8) == 0)
        abort(); /* an absolute-form target is given in origin form */
    mix(&d->h, p->method, strlen(p->method) + 1);
    mix(&d->h, p->target, strlen(p->target) + 1);
    mix_int(&d->h, (uint64_t)p->version_minor << 8 | p->keep_alive << 3 | p->expect_continue << 2 |
                       p->chunked << 1 | p->upgrade);
    mix_int(&d->h, p->content_length);
    if (p->nheaders > p->max_headers || (p->chunked && p->content_length))
        abort();
    for (size_t i = 0; i < p->nheaders; i++) {
        const struct fdn_hp_header *hd = &p->headers[i];
        if (strlen(hd->name) != hd->name_len || strlen(hd->value) != hd->value_len ||
            hd->name_len == 0)
            abort();
        for (size_t k = 0; k < hd->name_len; k++)
            if (hd->name[k] >= 'A' && hd->name[k] <= 'Z')
                abort();
        if (p->version_minor >= 1 && strcmp(hd->name, "expect") == 0 &&
            strcasecmp(hd->value, "100-continue") != 0)
            abort(); /* any other expectation is refused (417) */
        mix(&d->h, hd->name, hd->name_len + 1);
        mix(&d->h, hd->value, hd->value_len + 1);
    }
}

/* Feeds one piece; returns 1 once the parser stopped on an error. */
static int feed(struct fdn_http_parser *p, const char *data, size_t len, struct digest *d)
{
    for (;;) {
        size_t used = 0, blen = 0;
        const char *b = NULL;
        int ev = fdn_http_parser_feed(p, data, len, &used, &b, &blen);
        if (used > len)
            abort();
        switch (ev) {
        case FDN_HP_HEAD:
            check_head(p, d);
            break;
        case FDN_HP_BODY:
            if (!blen || b < data || b + blen > data + len)
                abort();
            mix(&d->body_h, b, blen);
            d->body_n += blen;
            if (d->body_n > MAX_BODY)
                abort();
            break;
        case FDN_HP_DONE:
            if (!p->chunked && d->body_n != p->content_length)
                abort();
            mix_int(&d->h, d->body_h);
            mix_int(&d->h, d->body_n);
            d->body_h = d->body_n = 0;
            break;
        case FDN_HP_ERROR:
            if (p->status < 400 || p->status > 505 || !p->error)
                abort();
            mix_int(&d->h, (uint64_t)p->status);
            mix_int(&d->h, d->body_n);
            d->errors++;
            return 1;
        default:
            if (used != len)
                abort();
            return 0;
        }
        data += used;
        len -= used;
    }
}

static struct digest run(const uint8_t *data, size_t size, size_t stride)
{
    struct digest d = {14695981039346656037ULL, 14695981039346656037ULL, 0, 0};
    struct fdn_http_parser *p = fdn_http_parser_new(512, 8, MAX_BODY);
    for (size_t off = 0; off < size;) {
        size_t n = size - off < stride ? size - off : stride;
        if (feed(p, (const char *)data + off, n, &d))
            break;
        off += n;
    }
    if (size == 0)
        feed(p, "", 0, &d);
    fdn_http_parser_free(p);
    return d;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t stride = size ? (size_t)(data[0] % 17) + 1 : 1;
    struct digest whole = run(data, size, size ? size : 1);
    struct digest split = run(data, size, stride);
    if (whole.h != split.h || whole.errors != split.errors)
        abort();
    return 0;
}
