/* http.c: the gateway's HTTP/1.1 connections: accept, read and parse (http_parser), hand
 * complete requests to Lua, send the answers (http_respond.c composes them), keep-alive and
 * timeouts; the listeners and the server's life are http_open.c's, the connection caps
 * http_limits.c's. One request per connection at a time. */
#include "http_int.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <lua.h>

#include "eio_server.h"
#include "bev_write.h"
#include "http_parser.h"
#include "metrics.h"
#include "node.h"
#include "status.h"
#include "util.h"

#define LINGER_MS 2000   /* after a final response, wait this long for the client to close */
#define MAX_REJECTING 64 /* connections being told 503 at once; beyond, they are just closed */
#define READ_MAX 16384   /* bytes read at most per readiness */

static void arm(struct conn *c, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(c->timer, &tv);
}

/* c reads its socket unless the client closed its side or FDN_HTTP_MAX_HEAD bytes wait in its
 * input (a request in Lua, others pipelined behind it): taken up again once they are parsed. */
static void read_resume(struct conn *c)
{
    if (!c->reading && !c->eof &&
        evbuffer_get_length(bufferevent_get_input(c->bev)) < FDN_HTTP_MAX_HEAD) {
        c->reading = 1;
        event_add(c->rd, NULL);
    }
}

static void read_pause(struct conn *c)
{
    if (c->reading) {
        c->reading = 0;
        event_del(c->rd);
    }
}

/* Sends what h->out holds for c: straight to the socket when nothing waits before it (so no
 * write event is armed and disarmed per answer), what the socket does not take through the
 * bufferevent, which writes it when it can (errors too: the bufferevent sees them) and then
 * calls http_write_cb. 1 when the socket took it all. */
static int send_out(struct conn *c)
{
    return fdn_bev_write_through(c->bev, c->h->out, -1, 1);
}

void fdn_http_answer(struct conn *c)
{
    struct fdn_http *h = c->h;
    if (!send_out(c))
        return;
    c->written = 1;
    fdn_http_enqueue(&h->written, c, Q_WRITTEN);
    if (h->nwritten++ == 0)
        event_active(h->flush, EV_TIMEOUT, 0);
}

void fdn_http_conn_free(struct conn *c)
{
    struct fdn_http *h = c->h;
    fdn_http_release(c);
    if (c->written) {
        fdn_http_dequeue(&h->written, c, Q_WRITTEN);
        h->nwritten--;
    }
    if (c->state == C_IN_LUA || c->state == C_WRITING)
        h->in_flight--;
    if (c->slot >= 0) {
        h->slots[c->slot] = NULL;
        h->free_slots[h->nfree++] = c->slot;
    } else {
        h->nrejecting--;
    }
    if (c->prev)
        c->prev->next = c->next;
    else
        h->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    event_free(c->timer);
    event_free(c->rd);
    if (c->bev) /* NULL: taken by fdn_http_take */
        bufferevent_free(c->bev);
    fdn_http_parser_free(c->p);
    free(c->body);
    free(c);
}

/* The response is out: half-close, then discard input until the client closes, so that
 * unread input does not turn our close into a reset that could destroy the response. */
static void linger(struct conn *c)
{
    if (c->eof) {
        fdn_http_conn_free(c);
        return;
    }
    c->state = C_LINGER;
    shutdown(bufferevent_getfd(c->bev), SHUT_WR);
    struct evbuffer *in = bufferevent_get_input(c->bev);
    evbuffer_drain(in, evbuffer_get_length(in));
    read_resume(c);
    arm(c, LINGER_MS);
}

/* Answers with a Feathers-shaped error and closes; the request's body is not read. */
static void send_error(struct conn *c, int code, const char *msg)
{
    const struct fdn_status *s = fdn_status_find(code);
    char body[320];
    int n = snprintf(body, sizeof body,
                     "{\"name\":\"%s\",\"message\":\"%s\",\"code\":%d,\"className\":\"%s\"}",
                     s->name, msg, code, s->class_name);
    evbuffer_add_printf(c->h->out,
                        "HTTP/1.1 %d %s\r\nContent-Type: application/json; charset=utf-8\r\n"
                        "Content-Length: %d\r\nConnection: close\r\n\r\n%s",
                        code, s->reason, n, body);
    fdn_debug("http: answered %d (%s)", code, msg);
    if (!c->h->admin) { /* the method only once the request was read whole */
        fdn_metrics_http(c->h->n->metrics, c->state == C_IN_LUA ? c->p->method : NULL, code);
        if (c->h->n->cfg.access_log)
            fdn_http_access(c, code, NULL);
    }
    evtimer_del(c->timer);
    c->state = C_DRAINING;
    fdn_http_answer(c);
}

