/* test_ws_conn.c: unit tests of a WebSocket connection (ws_conn.c) over a socketpair with a real
 * event loop: the 101 answer, echoes, pongs, fragments, frames that came with the upgrade, the
 * close handshake both ways, protocol errors, closing from inside on_text, and the peer that
 * never reads (the output bound, and the write timeout under it). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "util.h"
#include "ws.h"
#include "ws_conn.h"
#include "check.h"

static struct event_base *base;
static struct fdn_ws_ctx *wsx;

enum { ECHO, CLOSE_IN_TEXT, FLOOD_IN_TEXT };

/* One connection under test: the server side is w, the client side the raw fd. */
struct tc {
    int fd, mode, eof, closes, texts, in_text;
    struct fdn_ws_conn *w;
    uint8_t in[1 << 16];
    size_t in_len;
    char why[128];
};

static void on_text(struct fdn_ws_conn *w, const char *data, size_t len, void *arg)
{
    struct tc *t = arg;
    t->texts++;
    t->in_text = 1;
    if (t->mode == ECHO) {
        const char *pieces[] = {"echo:", data};
        size_t lens[] = {5, len};
        CHECK(fdn_ws_conn_sendv(w, pieces, lens, 2) == 0);
    } else if (t->mode == CLOSE_IN_TEXT) {
        CHECK(fdn_ws_conn_send(w, "last", 4) == 0);
        fdn_ws_conn_close(w, 1001);
        CHECK(fdn_ws_conn_send(w, "late", 4) == -1); /* closing: refused */
        fdn_ws_conn_close(w, 1000);                  /* a second close does nothing */
    } else { /* FLOOD_IN_TEXT: over max_output from inside the callback */
        char big[1024];
        memset(big, 'f', sizeof big);
        int i, r = 0;
        for (i = 0; i < 1000 && r == 0; i++)
            r = fdn_ws_conn_send(w, big, sizeof big);
        CHECK(r == -1 && t->closes == 0); /* on_close does not run inside the call */
    }
    t->in_text = 0;
}

static void on_close(struct fdn_ws_conn *w, const char *why, void *arg)
{
    struct tc *t = arg;
    CHECK(w == t->w);
    CHECK(!t->in_text);
    t->closes++;
    snprintf(t->why, sizeof t->why, "%s", why);
    CHECK(fdn_ws_conn_send(w, "x", 1) == -1); /* over: refused, no harm */
}

static const struct fdn_ws_conn_cbs cbs_tmpl = {on_text, on_close, NULL};

