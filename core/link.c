/* link.c: the node's RPC links on bufferevents: listener, outbound connects, frames out (header
 * + copied body), the connect, handshake and ping deadlines on one periodic sweep, the bounds on
 * pending output, closing (with a flush), and, with a secret, TLS between the socket's buffers
 * and the frames (tls.h). Frames in are link_in.c's; the id -> link map is link_map.c's; the
 * listener and outbound connects are link_open.c's; the sweep (deadlines, pings) and pairs are
 * link_live.c's. */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/listener.h>
#include <lua.h>

#include "bev_write.h"
#include "frame.h"
#include "link_int.h"
#include "node.h"
#include "tls.h"
#include "util.h"

static const char *const reason_names[FDN_LINK_R_MAX] = {
    "closed",
    "eof",
    "socket error",
    "connect failed",
    "connect timeout",
    "handshake timeout",
    "ping timeout",
    "slow consumer",
    "protocol error",
    "frame too large",
    "frame too short",
    "unknown frame type",
    "tls handshake failed",
    "tls error",
};

static void link_write_cb(struct bufferevent *bev, void *arg);
static void link_event_cb(struct bufferevent *bev, short what, void *arg);

/* --- life and death of a link ---------------------------------------------------------- */

struct link *fdn_link_new(struct fdn_links *ls, evutil_socket_t fd, int inbound)
{
    struct link *l = xcalloc(1, sizeof *l);
    l->ls = ls;
    l->id = ++ls->seq;
    l->inbound = inbound != 0;
    l->bev = bufferevent_socket_new(ls->n->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!l->bev) {
        fdn_error("link: out of memory creating a bufferevent");
        abort();
    }
    l->pout = evbuffer_new();
    l->pin = ls->tls ? evbuffer_new() : bufferevent_get_input(l->bev);
    if (!l->pin || !l->pout) {
        fdn_error("link: out of memory creating buffers");
        abort();
    }
    if (ls->tls)
        l->tls = fdn_tls_conn_new(ls->tls, inbound, bufferevent_get_input(l->bev),
                                  bufferevent_get_output(l->bev));
    bufferevent_setcb(l->bev, fdn_link_read_cb, NULL, link_event_cb, l);
    bufferevent_set_max_single_read(l->bev, IO_CHUNK);
    bufferevent_set_max_single_write(l->bev, IO_CHUNK);
    bufferevent_enable(l->bev, EV_READ | EV_WRITE);
    l->last_heard = l->last_sent = fdn_now_ms();
    l->next = ls->all;
    if (ls->all)
        ls->all->prev = l;
    ls->all = l;
    fdn_link_map_put(ls, l);
    return l;
}

/* The dirty list: the flush visits the links that queued frames, not every link. */
static void dirty_add(struct fdn_links *ls, struct link *l)
{
    l->dirty = 1;
    l->dirty_prev = NULL;
    l->dirty_next = ls->dirty;
    if (ls->dirty)
        ls->dirty->dirty_prev = l;
    ls->dirty = l;
    ls->ndirty++;
}

static void dirty_remove(struct fdn_links *ls, struct link *l)
{
    if (!l->dirty)
        return;
    l->dirty = 0;
    if (l->dirty_prev)
        l->dirty_prev->dirty_next = l->dirty_next;
    else
        ls->dirty = l->dirty_next;
    if (l->dirty_next)
        l->dirty_next->dirty_prev = l->dirty_prev;
    l->dirty_prev = l->dirty_next = NULL;
    ls->ndirty--;
}

void fdn_link_free(struct link *l)
{
    struct fdn_links *ls = l->ls;
    fdn_link_unpair(l);
    dirty_remove(ls, l);
    if (l->mapped)
        fdn_link_map_del(ls, l);
    if (l->prev)
        l->prev->next = l->next;
    else
        ls->all = l->next;
    if (l->next)
        l->next->prev = l->prev;
    bufferevent_free(l->bev); /* safe inside its own callbacks: libevent holds a reference */
    evbuffer_free(l->pout);
    if (l->tls) {
        fdn_tls_conn_free(l->tls);
        evbuffer_free(l->pin);
    }
    free(l);
}

