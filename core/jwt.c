/* jwt.c: HS256 JSON Web Tokens: strict base64url, sign, and verify with jsonwebtoken's checks
 * and messages (jwt.h). HMAC-SHA256 and the constant-time comparison are mbedtls'. */
#include "jwt.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <mbedtls/constant_time.h>
#include <mbedtls/md.h>

#include "json.h"

#define HEADER_HEAD "{\"alg\":\"HS256\",\"typ\":\""
#define HEADER_TAIL "\"}"
#define MAC_LEN 32

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t fdn_jwt_b64_encode(const uint8_t *in, size_t n, char *out)
{
    char *o = out;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        *o++ = b64[v >> 18];
        *o++ = b64[v >> 12 & 63];
        *o++ = b64[v >> 6 & 63];
        *o++ = b64[v & 63];
    }
    if (n - i == 1) {
        *o++ = b64[in[i] >> 2];
        *o++ = b64[(in[i] & 3) << 4];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 8 | in[i + 1];
        *o++ = b64[v >> 10];
        *o++ = b64[v >> 4 & 63];
        *o++ = b64[(v & 15) << 2];
    }
    return (size_t)(o - out);
}

static int sextet(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

int fdn_jwt_b64_decode(const char *in, size_t n, uint8_t *out, size_t cap, size_t *outlen)
{
    if (n % 4 == 1 || FDN_JWT_B64_MAX_BYTES(n) > cap)
        return -1;
    uint32_t acc = 0;
    int bits = 0;
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        int s = sextet((unsigned char)in[i]);
        if (s < 0)
            return -1;
        acc = (acc << 6 | (uint32_t)s) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[len++] = (uint8_t)(acc >> bits);
        }
    }
    if (acc & ((1u << bits) - 1)) /* unused bits of the last character */
        return -1;
    *outlen = len;
    return 0;
}

static void mac(const uint8_t *key, size_t keylen, const char *msg, size_t n, uint8_t out[MAC_LEN])
{
    mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), key, keylen,
                    (const unsigned char *)msg, n, out);
}

int fdn_jwt_typ_ok(const char *s, size_t n)
{
    if (n == 0 || n > FDN_JWT_TYP_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && (c == 0 || !strchr("._+/-", c)))
            return 0;
    }
    return 1;
}

int fdn_jwt_sign(const char *payload, size_t n, const char *typ, const uint8_t *key, size_t keylen,
                 struct fdn_buf *out)
{
    typ = typ ? typ : "JWT";
    size_t tl = strlen(typ);
    if (!fdn_jwt_typ_ok(typ, tl))
        return -1;
    char header[sizeof HEADER_HEAD + FDN_JWT_TYP_MAX + sizeof HEADER_TAIL];
    int hn = snprintf(header, sizeof header, "%s%s%s", HEADER_HEAD, typ, HEADER_TAIL);
    size_t hl = FDN_JWT_B64_LEN((size_t)hn);
    if (n > FDN_JWT_MAX_LEN || hl + 1 + FDN_JWT_B64_LEN(n) + 1 + FDN_JWT_SIG_TEXT > FDN_JWT_MAX_LEN)
        return -1;
    size_t start = out->len;
    char *p = fdn_buf_room(out, hl + 1 + FDN_JWT_B64_LEN(n) + 1 + FDN_JWT_SIG_TEXT);
    char *q = p + fdn_jwt_b64_encode((const uint8_t *)header, (size_t)hn, p);
    *q++ = '.';
    q += fdn_jwt_b64_encode((const uint8_t *)payload, n, q);
    uint8_t m[MAC_LEN];
    mac(key, keylen, p, (size_t)(q - p), m);
    *q++ = '.';
    q += fdn_jwt_b64_encode(m, MAC_LEN, q);
    out->len = start + (size_t)(q - p);
    return 0;
}

static const char *const messages[] = {
    "",
    "jwt malformed",
    "invalid token",
    "jwt signature is required",
    "secret or public key must be provided",
    "invalid algorithm",
    "invalid signature",
    "invalid nbf value",
    "jwt not active",
    "invalid exp value",
    "jwt expired",
    "jwt audience invalid. expected: ",
    "jwt issuer invalid. expected: ",
};

