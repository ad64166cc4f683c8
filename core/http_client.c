/* http_client.c: outbound HTTP/1.1 requests on the reactor. A request resolves its host (evdns:
 * no thread, cancellable), connects (trying each address), runs TLS when asked, writes its bytes
 * and feeds what comes back to the response parser; a connection whose response allows it goes
 * back to a small idle pool per scheme/host/port/CA, and a request that finds a pooled connection
 * already closed by the server retries once on a new one. */
#include "http_client.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include "util.h"

struct hconn {
    struct fdn_hclient *client;
    char *key;
    struct bufferevent *bev;
    struct fdn_hc_tls_conn *tls;
    struct evbuffer *pin, *pout; /* TLS: plaintext in and out */
    struct hreq *req;            /* the request it carries, or NULL when idle */
    struct hconn *next;          /* in the idle list */
    struct event *idle_timer;
    int connected;
};

struct hreq {
    struct fdn_hclient *client;
    struct hreq *prev, *next; /* requests in flight */
    fdn_hc_cb cb;
    void *arg;
    char *key, *host, *data;
    size_t len;
    int port, tls, hold, done, idempotent;
    int reused; /* 1: on a pooled connection (retried once when it was closed), 2: retrying */
    void *tls_config;
    struct fdn_hresp resp;
    struct event *timer, *start;
    struct evdns_getaddrinfo_request *dns;
    struct ticket *ticket; /* what the pending lookup calls back with */
    struct evutil_addrinfo *ai, *ai_next;
    struct hconn *conn;
    char err[200];
};

/* A lookup's callback argument: evdns calls back even after a cancel (later, from the loop), so
 * the request it was for may be gone by then: req_free clears r. */
struct ticket {
    struct hreq *r;
};

struct fdn_hclient {
    struct event_base *base;
    struct evdns_base *dns;
    struct fdn_hc_tls *tls;
    struct hreq *reqs;
    struct hconn *idle;
    int nidle, open;
    long opened;
};

static void conn_free(struct hconn *k)
{
    if (!k)
        return;
    struct fdn_hclient *c = k->client;
    bufferevent_free(k->bev);
    fdn_hc_tls_conn_free(k->tls);
    if (k->pin)
        evbuffer_free(k->pin);
    if (k->pout)
        evbuffer_free(k->pout);
    if (k->idle_timer)
        event_free(k->idle_timer);
    free(k->key);
    free(k);
    c->open--;
}

static void idle_remove(struct hconn *k)
{
    struct fdn_hclient *c = k->client;
    for (struct hconn **p = &c->idle; *p; p = &(*p)->next)
        if (*p == k) {
            *p = k->next;
            c->nidle--;
            return;
        }
}

static void req_free(struct hreq *r)
{
    struct fdn_hclient *c = r->client;
    if (r->prev)
        r->prev->next = r->next;
    else
        c->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    if (r->dns) {
        r->ticket->r = NULL; /* the callback frees the ticket */
        evdns_getaddrinfo_cancel(r->dns);
    }
    if (r->ai)
        evutil_freeaddrinfo(r->ai);
    conn_free(r->conn);
    event_free(r->timer);
    event_free(r->start);
    fdn_hresp_free(&r->resp);
    free(r->key);
    free(r->host);
    free(r->data);
    free(r);
}

/* Ends a request: the callback, then the request (unless a caller up the stack holds it). */
static void finish(struct hreq *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void finish(struct hreq *r, int code, const char *fmt, ...)
{
    if (r->done)
        return;
    r->done = 1;
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->err, sizeof r->err, fmt, ap);
        va_end(ap);
    }
    r->cb(r->arg, code, code == FDN_HC_OK ? &r->resp : NULL, r->err);
    if (r->hold == 0)
        req_free(r);
}

static void idle_cb(evutil_socket_t fd, short what, void *arg);
static void conn_read_cb(struct bufferevent *bev, void *arg);
static void conn_event_cb(struct bufferevent *bev, short what, void *arg);
static void connect_next(struct hreq *r);
static void resolve(struct hreq *r);

