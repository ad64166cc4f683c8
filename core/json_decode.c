/* json_decode.c: JSON text -> Lua values pushed as they are parsed (no intermediate tree),
 * strict RFC 8259 with UTF-8 checked (RFC 3629), depth-limited; a list's items straight onto
 * the stack for the RPC door (json.h). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "json.h"
#include "json_text.h"
#include "util.h"

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
        p = (const char *)fdn_json_plain_run((const unsigned char *)p, (const unsigned char *)r);
        memcpy(o, run, (size_t)(p - run));
        o += p - run;
        if (p == r)
            break;
        if ((unsigned char)*p >= 0x80) {
            int k = fdn_json_utf8_seq((const unsigned char *)p, (const unsigned char *)r);
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
        q = (const char *)fdn_json_plain_run((const unsigned char *)q, (const unsigned char *)end);
        if (q == end)
            return eof(d);
        if ((unsigned char)*q < 0x80)
            break;
        int k = fdn_json_utf8_seq((const unsigned char *)q, (const unsigned char *)end);
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
