/* test_qs.c: unit tests of core/qs.c (qs-compatible query strings as Lua tables); the binding
 * is tests/lua/test_qs.lua's. Expected results were checked against qs 6.13 (Express's parser). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "qs.h"
#include "check.h"

/* tests/unit/canonical.lua (its path is the first argument): the canonical JSON of a parsed
 * query, keys sorted, arrays only where the array metatable is. */
static const char *dumper_path;

/* The registry's array metatable and the dumper, set up once. */
static lua_State *new_state(void)
{
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    lua_newtable(L);
    lua_setfield(L, LUA_REGISTRYINDEX, FDN_QS_ARRAY_MT_KEY);
    return L;
}

/* Dumps the table on top (popping it) into out; 0 or -1. */
static int dump_top(lua_State *L, char *out, size_t outlen)
{
    int top = lua_gettop(L);
    if (luaL_loadfile(L, dumper_path) != LUA_OK) {
        snprintf(out, outlen, "error: %s", lua_tostring(L, -1));
        lua_settop(L, top - 1);
        return -1;
    }
    lua_getfield(L, LUA_REGISTRYINDEX, FDN_QS_ARRAY_MT_KEY);
    lua_call(L, 1, 1);
    lua_pushvalue(L, top);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
        snprintf(out, outlen, "error: %s", lua_tostring(L, -1));
        lua_settop(L, top - 1);
        return -1;
    }
    snprintf(out, outlen, "%s", lua_tostring(L, -1));
    lua_settop(L, top - 1);
    return 0;
}

/* Parses q with the default limits and compares its canonical JSON with want. */
static int parses_to(lua_State *L, const char *q, size_t n, const char *want)
{
    char err[64], got[4096];
    int top = lua_gettop(L);
    if (fdn_qs_parse(L, q, n, NULL, err, sizeof(err)) < 0) {
        fprintf(stderr, "  %s: error %s\n", q, err);
        return 0;
    }
    if (lua_gettop(L) != top + 1 || !lua_istable(L, -1)) {
        fprintf(stderr, "  %s: stack not balanced\n", q);
        return 0;
    }
    if (dump_top(L, got, sizeof(got)) < 0 || strcmp(got, want) != 0) {
        fprintf(stderr, "  %s\n    got  %s\n    want %s\n", q, got, want);
        return 0;
    }
    return lua_gettop(L) == top;
}

#define CHECK_QS(q, want) CHECK(parses_to(L, q, strlen(q), want))

