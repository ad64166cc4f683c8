/* lua_http.c: the Lua side's door back into the gateway: require "fdn.core.http" gives
 * respond(req_id, status, body_or_nil, headers_or_nil) -> true | nil, "gone", send_file and
 * set_cors (static files and CORS), and STATUSES, the table of statuses and error classes. */
#include <lauxlib.h>
#include <lua.h>

#include "http.h"
#include "node.h"
#include "status.h"

#define MAX_FIELDS 64

/* respond(req_id, status, body, headers) -> true | nil, "gone": headers maps names to strings
 * or numbers. Raises on misuse (bad status, bad header); "gone" when the request is unknown
 * (its client left). On h: the gateway, or the admin port (admin_respond). */
static int respond_on(lua_State *L, struct fdn_http *h)
{
    lua_Integer id = luaL_checkinteger(L, 1);
    lua_Integer status = luaL_checkinteger(L, 2);
    size_t len = 0, nf = 0;
    const char *body = luaL_optlstring(L, 3, NULL, &len);
    struct fdn_http_field f[MAX_FIELDS];
    luaL_argcheck(L, status >= 200 && status <= 999, 2, "status must be in 200..999");
    if (!lua_isnoneornil(L, 4)) {
        luaL_checktype(L, 4, LUA_TTABLE);
        lua_settop(L, 4);
        luaL_checkstack(L, MAX_FIELDS + 4, "too many headers");
        lua_pushnil(L);
        while (lua_next(L, 4)) {
            int vt = lua_type(L, -1);
            if (lua_type(L, -2) != LUA_TSTRING || (vt != LUA_TSTRING && vt != LUA_TNUMBER))
                return luaL_argerror(L, 4,
                                     "header names must be strings, values strings or numbers");
            luaL_argcheck(L, nf < MAX_FIELDS, 4, "too many headers");
            f[nf].name = lua_tolstring(L, -2, &f[nf].name_len);
            f[nf].value = lua_tolstring(L, -1, &f[nf].value_len); /* converts the stack copy */
            nf++;
            lua_insert(L, -2); /* the value stays on the stack, below the key, until the call */
        }
    }
    int r = h ? fdn_http_respond(h, (uint64_t)id, (int)status, f, nf, body, len) : FDN_HTTP_EGONE;
    if (r == FDN_HTTP_EINVAL)
        return luaL_argerror(L, 4, "invalid header name or value");
    if (r < 0) {
        luaL_pushfail(L);
        lua_pushliteral(L, "gone");
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

static int l_http_respond(lua_State *L)
{
    return respond_on(L, fdn_node_from_upvalue(L)->http);
}

/* admin_respond(req_id, status, body, headers): respond, to a request of the admin port. */
static int l_http_admin_respond(lua_State *L)
{
    return respond_on(L, fdn_node_from_upvalue(L)->admin);
}

/* set_cors(origins) -> true | nil, "flag" | nil, "no gateway": the gateway's allowed origins,
 * from a list of strings or a string ("*", or origins separated by commas); nil or false turns
 * CORS off. --cors wins: with it, nothing changes ("flag"). Raises on an entry that is not an
 * origin. */
static int l_http_set_cors(lua_State *L)
{
    struct fdn_node *n = fdn_node_from_upvalue(L);
    const char *list = NULL, *err = NULL;
    size_t len = 0;
    if (lua_istable(L, 1)) {
        luaL_Buffer b;
        lua_Integer count = (lua_Integer)luaL_len(L, 1);
        luaL_buffinit(L, &b);
        for (lua_Integer i = 1; i <= count; i++) {
            if (lua_geti(L, 1, i) != LUA_TSTRING)
                return luaL_argerror(L, 1, "origins must be strings");
            if (i > 1)
                luaL_addchar(&b, ',');
            luaL_addvalue(&b);
        }
        luaL_pushresult(&b);
        list = lua_tolstring(L, -1, &len);
        luaL_argcheck(L, len > 0, 1, "no origin given"); /* (an empty list: use nil for off) */
    } else if (lua_toboolean(L, 1)) {
        list = luaL_checklstring(L, 1, &len);
    }
    if (n->cfg.cors || !n->http) {
        luaL_pushfail(L);
        lua_pushstring(L, n->cfg.cors ? "flag" : "no gateway");
        return 2;
    }
    if (fdn_http_set_cors(n->http, list, len, &err) < 0)
        return luaL_argerror(L, 1, err);
    lua_pushboolean(L, 1);
    return 1;
}

/* send_file(req_id, path, query) -> true | nil, "missing" | nil, "gone": answers a GET or HEAD
 * with the file path (raw, before '?') names under --public (http.h, fdn_http_send_file);
 * "missing" when there is none to serve (no --public, a refused path, no such file). */
static int l_http_send_file(lua_State *L)
{
    struct fdn_node *n = fdn_node_from_upvalue(L);
    lua_Integer id = luaL_checkinteger(L, 1);
    size_t len;
    const char *path = luaL_checklstring(L, 2, &len);
    const char *query = luaL_optstring(L, 3, NULL);
    int r = n->http ? fdn_http_send_file(n->http, (uint64_t)id, path, len, query) : FDN_HTTP_EGONE;
    if (r < 0) {
        luaL_pushfail(L);
        lua_pushstring(L, r == FDN_HTTP_ENOENT ? "missing" : "gone");
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

static const luaL_Reg http_funcs[] = {
    {"respond", l_http_respond},
    {"admin_respond", l_http_admin_respond},
    {"set_cors", l_http_set_cors},
    {"send_file", l_http_send_file},
    {NULL, NULL},
};

/* STATUSES: status.h's table, { {code=, reason=, name=, className=, feathers=}, ... } in code
 * order: fdn.errors builds its classes from it. */
static void push_statuses(lua_State *L)
{
    size_t n;
    const struct fdn_status *t = fdn_status_table(&n);
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_createtable(L, 0, 5);
        lua_pushinteger(L, t[i].code);
        lua_setfield(L, -2, "code");
        lua_pushstring(L, t[i].reason);
        lua_setfield(L, -2, "reason");
        if (t[i].name) {
            lua_pushstring(L, t[i].name);
            lua_setfield(L, -2, "name");
            lua_pushstring(L, t[i].class_name);
            lua_setfield(L, -2, "className");
        }
        lua_pushboolean(L, t[i].feathers);
        lua_setfield(L, -2, "feathers");
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
}

/* Registered by the node as a C closure whose upvalue 1 is the node (light userdata). */
int luaopen_fdn_core_http(lua_State *L)
{
    luaL_newlibtable(L, http_funcs);
    lua_pushvalue(L, lua_upvalueindex(1));
    luaL_setfuncs(L, http_funcs, 1);
    push_statuses(L);
    lua_setfield(L, -2, "STATUSES");
    return 1;
}
