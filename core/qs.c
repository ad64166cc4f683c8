/* qs.c: the gateway's query-string parser (qs 6 as Express uses it, allowPrototypes), building
 * Lua tables directly; the percent-decoding is qs_decode.c's. While the result is built, an
 * array carries its JavaScript length under a private light-userdata key, so sparse indices,
 * push and merge behave as in qs; the final pass compacts arrays and gives them the metatable. */
#include "qs.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#define DEPTH_MAX 64             /* a caller's depth above this is treated as this */
#define ARRAY_LIMIT_MAX 1000     /* a caller's array_limit above this is treated as this */
#define NEST_MAX (DEPTH_MAX + 8) /* recursion guard: qs output nests at most depth + 3 */

static const char array_key; /* its address marks an array and holds its JavaScript length */

struct parser {
    lua_State *L;
    int depth;
    int array_limit;
    int mt; /* stack index of the array metatable, or of nil */
};

/* One root of a key's chain, as qs's parseObject sees it. */
struct seg {
    const char *p; /* cleanRoot: the root without its enclosing brackets */
    size_t n;
    int push;     /* the root is "[]" */
    int stripped; /* the root was "[...]": only then may it be an array index */
};

static int fail(char *err, size_t errlen, const char *msg)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", msg);
    return -1;
}

static size_t count_parts(const char *s, size_t n)
{
    size_t count = 1;
    const char *end = s + n, *q;
    while ((q = memchr(s, '&', (size_t)(end - s))) != NULL) {
        count++;
        s = q + 1;
    }
    return count;
}

/* ---- arrays under construction ---- */

/* The JavaScript length of the array at idx, or -1 when idx is not an array. */
static lua_Integer alen(lua_State *L, int idx)
{
    lua_Integer n = -1;
    if (lua_type(L, idx) != LUA_TTABLE)
        return -1;
    if (lua_rawgetp(L, idx, &array_key) == LUA_TNUMBER)
        n = lua_tointeger(L, -1);
    lua_pop(L, 1);
    return n;
}

static void set_alen(lua_State *L, int idx, lua_Integer n)
{
    idx = lua_absindex(L, idx);
    lua_pushinteger(L, n);
    lua_rawsetp(L, idx, &array_key);
}

/* Pushes a new empty array of JavaScript length n. */
static void new_array(lua_State *L, lua_Integer n)
{
    lua_createtable(L, n > 0 && n < 64 ? (int)n : 0, 1);
    set_alen(L, -1, n);
}

/* JavaScript's falsy values among ours: nil, false, "". */
static int falsy(lua_State *L, int idx)
{
    int t = lua_type(L, idx);
    if (t == LUA_TSTRING)
        return lua_rawlen(L, idx) == 0;
    return t == LUA_TNIL || (t == LUA_TBOOLEAN && !lua_toboolean(L, idx));
}

/* ---- the key chain (qs's parseKeys) ---- */

/* Finds the next "[...]" with no bracket inside, from position from. */
static int next_group(const char *k, size_t n, size_t from, size_t *open, size_t *close)
{
    size_t i, j;
    for (i = from; i < n; i++) {
        if (k[i] != '[')
            continue;
        for (j = i + 1; j < n && k[j] != '['; j++) {
            if (k[j] == ']') {
                *open = i;
                *close = j;
                return 1;
            }
        }
    }
    return 0;
}

static struct seg plain_seg(const char *k, size_t n)
{
    if (n >= 2 && k[0] == '[' && k[n - 1] == ']')
        return (struct seg){k + 1, n - 2, n == 2, 1};
    return (struct seg){k, n, 0, 0};
}

/* Splits key into its chain: the parent before the first group, then up to depth groups;
 * if one more group follows, the key from there on is one last literal root. */
static int split_key(const char *k, size_t n, int depth, struct seg *segs)
{
    size_t open = 0, close = 0, pos = 0;
    int nc = 0, count = 0;
    int found = depth > 0 && next_group(k, n, 0, &open, &close);
    size_t plen = found ? open : n;
    if (plen > 0)
        segs[nc++] = plain_seg(k, plen);
    if (depth <= 0)
        return nc;
    while (next_group(k, n, pos, &open, &close)) {
        if (count == depth) {
            segs[nc++] = (struct seg){k + open, n - open, 0, 1};
            break;
        }
        segs[nc++] = (struct seg){k + open + 1, close - open - 1, close == open + 1, 1};
        count++;
        pos = close + 1;
    }
    return nc;
}

