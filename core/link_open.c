/* link_open.c: how links begin: the listener (accepts, paused for a while when accept fails,
 * a warning when it is open to the network without TLS) and outbound connects. */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/listener.h>

#include "link_int.h"
#include "node.h"
#include "util.h"

static void set_sockopts(evutil_socket_t fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
}

static void links_accept_cb(struct evconnlistener *lis, evutil_socket_t fd, struct sockaddr *sa,
                            int socklen, void *arg)
{
    struct fdn_links *ls = arg;
    (void)lis;
    (void)socklen;
    set_sockopts(fd);
    struct link *l = fdn_link_new(ls, fd, 1);
    l->state = S_OPEN;
    l->deadline = l->last_heard + ls->handshake_ms;
    fdn_addr_string(sa, l->ip, &l->port);
    ls->st.accepted++;
    fdn_links_event(ls, l->id, "accept", l->ip, l->port);
}

/* accept() failed (out of descriptors, most likely): pause instead of spinning. */
static void links_accept_error_cb(struct evconnlistener *lis, void *arg)
{
    struct fdn_links *ls = arg;
    fdn_warn("link: accept failed: %s; pausing accepts for 1 s",
             evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
    evconnlistener_disable(lis);
    ls->accept_resume = fdn_now_ms() + ACCEPT_PAUSE_MS;
}

int fdn_links_listen(struct fdn_links *ls, const char *host, int port, int *bound_port)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (ls->listener) {
        fdn_error("link: already listening");
        return FDN_LINK_EINVAL;
    }
    if (fdn_addr_parse(host, port, &ss, &len) < 0) {
        fdn_error("link: cannot listen on '%s' port %d: not an IP address and port",
                  host ? host : "(null)", port);
        return FDN_LINK_EINVAL;
    }
    ls->listener =
        evconnlistener_new_bind(ls->n->base, links_accept_cb, ls,
                                LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
                                128, (struct sockaddr *)&ss, (int)len);
    if (!ls->listener) {
        fdn_error("link: cannot listen on %s port %d: %s", host, port, strerror(errno));
        return FDN_LINK_ESYS;
    }
    evconnlistener_set_error_cb(ls->listener, links_accept_error_cb);
    len = sizeof ss;
    char ip[46];
    getsockname(evconnlistener_get_fd(ls->listener), (struct sockaddr *)&ss, &len);
    fdn_addr_string((struct sockaddr *)&ss, ip, bound_port);
    fdn_info("link: listening on %s port %d%s", host, *bound_port,
             ls->tls ? " (TLS, cluster secret)" : "");
    if (!ls->tls && !fdn_addr_is_loopback(&ss) && !ls->open_warned) {
        ls->open_warned = 1;
        fdn_warn("link: no cluster secret, and the RPC listener (%s port %d) is not on loopback: "
                 "whoever reaches it can call every service, and the traffic is not encrypted; "
                 "set --secret (or FDN_SECRET), or --bind 127.0.0.1",
                 host, *bound_port);
    }
    return 0;
}

void fdn_links_stop_listening(struct fdn_links *ls)
{
    if (ls && ls->listener) {
        evconnlistener_free(ls->listener);
        ls->listener = NULL;
        ls->accept_resume = 0;
    }
}

int fdn_links_connect(struct fdn_links *ls, const char *host, int port, uint64_t *id)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (fdn_addr_parse(host, port, &ss, &len) < 0 || port == 0)
        return FDN_LINK_EINVAL;
    evutil_socket_t fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fdn_error("link: socket: %s", strerror(errno));
        return FDN_LINK_ESYS;
    }
    set_sockopts(fd);
    struct link *l = fdn_link_new(ls, fd, 0);
    fdn_addr_string((struct sockaddr *)&ss, l->ip, &l->port);
    l->state = S_CONNECTING;
    l->deadline = l->last_heard + ls->connect_ms;
    *id = l->id;
    /* connect here rather than in libevent to keep the errno of an immediate failure; that
     * failure is reported as "down" all the same, from the reactor */
    if (connect(fd, (struct sockaddr *)&ss, len) < 0 && errno != EINPROGRESS) {
        fdn_link_fail(l, FDN_LINK_R_CONNECT, strerror(errno));
        return 0;
    }
    if (bufferevent_socket_connect(l->bev, NULL, 0) < 0) /* watch for the connect to end */
        fdn_link_fail(l, FDN_LINK_R_CONNECT, "cannot watch the socket");
    return 0;
}
