/* link_int.h: what the files of the links module share (link.c: life, frames out, deadlines,
 * listener and connects; link_map.c: the id -> link map; link_in.c: frames in). Not for other
 * modules: they use link.h. */
#ifndef FDN_LINK_INT_H
#define FDN_LINK_INT_H

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/util.h>

#include "link.h"
#include "netaddr.h"
#include "ratelog.h"

#define CONNECT_MS 3000
#define HANDSHAKE_MS 3000
#define FLUSH_MS 2000 /* a link closed with flush is freed after this whatever happens */
#define PING_MS 1000
#define TICK_MS 250
#define ACCEPT_PAUSE_MS 1000
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
    unsigned lead : 1; /* paired: this side pings the pair first (fdn_links_pair) */
    struct link *mate; /* the other link to the same peer (fdn_links_pair), or NULL */
    struct link *dirty_prev, *dirty_next; /* on the links' dirty list while dirty */
    int64_t deadline;                     /* connect, handshake (until ready) or flush, in ms */
    int64_t last_heard, last_sent;
    int64_t ping_wait; /* when the oldest ping still unanswered (nothing heard since) went; 0 */
    uint32_t ping_id;
    char ip[FDN_ADDR_STRLEN];
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
    struct link *dirty; /* the links with frames queued this turn (the flush's work) */
    size_t ndirty;
    struct link **map; /* id -> open link: open addressing, linear probing */
    size_t map_cap, map_count;
    struct down *downs; /* "down" events waiting for the deferred dispatch */
    size_t ndowns, downs_cap;
    uint64_t seq;
    size_t max_frame, max_pending;
    int ping_timeout, ping_interval, connect_ms, handshake_ms;
    int64_t accept_resume;                        /* 0, or when a paused listener accepts again */
    int64_t last_tick;                            /* a late tick means the reactor stalled */
    int tick_ms;                                  /* the sweep's period (see arm_tick) */
    struct fdn_ratelog tls_log;                   /* failed TLS handshakes */
    struct fdn_ratelog close_log[FDN_LINK_R_MAX]; /* the other failures, per reason */
    int open_warned;     /* the warning about a listener open to the network, without TLS */
    int depth, dead;     /* dispatches under way; freed while in one */
    fdn_frame_door door; /* the frames' fast door (fdn_links_set_door), or NULL */
    struct fdn_link_stats st;
};

/* --- the id -> link map (link_map.c) ----------------------------------------------------- */

static inline size_t fdn_link_home(uint64_t id, size_t cap)
{
    return (size_t)((id * 0x9E3779B97F4A7C15ull) >> 32) & (cap - 1);
}

static inline struct link *fdn_link_find(const struct fdn_links *ls, uint64_t id)
{
    size_t mask = ls->map_cap - 1;
    for (size_t i = fdn_link_home(id, ls->map_cap); ls->map[i]; i = (i + 1) & mask)
        if (ls->map[i]->id == id)
            return ls->map[i];
    return NULL;
}

/* Adds l (l->mapped then says so), growing the map to keep it at most half full. */
void fdn_link_map_put(struct fdn_links *ls, struct link *l);
/* Removes l, shifting back the entries of its probe run (no tombstones). */
void fdn_link_map_del(struct fdn_links *ls, struct link *l);

/* --- link.c, for link_in.c ---------------------------------------------------------------- */

/* A close Lua did not ask for: l goes now, its "down" is dispatched later, from the reactor. */
void fdn_link_fail(struct link *l, int reason, const char *detail);
/* Queues a frame on l (it moves out after the turn); 0, or FDN_LINK_ESLOW when l was dropped. */
int fdn_link_queue(struct link *l, int type, int flags, uint32_t id, const void *body, size_t len);
/* Moves out what is queued on l; 0, or -1 when that failed and l is gone. */
int fdn_link_move_out(struct link *l);
/* Runs the dispatch (call 0) or fast-door call (call 1) begun by the caller; -1 when the
 * links were freed from inside it. */
int fdn_links_run_dispatch(struct fdn_links *ls, int nargs, int call);

/* Frees l at once (no "down"): off the map, the lists and its pair. */
void fdn_link_free(struct link *l);

/* A new link on fd (inbound: accepted), mapped, its bufferevent set up. */
struct link *fdn_link_new(struct fdn_links *ls, evutil_socket_t fd, int inbound);
/* Dispatches a link event ("accept", "up") to Lua; -1 when the links were freed in it. */
int fdn_links_event(struct fdn_links *ls, uint64_t id, const char *what, const char *s, int i);

/* --- link_live.c ------------------------------------------------------------------------- */

/* The sweep's timer callback, and its arming at the next whole period of the wall clock. */
void fdn_links_tick_cb(evutil_socket_t fd, short what, void *arg);
void fdn_links_arm_tick(struct fdn_links *ls);
/* Takes l out of its pair, if any. */
void fdn_link_unpair(struct link *l);

/* --- link_in.c ---------------------------------------------------------------------------- */

/* The bufferevent's read callback: input decrypted (TLS), frames parsed and handed to Lua. */
void fdn_link_read_cb(struct bufferevent *bev, void *arg);
/* TLS: runs the handshake, then decrypts into l->pin; 0, 1 when the peer sent close_notify
 * (after the plaintext before it), or -1 when that failed and l is gone. */
int fdn_link_decrypt(struct link *l);

#endif