/* A canonical decimal index no greater than limit, or -1. */
static int array_index(const struct seg *g, int limit)
{
    size_t i;
    int v = 0;
    if (!g->stripped || g->n == 0 || g->n > 9 || (g->p[0] == '0' && g->n > 1))
        return -1;
    for (i = 0; i < g->n; i++) {
        if (g->p[i] < '0' || g->p[i] > '9')
            return -1;
        v = v * 10 + (g->p[i] - '0');
    }
    return v <= limit ? v : -1;
}

/* qs's parseObject: wraps the leaf on top of the stack in the chain, innermost root first. */
static void build(struct parser *p, const struct seg *segs, int nc)
{
    lua_State *L = p->L;
    int i, index;
    for (i = nc - 1; i >= 0; i--) {
        const struct seg *g = &segs[i];
        if (g->push) {
            if (alen(L, -1) >= 0)
                continue; /* [].concat(leaf) of an unshared array is the array itself */
            new_array(L, 1);
            lua_insert(L, -2);
            lua_rawseti(L, -2, 1);
        } else if ((index = array_index(g, p->array_limit)) >= 0) {
            new_array(L, index + 1);
            lua_insert(L, -2);
            lua_rawseti(L, -2, index + 1);
        } else {
            lua_createtable(L, 0, 1);
            lua_insert(L, -2);
            if (g->n == 9 && memcmp(g->p, "__proto__", 9) == 0) {
                lua_pop(L, 1); /* qs drops __proto__ roots */
                continue;
            }
            lua_pushlstring(L, g->p, g->n);
            lua_insert(L, -2);
            lua_rawset(L, -3);
        }
    }
}

/* ---- qs's utils.merge on the stack: [.. target source] -> [.. merged] ---- */

static int merge(struct parser *p, int level);

/* Source is a truthy non-table. */
static void merge_value(lua_State *L, int t, int s)
{
    lua_Integer tn = alen(L, t);
    if (tn >= 0) {
        lua_rawseti(L, t, tn + 1); /* target.push(source) */
        set_alen(L, t, tn + 1);
    } else if (lua_istable(L, t)) {
        if (lua_type(L, s) != LUA_TSTRING) {
            lua_pop(L, 1);
            lua_pushliteral(L, "true"); /* String(true) */
        }
        lua_pushboolean(L, 1);
        lua_rawset(L, t); /* target[source] = true */
    } else {
        new_array(L, 2); /* [target, source] */
        lua_pushvalue(L, t);
        lua_rawseti(L, -2, 1);
        lua_insert(L, -2);
        lua_rawseti(L, -2, 2);
        lua_replace(L, t);
    }
}

/* Target is not a table, source is: [target].concat(source). */
static void concat_front(lua_State *L, int t, int s)
{
    lua_Integer i, sn = alen(L, s);
    new_array(L, sn >= 0 ? sn + 1 : 2);
    lua_pushvalue(L, t);
    lua_rawseti(L, -2, 1);
    if (sn < 0) {
        lua_pushvalue(L, s);
        lua_rawseti(L, -2, 2);
    }
    for (i = 1; i <= sn; i++) {
        if (lua_rawgeti(L, s, i) == LUA_TNIL)
            lua_pop(L, 1);
        else
            lua_rawseti(L, -2, i + 1);
    }
    lua_replace(L, t);
    lua_pop(L, 1);
}

static int merge_arrays(struct parser *p, int t, int s, lua_Integer tn, lua_Integer sn, int level)
{
    lua_State *L = p->L;
    lua_Integer i;
    for (i = 1; i <= sn; i++) {
        if (lua_rawgeti(L, s, i) == LUA_TNIL) {
            lua_pop(L, 1);
            continue;
        }
        if (i > tn || lua_rawgeti(L, t, i) == LUA_TNIL) {
            if (i <= tn)
                lua_pop(L, 1);
            lua_rawseti(L, t, i); /* target[i] = item */
            if (i > tn)
                tn = i;
        } else if (lua_istable(L, -1) && lua_istable(L, -2)) {
            lua_insert(L, -2);
            if (merge(p, level + 1) < 0)
                return -1;
            lua_rawseti(L, t, i);
        } else {
            lua_pop(L, 1);
            lua_rawseti(L, t, ++tn); /* target.push(item) */
        }
    }
    set_alen(L, t, tn);
    lua_pop(L, 1);
    return 0;
}

