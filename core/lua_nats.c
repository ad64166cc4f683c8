/* lua_nats.c: the fdn.core.nats binding: connect(url, opts, cb) -> conn; conn:publish,
 * conn:subscribe -> sub (sub:unsubscribe()), conn:flush(cb), conn:inbox(), conn:status(),
 * conn:stats(), conn:close().
 * Every callback runs on the reactor (nats_bus.c hands libnats' threads over). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>
#include <nats/nats.h>

#include "batch.h"
#include "nats_bus.h"
#include "nats_url.h"
#include "node.h"

#define CONN_MT "fdn.nats"
#define SUB_MT "fdn.nats.sub"
#define DEFAULT_QUEUE 65536
#define MAX_QUEUE (1 << 22)
#define DEFAULT_QUEUE_BYTES (64 << 20)

struct lnats {
    struct fdn_nats *bus;
    struct fdn_node *node;
    int cb_ref;     /* the connect's callback, until it is called */
    int status_ref; /* opts.on_status */
    int self_ref;   /* keeps the connection (and its subscriptions' functions) alive while open */
};

struct lsub {
    uint64_t sid;
};

/* call(fn, ...): under the node's pcall. */
static int l_call(lua_State *L)
{
    lua_call(L, lua_gettop(L) - 1, 0);
    return 0;
}

/* Pushes the connection's userdata; 0 when it is gone (closed). */
static int push_self(lua_State *L, struct lnats *u)
{
    if (u->self_ref == LUA_NOREF || u->self_ref == LUA_REFNIL)
        return 0;
    lua_rawgeti(L, LUA_REGISTRYINDEX, u->self_ref);
    return 1;
}

static void release(lua_State *L, struct lnats *u)
{
    luaL_unref(L, LUA_REGISTRYINDEX, u->cb_ref);
    luaL_unref(L, LUA_REGISTRYINDEX, u->status_ref);
    luaL_unref(L, LUA_REGISTRYINDEX, u->self_ref);
    u->cb_ref = u->status_ref = u->self_ref = LUA_NOREF;
}

static void on_connected(void *arg, const char *err)
{
    struct lnats *u = arg;
    lua_State *L = u->node->L;
    if (!push_self(L, u)) /* on the stack through the call: cannot be collected */
        return;
    int anchor = lua_gettop(L);
    int cb = u->cb_ref;
    u->cb_ref = LUA_NOREF;
    if (err) { /* nothing more will come: the connection is dead */
        fdn_nats_close(u->bus);
        luaL_unref(L, LUA_REGISTRYINDEX, u->self_ref);
        u->self_ref = LUA_NOREF;
    }
    fdn_node_call_begin(u->node, l_call);
    lua_rawgeti(L, LUA_REGISTRYINDEX, cb);
    lua_pushboolean(L, err == NULL);
    if (err)
        lua_pushstring(L, err);
    fdn_node_call_end(u->node, err ? 2 : 1);
    luaL_unref(L, LUA_REGISTRYINDEX, cb);
    lua_settop(L, anchor - 1);
}

static void on_status(void *arg, int state)
{
    static const char *names[] = {"disconnected", "reconnected", "closed"};
    struct lnats *u = arg;
    lua_State *L = u->node->L;
    if (u->status_ref == LUA_NOREF || !push_self(L, u))
        return;
    int anchor = lua_gettop(L);
    fdn_node_call_begin(u->node, l_call);
    lua_rawgeti(L, LUA_REGISTRYINDEX, u->status_ref);
    lua_pushstring(L, names[state]);
    fdn_node_call_end(u->node, 1);
    lua_settop(L, anchor - 1);
}

static void on_message(void *arg, uint64_t sid, const char *subject, const char *reply,
                       const char *data, size_t len, int no_responders)
{
    struct lnats *u = arg;
    lua_State *L = u->node->L;
    if (!push_self(L, u))
        return;
    int anchor = lua_gettop(L);
    lua_getiuservalue(L, anchor, 1);
    lua_rawgeti(L, -1, (lua_Integer)sid);
    if (lua_isfunction(L, -1)) {
        int fn = lua_gettop(L);
        fdn_node_call_begin(u->node, l_call);
        lua_pushvalue(L, fn);
        lua_pushstring(L, subject);
        lua_pushlstring(L, data, len);
        if (reply)
            lua_pushstring(L, reply);
        else
            lua_pushnil(L);
        if (no_responders)
            lua_pushboolean(L, 1);
        else
            lua_pushnil(L);
        fdn_node_call_end(u->node, 5);
    }
    lua_settop(L, anchor - 1);
}

