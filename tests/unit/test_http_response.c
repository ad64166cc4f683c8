/* test_http_response.c: the outbound client's response parser: framing (Content-Length, chunked,
 * until close, none), interim responses, byte-at-a-time input, and each strictness rule. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "http_response.h"

/* Parses s (whole, or one byte at a time) with the limit; returns the result, keeps p. */
static int parse(struct fdn_hresp *p, const char *s, size_t max, int head, int bytewise, int eof)
{
    fdn_hresp_init(p, max, head);
    size_t n = strlen(s), off = 0, used;
    int r = FDN_HRESP_MORE;
    while (off < n && r == FDN_HRESP_MORE) {
        r = fdn_hresp_feed(p, s + off, bytewise ? 1 : n - off, &used);
        off += used;
    }
    if (r == FDN_HRESP_MORE && eof)
        r = fdn_hresp_eof(p);
    return r;
}

static void ok(const char *s, int status, const char *body, int keep_alive)
{
    for (int bytewise = 0; bytewise < 2; bytewise++) {
        struct fdn_hresp p;
        int r = parse(&p, s, 1000, 0, bytewise, 1);
        if (!CHECK(r == FDN_HRESP_DONE))
            fprintf(stderr, "  %s: %s\n", s, p.err ? p.err : "?");
        CHECK(p.status == status);
        CHECK(p.body.len == strlen(body) &&
              memcmp(p.body.data ? p.body.data : "", body, p.body.len) == 0);
        CHECK(p.keep_alive == keep_alive);
        fdn_hresp_free(&p);
    }
}

static void bad(const char *s, int code, const char *why)
{
    struct fdn_hresp p;
    CHECK(parse(&p, s, 1000, 0, 0, 1) == code);
    CHECK_STR(p.err ? p.err : "", why);
    fdn_hresp_free(&p);
}

int main(void)
{
    ok("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 200, "hello", 1);
    ok("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", 200, "hello", 1);
    ok("HTTP/1.1 201 \r\nTransfer-Encoding: Chunked\r\n\r\n3;a=b\r\nabc\r\n2\r\nde\r\n0\r\nT: "
       "1\r\n\r\n",
       201, "abcde", 1);
    ok("HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\n\r\nall of it", 200, "all of it", 0);
    ok("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nab", 200, "ab", 0);
    ok("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n", 204, "",
       1);
    ok("HTTP/1.1 304 Not Modified\r\n\r\n", 304, "", 1);
    ok("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", 200, "", 1);

    struct fdn_hresp p; /* HEAD: no body, whatever Content-Length says; the headers are kept */
    CHECK(parse(&p, "HTTP/1.1 200 OK\r\nContent-Length: 99\r\nX-A: b \r\n\r\n", 10, 1, 0, 0) ==
          FDN_HRESP_DONE);
    CHECK(p.headers.len == sizeof "content-length\00099\0x-a\0b" &&
          memcmp(p.headers.data, "content-length\00099\0x-a\0b", p.headers.len) == 0);
    fdn_hresp_free(&p);
    size_t used; /* bytes after a whole response are left alone */
    fdn_hresp_init(&p, 10, 0);
    const char *two = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxHTTP/1.1";
    CHECK(fdn_hresp_feed(&p, two, strlen(two), &used) == FDN_HRESP_DONE && used == strlen(two) - 8);
    fdn_hresp_free(&p);

    bad("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", FDN_HRESP_EMALFORMED, "obsolete line folding");
    bad("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", FDN_HRESP_EMALFORMED,
        "conflicting Content-Length");
    bad("HTTP/1.1 200 OK\r\nContent-Length: 1,1\r\n\r\na", FDN_HRESP_EMALFORMED,
        "bad Content-Length");
    bad("HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\na", FDN_HRESP_EMALFORMED,
        "bad Content-Length");
    bad("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n", FDN_HRESP_EMALFORMED,
        "bad Content-Length");
    bad("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
        FDN_HRESP_EMALFORMED, "both Content-Length and Transfer-Encoding");
    bad("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", FDN_HRESP_EMALFORMED,
        "unsupported Transfer-Encoding");
    bad("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", FDN_HRESP_EMALFORMED,
        "unsupported Transfer-Encoding");
    bad("HTTP/1.1 200 OK\r\nX : a\r\n\r\n", FDN_HRESP_EMALFORMED, "bad header name");
    bad("HTTP/1.1 200 OK\nX: a\r\n\r\n", FDN_HRESP_EMALFORMED, "bare LF");
    bad("HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n", FDN_HRESP_EMALFORMED, "bare CR");
    bad("HTTP/1.1 200 OK\r\nX: a\x01\r\n\r\n", FDN_HRESP_EMALFORMED, "bad header value");
    bad("HTTP/2 200 OK\r\n\r\n", FDN_HRESP_EMALFORMED, "bad status line");
    bad("HTTP/1.1 20x OK\r\n\r\n", FDN_HRESP_EMALFORMED, "bad status code");
    bad("HTTP/1.1 101 Switching Protocols\r\n\r\n", FDN_HRESP_EMALFORMED,
        "unexpected 101 Switching Protocols");
    bad("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", FDN_HRESP_EMALFORMED,
        "bad chunk size");
    bad("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n", FDN_HRESP_EMALFORMED,
        "chunk longer than its size");
    bad("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\n",
        FDN_HRESP_EMALFORMED, "bad chunk size");
    bad("HTTP/1.1 200 OK\r\nContent-Length: 1001\r\n\r\n", FDN_HRESP_ETOOBIG, "response too large");
    bad("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3e9\r\n", FDN_HRESP_ETOOBIG,
        "response too large");
    bad("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", FDN_HRESP_EMALFORMED,
        "response cut short");
    bad("", FDN_HRESP_EMALFORMED, "connection closed before a response");

    /* an until-close body over the limit, and a head over 64 KiB */
    static char big[80000];
    memcpy(big, "HTTP/1.1 200 OK\r\n\r\n", 19);
    memset(big + 19, 'x', 1001);
    bad(big, FDN_HRESP_ETOOBIG, "response too large");
    memcpy(big, "HTTP/1.1 200 OK\r\nX: ", 20);
    memset(big + 20, 'x', sizeof big - 21);
    bad(big, FDN_HRESP_EMALFORMED, "response head too large");
    static char many[FDN_HRESP_MAX_HEADERS * 6 + 40];
    strcpy(many, "HTTP/1.1 200 OK\r\n");
    for (int i = 0; i <= FDN_HRESP_MAX_HEADERS; i++)
        strcat(many, "X: a\r\n");
    bad(many, FDN_HRESP_EMALFORMED, "too many headers");
    return check_summary("http_response");
}
