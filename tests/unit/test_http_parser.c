/* test_http_parser.c: unit tests of the incremental HTTP/1.1 request parser: request shapes,
 * every split of the input, pipelining, chunked bodies, limits and malformed input. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_parser.h"
#include "check.h"

#define MAX_BODY 64

/* A transcript of every event, to compare runs fed with different splits. */
struct run {
    char log[16384];
    size_t n;
    char body[4096];
    size_t body_len;
    int requests, status;
};

static void say(struct run *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(r->log + r->n, sizeof r->log - r->n, fmt, ap);
    va_end(ap);
    if (k > 0)
        r->n = r->n + (size_t)k < sizeof r->log ? r->n + (size_t)k : sizeof r->log - 1;
}

/* Feeds data[0..len) as one piece; returns the last event. */
static int feed(struct fdn_http_parser *p, struct run *r, const char *data, size_t len)
{
    for (;;) {
        size_t used = 0, blen = 0;
        const char *b = NULL;
        int ev = fdn_http_parser_feed(p, data, len, &used, &b, &blen);
        CHECK(used <= len);
        data += used;
        len -= used;
        switch (ev) {
        case FDN_HP_HEAD:
            say(r, "HEAD %s %s 1.%d ka=%d ec=%d ch=%d up=%d cl=%llu\n", p->method, p->target,
                p->version_minor, p->keep_alive, p->expect_continue, p->chunked, p->upgrade,
                (unsigned long long)p->content_length);
            for (size_t i = 0; i < p->nheaders; i++) {
                CHECK(strlen(p->headers[i].name) == p->headers[i].name_len);
                CHECK(strlen(p->headers[i].value) == p->headers[i].value_len);
                say(r, "  %s=[%s]\n", p->headers[i].name, p->headers[i].value);
            }
            break;
        case FDN_HP_BODY:
            CHECK(blen > 0 && b != NULL);
            CHECK(r->body_len + blen <= sizeof r->body);
            if (r->body_len + blen <= sizeof r->body) {
                memcpy(r->body + r->body_len, b, blen);
                r->body_len += blen;
            }
            break;
        case FDN_HP_DONE:
            say(r, "BODY %zu [%.*s]\nDONE\n", r->body_len, (int)r->body_len, r->body);
            r->body_len = 0;
            r->requests++;
            break;
        case FDN_HP_ERROR:
            CHECK(p->status >= 400 && p->error != NULL);
            say(r, "ERROR %d body=%zu\n", p->status, r->body_len);
            r->status = p->status;
            return ev;
        default:
            CHECK(len == 0);
            return ev;
        }
    }
}

static struct fdn_http_parser *parser(void)
{
    return fdn_http_parser_new(1024, 10, MAX_BODY);
}

/* Parses s whole; then at every split point, and byte by byte, expecting the same transcript. */
static void parse(const char *s, size_t len, struct run *whole)
{
    memset(whole, 0, sizeof *whole);
    struct fdn_http_parser *p = parser();
    feed(p, whole, s, len);
    fdn_http_parser_free(p);
    for (size_t k = 0; k <= len; k++) {
        struct run r = {0};
        p = parser();
        if (feed(p, &r, s, k) != FDN_HP_ERROR)
            feed(p, &r, s + k, len - k);
        CHECK(r.n == whole->n && memcmp(r.log, whole->log, r.n) == 0);
        if (r.n != whole->n || memcmp(r.log, whole->log, r.n) != 0)
            fprintf(stderr, "split at %zu differs:\n%s---\n%s", k, r.log, whole->log);
        fdn_http_parser_free(p);
    }
    struct run r = {0};
    p = parser();
    for (size_t i = 0; i < len; i++)
        if (feed(p, &r, s + i, 1) == FDN_HP_ERROR)
            break;
    CHECK(r.n == whole->n && memcmp(r.log, whole->log, r.n) == 0);
    fdn_http_parser_free(p);
}

/* Parses s and checks its transcript is exactly want. */
static void expect(const char *s, const char *want)
{
    struct run r;
    parse(s, strlen(s), &r);
    if (!CHECK(strcmp(r.log, want) == 0))
        fprintf(stderr, "input:\n%s\ngot:\n%s\nwant:\n%s\n", s, r.log, want);
}

