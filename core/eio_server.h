/* eio_server.h: the Engine.IO v4 server on the gateway's port, under /socket.io/: handshake,
 * polling, websocket and the upgrade between them, heartbeat and limits. It hands each
 * Socket.IO packet to Lua (dispatch kind "socket") and sends what Lua gives back. */
#ifndef FDN_EIO_SERVER_H
#define FDN_EIO_SERVER_H

#include <stddef.h>
#include <stdint.h>

struct fdn_buf;
struct fdn_http;
struct fdn_http_parser;
struct fdn_node;
struct fdn_eio_server;

/* Dispatch, fdn_node_dispatch_begin(n, "socket") then:
 *   "open", id, info      a session opened: id an integer never reused, info = {sid, headers
 *                         (as REST gets them), query (raw), address, transport}
 *   "packet", id, type, nsp, ack_id|nil, data|nil
 *                         one Socket.IO packet (type 0..3), data decoded from JSON
 *   "close", id, reason   the session is over; once per opened session, always from the loop
 *                         (never inside a socket.send, emit or close that ended it) */

/* Limits and timers, from the node's configuration. */
struct fdn_eio_server *fdn_eio_server_new(struct fdn_node *n, struct fdn_http *h);
/* Frees every session without telling Lua; accepts NULL. */
void fdn_eio_server_free(struct fdn_eio_server *s);

/* A complete request whose path starts with /socket.io/ (http.c hands it over in state "in
 * Lua"): answered with fdn_http_respond, now or later (a held polling GET), or taken out of
 * the HTTP server for a websocket. The request's connection may be gone when this returns. */
struct fdn_eio_req {
    uint64_t id;
    const struct fdn_http_parser *p; /* method, target, headers */
    const char *body;
    size_t body_len;
    int fd; /* the connection's socket: the client's address */
};
void fdn_eio_server_request(struct fdn_eio_server *s, const struct fdn_eio_req *r);

/* Shutdown: no new session; every session is closed (websocket close 1001, polling close
 * packet); Lua hears of each from the loop. */
void fdn_eio_server_shutdown(struct fdn_eio_server *s);

/* Open sessions (those Lua can send to). */
size_t fdn_eio_server_count(const struct fdn_eio_server *s);
/* Sessions not yet freed: open ones, and websockets still in their close handshake. */
size_t fdn_eio_server_alive(const struct fdn_eio_server *s);

/* Whether session id is open. */
int fdn_eio_server_exists(const struct fdn_eio_server *s, uint64_t id);
/* Sends one Engine.IO packet (its type character first, e.g. "42[...]") to session id: one
 * websocket message, or one packet of the polling queue. 0; -1 when the session is gone or
 * this closed it (output over the bound). */
int fdn_eio_server_send(struct fdn_eio_server *s, uint64_t id, const char *pkt, size_t len);
/* Closes session id ("forced close"); Lua's "close" follows from the loop. */
void fdn_eio_server_close(struct fdn_eio_server *s, uint64_t id);

/* A buffer the binding encodes packets into (emptied by the caller, reused across calls). */
struct fdn_buf *fdn_eio_server_scratch(struct fdn_eio_server *s);

#endif