static void test_cases(lua_State *L)
{
    static const char *const cases[][2] = {
        {"a=1&b=2", "{\"a\":\"1\",\"b\":\"2\"}"},
        {"", "{}"},
        /* decoding, in keys and values */
        {"a+b=c+d", "{\"a b\":\"c d\"}"},
        {"a%20b=c%2Bd", "{\"a b\":\"c+d\"}"},
        {"%C3%A9=%E2%82%AC", "{\"\xC3\xA9\":\"\xE2\x82\xAC\"}"},
        {"a=%41%ZZ", "{\"a\":\"%41%ZZ\"}"}, /* one bad escape: the whole text stays as sent */
        {"a=%", "{\"a\":\"%\"}"},
        {"a=%C0%80", "{\"a\":\"%C0%80\"}"},       /* overlong UTF-8 */
        {"a=%ED%A0%80", "{\"a\":\"%ED%A0%80\"}"}, /* surrogate */
        {"a%ZZ=1+2", "{\"a%ZZ\":\"1 2\"}"},
        {"a=%00", "{\"a\":\"\\u0000\"}"},
        {"a=b=c", "{\"a\":\"b=c\"}"},
        /* nesting */
        {"a[b]=1", "{\"a\":{\"b\":\"1\"}}"},
        {"a[b][c]=1", "{\"a\":{\"b\":{\"c\":\"1\"}}}"},
        {"a[=]=x", "{\"a\":{\"=\":\"x\"}}"},
        {"a[b]c[d]=v", "{\"a\":{\"b\":{\"d\":\"v\"}}}"},
        /* arrays */
        {"a[]=1&a[]=2", "{\"a\":[\"1\",\"2\"]}"},
        {"a[0]=x&a[1]=y", "{\"a\":[\"x\",\"y\"]}"},
        {"a[20]=x", "{\"a\":[\"x\"]}"},
        {"a[21]=x", "{\"a\":{\"21\":\"x\"}}"},
        {"a[1]=b&a[15]=c", "{\"a\":[\"b\",\"c\"]}"},
        {"a[1]=b&a[0]=c", "{\"a\":[\"c\",\"b\"]}"},
        {"a=1&a=2", "{\"a\":[\"1\",\"2\"]}"},
        {"a[b]=c&a[b]=d", "{\"a\":{\"b\":[\"c\",\"d\"]}}"},
        {"a[0][b]=1&a[0][c]=2", "{\"a\":[{\"b\":\"1\",\"c\":\"2\"}]}"},
        {"a[][b]=1&a[][c]=2", "{\"a\":[{\"b\":\"1\",\"c\":\"2\"}]}"},
        {"[]=x", "{\"0\":\"x\"}"},
        /* Feathers queries */
        {"$or[0][a]=1&$or[1][b]=2", "{\"$or\":[{\"a\":\"1\"},{\"b\":\"2\"}]}"},
        {"id[$in][]=1&id[$in][]=2", "{\"id\":{\"$in\":[\"1\",\"2\"]}}"},
        {"$sort[name]=1", "{\"$sort\":{\"name\":\"1\"}}"},
        {"age[$gt]=18", "{\"age\":{\"$gt\":\"18\"}}"},
        {"$limit=10&$skip=20", "{\"$limit\":\"10\",\"$skip\":\"20\"}"},
        /* no '=', empty pairs, empty keys */
        {"a", "{\"a\":\"\"}"},
        {"a&b=", "{\"a\":\"\",\"b\":\"\"}"},
        {"&&&", "{}"},
        {"a=1&&b=2", "{\"a\":\"1\",\"b\":\"2\"}"},
        {"=x", "{}"},
        /* depth 5: deeper groups stay one literal key */
        {"a[b][c][d][e][f]=x", "{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":\"x\"}}}}}}"},
        {"a[b][c][d][e][f][g]=x",
         "{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":{\"[g]\":\"x\"}}}}}}}"},
        {"a[b][c][d][e][f][g][h]=i",
         "{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":{\"[g][h]\":\"i\"}}}}}}}"},
        /* array and object at one key */
        {"a[]=b&a[c]=d", "{\"a\":{\"0\":\"b\",\"c\":\"d\"}}"},
        {"a[b]=c&a=d", "{\"a\":{\"b\":\"c\",\"d\":true}}"},
        {"a[]=b&a=c", "{\"a\":[\"b\",\"c\"]}"},
        {"a=d&a[b]=c", "{\"a\":[\"d\",{\"b\":\"c\"}]}"},
        {"a=&a[b]=", "{\"a\":[\"\",{\"b\":\"\"}]}"},
        {"a=1&a[]=2&a[c]=3&a=4", "{\"a\":{\"0\":\"1\",\"1\":\"4\",\"2\":\"2\",\"c\":\"3\"}}"},
        {"a=b&a[c][d]=e&a[c][f]=g",
         "{\"a\":{\"0\":\"b\",\"1\":{\"c\":{\"d\":\"e\"}},\"c\":{\"f\":\"g\"}}}"},
        {"0[a]=x&0=y", "{\"0\":[\"y\",{\"a\":\"x\"}]}"}, /* JS enumerates "0" first */
        /* encoded brackets are brackets */
        {"a%5Bb%5D=c", "{\"a\":{\"b\":\"c\"}}"},
        {"a%5bb%5d=c", "{\"a\":{\"b\":\"c\"}}"},
        {"x=a%5D=b", "{\"x=a]\":\"b\"}"},
        /* qs drops __proto__ */
        {"__proto__=1&a[__proto__]=2&b=3", "{\"a\":{},\"b\":\"3\"}"},
        {"toString=1", "{\"toString\":\"1\"}"},
    };
    size_t i;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        CHECK_QS(cases[i][0], cases[i][1]);
}

/* Builds "p0=0&p1=1&..." with count parameters. */
static char *many_params(int count, size_t *len)
{
    char *s = malloc((size_t)count * 16 + 1);
    size_t n = 0;
    int i;
    for (i = 0; i < count; i++)
        n += (size_t)sprintf(s + n, "%sp%d=%d", i ? "&" : "", i, i);
    *len = n;
    return s;
}

static void test_limits(lua_State *L)
{
    char err[64] = "";
    size_t n;
    int top = lua_gettop(L);
    char *s = many_params(1000, &n);
    CHECK(fdn_qs_parse(L, s, n, NULL, err, sizeof(err)) == 0);
    CHECK(lua_gettop(L) == top + 1);
    lua_getfield(L, -1, "p999");
    CHECK(lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), "999") == 0);
    lua_settop(L, top);
    free(s);

    s = many_params(1001, &n);
    CHECK(fdn_qs_parse(L, s, n, NULL, err, sizeof(err)) == -1);
    CHECK_STR(err, "too many parameters");
    CHECK(lua_gettop(L) == top);
    free(s);

    /* 1001 parts counting empty ones, as qs's split does */
    s = malloc(1001);
    memset(s, '&', 1000);
    CHECK(fdn_qs_parse(L, s, 999, NULL, err, sizeof(err)) == 0);
    lua_settop(L, top);
    CHECK(fdn_qs_parse(L, s, 1000, NULL, err, sizeof(err)) == -1);
    CHECK(lua_gettop(L) == top);
    free(s);

    struct fdn_qs_limits lim = FDN_QS_LIMITS_DEFAULT;
    lim.max_length = 10;
    CHECK(fdn_qs_parse(L, "a=12345678", 10, &lim, err, sizeof(err)) == 0);
    lua_settop(L, top);
    CHECK(fdn_qs_parse(L, "a=123456789", 11, &lim, err, sizeof(err)) == -1);
    CHECK_STR(err, "query string too long");
    CHECK(lua_gettop(L) == top);

    /* a NULL or zero-length err buffer is fine */
    CHECK(fdn_qs_parse(L, "a=123456789", 11, &lim, NULL, 0) == -1);
    CHECK(lua_gettop(L) == top);

    /* depth and array limit are the caller's */
    lim = (struct fdn_qs_limits)FDN_QS_LIMITS_DEFAULT;
    lim.depth = 1;
    lim.array_limit = 0;
    CHECK(fdn_qs_parse(L, "a[b][c]=d&x[0]=y&z[1]=w", 23, &lim, err, sizeof(err)) == 0);
    char got[256];
    CHECK(dump_top(L, got, sizeof(got)) == 0 &&
          strcmp(got, "{\"a\":{\"b\":{\"[c]\":\"d\"}},\"x\":[\"y\"],\"z\":{\"1\":\"w\"}}") == 0);
    lim.depth = 0;
    CHECK(fdn_qs_parse(L, "a[b]=c", 6, &lim, err, sizeof(err)) == 0);
    CHECK(dump_top(L, got, sizeof(got)) == 0 && strcmp(got, "{\"a[b]\":\"c\"}") == 0);
    CHECK(lua_gettop(L) == top);
}

