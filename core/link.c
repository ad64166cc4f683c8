/* link.c: the node's RPC links on bufferevents: listener, outbound connects, frames in (parsed
 * in place, handed to Lua) and out (header + copied body), PING/PONG, the connect, handshake
 * and ping deadlines on one periodic sweep, the bounds on frame size and pending output, and,
 * with a secret, TLS between the socket's buffers and the frames (tls.h). */
#include "link.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <lua.h>

#include "frame.h"
#include "node.h"
#include "tls.h"
#include "util.h"

#define CONNECT_MS 3000
#define HANDSHAKE_MS 3000
#define FLUSH_MS 2000 /* a link closed with flush is freed after this whatever happens */
#define PING_MS 1000
#define TICK_MS 250
#define ACCEPT_PAUSE_MS 1000
#define DEFAULT_PING_TIMEOUT_MS 3000
#define DEFAULT_MAX_FRAME (1024 * 1024)
#define DEFAULT_MAX_PENDING (8 * 1024 * 1024)
#define IO_CHUNK (256 * 1024) /* bytes read or written per socket call at most */
#define TLS_LOG_MS 10000      /* failed TLS handshakes are logged at most this often */
#define CLOSE_LOG_MS 10000    /* other link failures: at most CLOSE_LOG_BURST lines per period */
#define CLOSE_LOG_BURST 20
#define HELLO_MAX_FRAME 65536 /* the largest frame accepted before the handshake is done */

enum { S_CONNECTING, S_OPEN, S_FLUSHING, S_LINGER };

struct link {
    struct fdn_links *ls;
    struct link *prev, *next; /* every link, including those flushing before close */
    struct bufferevent *bev;
    /* Frames are parsed from pin: the bufferevent's input, or, with TLS, a plaintext buffer tls
     * decrypts into. They are queued on pout, a buffer of our own, and move out after the
     * turn (or every few frames of a batch): written to the socket at once when nothing
     * waits before them, else through the bufferevent's output (with TLS, encrypted) */
    struct evbuffer *pin, *pout;
    struct fdn_tls_conn *tls; /* NULL without a secret */
    uint64_t id;
    int state, port;
    unsigned inbound : 1, ready : 1, mapped : 1, heard : 1, sent : 1, dirty : 1;
    int64_t deadline; /* connect, handshake (until ready) or flush, in ms */
    int64_t last_heard, last_sent;
    uint32_t ping_id;
    char ip[46];
};

struct down {
    uint64_t id;
    int reason;
    char detail[96];
};

struct fdn_links {
    struct fdn_node *n;
    struct fdn_tls *tls; /* the node's, or NULL: no TLS */
    struct evconnlistener *listener;
    struct event *tick, *deferred;
    struct event *flush; /* moves out what the links queued, after the current turn */
    struct link *all;
    struct link **map; /* id -> open link: open addressing, linear probing */
    size_t map_cap, map_count;
    struct down *downs; /* "down" events waiting for the deferred dispatch */
    size_t ndowns, downs_cap;
    uint64_t seq;
    size_t max_frame, max_pending;
    int ping_timeout, ping_interval, connect_ms, handshake_ms;
    int64_t accept_resume;   /* 0, or when a paused listener accepts again */
    int64_t last_tick;       /* a late tick means the reactor stalled */
    int64_t tls_logged;      /* when a failed TLS handshake was last logged */
    int64_t close_log_start; /* rate limit of the other failures' log lines */
    uint64_t close_log_count[FDN_LINK_R_MAX], close_log_dropped[FDN_LINK_R_MAX];
    int open_warned;     /* the warning about a listener open to the network, without TLS */
    int depth, dead;     /* dispatches under way; freed while in one */
    fdn_frame_door door; /* the frames' fast door (fdn_links_set_door), or NULL */
    struct fdn_link_stats st;
};

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

static void link_read_cb(struct bufferevent *bev, void *arg);
static void link_write_cb(struct bufferevent *bev, void *arg);
static void link_event_cb(struct bufferevent *bev, short what, void *arg);

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- id -> link map ------------------------------------------------------------------- */