void fdn_http_push_headers(lua_State *L, const struct fdn_http_parser *p)
{
    lua_createtable(L, 0, (int)p->nheaders);
    for (size_t i = 0; i < p->nheaders; i++) {
        const struct fdn_hp_header *hd = &p->headers[i];
        lua_pushlstring(L, hd->name, hd->name_len);
        lua_pushvalue(L, -1);
        if (lua_rawget(L, -3) == LUA_TNIL) {
            lua_pop(L, 1);
            lua_pushlstring(L, hd->value, hd->value_len);
        } else {
            lua_pushstring(L, strcmp(hd->name, "cookie") == 0 ? "; " : ", ");
            lua_pushlstring(L, hd->value, hd->value_len);
            lua_concat(L, 3);
        }
        lua_rawset(L, -3);
    }
}

/* Engine.IO's requests go to its server in C, with no answer deadline: a polling GET is held
 * until packets come, at most a ping interval. c may be gone when this returns. */
static void to_eio(struct conn *c)
{
    char *body = c->body;
    struct fdn_eio_req r = {c->req_id, c->p, body, c->body_len, bufferevent_getfd(c->bev)};
    c->body = NULL;
    c->body_len = c->body_cap = 0;
    fdn_eio_server_request(c->h->n->eio, &r);
    free(body);
}

static void dispatch(struct conn *c)
{
    struct fdn_http *h = c->h;
    const struct fdn_http_parser *p = c->p;
    lua_State *L = h->n->L;
    evtimer_del(c->timer);
    c->req_id = ++h->seq * (uint64_t)h->nslots + (uint64_t)c->slot;
    c->t0 = h->n->cfg.access_log ? fdn_now_ns() : 0;
    c->keep_alive = p->keep_alive;
    c->head = strcmp(p->method, "HEAD") == 0;
    c->state = C_IN_LUA;
    h->in_flight++;
    if (fdn_http_preflight(c)) /* CORS on: an OPTIONS is answered here */
        return;
    if (!h->admin && h->n->eio && strncmp(p->target, "/socket.io/", 11) == 0) {
        to_eio(c);
        return;
    }
    /* an answer deadline: a handler that never answers cannot hold the slot */
    arm(c, h->n->cfg.http_timeout_ms + h->n->cfg.timeout_ms);
    lua_checkstack(L, 10);
    fdn_node_dispatch_begin(h->n, h->admin ? "admin" : "http");
    lua_pushinteger(L, (lua_Integer)c->req_id);
    lua_pushstring(L, p->method);
    const char *q = strchr(p->target, '?');
    lua_pushlstring(L, p->target, q ? (size_t)(q - p->target) : strlen(p->target));
    if (q)
        lua_pushstring(L, q + 1);
    else
        lua_pushnil(L);
    fdn_http_push_headers(L, p);
    if (c->body_len)
        lua_pushlstring(L, c->body, c->body_len);
    else
        lua_pushnil(L);
    free(c->body);
    c->body = NULL;
    c->body_len = c->body_cap = 0;
    fdn_node_dispatch_end(h->n, 6); /* Lua may have answered already */
}

void fdn_http_access(const struct conn *c, int status, const char *trace)
{
    const struct fdn_http_parser *p = c->p;
    if (c->state != C_IN_LUA) { /* never read whole: no method, path or start */
        fdn_log_access("rest", "-", "-", 1, status, 0, NULL);
        return;
    }
    const char *q = strchr(p->target, '?');
    size_t len = q ? (size_t)(q - p->target) : strlen(p->target);
    fdn_log_access("rest", p->method, p->target, len, status, (double)(fdn_now_ns() - c->t0) / 1e6,
                   trace);
}

static void append_body(struct conn *c, const char *b, size_t n)
{
    if (c->body_len + n > c->body_cap) {
        while (c->body_len + n > c->body_cap)
            c->body_cap = c->body_cap ? c->body_cap * 2 : 4096;
        c->body = xrealloc(c->body, c->body_cap);
    }
    memcpy(c->body + c->body_len, b, n);
    c->body_len += n;
}

