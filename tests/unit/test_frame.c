/* test_frame.c: unit tests of the frame codec: header bytes, round trips, every split point of
 * a stream, the length and type limits, early errors, and no read beyond the bytes given (every
 * parse runs on an exact-size heap copy, so ASan catches an over-read). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "check.h"

/* Parses a heap copy of exactly n bytes of buf. */
static int parse_exact(const uint8_t *buf, size_t n, size_t max, struct fdn_frame *f)
{
    uint8_t *copy = n ? malloc(n) : NULL;
    if (n)
        memcpy(copy, buf, n);
    int r = fdn_frame_parse(copy, n, max, f);
    if (r > 0) { /* keep the body checkable after the copy goes */
        static uint8_t body[1 << 17];
        CHECK(f->body >= copy + FDN_FRAME_HEADER && f->body + f->body_len <= copy + n);
        if (f->body_len <= sizeof body) {
            memcpy(body, f->body, f->body_len);
            f->body = body;
        }
    }
    free(copy);
    return r;
}

static size_t build(uint8_t *out, uint8_t type, uint8_t flags, uint32_t id, const void *body,
                    size_t len)
{
    fdn_frame_header(out, type, flags, id, len);
    memcpy(out + FDN_FRAME_HEADER, body, len);
    return FDN_FRAME_HEADER + len;
}

static void test_header(void)
{
    uint8_t h[FDN_FRAME_HEADER];
    fdn_frame_header(h, FDN_FRAME_REQ, 0xA5, 0x01020304u, 0x1234);
    const uint8_t want[] = {0x00, 0x00, 0x12, 0x3A, 3, 0xA5, 0x01, 0x02, 0x03, 0x04};
    CHECK(memcmp(h, want, sizeof want) == 0);
    fdn_frame_header(h, FDN_FRAME_PING, 0, 0xFFFFFFFFu, 0);
    const uint8_t want2[] = {0, 0, 0, 6, 8, 0, 0xFF, 0xFF, 0xFF, 0xFF};
    CHECK(memcmp(h, want2, sizeof want2) == 0);
}

static void test_round_trip(void)
{
    static uint8_t buf[FDN_FRAME_HEADER + 100000], body[100000];
    const size_t lens[] = {0, 1, 2, 9, 10, 255, 256, 65535, 65536, 100000};
    for (size_t i = 0; i < sizeof body; i++)
        body[i] = (uint8_t)(i * 7 + 3);
    for (int type = 1; type <= FDN_FRAME_TYPE_MAX; type++) {
        for (size_t k = 0; k < sizeof lens / sizeof *lens; k++) {
            uint32_t id = (uint32_t)(type * 0x10001u + k) ^ (k & 1 ? 0xFFFFFFFFu : 0);
            size_t n = build(buf, (uint8_t)type, (uint8_t)(k * 31), id, body, lens[k]);
            struct fdn_frame f;
            int r = parse_exact(buf, n, 0, &f);
            CHECK(r == (int)n);
            CHECK(f.size == n);
            CHECK(f.type == type);
            CHECK(f.flags == (uint8_t)(k * 31));
            CHECK(f.id == id);
            CHECK(f.body_len == lens[k]);
            CHECK(memcmp(f.body, body, lens[k]) == 0);
        }
    }
}

/* A stream of frames cut at every point: a prefix parses as "need more" until the first
 * frame is whole, and then always as that frame; walking the stream finds every frame. */