static size_t home(uint64_t id, size_t cap)
{
    return (size_t)((id * 0x9E3779B97F4A7C15ull) >> 32) & (cap - 1);
}

static struct link *find(const struct fdn_links *ls, uint64_t id)
{
    size_t mask = ls->map_cap - 1;
    for (size_t i = home(id, ls->map_cap); ls->map[i]; i = (i + 1) & mask)
        if (ls->map[i]->id == id)
            return ls->map[i];
    return NULL;
}

static void map_insert(struct link **map, size_t cap, struct link *l)
{
    size_t i = home(l->id, cap);
    while (map[i])
        i = (i + 1) & (cap - 1);
    map[i] = l;
}

static void map_put(struct fdn_links *ls, struct link *l)
{
    if ((ls->map_count + 1) * 2 > ls->map_cap) {
        size_t cap = ls->map_cap * 2;
        struct link **map = xcalloc(cap, sizeof *map);
        for (size_t i = 0; i < ls->map_cap; i++)
            if (ls->map[i])
                map_insert(map, cap, ls->map[i]);
        free(ls->map);
        ls->map = map;
        ls->map_cap = cap;
    }
    map_insert(ls->map, ls->map_cap, l);
    ls->map_count++;
    l->mapped = 1;
}

/* Removes l and shifts back the entries of its probe run (no tombstones). */
static void map_del(struct fdn_links *ls, struct link *l)
{
    size_t mask = ls->map_cap - 1, i = home(l->id, ls->map_cap);
    while (ls->map[i] != l)
        i = (i + 1) & mask;
    ls->map[i] = NULL;
    for (size_t j = (i + 1) & mask; ls->map[j]; j = (j + 1) & mask) {
        size_t k = home(ls->map[j]->id, ls->map_cap);
        int stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (!stays) {
            ls->map[i] = ls->map[j];
            ls->map[j] = NULL;
            i = j;
        }
    }
    ls->map_count--;
    l->mapped = 0;
}

/* --- life and death of a link ---------------------------------------------------------- */

static void set_sockopts(evutil_socket_t fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
}

static struct link *link_new(struct fdn_links *ls, evutil_socket_t fd, int inbound)
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
    bufferevent_setcb(l->bev, link_read_cb, NULL, link_event_cb, l);
    bufferevent_set_max_single_read(l->bev, IO_CHUNK);
    bufferevent_set_max_single_write(l->bev, IO_CHUNK);
    bufferevent_enable(l->bev, EV_READ | EV_WRITE);
    l->last_heard = l->last_sent = now_ms();
    l->next = ls->all;
    if (ls->all)
        ls->all->prev = l;
    ls->all = l;
    map_put(ls, l);
    return l;
}