/* The response is whole: the connection goes to the pool when it may carry another. */
static void release(struct hreq *r)
{
    struct hconn *k = r->conn;
    struct fdn_hclient *c = r->client;
    r->conn = NULL;
    k->req = NULL;
    int same = 0;
    for (struct hconn *i = c->idle; i; i = i->next)
        same += strcmp(i->key, k->key) == 0;
    size_t left = evbuffer_get_length(bufferevent_get_input(k->bev)) +
                  (k->pin ? evbuffer_get_length(k->pin) : 0);
    if (!r->resp.keep_alive || left > 0 || same >= FDN_HC_IDLE_PER_HOST ||
        c->nidle >= FDN_HC_IDLE_MAX) {
        conn_free(k);
        return;
    }
    if (!k->idle_timer)
        k->idle_timer = evtimer_new(c->base, idle_cb, k);
    struct timeval tv = {FDN_HC_IDLE_MS / 1000, (FDN_HC_IDLE_MS % 1000) * 1000};
    evtimer_add(k->idle_timer, &tv);
    k->next = c->idle;
    c->idle = k;
    c->nidle++;
}

static void idle_cb(evutil_socket_t fd, short what, void *arg)
{
    struct hconn *k = arg;
    (void)fd, (void)what;
    idle_remove(k);
    conn_free(k);
}

/* The connection failed or closed while r waited on it: a reused connection that the server
 * had closed before answering is retried once on a new one. */
static void conn_lost(struct hreq *r, const char *why)
{
    int started = fdn_hresp_started(&r->resp);
    if (started && fdn_hresp_eof(&r->resp) == FDN_HRESP_DONE) {
        struct hconn *k = r->conn;
        r->conn = NULL;
        conn_free(k);
        finish(r, FDN_HC_OK, NULL);
        return;
    }
    if (!started && r->reused == 1 && r->idempotent) {
        r->reused = 2;
        conn_free(r->conn);
        r->conn = NULL;
        resolve(r);
        return;
    }
    if (!started)
        finish(r, FDN_HC_UNAVAILABLE, "%s", why);
    else
        finish(r, FDN_HC_BAD, "%s (%s)", r->resp.err, why);
}

/* Feeds what arrived to the parser. */
static void feed(struct hreq *r, struct evbuffer *in)
{
    struct evbuffer_iovec v[8];
    while (evbuffer_get_length(in) > 0) {
        int n = evbuffer_peek(in, -1, NULL, v, 8);
        if (n > 8)
            n = 8;
        for (int i = 0; i < n; i++) {
            size_t used = 0;
            int res = fdn_hresp_feed(&r->resp, v[i].iov_base, v[i].iov_len, &used);
            evbuffer_drain(in, used);
            if (res == FDN_HRESP_MORE)
                continue;
            if (res == FDN_HRESP_DONE) {
                release(r);
                finish(r, FDN_HC_OK, NULL);
            } else
                finish(r, res == FDN_HRESP_ETOOBIG ? FDN_HC_TOOBIG : FDN_HC_BAD, "%s", r->resp.err);
            return;
        }
    }
}

/* TLS: runs the session; -1 when it failed (r is finished). */
static int pump(struct hconn *k)
{
    struct hreq *r = k->req;
    char err[200];
    int res = fdn_hc_tls_conn_pump(k->tls, k->pout, k->pin, err, sizeof err);
    if (res < 0) {
        finish(r, FDN_HC_UNAVAILABLE, "%s", err);
        return -1;
    }
    if (res == 1) {
        feed(r, k->pin);
        if (!r->done)
            conn_lost(r, "connection closed");
        return -1;
    }
    return 0;
}

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
    struct hconn *k = arg;
    struct hreq *r = k->req;
    if (!r) { /* an idle connection speaks: the server closes it, or breaks the protocol */
        idle_remove(k);
        conn_free(k);
        return;
    }
    r->hold++;
    if (k->tls) {
        if (pump(k) == 0)
            feed(r, k->pin);
    } else
        feed(r, bufferevent_get_input(bev));
    r->hold--;
    if (r->done && r->hold == 0)
        req_free(r);
}

