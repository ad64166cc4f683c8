/* json.c: single-pass JSON <-> Lua codec on the Lua stack. Encode walks the value with raw
 * access and appends to an fdn_buf; decode pushes values as it parses (no intermediate tree).
 * Text is UTF-8 (RFC 3629) both ways: decode refuses any other bytes, encode writes U+FFFD
 * for them (a Lua string may hold anything), so what one writes the other always reads. */
#include "json.h"
#include "util.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

/* The null sentinel is a light userdata pointing here: one value per process, the same for
 * every require and every state, recognised without a registry lookup. Read-only. */
static const char null_tag;

/* Note on numbers: snprintf("%g") and strtod follow LC_NUMERIC; fdnode never calls
 * setlocale, so they run in the "C" locale and use '.'. */

void fdn_buf_init(struct fdn_buf *b)
{
    b->data = NULL;
    b->len = b->cap = 0;
}

void fdn_buf_free(struct fdn_buf *b)
{
    if (!b)
        return;
    free(b->data);
    fdn_buf_init(b);
}

void fdn_buf_reserve(struct fdn_buf *b, size_t extra)
{
    if (b->cap - b->len >= extra)
        return;
    size_t need = b->len + extra;
    if (need < b->len)
        abort(); /* size_t overflow: no allocation could satisfy it */
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    b->data = xrealloc(b->data, cap);
    b->cap = cap;
}

void fdn_json_push_array_mt(lua_State *L)
{
    if (luaL_getmetatable(L, FDN_JSON_ARRAY_MT) != LUA_TNIL)
        return;
    lua_pop(L, 1);
    luaL_newmetatable(L, FDN_JSON_ARRAY_MT); /* also sets __name */
}

void fdn_json_push_null(lua_State *L)
{
    lua_pushlightuserdata(L, (void *)&null_tag);
}

int fdn_json_is_null(lua_State *L, int idx)
{
    return lua_touserdata(L, idx) == (const void *)&null_tag &&
           lua_type(L, idx) == LUA_TLIGHTUSERDATA;
}

/* The UTF-8 sequence at p (p < end, *p >= 0x80), per RFC 3629: its length (2..4) when it is
 * well formed; else minus the length of its maximal well-formed prefix (1..3, the bytes that
 * one U+FFFD stands for, as WHATWG's decoder and Node's Buffer#toString count them). Refused:
 * stray continuation bytes, 0xC0, 0xC1 and 0xF5..0xFF, overlong forms, surrogates
 * (U+D800..U+DFFF), code points above U+10FFFF and sequences cut short. */
static inline int utf8_seq(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0], lo = 0x80, hi = 0xbf;
    int n;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0)
            lo = 0xa0; /* overlong below U+0800 */
        else if (c == 0xed)
            hi = 0x9f; /* surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0)
            lo = 0x90; /* overlong below U+10000 */
        else if (c == 0xf4)
            hi = 0x8f; /* above U+10FFFF */
    } else {
        return -1;
    }
    for (int i = 1; i < n; i++) {
        if (p + i == end || p[i] < lo || p[i] > hi)
            return -i;
        lo = 0x80;
        hi = 0xbf;
    }
    return n;
}

/* The bytes that end a plain run of string text, both ways: '"', '\\', control characters,
 * and the bytes >= 0x80 (UTF-8, checked apart; the run then goes on). */
// clang-format off
static const unsigned char stop[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    ['"'] = 1, ['\\'] = 1,
    [0x80 ... 0xff] = 1,
};
// clang-format on

/* The first byte from p on (before end) that is a stop, or end. Most runs are short (keys,
 * words between two non-ASCII characters), so the first 8 bytes are looked at one by one;
 * past them, a word at a time: a byte is flagged when it has its high bit (>= 0x80), when
 * subtracting 0x20 sets it (< 0x20), or when it is zero after an xor with '"' or '\\'. A
 * subtraction's borrow runs only toward higher bytes, from a byte that is flagged anyway, so
 * the lowest flag is the first stop. */