static void link_free(struct link *l)
{
    struct fdn_links *ls = l->ls;
    if (l->mapped)
        map_del(ls, l);
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
static void fail(struct link *l, int reason, const char *detail)
{
    struct fdn_links *ls = l->ls;
    ls->st.closes[reason]++;
    if (reason >= FDN_LINK_R_TLS) {
        /* a node with another secret retries every second: say it, but not every time */
        int64_t now = now_ms();
        int say = !ls->tls_logged || now - ls->tls_logged >= TLS_LOG_MS;
        ls->st.tls_failures++;
        if (say)
            ls->tls_logged = now;
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
        /* a flood of bad peers must not flood the log: per reason, at most
         * CLOSE_LOG_BURST lines per CLOSE_LOG_MS, then one line saying how many
         * were not logged */
        int64_t now = now_ms();
        if (now - ls->close_log_start >= CLOSE_LOG_MS) {
            for (int i = 0; i < FDN_LINK_R_MAX; i++)
                if (ls->close_log_dropped[i])
                    fdn_log(FDN_LOG_WARN, "link: %llu more '%s' failures were not logged",
                            (unsigned long long)ls->close_log_dropped[i], reason_names[i]);
            ls->close_log_start = now;
            memset(ls->close_log_count, 0, sizeof ls->close_log_count);
            memset(ls->close_log_dropped, 0, sizeof ls->close_log_dropped);
        }
        if (level > FDN_LOG_DEBUG && ++ls->close_log_count[reason] > CLOSE_LOG_BURST) {
            ls->close_log_dropped[reason]++;
            level = FDN_LOG_DEBUG;
        }
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
    link_free(l);
}

/* Runs the dispatch (or, with call, the fast door) begun by the caller; -1 when the links
 * were freed from inside it. */
static int run_dispatch(struct fdn_links *ls, int nargs, int call)
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
    return run_dispatch(ls, nargs, 0);
}

static int link_event(struct fdn_links *ls, uint64_t id, const char *what, const char *s, int i)
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
static int move_out(struct link *l)
{
    l->dirty = 0;
    if (l->tls) {
        if (fdn_tls_conn_write(l->tls, l->pout) < 0) {
            fail(l, FDN_LINK_R_TLS_RECORD, fdn_tls_conn_error(l->tls));
            return -1;
        }
        return 0;
    }
    struct evbuffer *out = bufferevent_get_output(l->bev);
    if (l->state == S_OPEN && evbuffer_get_length(out) == 0) /* errors: the bufferevent sees them */
        evbuffer_write_atmost(l->pout, bufferevent_getfd(l->bev), IO_CHUNK);
    if (evbuffer_get_length(l->pout))
        evbuffer_add_buffer(out, l->pout);
    return 0;
}

static void links_flush_cb(evutil_socket_t fd, short what, void *arg)
{
    struct fdn_links *ls = arg;
    (void)fd;
    (void)what;
    for (struct link *l = ls->all, *next; l; l = next) {
        next = l->next; /* nothing here calls Lua: only l can go */
        if (l->dirty)
            move_out(l);
    }
}

static int queue_frame(struct link *l, int type, int flags, uint32_t id, const void *body,
                       size_t len)
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
        l->dirty = 1;
        event_active(ls->flush, EV_TIMEOUT, 0);
    }
    if (pending(l) > ls->max_pending) {
        fail(l, FDN_LINK_R_SLOW, NULL);
        return FDN_LINK_ESLOW;
    }
    return 0;
}

int fdn_links_send(struct fdn_links *ls, uint64_t id, int type, int flags, uint32_t req_id,
                   const void *body, size_t len)
{
    struct link *l = find(ls, id);
    if (!l)
        return FDN_LINK_EGONE;
    if (type < 1 || type > FDN_FRAME_TYPE_MAX || flags < 0 || flags > 255)
        return FDN_LINK_EINVAL;
    if (len > ls->max_frame - FDN_FRAME_MIN_LEN)
        return FDN_LINK_ETOOLARGE;
    return queue_frame(l, type, flags, req_id, body, len);
}

/* --- frames in ------------------------------------------------------------------------- */

static int allowed_before_ready(int type)
{
    return type == FDN_FRAME_HELLO || type == FDN_FRAME_BYE || type == FDN_FRAME_PING ||
           type == FDN_FRAME_PONG;
}

static int parse_reason(int err)
{
    return err == FDN_FRAME_ETOOLARGE   ? FDN_LINK_R_TOO_LARGE
           : err == FDN_FRAME_ETOOSHORT ? FDN_LINK_R_TOO_SHORT
                                        : FDN_LINK_R_TYPE;
}

void fdn_links_set_door(struct fdn_links *ls, fdn_frame_door door)
{
    ls->door = door;
}

/* The next complete frame of l's input (plaintext), PING/PONG answered on the way: 1 with f
 * filled in (the frame stays at the head of the input, f->size bytes), 0 when no whole frame
 * is there, -1 when l failed (it is gone). The frame is parsed in place: evbuffer_pullup
 * copies only when a frame straddles two chains. */
