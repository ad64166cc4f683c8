/* link_in.c: frames in: a read's frames parsed in place from the link's input (decrypted first
 * with TLS), PING answered, the others handed to Lua in batches through the fast door. */
#include <lua.h>

#include "frame.h"
#include "link_int.h"
#include "node.h"
#include "tls.h"
#include "util.h"

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
            fdn_link_fail(l, parse_reason(r), NULL);
            return -1;
        }
        if (hl > 4 && !l->ready && !allowed_before_ready(p[4])) {
            fdn_link_fail(l, FDN_LINK_R_PROTOCOL, fdn_frame_type_name(p[4]));
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
        if (type == FDN_FRAME_PING && fdn_link_queue(l, FDN_FRAME_PONG, 0, ping, NULL, 0) < 0)
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
    struct link *l = *lp =
        b->ls->dead ? NULL : fdn_link_find(b->ls, b->id); /* Lua may have closed it */
    if (!l)
        return BATCH_GONE;
    if (b->handed >= FLUSH_MIN && !b->flushed && evbuffer_get_length(l->pin) <= b->half) {
        b->flushed = 1;
        if (fdn_link_move_out(l) < 0)
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
    struct link *l = fdn_link_find(ls, b->id);
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
        if ((l = fdn_link_find(ls, b->id)) !=
            NULL) /* (a finalizer run by the door's GC could close it) */
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
        if (fdn_links_run_dispatch(b->ls, 5, 0) < 0) {
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
        if (fdn_links_run_dispatch(ls, 1, 1) < 0)
            return -1;
        if (b.taken) { /* its preparation raised: dropped */
            if ((l = fdn_link_find(ls, b.id)) != NULL)
                evbuffer_drain(l->pin, b.taken);
            b.taken = 0;
        } else if (b.state == BATCH_MORE && b.handed == handed) {
            break; /* the call failed before its first frame (out of memory): the next read */
        }
    }
    if (b.state == BATCH_GONE || (l = fdn_link_find(ls, b.id)) == NULL)
        return -1;
    return b.handed ? fdn_link_move_out(l) : 0;
}

int fdn_link_decrypt(struct link *l)
{
    int was = fdn_tls_conn_established(l->tls);
    int r = fdn_tls_conn_read(l->tls, l->pin);
    if (r < 0) {
        fdn_link_fail(l, r == FDN_TLS_EHANDSHAKE ? FDN_LINK_R_TLS : FDN_LINK_R_TLS_RECORD,
                      fdn_tls_conn_error(l->tls));
        return -1;
    }
    if (!was && fdn_tls_conn_established(l->tls)) {
        l->ls->st.tls_handshakes++;
        fdn_debug("link %llu (%s port %d): tls handshake done", (unsigned long long)l->id, l->ip,
                  l->port);
        if (fdn_link_move_out(l) < 0) /* what Lua queued meanwhile (its HELLO) goes now */
            return -1;
    }
    return r == FDN_TLS_EOF;
}

void fdn_link_read_cb(struct bufferevent *bev, void *arg)
{
    struct link *l = arg;
    if (l->state != S_OPEN) { /* flushing or lingering: input is dropped */
        struct evbuffer *in = bufferevent_get_input(bev);
        evbuffer_drain(in, evbuffer_get_length(in));
        return;
    }
    l->heard = 1;
    int eof = l->tls ? fdn_link_decrypt(l) : 0;
    if (eof < 0 || read_frames(l) < 0)
        return;
    if (eof)
        fdn_link_fail(l, FDN_LINK_R_EOF, NULL);
}