/* [.. k v] -> [.. k] with acc[k] = has(acc, k) ? merge(acc[k], v) : v. */
static int merge_field(struct parser *p, int acc, int level)
{
    lua_State *L = p->L;
    lua_pushvalue(L, -2);
    if (lua_rawget(L, acc) == LUA_TNIL) {
        lua_pop(L, 1);
    } else {
        lua_insert(L, -2);
        if (merge(p, level + 1) < 0)
            return -1;
    }
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, acc);
    return 0;
}

/* qs's arrayToObject: pushes an object with the array's defined elements under "0", "1"... */
static void to_object(lua_State *L, int t, lua_Integer tn)
{
    lua_Integer i;
    lua_createtable(L, 0, (int)(tn < 64 ? tn : 64));
    for (i = 1; i <= tn; i++) {
        if (lua_rawgeti(L, t, i) == LUA_TNIL) {
            lua_pop(L, 1);
            continue;
        }
        lua_pushfstring(L, "%I", (LUAI_UACINT)(i - 1));
        lua_insert(L, -2);
        lua_rawset(L, -3);
    }
}

/* Merges the keys of source (an object, or an array's indices) into the object target. */
static int merge_keys(struct parser *p, int t, int s, lua_Integer sn, int level)
{
    lua_State *L = p->L;
    lua_Integer i;
    if (sn < 0) {
        lua_pushnil(L);
        while (lua_next(L, s)) {
            if (merge_field(p, t, level) < 0)
                return -1;
        }
    }
    for (i = 1; i <= sn; i++) {
        if (lua_rawgeti(L, s, i) == LUA_TNIL) {
            lua_pop(L, 1);
            continue;
        }
        lua_pushfstring(L, "%I", (LUAI_UACINT)(i - 1));
        lua_insert(L, -2);
        if (merge_field(p, t, level) < 0)
            return -1;
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return 0;
}

static int merge(struct parser *p, int level)
{
    lua_State *L = p->L;
    int s = lua_gettop(L), t = s - 1;
    if (level > NEST_MAX || !lua_checkstack(L, 8))
        return -1;
    if (falsy(L, s)) {
        lua_pop(L, 1);
        return 0;
    }
    if (!lua_istable(L, s)) {
        merge_value(L, t, s);
        return 0;
    }
    if (!lua_istable(L, t)) {
        concat_front(L, t, s);
        return 0;
    }
    lua_Integer tn = alen(L, t), sn = alen(L, s);
    if (tn >= 0 && sn >= 0)
        return merge_arrays(p, t, s, tn, sn, level);
    if (tn >= 0) {
        to_object(L, t, tn);
        lua_replace(L, t);
    }
    return merge_keys(p, t, s, sn, level);
}

/* ---- the final pass: qs's compact, plus the array metatable ---- */

static int finish(struct parser *p, int idx, int level)
{
    lua_State *L = p->L;
    lua_Integer i, k = 0, n;
    if (level > NEST_MAX || !lua_checkstack(L, 6))
        return -1;
    idx = lua_absindex(L, idx);
    n = alen(L, idx);
    if (n < 0) {
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            if (lua_istable(L, -1) && finish(p, -1, level + 1) < 0)
                return -1;
            lua_pop(L, 1);
        }
        return 0;
    }
    lua_pushnil(L);
    lua_rawsetp(L, idx, &array_key);
    for (i = 1; i <= n; i++) {
        if (lua_rawgeti(L, idx, i) == LUA_TNIL) {
            lua_pop(L, 1);
        } else if (++k == i) {
            lua_pop(L, 1);
        } else {
            lua_rawseti(L, idx, k);
            lua_pushnil(L);
            lua_rawseti(L, idx, i);
        }
    }
    for (i = 1; i <= k; i++) {
        if (lua_rawgeti(L, idx, i) == LUA_TTABLE && finish(p, -1, level + 1) < 0)
            return -1;
        lua_pop(L, 1);
    }
    if (lua_istable(L, p->mt)) {
        lua_pushvalue(L, p->mt);
        lua_setmetatable(L, idx);
    }
    return 0;
}