static void send_request(struct hreq *r)
{
    struct hconn *k = r->conn;
    if (k->tls) {
        evbuffer_add(k->pout, r->data, r->len);
        r->hold++;
        pump(k);
        r->hold--;
        if (r->done)
            req_free(r);
    } else
        bufferevent_write(k->bev, r->data, r->len);
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct hconn *k = arg;
    struct hreq *r = k->req;
    (void)bev;
    if (!r) {
        idle_remove(k);
        conn_free(k);
        return;
    }
    if (what & BEV_EVENT_CONNECTED) {
        k->connected = 1;
        if (r->tls) {
            k->pin = evbuffer_new();
            k->pout = evbuffer_new();
            k->tls = fdn_hc_tls_conn_new(r->tls_config, r->host, bufferevent_get_input(bev),
                                         bufferevent_get_output(bev));
        }
        send_request(r);
        return;
    }
    int err = EVUTIL_SOCKET_ERROR();
    if ((what & BEV_EVENT_ERROR) && !k->connected && r->ai_next) {
        conn_free(r->conn); /* the connect failed: the next address */
        r->conn = NULL;
        connect_next(r);
        return;
    }
    r->hold++;
    if (k->tls && (what & BEV_EVENT_EOF))
        pump(k); /* records that arrived with the close */
    if (!r->done) {
        if (k->tls)
            feed(r, k->pin);
        else
            feed(r, bufferevent_get_input(bev));
    }
    if (!r->done)
        conn_lost(r, (what & BEV_EVENT_EOF) ? "connection closed"
                                            : evutil_socket_error_to_string(err));
    r->hold--;
    if (r->done && r->hold == 0)
        req_free(r);
}

static struct hconn *conn_new(struct hreq *r)
{
    struct fdn_hclient *c = r->client;
    struct hconn *k = xcalloc(1, sizeof *k);
    k->client = c;
    k->key = xstrdup(r->key);
    k->bev = bufferevent_socket_new(c->base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!k->bev)
        abort();
    k->req = r;
    bufferevent_setcb(k->bev, conn_read_cb, NULL, conn_event_cb, k);
    bufferevent_enable(k->bev, EV_READ | EV_WRITE);
    c->open++;
    c->opened++;
    return k;
}

/* Connects to the next address (the first on a retry). */
static void connect_next(struct hreq *r)
{
    struct evutil_addrinfo *a = r->ai_next;
    if (!a) {
        finish(r, FDN_HC_UNAVAILABLE, "cannot connect to %s:%d", r->host, r->port);
        return;
    }
    r->ai_next = a->ai_next;
    r->conn = conn_new(r);
    if (bufferevent_socket_connect(r->conn->bev, a->ai_addr, (int)a->ai_addrlen) < 0) {
        int err = EVUTIL_SOCKET_ERROR();
        conn_free(r->conn);
        r->conn = NULL;
        if (r->ai_next)
            connect_next(r);
        else
            finish(r, FDN_HC_UNAVAILABLE, "%s", evutil_socket_error_to_string(err));
    }
}

static void dns_cb(int result, struct evutil_addrinfo *res, void *arg)
{
    struct ticket *t = arg;
    struct hreq *r = t->r;
    free(t);
    if (!r || r->done) { /* cancelled by req_free */
        if (res)
            evutil_freeaddrinfo(res);
        return;
    }
    r->dns = NULL;
    r->ticket = NULL;
    if (result != 0) {
        finish(r, FDN_HC_UNAVAILABLE, "cannot resolve %s: %s", r->host,
               evutil_gai_strerror(result));
        return;
    }
    r->ai = r->ai_next = res;
    connect_next(r);
}

static void start_cb(evutil_socket_t fd, short what, void *arg)
{
    struct hreq *r = arg;
    struct fdn_hclient *c = r->client;
    (void)fd, (void)what;
    for (struct hconn **p = &c->idle; *p; p = &(*p)->next) {
        struct hconn *k = *p;
        if (strcmp(k->key, r->key) == 0) {
            *p = k->next;
            c->nidle--;
            evtimer_del(k->idle_timer);
            k->req = r;
            r->conn = k;
            r->reused = 1; /* may be closed already: one retry */
            k->connected = 1;
            r->hold++;
            send_request(r);
            r->hold--;
            if (r->done)
                req_free(r);
            return;
        }
    }
    resolve(r);
}

