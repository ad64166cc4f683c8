/* eio_server.c: the Engine.IO v4 server: sessions by sid, the polling transport (held GET,
 * POSTed packets), websockets (ws_conn.c) and the upgrade from polling, the heartbeat, and the
 * Socket.IO packets handed to Lua. Answers go out through the gateway's HTTP server. */
#include "eio_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <lua.h>

#include "buf.h"
#include "eio.h"
#include "http.h"
#include "http_parser.h"
#include "json.h"
#include "node.h"
#include "util.h"
#include "ws.h"
#include "ws_conn.h"

#define SID_LEN 20   /* base64url of 15 random bytes */
#define SLOT_BITS 24 /* a Lua id is (sequence << SLOT_BITS) | slot */
#define SLOT_MASK ((1u << SLOT_BITS) - 1)
#define KEEP_QUEUE 4096 /* a polling queue's buffer larger than this is freed once flushed */
#define KEEP_SCRATCH (1u << 20)

struct session {
    struct fdn_eio_server *srv;
    struct session *hnext;          /* in its sid bucket */
    struct session *prev, *next;    /* every session, closing ones too */
    uint64_t id;                    /* Lua's handle */
    uint64_t get_req;               /* the held polling GET, 0: none */
    struct fdn_ws_conn *ws, *probe; /* the websocket transport; the one being upgraded to */
    struct event *timer;            /* next ping, or the pong's deadline */
    struct fdn_buf queue;           /* polling: packets waiting for a GET, joined by 0x1e */
    struct fdn_ws_conn_cbs cbs;     /* arg: this session */
    unsigned awaiting_pong : 1, upgrading : 1, closing : 1;
    char sid[SID_LEN];
};

struct fdn_eio_server {
    struct fdn_node *n;
    struct fdn_http *h;
    struct session *all;
    struct session **buckets; /* by sid, nbuckets a power of two */
    size_t nbuckets, nopen, nalive;
    struct session **slots; /* by id & SLOT_MASK */
    uint32_t *free_slots;
    size_t nslots, nfree;
    uint64_t seq;
    int stopping;
    struct fdn_buf scratch;
    uint8_t rnd[15 * 32];
    size_t rnd_pos;
};

#define TEXT_TYPE "text/plain; charset=UTF-8"
static const struct fdn_http_field TEXT = {"Content-Type", TEXT_TYPE, 12, sizeof TEXT_TYPE - 1};

/* --- answers -------------------------------------------------------------------------------- */

static void reply(struct fdn_eio_server *srv, uint64_t req, int status, const char *body,
                  size_t len)
{
    fdn_http_respond(srv->h, req, status, &TEXT, 1, body, len);
}

/* The reference server's errors: 400 (503 over the cap) with {"code":N,"message":"..."}. */
static void fail(struct fdn_eio_server *srv, uint64_t req, int code)
{
    static const char *const msgs[] = {
        "Transport unknown", "Session ID unknown", "Bad handshake method",
        "Bad request",       "Forbidden",          "Unsupported protocol version"};
    char body[96];
    int n = snprintf(body, sizeof body, "{\"code\":%d,\"message\":\"%s\"}", code, msgs[code]);
    fdn_debug("socket: answered 400 (%s)", msgs[code]);
    fdn_http_respond(srv->h, req, 400, NULL, 0, body, (size_t)n);
}

/* --- tables: sid -> session, Lua id -> session ---------------------------------------------- */

static size_t bucket_of(const struct fdn_eio_server *srv, const char *sid)
{
    uint64_t x;
    memcpy(&x, sid, sizeof x); /* random characters: a multiply spreads them */
    return (size_t)((x * 0x9E3779B97F4A7C15ull) >> 32) & (srv->nbuckets - 1);
}

static struct session *find_sid(const struct fdn_eio_server *srv, const char *sid, size_t len)
{
    if (len != SID_LEN)
        return NULL;
    for (struct session *s = srv->buckets[bucket_of(srv, sid)]; s; s = s->hnext)
        if (memcmp(s->sid, sid, SID_LEN) == 0)
            return s;
    return NULL;
}

