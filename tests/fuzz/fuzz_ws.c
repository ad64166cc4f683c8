/* fuzz_ws.c: libFuzzer target for core/ws.c: the input's first byte picks max_message and a split
 * seed, the rest is a stream of client frames read once whole and once in pieces of 1..16 bytes;
 * both reads must agree event by event, and every event must keep the reader's promises. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ws.h"

#define MAX_EVENTS 4096

static const size_t max_messages[] = {0, 1, 7, 125, 126, 1000, 70000, 3};

struct rec {
    int ev, code;
    size_t len;
    uint32_t hash;
};

struct walk {
    struct rec r[MAX_EVENTS];
    size_t n, taken;
};

static uint32_t fnv(const uint8_t *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

/* UTF-8 by the plain definition (RFC 3629 table), apart from the reader's own check. */
static int utf8_ok(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint32_t c = p[i];
        int k = c >= 0xf0 && c < 0xf8   ? 3
                : c >= 0xe0 && c < 0xf0 ? 2
                : c >= 0xc0 && c < 0xe0 ? 1
                                        : 0;
        static const uint32_t mins[] = {0, 0x80, 0x800, 0x10000};
        if (c < 0x80) {
            i++;
            continue;
        }
        if (k == 0)
            return 0;
        uint32_t min = mins[k];
        c &= 0x3fu >> k;
        if (i + (size_t)k >= n)
            return 0;
        for (int j = 1; j <= k; j++) {
            if ((p[i + j] & 0xc0) != 0x80)
                return 0;
            c = c << 6 | (p[i + j] & 0x3f);
        }
        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
            return 0;
        i += (size_t)k + 1;
    }
    return 1;
}

/* RFC 6455 §7.4.1 and the IANA registry since (1012-1014), as ws.c accepts them */
static int close_code_ok(int c)
{
    return c == 1005 || (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) ||
           (c >= 3000 && c <= 4999);
}

/* The promises of one event. */
static void check(const struct fdn_ws_reader *r, enum fdn_ws_event ev, const uint8_t *p, size_t len,
                  size_t max)
{
    if (!p)
        abort();
    switch (ev) {
    case FDN_WS_TEXT:
        if (len > max || !utf8_ok(p, len))
            abort();
        break;
    case FDN_WS_BINARY:
        if (len > max)
            abort();
        break;
    case FDN_WS_PING:
    case FDN_WS_PONG:
        if (len > 125)
            abort();
        break;
    case FDN_WS_CLOSE:
        if (len > 123 || !close_code_ok(r->close_code) || !utf8_ok(p, len) ||
            (r->close_code == 1005 && len))
            abort();
        break;
    case FDN_WS_ERROR:
        if ((r->close_code != 1002 && r->close_code != 1007 && r->close_code != 1009) || !r->error)
            abort();
        break;
    default:
        abort();
    }
}

/* Reads data[0..size) in pieces (all of it at once when seed is 0); records the events. */
static void walk(struct walk *w, const uint8_t *data, size_t size, size_t max, uint32_t seed)
{
    struct fdn_ws_reader r;
    size_t off = 0, end = seed ? 0 : size;
    fdn_ws_reader_init(&r, max);
    w->n = 0;
    for (;;) {
        const uint8_t *p;
        size_t used, len;
        enum fdn_ws_event ev = fdn_ws_read(&r, data + off, end - off, &used, &p, &len);
        if (used > end - off)
            abort();
        off += used;
        if (ev == FDN_WS_NEED_MORE) {
            if (off != end)
                abort();
            if (end == size)
                break;
            seed = seed * 1103515245u + 12345u;
            end += 1 + (seed >> 16) % 16;
            if (end > size)
                end = size;
            continue;
        }
        check(&r, ev, p, len, max);
        if (w->n < MAX_EVENTS)
            w->r[w->n] = (struct rec){ev, r.close_code, len, fnv(p, len)};
        w->n++;
        if (ev == FDN_WS_CLOSE || ev == FDN_WS_ERROR) {
            /* nothing more is taken */
            if (fdn_ws_read(&r, data + off, size - off, &used, &p, &len) != ev || used)
                abort();
            break;
        }
    }
    w->taken = off;
    fdn_ws_reader_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct walk whole, pieces;
    if (size == 0)
        return 0;
    size_t max = max_messages[data[0] % (sizeof max_messages / sizeof *max_messages)];
    uint32_t seed = (uint32_t)(data[0] >> 3) * 2654435761u + 1;
    data++;
    size--;

    /* the accept key of the input's start: 28 characters of base64, or refused */
    char acc[FDN_WS_ACCEPT_LEN + 1];
    size_t klen = size < FDN_WS_KEY_LEN + 2 ? size : FDN_WS_KEY_LEN + 2;
    if (fdn_ws_accept((const char *)data, klen, acc) == 0 &&
        (klen != FDN_WS_KEY_LEN || strlen(acc) != FDN_WS_ACCEPT_LEN))
        abort();

    walk(&whole, data, size, max, 0);
    walk(&pieces, data, size, max, seed);
    if (whole.n != pieces.n || whole.taken != pieces.taken)
        abort();
    for (size_t i = 0; i < whole.n && i < MAX_EVENTS; i++)
        if (whole.r[i].ev != pieces.r[i].ev || whole.r[i].code != pieces.r[i].code ||
            whole.r[i].len != pieces.r[i].len || whole.r[i].hash != pieces.r[i].hash)
            abort();

    /* a server header for each size seen: 2, 4 or 10 bytes by the length */
    for (size_t i = 0; i < whole.n && i < MAX_EVENTS; i++) {
        uint8_t h[FDN_WS_HEADER_MAX];
        size_t len = whole.r[i].len, hl = fdn_ws_header(h, FDN_WS_OP_TEXT, len);
        if (hl != (len < 126 ? 2u : len <= 0xffff ? 4u : 10u) || h[0] != 0x81)
            abort();
    }
    return 0;
}