/* Resolves the host (again, on a retry), then connects. */
static void resolve(struct hreq *r)
{
    struct fdn_hclient *c = r->client;
    if (r->ai) {
        evutil_freeaddrinfo(r->ai);
        r->ai = r->ai_next = NULL;
    }
    struct evutil_addrinfo hints = {0};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    char port[16];
    snprintf(port, sizeof port, "%d", r->port);
    struct ticket *t = xmalloc(sizeof *t);
    t->r = r;
    r->hold++;
    /* a literal address or a name in the hosts file calls back at once: d is NULL then */
    struct evdns_getaddrinfo_request *d =
        evdns_getaddrinfo(c->dns, r->host, port, &hints, dns_cb, t);
    r->hold--;
    if (d) {
        r->dns = d;
        r->ticket = t;
    }
    if (r->done && r->hold == 0)
        req_free(r);
}

static void timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    struct hreq *r = arg;
    (void)fd, (void)what;
    finish(r, FDN_HC_TIMEOUT, "no response within the timeout");
}

int fdn_hclient_request(struct fdn_hclient *c, const struct fdn_hc_request *q, fdn_hc_cb cb,
                        void *arg, char *err, size_t errlen)
{
    void *config = NULL;
    if (q->tls && !(config = fdn_hc_tls_config(c->tls, q->ca_file, err, errlen)))
        return -1;
    struct hreq *r = xcalloc(1, sizeof *r);
    r->client = c;
    r->cb = cb;
    r->arg = arg;
    r->host = xstrdup(q->host);
    r->port = q->port;
    r->tls = q->tls;
    r->tls_config = config;
    r->idempotent = q->idempotent;
    size_t klen = strlen(q->host) + (q->ca_file ? strlen(q->ca_file) : 0) + 32;
    r->key = xmalloc(klen);
    snprintf(r->key, klen, "%s|%s|%d|%s", q->tls ? "https" : "http", q->host, q->port,
             q->tls && q->ca_file ? q->ca_file : "");
    r->data = xmalloc(q->len ? q->len : 1);
    memcpy(r->data, q->data, q->len);
    r->len = q->len;
    fdn_hresp_init(&r->resp, q->max_body, q->head_request);
    r->timer = evtimer_new(c->base, timeout_cb, r);
    r->start = evtimer_new(c->base, start_cb, r);
    struct timeval tv = {q->timeout_ms / 1000, (q->timeout_ms % 1000) * 1000}, now = {0, 0};
    evtimer_add(r->timer, &tv);
    evtimer_add(r->start, &now); /* never call back from inside this call */
    r->next = c->reqs;
    if (c->reqs)
        c->reqs->prev = r;
    c->reqs = r;
    return 0;
}

int fdn_hclient_new(struct event_base *base, struct fdn_hclient **out)
{
    struct fdn_hclient *c = xcalloc(1, sizeof *c);
    c->base = base;
    /* the resolver reads the hosts file and resolv.conf now; without nameservers (a sandbox)
     * names in the hosts file and addresses still resolve */
    c->dns =
        evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS | EVDNS_BASE_DISABLE_WHEN_INACTIVE);
    if (!c->dns)
        c->dns = evdns_base_new(base, 0);
    if (!c->dns || fdn_hc_tls_new(&c->tls) < 0) {
        fdn_hclient_free(c);
        *out = NULL;
        return -1;
    }
    *out = c;
    return 0;
}

void fdn_hclient_free(struct fdn_hclient *c)
{
    if (!c)
        return;
    while (c->reqs) /* each owner hears of it (FDN_HC_CLOSED) and frees its arg */
        finish(c->reqs, FDN_HC_CLOSED, "the node is stopping");
    while (c->idle) {
        struct hconn *k = c->idle;
        c->idle = k->next;
        conn_free(k);
    }
    if (c->dns)
        evdns_base_free(c->dns, 1);
    fdn_hc_tls_free(c->tls);
    free(c);
}

void fdn_hclient_counts(const struct fdn_hclient *c, long *opened, int *open)
{
    *opened = c->opened;
    *open = c->open;
}