/* ---- qs's parseValues: the flat key -> value(s) map, in first-seen order ---- */

struct flat {
    int index; /* key -> slot */
    int keys;  /* slot -> key */
    int vals;  /* slot -> string, or array of strings for a repeated key */
    int n;
};

static void add_part(lua_State *L, struct flat *f, const char *s, size_t n, char *buf)
{
    const char *eq = NULL;
    size_t i;
    for (i = 0; i + 1 < n && !eq; i++) {
        if (s[i] == ']' && s[i + 1] == '=')
            eq = s + i + 1;
    }
    if (!eq)
        eq = memchr(s, '=', n);
    size_t kn = eq ? (size_t)(eq - s) : n;
    if (kn == 0)
        return; /* qs skips empty keys */
    lua_pushlstring(L, buf, fdn_qs_decode_lenient(s, kn, buf));
    if (eq)
        lua_pushlstring(L, buf, fdn_qs_decode_lenient(eq + 1, n - kn - 1, buf));
    else
        lua_pushliteral(L, "");
    lua_pushvalue(L, -2);
    if (lua_rawget(L, f->index) == LUA_TNIL) { /* key val nil */
        lua_pop(L, 1);
        f->n++;
        lua_rawseti(L, f->vals, f->n);
        lua_pushvalue(L, -1);
        lua_rawseti(L, f->keys, f->n);
        lua_pushinteger(L, f->n);
        lua_rawset(L, f->index);
        return;
    }
    lua_Integer slot = lua_tointeger(L, -1);
    lua_pop(L, 1);
    lua_rawgeti(L, f->vals, slot); /* key val old */
    lua_Integer len = alen(L, -1);
    if (len < 0) {
        new_array(L, 2);
        lua_insert(L, -2);
        lua_rawseti(L, -2, 1);
        len = 1;
    }
    lua_insert(L, -2);
    lua_rawseti(L, -2, len + 1);
    set_alen(L, -1, len + 1);
    lua_rawseti(L, f->vals, slot);
    lua_pop(L, 1);
}

struct order {
    uint64_t rank; /* an array-index key's value, else 2^32 + slot */
    int slot;
};

static int order_cmp(const void *a, const void *b)
{
    uint64_t x = ((const struct order *)a)->rank, y = ((const struct order *)b)->rank;
    return x < y ? -1 : x > y;
}

/* JavaScript enumerates array-index keys first, in numeric order, then the others in
 * insertion order; qs merges in that order, and the result can depend on it. */
static uint64_t key_rank(const char *k, size_t n, int slot)
{
    uint64_t v = 0;
    size_t i;
    int index = n > 0 && n <= 10 && (k[0] != '0' || n == 1);
    for (i = 0; index && i < n; i++) {
        if (k[i] < '0' || k[i] > '9')
            index = 0;
        else
            v = v * 10 + (uint64_t)(k[i] - '0');
    }
    return index && v <= 4294967294u ? v : ((uint64_t)1 << 32) + (uint64_t)slot;
}