static void hash_grow(struct fdn_eio_server *srv)
{
    size_t old = srv->nbuckets;
    struct session **ob = srv->buckets;
    srv->nbuckets = old * 2;
    srv->buckets = xcalloc(srv->nbuckets, sizeof *srv->buckets);
    for (size_t i = 0; i < old; i++)
        for (struct session *s = ob[i], *next; s; s = next) {
            next = s->hnext;
            size_t b = bucket_of(srv, s->sid);
            s->hnext = srv->buckets[b];
            srv->buckets[b] = s;
        }
    free(ob);
}

static void unhash(struct session *s)
{
    struct session **pp = &s->srv->buckets[bucket_of(s->srv, s->sid)];
    while (*pp != s)
        pp = &(*pp)->hnext;
    *pp = s->hnext;
}

static struct session *find_id(const struct fdn_eio_server *srv, uint64_t id)
{
    size_t slot = id & SLOT_MASK;
    struct session *s = slot < srv->nslots ? srv->slots[slot] : NULL;
    return s && s->id == id ? s : NULL;
}

static uint32_t slot_take(struct fdn_eio_server *srv)
{
    if (srv->nfree == 0) { /* twice as many slots, the new ones free */
        size_t old = srv->nslots, grown = old ? old * 2 : 64;
        srv->slots = xrealloc(srv->slots, grown * sizeof *srv->slots);
        srv->free_slots = xrealloc(srv->free_slots, grown * sizeof *srv->free_slots);
        for (size_t i = old; i < grown; i++) {
            srv->slots[i] = NULL;
            srv->free_slots[srv->nfree++] = (uint32_t)(grown - 1 - (i - old));
        }
        srv->nslots = grown;
    }
    return srv->free_slots[--srv->nfree];
}

/* 20 characters of base64url from the kernel's CSPRNG (15 bytes at a time from a pool). */
static void new_sid(struct fdn_eio_server *srv, char *out)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    if (srv->rnd_pos == 0 || srv->rnd_pos >= sizeof srv->rnd) {
        for (size_t got = 0; got < sizeof srv->rnd;) {
            ssize_t r = getrandom(srv->rnd + got, sizeof srv->rnd - got, 0);
            if (r <= 0) {
                fdn_error("getrandom failed");
                abort();
            }
            got += (size_t)r;
        }
        srv->rnd_pos = 0;
    }
    const uint8_t *b = srv->rnd + srv->rnd_pos;
    for (int i = 0; i < 5; i++, b += 3, out += 4) {
        uint32_t v = (uint32_t)b[0] << 16 | (uint32_t)b[1] << 8 | b[2];
        out[0] = b64[v >> 18];
        out[1] = b64[(v >> 12) & 63];
        out[2] = b64[(v >> 6) & 63];
        out[3] = b64[v & 63];
    }
    memset(srv->rnd + srv->rnd_pos, 0, 15);
    srv->rnd_pos += 15;
}

/* --- the session's life --------------------------------------------------------------------- */

static void arm(struct session *s, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(s->timer, &tv);
}

static void free_session(struct session *s)
{
    struct fdn_eio_server *srv = s->srv;
    if (s->prev)
        s->prev->next = s->next;
    else
        srv->all = s->next;
    if (s->next)
        s->next->prev = s->prev;
    srv->nalive--;
    event_free(s->timer);
    fdn_buf_free(&s->queue);
    free(s);
}

static void dispatch_close(struct session *s, const char *why)
{
    struct fdn_node *n = s->srv->n;
    lua_checkstack(n->L, 8);
    fdn_node_dispatch_begin(n, "socket");
    lua_pushliteral(n->L, "close");
    lua_pushinteger(n->L, (lua_Integer)s->id);
    lua_pushstring(n->L, why);
    fdn_node_dispatch_end(n, 3);
}

/* Ends session s: out of the tables, a held GET told "close", websockets closed with code
 * (0: 1000), Lua told why (not when why is NULL: Lua never heard of s). s is freed here unless
 * a websocket's close handshake still runs. */
