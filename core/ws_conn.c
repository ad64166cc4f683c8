/* ws_conn.c: one WebSocket connection on a bufferevent (ws_conn.h): frames read with ws.c, pings
 * answered, the close handshake both ways, bounded output written once per loop turn, and a
 * write timeout. The connection ends from the loop only (a timer), so no callback chain ever
 * sees it freed. */
#include "ws_conn.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "util.h"
#include "ws.h"

#define CLOSE_WAIT_MS 1000         /* our close sent: how long the client has to answer */
#define FLUSH_WAIT_MS 1000         /* a last close frame: how long it has to leave */
#define WRITE_TIMEOUT_MS_DEF 30000 /* no write progress for this long: the peer is gone */

enum {
    W_OPEN,
    W_CLOSE_SENT, /* fdn_ws_conn_close: waiting for the client's close */
    W_FLUSHING,   /* a final close frame is queued: waiting for it to be written */
    W_DONE,       /* over: on_close runs from the timer, then the struct is freed */
};

/* Output: frames go to the bufferevent's output, whose write event stays disabled while
 * that is empty, so queueing arms nothing. A connection with new output joins the context's
 * dirty list; at the end of the loop turn (one event for all) its output is written straight
 * to the socket, and only what the socket does not take enables the write event: the
 * bufferevent then writes it as the socket drains, under the write timeout, and disables it
 * again once empty (ws_write_cb). */
struct fdn_ws_ctx {
    struct event *flush;       /* active when dirty is not empty */
    struct fdn_ws_conn *dirty; /* connections with output queued this turn */
};

struct fdn_ws_conn {
    struct bufferevent *bev;
    struct fdn_ws_ctx *x;
    struct fdn_ws_conn *dprev, *dnext; /* in x->dirty, when dirty */
    struct event *timer;               /* made when first needed: close waits and the end */
    struct fdn_ws_conn_cbs cbs;
    size_t max_output;
    unsigned char state, dirty;
    const char *why, *detail; /* on_close's reason: "why" or "why: detail" */
    struct fdn_ws_reader r;
};

static void ws_timer_cb(evutil_socket_t fd, short what, void *arg);
static void ws_read_cb(struct bufferevent *bev, void *arg);

static void arm(struct fdn_ws_conn *w, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    if (!w->timer) {
        w->timer = evtimer_new(bufferevent_get_base(w->bev), ws_timer_cb, w);
        if (!w->timer) {
            fdn_error("ws: out of memory creating a timer");
            abort();
        }
    }
    evtimer_add(w->timer, &tv);
}

static void undirty(struct fdn_ws_conn *w)
{
    if (!w->dirty)
        return;
    if (w->dprev)
        w->dprev->dnext = w->dnext;
    else
        w->x->dirty = w->dnext;
    if (w->dnext)
        w->dnext->dprev = w->dprev;
    w->dprev = w->dnext = NULL;
    w->dirty = 0;
}

/* w has new output: written at the end of this loop turn (flush_cb). */
static void mark_dirty(struct fdn_ws_conn *w)
{
    if (w->dirty)
        return;
    if (!w->x->dirty)
        event_active(w->x->flush, EV_TIMEOUT, 0);
    w->dirty = 1;
    w->dprev = NULL;
    w->dnext = w->x->dirty;
    if (w->dnext)
        w->dnext->dprev = w;
    w->x->dirty = w;
}

/* The connection is over: nothing more is read or written; on_close runs from the loop. */
static void end(struct fdn_ws_conn *w, const char *why, const char *detail)
{
    if (w->state == W_DONE)
        return;
    w->state = W_DONE;
    w->why = why;
    w->detail = detail;
    bufferevent_disable(w->bev, EV_READ | EV_WRITE);
    arm(w, 0);
}

static void finish(struct fdn_ws_conn *w)
{
    char why[96];
    if (w->detail)
        snprintf(why, sizeof why, "%s: %s", w->why, w->detail);
    else
        snprintf(why, sizeof why, "%s", w->why);
    undirty(w);
    if (w->cbs.on_close)
        w->cbs.on_close(w, why, w->cbs.arg);
    event_free(w->timer);
    bufferevent_free(w->bev);
    fdn_ws_reader_free(&w->r);
    free(w);
}

static void ws_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct fdn_ws_conn *w = arg;
    (void)fd;
    (void)what;
    if (w->state == W_OPEN) /* frames that came with the upgrade */
        ws_read_cb(w->bev, w);
    else if (w->state == W_DONE)
        finish(w);
    else if (w->state == W_CLOSE_SENT)
        end(w, "server close", "no answer from the client");
    else if (w->state == W_FLUSHING)
        end(w, w->why, w->detail); /* the close frame did not leave in time */
}