/* Bytes queued for output: frames not moved out yet, and what the bufferevent has to write. */
static size_t pending(const struct link *l)
{
    return evbuffer_get_length(bufferevent_get_output(l->bev)) + evbuffer_get_length(l->pout);
}

/* A close Lua did not ask for: the link goes now, its "down" is dispatched from the reactor
 * (links_deferred_cb) so that no Lua call ever re-enters the dispatcher. */
void fdn_link_fail(struct link *l, int reason, const char *detail)
{
    struct fdn_links *ls = l->ls;
    ls->st.closes[reason]++;
    int64_t now = fdn_now_ms();
    uint64_t unsaid = 0;
    if (reason >= FDN_LINK_R_TLS) {
        /* a node with another secret retries every second: say it, but not every time */
        int say = fdn_ratelog_allow(&ls->tls_log, now, TLS_LOG_MS, 1, NULL);
        ls->st.tls_failures++;
        fdn_log(say ? FDN_LOG_WARN : FDN_LOG_DEBUG,
                "link %llu (%s port %d, %s): %s%s%s (%llu so far; a peer with another --secret, "
                "or none?)",
                (unsigned long long)l->id, l->ip, l->port, l->inbound ? "inbound" : "outbound",
                reason_names[reason], detail && *detail ? ": " : "", detail ? detail : "",
                (unsigned long long)ls->st.tls_failures);
    } else {
        if (reason >= FDN_LINK_R_PROTOCOL)
            ls->st.protocol_errors++;
        int level = reason >= FDN_LINK_R_PROTOCOL          ? FDN_LOG_WARN
                    : reason >= FDN_LINK_R_CONNECT_TIMEOUT ? FDN_LOG_INFO
                                                           : FDN_LOG_DEBUG;
        /* a flood of bad peers must not flood the log: per reason, at most CLOSE_LOG_BURST
         * lines per CLOSE_LOG_MS, then one line saying how many were not logged */
        if (level > FDN_LOG_DEBUG &&
            !fdn_ratelog_allow(&ls->close_log[reason], now, CLOSE_LOG_MS, CLOSE_LOG_BURST, &unsaid))
            level = FDN_LOG_DEBUG;
        if (unsaid)
            fdn_log(FDN_LOG_WARN, "link: %llu more '%s' failures were not logged",
                    (unsigned long long)unsaid, reason_names[reason]);
        fdn_log(level, "link %llu (%s port %d): %s%s%s", (unsigned long long)l->id, l->ip, l->port,
                reason_names[reason], detail ? ": " : "", detail ? detail : "");
    }
    if (l->mapped) {
        if (ls->ndowns == ls->downs_cap) {
            ls->downs_cap = ls->downs_cap ? ls->downs_cap * 2 : 8;
            ls->downs = xrealloc(ls->downs, ls->downs_cap * sizeof *ls->downs);
        }
        struct down *d = &ls->downs[ls->ndowns++];
        d->id = l->id;
        d->reason = reason;
        d->detail[0] = 0;
        if (detail)
            snprintf(d->detail, sizeof d->detail, "%s", detail);
        event_active(ls->deferred, EV_TIMEOUT, 0);
    }
    fdn_link_free(l);
}

/* Runs the dispatch (or, with call, the fast door) begun by the caller; -1 when the links
 * were freed from inside it. */
int fdn_links_run_dispatch(struct fdn_links *ls, int nargs, int call)
{
    ls->depth++;
    if (call)
        fdn_node_call_end(ls->n, nargs);
    else
        fdn_node_dispatch_end(ls->n, nargs);
    if (--ls->depth == 0 && ls->dead) {
        free(ls);
        return -1;
    }
    return ls->dead ? -1 : 0;
}

static int dispatch_end(struct fdn_links *ls, int nargs)
{
    return fdn_links_run_dispatch(ls, nargs, 0);
}

