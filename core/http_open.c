/* http_open.c: the gateway's (and the admin port's) listeners and the server's life: start
 * (resolve, listen on every address, the shared state), accepts paused for a second when accept()
 * fails, the stop of accepting at shutdown, and free. The connections are http.c's. */
#include "http_int.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>

#include "node.h"
#include "util.h"

static void http_relisten_cb(evutil_socket_t fd, short what, void *arg)
{
    struct fdn_http *h = arg;
    (void)fd;
    (void)what;
    for (int i = 0; i < h->nls; i++)
        evconnlistener_enable(h->ls[i]);
}

/* accept() failed (out of descriptors, most likely): pause instead of spinning. */
static void http_accept_error_cb(struct evconnlistener *l, void *arg)
{
    struct fdn_http *h = arg;
    struct timeval tv = {1, 0};
    (void)l;
    fdn_warn("http: accept failed: %s; pausing accepts for 1 s",
             evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
    for (int i = 0; i < h->nls; i++)
        evconnlistener_disable(h->ls[i]);
    evtimer_add(h->relisten, &tv);
}

static int listen_on(struct fdn_http *h, const struct addrinfo *ai)
{
    int one = 1;
    evutil_socket_t fd = socket(ai->ai_family, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (evutil_make_socket_nonblocking(fd) < 0 || evutil_make_socket_closeonexec(fd) < 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 511) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    struct evconnlistener *l = evconnlistener_new(
        h->n->base, fdn_http_accept_cb, h, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
    if (!l) {
        close(fd);
        errno = ENOMEM;
        return -1;
    }
    evconnlistener_set_error_cb(l, http_accept_error_cb);
    h->ls[h->nls++] = l;
    if (h->nls == 1) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
            h->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                     : ((struct sockaddr_in *)&ss)->sin_port);
    }
    return 0;
}

/* The gateway, or (admin) the operators' server: no CORS, no --public, no Socket.IO, a few
 * connections, its requests dispatched as "admin". */
static int start(struct fdn_node *n, const char *host, int port, int admin, struct fdn_http **out)
{
    const char *what = admin ? "admin" : "http";
    struct addrinfo hints = {0}, *res = NULL;
    char portstr[16];
    *out = NULL;
    if (port < 0 || port > 65535) {
        fdn_error("%s: invalid port %d", what, port);
        return -1;
    }
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(portstr, sizeof portstr, "%d", port);
    int r = getaddrinfo(host, portstr, &hints, &res);
    if (r != 0) {
        fdn_error("%s: cannot resolve '%s': %s", what, host, gai_strerror(r));
        return -1;
    }
    struct fdn_http *h = xcalloc(1, sizeof *h);
    h->n = n;
    h->timeout_ms = n->cfg.http_timeout_ms;
    h->max_body = n->cfg.max_body;
    h->idle_ms = n->cfg.http_idle_ms;
    h->max_per_addr = n->cfg.http_max_per_addr; /* 0: no cap */
    h->nslots = admin ? ADMIN_MAX_CONNS : n->cfg.http_max_conns;
    h->admin = admin ? 1 : 0;
    if (admin)
        h->max_per_addr = 0;
    h->slots = xcalloc((size_t)h->nslots, sizeof *h->slots);
    fdn_http_limits_init(h);
    h->free_slots = xmalloc((size_t)h->nslots * sizeof *h->free_slots);
    for (int i = 0; i < h->nslots; i++)
        h->free_slots[h->nfree++] = h->nslots - 1 - i;
    h->relisten = evtimer_new(n->base, http_relisten_cb, h);
    h->out = evbuffer_new();
    h->flush = event_new(n->base, -1, 0, fdn_http_flush_cb, h);
    if (!h->relisten || !h->out || !h->flush) {
        fdn_error("http: out of memory");
        abort();
    }
    /* a file segment added to it is then sent with sendfile, never read into memory */
    evbuffer_set_flags(h->out, EVBUFFER_FLAG_DRAINS_TO_FD);
    if (!admin && fdn_http_web_start(h) < 0) {
        freeaddrinfo(res);
        fdn_http_free(h);
        return -1;
    }
    int err = 0;
    for (struct addrinfo *ai = res; ai && h->nls < MAX_LISTENERS && !(port == 0 && h->nls);
         ai = ai->ai_next) {
        int dup = 0;
        for (struct addrinfo *b = res; b != ai && !dup; b = b->ai_next)
            dup =
                b->ai_addrlen == ai->ai_addrlen && !memcmp(b->ai_addr, ai->ai_addr, ai->ai_addrlen);
        if (dup || listen_on(h, ai) == 0)
            continue;
        if (errno != EADDRNOTAVAIL && errno != EAFNOSUPPORT) { /* e.g. no IPv6 for ::1 */
            err = errno;
            break;
        }
        err = err ? err : errno;
    }
    freeaddrinfo(res);
    if (h->nls == 0 || (err && err != EADDRNOTAVAIL && err != EAFNOSUPPORT)) {
        fdn_error("%s: cannot listen on %s port %d: %s", what, host, port, strerror(err));
        fdn_http_free(h);
        return -1;
    }
    fdn_info("%s: listening on %s port %d", what, host, h->port);
    *out = h;
    return 0;
}

int fdn_http_start(struct fdn_node *n, const char *host, int port, struct fdn_http **out)
{
    return start(n, host, port, 0, out);
}

int fdn_http_start_admin(struct fdn_node *n, const char *host, int port, struct fdn_http **out)
{
    return start(n, host, port, 1, out);
}

void fdn_http_stop_accepting(struct fdn_http *h)
{
    if (!h)
        return;
    for (int i = 0; i < h->nls; i++)
        evconnlistener_free(h->ls[i]);
    h->nls = 0;
    evtimer_del(h->relisten);
    h->stopping = 1;
    for (struct conn *c = h->conns, *next; c; c = next) {
        next = c->next;
        if (c->state == C_IDLE || c->state == C_READING)
            fdn_http_conn_free(c);
    }
}

void fdn_http_free(struct fdn_http *h)
{
    if (!h)
        return;
    for (int i = 0; i < h->nls; i++)
        evconnlistener_free(h->ls[i]);
    while (h->conns)
        fdn_http_conn_free(h->conns);
    if (h->relisten)
        event_free(h->relisten);
    if (h->flush)
        event_free(h->flush);
    if (h->out)
        evbuffer_free(h->out);
    free(h->slots);
    free(h->free_slots);
    free(h->peers);
    fdn_http_web_free(h);
    free(h);
}