/* Parses s and checks it ends in an error with this status. */
static void expect_error(const char *s, size_t len, int status)
{
    struct run r;
    parse(s, len, &r);
    if (!CHECK(r.status == status))
        fprintf(stderr, "input [%.*s]: status %d, want %d\n%s", (int)len, s, r.status, status,
                r.log);
}

#define BAD(s, status) expect_error(s, sizeof(s) - 1, status)

static void test_shapes(void)
{
    expect(
        "GET /users?id=1&x=%20 HTTP/1.1\r\nHost: a\r\n\r\n",
        "HEAD GET /users?id=1&x=%20 1.1 ka=1 ec=0 ch=0 up=0 cl=0\n  host=[a]\nBODY 0 []\nDONE\n");
    expect("GET / HTTP/1.0\r\n\r\n", "HEAD GET / 1.0 ka=0 ec=0 ch=0 up=0 cl=0\nBODY 0 []\nDONE\n");
    expect("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
           "HEAD GET / 1.0 ka=1 ec=0 ch=0 up=0 cl=0\n  connection=[Keep-Alive]\nBODY 0 []\nDONE\n");
    expect("GET / HTTP/1.1\r\nConnection: keep-alive, CLOSE\r\n\r\n",
           "HEAD GET / 1.1 ka=0 ec=0 ch=0 up=0 cl=0\n  connection=[keep-alive, CLOSE]\n"
           "BODY 0 []\nDONE\n");
    expect("POST /m HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
           "HEAD POST /m 1.1 ka=1 ec=0 ch=0 up=0 cl=5\n  content-length=[5]\n"
           "BODY 5 [hello]\nDONE\n");
    expect("PATCH /m/1 HTTP/1.1\r\nX-Mixed-CASE:  \t v a l \t \r\nX-Empty:\r\nX-E2: \t\r\n\r\n",
           "HEAD PATCH /m/1 1.1 ka=1 ec=0 ch=0 up=0 cl=0\n  x-mixed-case=[v a l]\n  x-empty=[]\n"
           "  x-e2=[]\nBODY 0 []\nDONE\n");
    expect("GET / HTTP/1.1\r\nA: 1\r\nA: 2\r\nObs: caf\xc3\xa9\r\n\r\n",
           "HEAD GET / 1.1 ka=1 ec=0 ch=0 up=0 cl=0\n  a=[1]\n  a=[2]\n  obs=[caf\xc3\xa9]\n"
           "BODY 0 []\nDONE\n");
    expect("\r\n\r\nOPTIONS * HTTP/1.1\r\n\r\n",
           "HEAD OPTIONS * 1.1 ka=1 ec=0 ch=0 up=0 cl=0\nBODY 0 []\nDONE\n");
    expect("DELETE /m?x HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n",
           "HEAD DELETE /m?x 1.1 ka=1 ec=0 ch=0 up=0 cl=0\n  content-length=[0]\n"
           "  content-length=[0]\nBODY 0 []\nDONE\n");
    expect("POST / HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 2\r\n\r\nok",
           "HEAD POST / 1.1 ka=1 ec=1 ch=0 up=0 cl=2\n  expect=[100-Continue]\n"
           "  content-length=[2]\nBODY 2 [ok]\nDONE\n");
    expect("GET / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n",
           "HEAD GET / 1.1 ka=1 ec=0 ch=0 up=0 cl=0\n  expect=[100-continue]\nBODY 0 []\nDONE\n");
    expect("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx",
           "HEAD POST / 1.0 ka=0 ec=0 ch=0 up=0 cl=1\n  expect=[100-continue]\n"
           "  content-length=[1]\nBODY 1 [x]\nDONE\n");
    expect("GET /ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
           "HEAD GET /ws 1.1 ka=1 ec=0 ch=0 up=1 cl=0\n  connection=[Upgrade]\n"
           "  upgrade=[websocket]\nBODY 0 []\nDONE\n");
}