/* Queues one frame of n pieces unless the output would pass max_output (or force). */
static int put(struct fdn_ws_conn *w, enum fdn_ws_opcode op, const char *const *pieces,
               const size_t *lens, int n, int force)
{
    struct evbuffer *out = bufferevent_get_output(w->bev);
    uint8_t h[FDN_WS_HEADER_MAX];
    uint64_t total = 0;
    for (int i = 0; i < n; i++)
        total += lens[i];
    size_t hl = fdn_ws_header(h, op, total);
    if (!force && evbuffer_get_length(out) + hl + total > w->max_output) {
        end(w, "output buffer full", NULL);
        return -1;
    }
    evbuffer_add(out, h, hl);
    for (int i = 0; i < n; i++)
        if (lens[i])
            evbuffer_add(out, pieces[i], lens[i]);
    mark_dirty(w);
    return 0;
}

/* A close frame with code (none for 1005), then the end once it is written. */
static void close_and_end(struct fdn_ws_conn *w, int code, const char *why, const char *detail)
{
    uint8_t c[2];
    const char *p = (const char *)c;
    size_t len = code == 1005 ? 0 : 2;
    if (w->state == W_CLOSE_SENT) { /* ours is out already: no second close frame */
        end(w, why, detail);
        return;
    }
    fdn_ws_close_payload(c, code);
    put(w, FDN_WS_OP_CLOSE, &p, &len, 1, 1);
    w->state = W_FLUSHING;
    w->why = why;
    w->detail = detail;
    arm(w, FLUSH_WAIT_MS);
}

/* One event of the reader. */
static void handle(struct fdn_ws_conn *w, enum fdn_ws_event ev, const uint8_t *p, size_t len)
{
    const char *cp = (const char *)p;
    switch (ev) {
    case FDN_WS_TEXT:
        if (w->state == W_OPEN && w->cbs.on_text)
            w->cbs.on_text(w, cp, len, w->cbs.arg);
        break;
    case FDN_WS_BINARY:
        close_and_end(w, 1003, "protocol error", "binary message");
        break;
    case FDN_WS_PING:
        if (w->state == W_OPEN)
            put(w, FDN_WS_OP_PONG, &cp, &len, 1, 0);
        break;
    case FDN_WS_PONG:
    case FDN_WS_NEED_MORE:
        break;
    case FDN_WS_CLOSE:
        if (w->state == W_CLOSE_SENT) { /* the answer to ours */
            if (evbuffer_get_length(bufferevent_get_output(w->bev)) == 0)
                end(w, "server close", NULL);
            else {
                w->state = W_FLUSHING;
                w->why = "server close";
                w->detail = NULL;
            }
        } else {
            close_and_end(w, w->r.close_code, "client close", NULL);
        }
        break;
    case FDN_WS_ERROR:
        close_and_end(w, w->r.close_code, "protocol error", w->r.error);
        break;
    }
}

static void ws_read_cb(struct bufferevent *bev, void *arg)
{
    struct fdn_ws_conn *w = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    while (w->state == W_OPEN || w->state == W_CLOSE_SENT) {
        struct evbuffer_iovec v = {NULL, 0};
        const uint8_t *p;
        size_t used, len;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0)
            break;
        enum fdn_ws_event ev = fdn_ws_read(&w->r, v.iov_base, v.iov_len, &used, &p, &len);
        evbuffer_drain(in, used);
        handle(w, ev, p, len);
    }
    if (w->state == W_OPEN || w->state == W_CLOSE_SENT) {
        const uint8_t *p;
        size_t used, len; /* releases the message buffer while the connection idles */
        fdn_ws_read(&w->r, NULL, 0, &used, &p, &len);
    } else {
        evbuffer_drain(in, evbuffer_get_length(in)); /* after the close: discarded */
    }
}

/* The write event wrote everything: disabled (it is no longer pending: no system call), the
 * next output goes straight out from flush_cb. */
static void ws_write_cb(struct bufferevent *bev, void *arg)
{
    struct fdn_ws_conn *w = arg;
    if (evbuffer_get_length(bufferevent_get_output(bev)) != 0)
        return;
    bufferevent_disable(bev, EV_WRITE);
    if (w->state == W_FLUSHING)
        end(w, w->why, w->detail);
}

/* Writes w's output to its socket unless the write event already has some to write (this
 * turn's frames then wait behind it); what the socket does not take is left to the write
 * event, and so are errors (it meets them on its first try). */
static void move_out(struct fdn_ws_conn *w)
{
    struct evbuffer *out = bufferevent_get_output(w->bev);
    if (w->state == W_DONE || (bufferevent_get_enabled(w->bev) & EV_WRITE))
        return;
    /* the bufferevent freezes its output's start (only it drains it): thawed for this write,
     * as its own write callback does */
    evbuffer_unfreeze(out, 1);
    evbuffer_write_atmost(out, bufferevent_getfd(w->bev), -1);
    evbuffer_freeze(out, 1);
    if (evbuffer_get_length(out))
        bufferevent_enable(w->bev, EV_WRITE);
    else if (w->state == W_FLUSHING)
        end(w, w->why, w->detail);
}