static inline const unsigned char *plain_run(const unsigned char *p, const unsigned char *end)
{
    const unsigned char *lim = end - p > 8 ? p + 8 : end;
    while (p < lim && !stop[*p])
        p++;
    if (p < lim || p == end)
        return p;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uint64_t ones = 0x0101010101010101u, high = 0x8080808080808080u;
    while (end - p >= 8) {
        uint64_t v, q, b;
        memcpy(&v, p, 8);
        q = v ^ (ones * '"');
        b = v ^ (ones * '\\');
        uint64_t m = (v | (v - ones * 0x20) | ((q - ones) & ~q) | ((b - ones) & ~b)) & high;
        if (m)
            return p + (__builtin_ctzll(m) >> 3);
        p += 8;
    }
#endif
    while (p < end && !stop[*p])
        p++;
    return p;
}

/* ---- encoder ---- */

struct enc {
    lua_State *L;
    struct fdn_buf *b;
    int mt;      /* stack slot of the array metatable: nil until a table has a metatable */
    int have_mt; /* the slot is filled */
    int depth;
    char *err;
    size_t errlen;
};

static inline char *room(struct fdn_buf *b, size_t n)
{
    if (b->cap - b->len < n)
        fdn_buf_reserve(b, n);
    return b->data + b->len;
}

static inline void put(struct fdn_buf *b, const char *s, size_t n)
{
    if (n) {
        memcpy(room(b, n), s, n);
        b->len += n;
    }
}

static inline void put_ch(struct fdn_buf *b, char c)
{
    *room(b, 1) = c;
    b->len++;
}

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
    room(b, n + 2);
    b->data[b->len++] = '"';
    for (;;) {
        p = plain_run(p, end);
        if (p == end)
            break;
        if (*p >= 0x80) {
            int k = utf8_seq(p, end);
            if (k > 0) { /* part of the run */
                p += k;
                continue;
            }
            put(b, (const char *)run, (size_t)(p - run));
            put(b, "\xef\xbf\xbd", 3);
            p += -k;
            run = p;
            continue;
        }
        put(b, (const char *)run, (size_t)(p - run));
        char *o = room(b, 6), e = esc[*p];
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
    put(b, (const char *)run, (size_t)(p - run));
    put_ch(b, '"');
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
    put(b, p, (size_t)(end - p));
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
            put_ch(b, '-');
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
        put(b, frac, (size_t)(o - frac));
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
    put(e->b, tmp, (size_t)n);
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

static int enc_array(struct enc *e, int idx, lua_Integer n)
{
    lua_State *L = e->L;
    put_ch(e->b, '[');
    for (lua_Integer i = 1; i <= n; i++) {
        if (i > 1)
            put_ch(e->b, ',');
        lua_rawgeti(L, idx, i); /* a hole in an array_mt table encodes as null */
        if (enc_value(e, lua_gettop(L)))
            return -1;
        lua_pop(L, 1);
    }
    put_ch(e->b, ']');
    return 0;
}

static int enc_object(struct enc *e, int idx)
{
    lua_State *L = e->L;
    int first = 1;
    put_ch(e->b, '{');
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (!first)
            put_ch(e->b, ',');
        first = 0;
        int kt = lua_type(L, -2);
        if (kt == LUA_TSTRING) {
            size_t kl;
            const char *k = lua_tolstring(L, -2, &kl);
            put_str(e->b, k, kl);
        } else if (kt == LUA_TNUMBER && lua_isinteger(L, -2)) {
            put_ch(e->b, '"');
            put_int(e->b, lua_tointeger(L, -2));
            put_ch(e->b, '"');
        } else {
            return efail(e, "cannot encode key of type ",
                         kt == LUA_TNUMBER ? "float" : lua_typename(L, kt));
        }
        put_ch(e->b, ':');
        if (enc_value(e, lua_gettop(L)))
            return -1;
        lua_pop(L, 1);
    }
    put_ch(e->b, '}');
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
        put(e->b, "null", 4);
        return 0;
    case LUA_TBOOLEAN:
        if (lua_toboolean(L, idx))
            put(e->b, "true", 4);
        else
            put(e->b, "false", 5);
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
        if (lua_touserdata(L, idx) == (const void *)&null_tag) {
            put(e->b, "null", 4);
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
            put_ch(out, ',');
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

/* ---- decoder ---- */

/* Size hints: a table is created with the size of the previous array (object) completed at
 * the same depth, so the records of a list are allocated once instead of grown. The cap
 * bounds what a hostile document gains: at most HINT_MAX unused slots per table. */
#define HINT_MAX 32
#define HINT_FIRST 4 /* for the first table at a depth */

struct dec {
    lua_State *L;
    const char *s, *p, *end;
    int depth, seen; /* seen: deepest level whose hints are initialised */
    int nil_level;   /* a null at this depth is pushed as nil (a list's items), else the sentinel */
    char *err;
    size_t errlen;
    unsigned char hint[2][FDN_JSON_MAX_DEPTH + 1]; /* [0] arrays, [1] objects */
};

static int dfail(struct dec *d, const char *what, const char *at)
{
    snprintf(d->err, d->errlen, "%s at %zu", what, (size_t)(at - d->s) + 1);
    return -1;
}

static int eof(struct dec *d)
{
    return dfail(d, "unexpected end of input", d->end);
}

static inline const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

/* The byte a one-letter escape stands for (0: not an escape; \u is handled apart). */
static const char unesc[256] = {
    ['"'] = '"',  ['\\'] = '\\', ['/'] = '/',  ['b'] = '\b',
    ['f'] = '\f', ['n'] = '\n',  ['r'] = '\r', ['t'] = '\t',
};

static int hex4(const char *p, const char *end, unsigned *out)
{
    if (end - p < 4)
        return -1;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static char *put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        *o++ = (char)cp;
    } else if (cp < 0x800) {
        *o++ = (char)(0xc0 | (cp >> 6));
        *o++ = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        *o++ = (char)(0xe0 | (cp >> 12));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
        *o++ = (char)(0x80 | (cp & 0x3f));
    } else {
        *o++ = (char)(0xf0 | (cp >> 18));
        *o++ = (char)(0x80 | ((cp >> 12) & 0x3f));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
        *o++ = (char)(0x80 | (cp & 0x3f));
    }
    return o;
}

/* Reads the \u escape at p (pointing at the backslash), a surrogate pair included. */
static int unicode_escape(const char **pp, const char *end, unsigned *cp)
{
    const char *p = *pp;
    unsigned hi, lo;
    if (hex4(p + 2, end, &hi))
        return -1;
    p += 6;
    if (hi >= 0xdc00 && hi <= 0xdfff)
        return -1;
    if (hi >= 0xd800 && hi <= 0xdbff) {
        if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || hex4(p + 2, end, &lo) || lo < 0xdc00 ||
            lo > 0xdfff)
            return -1;
        hi = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
        p += 6;
    }
    *pp = p;
    *cp = hi;
    return 0;
}

