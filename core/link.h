/* link.h: the node's RPC links: one TCP listener and every link, inbound and outbound, on
 * bufferevents. Frames in and out (frame.h), the handshake and ping deadlines, and the bounds
 * on frame size and pending output. Everything but PING/PONG is handed to Lua. */
#ifndef FDN_LINK_H
#define FDN_LINK_H

#include <stddef.h>
#include <stdint.h>

#include <lua.h>

struct fdn_node;
struct fdn_links;

/* Dispatches into Lua (fdn_node_dispatch_begin/end):
 *
 *   "frame", link_id, type, flags, id, body
 *       every complete frame but PING/PONG; body is a string ("" when empty). Frames of one
 *       link arrive in order. Lua may call any fdn_links_* function from inside, including
 *       closing this link (its remaining input is then dropped).
 *   "link", link_id, "up", remote_ip, remote_port      an outbound link connected
 *   "link", link_id, "accept", remote_ip, remote_port  an inbound link was accepted
 *   "link", link_id, "down", reason [, detail]         the link is gone
 *
 * "down" is dispatched only for closes Lua did not ask for: socket errors and EOF, the
 * deadlines, a slow consumer, protocol errors. A link Lua closes with fdn_links_close gets
 * no "down". The link is already gone when "down" arrives (its id is unknown from then on),
 * and "down" is dispatched from the reactor, never from inside a call Lua makes: a send
 * that finds a slow consumer returns FDN_LINK_ESLOW and the "down" follows shortly.
 * Reasons: "eof", "socket error" (detail: the system's message), "connect failed" (detail),
 * "connect timeout", "handshake timeout", "ping timeout", "slow consumer",
 * "protocol error" (a frame other than HELLO/BYE/PING/PONG before ready),
 * "frame too large", "frame too short", "unknown frame type",
 * "tls handshake failed" (detail: mbedtls' words; the peer has another secret, none, or hung
 * up during the handshake), "tls error" (a bad record after the handshake).
 *
 * TLS (when the node has a secret, n->tls): every link, inbound and outbound, runs a TLS 1.2
 * PSK handshake (tls.h) before any frame; frames are parsed only from decrypted bytes, and what
 * Lua sends before the handshake is over waits, in plaintext, until it is. "up" and "accept"
 * still come at TCP level. Frames queued in one reactor turn are encrypted together (fewer,
 * fuller records) just after it. The handshake deadline covers the TLS handshake and the HELLO
 * exchange together; the pending output counts the plaintext not yet encrypted and the
 * ciphertext not yet written. A link closed with flush sends what is queued and a close_notify
 * (if its handshake is over; otherwise its plaintext is dropped). Failed handshakes are counted
 * (closes, tls_failures) and logged at most once per 10 s. Without a secret none of this runs.
 *
 * Deadlines: an outbound link must connect within 3 s; every link must be marked ready
 * (fdn_links_ready) within 3 s of connecting or being accepted. Before it is ready only
 * HELLO, BYE, PING and PONG may arrive, so Lua marks it ready from inside the dispatch of
 * the HELLO that completes the handshake. A link sends PING when it sent nothing for 1 s
 * (or ping_timeout/3 when shorter), answers PING with PONG, and is lost when it heard
 * nothing for cfg.ping_timeout_ms; a reactor stall longer than half of it (a long Lua
 * handler) restarts every link's count of silence.
 *
 * Pairs (fdn_links_pair): two nodes have two links, one opened by each, and Lua tells C which
 * two go to the same peer. The pair then has one liveness, as the peer process has: hearing
 * either link keeps both alive, and both are lost ("ping timeout") when neither heard anything
 * for the ping timeout, so a hung peer is lost as soon as before (its last frame at most a ping
 * interval and a sweep before the hang, then the timeout, then at most a sweep: 3.25 s after
 * the hang at most with the defaults). Only one PING goes per pair when neither link sent
 * anything for the interval, on the link heard from less recently (so both are exercised in
 * turn): half the pings and pongs of two unpaired links. Which side pings is told too (lead,
 * from the node ids): the other waits two sweeps longer, and the leader's PING, answered (the
 * PONG counts as sent at the sweep after), keeps it from ever pinging while the leader is there
 * (unpaired links, whose sweeps line up on the clock, both ping in the same sweep now and then).
 * The sweeps read the clock a millisecond or so off their wall-clock marks, so their deadlines
 * count to the nearest sweep. A link that alone goes mute (the other
 * keeps the pair alive) is lost when a PING on it stays unanswered for the ping timeout; an
 * idle link is pinged in turn, and one not heard for the whole timeout while its mate is busy
 * is pinged anyway, so such a link goes within two timeouts and a few sweeps. A mate still
 * connecting or shaking hands does not count, and a link closed or lost leaves its pair.
 *
 * Limits from the node's configuration (their
 * defaults are in main.c's option table): cfg.max_frame bounds a frame's length field both
 * ways; cfg.max_pending bounds the output queued on a link. */

enum {
    FDN_LINK_ESLOW = -1,     /* output over max_pending: the link was closed */
    FDN_LINK_ETOOLARGE = -2, /* frame over max_frame: refused, nothing sent */
    FDN_LINK_EGONE = -3,     /* no such link (closed, or never existed) */
    FDN_LINK_EINVAL = -4,    /* bad argument (address, type) */
    FDN_LINK_ESYS = -5,      /* the system refused (see the log) */
};

