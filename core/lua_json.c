/* lua_json.c: the fdn.core.json binding: encode(v) and decode(s) return the result, or
 * nil and a short message; null and array_mt are shared through the registry. */
#include "json.h"

#include <lauxlib.h>

#define BUF_MT "fdn.json.buffer"
#define BUF_KEEP (64 * 1024) /* a scratch buffer larger than this is released after use */

/* encode keeps one scratch buffer per binding (an upvalue), so a call does not allocate.
 * fdn_json_encode runs no Lua code, so the buffer is never used by two calls at once. */
static int l_json_buffer_gc(lua_State *L)
{
    fdn_buf_free(luaL_checkudata(L, 1, BUF_MT));
    return 0;
}

static int l_json_encode(lua_State *L)
{
    struct fdn_buf *b = lua_touserdata(L, lua_upvalueindex(1));
    char err[128];
    luaL_checkany(L, 1);
    b->len = 0;
    if (fdn_json_encode(L, 1, b, err, sizeof err) < 0) {
        luaL_pushfail(L);
        lua_pushstring(L, err);
        return 2;
    }
    lua_pushlstring(L, b->data ? b->data : "", b->len);
    if (b->cap > BUF_KEEP)
        fdn_buf_free(b);
    return 1;
}

static int l_json_decode(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    char err[128];
    if (fdn_json_decode(L, s, n, err, sizeof err) < 0) {
        luaL_pushfail(L);
        lua_pushstring(L, err);
        return 2;
    }
    return 1;
}

/* is_array(v) -> whether encode writes v as a JSON array (json.h). */
static int l_json_is_array(lua_State *L)
{
    luaL_checkany(L, 1);
    lua_pushboolean(L, fdn_json_is_array(L, 1));
    return 1;
}

static const luaL_Reg buffer_meta[] = {
    {"__gc", l_json_buffer_gc},
    {"__close", l_json_buffer_gc},
    {NULL, NULL},
};

static const luaL_Reg json_funcs[] = {
    {"encode", l_json_encode},
    {"decode", l_json_decode},
    {"is_array", l_json_is_array},
    {NULL, NULL},
};

int luaopen_fdn_core_json(lua_State *L)
{
    luaL_newlibtable(L, json_funcs);
    struct fdn_buf *b = lua_newuserdatauv(L, sizeof *b, 0);
    fdn_buf_init(b);
    if (luaL_newmetatable(L, BUF_MT))
        luaL_setfuncs(L, buffer_meta, 0);
    lua_setmetatable(L, -2);
    luaL_setfuncs(L, json_funcs, 1);
    fdn_json_push_null(L);
    lua_setfield(L, -2, "null");
    fdn_json_push_array_mt(L);
    lua_setfield(L, -2, "array_mt");
    return 1;
}
