/* http_int.h: what the files of the gateway's server share (http.c: accept, parse, hand to Lua,
 * send, timeouts; http_respond.c: the answers; http_limits.c: the connection caps and the idle
 * queues; http_cors.c and http_static.c: CORS and --public). Other modules use http.h. */
#ifndef FDN_HTTP_INT_H
#define FDN_HTTP_INT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <event2/util.h>

#include "http.h"

#define MAX_LISTENERS 4
#define ADMIN_MAX_CONNS 64 /* the admin port's connections: a few operators and scrapers */

enum { C_IDLE, C_READING, C_IN_LUA, C_WRITING, C_DRAINING, C_LINGER };

/* The queues a kept-alive connection waits in between requests, oldest first: the gateway's
 * (closed first when every slot is taken) and its client address's (closed first when the
 * address is at its cap); and the one of the connections whose answer the socket took whole,
 * finished at the end of the loop turn (http.c). */
enum { Q_GATEWAY, Q_PEER, Q_WRITTEN };

struct conn;
struct queue {
    struct conn *head, *tail;
};

/* A client address and the gateway connections it holds; freed with its last one. */
struct peer {
    struct peer *next; /* in its hash bucket */
    struct queue idle;
    int nconns;
    uint8_t len, addr[16]; /* IPv4 (also IPv4-mapped IPv6): 4 bytes; IPv6: 16 */
};

struct conn {
    struct fdn_http *h;
    struct conn *prev, *next;
    struct conn *qprev[3], *qnext[3]; /* in the idle queues while parked; Q_WRITTEN: http.c */
    struct peer *peer;                /* NULL: not counted (a 503, or no per-address cap) */
    struct bufferevent *bev;
    struct event *timer;
    struct event *rd; /* reads the socket (http.c: the bufferevent only writes) */
    struct fdn_http_parser *p;
    int state, slot; /* slot -1: a connection refused with 503 */
    uint64_t req_id;
    uint64_t t0; /* when the request was read whole (fdn_now_ns), for --access-log */
    char *body;
    size_t body_len, body_cap;
    unsigned keep_alive : 1, head : 1, eof : 1, parked : 1, written : 1, reading : 1;
};

struct fdn_http {
    struct fdn_node *n;
    struct evconnlistener *ls[MAX_LISTENERS];
    int nls, port, stopping, timeout_ms, idle_ms, max_per_addr;
    struct event *relisten;
    struct conn *conns;
    struct conn **slots; /* by slot: req_id % nslots finds the connection */
    int *free_slots, nfree, nslots;
    size_t nrejecting, in_flight, max_body;
    uint64_t seq;
    struct evbuffer *out; /* scratch: a response is composed here, then sent (http.c) */
    struct event *flush;  /* made active when a connection joins the written list */
    struct queue written; /* Q_WRITTEN: the socket took their answer whole */
    size_t nwritten;
    struct queue idle;   /* every parked connection */
    struct peer **peers; /* hash of the client addresses, npeers buckets (a power of two) */
    size_t npeers;
    uint64_t hash_seed;
    struct fdn_cors *cors; /* the allowed origins; NULL: CORS off (http_cors.c) */
    int public_fd;         /* --public's directory (O_PATH), when has_public (http_static.c) */
    int open_how;          /* FDN_STATIC_OPENAT2, or _WALK once the kernel said it has none */
    unsigned has_public : 1;
    unsigned admin : 1; /* the operators' server (--admin): dispatched as "admin" */
};

/* --- the idle queues: inline, every kept-alive request leaves and rejoins them ------------- */

static inline void fdn_http_enqueue(struct queue *q, struct conn *c, int k)
{
    c->qprev[k] = q->tail;
    c->qnext[k] = NULL;
    if (q->tail)
        q->tail->qnext[k] = c;
    else
        q->head = c;
    q->tail = c;
}

