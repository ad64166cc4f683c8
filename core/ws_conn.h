/* ws_conn.h: one WebSocket connection on a bufferevent, after the HTTP upgrade: reads client
 * frames (ws.h), answers pings, runs the close handshake, writes text messages, and bounds what
 * waits to be written (a client that does not read is disconnected). The Engine.IO server
 * (eio_server.c) is its one user. */
#ifndef FDN_WS_CONN_H
#define FDN_WS_CONN_H

#include <stddef.h>

struct bufferevent;
struct event_base;
struct fdn_ws_conn;
struct fdn_ws_ctx;

struct fdn_ws_conn_cbs {
    /* a whole text message, valid during the call; the callee may send or close from it,
     * but must not free the connection */
    void (*on_text)(struct fdn_ws_conn *w, const char *data, size_t len, void *arg);
    /* the connection is over (client close, protocol error, EOF, write timeout, output over
     * max_output, or fdn_ws_conn_close done): why is a short reason for the log ("client
     * close", "protocol error: ...", "transport close", "output buffer full"...). Called once;
     * the connection is freed right after it returns. */
    void (*on_close)(struct fdn_ws_conn *w, const char *why, void *arg);
    void *arg;
};

/* What the connections of one server share: the frames each queues during a loop turn are
 * written once, at the end of the turn, straight to its socket (one write per connection per
 * turn; the write event is armed only for what the socket does not take). */
struct fdn_ws_ctx *fdn_ws_ctx_new(struct event_base *base);
/* Frees x, after its connections (accepts NULL). */
void fdn_ws_ctx_free(struct fdn_ws_ctx *x);

/* Takes over bev (the upgraded HTTP connection, its input possibly already holding frames)
 * and writes the 101 Switching Protocols answer with Sec-WebSocket-Accept accept (ws.h).
 * max_message: largest message read (1009 past it); max_output: bytes that may wait to be
 * written before the connection is dropped. Binary messages are a protocol error here
 * (1003). */
struct fdn_ws_conn *fdn_ws_conn_new(struct fdn_ws_ctx *x, struct bufferevent *bev,
                                    const char *accept, size_t max_message, size_t max_output,
                                    const struct fdn_ws_conn_cbs *cbs);

/* The write timeout (default 30 s): output waiting this long without any of it being written
 * ends the connection ("write timeout"), even under max_output. */
void fdn_ws_conn_set_write_timeout(struct fdn_ws_conn *w, int ms);

/* Sends one text message (data need not be NUL-terminated). iov form: the message is the
 * concatenation of the n pieces (e.g. a header and a JSON body), in one frame. 0; -1 when
 * the connection is closing or its output is over max_output (it is then closed). */
int fdn_ws_conn_send(struct fdn_ws_conn *w, const char *data, size_t len);
int fdn_ws_conn_sendv(struct fdn_ws_conn *w, const char *const *pieces, const size_t *lens, int n);

/* Starts the close handshake with code (1000 normal, 1001 going away): a close frame, then the
 * connection waits briefly for the client's and ends (on_close runs later, from the loop). */
void fdn_ws_conn_close(struct fdn_ws_conn *w, int code);

/* Frees the connection at once, without on_close (the node's end, when the loop no longer
 * runs); accepts NULL. */
void fdn_ws_conn_free(struct fdn_ws_conn *w);

/* Bytes waiting to be written (queued this turn, or left by the socket). */
size_t fdn_ws_conn_pending(const struct fdn_ws_conn *w);

#endif
