/* json_encode.c: Lua value -> JSON text, single pass with raw access, appended to an fdn_buf:
 * integers exact, floats in the shortest form that reads back the same, [] vs {} by
 * fdn.json.array_mt (or a sequence), U+FFFD for bytes that are not UTF-8 (json.h). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "json.h"
#include "json_text.h"
#include "util.h"

struct enc {
    lua_State *L;
    struct fdn_buf *b;
    int mt;      /* stack slot of the array metatable: nil until a table has a metatable */
    int have_mt; /* the slot is filled */
    int depth;
    char *err;
    size_t errlen;
};

static const char hex[] = "0123456789abcdef";

/* The letter after the backslash for the ASCII stops ('u' means \u00XX). */
// clang-format off
static const char esc[128] = {
    'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'b', 't', 'n', 'u', 'f', 'r', 'u', 'u',
    'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u',
    ['"'] = '"', ['\\'] = '\\',
};
// clang-format on

/* Well-formed UTF-8 is copied as is; each maximal ill-formed part becomes U+FFFD. */
static void put_str(struct fdn_buf *b, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n, *run = p;
    fdn_buf_room(b, n + 2);
    b->data[b->len++] = '"';
    for (;;) {
        p = fdn_json_plain_run(p, end);
        if (p == end)
            break;
        if (*p >= 0x80) {
            int k = fdn_json_utf8_seq(p, end);
            if (k > 0) { /* part of the run */
                p += k;
                continue;
            }
            fdn_buf_put(b, (const char *)run, (size_t)(p - run));
            fdn_buf_put(b, "\xef\xbf\xbd", 3);
            p += -k;
            run = p;
            continue;
        }
        fdn_buf_put(b, (const char *)run, (size_t)(p - run));
        char *o = fdn_buf_room(b, 6), e = esc[*p];
        o[0] = '\\';
        o[1] = e;
        if (e == 'u') {
            o[2] = '0';
            o[3] = '0';
            o[4] = hex[*p >> 4];
            o[5] = hex[*p & 15];
            b->len += 6;
        } else {
            b->len += 2;
        }
        run = ++p;
    }
    fdn_buf_put(b, (const char *)run, (size_t)(p - run));
    fdn_buf_putc(b, '"');
}

static const char digits2[] = "00010203040506070809101112131415161718192021222324"
                              "25262728293031323334353637383940414243444546474849"
                              "50515253545556575859606162636465666768697071727374"
                              "75767778798081828384858687888990919293949596979899";

static void put_int(struct fdn_buf *b, lua_Integer v)
{
    char tmp[24], *end = tmp + sizeof tmp, *p = end;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    while (u >= 100) {
        unsigned d = (unsigned)(u % 100) * 2;
        u /= 100;
        *--p = digits2[d + 1];
        *--p = digits2[d];
    }
    if (u >= 10) {
        unsigned d = (unsigned)u * 2;
        *--p = digits2[d + 1];
        *--p = digits2[d];
    } else {
        *--p = (char)('0' + u);
    }
    if (v < 0)
        *--p = '-';
    fdn_buf_put(b, p, (size_t)(end - p));
}

static int efail(struct enc *e, const char *msg, const char *arg)
{
    snprintf(e->err, e->errlen, "%s%s", msg, arg ? arg : "");
    return -1;
}

/* Fast path for floats with at most 8 decimals below 1e15 (prices, scores, coordinates):
 * finds the least k with d * 10^k an integer m < 2^53 and checks m / 10^k == d; m and 10^k
 * are exact doubles and the division rounds correctly, so strtod reads back d. */
static int put_short_float(struct fdn_buf *b, double d)
{
    static const double p10[] = {1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8};
    double a = fabs(d);
    if (a >= 1e15)
        return -1;
    for (int k = 0; k < 9; k++) {
        double m = a * p10[k];
        if (m >= 9e15)
            return -1;
        if (m != floor(m) || m / p10[k] != a)
            continue;
        uint64_t u = (uint64_t)m, scale = (uint64_t)p10[k];
        if (signbit(d))
            fdn_buf_putc(b, '-');
        put_int(b, (lua_Integer)(u / scale));
        char frac[12], *o = frac + 1;
        frac[0] = '.';
        if (k == 0)
            *o++ = '0';
        for (uint64_t r = u % scale, div = scale / 10; div; div /= 10) {
            *o++ = (char)('0' + r / div);
            r %= div;
        }
        while (o > frac + 2 && o[-1] == '0') /* 0.07 * 100 may miss 7 and hit 70 at k = 3 */
            o--;
        fdn_buf_put(b, frac, (size_t)(o - frac));
        return 0;
    }
    return -1;
}

/* Otherwise the shortest of %.15g/%.16g/%.17g that reads back to the same double; an
 * integral value keeps a ".0" so that it decodes as a float again. */
static int put_float(struct enc *e, double d)
{
    if (!isfinite(d))
        return efail(e, "cannot encode nan/inf", NULL);
    if (put_short_float(e->b, d) == 0)
        return 0;
    char tmp[40];
    int n = 0;
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(tmp, sizeof tmp - 2, "%.*g", prec, d);
        if (prec == 17 || strtod(tmp, NULL) == d)
            break;
    }
    int plain = 1;
    for (int i = 0; i < n; i++)
        if (tmp[i] == '.' || tmp[i] == 'e')
            plain = 0;
    if (plain) {
        tmp[n++] = '.';
        tmp[n++] = '0';
    }
    fdn_buf_put(e->b, tmp, (size_t)n);
    return 0;
}

