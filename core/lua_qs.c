/* lua_qs.c: Lua binding of the gateway's pure parts (fdn.core.qs): the query-string parser
 * and the route mapper. Arrays in parsed queries carry the metatable that core/lua_json.c
 * keeps in the registry under "fdn.json.array". */
#include <lauxlib.h>
#include <lua.h>

#include "qs.h"
#include "route.h"

/* parse(s [, maxlen]) -> table | nil, err. maxlen defaults to FDN_QS_MAX_LENGTH; 0 = none. */
static int l_qs_parse(lua_State *L)
{
    struct fdn_qs_limits lim = FDN_QS_LIMITS_DEFAULT;
    char err[64];
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    lua_Integer max = luaL_optinteger(L, 2, FDN_QS_MAX_LENGTH);
    luaL_argcheck(L, max >= 0, 2, "negative length limit");
    lim.max_length = (size_t)max;
    if (fdn_qs_parse(L, s, n, &lim, err, sizeof(err)) < 0) {
        luaL_pushfail(L);
        lua_pushstring(L, err);
        return 2;
    }
    return 1;
}

static void push_slice(lua_State *L, const char *s, size_t n)
{
    if (s)
        lua_pushlstring(L, s, n);
    else
        lua_pushnil(L);
}

/* route(http_method, path) -> full, parent, last | nil, err. full is the decoded path joined
 * with '/', without leading or trailing slash ("" for "/"); parent and last are nil when the
 * path has fewer than two segments. http_method is checked but does not change the split. */
static int l_qs_route(lua_State *L)
{
    struct fdn_route_path *p;
    size_t n, len;
    const char *s;
    luaL_checkstring(L, 1);
    const char *path = luaL_checklstring(L, 2, &n);
    p = lua_newuserdatauv(L, sizeof(*p), 0); /* 4 KiB: kept off the C stack */
    if (fdn_route_split(path, n, p) < 0) {
        luaL_pushfail(L);
        lua_pushliteral(L, "malformed path");
        return 2;
    }
    s = fdn_route_full(p, &len);
    push_slice(L, s, len);
    s = fdn_route_parent(p, &len);
    push_slice(L, s, len);
    s = fdn_route_last(p, &len);
    push_slice(L, s, len);
    return 3;
}

/* method(http_method, has_id, custom_or_nil) -> name | nil, "not allowed". An empty custom
 * name counts as none, as in Feathers. */
static int l_qs_method(lua_State *L)
{
    size_t clen = 0;
    const char *http = luaL_checkstring(L, 1);
    int has_id = lua_toboolean(L, 2);
    const char *custom = luaL_optlstring(L, 3, NULL, &clen);
    enum fdn_route_method m = fdn_route_map(http, has_id, custom && clen > 0);
    if (m == FDN_ROUTE_NOT_ALLOWED) {
        luaL_pushfail(L);
        lua_pushliteral(L, "not allowed");
        return 2;
    }
    if (m == FDN_ROUTE_CUSTOM)
        lua_pushvalue(L, 3);
    else
        lua_pushstring(L, fdn_route_method_name(m));
    return 1;
}

static const luaL_Reg qs_funcs[] = {
    {"parse", l_qs_parse},
    {"route", l_qs_route},
    {"method", l_qs_method},
    {NULL, NULL},
};

int luaopen_fdn_core_qs(lua_State *L)
{
    luaL_newlib(L, qs_funcs);
    return 1;
}