static int next_frame(struct link *l, struct fdn_frame *f)
{
    struct fdn_links *ls = l->ls;
    struct evbuffer *in = l->pin;
    for (;;) {
        size_t avail = evbuffer_get_length(in);
        if (avail < 4)
            return 0;
        size_t hl = avail < FDN_FRAME_HEADER ? avail : FDN_FRAME_HEADER;
        const uint8_t *p = evbuffer_pullup(in, (ev_ssize_t)hl);
        /* until the handshake is done only a HELLO may come, and it is small: a
         * stranger cannot make us buffer a megabyte per connection */
        size_t limit = l->ready ? ls->max_frame : HELLO_MAX_FRAME;
        int r = fdn_frame_parse(p, hl, limit, f);
        if (r == 0 && f->size && f->size <= avail) {
            p = evbuffer_pullup(in, (ev_ssize_t)f->size);
            r = fdn_frame_parse(p, f->size, limit, f);
        }
        if (r < 0) {
            fail(l, parse_reason(r), NULL);
            return -1;
        }
        if (hl > 4 && !l->ready && !allowed_before_ready(p[4])) {
            fail(l, FDN_LINK_R_PROTOCOL, fdn_frame_type_name(p[4]));
            return -1;
        }
        if (r == 0)
            return 0;
        ls->st.frames_in++;
        ls->st.bytes_in += (uint64_t)r;
        if (f->type != FDN_FRAME_PING && f->type != FDN_FRAME_PONG)
            return 1;
        uint32_t ping = f->id;
        int type = f->type;
        evbuffer_drain(in, (size_t)r);
        if (type == FDN_FRAME_PING && queue_frame(l, FDN_FRAME_PONG, 0, ping, NULL, 0) < 0)
            return -1;
    }
}

/* While a batch of frames (all that one read brought) is handed to Lua, what Lua queued on the
 * link goes out once half of the batch is handled, and again after the last: the peer works on
 * the first half's answers while this node works on the second half, and a batch costs two
 * writes whatever its size. Not before FLUSH_MIN frames, though: a batch of so few goes out in
 * one write at its end, as the overlap would not pay for the extra write. (rpc@64, measured: a
 * write every 8 frames did ~20 % fewer calls/s; one write per batch, no overlap, ~35 % fewer.) */
#define FLUSH_MIN 8

/* One read's frames on their way into Lua. */
struct batch {
    struct fdn_links *ls;
    uint64_t id;
    size_t half;  /* the input's length once half of the batch is handled */
    size_t taken; /* the size of the head frame while the door prepares it; then 0 */
    int handed, flushed;
    int state; /* BATCH_MORE until the frames run out (BATCH_DONE) or the link goes */
};
enum { BATCH_GONE = -1, BATCH_DONE = 0, BATCH_MORE = 1 };

/* After a frame's handler ran: l still there (else BATCH_GONE), and the half-batch flush. */
static int handed_one(struct batch *b, struct link **lp)
{
    struct link *l = *lp = b->ls->dead ? NULL : find(b->ls, b->id); /* Lua may have closed it */
    if (!l)
        return BATCH_GONE;
    if (b->handed >= FLUSH_MIN && !b->flushed && evbuffer_get_length(l->pin) <= b->half) {
        b->flushed = 1;
        if (move_out(l) < 0)
            return BATCH_GONE;
    }
    return BATCH_MORE;
}

/* The frames of a batch through the fast door, all in one protected call (the door into Lua
 * costs about as much as decoding a small frame). A frame leaves the input before its handler
 * runs, so that when a handler raises, the protected call ends having lost nothing and the
 * next one takes up the frames after it; a frame whose preparation raised is dropped. Every
 * frame gets the whole time budget, and the call ends after one that overran it (the
 * watchdog's hook would stop whatever user code ran next in it). */
static int hand_frames(lua_State *L)
{
    struct batch *b = lua_touserdata(L, 1);
    struct fdn_links *ls = b->ls;
    struct link *l = find(ls, b->id);
    int base = lua_gettop(L);
    while (l) {
        struct fdn_frame f;
        int r = next_frame(l, &f);
        if (r <= 0) {
            b->state = r < 0 ? BATCH_GONE : BATCH_DONE;
            return 0;
        }
        b->taken = f.size;
        int nargs = ls->door(L, b->id, &f);
        if ((l = find(ls, b->id)) != NULL) /* (a finalizer run by the door's GC could close it) */
            evbuffer_drain(l->pin, f.size);
        b->taken = 0;
        b->handed++;
        if (nargs >= 0)
            lua_call(L, nargs, 0);
        lua_settop(L, base);
        if ((b->state = handed_one(b, &l)) == BATCH_GONE)
            return 0;
        if (fdn_node_call_next(ls->n))
            return 0; /* over budget: a new protected call for the rest */
    }
    b->state = BATCH_GONE;
    return 0;
}