/* Parses buffered input until a request is complete (then Lua has it) or input runs out. */
static void process(struct conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    while (c->state == C_READING) {
        struct evbuffer_iovec v = {NULL, 0};
        const char *data = "", *b;
        size_t len = 0, used, blen;
        if (evbuffer_peek(in, -1, NULL, &v, 1) > 0) {
            data = v.iov_base;
            len = v.iov_len;
        }
        int ev = fdn_http_parser_feed(c->p, data, len, &used, &b, &blen);
        if (ev == FDN_HP_BODY)
            append_body(c, b, blen);
        evbuffer_drain(in, used);
        read_resume(c);
        if (ev == FDN_HP_NEED_MORE && evbuffer_get_length(in) == 0)
            return;
        if (ev == FDN_HP_HEAD && c->p->expect_continue) {
            evbuffer_add(c->h->out, "HTTP/1.1 100 Continue\r\n\r\n", 25);
            send_out(c); /* not the answer: http_write_cb ignores a reading connection */
        } else if (ev == FDN_HP_DONE) {
            dispatch(c); /* c may be gone (a websocket taken out) */
            return;
        } else if (ev == FDN_HP_ERROR)
            send_error(c, c->p->status, c->p->error);
    }
}

/* Reads into the bufferevent's input (so that fdn_http_take hands over what came after the
 * request), but with a plain read event: libevent's own read asks FIONREAD before every read,
 * a syscall per request. The bufferevent only writes while the server has the connection. */
static int read_some(struct conn *c, evutil_socket_t fd)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    size_t have = evbuffer_get_length(in);
    size_t want = have < FDN_HTTP_MAX_HEAD ? FDN_HTTP_MAX_HEAD - have : 0;
    struct evbuffer_iovec v[2];
    struct iovec io[2];
    int nv = want
                 ? evbuffer_reserve_space(in, (ev_ssize_t)(want < READ_MAX ? want : READ_MAX), v, 2)
                 : 0;
    if (!want) {
        read_pause(c);
        return 0;
    }
    if (nv <= 0)
        return -1;
    for (int i = 0; i < nv; i++) {
        io[i].iov_base = v[i].iov_base;
        io[i].iov_len = v[i].iov_len;
    }
    ssize_t n = readv(fd, io, nv);
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
    if (n == 0)
        return -2;
    size_t left = (size_t)n;
    int used = 0;
    for (; used < nv && left; used++) {
        if (v[used].iov_len > left)
            v[used].iov_len = left;
        left -= v[used].iov_len;
    }
    evbuffer_commit_space(in, v, used);
    if (evbuffer_get_length(in) >= FDN_HTTP_MAX_HEAD)
        read_pause(c);
    return 0;
}

static void http_read_cb(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    (void)what;
    int r = read_some(c, fd);
    if (r == -2 && (c->state == C_IN_LUA || c->state == C_WRITING || c->state == C_DRAINING)) {
        c->eof = 1; /* a half close: finish writing, then close */
        c->keep_alive = 0;
        read_pause(c);
        return;
    }
    if (r < 0) {
        fdn_http_conn_free(c);
        return;
    }
    if (c->state == C_IDLE) { /* the first byte starts the request's clock */
        fdn_http_unpark(c);
        c->state = C_READING;
        arm(c, c->h->timeout_ms);
    }
    if (c->state == C_READING) {
        process(c);
    } else if (c->state == C_LINGER) {
        struct evbuffer *in = bufferevent_get_input(c->bev);
        evbuffer_drain(in, evbuffer_get_length(in));
    } /* else: left buffered (at most FDN_HTTP_MAX_HEAD) until the response is out */
}

/* The response is written: close, or wait for the next request (maybe already buffered). */
static void finish(struct conn *c)
{
    c->h->in_flight--;
    c->req_id = 0;
    if (!c->keep_alive || c->h->stopping) {
        linger(c);
        return;
    }
    c->state = C_IDLE;
    if (evbuffer_get_length(bufferevent_get_input(c->bev)) == 0) {
        fdn_http_park(c);
        arm(c, c->h->idle_ms);
        return;
    }
    c->state = C_READING;
    arm(c, c->h->timeout_ms);
    process(c);
}

static void http_write_cb(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;
    (void)bev;
    if (c->written)
        return; /* the flush finishes it (libevent calls this once on a new connection too) */
    if (c->state == C_WRITING)
        finish(c);
    else if (c->state == C_DRAINING)
        linger(c);
}