int fdn_links_event(struct fdn_links *ls, uint64_t id, const char *what, const char *s, int i)
{
    lua_State *L = ls->n->L;
    lua_checkstack(L, 8);
    fdn_node_dispatch_begin(ls->n, "link");
    lua_pushinteger(L, (lua_Integer)id);
    lua_pushstring(L, what);
    lua_pushstring(L, s);
    if (i < 0)
        return dispatch_end(ls, 3);
    lua_pushinteger(L, i);
    return dispatch_end(ls, 4);
}

static void links_deferred_cb(evutil_socket_t fd, short what, void *arg)
{
    struct fdn_links *ls = arg;
    (void)fd;
    (void)what;
    for (size_t i = 0; i < ls->ndowns; i++) { /* Lua may queue more meanwhile */
        struct down d = ls->downs[i];
        lua_State *L = ls->n->L;
        lua_checkstack(L, 8);
        fdn_node_dispatch_begin(ls->n, "link");
        lua_pushinteger(L, (lua_Integer)d.id);
        lua_pushstring(L, "down");
        lua_pushstring(L, reason_names[d.reason]);
        if (d.detail[0])
            lua_pushstring(L, d.detail);
        if (dispatch_end(ls, d.detail[0] ? 4 : 3) < 0)
            return;
    }
    ls->ndowns = 0;
}

/* --- frames out ------------------------------------------------------------------------ */

/* Moves out what is queued on l: with TLS, encrypted into the bufferevent's output (nothing
 * before the handshake is over); without, written to the socket now when nothing waits
 * before it, and what the socket does not take goes to the bufferevent, which writes it
 * when it can. So a link under load never arms the write event just to find its queue
 * empty. 0, or -1 when that failed and l is gone. */
int fdn_link_move_out(struct link *l)
{
    dirty_remove(l->ls, l);
    if (l->tls) {
        if (fdn_tls_conn_write(l->tls, l->pout) < 0) {
            fdn_link_fail(l, FDN_LINK_R_TLS_RECORD, fdn_tls_conn_error(l->tls));
            return -1;
        }
        return 0;
    }
    fdn_bev_write_through(l->bev, l->pout, IO_CHUNK, l->state == S_OPEN);
    return 0;
}

static void links_flush_cb(evutil_socket_t fd, short what, void *arg)
{
    struct fdn_links *ls = arg;
    (void)fd;
    (void)what;
    /* nothing here calls Lua; move_out takes l off the list (or frees it); a link dirtied
     * again meanwhile waits for the next flush */
    for (size_t n = ls->ndirty; n > 0 && ls->dirty; n--)
        fdn_link_move_out(ls->dirty);
}

int fdn_link_queue(struct link *l, int type, int flags, uint32_t id, const void *body, size_t len)
{
    struct fdn_links *ls = l->ls;
    struct evbuffer *out = l->pout;
    uint8_t h[FDN_FRAME_HEADER];
    fdn_frame_header(h, (uint8_t)type, (uint8_t)flags, id, len);
    evbuffer_add(out, h, sizeof h);
    if (len)
        evbuffer_add(out, body, len);
    l->sent = 1;
    ls->st.frames_out++;
    ls->st.bytes_out += sizeof h + len;
    if (!l->dirty) { /* the frames of this turn go out together (with TLS: in few records) */
        dirty_add(ls, l);
        event_active(ls->flush, EV_TIMEOUT, 0);
    }
    if (pending(l) > ls->max_pending) {
        fdn_link_fail(l, FDN_LINK_R_SLOW, NULL);
        return FDN_LINK_ESLOW;
    }
    return 0;
}

int fdn_links_send(struct fdn_links *ls, uint64_t id, int type, int flags, uint32_t req_id,
                   const void *body, size_t len)
{
    struct link *l = fdn_link_find(ls, id);
    if (!l)
        return FDN_LINK_EGONE;
    if (type < 1 || type > FDN_FRAME_TYPE_MAX || flags < 0 || flags > 255)
        return FDN_LINK_EINVAL;
    if (len > ls->max_frame - FDN_FRAME_MIN_LEN)
        return FDN_LINK_ETOOLARGE;
    return fdn_link_queue(l, type, flags, req_id, body, len);
}

/* --- connection events ----------------------------------------------------------------- */