/* Without a door: each frame is a "frame" dispatch of its own (a string body). */
static void dispatch_frames(struct batch *b, struct link *l)
{
    lua_State *L = b->ls->n->L;
    while (b->state == BATCH_MORE) {
        struct fdn_frame f;
        int r = next_frame(l, &f);
        if (r <= 0) {
            b->state = r < 0 ? BATCH_GONE : BATCH_DONE;
            return;
        }
        lua_checkstack(L, 8);
        fdn_node_dispatch_begin(b->ls->n, "frame");
        lua_pushinteger(L, (lua_Integer)b->id);
        lua_pushinteger(L, f.type);
        lua_pushinteger(L, f.flags);
        lua_pushinteger(L, (lua_Integer)f.id);
        lua_pushlstring(L, (const char *)f.body, f.body_len);
        evbuffer_drain(l->pin, f.size);
        b->handed++;
        if (dispatch_end(b->ls, 5) < 0) {
            b->state = BATCH_GONE;
            return;
        }
        b->state = handed_one(b, &l);
    }
}

/* Hands every complete frame of l's input (plaintext) to Lua, PING/PONG excepted; 0, or -1 when
 * l is gone. */
static int read_frames(struct link *l)
{
    struct fdn_links *ls = l->ls;
    struct batch b = {ls, l->id, evbuffer_get_length(l->pin) / 2, 0, 0, 0, BATCH_MORE};
    if (!ls->door)
        dispatch_frames(&b, l);
    while (b.state == BATCH_MORE && ls->door) {
        lua_State *L = ls->n->L;
        int handed = b.handed;
        lua_checkstack(L, 4);
        fdn_node_call_begin(ls->n, hand_frames);
        lua_pushlightuserdata(L, &b);
        if (run_dispatch(ls, 1, 1) < 0)
            return -1;
        if (b.taken) { /* its preparation raised: dropped */
            if ((l = find(ls, b.id)) != NULL)
                evbuffer_drain(l->pin, b.taken);
            b.taken = 0;
        } else if (b.state == BATCH_MORE && b.handed == handed) {
            break; /* the call failed before its first frame (out of memory): the next read */
        }
    }
    if (b.state == BATCH_GONE || (l = find(ls, b.id)) == NULL)
        return -1;
    return b.handed ? move_out(l) : 0;
}

/* TLS: runs the handshake, then decrypts into l->pin; 0, 1 when the peer sent close_notify
 * (after the plaintext before it), or -1 when that failed and l is gone. */
static int decrypt(struct link *l)
{
    int was = fdn_tls_conn_established(l->tls);
    int r = fdn_tls_conn_read(l->tls, l->pin);
    if (r < 0) {
        fail(l, r == FDN_TLS_EHANDSHAKE ? FDN_LINK_R_TLS : FDN_LINK_R_TLS_RECORD,
             fdn_tls_conn_error(l->tls));
        return -1;
    }
    if (!was && fdn_tls_conn_established(l->tls)) {
        l->ls->st.tls_handshakes++;
        fdn_debug("link %llu (%s port %d): tls handshake done", (unsigned long long)l->id, l->ip,
                  l->port);
        if (move_out(l) < 0) /* what Lua queued meanwhile (its HELLO) goes now */
            return -1;
    }
    return r == FDN_TLS_EOF;
}