/* The end of the loop turn: the connections whose answer the socket took whole are finished,
 * as if their bufferevent had written it (those that join meanwhile: in another pass). */
void fdn_http_flush_cb(evutil_socket_t fd, short what, void *arg)
{
    struct fdn_http *h = arg;
    (void)fd;
    (void)what;
    for (size_t n = h->nwritten; n-- && h->written.head;) {
        struct conn *c = h->written.head; /* (one freed meanwhile has left the queue) */
        fdn_http_dequeue(&h->written, c, Q_WRITTEN);
        c->written = 0;
        h->nwritten--;
        http_write_cb(c->bev, c);
    }
    if (h->nwritten)
        event_active(h->flush, EV_TIMEOUT, 0);
}

/* The bufferevent only writes: an error, or the write timeout (a client that does not read). */
static void http_event_cb(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
        fdn_http_conn_free(arg);
}

static void http_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    (void)fd;
    (void)what;
    if (c->state == C_READING) {
        send_error(c, 408, "Request timeout");
    } else if (c->state == C_IN_LUA) {
        c->h->in_flight--; /* a late answer from Lua is dropped: the state changed */
        send_error(c, 504, "The service did not answer in time");
    } else if (c->state == C_IDLE || c->state == C_LINGER)
        fdn_http_conn_free(c);
}

static struct conn *conn_new(struct fdn_http *h, evutil_socket_t fd, int slot)
{
    struct conn *c = xcalloc(1, sizeof *c);
    struct event_base *base = h->n->base;
    c->h = h;
    c->slot = slot;
    c->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
    c->timer = evtimer_new(base, http_timer_cb, c);
    c->rd = event_new(base, fd, EV_READ | EV_PERSIST, http_read_cb, c);
    c->p = fdn_http_parser_new(FDN_HTTP_MAX_HEAD, FDN_HTTP_MAX_HEADERS, h->max_body);
    if (!c->bev || !c->timer || !c->rd) {
        fdn_error("http: out of memory creating a connection");
        abort();
    }
    struct timeval wtv = {h->timeout_ms / 1000, (h->timeout_ms % 1000) * 1000};
    bufferevent_setcb(c->bev, NULL, http_write_cb, http_event_cb, c);
    bufferevent_set_timeouts(c->bev, NULL, &wtv); /* a client that does not read */
    bufferevent_enable(c->bev, EV_WRITE);
    /* http_read_cb adds to its input's end (frozen again for a new owner: fdn_http_take) */
    evbuffer_unfreeze(bufferevent_get_input(c->bev), 0);
    read_resume(c);
    c->next = h->conns;
    if (h->conns)
        h->conns->prev = c;
    h->conns = c;
    if (slot >= 0)
        h->slots[slot] = c;
    return c;
}

/* A connection there is no room for: 503, or closed at once past MAX_REJECTING of them. */
static void refuse(struct fdn_http *h, evutil_socket_t fd, const char *why)
{
    if (h->nrejecting >= MAX_REJECTING) {
        evutil_closesocket(fd);
        return;
    }
    h->nrejecting++;
    send_error(conn_new(h, fd, -1), 503, why);
}

void fdn_http_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                        int socklen, void *arg)
{
    struct fdn_http *h = arg;
    struct peer *pe;
    const char *why;
    int one = 1;
    (void)l;
    (void)socklen;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (fdn_http_admit(h, sa, &pe, &why) < 0) {
        refuse(h, fd, why);
        return;
    }
    struct conn *c = conn_new(h, fd, h->free_slots[--h->nfree]);
    c->state = C_IDLE;
    c->peer = pe;
    arm(c, h->timeout_ms);
}

struct bufferevent *fdn_http_take(struct fdn_http *h, uint64_t req_id)
{
    struct conn *c = h && req_id ? h->slots[req_id % (uint64_t)h->nslots] : NULL;
    if (!c || c->req_id != req_id || c->state != C_IN_LUA)
        return NULL;
    struct bufferevent *bev = c->bev;
    c->bev = NULL;
    bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
    bufferevent_set_timeouts(bev, NULL, NULL);
    evbuffer_freeze(bufferevent_get_input(bev), 0);
    fdn_http_conn_free(c); /* (and its read event: the new owner reads with the bufferevent) */
    return bev;
}

size_t fdn_http_in_flight(const struct fdn_http *h)
{
    return h ? h->in_flight : 0;
}