static void end(struct session *s, const char *why, int code)
{
    struct fdn_eio_server *srv = s->srv;
    if (s->closing)
        return;
    s->closing = 1;
    unhash(s);
    srv->slots[s->id & SLOT_MASK] = NULL;
    srv->free_slots[srv->nfree++] = (uint32_t)(s->id & SLOT_MASK);
    srv->nopen--;
    evtimer_del(s->timer);
    fdn_debug("socket: session %.*s closed (%s)", SID_LEN, s->sid, why ? why : "before open");
    code = code ? code : FDN_WS_CLOSE_NORMAL;
    if (s->get_req)
        reply(srv, s->get_req, 200, "1", 1);
    s->get_req = 0;
    fdn_buf_free(&s->queue);
    if (s->ws)
        fdn_ws_conn_close(s->ws, code);
    if (s->probe)
        fdn_ws_conn_close(s->probe, code);
    if (why)
        dispatch_close(s, why);
    if (!s->ws && !s->probe)
        free_session(s);
}

/* Answers the held GET (or req) with the queue; when that request is gone (its client reset
 * the connection), the packets wait for the next. */
static void flush(struct session *s, uint64_t req)
{
    if (fdn_http_respond(s->srv->h, req, 200, &TEXT, 1, s->queue.data, s->queue.len) < 0)
        return;
    s->queue.len = 0;
    if (s->queue.cap > KEEP_QUEUE)
        fdn_buf_free(&s->queue);
}

/* One packet out on the session's transport. 0; -1 when the session is gone (s may then be
 * freed: the caller must not touch it). */
static int send_packet(struct session *s, const char *pkt, size_t len)
{
    if (s->ws)
        return fdn_ws_conn_send(s->ws, pkt, len);
    if (s->queue.len + len + 1 > s->srv->n->cfg.socket_max_buffer) {
        end(s, "output buffer full", 0);
        return -1;
    }
    if (s->queue.len)
        fdn_buf_putc(&s->queue, FDN_EIO_SEPARATOR);
    fdn_buf_put(&s->queue, pkt, len);
    if (s->get_req) {
        uint64_t req = s->get_req;
        s->get_req = 0;
        flush(s, req);
    }
    return 0;
}

static void session_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct session *s = arg;
    (void)fd;
    (void)what;
    if (s->awaiting_pong) {
        end(s, "ping timeout", FDN_WS_CLOSE_NORMAL);
        return;
    }
    s->awaiting_pong = 1;
    arm(s, s->srv->n->cfg.socket_ping_timeout_ms);
    send_packet(s, "2", 1);
}

static void ws_text_cb(struct fdn_ws_conn *w, const char *data, size_t len, void *arg);
static void ws_close_cb(struct fdn_ws_conn *w, const char *why, void *arg);

static struct session *session_new(struct fdn_eio_server *srv)
{
    struct session *s = xcalloc(1, sizeof *s);
    s->srv = srv;
    uint32_t slot = slot_take(srv);
    s->id = ++srv->seq << SLOT_BITS | slot;
    srv->slots[slot] = s;
    new_sid(srv, s->sid);
    if (srv->nopen + 1 > srv->nbuckets)
        hash_grow(srv);
    size_t b = bucket_of(srv, s->sid);
    s->hnext = srv->buckets[b];
    srv->buckets[b] = s;
    s->next = srv->all;
    if (srv->all)
        srv->all->prev = s;
    srv->all = s;
    srv->nopen++;
    srv->nalive++;
    s->timer = evtimer_new(srv->n->base, session_timer_cb, s);
    if (!s->timer) {
        fdn_error("socket: out of memory creating a timer");
        abort();
    }
    s->cbs = (struct fdn_ws_conn_cbs){ws_text_cb, ws_close_cb, s};
    arm(s, srv->n->cfg.socket_ping_interval_ms);
    return s;
}

/* --- packets from the client ---------------------------------------------------------------- */