static void test_splits(void)
{
    uint8_t stream[512];
    size_t n = 0, sizes[8], nf = 0;
    const char *bodies[] = {"{\"hello\":1}", "", "[1,2,3]", "x", "{\"id\":7,\"text\":\"hi\"}"};
    const uint8_t types[] = {FDN_FRAME_HELLO, FDN_FRAME_PING, FDN_FRAME_REQ, FDN_FRAME_EVT,
                             FDN_FRAME_RES};
    for (size_t i = 0; i < 5; i++) {
        sizes[nf++] = build(stream + n, types[i], (uint8_t)i, (uint32_t)i + 100, bodies[i],
                            strlen(bodies[i]));
        n += sizes[nf - 1];
    }
    for (size_t cut = 0; cut <= n; cut++) {
        struct fdn_frame f;
        int r = parse_exact(stream, cut, 1024, &f);
        if (cut < sizes[0]) {
            CHECK(r == 0);
            CHECK(f.size == (cut >= FDN_FRAME_HEADER ? sizes[0] : 0));
        } else {
            CHECK(r == (int)sizes[0]);
            CHECK(f.type == FDN_FRAME_HELLO && f.id == 100);
        }
        /* walk the prefix frame by frame */
        size_t off = 0, k = 0;
        while ((r = parse_exact(stream + off, cut - off, 1024, &f)) > 0) {
            CHECK(k < nf && (size_t)r == sizes[k]);
            CHECK(f.type == types[k] && f.flags == k && f.id == k + 100);
            CHECK(f.body_len == strlen(bodies[k]) && !memcmp(f.body, bodies[k], f.body_len));
            off += (size_t)r;
            k++;
        }
        CHECK(r == 0);
        size_t whole = 0, expect = 0;
        for (size_t j = 0; j < nf; j++)
            if ((whole += sizes[j]) <= cut)
                expect++;
        CHECK(k == expect);
    }
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void test_limits(void)
{
    uint8_t buf[4 + 2000];
    struct fdn_frame f;
    memset(buf, 'a', sizeof buf);
    buf[4] = FDN_FRAME_REQ;
    /* length == max_frame is accepted; one more is refused from the 4 length bytes on */
    put32(buf, 1000);
    CHECK(parse_exact(buf, 1004, 1000, &f) == 1004);
    CHECK(f.body_len == 1000 - FDN_FRAME_MIN_LEN);
    CHECK(parse_exact(buf, 1003, 1000, &f) == 0 && f.size == 1004);
    put32(buf, 1001);
    for (size_t n = 4; n <= 1005; n++)
        CHECK(parse_exact(buf, n, 1000, &f) == FDN_FRAME_ETOOLARGE);
    CHECK(parse_exact(buf, 3, 1000, &f) == 0 && f.size == 0);
    put32(buf, 0xFFFFFFFFu);
    CHECK(parse_exact(buf, 4, 0, &f) == FDN_FRAME_ETOOLARGE);
    CHECK(parse_exact(buf, 4, (size_t)-1, &f) == FDN_FRAME_ETOOLARGE);
    put32(buf, FDN_FRAME_CEILING);
    CHECK(parse_exact(buf, 10, 0, &f) == 0 && f.size == FDN_FRAME_CEILING + 4);
    put32(buf, FDN_FRAME_CEILING + 1);
    CHECK(parse_exact(buf, 10, 0, &f) == FDN_FRAME_ETOOLARGE);
    /* too short: 0..5 */
    for (uint32_t len = 0; len < FDN_FRAME_MIN_LEN; len++) {
        put32(buf, len);
        CHECK(parse_exact(buf, 4, 1000, &f) == FDN_FRAME_ETOOSHORT);
        CHECK(parse_exact(buf, 20, 1000, &f) == FDN_FRAME_ETOOSHORT);
    }
    /* the smallest frame: empty body */
    put32(buf, FDN_FRAME_MIN_LEN);
    CHECK(parse_exact(buf, 10, 1000, &f) == 10 && f.body_len == 0 && f.body != NULL);
    CHECK(parse_exact(buf, 10, FDN_FRAME_MIN_LEN, &f) == 10);
    CHECK(parse_exact(buf, 9, 1000, &f) == 0 && f.size == 0);
}

static void test_types(void)
{
    uint8_t buf[16] = {0, 0, 0, 6};
    struct fdn_frame f;
    for (int t = 0; t < 256; t++) {
        buf[4] = (uint8_t)t;
        int valid = t >= 1 && t <= FDN_FRAME_TYPE_MAX;
        CHECK(parse_exact(buf, 4, 0, &f) == 0); /* the type is not seen yet */
        CHECK(parse_exact(buf, 5, 0, &f) == (valid ? 0 : FDN_FRAME_ETYPE));
        CHECK(parse_exact(buf, 10, 0, &f) == (valid ? 10 : FDN_FRAME_ETYPE));
        CHECK(strcmp(fdn_frame_type_name(t), "?") != 0 || !valid);
    }
    /* the length is judged before the type */
    buf[4] = 0;
    put32(buf, 2);
    CHECK(parse_exact(buf, 10, 0, &f) == FDN_FRAME_ETOOSHORT);
    CHECK_STR(fdn_frame_type_name(FDN_FRAME_HELLO), "HELLO");
    CHECK_STR(fdn_frame_type_name(FDN_FRAME_PEERS), "PEERS");
    CHECK_STR(fdn_frame_type_name(-1), "?");
    CHECK_STR(fdn_frame_strerror(FDN_FRAME_ETOOLARGE), "frame too large");
    CHECK_STR(fdn_frame_strerror(FDN_FRAME_ETOOSHORT), "frame too short");
    CHECK_STR(fdn_frame_strerror(FDN_FRAME_ETYPE), "unknown frame type");
    CHECK_STR(fdn_frame_strerror(-99), "frame error");
}

static void test_empty(void)
{
    struct fdn_frame f;
    f.size = 123;
    CHECK(fdn_frame_parse(NULL, 0, 0, &f) == 0 && f.size == 0);
}

int main(void)
{
    test_header();
    test_round_trip();
    test_splits();
    test_limits();
    test_types();
    test_empty();
    return check_summary("test_frame");
}