/* A connection over a socketpair, with its 101 answer already checked. */
static void open_tc(struct tc *t, int mode, size_t max_message, size_t max_output,
                    const uint8_t *early, size_t early_len)
{
    int sv[2];
    memset(t, 0, sizeof *t);
    t->mode = mode;
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        abort();
    evutil_make_socket_nonblocking(sv[0]);
    evutil_make_socket_nonblocking(sv[1]);
    t->fd = sv[1];
    struct bufferevent *bev = bufferevent_socket_new(base, sv[0], BEV_OPT_CLOSE_ON_FREE);
    if (early_len) { /* frames read along with the upgrade request, before the hand-over */
        CHECK(write(t->fd, early, early_len) == (ssize_t)early_len);
        bufferevent_enable(bev, EV_READ);
        for (int i = 0; i < 1000 && evbuffer_get_length(bufferevent_get_input(bev)) < early_len;
             i++) {
            event_base_loop(base, EVLOOP_NONBLOCK);
            usleep(1000);
        }
        CHECK(evbuffer_get_length(bufferevent_get_input(bev)) == early_len);
        bufferevent_disable(bev, EV_READ);
    }
    struct fdn_ws_conn_cbs cbs = cbs_tmpl;
    cbs.arg = t;
    char accept[FDN_WS_ACCEPT_LEN + 1];
    fdn_ws_accept("dGhlIHNhbXBsZSBub25jZQ==", 24, accept);
    t->w = fdn_ws_conn_new(wsx, bev, accept, max_message, max_output, &cbs);
    CHECK(t->texts == 0); /* early frames wait for the loop */
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs the loop (and, unless noread, reads the client side) until cond or ms pass; whether
 * cond came true. */
static int pump(struct tc *t, int ms, int noread, int (*cond)(struct tc *))
{
    int64_t end = now_ms() + ms;
    while (now_ms() < end) {
        if (cond && cond(t))
            return 1;
        event_base_loop(base, EVLOOP_NONBLOCK);
        if (!noread && !t->eof && t->in_len < sizeof t->in) {
            ssize_t n = read(t->fd, t->in + t->in_len, sizeof t->in - t->in_len);
            if (n > 0)
                t->in_len += (size_t)n;
            else if (n == 0)
                t->eof = 1;
        }
        usleep(500);
    }
    return 0;
}

static int closed(struct tc *t)
{
    return t->closes > 0;
}

static int closed_eof(struct tc *t) /* and the client has read everything, up to EOF */
{
    return t->closes > 0 && t->eof;
}

static void put(struct tc *t, const uint8_t *p, size_t n)
{
    CHECK(write(t->fd, p, n) == (ssize_t)n);
}

/* A masked client frame. */
static size_t frame(uint8_t *out, uint8_t b0, const void *payload, size_t len)
{
    static const uint8_t m[4] = {1, 2, 3, 4};
    size_t n = 0;
    out[n++] = b0;
    if (len < 126) {
        out[n++] = 0x80 | (uint8_t)len;
    } else {
        out[n++] = 0x80 | 126;
        out[n++] = (uint8_t)(len >> 8);
        out[n++] = (uint8_t)len;
    }
    memcpy(out + n, m, 4);
    n += 4;
    for (size_t i = 0; i < len; i++)
        out[n + i] = ((const uint8_t *)payload)[i] ^ m[i & 3];
    return n + len;
}

/* Takes the 101 answer off the client's input. */
static int got_101(struct tc *t)
{
    const char *want = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                       "Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
                       "\r\n\r\n";
    size_t n = strlen(want);
    if (t->in_len < n || memcmp(t->in, want, n) != 0)
        return 0;
    memmove(t->in, t->in + n, t->in_len - n);
    t->in_len -= n;
    return 1;
}

/* The next server frame on the client's input: its opcode, payload copied to p (NUL-ended). */
static int next_frame(struct tc *t, int *op, char *p, size_t *len)
{
    if (t->in_len < 2)
        return 0;
    size_t h = 2, n = t->in[1] & 0x7f;
    CHECK((t->in[1] & 0x80) == 0 && (t->in[0] & 0x80)); /* unmasked, FIN */
    if (n == 126) {
        if (t->in_len < 4)
            return 0;
        n = (size_t)t->in[2] << 8 | t->in[3];
        h = 4;
    } else if (n == 127) {
        if (t->in_len < 10)
            return 0;
        n = 0;
        for (int i = 2; i < 10; i++)
            n = n << 8 | t->in[i];
        h = 10;
    }
    if (t->in_len < h + n)
        return 0;
    *op = t->in[0] & 0x0f;
    memcpy(p, t->in + h, n);
    p[n] = 0;
    *len = n;
    memmove(t->in, t->in + h + n, t->in_len - h - n);
    t->in_len -= h + n;
    return 1;
}

static int has_frame(struct tc *t)
{
    return t->in_len >= 2 && t->in_len >= 2 + (size_t)(t->in[1] & 0x7f);
}

/* Expects the next frame to be op with payload want (want_len bytes). */
static void expect_frame(struct tc *t, int line, int op, const char *want, size_t want_len)
{
    char p[70000];
    int got_op = -1;
    size_t len = 0;
    pump(t, 2000, 0, has_frame);
    int ok = next_frame(t, &got_op, p, &len) && got_op == op && len == want_len &&
             memcmp(p, want, len) == 0;
    if (!check_at(ok, __FILE__, line, "expected frame"))
        fprintf(stderr, "  got op %d len %zu\n", got_op, len);
}

#define EXPECT_FRAME(t, op, want, len) expect_frame(t, __LINE__, op, want, len)

static void done(struct tc *t)
{
    if (t->fd >= 0)
        close(t->fd);
    t->fd = -1;
}

static void test_echo(void)
{
    struct tc t;
    uint8_t b[512];
    size_t n;
    open_tc(&t, ECHO, 1000, 1 << 20, NULL, 0);
    CHECK(pump(&t, 2000, 0, got_101));
    put(&t, b, frame(b, 0x81, "hi", 2));
    EXPECT_FRAME(&t, 0x1, "echo:hi", 7);
    put(&t, b, frame(b, 0x89, "p1", 2));
    EXPECT_FRAME(&t, 0xA, "p1", 2);
    /* fragments with a ping between: the pong comes first */
    n = frame(b, 0x01, "frag", 4);
    n += frame(b + n, 0x89, "", 0);
    n += frame(b + n, 0x80, "ment", 4);
    put(&t, b, n);
    EXPECT_FRAME(&t, 0xA, "", 0);
    EXPECT_FRAME(&t, 0x1, "echo:fragment", 13);
    /* a 16-bit length both ways */
    char big[300];
    memset(big, 'b', sizeof big);
    memcpy(big, "echo:", 5);
    n = frame(b, 0x81, big + 5, sizeof big - 5);
    put(&t, b, n);
    EXPECT_FRAME(&t, 0x1, big, sizeof big);
    CHECK(fdn_ws_conn_pending(t.w) == 0);
    /* the client's close: answered with its code, then the end */
    put(&t, b,
        frame(b, 0x88,
              "\x03\xe8"
              "bye",
              5));
    EXPECT_FRAME(&t, 0x8, "\x03\xe8", 2);
    CHECK(pump(&t, 2000, 0, closed_eof) && t.closes == 1);
    CHECK_STR(t.why, "client close");
    done(&t);
}

static void test_early_frames(void)
{
    struct tc t;
    uint8_t b[64];
    size_t n = frame(b, 0x81, "a", 1);
    n += frame(b + n, 0x88, "", 0);
    open_tc(&t, ECHO, 1000, 1 << 20, b, n);
    CHECK(pump(&t, 2000, 0, closed_eof));
    CHECK(got_101(&t));
    CHECK(t.texts == 1);
    EXPECT_FRAME(&t, 0x1, "echo:a", 6);
    EXPECT_FRAME(&t, 0x8, "", 0); /* no code in, none out */
    CHECK(t.closes == 1);
    CHECK_STR(t.why, "client close");
    done(&t);
}

static void test_errors(void)
{
    struct {
        uint8_t frame[16];
        size_t len;
        const char *close, *why;
    } cases[] = {
        {{0x81, 0x01, 'x'}, 3, "\x03\xea", "protocol error: unmasked client frame"},
        {{0x82, 0x81, 0, 0, 0, 0, 'x'}, 7, "\x03\xeb", "protocol error: binary message"},
        {{0x81, 0x82, 0, 0, 0, 0, 0xc3, 0x28},
         8,
         "\x03\xef",
         "protocol error: text message is not UTF-8"},
        {{0x81, 0x8b, 0, 0, 0, 0}, 6, "\x03\xf1", "protocol error: message over the size limit"},
        {{0xc1, 0x80, 0, 0, 0, 0}, 6, "\x03\xea", "protocol error: reserved bits set"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct tc t;
        open_tc(&t, ECHO, 10, 1 << 20, NULL, 0);
        put(&t, cases[i].frame, cases[i].len);
        CHECK(pump(&t, 2000, 0, closed_eof));
        CHECK(got_101(&t));
        EXPECT_FRAME(&t, 0x8, cases[i].close, 2);
        CHECK(t.eof && t.closes == 1 && t.texts == 0);
        CHECK_STR(t.why, cases[i].why);
        done(&t);
    }
    /* the client goes away */
    struct tc t;
    open_tc(&t, ECHO, 10, 1 << 20, NULL, 0);
    done(&t);
    pump(&t, 2000, 1, closed);
    CHECK(t.closes == 1);
    CHECK_STR(t.why, "transport close");
}

static void test_server_close(void)
{
    struct tc t;
    uint8_t b[64];
    /* from inside on_text; the client answers */
    open_tc(&t, CLOSE_IN_TEXT, 100, 1 << 20, NULL, 0);
    put(&t, b, frame(b, 0x81, "go", 2));
    CHECK(pump(&t, 2000, 0, got_101));
    EXPECT_FRAME(&t, 0x1, "last", 4);
    EXPECT_FRAME(&t, 0x8, "\x03\xe9", 2);
    size_t n = frame(b, 0x81, "ignored", 7); /* messages after our close are dropped */
    n += frame(b + n, 0x88, "\x03\xe9", 2);
    put(&t, b, n);
    CHECK(pump(&t, 2000, 0, closed_eof));
    CHECK(t.closes == 1 && t.texts == 1);
    CHECK_STR(t.why, "server close");
    done(&t);
    /* the client never answers: about a second, then the end */
    open_tc(&t, ECHO, 100, 1 << 20, NULL, 0);
    fdn_ws_conn_close(t.w, 1000);
    int64_t t0 = now_ms();
    CHECK(pump(&t, 3000, 0, closed_eof));
    int64_t took = now_ms() - t0;
    CHECK(t.closes == 1 && took >= 900 && took < 2500);
    CHECK_STR(t.why, "server close: no answer from the client");
    CHECK(got_101(&t));
    EXPECT_FRAME(&t, 0x8, "\x03\xe8", 2);
    done(&t);
}

/* Output leaves straight from the loop turn that queued it: sending arms no write event (the
 * frames of a turn go out in one write at its end), and the write event is on only while the
 * socket holds some output back, until that is written. */
static int drained(struct tc *t)
{
    return fdn_ws_conn_pending(t->w) == 0;
}

/* Events waiting on the kernel or a timer (not those made active by the program). */
static int armed(void)
{
    return event_base_get_num_events(base, EVENT_BASE_COUNT_ADDED) -
           event_base_get_num_events(base, EVENT_BASE_COUNT_ACTIVE);
}

static void test_direct_write(void)
{
    struct tc t;
    char msg[1024];
    memset(msg, 'd', sizeof msg);
    open_tc(&t, ECHO, 100, 64 << 20, NULL, 0);
    CHECK(pump(&t, 2000, 0, got_101));
    int added = armed();
    CHECK(fdn_ws_conn_send(t.w, "a", 1) == 0 && fdn_ws_conn_send(t.w, "b", 1) == 0);
    CHECK(fdn_ws_conn_pending(t.w) == 6);
    CHECK(armed() == added);
    event_base_loop(base, EVLOOP_NONBLOCK);
    CHECK(fdn_ws_conn_pending(t.w) == 0);
    CHECK(armed() == added);
    EXPECT_FRAME(&t, 0x1, "a", 1);
    EXPECT_FRAME(&t, 0x1, "b", 1);
    /* more than the socket takes: the rest is written by the write event, in order */
    int i;
    for (i = 0; i < 100000 && fdn_ws_conn_pending(t.w) == 0; i++) {
        CHECK(fdn_ws_conn_send(t.w, msg, sizeof msg) == 0);
        event_base_loop(base, EVLOOP_NONBLOCK);
    }
    CHECK(fdn_ws_conn_pending(t.w) > 0);
    CHECK(armed() > added); /* the write event, and its timeout */
    CHECK(fdn_ws_conn_send(t.w, "z", 1) == 0);
    int frames = 0, op = 0, order_ok = 1;
    static char p[70000];
    size_t len;
    for (int k = 0; k < 2000 && frames < i + 1; k++) {
        pump(&t, 2, 0, NULL);
        while (next_frame(&t, &op, p, &len)) {
            frames++;
            order_ok &= frames <= i ? len == sizeof msg : len == 1 && p[0] == 'z';
        }
    }
    CHECK(frames == i + 1 && order_ok);
    CHECK(pump(&t, 2000, 0, drained));
    event_base_loop(base, EVLOOP_NONBLOCK);
    CHECK(armed() == added);
    done(&t);
    fdn_ws_conn_free(t.w); /* freed by the node's end, queued output and all */
}

/* A peer that never reads: sends stop at max_output, and the connection is dropped. */
static void test_never_reads(void)
{
    struct tc t;
    char msg[1024];
    memset(msg, 'm', sizeof msg);
    open_tc(&t, ECHO, 100, 64 << 10, NULL, 0);
    int i, r = 0;
    for (i = 0; i < 100000 && r == 0; i++) {
        r = fdn_ws_conn_send(t.w, msg, sizeof msg);
        event_base_loop(base, EVLOOP_NONBLOCK); /* the kernel takes what it can */
    }
    CHECK(r == -1 && i < 100000);
    pump(&t, 2000, 1, closed);
    CHECK(t.closes == 1);
    CHECK_STR(t.why, "output buffer full");
    done(&t);
    /* over the bound from inside on_text: the end comes after the callback */
    open_tc(&t, FLOOD_IN_TEXT, 100, 64 << 10, NULL, 0);
    uint8_t b[16];
    put(&t, b, frame(b, 0x81, "f", 1));
    pump(&t, 2000, 1, closed);
    CHECK(t.closes == 1 && t.texts == 1);
    CHECK_STR(t.why, "output buffer full");
    done(&t);
    /* under the bound, but nothing moves: the write timeout */
    open_tc(&t, ECHO, 100, 64 << 20, NULL, 0);
    fdn_ws_conn_set_write_timeout(t.w, 300);
    for (i = 0; i < 100000 && fdn_ws_conn_pending(t.w) < (1 << 20); i++) {
        CHECK(fdn_ws_conn_send(t.w, msg, sizeof msg) == 0);
        if (i % 64 == 0)
            event_base_loop(base, EVLOOP_NONBLOCK);
    }
    int64_t t0 = now_ms();
    pump(&t, 3000, 1, closed);
    int64_t took = now_ms() - t0;
    CHECK(t.closes == 1 && took < 2000);
    CHECK_STR(t.why, "write timeout");
    done(&t);
}

int main(void)
{
    fdn_log_set_level(FDN_LOG_ERROR);
    signal(SIGPIPE, SIG_IGN); /* as the node does: a write to a gone peer is EPIPE */
    base = event_base_new();
    wsx = fdn_ws_ctx_new(base);
    test_echo();
    test_early_frames();
    test_errors();
    test_server_close();
    test_direct_write();
    test_never_reads();
    fdn_ws_ctx_free(wsx);
    event_base_free(base);
    return check_summary("test_ws_conn");
}