static inline void fdn_http_dequeue(struct queue *q, struct conn *c, int k)
{
    if (c->qprev[k])
        c->qprev[k]->qnext[k] = c->qnext[k];
    else
        q->head = c->qnext[k];
    if (c->qnext[k])
        c->qnext[k]->qprev[k] = c->qprev[k];
    else
        q->tail = c->qprev[k];
    c->qprev[k] = c->qnext[k] = NULL;
}

/* A kept-alive connection waits for its next request: the first to go when room is needed. */
static inline void fdn_http_park(struct conn *c)
{
    c->parked = 1;
    fdn_http_enqueue(&c->h->idle, c, Q_GATEWAY);
    if (c->peer)
        fdn_http_enqueue(&c->peer->idle, c, Q_PEER);
}

static inline void fdn_http_unpark(struct conn *c)
{
    if (!c->parked)
        return;
    c->parked = 0;
    fdn_http_dequeue(&c->h->idle, c, Q_GATEWAY);
    if (c->peer)
        fdn_http_dequeue(&c->peer->idle, c, Q_PEER);
}

/* --- http_limits.c --------------------------------------------------------------------------- */

/* The hash of client addresses, sized for h->nslots connections (freed by fdn_http_free). */
void fdn_http_limits_init(struct fdn_http *h);
/* Room for a connection from sa, made by closing parked connections, oldest first: the
 * client's own when it is at its cap, else anyone's when every slot is taken. 0 when there is
 * a free slot, with *pe the client's entry, counted (NULL: no per-address cap, or not an IP
 * address); else -1 and *why, the message of the 503 it gets. */
int fdn_http_admit(struct fdn_http *h, const struct sockaddr *sa, struct peer **pe,
                   const char **why);
/* c closes: out of the idle queues, and its client address's count drops (the entry goes with
 * its last connection). */
void fdn_http_release(struct conn *c);

/* --- http.c, for http_limits.c, http_cors.c and http_static.c ------------------------------- */

/* The listeners' accept callback, and the flush event's (the answers of a loop turn finished);
 * http_open.c sets them up. */
struct evconnlistener;
void fdn_http_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                        int socklen, void *arg);
void fdn_http_flush_cb(evutil_socket_t fd, short what, void *arg);

/* --access-log: c's request is answered with status (its method and path from the parser);
 * trace, its trace id (32 hex digits) or NULL. */
void fdn_http_access(const struct conn *c, int status, const char *trace);

/* Closes c and frees it. */
void fdn_http_conn_free(struct conn *c);

/* The answer composed in c->h->out (left empty) ends c's request: it goes straight to the
 * socket when nothing waits before it, the rest through the bufferevent; when the socket took
 * it all, c is finished at the end of the loop turn (never here: the caller may be Lua, and
 * finishing may hand Lua the next request), else once the bufferevent has written it. */
void fdn_http_answer(struct conn *c);

/* fdn_http_respond, whose body is, when fd is not -1, len bytes of the file fd from its start
 * (sent from the page cache, never read into memory). fd is consumed (closed) in every case. */
int fdn_http_send(struct fdn_http *h, uint64_t req_id, int status,
                  const struct fdn_http_field *fields, size_t nfields, const char *body, size_t len,
                  int fd);

/* --- http_cors.c and http_static.c: the browser's needs ------------------------------------- */

/* At start: the policy of --cors, and --public's directory opened. 0, or -1 after logging. */
int fdn_http_web_start(struct fdn_http *h);
/* Frees what web_start made. */
void fdn_http_web_free(struct fdn_http *h);
/* With CORS on, answers c's request when it is an OPTIONS (a preflight, or any OPTIONS, as
 * Express's cors does): 204 and the policy's headers; returns 1. Else 0: Lua has it. */
int fdn_http_preflight(struct conn *c);
/* The CORS headers of an answer to c's request (cors.h's fdn_cors_fields, a preflight's for an
 * OPTIONS; none with CORS off), into f (room for FDN_CORS_MAX_FIELDS); their count. */
size_t fdn_http_cors_fields(const struct conn *c, struct fdn_http_field *f);

#endif
