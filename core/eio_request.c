/* eio_request.c: the requests under /socket.io/: the handshake (polling or websocket, with the
 * reference server's errors), polling GETs (held until packets come) and POSTs, and the
 * websocket upgrade of a polling session. Sessions themselves are eio_server.c's. */
#include "eio_server_int.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <lua.h>

#include "http.h"
#include "http_parser.h"
#include "node.h"
#include "util.h"
#include "ws.h"

#define TEXT_TYPE "text/plain; charset=UTF-8"
static const struct fdn_http_field TEXT = {"Content-Type", TEXT_TYPE, 12, sizeof TEXT_TYPE - 1};

/* --- answers -------------------------------------------------------------------------------- */

int fdn_eio_reply(struct fdn_eio_server *srv, uint64_t req, int status, const char *body,
                  size_t len)
{
    return fdn_http_respond(srv->h, req, status, &TEXT, 1, body, len);
}

/* The reference server's errors: 400 (503 over the cap) with {"code":N,"message":"..."}. */
static void fail(struct fdn_eio_server *srv, uint64_t req, int code)
{
    static const char *const msgs[] = {
        "Transport unknown", "Session ID unknown", "Bad handshake method",
        "Bad request",       "Forbidden",          "Unsupported protocol version"};
    char body[96];
    int n = snprintf(body, sizeof body, "{\"code\":%d,\"message\":\"%s\"}", code, msgs[code]);
    fdn_debug("socket: answered 400 (%s)", msgs[code]);
    fdn_http_respond(srv->h, req, 400, NULL, 0, body, (size_t)n);
}

/* --- requests ------------------------------------------------------------------------------- */

struct query {
    const char *transport, *sid, *eio;
    size_t transport_len, sid_len, eio_len;
};

static void parse_query(const char *target, struct query *q)
{
    memset(q, 0, sizeof *q);
    const char *s = strchr(target, '?');
    while (s && *s) {
        s++;
        size_t n = strcspn(s, "&"), k = strcspn(s, "=&");
        const char *v = s + k + (k < n);
        size_t vl = n - k - (k < n);
        if (k == 9 && memcmp(s, "transport", 9) == 0)
            q->transport = v, q->transport_len = vl;
        else if (k == 3 && memcmp(s, "sid", 3) == 0)
            q->sid = v, q->sid_len = vl;
        else if (k == 3 && memcmp(s, "EIO", 3) == 0)
            q->eio = v, q->eio_len = vl;
        s += n;
    }
}

static int is(const char *s, size_t len, const char *lit)
{
    return s && len == strlen(lit) && memcmp(s, lit, len) == 0;
}

/* The open packet: the sid, the upgrades (websocket, from polling), the timers, maxPayload. */
static size_t open_packet(const struct session *s, int polling, char *out, size_t cap)
{
    const struct fdn_config *c = &s->srv->n->cfg;
    int n = snprintf(out, cap,
                     "0{\"sid\":\"%.*s\",\"upgrades\":[%s],\"pingInterval\":%d,\"pingTimeout\":%d,"
                     "\"maxPayload\":%zu}",
                     SID_LEN, s->sid, polling ? "\"websocket\"" : "", c->socket_ping_interval_ms,
                     c->socket_ping_timeout_ms, c->socket_max_payload);
    return (size_t)n;
}

/* info = {sid, headers, query, address, transport} on the stack, built while the request's
 * parser is still there (a websocket's connection leaves the HTTP server before "open"). */
static void push_info(struct session *s, const struct fdn_eio_req *r, const char *transport)
{
    lua_State *L = s->srv->n->L;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char addr[INET6_ADDRSTRLEN] = "";
    if (getpeername(r->fd, (struct sockaddr *)&ss, &sl) == 0) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ss;
        if (ss.ss_family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, addr, sizeof addr);
        else if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
            inet_ntop(AF_INET, s6->sin6_addr.s6_addr + 12, addr, sizeof addr);
        else
            inet_ntop(AF_INET6, &s6->sin6_addr, addr, sizeof addr);
    }
    lua_checkstack(L, 12);
    lua_createtable(L, 0, 5);
    lua_pushlstring(L, s->sid, SID_LEN);
    lua_setfield(L, -2, "sid");
    fdn_http_push_headers(L, r->p);
    lua_setfield(L, -2, "headers");
    const char *q = strchr(r->p->target, '?');
    lua_pushstring(L, q ? q + 1 : "");
    lua_setfield(L, -2, "query");
    lua_pushstring(L, addr);
    lua_setfield(L, -2, "address");
    lua_pushstring(L, transport);
    lua_setfield(L, -2, "transport");
}

/* "open" to Lua with the info on top of the stack (popped). */
static void dispatch_open(struct session *s)
{
    struct fdn_node *n = s->srv->n;
    int info = lua_gettop(n->L);
    fdn_node_dispatch_begin(n, "socket");
    lua_pushliteral(n->L, "open");
    lua_pushinteger(n->L, (lua_Integer)s->id);
    lua_pushvalue(n->L, info);
    fdn_node_dispatch_end(n, 3);
    lua_pop(n->L, 1);
}

/* The websocket handshake's checks; 0 with the accept key, -1 after answering 400. */
static int ws_handshake(struct fdn_eio_server *srv, const struct fdn_eio_req *r,
                        char accept[FDN_WS_ACCEPT_LEN + 1])
{
    const char *up = fdn_http_parser_header(r->p, "upgrade");
    const char *ver = fdn_http_parser_header(r->p, "sec-websocket-version");
    const char *key = fdn_http_parser_header(r->p, "sec-websocket-key");
    if (!r->p->upgrade || !up || strcasecmp(up, "websocket") != 0 || !ver ||
        strcmp(ver, "13") != 0 || !key || fdn_ws_accept(key, strlen(key), accept) < 0) {
        fail(srv, r->id, 3);
        return -1;
    }
    return 0;
}

