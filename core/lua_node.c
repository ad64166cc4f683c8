/* lua_node.c: the node for Lua (fdn.core.node): logging, starting the gateway, the node's
 * configuration, stopping; with the timers of lua_timer.c and the tasks of lua_task.c. */
#include <errno.h>
#include <lauxlib.h>
#include <string.h>
#include <sys/random.h>

#include "eio_server.h"
#include "http.h"
#include "node.h"
#include "traceparent.h"
#include "util.h"

int luaopen_fdn_core_timer(lua_State *L);
int luaopen_fdn_core_task(lua_State *L);

/* log(level, message [, fields]): level 0 debug .. 3 error; fields, a JSON object's text, goes
 * into a JSON line (--log-format json). */
static int l_node_log(lua_State *L)
{
    lua_Integer level = luaL_checkinteger(L, 1);
    luaL_argcheck(L, level >= FDN_LOG_DEBUG && level <= FDN_LOG_ERROR, 1, "level must be in 0..3");
    size_t len, flen = 0;
    const char *msg = luaL_checklstring(L, 2, &len);
    const char *fields = luaL_optlstring(L, 3, NULL, &flen);
    fdn_log_write((int)level, msg, len, fields, flen);
    return 0;
}

/* log_json() -> boolean: whether lines are JSON (--log-format json). */
static int l_node_log_json(lua_State *L)
{
    lua_pushboolean(L, fdn_log_json());
    return 1;
}

static int l_node_log_level(lua_State *L)
{
    lua_pushinteger(L, fdn_log_level());
    return 1;
}

/* exit([code]): stops the reactor; fdnode exits with code (default: as set so far). */
static int l_node_exit(lua_State *L)
{
    struct fdn_node *n = fdn_node_from_upvalue(L);
    if (!lua_isnoneornil(L, 1)) {
        lua_Integer code = luaL_checkinteger(L, 1);
        luaL_argcheck(L, code >= 0 && code <= 255, 1, "exit code must be in 0..255");
        n->exit_code = (int)code;
    }
    fdn_node_exit(n);
    return 0;
}

/* Starts the gateway (--http) or, admin, the operators' server (--admin): true (also when it
 * already listens), or nil and why ("no gateway" / "no admin" without its flag). */
static int listen_on(lua_State *L, int admin)
{
    struct fdn_node *n = fdn_node_from_upvalue(L);
    struct fdn_http **h = admin ? &n->admin : &n->http;
    const char *host = admin ? n->cfg.admin_host : n->cfg.http_host;
    int port = admin ? n->cfg.admin_port : n->cfg.http_port;
    if (*h) {
        lua_pushboolean(L, 1);
        return 1;
    }
    luaL_pushfail(L);
    if (port <= 0) {
        lua_pushstring(L, admin ? "no admin" : "no gateway");
        return 2;
    }
    if ((admin ? fdn_http_start_admin : fdn_http_start)(n, host, port, h) < 0) {
        lua_pushfstring(L, "%scannot listen on %s:%d", admin ? "--admin: " : "", host, port);
        return 2;
    }
    if (!admin)
        n->eio = fdn_eio_server_new(n, n->http); /* /socket.io/ on the same port */
    lua_pushboolean(L, 1);
    return 1;
}

/* http_listen() -> true | nil, err: the gateway of --http. */
static int l_node_http_listen(lua_State *L)
{
    return listen_on(L, 0);
}

/* admin_listen() -> true | nil, err: the operators' server of --admin. */
static int l_node_admin_listen(lua_State *L)
{
    return listen_on(L, 1);
}