static void link_read_cb(struct bufferevent *bev, void *arg)
{
    struct link *l = arg;
    if (l->state != S_OPEN) { /* flushing or lingering: input is dropped */
        struct evbuffer *in = bufferevent_get_input(bev);
        evbuffer_drain(in, evbuffer_get_length(in));
        return;
    }
    l->heard = 1;
    int eof = l->tls ? decrypt(l) : 0;
    if (eof < 0 || read_frames(l) < 0)
        return;
    if (eof)
        fail(l, FDN_LINK_R_EOF, NULL);
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
        l->last_heard = l->last_sent = now_ms();
        l->deadline = l->last_heard + ls->handshake_ms;
        ls->st.connected++;
        if (l->tls && decrypt(l) < 0) /* the client's hello */
            return;
        link_event(ls, l->id, "up", l->ip, l->port);
        return;
    }
    if (l->state == S_FLUSHING || l->state == S_LINGER)
        link_free(l);
    else if (l->state == S_CONNECTING)
        fail(l, FDN_LINK_R_CONNECT, detail);
    else if (l->tls && !fdn_tls_conn_established(l->tls)) /* the other end refused us */
        fail(l, FDN_LINK_R_TLS, what & BEV_EVENT_EOF ? "closed by the peer" : detail);
    else if (what & BEV_EVENT_EOF)
        fail(l, FDN_LINK_R_EOF, NULL);
    else
        fail(l, FDN_LINK_R_ERROR, detail);
}

/* The sweep: deadlines, pings, and a paused listener. */
static void tick_one(struct fdn_links *ls, struct link *l, int64_t now)
{
    if (l->heard) {
        l->last_heard = now;
        l->heard = 0;
    }
    if (l->sent) {
        l->last_sent = now;
        l->sent = 0;
    }
    if (l->state == S_CONNECTING) {
        if (now >= l->deadline)
            fail(l, FDN_LINK_R_CONNECT_TIMEOUT, NULL);
    } else if (l->state != S_OPEN) {
        if (now >= l->deadline)
            link_free(l);
    } else if (!l->ready && now >= l->deadline) {
        fail(l, FDN_LINK_R_HANDSHAKE_TIMEOUT, NULL);
    } else if (now - l->last_heard >= ls->ping_timeout) {
        fail(l, FDN_LINK_R_PING_TIMEOUT, NULL);
    } else if (now - l->last_sent >= ls->ping_interval) {
        ls->st.pings_sent++;
        if (queue_frame(l, FDN_FRAME_PING, 0, ++l->ping_id, NULL, 0) == 0) {
            l->last_sent = now;
            l->sent = 0;
        }
    }
}

static void links_tick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct fdn_links *ls = arg;
    (void)fd;
    (void)what;
    int64_t now = now_ms();
    /* the reactor itself stalled (a long Lua handler): what peers sent meanwhile is still
     * unread, so their silence proves nothing; count it from now */
    int stalled = now - ls->last_tick > ls->ping_timeout / 2;
    ls->last_tick = now;
    if (ls->accept_resume && now >= ls->accept_resume) {
        ls->accept_resume = 0;
        if (ls->listener)
            evconnlistener_enable(ls->listener);
    }
    for (struct link *l = ls->all, *next; l; l = next) {
        next = l->next; /* nothing here calls Lua: only l can go */
        if (stalled)
            l->heard = 1;
        tick_one(ls, l, now);
    }
}

/* --- addresses, listener, connect ------------------------------------------------------ */

static int parse_addr(const char *host, int port, struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof *ss);
    if (port < 0 || port > 65535 || !host)
        return -1;
    if (strcasecmp(host, "localhost") == 0)
        host = "127.0.0.1";
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        *len = sizeof *a4;
        return 0;
    }
    char buf[64];
    size_t n = strlen(host);
    if (n >= 2 && n < sizeof buf && host[0] == '[' && host[n - 1] == ']') {
        memcpy(buf, host + 1, n - 2);
        buf[n - 2] = 0;
        host = buf;
    }
    if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        *len = sizeof *a6;
        return 0;
    }
    return -1;
}

static void addr_string(const struct sockaddr *sa, char ip[46], int *port)
{
    ip[0] = 0;
    *port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &a->sin_addr, ip, 46);
        *port = ntohs(a->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
        if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) /* an IPv4 peer on a dual-stack listener */
            inet_ntop(AF_INET, &a->sin6_addr.s6_addr[12], ip, 46);
        else
            inet_ntop(AF_INET6, &a->sin6_addr, ip, 46);
        *port = ntohs(a->sin6_port);
    }
}