/* Slow path for a string with escapes; q is the first backslash. The decoded string is
 * never longer than its source, so one buffer sized by the source holds it. */
static __attribute__((noinline)) int dec_escaped(struct dec *d, const char *start, const char *q)
{
    const char *end = d->end, *r = q;
    while (r < end && *r != '"') {
        if (*r == '\\' && end - r < 2)
            return eof(d);
        r += *r == '\\' ? 2 : 1;
    }
    if (r >= end)
        return eof(d);
    luaL_Buffer B;
    char *buf = luaL_buffinitsize(d->L, &B, (size_t)(r - start)), *o = buf;
    memcpy(o, start, (size_t)(q - start));
    o += q - start;
    const char *p = q;
    while (p < r) {
        const char *run = p;
        p = (const char *)plain_run((const unsigned char *)p, (const unsigned char *)r);
        memcpy(o, run, (size_t)(p - run));
        o += p - run;
        if (p == r)
            break;
        if ((unsigned char)*p >= 0x80) {
            int k = utf8_seq((const unsigned char *)p, (const unsigned char *)r);
            if (k < 0)
                return dfail(d, "invalid UTF-8", p);
            memcpy(o, p, (size_t)k);
            o += k;
            p += k;
            continue;
        }
        if (*p != '\\')
            return dfail(d, "control character in string", p);
        unsigned cp;
        if (p[1] == 'u') {
            if (unicode_escape(&p, r, &cp))
                return dfail(d, "invalid unicode escape", p);
            o = put_utf8(o, cp);
        } else if (unesc[(unsigned char)p[1]]) {
            *o++ = unesc[(unsigned char)p[1]];
            p += 2;
        } else {
            return dfail(d, "invalid escape", p);
        }
    }
    luaL_pushresultsize(&B, (size_t)(o - buf));
    d->p = r + 1;
    return 0;
}