/* info() -> table: this node's id, name and configuration. */
static int l_node_info(lua_State *L)
{
    struct fdn_node *n = fdn_node_from_upvalue(L);
    lua_createtable(L, 0, 20);
    lua_pushstring(L, n->id_hex);
    lua_setfield(L, -2, "id");
    lua_pushstring(L, FDN_VERSION); /* meson.build's project version: the one source */
    lua_setfield(L, -2, "version");
    lua_pushstring(L, n->cfg.name);
    lua_setfield(L, -2, "name");
    lua_pushinteger(L, n->cfg.timeout_ms);
    lua_setfield(L, -2, "timeout");
    lua_pushinteger(L, n->cfg.http_port);
    lua_setfield(L, -2, "http_port");
    lua_pushstring(L, n->cfg.http_host);
    lua_setfield(L, -2, "http_host");
    lua_pushinteger(L, n->cfg.shutdown_ms);
    lua_setfield(L, -2, "shutdown_ms");
    lua_pushstring(L, n->cfg.lib_dir);
    lua_setfield(L, -2, "lib_dir");
    lua_pushstring(L, n->cfg.bind);
    lua_setfield(L, -2, "bind");
    lua_pushinteger(L, n->cfg.port);
    lua_setfield(L, -2, "port");
    lua_pushstring(L, n->cfg.key);
    lua_setfield(L, -2, "key");
    if (n->cfg.seeds) {
        lua_pushstring(L, n->cfg.seeds);
        lua_setfield(L, -2, "seeds");
    }
    if (n->cfg.nats) {
        lua_pushstring(L, n->cfg.nats);
        lua_setfield(L, -2, "nats");
    }
    lua_pushboolean(L, n->tls != NULL);
    lua_setfield(L, -2, "secret");
    lua_pushinteger(L, n->cfg.ping_timeout_ms);
    lua_setfield(L, -2, "ping_timeout");
    lua_pushinteger(L, (lua_Integer)n->cfg.max_frame);
    lua_setfield(L, -2, "max_frame");
    lua_pushinteger(L, n->cfg.grace_ms);
    lua_setfield(L, -2, "grace");
    if (n->cfg.config_dir) {
        lua_pushstring(L, n->cfg.config_dir);
        lua_setfield(L, -2, "config_dir");
    }
    lua_pushboolean(L, n->cfg.watch);
    lua_setfield(L, -2, "watch");
    lua_pushinteger(L, n->cfg.admin_port);
    lua_setfield(L, -2, "admin_port");
    lua_pushboolean(L, n->cfg.access_log);
    lua_setfield(L, -2, "access_log");
    if (n->cfg.admin_host) {
        lua_pushstring(L, n->cfg.admin_host);
        lua_setfield(L, -2, "admin_host");
    }
    return 1;
}

/* random_hex(n) -> 2n lowercase hex digits of random bytes (1 <= n <= 32), never all zero: a
 * trace's or span's id. The bytes come from getrandom, drawn a pool at a time. */
static int l_node_random_hex(lua_State *L)
{
    static uint8_t pool[512];
    static size_t left;
    static const char hex[] = "0123456789abcdef";
    lua_Integer n = luaL_checkinteger(L, 1);
    luaL_argcheck(L, n >= 1 && n <= 32, 1, "1 to 32 bytes");
    char out[64];
    int zero = 1;
    while (zero) {
        for (lua_Integer i = 0; i < n; i++) {
            while (left == 0) {
                ssize_t r = getrandom(pool, sizeof pool, 0);
                if (r < 0 && errno != EINTR)
                    return luaL_error(L, "getrandom failed: %s", strerror(errno));
                left = r > 0 ? (size_t)r : 0;
            }
            uint8_t b = pool[--left];
            zero &= b == 0;
            out[2 * i] = hex[b >> 4];
            out[2 * i + 1] = hex[b & 15];
        }
    }
    lua_pushlstring(L, out, (size_t)(2 * n));
    return 1;
}

/* trace_parse(s) -> trace id, parent id, flags of a valid traceparent (traceparent.h), or nil. */
static int l_node_trace_parse(lua_State *L)
{
    size_t n = 0;
    const char *s = lua_type(L, 1) == LUA_TSTRING ? lua_tolstring(L, 1, &n) : NULL;
    if (!s || !fdn_traceparent_valid(s, n)) {
        lua_pushnil(L);
        return 1;
    }
    lua_pushlstring(L, s + 3, 32);
    lua_pushlstring(L, s + 36, 16);
    lua_pushlstring(L, s + 53, 2);
    return 3;
}

static const luaL_Reg node_funcs[] = {
    {"random_hex", l_node_random_hex},
    {"trace_parse", l_node_trace_parse},
    {"log", l_node_log},
    {"log_level", l_node_log_level},
    {"log_json", l_node_log_json},
    {"exit", l_node_exit},
    {"http_listen", l_node_http_listen},
    {"info", l_node_info},
    {"admin_listen", l_node_admin_listen},
    {NULL, NULL},
};

/* Adds to the table on top the functions of the one that open (run with this node) returns. */
static void add_from(lua_State *L, lua_CFunction open)
{
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushcclosure(L, open, 1);
    lua_call(L, 0, 1);
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        lua_pushvalue(L, -2); /* t[k] = v, k kept for lua_next */
        lua_insert(L, -2);
        lua_rawset(L, -5);
    }
    lua_pop(L, 1);
}

int luaopen_fdn_core_node(lua_State *L)
{
    luaL_newlibtable(L, node_funcs);
    lua_pushvalue(L, lua_upvalueindex(1));
    luaL_setfuncs(L, node_funcs, 1);
    add_from(L, luaopen_fdn_core_timer);
    add_from(L, luaopen_fdn_core_task);
    return 1;
}
