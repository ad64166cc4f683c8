/* nats_bus.h: one NATS connection (libnats) whose socket I/O runs on the reactor; what libnats
 * hands over on its own threads (messages, connection states) reaches the reactor through a
 * bounded queue and an eventfd. No Lua here: lua_nats.c binds it (fdn.core.nats). */
#ifndef FDN_NATS_BUS_H
#define FDN_NATS_BUS_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct fdn_nats;

/* Connection states told to status(). */
enum { FDN_NATS_DISCONNECTED, FDN_NATS_RECONNECTED, FDN_NATS_CLOSED };

/* Called on the reactor only, never after fdn_nats_close. connected: the first connect's end
 * (err NULL when open). message: sid from fdn_nats_subscribe; reply NULL when none;
 * no_responders 1 for the server's answer to a request that no subscriber took (data empty). */
struct fdn_nats_handlers {
    void (*connected)(void *arg, const char *err);
    void (*status)(void *arg, int state);
    void (*message)(void *arg, uint64_t sid, const char *subject, const char *reply,
                    const char *data, size_t len, int no_responders);
};

/* What to connect to: url (nats://host:port or tls://host:port[,more]; credentials in it are
 * not decoded: see nats_url.h), user and pass (NULL: none), name (the client's name on the
 * server, or NULL), ca (a PEM file of CA certificates trusted beside the system's, or NULL;
 * when set, or when a URL is tls://, TLS is required: nats_opts.h). At most max_queued
 * messages of max_bytes in all wait for the reactor; more are dropped and counted. */
struct fdn_nats_opts {
    const char *url, *user, *pass, *name, *ca;
    int max_queued;
    size_t max_bytes;
};

/* Starts connecting on a thread of its own: 0 with *out (connected is called later), or -1
 * with a message in err. */
int fdn_nats_new(struct event_base *base, const struct fdn_nats_opts *o,
                 const struct fdn_nats_handlers *h, void *arg, struct fdn_nats **out, char *err,
                 size_t errlen);

/* Once connected: 0, or -1 with libnats' message in err. reply may be NULL. While the server
 * is away, libnats buffers what is published (its reconnect buffer) and sends it later. */
int fdn_nats_publish(struct fdn_nats *c, const char *subject, const char *reply, const void *data,
                     size_t len, char *err, size_t errlen);
int fdn_nats_subscribe(struct fdn_nats *c, const char *subject, const char *queue, uint64_t *sid,
                       char *err, size_t errlen);
/* The same, with the messages taken on the reactor itself, straight after the socket was read
 * (libnats' synchronous subscription: no delivery thread, no queue, no copy). The server's "no
 * responders" does not come through it: subscribe a request's reply subject the other way. */
int fdn_nats_subscribe_direct(struct fdn_nats *c, const char *subject, const char *queue,
                              uint64_t *sid, char *err, size_t errlen);
/* Messages of sid still queued are dropped. Unknown sids are ignored. */
void fdn_nats_unsubscribe(struct fdn_nats *c, uint64_t sid);

/* libnats' natsConnStatus of the connection; -1 once closed, -2 while the first connect runs. */
int fdn_nats_status(const struct fdn_nats *c);

/* Messages waiting for the reactor, and dropped because the queue was full. */
void fdn_nats_stats(struct fdn_nats *c, int *queued, uint64_t *dropped);

/* Closes the connection; no handler is called after. The memory stays until
 * fdn_nats_shutdown (libnats' threads may still hold it). Accepts NULL. */
void fdn_nats_close(struct fdn_nats *c);

/* At the node's exit, after every connection was closed (on the reactor thread, the Lua
 * state gone): waits for libnats' threads to end (nats_CloseAndWait), frees everything. */
void fdn_nats_shutdown(void);

#endif
