/* nats_opts.h: the libnats options of one connection (nats_bus.c): servers, credentials,
 * name, TLS, connect and reconnect policy. The event loop and the callbacks are nats_bus.c's. */
#ifndef FDN_NATS_OPTS_H
#define FDN_NATS_OPTS_H

#include <stddef.h>

#include <nats/nats.h>

#include "nats_bus.h"

/* *out made from o: TLS is required when o->ca is set or a URL is tls:// (server certificate
 * checked against the system's CA bundle, and o->ca's certificates when given, and against the
 * URL's host name); a nats:// server that requires TLS gets the same checks. 0, or -1 with a
 * message in err (a CA file that does not load, say) and *out NULL. */
int fdn_nats_options(natsOptions **out, const struct fdn_nats_opts *o, char *err, size_t errlen);

/* libnats' last error on this thread, without its "(file.c:line): " prefix; s's text when
 * there is none. */
const char *fdn_nats_last_error(natsStatus s);

/* Why the first connect failed (natsConnection_Connect's s, on its thread), with what to check
 * for TLS: a string to free. */
char *fdn_nats_connect_error(natsStatus s);

#endif
