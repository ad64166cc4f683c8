/* fuzz_json.c: libFuzzer target for the JSON codec: decode any input; when it decodes,
 * encode, decode and encode again, and abort unless both values and encodings agree. The
 * input as a Lua string must also encode to JSON that decodes (U+FFFD for non-UTF-8). */
#include "json.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

/* Deep equality: same types, same integer/float subtype, bitwise-equal floats (so -0.0 and
 * 0.0 differ), same metatables, same keys. */
static int same(lua_State *L, int a, int b)
{
    int t = lua_type(L, a);
    if (t != lua_type(L, b))
        return 0;
    if (t == LUA_TNUMBER) {
        if (lua_isinteger(L, a) != lua_isinteger(L, b))
            return 0;
        if (lua_isinteger(L, a))
            return lua_tointeger(L, a) == lua_tointeger(L, b);
        double x = lua_tonumber(L, a), y = lua_tonumber(L, b);
        return memcmp(&x, &y, sizeof x) == 0;
    }
    if (t != LUA_TTABLE)
        return lua_rawequal(L, a, b);
    if (!lua_checkstack(L, 8))
        abort();
    int ma = lua_getmetatable(L, a), mb = lua_getmetatable(L, b);
    int ok = ma == mb && (!ma || lua_rawequal(L, -1, -2));
    lua_pop(L, ma + mb);
    size_t na = 0, nb = 0;
    lua_pushnil(L);
    while (ok && lua_next(L, a)) {
        na++;
        lua_pushvalue(L, -2);
        lua_rawget(L, b);
        ok = same(L, lua_gettop(L) - 1, lua_gettop(L));
        lua_pop(L, 2);
    }
    if (!ok) {
        lua_pop(L, 1);
        return 0;
    }
    lua_pushnil(L);
    while (lua_next(L, b)) {
        nb++;
        lua_pop(L, 1);
    }
    return na == nb;
}

static lua_State *L;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[128];
    if (!L)
        L = luaL_newstate();
    lua_settop(L, 0);
    /* the bytes as a string: the encoder writes JSON that reads back, and writes what it read
     * back the same (the replacement is a fixed point) */
    struct fdn_buf s1, s2;
    fdn_buf_init(&s1);
    fdn_buf_init(&s2);
    lua_pushlstring(L, (const char *)data, size);
    if (fdn_json_encode(L, 1, &s1, err, sizeof err) ||
        fdn_json_decode(L, s1.data, s1.len, err, sizeof err) ||
        fdn_json_encode(L, 2, &s2, err, sizeof err) || s1.len != s2.len ||
        memcmp(s1.data, s2.data, s1.len) != 0)
        abort();
    fdn_buf_free(&s1);
    fdn_buf_free(&s2);
    lua_settop(L, 0);
    /* a list's items straight onto the stack agree with a whole decode (checked below) */
    int items = fdn_json_decode_items(L, (const char *)data, size, 3, err, sizeof err);
    if (lua_gettop(L) != (items == 0 ? 3 : 0) || (items < 0 && strstr(err, " at ") == NULL))
        abort();
    lua_settop(L, 0);
    if (fdn_json_decode(L, (const char *)data, size, err, sizeof err)) {
        if (lua_gettop(L) != 0 || strstr(err, " at ") == NULL || items == 0)
            abort();
        return 0;
    }
    int is_list = lua_getmetatable(L, 1) && (lua_pop(L, 1), 1);
    if (items != (is_list ? 0 : 1))
        abort();
    struct fdn_buf e1, e2;
    fdn_buf_init(&e1);
    fdn_buf_init(&e2);
    /* what decodes must encode: depth and number limits are the same both ways */
    if (fdn_json_encode(L, 1, &e1, err, sizeof err) ||
        fdn_json_decode(L, e1.data, e1.len, err, sizeof err) ||
        fdn_json_encode(L, 2, &e2, err, sizeof err))
        abort();
    /* object key order follows the Lua table, so the texts are compared by length and the
     * values deeply */
    if (lua_gettop(L) != 2 || e1.len != e2.len || !same(L, 1, 2))
        abort();
    fdn_buf_free(&e1);
    fdn_buf_free(&e2);
    lua_settop(L, 0);
    if (lua_gc(L, LUA_GCCOUNT, 0) > 64 * 1024)
        lua_gc(L, LUA_GCCOLLECT, 0);
    return 0;
}