/* d->p is at the opening quote. Plain strings are pushed straight from the input. */
static int dec_string(struct dec *d)
{
    const char *start = d->p + 1, *q = start, *end = d->end;
    for (;;) {
        q = (const char *)plain_run((const unsigned char *)q, (const unsigned char *)end);
        if (q == end)
            return eof(d);
        if ((unsigned char)*q < 0x80)
            break;
        int k = utf8_seq((const unsigned char *)q, (const unsigned char *)end);
        if (k < 0)
            return dfail(d, "invalid UTF-8", q);
        q += k;
    }
    if (*q == '"') {
        lua_pushlstring(d->L, start, (size_t)(q - start));
        d->p = q + 1;
        return 0;
    }
    if (*q != '\\')
        return dfail(d, "control character in string", q);
    return dec_escaped(d, start, q);
}

static int dec_number(struct dec *d)
{
    const char *start = d->p, *p = start, *end = d->end;
    int neg = 0, isfloat = 0;
#define DIGIT(c) ((unsigned)((c) - '0') < 10)
    if (*p == '-') {
        neg = 1;
        if (++p == end)
            return eof(d);
    }
    if (*p == '0')
        p++;
    else if (DIGIT(*p))
        while (p < end && DIGIT(*p))
            p++;
    else
        return dfail(d, "invalid number", start);
    if (p < end && *p == '.') {
        isfloat = 1;
        if (++p == end)
            return eof(d);
        if (!DIGIT(*p))
            return dfail(d, "invalid number", start);
        while (p < end && DIGIT(*p))
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        isfloat = 1;
        if (++p < end && (*p == '+' || *p == '-'))
            p++;
        if (p == end)
            return eof(d);
        if (!DIGIT(*p))
            return dfail(d, "invalid number", start);
        while (p < end && DIGIT(*p))
            p++;
    }
#undef DIGIT
    d->p = p;
    if (!isfloat) {
        uint64_t u = 0;
        const char *q = start + neg;
        for (; q < p; q++) { /* 19 digits cannot overflow; past that, check each */
            unsigned dg = (unsigned)(*q - '0');
            if (q - (start + neg) >= 19 && u > (UINT64_MAX - dg) / 10)
                break;
            u = u * 10 + dg;
        }
        if (q == p && !neg && u <= INT64_MAX) {
            lua_pushinteger(d->L, (lua_Integer)u);
            return 0;
        }
        if (q == p && neg && u <= (uint64_t)INT64_MAX + 1) {
            lua_pushinteger(d->L, u ? -(lua_Integer)(u - 1) - 1 : 0);
            return 0;
        }
        /* beyond int64: read as a float */
    }
    /* The grammar is checked; strtod needs a NUL-terminated copy (the input is a slice). */
    size_t len = (size_t)(p - start);
    char small[64], *tmp = len < sizeof small ? small : xmalloc(len + 1);
    memcpy(tmp, start, len);
    tmp[len] = '\0';
    double v = strtod(tmp, NULL);
    if (tmp != small)
        free(tmp);
    if (!isfinite(v))
        return dfail(d, "number out of range", start);
    lua_pushnumber(d->L, v);
    return 0;
}

/* true, false or null; pushes the value (-1 for null) */
static int dec_literal(struct dec *d, const char *lit, size_t n, int value)
{
    const char *p = d->p;
    for (size_t i = 0; i < n; i++) {
        if (p + i == d->end)
            return eof(d);
        if (p[i] != lit[i])
            return dfail(d, "invalid literal", p);
    }
    d->p = p + n;
    if (value >= 0)
        lua_pushboolean(d->L, value);
    else if (d->depth == d->nil_level)
        lua_pushnil(d->L);
    else
        fdn_json_push_null(d->L);
    return 0;
}

static int dec_value(struct dec *d);

static int enter(struct dec *d)
{
    if (++d->depth > FDN_JSON_MAX_DEPTH || !lua_checkstack(d->L, 6))
        return dfail(d, "too deep", d->p);
    if (d->depth > d->seen) {
        d->seen = d->depth;
        d->hint[0][d->depth] = d->hint[1][d->depth] = HINT_FIRST;
    }
    d->p++;
    return 0;
}

static void leave(struct dec *d, int obj, lua_Integer n)
{
    d->hint[obj][d->depth--] = (unsigned char)(n < HINT_MAX ? n : HINT_MAX);
}

/* The items of the array whose '[' d->p is on. With want < 0 they go into a new table; else
 * the first `want` stay on the stack, nil-padded to `want`, and the others are decoded (the
 * document must be valid) and dropped. */
