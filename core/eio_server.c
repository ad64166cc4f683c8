/* eio_server.c: the Engine.IO v4 server's sessions: by sid and by Lua id, their transport
 * (polling queue or websocket, ws_conn.c) and the upgrade between them, the heartbeat, and the
 * Socket.IO packets handed to Lua. The requests themselves are eio_request.c's. */
#include "eio_server_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <event2/event.h>
#include <lua.h>

#include "buf.h"
#include "eio.h"
#include "json.h"
#include "node.h"
#include "util.h"
#include "ws.h"
#include "ws_conn.h"

#define KEEP_QUEUE 4096 /* a polling queue's buffer larger than this is freed once flushed */
#define KEEP_SCRATCH (1u << 20)

/* --- tables: sid -> session, Lua id -> session ---------------------------------------------- */

static size_t bucket_of(const struct fdn_eio_server *srv, const char *sid)
{
    uint64_t x;
    memcpy(&x, sid, sizeof x); /* random characters: a multiply spreads them */
    return (size_t)((x * 0x9E3779B97F4A7C15ull) >> 32) & (srv->nbuckets - 1);
}

struct session *fdn_eio_session_find(const struct fdn_eio_server *srv, const char *sid, size_t len)
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
    free(s->why);
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

/* Ends s (eio_server_int.h): Lua hears of it from the timer, session_timer_cb. */
void fdn_eio_session_end(struct session *s, const char *why, int code)
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
        fdn_eio_reply(srv, s->get_req, 200, "1", 1);
    s->get_req = 0;
    fdn_buf_free(&s->queue);
    if (s->ws)
        fdn_ws_conn_close(s->ws, code);
    if (s->probe)
        fdn_ws_conn_close(s->probe, code);
    if (why) { /* told from the loop: socket.close or a send from Lua may have ended s */
        s->why = xstrdup(why);
        arm(s, 0);
    } else if (!s->ws && !s->probe) {
        free_session(s);
    }
}

/* Answers the held GET (or req) with the queue; when that request is gone (its client reset
 * the connection), the packets wait for the next. */
void fdn_eio_session_flush(struct session *s, uint64_t req)
{
    if (fdn_eio_reply(s->srv, req, 200, s->queue.data, s->queue.len) < 0)
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
        fdn_eio_session_end(s, "output buffer full", 0);
        return -1;
    }
    if (s->queue.len)
        fdn_buf_putc(&s->queue, FDN_EIO_SEPARATOR);
    fdn_buf_put(&s->queue, pkt, len);
    if (s->get_req) {
        uint64_t req = s->get_req;
        s->get_req = 0;
        fdn_eio_session_flush(s, req);
    }
    return 0;
}

static void session_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct session *s = arg;
    (void)fd;
    (void)what;
    if (s->closing) { /* Lua hears of the end; s goes once its websockets have closed */
        dispatch_close(s, s->why);
        free(s->why);
        s->why = NULL;
        if (!s->ws && !s->probe)
            free_session(s);
    } else if (s->awaiting_pong) {
        fdn_eio_session_end(s, "ping timeout", FDN_WS_CLOSE_NORMAL);
    } else {
        s->awaiting_pong = 1;
        arm(s, s->srv->n->cfg.socket_ping_timeout_ms);
        send_packet(s, "2", 1);
    }
}

static void ws_text_cb(struct fdn_ws_conn *w, const char *data, size_t len, void *arg);
static void ws_close_cb(struct fdn_ws_conn *w, const char *why, void *arg);

struct session *fdn_eio_session_new(struct fdn_eio_server *srv)
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
        fdn_eio_session_end(s, "parse error", FDN_WS_CLOSE_PROTOCOL);
        return;
    }
    lua_checkstack(L, 12);
    int at = lua_gettop(L) + 1; /* where the decoded value goes, under the dispatch */
    if (sp.data && fdn_json_decode(L, sp.data, sp.data_len, err, sizeof err) < 0) {
        fdn_debug("socket: session %.*s sent bad JSON: %s", SID_LEN, s->sid, err);
        fdn_eio_session_end(s, "parse error", FDN_WS_CLOSE_PROTOCOL);
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
void fdn_eio_packet_in(struct session *s, const struct fdn_eio_packet *p)
{
    switch (p->type) {
    case FDN_EIO_PONG:
        s->awaiting_pong = 0;
        arm(s, s->srv->n->cfg.socket_ping_interval_ms);
        break;
    case FDN_EIO_CLOSE:
        fdn_eio_session_end(s, "client close", FDN_WS_CLOSE_NORMAL);
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
        fdn_eio_reply(s->srv, s->get_req, 200, "6", 1);
        s->get_req = 0;
    }
    uint64_t id = s->id;
    struct fdn_buf q = s->queue;
    fdn_buf_init(&s->queue);
    size_t pos = 0;
    while (pos < q.len) {
        const char *sep = memchr(q.data + pos, FDN_EIO_SEPARATOR, q.len - pos);
        size_t end_at = sep ? (size_t)(sep - q.data) : q.len;
        if (!fdn_eio_session_get(s->srv, id) ||
            fdn_ws_conn_send(s->ws, q.data + pos, end_at - pos) < 0)
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
            fdn_eio_reply(s->srv, s->get_req, 200, "6", 1);
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
        fdn_eio_session_end(s, "parse error", FDN_WS_CLOSE_PROTOCOL);
        return;
    }
    fdn_eio_packet_in(s, &p);
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
            fdn_eio_session_end(s, why, 0); /* Lua is told from the timer, which frees s */
            return;
        }
    }
    if (s->closing && !s->ws && !s->probe && !s->why)
        free_session(s); /* ended, Lua told: this was the last websocket */
}

/* --- the server ----------------------------------------------------------------------------- */

struct fdn_eio_server *fdn_eio_server_new(struct fdn_node *n, struct fdn_http *h)
{
    struct fdn_eio_server *srv = xcalloc(1, sizeof *srv);
    srv->n = n;
    srv->h = h;
    srv->nbuckets = 64;
    srv->buckets = xcalloc(srv->nbuckets, sizeof *srv->buckets);
    srv->wsx = fdn_ws_ctx_new(n->base);
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
            fdn_eio_session_end(srv->slots[i], "server shutting down", 1001);
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
    fdn_ws_ctx_free(srv->wsx);
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
    return srv && fdn_eio_session_get(srv, id) != NULL;
}

int fdn_eio_server_send(struct fdn_eio_server *srv, uint64_t id, const char *pkt, size_t len)
{
    struct session *s = srv ? fdn_eio_session_get(srv, id) : NULL;
    return s ? send_packet(s, pkt, len) : -1;
}

void fdn_eio_server_close(struct fdn_eio_server *srv, uint64_t id)
{
    struct session *s = srv ? fdn_eio_session_get(srv, id) : NULL;
    if (s)
        fdn_eio_session_end(s, "forced close", FDN_WS_CLOSE_NORMAL);
}

struct fdn_buf *fdn_eio_server_scratch(struct fdn_eio_server *srv)
{
    if (srv->scratch.cap > KEEP_SCRATCH)
        fdn_buf_free(&srv->scratch);
    srv->scratch.len = 0;
    return &srv->scratch;
}