static int enc_value(struct enc *e, int idx);

/* Keys exactly 1..n (n = rawlen >= 1, so t[1] exists): counted in one lua_next pass. */
static int is_sequence(lua_State *L, int idx, lua_Integer n)
{
    lua_Integer count = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (!lua_isinteger(L, -1)) {
            lua_pop(L, 1);
            return 0;
        }
        lua_Integer k = lua_tointeger(L, -1);
        if (k < 1 || k > n) {
            lua_pop(L, 1);
            return 0;
        }
        count++;
    }
    return count == n;
}

int fdn_json_is_array(lua_State *L, int idx)
{
    if (lua_type(L, idx) != LUA_TTABLE)
        return 0;
    idx = lua_absindex(L, idx);
    if (lua_getmetatable(L, idx)) {
        fdn_json_push_array_mt(L);
        int marked = lua_rawequal(L, -1, -2);
        lua_pop(L, 2);
        if (marked)
            return 1;
    }
    lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
    return n > 0 && is_sequence(L, idx, n);
}

static int enc_array(struct enc *e, int idx, lua_Integer n)
{
    lua_State *L = e->L;
    fdn_buf_putc(e->b, '[');
    for (lua_Integer i = 1; i <= n; i++) {
        if (i > 1)
            fdn_buf_putc(e->b, ',');
        lua_rawgeti(L, idx, i); /* a hole in an array_mt table encodes as null */
        if (enc_value(e, lua_gettop(L)))
            return -1;
        lua_pop(L, 1);
    }
    fdn_buf_putc(e->b, ']');
    return 0;
}

static int enc_object(struct enc *e, int idx)
{
    lua_State *L = e->L;
    int first = 1;
    fdn_buf_putc(e->b, '{');
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (!first)
            fdn_buf_putc(e->b, ',');
        first = 0;
        int kt = lua_type(L, -2);
        if (kt == LUA_TSTRING) {
            size_t kl;
            const char *k = lua_tolstring(L, -2, &kl);
            put_str(e->b, k, kl);
        } else if (kt == LUA_TNUMBER && lua_isinteger(L, -2)) {
            fdn_buf_putc(e->b, '"');
            put_int(e->b, lua_tointeger(L, -2));
            fdn_buf_putc(e->b, '"');
        } else {
            return efail(e, "cannot encode key of type ",
                         kt == LUA_TNUMBER ? "float" : lua_typename(L, kt));
        }
        fdn_buf_putc(e->b, ':');
        if (enc_value(e, lua_gettop(L)))
            return -1;
        lua_pop(L, 1);
    }
    fdn_buf_putc(e->b, '}');
    return 0;
}

static int enc_table(struct enc *e, int idx)
{
    lua_State *L = e->L;
    if (++e->depth > FDN_JSON_MAX_DEPTH || !lua_checkstack(L, 6))
        return efail(e, "too deep", NULL);
    lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
    int array = 0;
    if (lua_getmetatable(L, idx)) {
        if (!e->have_mt) {
            fdn_json_push_array_mt(L);
            lua_replace(L, e->mt);
            e->have_mt = 1;
        }
        array = lua_rawequal(L, -1, e->mt);
        lua_pop(L, 1);
    }
    if (!array && n > 0)
        array = is_sequence(L, idx, n);
    int rc = array ? enc_array(e, idx, n) : enc_object(e, idx);
    e->depth--;
    return rc;
}

static int enc_value(struct enc *e, int idx)
{
    lua_State *L = e->L;
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        fdn_buf_put(e->b, "null", 4);
        return 0;
    case LUA_TBOOLEAN:
        if (lua_toboolean(L, idx))
            fdn_buf_put(e->b, "true", 4);
        else
            fdn_buf_put(e->b, "false", 5);
        return 0;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
            put_int(e->b, lua_tointeger(L, idx));
            return 0;
        }
        return put_float(e, lua_tonumber(L, idx));
    case LUA_TSTRING: {
        size_t n;
        const char *s = lua_tolstring(L, idx, &n);
        put_str(e->b, s, n);
        return 0;
    }
    case LUA_TTABLE:
        return enc_table(e, idx);
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, idx) == (const void *)&fdn_json_null_tag) {
            fdn_buf_put(e->b, "null", 4);
            return 0;
        }
        break;
    }
    return efail(e, "cannot encode value of type ", luaL_typename(L, idx));
}

int fdn_json_encode_items(lua_State *L, int from, int to, struct fdn_buf *out, char *err,
                          size_t errlen)
{
    if (from < 0) /* (lua_absindex(L, 0) would be 1) */
        from = lua_absindex(L, from);
    if (to < 0)
        to = lua_absindex(L, to);
    int top = lua_gettop(L);
    size_t len0 = out->len;
    struct enc e = {L, out, top + 1, 0, 0, err, errlen};
    if (!lua_checkstack(L, 8))
        return efail(&e, "too deep", NULL);
    lua_pushnil(L); /* the array metatable's slot */
    int rc = 0;
    for (int i = from; i <= to && rc == 0; i++) {
        if (i > from)
            fdn_buf_putc(out, ',');
        rc = enc_value(&e, i);
    }
    lua_settop(L, top);
    if (rc)
        out->len = len0;
    return rc;
}

int fdn_json_encode(lua_State *L, int idx, struct fdn_buf *out, char *err, size_t errlen)
{
    return fdn_json_encode_items(L, idx, idx, out, err, errlen);
}
