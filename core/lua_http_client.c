/* lua_http_client.c: require "fdn.core.http_client": request(t, cb) sends one HTTP/1.1 request
 * (http_client.h) and calls cb(status, headers, body) or cb(nil, kind, message) later on the
 * reactor; counts() -> connections opened so far, open now. lua/fdn/http.lua wraps it. */
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "http_client.h"
#include "node.h"
#include "util.h"

#define CLIENT_MT "fdn.http_client"

struct lreq {
    struct fdn_node *node;
    int cb_ref;
};

static struct fdn_hclient **client_of(lua_State *L)
{
    return luaL_checkudata(L, lua_upvalueindex(2), CLIENT_MT);
}

/* headers as a table: lower-case names, repeated ones joined with ", " */
static void push_headers(lua_State *L, const struct fdn_buf *h)
{
    lua_createtable(L, 0, 8);
    size_t i = 0;
    while (i < h->len) {
        const char *name = h->data + i, *value = name + strlen(name) + 1;
        i = (size_t)(value - h->data) + strlen(value) + 1;
        if (lua_getfield(L, -1, name) == LUA_TSTRING) {
            lua_pushliteral(L, ", ");
            lua_pushstring(L, value);
            lua_concat(L, 3);
        } else {
            lua_pop(L, 1);
            lua_pushstring(L, value);
        }
        lua_setfield(L, -2, name);
    }
}

static void request_done(void *arg, int code, struct fdn_hresp *resp, const char *err)
{
    static const char *const kinds[] = {"ok", "timeout", "unavailable", "too big", "bad response"};
    struct lreq *q = arg;
    struct fdn_node *n = q->node;
    if (code != FDN_HC_CLOSED) {
        lua_State *L = n->L;
        fdn_node_dispatch_begin(n, "callback");
        lua_rawgeti(L, LUA_REGISTRYINDEX, q->cb_ref);
        luaL_unref(L, LUA_REGISTRYINDEX, q->cb_ref);
        if (code == FDN_HC_OK) {
            lua_pushinteger(L, resp->status);
            push_headers(L, &resp->headers);
            lua_pushlstring(L, resp->body.data ? resp->body.data : "", resp->body.len);
        } else {
            lua_pushnil(L);
            lua_pushstring(L, kinds[code]);
            lua_pushstring(L, err);
        }
        fdn_node_dispatch_end(n, 4);
    }
    free(q);
}

static lua_Integer int_field(lua_State *L, const char *k, lua_Integer def, lua_Integer max)
{
    lua_getfield(L, 1, k);
    lua_Integer v = lua_isnil(L, -1) ? def : luaL_checkinteger(L, -1);
    lua_pop(L, 1);
    if (v < 0 || v > max)
        luaL_error(L, "http_client.request: %s out of range", k);
    return v;
}

static const char *str_field(lua_State *L, const char *k, size_t *len)
{
    lua_getfield(L, 1, k);
    const char *s = lua_isnil(L, -1) ? NULL : luaL_checklstring(L, -1, len);
    lua_pop(L, 1); /* the table keeps the string alive */
    return s;
}

/* request({ tls, host, port, ca_file, data, head, idempotent, timeout, max_size }, cb) -> true, or
 * nil, why when the CA file cannot be loaded (cb is not called then). */
static int l_http_client_request(lua_State *L)
{
    struct fdn_node *n = fdn_node_from_upvalue(L);
    struct fdn_hclient **c = client_of(L);
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    struct fdn_hc_request r = {0};
    size_t len = 0;
    r.host = str_field(L, "host", &len);
    luaL_argcheck(L, r.host && len > 0 && strlen(r.host) == len, 1, "host must be a name");
    r.data = str_field(L, "data", &r.len);
    luaL_argcheck(L, r.data != NULL, 1, "data must be the request's bytes");
    r.ca_file = str_field(L, "ca_file", &len);
    r.port = (int)int_field(L, "port", 0, 65535);
    r.timeout_ms = (int)int_field(L, "timeout", 30000, 86400000);
    r.max_body = (size_t)int_field(L, "max_size", 10 << 20, (lua_Integer)1 << 40);
    lua_getfield(L, 1, "tls");
    r.tls = lua_toboolean(L, -1);
    lua_getfield(L, 1, "head");
    r.head_request = lua_toboolean(L, -1);
    lua_getfield(L, 1, "idempotent");
    r.idempotent = lua_toboolean(L, -1);
    lua_pop(L, 3);
    if (!*c)
        return luaL_error(L, "http_client: closed");
    lua_pushvalue(L, 2);
    int ref = luaL_ref(L, LUA_REGISTRYINDEX);
    struct lreq *q = xcalloc(1, sizeof *q);
    q->node = n;
    q->cb_ref = ref;
    char err[200];
    if (fdn_hclient_request(*c, &r, request_done, q, err, sizeof err) < 0) {
        luaL_unref(L, LUA_REGISTRYINDEX, ref);
        free(q);
        luaL_pushfail(L);
        lua_pushstring(L, err);
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

static int l_http_client_counts(lua_State *L)
{
    struct fdn_hclient **c = client_of(L);
    long opened = 0;
    int open = 0;
    if (*c)
        fdn_hclient_counts(*c, &opened, &open);
    lua_pushinteger(L, opened);
    lua_pushinteger(L, open);
    return 2;
}

static int l_http_client_gc(lua_State *L)
{
    struct fdn_hclient **c = luaL_checkudata(L, 1, CLIENT_MT);
    fdn_hclient_free(*c);
    *c = NULL;
    return 0;
}

static const luaL_Reg http_client_funcs[] = {
    {"request", l_http_client_request},
    {"counts", l_http_client_counts},
    {NULL, NULL},
};

int luaopen_fdn_core_http_client(lua_State *L)
{
    struct fdn_node *n = fdn_node_from_upvalue(L);
    luaL_newlibtable(L, http_client_funcs);
    lua_pushvalue(L, lua_upvalueindex(1));
    struct fdn_hclient **c = lua_newuserdatauv(L, sizeof *c, 0);
    *c = NULL;
    if (luaL_newmetatable(L, CLIENT_MT)) {
        lua_pushcfunction(L, l_http_client_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    if (fdn_hclient_new(n->base, c) < 0)
        return luaL_error(L, "http_client: cannot start the client");
    luaL_setfuncs(L, http_client_funcs, 2);
    return 1;
}