static void test_long_keys(lua_State *L)
{
    size_t n = 60000, i;
    char *s = malloc(n + 3);
    int top = lua_gettop(L);
    memset(s, 'k', n);
    memcpy(s + n, "=1", 3);
    CHECK(fdn_qs_parse(L, s, n + 2, NULL, NULL, 0) == 0);
    lua_pushlstring(L, s, n);
    lua_rawget(L, -2);
    CHECK(lua_type(L, -1) == LUA_TSTRING);
    lua_settop(L, top);

    /* 20000 bracket groups: 5 parsed, the rest one literal key */
    for (i = 0; i < 20000; i++)
        memcpy(s + 3 * i, "[b]", 3);
    memcpy(s + 60000, "=1", 3);
    s[0] = 'a';
    s[1] = '=';
    s[2] = 'x'; /* "a=x" followed by the groups as part of the value */
    CHECK(fdn_qs_parse(L, s, n + 2, NULL, NULL, 0) == 0);
    lua_settop(L, top);
    s[1] = '[';
    s[2] = ']'; /* "a[][b][b]...=1" */
    CHECK(fdn_qs_parse(L, s, n + 2, NULL, NULL, 0) == 0);
    CHECK(lua_gettop(L) == top + 1);
    lua_settop(L, top);
    for (i = 0; i < 1000; i++)
        memcpy(s + 3 * i, "[[[", 3); /* unbalanced brackets */
    CHECK(fdn_qs_parse(L, s, 3000, NULL, NULL, 0) == 0);
    lua_settop(L, top);
    free(s);
}

