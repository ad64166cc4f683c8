/* json.c: the JSON codec's values of its own: the null sentinel and the array metatable. The
 * codec is single pass, on the Lua stack: json_encode.c walks a value with raw access and
 * appends to an fdn_buf; json_decode.c pushes values as it parses (no intermediate tree).
 * Text is UTF-8 (RFC 3629) both ways: decode refuses any other bytes, encode writes U+FFFD
 * for them (a Lua string may hold anything), so what one writes the other always reads. */
#include "json.h"
#include "json_text.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

/* The null sentinel is a light userdata pointing here: one value per process, the same for
 * every require and every state, recognised without a registry lookup. Read-only. */
const char fdn_json_null_tag;

/* Note on numbers: snprintf("%g") and strtod follow LC_NUMERIC; fdnode never calls
 * setlocale, so they run in the "C" locale and use '.'. */

void fdn_json_push_array_mt(lua_State *L)
{
    if (luaL_getmetatable(L, FDN_JSON_ARRAY_MT) != LUA_TNIL)
        return;
    lua_pop(L, 1);
    luaL_newmetatable(L, FDN_JSON_ARRAY_MT); /* also sets __name */
}

void fdn_json_push_null(lua_State *L)
{
    lua_pushlightuserdata(L, (void *)&fdn_json_null_tag);
}

int fdn_json_is_null(lua_State *L, int idx)
{
    return lua_touserdata(L, idx) == (const void *)&fdn_json_null_tag &&
           lua_type(L, idx) == LUA_TLIGHTUSERDATA;
}