/* Builds every flat entry into the result object at res, in JavaScript's key order. */
static int build_all(struct parser *p, struct flat *f, int res)
{
    lua_State *L = p->L;
    struct seg segs[DEPTH_MAX + 2];
    struct order *ord = lua_newuserdatauv(L, (size_t)f->n * sizeof(*ord) + 1, 0);
    size_t kn;
    int i;
    for (i = 0; i < f->n; i++) {
        lua_rawgeti(L, f->keys, i + 1);
        const char *k = lua_tolstring(L, -1, &kn);
        ord[i].rank = key_rank(k, kn, i + 1);
        ord[i].slot = i + 1;
        lua_pop(L, 1);
    }
    qsort(ord, (size_t)f->n, sizeof(*ord), order_cmp);
    for (i = 0; i < f->n; i++) {
        lua_rawgeti(L, f->keys, ord[i].slot); /* keeps the key's text alive */
        const char *k = lua_tolstring(L, -1, &kn);
        int nc = split_key(k, kn, p->depth, segs);
        lua_pushvalue(L, res);
        lua_rawgeti(L, f->vals, ord[i].slot);
        build(p, segs, nc);
        if (merge(p, 0) < 0)
            return -1;
        lua_replace(L, res);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return 0;
}

/* Lua tables forget key order, but ?$sort[b]=1&$sort[a]=-1 sorts by b first: when the result's
 * $sort is an object of two keys or more, its metatable gets __order, the list of its keys in
 * the order they first came (fdn.query reads it). */
static void keep_sort_order(lua_State *L, const struct flat *f, int res)
{
    static const char prefix[] = "$sort[";
    const size_t plen = sizeof prefix - 1;
    if (lua_getfield(L, res, "$sort") != LUA_TTABLE || lua_getmetatable(L, -1)) {
        lua_pop(L, 1);
        return;
    }
    int sort = lua_gettop(L);
    lua_newtable(L); /* the keys in order */
    lua_newtable(L); /* seen */
    int n = 0;
    for (int i = 1; i <= f->n; i++) {
        size_t kn;
        lua_rawgeti(L, f->keys, i);
        const char *k = lua_tolstring(L, -1, &kn);
        if (kn > plen + 1 && memcmp(k, prefix, plen) == 0 && k[kn - 1] == ']' &&
            !memchr(k + plen, '[', kn - plen - 1) && !memchr(k + plen, ']', kn - plen - 1)) {
            lua_pushlstring(L, k + plen, kn - plen - 1);
            if (lua_rawget(L, sort) != LUA_TNIL) {
                lua_pushlstring(L, k + plen, kn - plen - 1);
                if (lua_rawget(L, sort + 2) == LUA_TNIL) {
                    lua_pushlstring(L, k + plen, kn - plen - 1);
                    lua_pushvalue(L, -1);
                    lua_rawseti(L, sort + 1, ++n);
                    lua_pushboolean(L, 1);
                    lua_rawset(L, sort + 2);
                }
                lua_pop(L, 1);
            }
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1); /* seen */
    if (n >= 2) {
        lua_createtable(L, 0, 1);
        lua_insert(L, -2);
        lua_setfield(L, -2, "__order");
        lua_setmetatable(L, sort);
    } else {
        lua_pop(L, 1);
    }
    lua_pop(L, 1); /* $sort */
}

static int clamp(int v, int max)
{
    return v > max ? max : v;
}

int fdn_qs_parse(lua_State *L, const char *s, size_t n, const struct fdn_qs_limits *lim, char *err,
                 size_t errlen)
{
    static const struct fdn_qs_limits defaults = FDN_QS_LIMITS_DEFAULT;
    struct parser p = {L, 0, 0, 0};
    struct flat f = {0, 0, 0, 0};
    int base = lua_gettop(L);
    if (!lim)
        lim = &defaults;
    if (lim->max_length && n > lim->max_length)
        return fail(err, errlen, "query string too long");
    if (n > 0 && lim->max_params > 0 && count_parts(s, n) > (size_t)lim->max_params)
        return fail(err, errlen, "too many parameters");
    if (!lua_checkstack(L, 24))
        return fail(err, errlen, "out of memory");
    p.depth = clamp(lim->depth, DEPTH_MAX);
    p.array_limit = clamp(lim->array_limit, ARRAY_LIMIT_MAX);
    if (lim->array_mt)
        lua_pushvalue(L, lim->array_mt);
    else
        lua_getfield(L, LUA_REGISTRYINDEX, FDN_QS_ARRAY_MT_KEY);
    p.mt = base + 1;
    char *clean = lua_newuserdatauv(L, 2 * n + 1, 0);
    char *buf = clean + n;
    n = fdn_qs_unescape_brackets(s, n, clean);
    lua_newtable(L);
    f.index = lua_gettop(L);
    lua_newtable(L);
    f.keys = lua_gettop(L);
    lua_newtable(L);
    f.vals = lua_gettop(L);
    size_t i = 0;
    while (n > 0 && i <= n) {
        const char *amp = memchr(clean + i, '&', n - i);
        size_t end = amp ? (size_t)(amp - clean) : n;
        add_part(L, &f, clean + i, end - i, buf);
        i = end + 1;
    }
    lua_newtable(L);
    int res = lua_gettop(L);
    if (build_all(&p, &f, res) < 0 || finish(&p, res, 0) < 0) {
        lua_settop(L, base);
        return fail(err, errlen, "query string too deep");
    }
    keep_sort_order(L, &f, res);
    lua_replace(L, base + 1);
    lua_settop(L, base + 1);
    return 0;
}