static int dec_items(struct dec *d, int want)
{
    lua_State *L = d->L;
    if (enter(d))
        return -1;
    if (want < 0)
        lua_createtable(L, d->hint[0][d->depth], 0);
    lua_Integer i = 0;
    const char *p = skip_ws(d->p, d->end);
    if (p < d->end && *p == ']') {
        d->p = p + 1;
    } else {
        for (;;) {
            if (dec_value(d))
                return -1;
            if (++i, want < 0)
                lua_rawseti(L, -2, i);
            else if (i > want)
                lua_pop(L, 1);
            p = skip_ws(d->p, d->end);
            if (p == d->end)
                return eof(d);
            d->p = p + 1;
            if (*p == ']')
                break;
            if (*p != ',')
                return dfail(d, "unexpected character", p);
        }
    }
    for (lua_Integer k = i; k < want; k++)
        lua_pushnil(L);
    leave(d, 0, i);
    return 0;
}

static int dec_array(struct dec *d)
{
    lua_State *L = d->L;
    if (dec_items(d, -1))
        return -1;
    fdn_json_push_array_mt(L);
    lua_setmetatable(L, -2);
    return 0;
}

static int dec_object(struct dec *d)
{
    lua_State *L = d->L;
    if (enter(d))
        return -1;
    lua_createtable(L, 0, d->hint[1][d->depth]);
    lua_Integer n = 0;
    const char *p = skip_ws(d->p, d->end);
    if (p < d->end && *p == '}') {
        d->p = p + 1;
        leave(d, 1, 0);
        return 0;
    }
    for (;; n++) {
        p = skip_ws(d->p, d->end);
        if (p == d->end)
            return eof(d);
        if (*p != '"')
            return dfail(d, "unexpected character", p);
        d->p = p;
        if (dec_string(d))
            return -1;
        p = skip_ws(d->p, d->end);
        if (p == d->end)
            return eof(d);
        if (*p != ':')
            return dfail(d, "unexpected character", p);
        d->p = p + 1;
        if (dec_value(d))
            return -1;
        lua_rawset(L, -3);
        p = skip_ws(d->p, d->end);
        if (p == d->end)
            return eof(d);
        d->p = p + 1;
        if (*p == '}')
            break;
        if (*p != ',')
            return dfail(d, "unexpected character", p);
    }
    leave(d, 1, n + 1);
    return 0;
}

static int dec_value(struct dec *d)
{
    const char *p = d->p = skip_ws(d->p, d->end);
    if (p == d->end)
        return eof(d);
    switch (*p) {
    case '{':
        return dec_object(d);
    case '[':
        return dec_array(d);
    case '"':
        return dec_string(d);
    case 't':
        return dec_literal(d, "true", 4, 1);
    case 'f':
        return dec_literal(d, "false", 5, 0);
    case 'n':
        return dec_literal(d, "null", 4, -1);
    }
    if (*p == '-' || (*p >= '0' && *p <= '9'))
        return dec_number(d);
    return dfail(d, "unexpected character", p);
}

/* The one body of both entry points: want < 0 decodes one value, else a list's items. */
static int decode(lua_State *L, const char *s, size_t n, int want, char *err, size_t errlen)
{
    int top = lua_gettop(L);
    if (!s)
        s = "";
    struct dec d; /* the hints are left alone: each level's are set when it is first entered */
    d.L = L;
    d.s = d.p = s;
    d.end = s + n;
    d.depth = d.seen = 0;
    d.nil_level = want < 0 ? -1 : 1;
    d.err = err;
    d.errlen = errlen;
    if (!lua_checkstack(L, 8 + (want > 0 ? want : 0)))
        return dfail(&d, "too deep", s);
    int rc;
    if (want < 0) {
        rc = dec_value(&d);
    } else {
        d.p = skip_ws(d.p, d.end);
        rc = d.p < d.end && *d.p == '[' ? dec_items(&d, want) : 1;
    }
    if (rc == 0) {
        const char *p = skip_ws(d.p, d.end);
        if (p == d.end)
            return 0;
        rc = dfail(&d, "trailing characters", p);
    }
    lua_settop(L, top);
    return rc < 0 || want < 0 ? -1 : rc;
}

int fdn_json_decode(lua_State *L, const char *s, size_t n, char *err, size_t errlen)
{
    return decode(L, s, n, -1, err, errlen);
}

int fdn_json_decode_items(lua_State *L, const char *s, size_t n, int want, char *err, size_t errlen)
{
    return decode(L, s, n, want, err, errlen);
}
