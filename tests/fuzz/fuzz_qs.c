/* fuzz_qs.c: libFuzzer target for core/qs.c: any input parses (or fails cleanly) into a
 * well-formed result (string keys, string/true leaves, dense arrays with the metatable) with a
 * balanced Lua stack; the decoder never grows its input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "qs.h"

static lua_State *state;

#define MT 1 /* stack slot of the array metatable */

/* Aborts (a finding) unless the value at idx is a valid parse result. */
static void check_value(lua_State *L, int idx, int depth)
{
    lua_Integer len, count = 0;
    int is_array = 0, t = lua_type(L, idx);
    if (t == LUA_TSTRING || (t == LUA_TBOOLEAN && lua_toboolean(L, idx)))
        return;
    if (t != LUA_TTABLE || depth > 100 || !lua_checkstack(L, 4))
        abort();
    idx = lua_absindex(L, idx);
    if (lua_getmetatable(L, idx)) {
        if (!lua_rawequal(L, -1, MT))
            abort();
        is_array = 1;
        lua_pop(L, 1);
    }
    len = (lua_Integer)lua_rawlen(L, idx);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (is_array) {
            if (!lua_isinteger(L, -2) || lua_tointeger(L, -2) < 1 || lua_tointeger(L, -2) > len)
                abort();
        } else if (lua_type(L, -2) != LUA_TSTRING) {
            abort();
        }
        check_value(L, -1, depth + 1);
        lua_pop(L, 1);
        count++;
    }
    if (is_array && count != len)
        abort();
}

static void parse_one(lua_State *L, const char *s, size_t n, const struct fdn_qs_limits *lim)
{
    char err[64];
    int top = lua_gettop(L);
    if (fdn_qs_parse(L, s, n, lim, err, sizeof(err)) < 0) {
        if (lua_gettop(L) != top || strlen(err) == 0)
            abort();
        return;
    }
    if (lua_gettop(L) != top + 1)
        abort();
    check_value(L, -1, 0);
    lua_settop(L, top);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fdn_qs_limits lim = FDN_QS_LIMITS_DEFAULT;
    if (!state) {
        state = luaL_newstate();
        lua_newtable(state);
        lua_pushvalue(state, -1);
        lua_setfield(state, LUA_REGISTRYINDEX, FDN_QS_ARRAY_MT_KEY);
    }
    parse_one(state, (const char *)data, size, &lim);
    lim.depth = 1;
    lim.array_limit = 0;
    lim.max_params = 8;
    parse_one(state, (const char *)data, size, &lim);
    if (lua_gettop(state) != 1)
        abort();
    /* free this input's garbage now: libFuzzer runs a (slow) leak check after any input
     * that allocated more than it freed */
    lua_gc(state, LUA_GCCOLLECT);

    char *out = malloc(size + 1);
    size_t len;
    if (fdn_qs_decode((const char *)data, size, out, &len, 1) == 0 && len > size)
        abort();
    if (fdn_qs_decode((const char *)data, size, out, &len, 0) == 0 && len > size)
        abort();
    free(out);
    return 0;
}
