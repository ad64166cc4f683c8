/* lua_jwt.c: the fdn.core.jwt binding: sign(payload, key [, typ]) -> token, verify(token, key
 * [, opts]) -> payload table, or nil and jsonwebtoken's message (jwt.h), and uuid() for jti. */
#include "jwt.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <lauxlib.h>

#include "json.h"

#define OPT_MAX 256 /* audience and issuer: err below holds a message naming one */

/* sign(payload, key [, typ]): payload is a table (encoded as a JSON object) or a JSON object's
 * text; typ is the header's (default "JWT"; Feathers' tokens say "access"). */
static int l_jwt_sign(lua_State *L)
{
    size_t keylen, n;
    const char *key = luaL_checklstring(L, 2, &keylen);
    luaL_argcheck(L, keylen > 0, 2, "empty key");
    size_t tl = 0;
    const char *typ = luaL_optlstring(L, 3, NULL, &tl);
    luaL_argcheck(L, !typ || (fdn_jwt_typ_ok(typ, tl) && strlen(typ) == tl), 3,
                  "a typ is 1 to 32 of A-Z a-z 0-9 . _ + / -");
    struct fdn_buf json, tok;
    fdn_buf_init(&json);
    char err[128];
    const char *payload;
    if (lua_type(L, 1) == LUA_TTABLE) {
        luaL_argcheck(L, !fdn_json_is_array(L, 1), 1, "a list is not an object");
        if (fdn_json_encode(L, 1, &json, err, sizeof err) < 0) {
            fdn_buf_free(&json);
            return luaL_argerror(L, 1, err);
        }
        payload = json.data ? json.data : "";
        n = json.len;
    } else {
        payload = luaL_checklstring(L, 1, &n);
        int ok = fdn_json_decode(L, payload, n, err, sizeof err) == 0;
        ok = ok && lua_type(L, -1) == LUA_TTABLE && !lua_getmetatable(L, -1);
        luaL_argcheck(L, ok, 1, "not a JSON object");
        lua_pop(L, 1); /* the decoded check */
    }
    fdn_buf_init(&tok);
    int rc = fdn_jwt_sign(payload, n, typ, (const uint8_t *)key, keylen, &tok);
    fdn_buf_free(&json);
    if (rc < 0) {
        fdn_buf_free(&tok);
        luaL_pushfail(L);
        lua_pushstring(L, "jwt too long");
        return 2;
    }
    lua_pushlstring(L, tok.data, tok.len);
    fdn_buf_free(&tok);
    return 1;
}

static const char *opt_string(lua_State *L, int t, const char *name)
{
    int type = lua_getfield(L, t, name);
    if (type != LUA_TNIL && (type != LUA_TSTRING || lua_rawlen(L, -1) > OPT_MAX))
        luaL_error(L, "jwt option %s: a string of at most %d bytes expected", name, OPT_MAX);
    const char *s = type == LUA_TNIL ? NULL : lua_tostring(L, -1);
    lua_pop(L, 1); /* the string stays alive in the options table */
    return s;
}

/* verify(token, key [, { algorithm, typ, audience, issuer, leeway, now }]) */
static int l_jwt_verify(lua_State *L)
{
    size_t n, keylen;
    const char *key = luaL_checklstring(L, 2, &keylen);
    struct fdn_jwt_opts o = {0};
    lua_Integer now = (lua_Integer)time(NULL);
    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        o.algorithm = opt_string(L, 3, "algorithm");
        o.typ = opt_string(L, 3, "typ");
        o.audience = opt_string(L, 3, "audience");
        o.issuer = opt_string(L, 3, "issuer");
        lua_getfield(L, 3, "leeway");
        o.leeway = luaL_optinteger(L, -1, 0);
        luaL_argcheck(L, o.leeway >= 0 && o.leeway <= 1000000000, 3, "leeway out of range");
        lua_getfield(L, 3, "now");
        now = luaL_optinteger(L, -1, now);
        lua_pop(L, 2);
    }
    luaL_argcheck(L, !o.algorithm || strcmp(o.algorithm, "HS256") == 0, 3,
                  "only algorithm HS256 is supported");
    const char *msg = NULL;
    if (lua_type(L, 1) != LUA_TSTRING)
        msg = lua_isnoneornil(L, 1) ? "jwt must be provided" : "jwt must be a string";
    const char *tok = msg ? NULL : lua_tolstring(L, 1, &n);
    if (tok && n == 0)
        msg = "jwt must be provided";
    char err[OPT_MAX + 64];
    if (!msg && fdn_jwt_verify(L, tok, n, (const uint8_t *)key, keylen, (int64_t)now, &o, err,
                               sizeof err) == FDN_JWT_OK)
        return 1;
    luaL_pushfail(L);
    lua_pushstring(L, msg ? msg : err);
    return 2;
}

/* uuid() -> a random (version 4) UUID's text, for a token's jti (Feathers' jwtid). */
static int l_jwt_uuid(lua_State *L)
{
    uint8_t b[16];
    size_t got = 0;
    while (got < sizeof b) {
        ssize_t r = getrandom(b + got, sizeof b - got, 0);
        if (r < 0 && errno != EINTR)
            return luaL_error(L, "getrandom failed: %s", strerror(errno));
        got += r > 0 ? (size_t)r : 0;
    }
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* variant 10 */
    char out[37];
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < sizeof b; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 15];
    }
    lua_pushlstring(L, out, o);
    return 1;
}

static const luaL_Reg jwt_funcs[] = {
    {"uuid", l_jwt_uuid},
    {"sign", l_jwt_sign},
    {"verify", l_jwt_verify},
    {NULL, NULL},
};

int luaopen_fdn_core_jwt(lua_State *L)
{
    luaL_newlib(L, jwt_funcs);
    return 1;
}