static void test_chunked(void)
{
    expect("POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
           "5;ext=1\r\nhello\r\n6 ; a=\"b c\";b\r\n world\r\nA\r\n0123456789\r\n"
           "0;last\r\nX-Trailer: 1\r\nY: \r\n\r\n",
           "HEAD POST /c 1.1 ka=1 ec=0 ch=1 up=0 cl=0\n  transfer-encoding=[chunked]\n"
           "BODY 21 [hello world0123456789]\nDONE\n");
    expect("POST /c HTTP/1.1\r\nTransfer-Encoding: , Chunked\r\n\r\n0000\r\n\r\n",
           "HEAD POST /c 1.1 ka=1 ec=0 ch=1 up=0 cl=0\n  transfer-encoding=[, Chunked]\n"
           "BODY 0 []\nDONE\n");
    expect("POST /c HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n"
           "1\r\na\r\n0\r\n\r\n",
           "HEAD POST /c 1.0 ka=0 ec=0 ch=1 up=0 cl=0\n  connection=[keep-alive]\n"
           "  transfer-encoding=[chunked]\nBODY 1 [a]\nDONE\n");
}

static void test_pipelined(void)
{
    expect("GET /a HTTP/1.1\r\n\r\n"
           "POST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
           "PUT /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nxy\r\n0\r\n\r\n"
           "GET /d HTTP/1.1\r\nConnection: close\r\n\r\n"
           "GET /e HT",
           "HEAD GET /a 1.1 ka=1 ec=0 ch=0 up=0 cl=0\nBODY 0 []\nDONE\n"
           "HEAD POST /b 1.1 ka=1 ec=0 ch=0 up=0 cl=3\n  content-length=[3]\nBODY 3 [abc]\nDONE\n"
           "HEAD PUT /c 1.1 ka=1 ec=0 ch=1 up=0 cl=0\n  transfer-encoding=[chunked]\n"
           "BODY 2 [xy]\nDONE\n"
           "HEAD GET /d 1.1 ka=0 ec=0 ch=0 up=0 cl=0\n  connection=[close]\nBODY 0 []\nDONE\n");
    /* an error in the second request keeps the first */
    expect("GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\nBad Header: x\r\n\r\n",
           "HEAD GET /a 1.1 ka=1 ec=0 ch=0 up=0 cl=0\nBODY 0 []\nDONE\nERROR 400 body=0\n");
}