static void open_session(struct fdn_eio_server *srv, const struct fdn_eio_req *r, int websocket)
{
    char accept[FDN_WS_ACCEPT_LEN + 1], open[256];
    if (websocket && ws_handshake(srv, r, accept) < 0)
        return;
    if (srv->stopping || srv->nopen >= (size_t)srv->n->cfg.socket_max) {
        static const char body[] = "{\"code\":503,\"message\":\"Too many sessions\"}";
        fdn_http_respond(srv->h, r->id, 503, NULL, 0, body, sizeof body - 1);
        return;
    }
    struct session *s = fdn_eio_session_new(srv);
    size_t len = open_packet(s, !websocket, open, sizeof open);
    push_info(s, r, websocket ? "websocket" : "polling");
    if (websocket) {
        const struct fdn_config *c = &srv->n->cfg;
        struct bufferevent *bev = fdn_http_take(srv->h, r->id);
        if (!bev) { /* cannot happen: the request is in hand */
            lua_pop(srv->n->L, 1);
            fdn_eio_session_end(s, NULL, 0);
            return;
        }
        s->ws = fdn_ws_conn_new(srv->wsx, bev, accept, c->socket_max_payload, c->socket_max_buffer,
                                &s->cbs);
        fdn_ws_conn_send(s->ws, open, len);
    } else {
        fdn_eio_reply(srv, r->id, 200, open, len);
    }
    dispatch_open(s);
}

static void upgrade(struct fdn_eio_server *srv, struct session *s, const struct fdn_eio_req *r)
{
    char accept[FDN_WS_ACCEPT_LEN + 1];
    if (s->ws || s->probe) { /* already upgraded, or upgrading */
        fail(srv, r->id, 3);
        return;
    }
    if (ws_handshake(srv, r, accept) < 0)
        return;
    const struct fdn_config *c = &srv->n->cfg;
    struct bufferevent *bev = fdn_http_take(srv->h, r->id);
    if (bev)
        s->probe = fdn_ws_conn_new(srv->wsx, bev, accept, c->socket_max_payload,
                                   c->socket_max_buffer, &s->cbs);
}

/* A polling GET: answered at once when packets wait (or with a noop during an upgrade),
 * else held until some are sent. A second GET at the same time ends the session. */
static void poll_get(struct session *s, uint64_t req)
{
    if (s->get_req) {
        fail(s->srv, req, 3);
        fdn_eio_session_end(s, "transport error", 0);
    } else if (s->queue.len) {
        fdn_eio_session_flush(s, req);
    } else if (s->upgrading) {
        fdn_eio_reply(s->srv, req, 200, "6", 1);
    } else {
        s->get_req = req;
    }
}

static void poll_post(struct session *s, const struct fdn_eio_req *r)
{
    struct fdn_eio_server *srv = s->srv;
    struct fdn_eio_packet p;
    size_t pos = 0;
    uint64_t id = s->id;
    int rc;
    if (r->body_len > srv->n->cfg.socket_max_payload) {
        fdn_http_respond(srv->h, r->id, 413, &TEXT, 1, NULL, 0);
        fdn_eio_session_end(s, "transport error", 0);
        return;
    }
    while ((rc = fdn_eio_next(r->body, r->body_len, &pos, &p)) == 1) {
        fdn_eio_packet_in(s, &p);
        if (!(s = fdn_eio_session_get(srv, id)))
            break;
    }
    if (rc < 0 && s) {
        fdn_debug("socket: session %.*s posted a malformed payload", SID_LEN, s->sid);
        fail(srv, r->id, 3);
        fdn_eio_session_end(s, "parse error", 0);
        return;
    }
    fdn_eio_reply(srv, r->id, 200, "ok", 2);
}

void fdn_eio_server_request(struct fdn_eio_server *srv, const struct fdn_eio_req *r)
{
    const char *method = r->p->method;
    struct query q;
    parse_query(r->p->target, &q);
    int websocket = is(q.transport, q.transport_len, "websocket");
    if (strcmp(method, "OPTIONS") == 0) {
        fdn_http_respond(srv->h, r->id, 204, NULL, 0, NULL, 0);
    } else if (!websocket && !is(q.transport, q.transport_len, "polling")) {
        fail(srv, r->id, 0);
    } else if (q.sid) {
        struct session *s = fdn_eio_session_find(srv, q.sid, q.sid_len);
        if (!s)
            fail(srv, r->id, 1);
        else if (websocket && strcmp(method, "GET") == 0 && r->p->upgrade)
            upgrade(srv, s, r);
        else if (websocket || s->ws)
            fail(srv, r->id, 3); /* the session's transport is not this request's */
        else if (strcmp(method, "GET") == 0)
            poll_get(s, r->id);
        else if (strcmp(method, "POST") == 0)
            poll_post(s, r);
        else
            fail(srv, r->id, 3);
    } else if (strcmp(method, "GET") != 0) {
        fail(srv, r->id, 2);
    } else if (websocket && !r->p->upgrade) {
        fail(srv, r->id, 3);
    } else if (!is(q.eio, q.eio_len, "4")) {
        fail(srv, r->id, 5);
    } else {
        open_session(srv, r, websocket);
    }
}
