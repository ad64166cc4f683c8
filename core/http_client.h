/* http_client.h: the outbound HTTP/1.1 client on the reactor: connections (plain, or TLS 1.2
 * verified against a CA bundle), one request at a time on each, kept-alive connections pooled per
 * scheme, host, port and CA; names resolved with evdns (the hosts file, then the nameservers). */
#ifndef FDN_HTTP_CLIENT_H
#define FDN_HTTP_CLIENT_H

#include <stddef.h>

#include "http_response.h"

struct event_base;
struct fdn_hclient;

#define FDN_HC_IDLE_PER_HOST 4 /* kept-alive connections waiting, per host */
#define FDN_HC_IDLE_MAX 64     /* in all */
#define FDN_HC_IDLE_MS 30000   /* a connection idle so long is closed */
#define FDN_HC_CA_BUNDLE "/etc/ssl/certs/ca-certificates.crt"

enum {
    FDN_HC_OK = 0,
    FDN_HC_TIMEOUT = 1,     /* no whole response within the timeout */
    FDN_HC_UNAVAILABLE = 2, /* name not found, refused, reset, TLS failure */
    FDN_HC_TOOBIG = 3,      /* the body is over max_body */
    FDN_HC_BAD = 4,         /* a malformed response */
    FDN_HC_CLOSED = 5,      /* the client is being freed: only free arg */
};

struct fdn_hc_request {
    int tls;
    const char *host; /* a name or an address, without brackets */
    int port;
    const char *ca_file; /* TLS: the CA bundle (PEM), NULL for the system's */
    const char *data;    /* the request: head and body, sent as they are */
    size_t len;
    int head_request; /* HEAD: the response has no body */
    int idempotent;   /* may be sent again when a kept-alive connection turns out closed */
    int timeout_ms;
    size_t max_body;
};

/* The result: code FDN_HC_*, the response when OK (the callee frees it after the call), else
 * a message. Never called from inside fdn_hclient_request. */
typedef void (*fdn_hc_cb)(void *arg, int code, struct fdn_hresp *resp, const char *err);

int fdn_hclient_new(struct event_base *base, struct fdn_hclient **out);
/* Closes every connection and drops every request in flight without calling back. */
void fdn_hclient_free(struct fdn_hclient *c);

/* Starts a request (copies what it needs of r). 0, or -1 when the CA file cannot be loaded
 * (err says why; cb is not called). */
int fdn_hclient_request(struct fdn_hclient *c, const struct fdn_hc_request *r, fdn_hc_cb cb,
                        void *arg, char *err, size_t errlen);

/* Connections opened so far, and those open now (tests and stats). */
void fdn_hclient_counts(const struct fdn_hclient *c, long *opened, int *open);

/* --- TLS (http_client_tls.c) --- */
struct fdn_hc_tls;
struct fdn_hc_tls_conn;
struct evbuffer;

int fdn_hc_tls_new(struct fdn_hc_tls **out);
void fdn_hc_tls_free(struct fdn_hc_tls *t);
/* The configuration of a CA file (loaded once, then cached); NULL with err on failure. */
void *fdn_hc_tls_config(struct fdn_hc_tls *t, const char *ca_file, char *err, size_t errlen);
struct fdn_hc_tls_conn *fdn_hc_tls_conn_new(void *config, const char *host, struct evbuffer *cin,
                                            struct evbuffer *cout);
void fdn_hc_tls_conn_free(struct fdn_hc_tls_conn *c);
/* Handshake, then flushes pout (plaintext to send) and decrypts cin into pin. 0, 1 on
 * close_notify, -1 with err on failure. */
int fdn_hc_tls_conn_pump(struct fdn_hc_tls_conn *c, struct evbuffer *pout, struct evbuffer *pin,
                         char *err, size_t errlen);

#endif