/* One Socket.IO packet to Lua; a malformed one ends the session. */
static void on_message(struct session *s, const char *data, size_t len)
{
    struct fdn_node *n = s->srv->n;
    lua_State *L = n->L;
    struct fdn_sio_packet sp;
    char err[96];
    if (fdn_sio_parse(data, len, &sp) < 0 || sp.type > FDN_SIO_ACK) {
        fdn_debug("socket: session %.*s sent a malformed packet", SID_LEN, s->sid);
        end(s, "parse error", FDN_WS_CLOSE_PROTOCOL);
        return;
    }
    lua_checkstack(L, 12);
    int at = lua_gettop(L) + 1; /* where the decoded value goes, under the dispatch */
    if (sp.data && fdn_json_decode(L, sp.data, sp.data_len, err, sizeof err) < 0) {
        fdn_debug("socket: session %.*s sent bad JSON: %s", SID_LEN, s->sid, err);
        end(s, "parse error", FDN_WS_CLOSE_PROTOCOL);
        return;
    }
    fdn_node_dispatch_begin(n, "socket");
    lua_pushliteral(L, "packet");
    lua_pushinteger(L, (lua_Integer)s->id);
    lua_pushinteger(L, sp.type);
    lua_pushlstring(L, sp.nsp, sp.nsp_len);
    if (sp.id == FDN_SIO_NO_ID)
        lua_pushnil(L);
    else
        lua_pushinteger(L, sp.id);
    if (sp.data)
        lua_pushvalue(L, at);
    else
        lua_pushnil(L);
    fdn_node_dispatch_end(n, 6);
    if (sp.data)
        lua_pop(L, 1);
}

/* One Engine.IO packet from the session's transport; s may be freed when this returns. */
static void on_packet(struct session *s, const struct fdn_eio_packet *p)
{
    switch (p->type) {
    case FDN_EIO_PONG:
        s->awaiting_pong = 0;
        arm(s, s->srv->n->cfg.socket_ping_interval_ms);
        break;
    case FDN_EIO_CLOSE:
        end(s, "client close", FDN_WS_CLOSE_NORMAL);
        break;
    case FDN_EIO_MESSAGE:
        on_message(s, p->data, p->len);
        break;
    default: /* ping (v3 only), noop, upgrade, open: nothing to do */
        break;
    }
}

/* The websocket becomes the session's transport; what polling had queued goes there. */
static void upgraded(struct session *s)
{
    s->ws = s->probe;
    s->probe = NULL;
    s->upgrading = 0;
    if (s->get_req) {
        reply(s->srv, s->get_req, 200, "6", 1);
        s->get_req = 0;
    }
    uint64_t id = s->id;
    struct fdn_buf q = s->queue;
    fdn_buf_init(&s->queue);
    size_t pos = 0;
    while (pos < q.len) {
        const char *sep = memchr(q.data + pos, FDN_EIO_SEPARATOR, q.len - pos);
        size_t end_at = sep ? (size_t)(sep - q.data) : q.len;
        if (!find_id(s->srv, id) || fdn_ws_conn_send(s->ws, q.data + pos, end_at - pos) < 0)
            break;
        pos = end_at + 1;
    }
    fdn_buf_free(&q);
}

/* The probe's messages: "2probe" answered "3probe" (the held GET gets a noop, so that the
 * client pauses polling), then "5" switches transports; anything else drops the probe. */
static void on_probe(struct session *s, const char *data, size_t len)
{
    if (len == 6 && memcmp(data, "2probe", 6) == 0) {
        s->upgrading = 1;
        if (fdn_ws_conn_send(s->probe, "3probe", 6) < 0)
            return;
        if (s->get_req) {
            reply(s->srv, s->get_req, 200, "6", 1);
            s->get_req = 0;
        }
    } else if (len == 1 && data[0] == '5' && s->upgrading) {
        upgraded(s);
    } else {
        fdn_ws_conn_close(s->probe, FDN_WS_CLOSE_PROTOCOL);
    }
}

static void ws_text_cb(struct fdn_ws_conn *w, const char *data, size_t len, void *arg)
{
    struct session *s = arg;
    struct fdn_eio_packet p;
    size_t pos = 0;
    if (s->closing)
        return;
    if (w == s->probe) {
        on_probe(s, data, len);
        return;
    }
    if (fdn_eio_next(data, len, &pos, &p) != 1 || pos != len) {
        fdn_debug("socket: session %.*s sent a malformed packet", SID_LEN, s->sid);
        end(s, "parse error", FDN_WS_CLOSE_PROTOCOL);
        return;
    }
    on_packet(s, &p);
}