/* Why links closed, counted in fdn_link_stats.closes. */
enum fdn_link_reason {
    FDN_LINK_R_LOCAL, /* Lua closed it */
    FDN_LINK_R_EOF,
    FDN_LINK_R_ERROR,
    FDN_LINK_R_CONNECT,
    FDN_LINK_R_CONNECT_TIMEOUT,
    FDN_LINK_R_HANDSHAKE_TIMEOUT,
    FDN_LINK_R_PING_TIMEOUT,
    FDN_LINK_R_SLOW,
    FDN_LINK_R_PROTOCOL,
    FDN_LINK_R_TOO_LARGE,
    FDN_LINK_R_TOO_SHORT,
    FDN_LINK_R_TYPE,
    FDN_LINK_R_TLS,        /* the TLS handshake failed */
    FDN_LINK_R_TLS_RECORD, /* a bad TLS record after the handshake */
    FDN_LINK_R_MAX
};

struct fdn_link_stats {
    uint64_t links; /* open now (not counting those flushing before close) */
    uint64_t accepted, connected, frames_in, frames_out, bytes_in, bytes_out;
    uint64_t pings_sent, protocol_errors;
    uint64_t tls_handshakes, tls_failures; /* completed; failed (handshake or record) */
    uint64_t closes[FDN_LINK_R_MAX];
};

struct fdn_link_info {
    char ip[46]; /* the remote address */
    int port;
    char local_ip[46]; /* this end's address (the one the peer reaches: with --bind 0.0.0.0,
                        * the interface the link runs on); "" when the socket cannot tell */
    int inbound, connected, ready;
    int secure;     /* 1: the TLS handshake is over */
    size_t pending; /* bytes queued for output (plaintext waiting for TLS included) */
};

struct fdn_links *fdn_links_new(struct fdn_node *n);
/* Closes the listener and every link without dispatching anything; accepts NULL. Safe to
 * call from inside a dispatch (the memory goes when the dispatch returns). */
void fdn_links_free(struct fdn_links *ls);

/* Binds a TCP listener on host (an IPv4 or IPv6 literal, "localhost") and port (0: any
 * free port); 0 and *bound_port on success, negative after logging one line. One listener
 * at a time. Without a secret, the first listener not on loopback (127.0.0.0/8, ::1) logs a
 * warning: whoever reaches it can call every service. */
int fdn_links_listen(struct fdn_links *ls, const char *host, int port, int *bound_port);
void fdn_links_stop_listening(struct fdn_links *ls);

/* Starts a non-blocking connect to host (IP literal or "localhost"); *id is the new link's
 * id (positive, never reused in this node). Later failures arrive as "down". Frames sent
 * before "up" are queued. */
int fdn_links_connect(struct fdn_links *ls, const char *host, int port, uint64_t *id);

/* Queues one frame. 0, or FDN_LINK_EGONE, FDN_LINK_ETOOLARGE (nothing sent), FDN_LINK_EINVAL
 * (type not in 1..FDN_FRAME_TYPE_MAX), FDN_LINK_ESLOW (the link is now closed). */
int fdn_links_send(struct fdn_links *ls, uint64_t id, int type, int flags, uint32_t req_id,
                   const void *body, size_t len);

/* Ends the handshake deadline: any frame type is accepted from now on. 0 or FDN_LINK_EGONE. */
int fdn_links_ready(struct fdn_links *ls, uint64_t id);

/* Says a and b (two links' ids, in any state) go to the same peer: they share one liveness
 * (see Pairs above); lead: this side pings the pair, its peer must be told the opposite. Pairing
 * a link again replaces its pair. 0, FDN_LINK_EGONE, or FDN_LINK_EINVAL (a == b). */
int fdn_links_pair(struct fdn_links *ls, uint64_t a, uint64_t b, int lead);

/* Closes a link (no "down" follows). flush: send what is queued first (bounded by a 2 s
 * deadline), then close; the id is unknown at once either way. 0 or FDN_LINK_EGONE. */
int fdn_links_close(struct fdn_links *ls, uint64_t id, const char *reason, int flush);

/* How many closed links are still sending what was queued (closed with flush, not yet
 * gone): the node waits for them before it exits. ls may be NULL. */
size_t fdn_links_closing(const struct fdn_links *ls);

int fdn_links_info(struct fdn_links *ls, uint64_t id, struct fdn_link_info *out);
void fdn_links_stats(const struct fdn_links *ls, struct fdn_link_stats *out);
const char *fdn_link_reason_name(int reason);
/* The word Lua gets for an FDN_LINK_E* code: "slow consumer", "too large", "gone", "invalid",
 * "system error". */
const char *fdn_link_strerror(int err);

/* The fast door for frames: from now on every frame but PING/PONG goes through door instead
 * of the "frame" dispatch. The frames of one read are handed over in one protected call
 * (fdn_node_call_begin/end); for each, door pushes a function and its arguments (it may
 * leave other values below them) and returns how many arguments, or -1 to drop the frame;
 * the function is then called, and the stack reset. The frame's bytes are valid only while
 * door runs, and door must not run Lua code; it may raise (out of memory). */
struct fdn_frame;
typedef int (*fdn_frame_door)(lua_State *L, uint64_t link_id, const struct fdn_frame *f);
void fdn_links_set_door(struct fdn_links *ls, fdn_frame_door door);

/* Shortens the connect and handshake deadlines (for tests); 0 keeps the current value. */
void fdn_links_set_deadlines(struct fdn_links *ls, int connect_ms, int handshake_ms);

#endif