static void start_linger(struct link *l)
{
    /* half-close and wait for the peer's EOF, so unread input cannot turn our close into a
     * reset that destroys what we just sent */
    l->state = S_LINGER;
    shutdown(bufferevent_getfd(l->bev), SHUT_WR);
}

static void link_write_cb(struct bufferevent *bev, void *arg)
{
    struct link *l = arg;
    (void)bev;
    if (l->state == S_FLUSHING)
        start_linger(l);
}

static void link_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct link *l = arg;
    struct fdn_links *ls = l->ls;
    int err = EVUTIL_SOCKET_ERROR();
    const char *detail = err ? evutil_socket_error_to_string(err) : NULL;
    (void)bev;
    if (what & BEV_EVENT_CONNECTED) {
        if (l->state != S_CONNECTING)
            return; /* closed with flush while connecting: the output goes, then linger */
        l->state = S_OPEN;
        l->last_heard = l->last_sent = fdn_now_ms();
        l->deadline = l->last_heard + ls->handshake_ms;
        ls->st.connected++;
        if (l->tls && fdn_link_decrypt(l) < 0) /* the client's hello */
            return;
        fdn_links_event(ls, l->id, "up", l->ip, l->port);
        return;
    }
    if (l->state == S_FLUSHING || l->state == S_LINGER)
        fdn_link_free(l);
    else if (l->state == S_CONNECTING)
        fdn_link_fail(l, FDN_LINK_R_CONNECT, detail);
    else if (l->tls && !fdn_tls_conn_established(l->tls)) /* the other end refused us */
        fdn_link_fail(l, FDN_LINK_R_TLS, what & BEV_EVENT_EOF ? "closed by the peer" : detail);
    else if (what & BEV_EVENT_EOF)
        fdn_link_fail(l, FDN_LINK_R_EOF, NULL);
    else
        fdn_link_fail(l, FDN_LINK_R_ERROR, detail);
}

/* --- the rest of the API --------------------------------------------------------------- */

int fdn_links_ready(struct fdn_links *ls, uint64_t id)
{
    struct link *l = fdn_link_find(ls, id);
    if (!l)
        return FDN_LINK_EGONE;
    l->ready = 1;
    return 0;
}

int fdn_links_close(struct fdn_links *ls, uint64_t id, const char *reason, int flush)
{
    struct link *l = fdn_link_find(ls, id);
    if (!l)
        return FDN_LINK_EGONE;
    ls->st.closes[FDN_LINK_R_LOCAL]++;
    fdn_debug("link %llu (%s port %d): closed%s%s", (unsigned long long)id, l->ip, l->port,
              reason ? ": " : "", reason ? reason : "");
    fdn_link_map_del(ls, l);
    fdn_link_unpair(l);
    if (l->tls) {
        /* what is queued goes, then a close_notify; before the handshake is over nothing can */
        if (flush && fdn_tls_conn_established(l->tls) &&
            fdn_tls_conn_write(l->tls, l->pout) == FDN_TLS_OK)
            fdn_tls_conn_close(l->tls);
    } else if (flush) {
        evbuffer_add_buffer(bufferevent_get_output(l->bev), l->pout);
    }
    evbuffer_drain(l->pout, evbuffer_get_length(l->pout));
    dirty_remove(ls, l);
    size_t pending = evbuffer_get_length(bufferevent_get_output(l->bev));
    if (!flush || (l->state == S_CONNECTING && pending == 0)) {
        fdn_link_free(l);
        return 0;
    }
    int connecting = l->state == S_CONNECTING;
    l->state = S_FLUSHING;
    l->deadline = fdn_now_ms() + FLUSH_MS;
    bufferevent_setcb(l->bev, fdn_link_read_cb, link_write_cb, link_event_cb, l);
    if (!connecting && pending == 0)
        start_linger(l);
    return 0;
}

