/* lua_discovery.c: discovery for Lua (fdn.core.discovery): start sending and hearing beacons
 * with the node's --multicast, --bind and --key, bump the services version, leave, stop. */
#include <lauxlib.h>

#include "discovery.h"
#include "node.h"
#include "tls.h"

/* start{ tcp_port = N, send = true, version = 0, boot = B } -> true | nil, "cannot start" (the
 * log says why): joins the group of the node's configuration (--multicast, --bind, --key; with
 * --secret, beacons are tagged and checked). boot: the boot id to send (default: a random one,
 * see stats().boot_id). Beacons then arrive as dispatch("beacon", ...) (see discovery.h).
 * Raises when already started. */
static int l_discovery_start(lua_State *L)
{
    struct fdn_node *n = fdn_node_from_upvalue(L);
    luaL_checktype(L, 1, LUA_TTABLE);
    if (n->discovery)
        return luaL_error(L, "discovery already started");
    struct fdn_discovery_opts o = {
        .group = n->cfg.mcast_group,
        .port = n->cfg.mcast_port,
        .bind = n->cfg.bind,
        .key = n->cfg.key,
        .auth_key = n->tls ? fdn_tls_discovery_key(n->tls) : NULL,
    };
    lua_getfield(L, 1, "send");
    o.send = lua_isnil(L, -1) || lua_toboolean(L, -1);
    lua_getfield(L, 1, "tcp_port");
    lua_Integer port = lua_isnil(L, -1) ? 0 : luaL_checkinteger(L, -1);
    luaL_argcheck(L, port >= 0 && port <= 65535 && (port > 0 || !o.send), 1,
                  "tcp_port must be 1..65535 when sending");
    o.tcp_port = (int)port;
    lua_getfield(L, 1, "version");
    lua_Integer version = lua_isnil(L, -1) ? 0 : luaL_checkinteger(L, -1);
    luaL_argcheck(L, version >= 0 && version <= 0xffffffff, 1, "version must be 0..2^32-1");
    o.version = (uint32_t)version;
    lua_getfield(L, 1, "boot");
    lua_Integer boot = lua_isnil(L, -1) ? 0 : luaL_checkinteger(L, -1);
    luaL_argcheck(L, boot >= 0 && boot <= 0xffffffff, 1, "boot must be 1..2^32-1");
    o.boot_id = (uint32_t)boot;
    lua_pop(L, 4);
    if (fdn_discovery_new(n, &o, &n->discovery) < 0) {
        luaL_pushfail(L);
        lua_pushliteral(L, "cannot start");
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* set_version(v): the services version, sent at once. No-op when not started (discovery
 * may have failed to start: the node then lives on --seeds). */
static int l_discovery_set_version(lua_State *L)
{
    struct fdn_node *n = fdn_node_from_upvalue(L);
    lua_Integer v = luaL_checkinteger(L, 1);
    luaL_argcheck(L, v >= 0 && v <= 0xffffffff, 1, "version must be 0..2^32-1");
    if (n->discovery)
        fdn_discovery_set_version(n->discovery, (uint32_t)v);
    return 0;
}

/* leave(): leaving beacons now; no beacon after them. No-op when not started. */
static int l_discovery_leave(lua_State *L)
{
    struct fdn_node *n = fdn_node_from_upvalue(L);
    if (n->discovery)
        fdn_discovery_leave(n->discovery);
    return 0;
}

/* stop(): closes the socket (leaving beacons still due are sent first). Idempotent. */
static int l_discovery_stop(lua_State *L)
{
    struct fdn_node *n = fdn_node_from_upvalue(L);
    fdn_discovery_free(n->discovery);
    n->discovery = NULL;
    return 0;
}

static void set_int(lua_State *L, const char *name, lua_Integer v)
{
    lua_pushinteger(L, v);
    lua_setfield(L, -2, name);
}

/* stats() -> table of counters (see discovery.h) | nil, "not started". */
static int l_discovery_stats(lua_State *L)
{
    struct fdn_node *n = fdn_node_from_upvalue(L);
    struct fdn_discovery_stats s;
    if (!n->discovery) {
        luaL_pushfail(L);
        lua_pushliteral(L, "not started");
        return 2;
    }
    fdn_discovery_stats(n->discovery, &s);
    lua_createtable(L, 0, 20);
    set_int(L, "sent", (lua_Integer)s.sent);
    set_int(L, "send_errors", (lua_Integer)s.send_errors);
    set_int(L, "received", (lua_Integer)s.received);
    set_int(L, "malformed", (lua_Integer)s.malformed);
    set_int(L, "untrusted", (lua_Integer)s.untrusted);
    set_int(L, "unauthenticated", (lua_Integer)s.unauthenticated);
    set_int(L, "stale", (lua_Integer)s.stale);
    set_int(L, "replayed", (lua_Integer)s.replayed);
    set_int(L, "foreign", (lua_Integer)s.foreign);
    set_int(L, "own", (lua_Integer)s.own);
    set_int(L, "duplicate", (lua_Integer)s.duplicate);
    set_int(L, "dispatched", (lua_Integer)s.dispatched);
    set_int(L, "evicted", (lua_Integer)s.evicted);
    set_int(L, "peers", (lua_Integer)s.peers);
    set_int(L, "interfaces", (lua_Integer)s.interfaces);
    set_int(L, "boot_id", s.boot_id);
    set_int(L, "seq", s.seq);
    set_int(L, "version", s.version);
    lua_pushboolean(L, s.authenticated);
    lua_setfield(L, -2, "authenticated");
    return 1;
}

static const luaL_Reg discovery_funcs[] = {
    {"start", l_discovery_start}, {"set_version", l_discovery_set_version},
    {"leave", l_discovery_leave}, {"stop", l_discovery_stop},
    {"stats", l_discovery_stats}, {NULL, NULL},
};

int luaopen_fdn_core_discovery(lua_State *L)
{
    luaL_newlibtable(L, discovery_funcs);
    lua_pushvalue(L, lua_upvalueindex(1));
    luaL_setfuncs(L, discovery_funcs, 1);
    return 1;
}