static void test_limits(void)
{
    struct fdn_http_parser *p = parser();
    const char *head = "POST / HTTP/1.1\r\nContent-Length: 65\r\n\r\n";
    size_t used = 0, blen;
    const char *b;
    /* 413 is known from the head alone, before any body byte */
    CHECK(fdn_http_parser_feed(p, head, strlen(head), &used, &b, &blen) == FDN_HP_ERROR);
    CHECK(p->status == 413 && used == strlen(head));
    CHECK(fdn_http_parser_feed(p, "x", 1, &used, &b, &blen) == FDN_HP_ERROR); /* sticky */
    fdn_http_parser_free(p);
    BAD("POST / HTTP/1.1\r\nContent-Length: 65\r\n\r\n", 413);
    BAD("POST / HTTP/1.1\r\nContent-Length: 18446744073709551615\r\n\r\n", 413);
    expect("POST / HTTP/1.1\r\nContent-Length: 64\r\n\r\n"
           "0123456789012345678901234567890123456789012345678901234567890123",
           "HEAD POST / 1.1 ka=1 ec=0 ch=0 up=0 cl=64\n  content-length=[64]\n"
           "BODY 64 [0123456789012345678901234567890123456789012345678901234567890123]\nDONE\n");
    /* chunked: refused at the size line that would pass the limit, before its data */
    expect("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n20\r\n"
           "0123456789012345678901234567890x\r\n21\r\n",
           "HEAD POST / 1.1 ka=1 ec=0 ch=1 up=0 cl=0\n  transfer-encoding=[chunked]\n"
           "ERROR 413 body=32\n");
    BAD("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n", 413);
    /* head limit 1024 bytes in all, 10 headers */
    char big[2048];
    int n = snprintf(big, sizeof big, "GET / HTTP/1.1\r\nX: %0*d\r\n\r\n", 1024 - 23, 0);
    CHECK(n == 1024);
    struct run r;
    parse(big, (size_t)n, &r);
    CHECK(r.requests == 1 && r.status == 0);
    n = snprintf(big, sizeof big, "GET / HTTP/1.1\r\nX: %0*d\r\n\r\n", 1024 - 22, 0);
    expect_error(big, (size_t)n, 431);
    n = snprintf(big, sizeof big, "GET /%0*d", 2000, 0); /* no line end at all */
    expect_error(big, (size_t)n, 431);
    n = snprintf(big, sizeof big, "GET / HTTP/1.1\r\n");
    for (int i = 0; i < 10; i++)
        n += snprintf(big + n, sizeof big - (size_t)n, "H%d: v\r\n", i);
    parse(big, (size_t)n + (size_t)snprintf(big + n, sizeof big - (size_t)n, "\r\n"), &r);
    CHECK(r.requests == 1);
    snprintf(big + n, sizeof big - (size_t)n, "H10: v\r\n\r\n");
    expect_error(big, strlen(big), 431);
    n = snprintf(big, sizeof big, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n");
    n += snprintf(big + n, sizeof big - (size_t)n, "T: %0*d\r\n\r\n", 1100, 0);
    expect_error(big, (size_t)n, 431);
}

static void test_malformed(void)
{
    BAD("GET / HTTP/1.1\n\n", 400);
    BAD("GET / HTTP/1.1\r\nHost: a\n\r\n", 400);
    BAD("GET / HTTP/1.1\r\nX: a\rb\r\n\r\n", 400);
    BAD("GET / HTTP/1.1\r\r\n\r\n", 400);
    BAD("GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", 400);
    BAD("GET / HTTP/1.1\r\n\tX: a\r\n\r\n", 400);
    BAD("GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400);
    BAD("GET / HTTP/1.1\r\n: a\r\n\r\n", 400);
    BAD("GET / HTTP/1.1\r\nNoColon\r\n\r\n", 400);
    BAD("GET / HTTP/1.1\r\nX: a\0b\r\n\r\n", 400);
    BAD("GET / HTTP/1.1\r\nX: a\x7f\r\n\r\n", 400);
    BAD("POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400);
    BAD("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n", 400);
    BAD("POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n", 400);
    BAD("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400);
    BAD("POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\n", 400);
    BAD("POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n", 400);
    BAD("POST / HTTP/1.1\r\nContent-Length: 1, 1\r\n\r\n", 400);
    BAD("POST / HTTP/1.1\r\nContent-Length:\r\n\r\n", 400);
    BAD("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400);
    BAD("POST / HTTP/1.1\r\nContent-Length: 18446744073709551616\r\n\r\n", 400);
    BAD("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400);
    BAD("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501);
    BAD("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 400);
    BAD("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400);
    BAD("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400);
    BAD("POST / HTTP/1.1\r\nTransfer-Encoding:\r\n\r\n", 400);
    BAD("GET  / HTTP/1.1\r\n\r\n", 400);
    BAD("GET /  HTTP/1.1\r\n\r\n", 400);
    BAD("GET /\r\n\r\n", 400);
    BAD("GET / HTTP/1.1 \r\n\r\n", 400);
    BAD("GET / HTTP/1.10\r\n\r\n", 400);
    BAD("GET / http/1.1\r\n\r\n", 400);
    BAD("GET / HTTP/1.x\r\n\r\n", 400);
    BAD("G@T / HTTP/1.1\r\n\r\n", 400);
    BAD(" GET / HTTP/1.1\r\n\r\n", 400);
    BAD("GET /\x01 HTTP/1.1\r\n\r\n", 400);
    BAD("GET /\x80 HTTP/1.1\r\n\r\n", 400);
    BAD("GET / HTTP/2.0\r\n\r\n", 505);
    BAD("GET / HTTP/0.9\r\n\r\n", 505);
    BAD("\x16\x03\x01\x02\x00", 400); /* a TLS hello is refused at its first byte */
    BAD("\n", 400);
    /* chunked framing */
    const char *te = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
    const char *bad_chunks[] = {
        "zz\r\n",
        "\r\n",
        ";x\r\n",
        "5 \r\nhello\r\n0\r\n\r\n",
        "5\nhello",
        "5\r\rhello",
        "5\r\nhelloXX",
        "5\r\nhello\r0\r\n\r\n",
        "5;a\x01\r\n",
        "5;a\rb\r\n",
        "11111111111111111\r\n",
        "0\r\nX\r\n\r\n",
        "0\r\n: v\r\n\r\n",
        "0\r\n v\r\n\r\n",
        "0\r\nX: a\nY: b\r\n\r\n",
        "0\r\n\r\r",
        "0\r\nX: \x01\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad_chunks / sizeof *bad_chunks; i++) {
        char buf[256];
        int n = snprintf(buf, sizeof buf, "%s%s", te, bad_chunks[i]);
        expect_error(buf, (size_t)n, 400);
    }
    char line[8192];
    int n = snprintf(line, sizeof line, "%s1;%0*d\r\n", te, 5000, 0);
    expect_error(line, (size_t)n, 400);
}

/* Methods are case-sensitive and known; expectations other than 100-continue are refused;
 * an absolute-form target is given in origin form. */
static void test_edges(void)
{
    BAD("get / HTTP/1.1\r\n\r\n", 400);
    BAD("Get / HTTP/1.1\r\n\r\n", 400);
    BAD("post / HTTP/1.1\r\nContent-Length: 1\r\n\r\nx", 400);
    BAD("FOO / HTTP/1.1\r\n\r\n", 400);
    BAD("GETS / HTTP/1.1\r\n\r\n", 400);
    BAD("GE / HTTP/1.1\r\n\r\n", 400);
    BAD("get / HTTP/1.0\r\n\r\n", 400);
    expect("M-SEARCH * HTTP/1.1\r\n\r\n",
           "HEAD M-SEARCH * 1.1 ka=1 ec=0 ch=0 up=0 cl=0\nBODY 0 []\nDONE\n");
    expect("UNSUBSCRIBE /x HTTP/1.1\r\n\r\n",
           "HEAD UNSUBSCRIBE /x 1.1 ka=1 ec=0 ch=0 up=0 cl=0\nBODY 0 []\nDONE\n");
    /* an HTTP/2 preface is still told its version is not supported */
    BAD("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505);

    BAD("POST / HTTP/1.1\r\nExpect: 200-ok\r\nContent-Length: 1\r\n\r\nx", 417);
    BAD("GET / HTTP/1.1\r\nExpect: whatever\r\n\r\n", 417);
    BAD("GET / HTTP/1.1\r\nExpect:\r\n\r\n", 417);
    BAD("POST / HTTP/1.1\r\nExpect: 100-continue, x\r\nContent-Length: 1\r\n\r\nx", 417);
    BAD("POST / HTTP/1.1\r\nExpect: 100-continue\r\nExpect: x\r\nContent-Length: 1\r\n\r\n", 417);
    expect("POST / HTTP/1.1\r\nExpect:  100-CONTINUE \r\nContent-Length: 1\r\n\r\nx",
           "HEAD POST / 1.1 ka=1 ec=1 ch=0 up=0 cl=1\n  expect=[100-CONTINUE]\n"
           "  content-length=[1]\nBODY 1 [x]\nDONE\n");
    expect("GET / HTTP/1.0\r\nExpect: x\r\n\r\n", /* HTTP/1.0 knows no Expect */
           "HEAD GET / 1.0 ka=0 ec=0 ch=0 up=0 cl=0\n  expect=[x]\nBODY 0 []\nDONE\n");
    /* the first request of a pipeline is kept when the second expects too much */
    expect("GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\nExpect: x\r\n\r\n",
           "HEAD GET /a 1.1 ka=1 ec=0 ch=0 up=0 cl=0\nBODY 0 []\nDONE\nERROR 417 body=0\n");

    expect("GET http://host:3060/echo/1?x=1 HTTP/1.1\r\nHost: h\r\n\r\n",
           "HEAD GET /echo/1?x=1 1.1 ka=1 ec=0 ch=0 up=0 cl=0\n  host=[h]\nBODY 0 []\nDONE\n");
    expect("DELETE HTTPS://u@h:1/a/b/ HTTP/1.1\r\n\r\n",
           "HEAD DELETE /a/b/ 1.1 ka=1 ec=0 ch=0 up=0 cl=0\nBODY 0 []\nDONE\n");
    expect("GET http://h?a=b HTTP/1.1\r\n\r\n",
           "HEAD GET /?a=b 1.1 ka=1 ec=0 ch=0 up=0 cl=0\nBODY 0 []\nDONE\n");
    expect("GET http://h HTTP/1.1\r\n\r\n",
           "HEAD GET / 1.1 ka=1 ec=0 ch=0 up=0 cl=0\nBODY 0 []\nDONE\n");
    expect("GET http:// HTTP/1.1\r\n\r\n",
           "HEAD GET / 1.1 ka=1 ec=0 ch=0 up=0 cl=0\nBODY 0 []\nDONE\n");
    expect("GET http://?q HTTP/1.1\r\n\r\n",
           "HEAD GET /?q 1.1 ka=1 ec=0 ch=0 up=0 cl=0\nBODY 0 []\nDONE\n");
    expect("GET http:/x HTTP/1.1\r\n\r\n", /* not a URL: left alone */
           "HEAD GET http:/x 1.1 ka=1 ec=0 ch=0 up=0 cl=0\nBODY 0 []\nDONE\n");
    expect("GET ftp://h/x HTTP/1.1\r\n\r\n",
           "HEAD GET ftp://h/x 1.1 ka=1 ec=0 ch=0 up=0 cl=0\nBODY 0 []\nDONE\n");
    expect("CONNECT h:443 HTTP/1.1\r\n\r\n",
           "HEAD CONNECT h:443 1.1 ka=1 ec=0 ch=0 up=0 cl=0\nBODY 0 []\nDONE\n");
}

static void test_api(void)
{
    struct fdn_http_parser *p = parser();
    const char *s = "GET /x HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n\r\n";
    size_t used, blen;
    const char *b;
    CHECK(fdn_http_parser_feed(p, s, strlen(s), &used, &b, &blen) == FDN_HP_HEAD);
    CHECK(used == strlen(s));
    CHECK_STR(fdn_http_parser_header(p, "x-a"), "1");
    CHECK(fdn_http_parser_header(p, "x-b") == NULL);
    CHECK(fdn_http_parser_feed(p, "", 0, &used, &b, &blen) == FDN_HP_DONE && used == 0);
    CHECK(fdn_http_parser_feed(p, "", 0, &used, &b, &blen) == FDN_HP_NEED_MORE);
    /* body bytes point into the caller's input */
    s = "POST / HTTP/1.1\r\nContent-Length: 4\r\n\r\nabcdGET";
    CHECK(fdn_http_parser_feed(p, s, strlen(s), &used, &b, &blen) == FDN_HP_HEAD);
    size_t off = used;
    CHECK(fdn_http_parser_feed(p, s + off, strlen(s) - off, &used, &b, &blen) == FDN_HP_BODY);
    CHECK(b == s + off && blen == 4 && used == 4);
    off += used;
    CHECK(fdn_http_parser_feed(p, s + off, strlen(s) - off, &used, &b, &blen) == FDN_HP_DONE);
    CHECK(used == 0);
    CHECK(fdn_http_parser_feed(p, s + off, strlen(s) - off, &used, &b, &blen) == FDN_HP_NEED_MORE);
    CHECK(used == 3);
    fdn_http_parser_free(p);
    fdn_http_parser_free(NULL);
    p = fdn_http_parser_new(0, 0, 0);
    CHECK(p->max_head == FDN_HTTP_MAX_HEAD && p->max_headers == FDN_HTTP_MAX_HEADERS);
    s = "POST / HTTP/1.1\r\nContent-Length: 1\r\n\r\n";
    CHECK(fdn_http_parser_feed(p, s, strlen(s), &used, &b, &blen) == FDN_HP_ERROR);
    CHECK(p->status == 413);
    fdn_http_parser_free(p);
}

int main(void)
{
    test_shapes();
    test_chunked();
    test_pipelined();
    test_limits();
    test_malformed();
    test_edges();
    test_api();
    return check_summary("test_http_parser");
}