static void ws_close_cb(struct fdn_ws_conn *w, const char *why, void *arg)
{
    struct session *s = arg;
    if (w == s->probe) {
        s->probe = NULL;
        s->upgrading = 0;
    } else {
        s->ws = NULL;
        if (!s->closing) {
            end(s, why, 0); /* frees s unless the probe still runs */
            return;
        }
    }
    if (s->closing && !s->ws && !s->probe)
        free_session(s);
}

/* --- requests ------------------------------------------------------------------------------- */

struct query {
    const char *transport, *sid, *eio;
    size_t transport_len, sid_len, eio_len;
};

static void parse_query(const char *target, struct query *q)
{
    memset(q, 0, sizeof *q);
    const char *s = strchr(target, '?');
    while (s && *s) {
        s++;
        size_t n = strcspn(s, "&"), k = strcspn(s, "=&");
        const char *v = s + k + (k < n);
        size_t vl = n - k - (k < n);
        if (k == 9 && memcmp(s, "transport", 9) == 0)
            q->transport = v, q->transport_len = vl;
        else if (k == 3 && memcmp(s, "sid", 3) == 0)
            q->sid = v, q->sid_len = vl;
        else if (k == 3 && memcmp(s, "EIO", 3) == 0)
            q->eio = v, q->eio_len = vl;
        s += n;
    }
}

static int is(const char *s, size_t len, const char *lit)
{
    return s && len == strlen(lit) && memcmp(s, lit, len) == 0;
}

/* The open packet: the sid, the upgrades (websocket, from polling), the timers, maxPayload. */
static size_t open_packet(const struct session *s, int polling, char *out, size_t cap)
{
    const struct fdn_config *c = &s->srv->n->cfg;
    int n = snprintf(out, cap,
                     "0{\"sid\":\"%.*s\",\"upgrades\":[%s],\"pingInterval\":%d,\"pingTimeout\":%d,"
                     "\"maxPayload\":%zu}",
                     SID_LEN, s->sid, polling ? "\"websocket\"" : "", c->socket_ping_interval_ms,
                     c->socket_ping_timeout_ms, c->socket_max_payload);
    return (size_t)n;
}

/* info = {sid, headers, query, address, transport} on the stack, built while the request's
 * parser is still there (a websocket's connection leaves the HTTP server before "open"). */
static void push_info(struct session *s, const struct fdn_eio_req *r, const char *transport)
{
    lua_State *L = s->srv->n->L;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char addr[INET6_ADDRSTRLEN] = "";
    if (getpeername(r->fd, (struct sockaddr *)&ss, &sl) == 0) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ss;
        if (ss.ss_family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, addr, sizeof addr);
        else if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
            inet_ntop(AF_INET, s6->sin6_addr.s6_addr + 12, addr, sizeof addr);
        else
            inet_ntop(AF_INET6, &s6->sin6_addr, addr, sizeof addr);
    }
    lua_checkstack(L, 12);
    lua_createtable(L, 0, 5);
    lua_pushlstring(L, s->sid, SID_LEN);
    lua_setfield(L, -2, "sid");
    fdn_http_push_headers(L, r->p);
    lua_setfield(L, -2, "headers");
    const char *q = strchr(r->p->target, '?');
    lua_pushstring(L, q ? q + 1 : "");
    lua_setfield(L, -2, "query");
    lua_pushstring(L, addr);
    lua_setfield(L, -2, "address");
    lua_pushstring(L, transport);
    lua_setfield(L, -2, "transport");
}

/* "open" to Lua with the info on top of the stack (popped). */
static void dispatch_open(struct session *s)
{
    struct fdn_node *n = s->srv->n;
    int info = lua_gettop(n->L);
    fdn_node_dispatch_begin(n, "socket");
    lua_pushliteral(n->L, "open");
    lua_pushinteger(n->L, (lua_Integer)s->id);
    lua_pushvalue(n->L, info);
    fdn_node_dispatch_end(n, 3);
    lua_pop(n->L, 1);
}