static void links_accept_cb(struct evconnlistener *lis, evutil_socket_t fd, struct sockaddr *sa,
                            int socklen, void *arg)
{
    struct fdn_links *ls = arg;
    (void)lis;
    (void)socklen;
    set_sockopts(fd);
    struct link *l = link_new(ls, fd, 1);
    l->state = S_OPEN;
    l->deadline = l->last_heard + ls->handshake_ms;
    addr_string(sa, l->ip, &l->port);
    ls->st.accepted++;
    link_event(ls, l->id, "accept", l->ip, l->port);
}

/* accept() failed (out of descriptors, most likely): pause instead of spinning. */
static void links_accept_error_cb(struct evconnlistener *lis, void *arg)
{
    struct fdn_links *ls = arg;
    fdn_warn("link: accept failed: %s; pausing accepts for 1 s",
             evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
    evconnlistener_disable(lis);
    ls->accept_resume = now_ms() + ACCEPT_PAUSE_MS;
}

static int is_loopback(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        return ntohl(a->sin_addr.s_addr) >> 24 == 127;
    }
    const struct in6_addr *a6 = &((const struct sockaddr_in6 *)ss)->sin6_addr;
    return IN6_IS_ADDR_LOOPBACK(a6) || (IN6_IS_ADDR_V4MAPPED(a6) && a6->s6_addr[12] == 127);
}

int fdn_links_listen(struct fdn_links *ls, const char *host, int port, int *bound_port)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (ls->listener) {
        fdn_error("link: already listening");
        return FDN_LINK_EINVAL;
    }
    if (parse_addr(host, port, &ss, &len) < 0) {
        fdn_error("link: cannot listen on '%s' port %d: not an IP address and port",
                  host ? host : "(null)", port);
        return FDN_LINK_EINVAL;
    }
    ls->listener =
        evconnlistener_new_bind(ls->n->base, links_accept_cb, ls,
                                LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
                                128, (struct sockaddr *)&ss, (int)len);
    if (!ls->listener) {
        fdn_error("link: cannot listen on %s port %d: %s", host, port, strerror(errno));
        return FDN_LINK_ESYS;
    }
    evconnlistener_set_error_cb(ls->listener, links_accept_error_cb);
    len = sizeof ss;
    char ip[46];
    getsockname(evconnlistener_get_fd(ls->listener), (struct sockaddr *)&ss, &len);
    addr_string((struct sockaddr *)&ss, ip, bound_port);
    fdn_info("link: listening on %s port %d%s", host, *bound_port,
             ls->tls ? " (TLS, cluster secret)" : "");
    if (!ls->tls && !is_loopback(&ss) && !ls->open_warned) {
        ls->open_warned = 1;
        fdn_warn("link: no cluster secret, and the RPC listener (%s port %d) is not on loopback: "
                 "whoever reaches it can call every service, and the traffic is not encrypted; "
                 "set --secret (or FDN_SECRET), or --bind 127.0.0.1",
                 host, *bound_port);
    }
    return 0;
}

void fdn_links_stop_listening(struct fdn_links *ls)
{
    if (ls && ls->listener) {
        evconnlistener_free(ls->listener);
        ls->listener = NULL;
        ls->accept_resume = 0;
    }
}

int fdn_links_connect(struct fdn_links *ls, const char *host, int port, uint64_t *id)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (parse_addr(host, port, &ss, &len) < 0 || port == 0)
        return FDN_LINK_EINVAL;
    evutil_socket_t fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fdn_error("link: socket: %s", strerror(errno));
        return FDN_LINK_ESYS;
    }
    set_sockopts(fd);
    struct link *l = link_new(ls, fd, 0);
    addr_string((struct sockaddr *)&ss, l->ip, &l->port);
    l->state = S_CONNECTING;
    l->deadline = l->last_heard + ls->connect_ms;
    *id = l->id;
    /* connect here rather than in libevent to keep the errno of an immediate failure; that
     * failure is reported as "down" all the same, from the reactor */
    if (connect(fd, (struct sockaddr *)&ss, len) < 0 && errno != EINPROGRESS) {
        fail(l, FDN_LINK_R_CONNECT, strerror(errno));
        return 0;
    }
    if (bufferevent_socket_connect(l->bev, NULL, 0) < 0) /* watch for the connect to end */
        fail(l, FDN_LINK_R_CONNECT, "cannot watch the socket");
    return 0;
}

