/* test_ws.c: unit tests of the WebSocket codec (ws.c): the accept key, client frames read whole
 * and one byte at a time (masking, fragmentation with control frames between, 16/64-bit
 * lengths, the size limit, UTF-8, close codes, protocol errors) and the server frame header. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ws.h"
#include "check.h"

/* ---- client frames ---- */

static const uint8_t mask_key[4] = {0x37, 0xfa, 0x21, 0x3d};

/* Appends a client frame to out (masked unless masked == 0); b0 is FIN|RSV|opcode. */
static size_t frame(uint8_t *out, uint8_t b0, const void *payload, uint64_t len, int masked)
{
    size_t n = 0;
    out[n++] = b0;
    uint8_t m = masked ? 0x80 : 0;
    if (len < 126) {
        out[n++] = m | (uint8_t)len;
    } else if (len <= 0xffff) {
        out[n++] = m | 126;
        out[n++] = (uint8_t)(len >> 8);
        out[n++] = (uint8_t)len;
    } else {
        out[n++] = m | 127;
        for (int i = 0; i < 8; i++)
            out[n++] = (uint8_t)(len >> (56 - 8 * i));
    }
    if (masked) {
        memcpy(out + n, mask_key, 4);
        n += 4;
    }
    const uint8_t *p = payload;
    for (uint64_t i = 0; p && i < len; i++)
        out[n + i] = masked ? p[i] ^ mask_key[i & 3] : p[i];
    return n + (p ? (size_t)len : 0);
}

#define FIN 0x80

/* ---- reading a stream, collecting what the reader returns ---- */

struct got {
    int ev, code;
    size_t len;
    uint8_t *data;
};

struct run {
    struct got g[16];
    int n;
    size_t taken; /* bytes of the stream consumed */
};

static void run_free(struct run *r)
{
    for (int i = 0; i < r->n; i++)
        free(r->g[i].data);
    r->n = 0;
}

/* Reads data in pieces of chunk bytes (each an exact heap copy, so ASan sees over-reads),
 * until the stream is consumed or the reader closes or fails. */
static void read_all(struct run *out, const uint8_t *data, size_t len, size_t chunk,
                     size_t max_message)
{
    struct fdn_ws_reader r;
    fdn_ws_reader_init(&r, max_message);
    memset(out, 0, sizeof *out);
    size_t off = 0;
    while (off < len && out->n < 16) {
        size_t n = len - off < chunk ? len - off : chunk;
        uint8_t *copy = malloc(n);
        memcpy(copy, data + off, n);
        size_t pos = 0;
        while (pos < n) {
            size_t used;
            const uint8_t *p;
            size_t plen;
            enum fdn_ws_event ev = fdn_ws_read(&r, copy + pos, n - pos, &used, &p, &plen);
            CHECK(used <= n - pos);
            pos += used;
            if (ev == FDN_WS_NEED_MORE) {
                CHECK(pos == n);
                break;
            }
            struct got *g = &out->g[out->n++];
            g->ev = (int)ev;
            g->code = r.close_code;
            g->len = plen;
            g->data = malloc(plen + 1);
            memcpy(g->data, p, plen);
            g->data[plen] = 0;
            if (ev == FDN_WS_ERROR || ev == FDN_WS_CLOSE || out->n == 16) {
                size_t u2;
                /* nothing more is taken */
                CHECK(fdn_ws_read(&r, copy + pos, n - pos, &u2, &p, &plen) == ev && u2 == 0);
                free(copy);
                out->taken = off + pos;
                fdn_ws_reader_free(&r);
                return;
            }
        }
        free(copy);
        off += n;
    }
    out->taken = off;
    fdn_ws_reader_free(&r);
}

/* Reads the stream whole and byte by byte: both must return the same; returns the whole run. */
static void read_both(struct run *whole, const uint8_t *data, size_t len, size_t max)
{
    struct run bytes;
    read_all(whole, data, len, len ? len : 1, max);
    read_all(&bytes, data, len, 1, max);
    int same = whole->n == bytes.n && whole->taken == bytes.taken;
    for (int i = 0; same && i < whole->n; i++)
        same = whole->g[i].ev == bytes.g[i].ev && whole->g[i].code == bytes.g[i].code &&
               whole->g[i].len == bytes.g[i].len &&
               memcmp(whole->g[i].data, bytes.g[i].data, whole->g[i].len) == 0;
    if (!CHECK(same))
        fprintf(stderr, "  whole: %d events, byte by byte: %d\n", whole->n, bytes.n);
    run_free(&bytes);
}