static int fail(int status, const char *detail, char *err, size_t errlen)
{
    if (errlen)
        snprintf(err, errlen, "%s%s", messages[-status], detail ? detail : "");
    return status;
}

/* Decodes JSON text and keeps it when it is an object (a table without the array metatable). */
static int push_object(lua_State *L, const uint8_t *s, size_t n)
{
    int top = lua_gettop(L);
    if (fdn_json_decode(L, (const char *)s, n, NULL, 0) < 0)
        return -1;
    if (lua_type(L, -1) != LUA_TTABLE || lua_getmetatable(L, -1)) {
        lua_settop(L, top);
        return -1;
    }
    return 0;
}

/* Field name of the table on top: 0 absent, 1 a string (*s, *len), -1 anything else. */
static int raw_string(lua_State *L, const char *name, const char **s, size_t *len)
{
    lua_pushstring(L, name);
    int t = lua_rawget(L, -2);
    *s = t == LUA_TSTRING ? lua_tolstring(L, -1, len) : NULL;
    lua_pop(L, 1); /* a string stays alive in the table */
    return t == LUA_TNIL ? 0 : t == LUA_TSTRING ? 1 : -1;
}

/* 1 when the table at idx (an object) has field name equal to s, or name is a list holding s. */
static int has_string(lua_State *L, int idx, const char *name, const char *s, int list_too)
{
    size_t n = strlen(s), len;
    lua_pushstring(L, name);
    int t = lua_rawget(L, idx), found = 0;
    if (t == LUA_TSTRING) {
        const char *v = lua_tolstring(L, -1, &len);
        found = len == n && memcmp(v, s, n) == 0;
    } else if (t == LUA_TTABLE && list_too) {
        lua_Integer count = (lua_Integer)lua_rawlen(L, -1);
        for (lua_Integer i = 1; i <= count && !found; i++) {
            if (lua_rawgeti(L, -1, i) == LUA_TSTRING) {
                const char *v = lua_tolstring(L, -1, &len);
                found = len == n && memcmp(v, s, n) == 0;
            }
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
    return found;
}

/* The time claim name of the object at idx: 0 absent, -1 not a number, 1 with now compared:
 * *cmp < 0, 0, > 0 as the claim is below, at, above now - shift. */
static int time_claim(lua_State *L, int idx, const char *name, int64_t now, int64_t shift, int *cmp)
{
    lua_pushstring(L, name);
    int t = lua_rawget(L, idx), r = 1;
    int64_t at = now - shift;
    if (t == LUA_TNIL) {
        r = 0;
    } else if (t != LUA_TNUMBER) {
        r = -1;
    } else if (lua_isinteger(L, -1)) {
        lua_Integer v = lua_tointeger(L, -1);
        *cmp = v < at ? -1 : v > at;
    } else {
        lua_Number v = lua_tonumber(L, -1);
        *cmp = v < (lua_Number)at ? -1 : v > (lua_Number)at;
    }
    lua_pop(L, 1);
    return r;
}

static int check_claims(lua_State *L, int p, int64_t now, const struct fdn_jwt_opts *o, char *err,
                        size_t errlen)
{
    int cmp = 0, r = time_claim(L, p, "nbf", now, -o->leeway, &cmp);
    if (r < 0)
        return fail(FDN_JWT_NBF_VALUE, NULL, err, errlen);
    if (r > 0 && cmp > 0) /* nbf > now + leeway */
        return fail(FDN_JWT_NOT_ACTIVE, NULL, err, errlen);
    r = time_claim(L, p, "exp", now, o->leeway, &cmp);
    if (r < 0)
        return fail(FDN_JWT_EXP_VALUE, NULL, err, errlen);
    if (r > 0 && cmp <= 0) /* now >= exp + leeway */
        return fail(FDN_JWT_EXPIRED, NULL, err, errlen);
    if (o->audience && !has_string(L, p, "aud", o->audience, 1))
        return fail(FDN_JWT_AUDIENCE, o->audience, err, errlen);
    if (o->issuer && !has_string(L, p, "iss", o->issuer, 0))
        return fail(FDN_JWT_ISSUER, o->issuer, err, errlen);
    return FDN_JWT_OK;
}

int fdn_jwt_verify(lua_State *L, const char *tok, size_t n, const uint8_t *key, size_t keylen,
                   int64_t now, const struct fdn_jwt_opts *opts, char *err, size_t errlen)
{
    static const struct fdn_jwt_opts none = {0};
    const struct fdn_jwt_opts *o = opts ? opts : &none;
    if (n > FDN_JWT_MAX_LEN)
        return fail(FDN_JWT_MALFORMED, NULL, err, errlen);
    const char *d1 = memchr(tok, '.', n);
    const char *d2 = d1 ? memchr(d1 + 1, '.', n - (size_t)(d1 + 1 - tok)) : NULL;
    if (!d2 || memchr(d2 + 1, '.', n - (size_t)(d2 + 1 - tok)))
        return fail(FDN_JWT_MALFORMED, NULL, err, errlen);
    const char *sig = d2 + 1;
    size_t hn = (size_t)(d1 - tok), pn = (size_t)(d2 - d1 - 1), sn = n - (size_t)(sig - tok);

    /* every part strict base64url, header and payload not empty, before anything else */
    uint8_t raw[FDN_JWT_B64_MAX_BYTES(FDN_JWT_MAX_LEN)];
    size_t hl, pl;
    if (hn == 0 || pn == 0 || fdn_jwt_b64_decode(tok, hn, raw, sizeof raw, &hl) < 0 ||
        fdn_jwt_b64_decode(d1 + 1, pn, raw + hl, sizeof raw - hl, &pl) < 0)
        return fail(FDN_JWT_INVALID, NULL, err, errlen);
    for (size_t i = 0; i < sn; i++) /* the signature's text is compared, not decoded */
        if (sextet((unsigned char)sig[i]) < 0)
            return fail(FDN_JWT_INVALID, NULL, err, errlen);

    int top = lua_gettop(L);
    if (push_object(L, raw, hl) < 0)
        return fail(FDN_JWT_INVALID, NULL, err, errlen);
    size_t al = 0, tl = 0;
    const char *alg, *typ, *want = o->algorithm ? o->algorithm : "HS256";
    const char *want_typ = o->typ ? o->typ : "JWT";
    size_t wtl = strlen(want_typ);
    int alg_ok = raw_string(L, "alg", &alg, &al) > 0 && al == strlen(want) &&
                 memcmp(alg, want, al) == 0 && strcmp(want, "HS256") == 0;
    int t = raw_string(L, "typ", &typ, &tl);
    int typ_bad = t < 0 || (t > 0 && !(tl == wtl && strncasecmp(typ, want_typ, wtl) == 0));
    lua_settop(L, top);

    if (sn == 0)
        return fail(FDN_JWT_NO_SIGNATURE, NULL, err, errlen);
    if (keylen == 0)
        return fail(FDN_JWT_NO_KEY, NULL, err, errlen);
    if (!alg_ok)
        return fail(FDN_JWT_ALGORITHM, NULL, err, errlen);
    if (typ_bad)
        return fail(FDN_JWT_INVALID, NULL, err, errlen);

    uint8_t m[MAC_LEN];
    char want_sig[FDN_JWT_SIG_TEXT];
    mac(key, keylen, tok, (size_t)(d2 - tok), m);
    fdn_jwt_b64_encode(m, MAC_LEN, want_sig);
    if (sn != FDN_JWT_SIG_TEXT || mbedtls_ct_memcmp(want_sig, sig, FDN_JWT_SIG_TEXT) != 0)
        return fail(FDN_JWT_SIGNATURE, NULL, err, errlen);

    if (push_object(L, raw + hl, pl) < 0)
        return fail(FDN_JWT_INVALID, NULL, err, errlen);
    int rc = check_claims(L, lua_gettop(L), now, o, err, errlen);
    if (rc != FDN_JWT_OK)
        lua_settop(L, top);
    return rc;
}