/* The websocket handshake's checks; 0 with the accept key, -1 after answering 400. */
static int ws_handshake(struct fdn_eio_server *srv, const struct fdn_eio_req *r,
                        char accept[FDN_WS_ACCEPT_LEN + 1])
{
    const char *up = fdn_http_parser_header(r->p, "upgrade");
    const char *ver = fdn_http_parser_header(r->p, "sec-websocket-version");
    const char *key = fdn_http_parser_header(r->p, "sec-websocket-key");
    if (!r->p->upgrade || !up || strcasecmp(up, "websocket") != 0 || !ver ||
        strcmp(ver, "13") != 0 || !key || fdn_ws_accept(key, strlen(key), accept) < 0) {
        fail(srv, r->id, 3);
        return -1;
    }
    return 0;
}

static void open_session(struct fdn_eio_server *srv, const struct fdn_eio_req *r, int websocket)
{
    char accept[FDN_WS_ACCEPT_LEN + 1], open[256];
    if (websocket && ws_handshake(srv, r, accept) < 0)
        return;
    if (srv->stopping || srv->nopen >= (size_t)srv->n->cfg.socket_max) {
        static const char body[] = "{\"code\":503,\"message\":\"Too many sessions\"}";
        fdn_http_respond(srv->h, r->id, 503, NULL, 0, body, sizeof body - 1);
        return;
    }
    struct session *s = session_new(srv);
    size_t len = open_packet(s, !websocket, open, sizeof open);
    push_info(s, r, websocket ? "websocket" : "polling");
    if (websocket) {
        const struct fdn_config *c = &srv->n->cfg;
        struct bufferevent *bev = fdn_http_take(srv->h, r->id);
        if (!bev) { /* cannot happen: the request is in hand */
            lua_pop(srv->n->L, 1);
            end(s, NULL, 0);
            return;
        }
        s->ws = fdn_ws_conn_new(bev, accept, c->socket_max_payload, c->socket_max_buffer, &s->cbs);
        fdn_ws_conn_send(s->ws, open, len);
    } else {
        reply(srv, r->id, 200, open, len);
    }
    dispatch_open(s);
}

static void upgrade(struct fdn_eio_server *srv, struct session *s, const struct fdn_eio_req *r)
{
    char accept[FDN_WS_ACCEPT_LEN + 1];
    if (s->ws || s->probe) { /* already upgraded, or upgrading */
        fail(srv, r->id, 3);
        return;
    }
    if (ws_handshake(srv, r, accept) < 0)
        return;
    const struct fdn_config *c = &srv->n->cfg;
    struct bufferevent *bev = fdn_http_take(srv->h, r->id);
    if (bev)
        s->probe =
            fdn_ws_conn_new(bev, accept, c->socket_max_payload, c->socket_max_buffer, &s->cbs);
}

/* A polling GET: answered at once when packets wait (or with a noop during an upgrade),
 * else held until some are sent. A second GET at the same time ends the session. */
static void poll_get(struct session *s, uint64_t req)
{
    if (s->get_req) {
        fail(s->srv, req, 3);
        end(s, "transport error", 0);
    } else if (s->queue.len) {
        flush(s, req);
    } else if (s->upgrading) {
        reply(s->srv, req, 200, "6", 1);
    } else {
        s->get_req = req;
    }
}

static void poll_post(struct session *s, const struct fdn_eio_req *r)
{
    struct fdn_eio_server *srv = s->srv;
    struct fdn_eio_packet p;
    size_t pos = 0;
    uint64_t id = s->id;
    int rc;
    if (r->body_len > srv->n->cfg.socket_max_payload) {
        fdn_http_respond(srv->h, r->id, 413, &TEXT, 1, NULL, 0);
        end(s, "transport error", 0);
        return;
    }
    while ((rc = fdn_eio_next(r->body, r->body_len, &pos, &p)) == 1) {
        on_packet(s, &p);
        if (!(s = find_id(srv, id)))
            break;
    }
    if (rc < 0 && s) {
        fdn_debug("socket: session %.*s posted a malformed payload", SID_LEN, s->sid);
        fail(srv, r->id, 3);
        end(s, "parse error", 0);
        return;
    }
    reply(srv, r->id, 200, "ok", 2);
}