int fdn_links_info(struct fdn_links *ls, uint64_t id, struct fdn_link_info *out)
{
    struct link *l = fdn_link_find(ls, id);
    if (!l)
        return FDN_LINK_EGONE;
    memcpy(out->ip, l->ip, sizeof out->ip);
    out->port = l->port;
    out->local_ip[0] = '\0';
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    evutil_socket_t fd = l->bev ? bufferevent_getfd(l->bev) : -1;
    if (fd >= 0 && getsockname(fd, (struct sockaddr *)&ss, &len) == 0) {
        int port;
        fdn_addr_string((struct sockaddr *)&ss, out->local_ip, &port);
    }
    out->inbound = l->inbound;
    out->connected = l->state == S_OPEN;
    out->ready = l->ready;
    out->secure = l->tls && fdn_tls_conn_established(l->tls);
    out->pending = pending(l);
    return 0;
}

void fdn_links_stats(const struct fdn_links *ls, struct fdn_link_stats *out)
{
    *out = ls->st;
    out->links = ls->map_count;
}

size_t fdn_links_closing(const struct fdn_links *ls)
{
    size_t n = 0;
    for (const struct link *l = ls ? ls->all : NULL; l; l = l->next)
        n += l->state == S_FLUSHING || l->state == S_LINGER;
    return n;
}

const char *fdn_link_reason_name(int reason)
{
    return reason >= 0 && reason < FDN_LINK_R_MAX ? reason_names[reason] : "?";
}

const char *fdn_link_strerror(int err)
{
    switch (err) {
    case FDN_LINK_ESLOW:
        return "slow consumer";
    case FDN_LINK_ETOOLARGE:
        return "too large";
    case FDN_LINK_EGONE:
        return "gone";
    case FDN_LINK_EINVAL:
        return "invalid";
    default:
        return "system error";
    }
}

void fdn_links_set_deadlines(struct fdn_links *ls, int connect_ms, int handshake_ms)
{
    if (connect_ms > 0)
        ls->connect_ms = connect_ms;
    if (handshake_ms > 0)
        ls->handshake_ms = handshake_ms;
}

struct fdn_links *fdn_links_new(struct fdn_node *n)
{
    struct fdn_links *ls = xcalloc(1, sizeof *ls);
    ls->n = n;
    ls->tls = n->tls;
    ls->max_frame = n->cfg.max_frame;
    if (ls->max_frame > FDN_FRAME_CEILING)
        ls->max_frame = FDN_FRAME_CEILING;
    if (ls->max_frame < FDN_FRAME_MIN_LEN)
        ls->max_frame = FDN_FRAME_MIN_LEN;
    ls->max_pending = n->cfg.max_pending;
    ls->ping_timeout = n->cfg.ping_timeout_ms;
    ls->ping_interval = ls->ping_timeout / 3 < PING_MS ? ls->ping_timeout / 3 : PING_MS;
    ls->connect_ms = CONNECT_MS;
    ls->handshake_ms = HANDSHAKE_MS;
    ls->map_cap = 16;
    ls->map = xcalloc(ls->map_cap, sizeof *ls->map);
    int tick = ls->ping_interval / 2 < TICK_MS ? ls->ping_interval / 2 : TICK_MS;
    if (tick < 5)
        tick = 5;
    ls->tick_ms = tick;
    ls->tick = evtimer_new(n->base, fdn_links_tick_cb, ls);
    ls->deferred = event_new(n->base, -1, 0, links_deferred_cb, ls);
    ls->flush = event_new(n->base, -1, 0, links_flush_cb, ls);
    if (!ls->tick || !ls->deferred || !ls->flush) {
        fdn_error("link: out of memory creating timers");
        abort();
    }
    fdn_links_arm_tick(ls);
    ls->last_tick = fdn_now_ms();
    return ls;
}

void fdn_links_free(struct fdn_links *ls)
{
    if (!ls || ls->dead)
        return;
    fdn_links_stop_listening(ls);
    while (ls->all) {
        if (ls->all->mapped)
            fdn_link_map_del(ls, ls->all);
        fdn_link_free(ls->all);
    }
    event_free(ls->tick);
    event_free(ls->deferred);
    event_free(ls->flush);
    free(ls->map);
    free(ls->downs);
    ls->dead = 1;
    if (ls->depth == 0)
        free(ls);
}