static void test_types_and_metatable(lua_State *L)
{
    char err[64];
    int top = lua_gettop(L);
    CHECK(fdn_qs_parse(L, "n=1&f=1.5&t=true&a[]=1", 22, NULL, err, sizeof(err)) == 0);
    lua_getfield(L, -1, "n");
    CHECK(lua_type(L, -1) == LUA_TSTRING); /* lua_isstring would accept numbers */
    lua_getfield(L, -2, "t");
    CHECK(lua_type(L, -1) == LUA_TSTRING);
    lua_getfield(L, -3, "a");
    CHECK(lua_getmetatable(L, -1));
    lua_getfield(L, LUA_REGISTRYINDEX, FDN_QS_ARRAY_MT_KEY);
    CHECK(lua_rawequal(L, -1, -2));
    lua_settop(L, top);

    /* no registry metatable: arrays are plain sequences */
    lua_getfield(L, LUA_REGISTRYINDEX, FDN_QS_ARRAY_MT_KEY);
    lua_pushnil(L);
    lua_setfield(L, LUA_REGISTRYINDEX, FDN_QS_ARRAY_MT_KEY);
    CHECK(fdn_qs_parse(L, "a[]=1&a[]=2", 11, NULL, err, sizeof(err)) == 0);
    lua_getfield(L, -1, "a");
    CHECK(lua_istable(L, -1) && !lua_getmetatable(L, -1) && lua_rawlen(L, -1) == 2);
    lua_pop(L, 2);
    lua_setfield(L, LUA_REGISTRYINDEX, FDN_QS_ARRAY_MT_KEY);
    CHECK(lua_gettop(L) == top);

    /* a metatable given by stack index */
    struct fdn_qs_limits lim = FDN_QS_LIMITS_DEFAULT;
    lua_newtable(L);
    lim.array_mt = lua_gettop(L);
    CHECK(fdn_qs_parse(L, "a[]=1", 5, &lim, err, sizeof(err)) == 0);
    lua_getfield(L, -1, "a");
    CHECK(lua_getmetatable(L, -1) && lua_rawequal(L, -1, lim.array_mt));
    lua_settop(L, top);

    /* explicit length: bytes after n are not read, NUL bytes are data */
    CHECK(fdn_qs_parse(L, "a=1\0b=2&c=3", 7, NULL, err, sizeof(err)) == 0);
    lua_getfield(L, -1, "a");
    CHECK(lua_rawlen(L, -1) == 5 && memcmp(lua_tostring(L, -1), "1\0b=2", 5) == 0);
    lua_getfield(L, -2, "c");
    CHECK(lua_isnil(L, -1));
    lua_settop(L, top);
}