void fdn_eio_server_request(struct fdn_eio_server *srv, const struct fdn_eio_req *r)
{
    const char *method = r->p->method;
    struct query q;
    parse_query(r->p->target, &q);
    int websocket = is(q.transport, q.transport_len, "websocket");
    if (strcmp(method, "OPTIONS") == 0) {
        fdn_http_respond(srv->h, r->id, 204, NULL, 0, NULL, 0);
    } else if (!websocket && !is(q.transport, q.transport_len, "polling")) {
        fail(srv, r->id, 0);
    } else if (q.sid) {
        struct session *s = find_sid(srv, q.sid, q.sid_len);
        if (!s)
            fail(srv, r->id, 1);
        else if (websocket && strcmp(method, "GET") == 0 && r->p->upgrade)
            upgrade(srv, s, r);
        else if (websocket || s->ws)
            fail(srv, r->id, 3); /* the session's transport is not this request's */
        else if (strcmp(method, "GET") == 0)
            poll_get(s, r->id);
        else if (strcmp(method, "POST") == 0)
            poll_post(s, r);
        else
            fail(srv, r->id, 3);
    } else if (strcmp(method, "GET") != 0) {
        fail(srv, r->id, 2);
    } else if (websocket && !r->p->upgrade) {
        fail(srv, r->id, 3);
    } else if (!is(q.eio, q.eio_len, "4")) {
        fail(srv, r->id, 5);
    } else {
        open_session(srv, r, websocket);
    }
}

/* --- the server ----------------------------------------------------------------------------- */

struct fdn_eio_server *fdn_eio_server_new(struct fdn_node *n, struct fdn_http *h)
{
    struct fdn_eio_server *srv = xcalloc(1, sizeof *srv);
    srv->n = n;
    srv->h = h;
    srv->nbuckets = 64;
    srv->buckets = xcalloc(srv->nbuckets, sizeof *srv->buckets);
    fdn_buf_init(&srv->scratch);
    return srv;
}

void fdn_eio_server_shutdown(struct fdn_eio_server *srv)
{
    if (!srv || srv->stopping)
        return;
    srv->stopping = 1;
    for (size_t i = 0; i < srv->nslots; i++)
        if (srv->slots[i])
            end(srv->slots[i], "server shutting down", 1001);
}

void fdn_eio_server_free(struct fdn_eio_server *srv)
{
    if (!srv)
        return;
    while (srv->all) {
        struct session *s = srv->all;
        if (s->ws)
            fdn_ws_conn_free(s->ws);
        if (s->probe)
            fdn_ws_conn_free(s->probe);
        free_session(s);
    }
    free(srv->buckets);
    free(srv->slots);
    free(srv->free_slots);
    fdn_buf_free(&srv->scratch);
    free(srv);
}

size_t fdn_eio_server_count(const struct fdn_eio_server *srv)
{
    return srv ? srv->nopen : 0;
}

size_t fdn_eio_server_alive(const struct fdn_eio_server *srv)
{
    return srv ? srv->nalive : 0;
}

int fdn_eio_server_exists(const struct fdn_eio_server *srv, uint64_t id)
{
    return srv && find_id(srv, id) != NULL;
}

int fdn_eio_server_send(struct fdn_eio_server *srv, uint64_t id, const char *pkt, size_t len)
{
    struct session *s = srv ? find_id(srv, id) : NULL;
    return s ? send_packet(s, pkt, len) : -1;
}

void fdn_eio_server_close(struct fdn_eio_server *srv, uint64_t id)
{
    struct session *s = srv ? find_id(srv, id) : NULL;
    if (s)
        end(s, "forced close", FDN_WS_CLOSE_NORMAL);
}

struct fdn_buf *fdn_eio_server_scratch(struct fdn_eio_server *srv)
{
    if (srv->scratch.cap > KEEP_SCRATCH)
        fdn_buf_free(&srv->scratch);
    srv->scratch.len = 0;
    return &srv->scratch;
}