/* One stream, one expected single event (its code for CLOSE/ERROR, its payload otherwise). */
static void expect1(int line, const uint8_t *data, size_t len, size_t max, int ev, int code,
                    const char *payload)
{
    struct run w;
    read_both(&w, data, len, max);
    int ok = w.n == 1 && w.g[0].ev == ev;
    if (ok && (ev == FDN_WS_ERROR || ev == FDN_WS_CLOSE))
        ok = w.g[0].code == code;
    if (ok && payload && ev != FDN_WS_ERROR)
        ok = w.g[0].len == strlen(payload) && memcmp(w.g[0].data, payload, w.g[0].len) == 0;
    if (!check_at(ok, __FILE__, line, "expected event"))
        fprintf(stderr, "  got %d events, first %d code %d\n", w.n, w.n ? w.g[0].ev : -1,
                w.n ? w.g[0].code : 0);
    run_free(&w);
}

#define EXPECT1(buf, len, max, ev, code, payload)                                                  \
    expect1(__LINE__, buf, len, max, ev, code, payload)

/* ---- the tests ---- */

static void test_accept(void)
{
    char out[FDN_WS_ACCEPT_LEN + 1];
    const char *key = "dGhlIHNhbXBsZSBub25jZQ==";
    CHECK(fdn_ws_accept(key, strlen(key), out) == 0);
    CHECK_STR(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    CHECK(strlen(out) == FDN_WS_ACCEPT_LEN);
    const char *bad[] = {
        "",
        "dGhlIHNhbXBsZSBub25jZQ=",   /* 23 characters */
        "dGhlIHNhbXBsZSBub25jZQ===", /* 25 */
        "dGhlIHNhbXBsZSBub25jZQ!=",  /* not base64 */
        "dGhlIHNhbXBsZSBub25jZWVl",  /* 18 bytes */
        "dGhlIHNhbXBsZSBub25jZWU=",  /* 17 bytes */
        "dGhlIHNhbXBsZSBub2 5jZQ=",  /* a space inside */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (!CHECK(fdn_ws_accept(bad[i], strlen(bad[i]), out) == -1))
            fprintf(stderr, "  key \"%s\"\n", bad[i]);
}

static void test_simple(void)
{
    uint8_t b[64];
    /* RFC 6455 §5.7: a masked "Hello" */
    const uint8_t rfc[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
    EXPECT1(rfc, sizeof rfc, 100, FDN_WS_TEXT, 0, "Hello");
    /* the same unmasked: a server would accept it, not from a client */
    const uint8_t unmasked[] = {0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
    EXPECT1(unmasked, sizeof unmasked, 100, FDN_WS_ERROR, 1002, NULL);
    EXPECT1(b, frame(b, FIN | 0x2, "\x00\xff\x80", 3, 1), 100, FDN_WS_BINARY, 0, NULL);
    EXPECT1(b, frame(b, FIN | 0x1, "", 0, 1), 100, FDN_WS_TEXT, 0, "");
    EXPECT1(b, frame(b, FIN | 0x9, "abc", 3, 1), 100, FDN_WS_PING, 0, "abc");
    EXPECT1(b, frame(b, FIN | 0xA, "", 0, 1), 100, FDN_WS_PONG, 0, "");
    /* a zero-length ping ending the input is returned in the same call */
    struct fdn_ws_reader r;
    size_t used, plen;
    const uint8_t *p;
    fdn_ws_reader_init(&r, 100);
    size_t n = frame(b, FIN | 0x9, "", 0, 1);
    CHECK(fdn_ws_read(&r, b, n, &used, &p, &plen) == FDN_WS_PING && used == n && plen == 0);
    CHECK(fdn_ws_read(&r, b, 0, &used, &p, &plen) == FDN_WS_NEED_MORE && used == 0);
    fdn_ws_reader_free(&r);
}

static void test_stream(void)
{
    uint8_t b[256];
    size_t n = 0;
    /* two messages, a ping between the fragments of the second, then a close */
    n += frame(b + n, FIN | 0x1, "one", 3, 1);
    n += frame(b + n, 0x1, "Hel", 3, 1);
    n += frame(b + n, FIN | 0x9, "p", 1, 1);
    n += frame(b + n, 0x0, "l", 1, 1);
    n += frame(b + n, FIN | 0xA, "", 0, 1);
    n += frame(b + n, FIN | 0x0, "o", 1, 1);
    n += frame(b + n, FIN | 0x8,
               "\x03\xe8"
               "bye",
               5, 1);
    size_t before_tail = n;
    n += frame(b + n, FIN | 0x1, "after", 5, 1);
    struct run w;
    read_both(&w, b, n, 100);
    if (CHECK(w.n == 5)) {
        CHECK(w.g[0].ev == FDN_WS_TEXT && w.g[0].len == 3 && !memcmp(w.g[0].data, "one", 3));
        CHECK(w.g[1].ev == FDN_WS_PING && w.g[1].len == 1 && w.g[1].data[0] == 'p');
        CHECK(w.g[2].ev == FDN_WS_PONG && w.g[2].len == 0);
        CHECK(w.g[3].ev == FDN_WS_TEXT && w.g[3].len == 5 && !memcmp(w.g[3].data, "Hello", 5));
        CHECK(w.g[4].ev == FDN_WS_CLOSE && w.g[4].code == 1000 && w.g[4].len == 3 &&
              !memcmp(w.g[4].data, "bye", 3));
    }
    CHECK(w.taken == before_tail); /* nothing after the close is taken */
    run_free(&w);
    /* every split point of the stream into two calls gives the same */
    for (size_t cut = 0; cut <= n; cut++) {
        struct fdn_ws_reader r;
        const uint8_t *p;
        size_t used, plen, off = 0;
        int events = 0;
        fdn_ws_reader_init(&r, 100);
        for (int guard = 0; guard < 20 && off < n; guard++) {
            size_t end = off < cut ? cut : n;
            enum fdn_ws_event ev = fdn_ws_read(&r, b + off, end - off, &used, &p, &plen);
            off += used;
            if (ev == FDN_WS_CLOSE)
                break;
            if (ev != FDN_WS_NEED_MORE)
                events++;
        }
        CHECK(events == 4 && r.close_code == 1000 && off == before_tail);
        fdn_ws_reader_free(&r);
    }
    /* an empty message in two empty fragments */
    n = frame(b, 0x1, "", 0, 1);
    n += frame(b + n, FIN | 0x0, "", 0, 1);
    EXPECT1(b, n, 100, FDN_WS_TEXT, 0, "");
}

static void test_lengths(void)
{
    size_t big = 70000;
    uint8_t *pl = malloc(big), *b = malloc(big + 14);
    for (size_t i = 0; i < big; i++)
        pl[i] = (uint8_t)('a' + i % 26);
    size_t sizes[] = {125, 126, 127, 65535, 65536, 70000};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        size_t n = frame(b, FIN | 0x2, pl, sizes[i], 1);
        CHECK(n == sizes[i] + 4 + (sizes[i] < 126 ? 2 : sizes[i] <= 0xffff ? 4 : 10));
        struct run w;
        read_both(&w, b, n, big);
        CHECK(w.n == 1 && w.g[0].ev == FDN_WS_BINARY && w.g[0].len == sizes[i] &&
              memcmp(w.g[0].data, pl, sizes[i]) == 0);
        run_free(&w);
    }
    /* a short length in the long forms is accepted (the length is what it says) */
    uint8_t s[] = {FIN | 0x1, 0x80 | 126, 0, 2, 0, 0, 0, 0, 'h', 'i'};
    EXPECT1(s, sizeof s, 100, FDN_WS_TEXT, 0, "hi");
    free(pl);
    free(b);
}

static void test_limits(void)
{
    uint8_t b[512];
    size_t n;
    EXPECT1(b, frame(b, FIN | 0x1, "0123456789", 10, 1), 10, FDN_WS_TEXT, 0, "0123456789");
    EXPECT1(b, frame(b, FIN | 0x1, "0123456789a", 11, 1), 10, FDN_WS_ERROR, 1009, NULL);
    /* fragments add up: the second header already shows the message is over */
    n = frame(b, 0x1, "012345", 6, 1);
    n += frame(b + n, FIN | 0x0, "6789a", 5, 1);
    EXPECT1(b, n, 10, FDN_WS_ERROR, 1009, NULL);
    /* the 1009 comes from the header alone: no payload follows, nothing is allocated */
    uint8_t huge[] = {FIN | 0x2, 0x80 | 127, 0x40, 0, 0, 0, 0, 0, 0, 0};
    struct fdn_ws_reader r;
    const uint8_t *p;
    size_t used, plen;
    fdn_ws_reader_init(&r, 1 << 20);
    CHECK(fdn_ws_read(&r, huge, sizeof huge, &used, &p, &plen) == FDN_WS_ERROR &&
          r.close_code == 1009 && r.buf == NULL && used == sizeof huge);
    fdn_ws_reader_free(&r);
    uint8_t mid[] = {FIN | 0x2, 0x80 | 126, 0x01, 0x00}; /* 256 > 255, before the mask */
    fdn_ws_reader_init(&r, 255);
    CHECK(fdn_ws_read(&r, mid, sizeof mid, &used, &p, &plen) == FDN_WS_ERROR &&
          r.close_code == 1009);
    fdn_ws_reader_free(&r);
    uint8_t top[] = {FIN | 0x2, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4};
    EXPECT1(top, sizeof top, 100, FDN_WS_ERROR, 1002, NULL);
    /* control frames do not count toward the limit, and are limited to 125 bytes */
    char c[126];
    memset(c, 'x', sizeof c);
    EXPECT1(b, frame(b, FIN | 0x9, c, 125, 1), 10, FDN_WS_PING, 0, NULL);
    EXPECT1(b, frame(b, FIN | 0x9, c, 126, 1), 1000, FDN_WS_ERROR, 1002, NULL);
    EXPECT1(b, frame(b, FIN | 0xA, c, 126, 1), 1000, FDN_WS_ERROR, 1002, NULL);
    EXPECT1(b, frame(b, FIN | 0x8, c, 126, 1), 1000, FDN_WS_ERROR, 1002, NULL);
    /* max_message 0: only empty messages */
    EXPECT1(b, frame(b, FIN | 0x1, "", 0, 1), 0, FDN_WS_TEXT, 0, "");
    EXPECT1(b, frame(b, FIN | 0x1, "a", 1, 1), 0, FDN_WS_ERROR, 1009, NULL);
}

/* The message buffer: allocated as data arrives, kept between small messages of one read,
 * freed after a large message, and freed whenever the connection idles (a call without input). */
static void test_buffer(void)
{
    static uint8_t b[8192], pl[4096];
    struct fdn_ws_reader r;
    const uint8_t *p;
    size_t used, plen, n;
    memset(pl, 'z', sizeof pl);
    fdn_ws_reader_init(&r, 1 << 20);
    CHECK(r.buf == NULL);
    n = frame(b, FIN | 0x1, pl, 10, 1);
    n += frame(b + n, FIN | 0x1, pl, 10, 1);
    CHECK(fdn_ws_read(&r, b, n, &used, &p, &plen) == FDN_WS_TEXT && plen == 10);
    uint8_t *kept = r.buf;
    CHECK(fdn_ws_read(&r, b + used, n - used, &used, &p, &plen) == FDN_WS_TEXT && plen == 10);
    CHECK(r.buf == kept && kept != NULL); /* a small buffer serves the next message of a read */
    CHECK(fdn_ws_read(&r, b, 0, &used, &p, &plen) == FDN_WS_NEED_MORE);
    CHECK(r.buf == NULL && r.buf_cap == 0); /* idle: freed */
    n = frame(b, FIN | 0x1, pl, sizeof pl, 1);
    CHECK(fdn_ws_read(&r, b, n, &used, &p, &plen) == FDN_WS_TEXT && plen == sizeof pl);
    CHECK(fdn_ws_read(&r, b, 0, &used, &p, &plen) == FDN_WS_NEED_MORE);
    CHECK(r.buf == NULL && r.buf_cap == 0);
    /* a frame that claims 1 MB but sends 100 bytes holds about 100 bytes */
    n = frame(b, FIN | 0x2, NULL, 1 << 20, 1);
    memset(b + n, 0, 100);
    CHECK(fdn_ws_read(&r, b, n + 100, &used, &p, &plen) == FDN_WS_NEED_MORE);
    CHECK(r.buf_cap < 1024);
    fdn_ws_reader_free(&r);
}

static void test_utf8(void)
{
    uint8_t b[256];
    size_t n;
    /* "€" (E2 82 AC) split across fragments, a ping between */
    n = frame(b, 0x1, "a\xe2", 2, 1);
    n += frame(b + n, FIN | 0x9, "", 0, 1);
    n += frame(b + n, FIN | 0x0, "\x82\xac", 2, 1);
    struct run w;
    read_both(&w, b, n, 100);
    CHECK(w.n == 2 && w.g[0].ev == FDN_WS_PING && w.g[1].ev == FDN_WS_TEXT && w.g[1].len == 4 &&
          memcmp(w.g[1].data, "a\xe2\x82\xac", 4) == 0);
    run_free(&w);
    const char *good[] = {"\xf0\x9f\x98\x80", "\xef\xbf\xbf", "\xf4\x8f\xbf\xbf",
                          "plain ascii text, longer than a word"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        EXPECT1(b, frame(b, FIN | 0x1, good[i], strlen(good[i]), 1), 100, FDN_WS_TEXT, 0, good[i]);
    const char *bad[] = {"\xc0\xaf", "\xe2\x82", "ok then \xed\xa0\x80", "\xf4\x90\x80\x80",
                         "\x80",     "\xff",     "\xf0\x9f\x98"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        EXPECT1(b, frame(b, FIN | 0x1, bad[i], strlen(bad[i]), 1), 100, FDN_WS_ERROR, 1007, NULL);
    /* cut short at the message's end, though each fragment could go on */
    n = frame(b, 0x1, "\xe2", 1, 1);
    n += frame(b + n, FIN | 0x0, "\x82", 1, 1);
    EXPECT1(b, n, 100, FDN_WS_ERROR, 1007, NULL);
    /* binary is not checked */
    EXPECT1(b, frame(b, FIN | 0x2, "\xff\xc0", 2, 1), 100, FDN_WS_BINARY, 0, NULL);
}

static void test_close(void)
{
    uint8_t b[256], pl[130];
    /* 1012-1014: registered with IANA since RFC 6455 (service restart, try again later, bad
     * gateway) */
    int ok_codes[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010,
                      1011, 1012, 1013, 1014, 3000, 4000, 4999};
    int bad_codes[] = {0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535};
    EXPECT1(b, frame(b, FIN | 0x8, "", 0, 1), 100, FDN_WS_CLOSE, 1005, "");
    EXPECT1(b, frame(b, FIN | 0x8, "\x03", 1, 1), 100, FDN_WS_ERROR, 1002, NULL);
    for (size_t i = 0; i < sizeof ok_codes / sizeof *ok_codes; i++) {
        fdn_ws_close_payload(pl, ok_codes[i]);
        memcpy(pl + 2, "why \xc3\xa9", 6);
        EXPECT1(b, frame(b, FIN | 0x8, pl, 8, 1), 100, FDN_WS_CLOSE, ok_codes[i], "why \xc3\xa9");
        EXPECT1(b, frame(b, FIN | 0x8, pl, 2, 1), 100, FDN_WS_CLOSE, ok_codes[i], "");
    }
    for (size_t i = 0; i < sizeof bad_codes / sizeof *bad_codes; i++) {
        fdn_ws_close_payload(pl, bad_codes[i]);
        EXPECT1(b, frame(b, FIN | 0x8, pl, 2, 1), 100, FDN_WS_ERROR, 1002, NULL);
    }
    fdn_ws_close_payload(pl, 1000);
    memcpy(pl + 2, "\xc3\x28", 2);
    EXPECT1(b, frame(b, FIN | 0x8, pl, 4, 1), 100, FDN_WS_ERROR, 1007, NULL);
    /* the longest reason */
    memset(pl + 2, 'r', 123);
    EXPECT1(b, frame(b, FIN | 0x8, pl, 125, 1), 100, FDN_WS_CLOSE, 1000, NULL);
    /* a close between fragments is returned at once */
    size_t n = frame(b, 0x1, "part", 4, 1);
    n += frame(b + n, FIN | 0x8, "\x03\xe9", 2, 1);
    EXPECT1(b, n, 100, FDN_WS_CLOSE, 1001, "");
}

static void test_protocol_errors(void)
{
    uint8_t b[256];
    size_t n;
    for (int i = 0; i < 3; i++) /* RSV1..3 */
        EXPECT1(b, frame(b, (uint8_t)(FIN | 0x1 | (0x40 >> i)), "x", 1, 1), 100, FDN_WS_ERROR, 1002,
                NULL);
    for (int op = 3; op <= 7; op++)
        EXPECT1(b, frame(b, (uint8_t)(FIN | op), "x", 1, 1), 100, FDN_WS_ERROR, 1002, NULL);
    for (int op = 0xB; op <= 0xF; op++)
        EXPECT1(b, frame(b, (uint8_t)(FIN | op), "x", 1, 1), 100, FDN_WS_ERROR, 1002, NULL);
    EXPECT1(b, frame(b, 0x9, "x", 1, 1), 100, FDN_WS_ERROR, 1002, NULL); /* ping without FIN */
    EXPECT1(b, frame(b, 0x8, "", 0, 1), 100, FDN_WS_ERROR, 1002, NULL);
    EXPECT1(b, frame(b, FIN | 0x0, "x", 1, 1), 100, FDN_WS_ERROR, 1002, NULL);
    EXPECT1(b, frame(b, 0x0, "x", 1, 1), 100, FDN_WS_ERROR, 1002, NULL);
    /* a new data frame inside a fragmented message */
    n = frame(b, 0x1, "a", 1, 1);
    n += frame(b + n, FIN | 0x1, "b", 1, 1);
    EXPECT1(b, n, 100, FDN_WS_ERROR, 1002, NULL);
    n = frame(b, 0x2, "a", 1, 1);
    n += frame(b + n, 0x2, "b", 1, 1);
    EXPECT1(b, n, 100, FDN_WS_ERROR, 1002, NULL);
    /* the error comes from the first two bytes: nothing else is needed */
    struct fdn_ws_reader r;
    const uint8_t *p;
    size_t used, plen;
    uint8_t two[] = {FIN | 0x1, 0x05};
    fdn_ws_reader_init(&r, 100);
    CHECK(fdn_ws_read(&r, two, 2, &used, &p, &plen) == FDN_WS_ERROR && used == 2 &&
          r.close_code == 1002 && r.error && strstr(r.error, "unmasked"));
    /* and the reader stays dead */
    CHECK(fdn_ws_read(&r, b, 5, &used, &p, &plen) == FDN_WS_ERROR && used == 0);
    fdn_ws_reader_free(&r);
    fdn_ws_reader_free(&r); /* twice is fine */
}

static void test_header(void)
{
    uint8_t h[FDN_WS_HEADER_MAX];
    CHECK(fdn_ws_header(h, FDN_WS_OP_TEXT, 0) == 2 && h[0] == 0x81 && h[1] == 0);
    CHECK(fdn_ws_header(h, FDN_WS_OP_TEXT, 125) == 2 && h[1] == 125);
    CHECK(fdn_ws_header(h, FDN_WS_OP_BINARY, 126) == 4 && h[0] == 0x82 && h[1] == 126 &&
          h[2] == 0 && h[3] == 126);
    CHECK(fdn_ws_header(h, FDN_WS_OP_TEXT, 65535) == 4 && h[2] == 0xff && h[3] == 0xff);
    CHECK(fdn_ws_header(h, FDN_WS_OP_TEXT, 65536) == 10 && h[1] == 127 &&
          memcmp(h + 2, "\0\0\0\0\0\x01\0\0", 8) == 0);
    CHECK(fdn_ws_header(h, FDN_WS_OP_PING, 0x0102030405060708ull) == 10 && h[0] == 0x89 &&
          memcmp(h + 2, "\x01\x02\x03\x04\x05\x06\x07\x08", 8) == 0);
    CHECK(fdn_ws_header(h, FDN_WS_OP_CLOSE, 2) == 2 && h[0] == 0x88 && h[1] == 2);
    CHECK(fdn_ws_header(h, FDN_WS_OP_PONG, 3) == 2 && h[0] == 0x8a);
    uint8_t c[2];
    fdn_ws_close_payload(c, 1009);
    CHECK(c[0] == 0x03 && c[1] == 0xf1);
    fdn_ws_close_payload(c, 4999);
    CHECK(c[0] == 0x13 && c[1] == 0x87);
}

int main(void)
{
    test_accept();
    test_simple();
    test_stream();
    test_lengths();
    test_limits();
    test_buffer();
    test_utf8();
    test_close();
    test_protocol_errors();
    test_header();
    return check_summary("test_ws");
}