static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
    struct fdn_ws_ctx *x = arg;
    (void)fd;
    (void)what;
    while (x->dirty) { /* nothing here calls out: no connection is freed meanwhile */
        struct fdn_ws_conn *w = x->dirty;
        undirty(w);
        move_out(w);
    }
}

struct fdn_ws_ctx *fdn_ws_ctx_new(struct event_base *base)
{
    struct fdn_ws_ctx *x = xcalloc(1, sizeof *x);
    x->flush = event_new(base, -1, 0, flush_cb, x);
    if (!x->flush) {
        fdn_error("ws: out of memory creating an event");
        abort();
    }
    return x;
}

void fdn_ws_ctx_free(struct fdn_ws_ctx *x)
{
    if (!x)
        return;
    event_free(x->flush);
    free(x);
}

static void ws_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct fdn_ws_conn *w = arg;
    (void)bev;
    if (w->state == W_FLUSHING && (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
        end(w, w->why, w->detail); /* the client went first: fine after a close frame */
    else if (w->state == W_CLOSE_SENT && (what & BEV_EVENT_EOF))
        end(w, "server close", NULL);
    else if (what & BEV_EVENT_TIMEOUT)
        end(w, "write timeout", NULL);
    else if (what & BEV_EVENT_EOF)
        end(w, "transport close", NULL);
    else if (what & BEV_EVENT_ERROR)
        end(w, "transport error", NULL);
}

struct fdn_ws_conn *fdn_ws_conn_new(struct fdn_ws_ctx *x, struct bufferevent *bev,
                                    const char *accept, size_t max_message, size_t max_output,
                                    const struct fdn_ws_conn_cbs *cbs)
{
    struct fdn_ws_conn *w = xcalloc(1, sizeof *w);
    struct timeval wtv = {WRITE_TIMEOUT_MS_DEF / 1000, 0};
    w->bev = bev;
    w->x = x;
    w->cbs = *cbs;
    w->max_output = max_output;
    w->state = W_OPEN;
    fdn_ws_reader_init(&w->r, max_message);
    bufferevent_setcb(bev, ws_read_cb, ws_write_cb, ws_event_cb, w);
    bufferevent_setwatermark(bev, EV_READ, 0, 0);
    bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
    bufferevent_set_timeouts(bev, NULL, &wtv);
    /* the write event on only while it has something to write (a last HTTP answer) */
    if (evbuffer_get_length(bufferevent_get_output(bev)))
        bufferevent_enable(bev, EV_READ | EV_WRITE);
    else {
        bufferevent_enable(bev, EV_READ);
        bufferevent_disable(bev, EV_WRITE);
    }
    evbuffer_add_printf(bufferevent_get_output(bev),
                        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                        "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                        accept);
    mark_dirty(w);
    /* frames that came with the upgrade request: read from the loop, after we return */
    if (evbuffer_get_length(bufferevent_get_input(bev)))
        arm(w, 0);
    return w;
}

void fdn_ws_conn_set_write_timeout(struct fdn_ws_conn *w, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    bufferevent_set_timeouts(w->bev, NULL, &tv);
}

int fdn_ws_conn_sendv(struct fdn_ws_conn *w, const char *const *pieces, const size_t *lens, int n)
{
    if (w->state != W_OPEN)
        return -1;
    return put(w, FDN_WS_OP_TEXT, pieces, lens, n, 0);
}

int fdn_ws_conn_send(struct fdn_ws_conn *w, const char *data, size_t len)
{
    return fdn_ws_conn_sendv(w, &data, &len, 1);
}

void fdn_ws_conn_close(struct fdn_ws_conn *w, int code)
{
    uint8_t c[2];
    const char *p = (const char *)c;
    size_t len = 2;
    if (w->state != W_OPEN)
        return;
    fdn_ws_close_payload(c, code);
    put(w, FDN_WS_OP_CLOSE, &p, &len, 1, 1);
    w->state = W_CLOSE_SENT;
    arm(w, CLOSE_WAIT_MS);
}

size_t fdn_ws_conn_pending(const struct fdn_ws_conn *w)
{
    return evbuffer_get_length(bufferevent_get_output(w->bev));
}

void fdn_ws_conn_free(struct fdn_ws_conn *w)
{
    if (!w)
        return;
    undirty(w);
    if (w->timer)
        event_free(w->timer);
    bufferevent_free(w->bev);
    fdn_ws_reader_free(&w->r);
    free(w);
}