static void test_decode(void)
{
    char out[32];
    size_t len;
    CHECK(fdn_qs_decode("a+b%20c", 7, out, &len, 1) == 0 && len == 5 &&
          memcmp(out, "a b c", 5) == 0);
    CHECK(fdn_qs_decode("a+b", 3, out, &len, 0) == 0 && len == 3 && memcmp(out, "a+b", 3) == 0);
    CHECK(fdn_qs_decode("%F0%9F%98%80", 12, out, &len, 0) == 0 && len == 4 &&
          memcmp(out, "\xF0\x9F\x98\x80", 4) == 0);
    CHECK(fdn_qs_decode("%F4%90%80%80", 12, out, &len, 0) == -1); /* past U+10FFFF */
    CHECK(fdn_qs_decode("%E0%80%80", 9, out, &len, 0) == -1);     /* overlong */
    CHECK(fdn_qs_decode("%C3", 3, out, &len, 0) == -1);           /* truncated */
    CHECK(fdn_qs_decode("%C3A", 4, out, &len, 0) == -1);          /* continuation not escaped */
    CHECK(fdn_qs_decode("%80", 3, out, &len, 0) == -1);           /* lone continuation */
    CHECK(fdn_qs_decode("%4", 2, out, &len, 0) == -1);
    CHECK(fdn_qs_decode("%g0", 3, out, &len, 0) == -1);
    CHECK(fdn_qs_decode("\xC3\xA9", 2, out, &len, 0) == 0 && len == 2); /* raw bytes pass */
    CHECK(fdn_qs_decode("", 0, out, &len, 0) == 0 && len == 0);
}

/* The order of $sort's keys, from its metatable's __order, joined with ","; "" when none. */
static void sort_order(lua_State *L, const char *q, char *out, size_t outlen)
{
    out[0] = 0;
    char err[128];
    if (!CHECK(fdn_qs_parse(L, q, strlen(q), NULL, err, sizeof err) == 0))
        return;
    if (lua_getfield(L, -1, "$sort") == LUA_TTABLE && lua_getmetatable(L, -1)) {
        if (lua_getfield(L, -1, "__order") == LUA_TTABLE) {
            size_t used = 0;
            for (lua_Integer i = 1; lua_rawgeti(L, -1, i) == LUA_TSTRING; i++) {
                used += (size_t)snprintf(out + used, outlen - used, "%s%s", i > 1 ? "," : "",
                                         lua_tostring(L, -1));
                lua_pop(L, 1);
            }
            lua_pop(L, 1);
        }
        lua_pop(L, 2);
    }
    lua_pop(L, 2);
}

static void test_sort_order(lua_State *L)
{
    char got[256];
    sort_order(L, "$sort[b]=1&$sort[a]=-1", got, sizeof got);
    CHECK_STR(got, "b,a");
    sort_order(L, "x=1&$sort[zeta]=1&y=2&$sort[alpha]=1&$sort[zeta]=-1&$sort[mid]=1", got,
               sizeof got);
    CHECK_STR(got, "zeta,alpha,mid"); /* first seen; a repeated key keeps its place */
    sort_order(L, "%24sort%5Bb%5D=1&%24sort%5Ba%5D=1", got, sizeof got);
    CHECK_STR(got, "b,a"); /* escaped as a browser sends it */
    sort_order(L, "$sort[only]=1", got, sizeof got);
    CHECK_STR(got, ""); /* one key: no order to keep */
    sort_order(L, "$sort[a][b]=1&$sort[c]=1&$sort[d]=1", got, sizeof got);
    CHECK_STR(got, "c,d"); /* a nested key is no sort field */
    sort_order(L, "$sort[0]=a&$sort[1]=b", got, sizeof got);
    CHECK_STR(got, ""); /* an array keeps its own metatable */
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_qs PATH/canonical.lua\n");
        return 2;
    }
    dumper_path = argv[1];
    lua_State *L = new_state();
    test_cases(L);
    test_limits(L);
    test_long_keys(L);
    test_types_and_metatable(L);
    test_decode();
    test_sort_order(L);
    CHECK(lua_gettop(L) == 0);
    lua_close(L);
    return check_summary("test_qs");
}