static const struct fdn_nats_handlers handlers = {on_connected, on_status, on_message};

static struct lnats *check_conn(lua_State *L)
{
    struct lnats *u = luaL_checkudata(L, 1, CONN_MT);
    if (!u->bus || u->self_ref == LUA_NOREF)
        luaL_argerror(L, 1, "connection closed");
    return u;
}

/* connect(url, opts, cb) -> conn (cb(true) or cb(false, message) later), or nil, message.
 * url: nats:// or tls:// (TLS required: nats_opts.h). opts: name (the client's name on the
 * server), ca (a PEM file of CA certificates trusted beside the system's, which requires TLS;
 * default --nats-ca's), on_status = fn("disconnected" | "reconnected" | "closed"), queue
 * and queue_bytes (the messages waiting for the reactor: 65536 and 64 MiB; beyond, they are
 * dropped and counted: conn:stats()). */
static int l_connect(lua_State *L)
{
    struct fdn_node *n = fdn_node_from_upvalue(L);
    size_t url_len;
    const char *url = luaL_checklstring(L, 1, &url_len);
    luaL_checktype(L, 2, LUA_TTABLE);
    luaL_checktype(L, 3, LUA_TFUNCTION);
    lua_getfield(L, 2, "name");
    const char *name = luaL_optstring(L, -1, NULL);
    lua_getfield(L, 2, "ca");
    const char *ca = luaL_optstring(L, -1, n->cfg.nats_ca);
    lua_getfield(L, 2, "queue");
    lua_Integer queue = luaL_optinteger(L, -1, DEFAULT_QUEUE);
    luaL_argcheck(L, queue >= 1 && queue <= MAX_QUEUE, 2, "queue out of range");
    lua_getfield(L, 2, "queue_bytes");
    lua_Integer queue_bytes = luaL_optinteger(L, -1, DEFAULT_QUEUE_BYTES);
    luaL_argcheck(L, queue_bytes >= 1, 2, "queue_bytes out of range");
    lua_getfield(L, 2, "on_status");
    if (!lua_isnil(L, -1))
        luaL_checktype(L, -1, LUA_TFUNCTION);
    int on_status_idx = lua_gettop(L);
    struct lnats *u = lua_newuserdatauv(L, sizeof *u, 2); /* subscriptions, flushes */
    memset(u, 0, sizeof *u);
    u->node = n;
    u->cb_ref = u->status_ref = u->self_ref = LUA_NOREF;
    luaL_setmetatable(L, CONN_MT);
    lua_newtable(L);
    lua_setiuservalue(L, -2, 1);
    char err[256], user[FDN_NATS_CRED_MAX], pass[FDN_NATS_CRED_MAX];
    char *servers = lua_newuserdatauv(L, url_len + 1, 0); /* collected with the call's stack */
    int has_cred;
    lua_insert(L, -2);
    struct fdn_nats_opts o = {servers, NULL, NULL, name, ca, (int)queue, (size_t)queue_bytes};
    int rc = fdn_nats_url_split(url, url_len, servers, user, pass, &has_cred, err, sizeof err);
    if (rc == 0 && has_cred) {
        o.user = user;
        o.pass = pass;
    }
    if (rc < 0 || fdn_nats_new(n->base, &o, &handlers, u, &u->bus, err, sizeof err) < 0) {
        u->bus = NULL;
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    lua_pushvalue(L, 3);
    u->cb_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    if (!lua_isnil(L, on_status_idx)) {
        lua_pushvalue(L, on_status_idx);
        u->status_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    }
    lua_pushvalue(L, -1);
    u->self_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return 1;
}

/* conn:publish(subject, data[, reply]) -> true, or nil, message. data: a string, or a batch
 * (batch.h), published from its buffer and cleared, sent or not. */
static int l_publish(lua_State *L)
{
    struct lnats *u = check_conn(L);
    const char *subject = luaL_checkstring(L, 2);
    struct fdn_batch *q = fdn_batch_test(L, 3);
    size_t len;
    const char *data = q ? q->b.data : luaL_checklstring(L, 3, &len);
    if (q)
        len = q->b.len;
    const char *reply = luaL_optstring(L, 4, NULL);
    char err[256];
    int rc = fdn_nats_publish(u->bus, subject, reply, data, len, err, sizeof err);
    if (q)
        fdn_batch_clear(q);
    if (rc < 0) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* conn:subscribe(subject, [queue,] fn(subject, data, reply, no_responders)[, opts]) -> sub, or
 * nil, message. no_responders: true when this is the server's answer to a request published
 * with this subject as its reply and no subscriber took it (fail the request at once).
 * opts.direct: the messages are taken on the reactor as the socket is read (no thread between;
 * nats_bus.h), and no_responders never comes. */
static int l_subscribe(lua_State *L)
{
    struct lnats *u = check_conn(L);
    const char *subject = luaL_checkstring(L, 2);
    const char *queue = NULL;
    int fn = 3;
    if (lua_type(L, 3) == LUA_TSTRING) {
        queue = lua_tostring(L, 3);
        fn = 4;
    }
    luaL_checktype(L, fn, LUA_TFUNCTION);
    int direct = 0;
    if (!lua_isnoneornil(L, fn + 1)) {
        luaL_checktype(L, fn + 1, LUA_TTABLE);
        direct = lua_getfield(L, fn + 1, "direct") != LUA_TNIL && lua_toboolean(L, -1);
        lua_pop(L, 1);
    }
    uint64_t sid;
    char err[256];
    if ((direct ? fdn_nats_subscribe_direct : fdn_nats_subscribe)(u->bus, subject, queue, &sid, err,
                                                                  sizeof err) < 0) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    lua_getiuservalue(L, 1, 1);
    lua_pushvalue(L, fn);
    lua_rawseti(L, -2, (lua_Integer)sid);
    struct lsub *s = lua_newuserdatauv(L, sizeof *s, 1);
    s->sid = sid;
    luaL_setmetatable(L, SUB_MT);
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 1);
    return 1;
}

/* sub:unsubscribe(): idempotent; messages still queued for it are dropped. */
static int l_unsubscribe(lua_State *L)
{
    struct lsub *s = luaL_checkudata(L, 1, SUB_MT);
    if (!s->sid)
        return 0;
    lua_getiuservalue(L, 1, 1);
    struct lnats *u = lua_touserdata(L, -1);
    if (u->bus)
        fdn_nats_unsubscribe(u->bus, s->sid);
    lua_getiuservalue(L, -1, 1);
    lua_pushnil(L);
    lua_rawseti(L, -2, (lua_Integer)s->sid);
    s->sid = 0;
    return 0;
}

/* A flush's message came back: the oldest flush's callback, cb(true). Upvalue: the queue. */
static int l_flush_back(lua_State *L)
{
    int q = lua_upvalueindex(1);
    lua_getfield(L, q, "head");
    lua_Integer head = lua_tointeger(L, -1);
    if (lua_rawgeti(L, q, head) != LUA_TFUNCTION)
        return 0;
    lua_pushnil(L);
    lua_rawseti(L, q, head);
    lua_pushinteger(L, head + 1);
    lua_setfield(L, q, "head");
    lua_pushboolean(L, 1);
    lua_call(L, 1, 0);
    return 0;
}

/* conn:flush(cb) -> true (cb(true) once the server has everything published before), or nil,
 * message. An empty message to an inbox of the connection's own: the server keeps a
 * connection's order, so its return means the rest arrived. While the server is away it
 * waits (libnats buffers it); a close drops the callbacks. */
static int l_flush(lua_State *L)
{
    struct lnats *u = check_conn(L);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    char err[256];
    if (lua_getiuservalue(L, 1, 2) != LUA_TTABLE) { /* the first flush: the inbox */
        lua_createtable(L, 0, 3);
        natsInbox *inbox = NULL;
        uint64_t sid;
        if (natsInbox_Create(&inbox) != NATS_OK)
            return luaL_error(L, "cannot make an inbox");
        lua_pushstring(L, inbox);
        int rc = fdn_nats_subscribe(u->bus, inbox, NULL, &sid, err, sizeof err);
        natsInbox_Destroy(inbox);
        if (rc < 0) {
            lua_pushnil(L);
            lua_pushstring(L, err);
            return 2;
        }
        lua_setfield(L, -2, "subject");
        lua_pushinteger(L, 1);
        lua_setfield(L, -2, "head");
        lua_pushinteger(L, 1);
        lua_setfield(L, -2, "tail");
        lua_getiuservalue(L, 1, 1);
        lua_pushvalue(L, -2);
        lua_pushcclosure(L, l_flush_back, 1);
        lua_rawseti(L, -2, (lua_Integer)sid);
        lua_pop(L, 1);
        lua_pushvalue(L, -1);
        lua_setiuservalue(L, 1, 2);
    }
    int q = lua_gettop(L);
    lua_getfield(L, q, "subject");
    if (fdn_nats_publish(u->bus, lua_tostring(L, -1), NULL, "", 0, err, sizeof err) < 0) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    lua_getfield(L, q, "tail");
    lua_Integer tail = lua_tointeger(L, -1);
    lua_pushvalue(L, 2);
    lua_rawseti(L, q, tail);
    lua_pushinteger(L, tail + 1);
    lua_setfield(L, q, "tail");
    lua_pushboolean(L, 1);
    return 1;
}

/* conn:inbox() -> a new unique subject for replies. */
static int l_inbox(lua_State *L)
{
    check_conn(L);
    natsInbox *inbox = NULL;
    if (natsInbox_Create(&inbox) != NATS_OK)
        return luaL_error(L, "cannot make an inbox");
    lua_pushstring(L, inbox);
    natsInbox_Destroy(inbox);
    return 1;
}

/* conn:status() -> "connecting", "connected", "reconnecting" (publishing is buffered by
 * libnats meanwhile), "closed", or another of libnats' states (lower case). */
static int l_status(lua_State *L)
{
    struct lnats *u = luaL_checkudata(L, 1, CONN_MT);
    int st = u->bus && u->self_ref != LUA_NOREF ? fdn_nats_status(u->bus) : -1;
    const char *name = st == -1                              ? "closed"
                       : st == -2                            ? "connecting"
                       : st == NATS_CONN_STATUS_CONNECTED    ? "connected"
                       : st == NATS_CONN_STATUS_RECONNECTING ? "reconnecting"
                       : st == NATS_CONN_STATUS_CLOSED       ? "closed"
                       : st == NATS_CONN_STATUS_CONNECTING   ? "connecting"
                                                             : "disconnected";
    lua_pushstring(L, name);
    return 1;
}

/* conn:stats() -> {queued = n, dropped = n} */
static int l_stats(lua_State *L)
{
    struct lnats *u = luaL_checkudata(L, 1, CONN_MT);
    int queued = 0;
    uint64_t dropped = 0;
    if (u->bus)
        fdn_nats_stats(u->bus, &queued, &dropped);
    lua_createtable(L, 0, 2);
    lua_pushinteger(L, queued);
    lua_setfield(L, -2, "queued");
    lua_pushinteger(L, (lua_Integer)dropped);
    lua_setfield(L, -2, "dropped");
    return 1;
}

/* close(): idempotent; no callback is called after it. */
static int l_close(lua_State *L)
{
    struct lnats *u = luaL_checkudata(L, 1, CONN_MT);
    fdn_nats_close(u->bus); /* the memory is freed at the node's exit (fdn_nats_shutdown) */
    release(L, u);
    lua_newtable(L); /* the subscriptions' functions go, and the flushes' callbacks */
    lua_setiuservalue(L, 1, 1);
    lua_pushnil(L);
    lua_setiuservalue(L, 1, 2);
    return 0;
}

static const luaL_Reg conn_methods[] = {
    {"publish", l_publish}, {"subscribe", l_subscribe}, {"inbox", l_inbox}, {"stats", l_stats},
    {"flush", l_flush},     {"status", l_status},       {"close", l_close}, {NULL, NULL},
};

static const luaL_Reg nats_funcs[] = {
    {"connect", l_connect},
    {NULL, NULL},
};

int luaopen_fdn_core_nats(lua_State *L)
{
    if (luaL_newmetatable(L, CONN_MT)) {
        luaL_newlib(L, conn_methods);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, l_close);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    if (luaL_newmetatable(L, SUB_MT)) {
        lua_createtable(L, 0, 1);
        lua_pushcfunction(L, l_unsubscribe);
        lua_setfield(L, -2, "unsubscribe");
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
    luaL_newlibtable(L, nats_funcs);
    lua_pushvalue(L, lua_upvalueindex(1));
    luaL_setfuncs(L, nats_funcs, 1);
    return 1;
}
