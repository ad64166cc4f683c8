/* eio_server_int.h: what the files of the Engine.IO server share (eio_server.c: sessions,
 * transports, heartbeat, packets to Lua; eio_request.c: the requests under /socket.io/). Not
 * for other modules: they use eio_server.h. */
#ifndef FDN_EIO_SERVER_INT_H
#define FDN_EIO_SERVER_INT_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "eio.h"
#include "eio_server.h"
#include "ws_conn.h"

struct event;

#define SID_LEN 20   /* base64url of 15 random bytes */
#define SLOT_BITS 24 /* a Lua id is (sequence << SLOT_BITS) | slot */
#define SLOT_MASK ((1u << SLOT_BITS) - 1)

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
    char *why;                      /* ended: the reason Lua is yet to hear (from the timer) */
    unsigned awaiting_pong : 1, upgrading : 1, closing : 1;
    char sid[SID_LEN];
};

struct fdn_eio_server {
    struct fdn_node *n;
    struct fdn_http *h;
    struct session *all;
    struct session **buckets; /* by sid, nbuckets a power of two */
    struct fdn_ws_ctx *wsx;   /* the websockets' shared writer */
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

/* The open session whose Lua id is id, or NULL: inline, every packet Lua sends looks it up. */
static inline struct session *fdn_eio_session_get(const struct fdn_eio_server *srv, uint64_t id)
{
    size_t slot = id & SLOT_MASK;
    struct session *s = slot < srv->nslots ? srv->slots[slot] : NULL;
    return s && s->id == id ? s : NULL;
}

/* --- eio_server.c, for eio_request.c -------------------------------------------------------- */

/* A new open session (a fresh sid and id, its ping timer armed); Lua is not told yet. */
struct session *fdn_eio_session_new(struct fdn_eio_server *srv);
/* The open session with this sid, or NULL. */
struct session *fdn_eio_session_find(const struct fdn_eio_server *srv, const char *sid, size_t len);
/* Ends s: out of the tables, a held GET told "close", websockets closed with code (0: 1000).
 * Lua is told why from the loop, never from inside this call (which Lua may have made); s is
 * freed once Lua is told and its websockets have closed (at once when why is NULL: Lua never
 * heard of s). */
void fdn_eio_session_end(struct session *s, const char *why, int code);
/* Answers polling GET req with the queue; when req is gone, the packets wait for the next. */
void fdn_eio_session_flush(struct session *s, uint64_t req);
/* One Engine.IO packet from s's transport; s may be freed when this returns. */
void fdn_eio_packet_in(struct session *s, const struct fdn_eio_packet *p);

/* --- eio_request.c, for eio_server.c -------------------------------------------------------- */

/* Answers request req with status and a text/plain body: fdn_http_respond's result. */
int fdn_eio_reply(struct fdn_eio_server *srv, uint64_t req, int status, const char *body,
                  size_t len);

#endif