/* --- the rest of the API --------------------------------------------------------------- */

int fdn_links_ready(struct fdn_links *ls, uint64_t id)
{
    struct link *l = find(ls, id);
    if (!l)
        return FDN_LINK_EGONE;
    l->ready = 1;
    return 0;
}

int fdn_links_close(struct fdn_links *ls, uint64_t id, const char *reason, int flush)
{
    struct link *l = find(ls, id);
    if (!l)
        return FDN_LINK_EGONE;
    ls->st.closes[FDN_LINK_R_LOCAL]++;
    fdn_debug("link %llu (%s port %d): closed%s%s", (unsigned long long)id, l->ip, l->port,
              reason ? ": " : "", reason ? reason : "");
    map_del(ls, l);
    if (l->tls) {
        /* what is queued goes, then a close_notify; before the handshake is over nothing can */
        if (flush && fdn_tls_conn_established(l->tls) &&
            fdn_tls_conn_write(l->tls, l->pout) == FDN_TLS_OK)
            fdn_tls_conn_close(l->tls);
    } else if (flush) {
        evbuffer_add_buffer(bufferevent_get_output(l->bev), l->pout);
    }
    evbuffer_drain(l->pout, evbuffer_get_length(l->pout));
    l->dirty = 0;
    size_t pending = evbuffer_get_length(bufferevent_get_output(l->bev));
    if (!flush || (l->state == S_CONNECTING && pending == 0)) {
        link_free(l);
        return 0;
    }
    int connecting = l->state == S_CONNECTING;
    l->state = S_FLUSHING;
    l->deadline = now_ms() + FLUSH_MS;
    bufferevent_setcb(l->bev, link_read_cb, link_write_cb, link_event_cb, l);
    if (!connecting && pending == 0)
        start_linger(l);
    return 0;
}

int fdn_links_info(struct fdn_links *ls, uint64_t id, struct fdn_link_info *out)
{
    struct link *l = find(ls, id);
    if (!l)
        return FDN_LINK_EGONE;
    memcpy(out->ip, l->ip, sizeof out->ip);
    out->port = l->port;
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
    ls->max_frame = n->cfg.max_frame ? n->cfg.max_frame : DEFAULT_MAX_FRAME;
    if (ls->max_frame > FDN_FRAME_CEILING)
        ls->max_frame = FDN_FRAME_CEILING;
    if (ls->max_frame < FDN_FRAME_MIN_LEN)
        ls->max_frame = FDN_FRAME_MIN_LEN;
    ls->max_pending = n->cfg.max_pending ? n->cfg.max_pending : DEFAULT_MAX_PENDING;
    ls->ping_timeout =
        n->cfg.ping_timeout_ms > 0 ? n->cfg.ping_timeout_ms : DEFAULT_PING_TIMEOUT_MS;
    ls->ping_interval = ls->ping_timeout / 3 < PING_MS ? ls->ping_timeout / 3 : PING_MS;
    ls->connect_ms = CONNECT_MS;
    ls->handshake_ms = HANDSHAKE_MS;
    ls->map_cap = 16;
    ls->map = xcalloc(ls->map_cap, sizeof *ls->map);
    int tick = ls->ping_interval / 2 < TICK_MS ? ls->ping_interval / 2 : TICK_MS;
    if (tick < 5)
        tick = 5;
    struct timeval tv = {tick / 1000, (tick % 1000) * 1000};
    ls->tick = event_new(n->base, -1, EV_PERSIST, links_tick_cb, ls);
    ls->deferred = event_new(n->base, -1, 0, links_deferred_cb, ls);
    ls->flush = event_new(n->base, -1, 0, links_flush_cb, ls);
    if (!ls->tick || !ls->deferred || !ls->flush) {
        fdn_error("link: out of memory creating timers");
        abort();
    }
    event_add(ls->tick, &tv);
    ls->last_tick = now_ms();
    return ls;
}

void fdn_links_free(struct fdn_links *ls)
{
    if (!ls || ls->dead)
        return;
    fdn_links_stop_listening(ls);
    while (ls->all) {
        if (ls->all->mapped)
            map_del(ls, ls->all);
        link_free(ls->all);
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
