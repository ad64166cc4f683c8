/* test_qs.c: unit tests of core/qs.c (qs-compatible query strings as Lua tables) and of the
 * fdn.core.qs binding. Expected results were checked against qs 6.13 (Express's parser). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "qs.h"
#include "check.h"

/* Weak: the binding is tested when core/lua_qs.c is linked in, skipped (with a note) when not. */
int luaopen_fdn_core_qs(lua_State *L) __attribute__((weak));

/* Canonical JSON of a parsed query: object keys sorted, arrays only for tables with the
 * array metatable (so a missing metatable shows up as a failure), strings escaped. */
static const char *dumper_src =
    "local mt = ...\n"
    "local esc_map = { ['\"'] = '\\\\\"', ['\\\\'] = '\\\\\\\\', ['\\n'] = '\\\\n' }\n"
    "local function esc(s)\n"
    "  return '\"' .. s:gsub('[%z\\1-\\31\"\\\\]', function(c)\n"
    "    return esc_map[c] or string.format('\\\\u%04x', c:byte()) end) .. '\"'\n"
    "end\n"
    "local function dump(v)\n"
    "  if type(v) == 'string' then return esc(v) end\n"
    "  if type(v) == 'boolean' then return tostring(v) end\n"
    "  assert(type(v) == 'table', 'unexpected ' .. type(v))\n"
    "  local out = {}\n"
    "  if mt and getmetatable(v) == mt then\n"
    "    for k in pairs(v) do\n"
    "      assert(math.type(k) == 'integer' and k >= 1 and k <= #v, 'sparse array')\n"
    "    end\n"
    "    for i = 1, #v do out[i] = dump(v[i]) end\n"
    "    return '[' .. table.concat(out, ',') .. ']'\n"
    "  end\n"
    "  assert(getmetatable(v) == nil, 'object with a metatable')\n"
    "  local keys = {}\n"
    "  for k in pairs(v) do\n"
    "    assert(type(k) == 'string', 'non-string key')\n"
    "    keys[#keys + 1] = k\n"
    "  end\n"
    "  table.sort(keys)\n"
    "  for i, k in ipairs(keys) do out[i] = esc(k) .. ':' .. dump(v[k]) end\n"
    "  return '{' .. table.concat(out, ',') .. '}'\n"
    "end\n"
    "return dump\n";

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
    if (luaL_loadstring(L, dumper_src) != LUA_OK)
        return -1;
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

/* The binding, through Lua. */
static void test_binding(lua_State *L)
{
    static const char *const script =
        "local qs = ...\n"
        "local mt = debug.getregistry()['fdn.json.array']\n"
        "local t = assert(qs.parse('id[$in][]=1&id[$in][]=2&name=x'))\n"
        "assert(t.name == 'x' and t.id['$in'][2] == '2' and getmetatable(t.id['$in']) == mt)\n"
        "local r, err = qs.parse('a=123456', 4)\n"
        "assert(r == nil and err == 'query string too long')\n"
        "assert(qs.parse(string.rep('a', 70000)) == nil)\n"
        "assert(next(qs.parse(string.rep('&', 999), 0)) == nil)\n"
        "assert(select(2, qs.parse(string.rep('&', 1000))) == 'too many parameters')\n"
        "assert(not pcall(qs.parse, {}))\n"
        "local full, parent, last = qs.route('GET', '/api/users/7')\n"
        "assert(full == 'api/users/7' and parent == 'api/users' and last == '7')\n"
        "full, parent, last = qs.route('GET', '/users')\n"
        "assert(full == 'users' and parent == nil and last == nil)\n"
        "assert(qs.route('GET', '/') == '')\n"
        "r, err = qs.route('GET', '/a/../b')\n"
        "assert(r == nil and err == 'malformed path')\n"
        "assert(qs.method('GET', false) == 'find' and qs.method('GET', true) == 'get')\n"
        "assert(qs.method('POST', false, 'resetPassword') == 'resetPassword')\n"
        "assert(qs.method('POST', false, '') == 'create')\n"
        "assert(qs.method('PUT', false) == 'update' and qs.method('DELETE', true) == 'remove')\n"
        "r, err = qs.method('HEAD', false)\n"
        "assert(r == nil and err == 'not-allowed')\n"
        "assert(qs.method('POST', true, 'x') == nil)\n"
        "return true\n";
    int top = lua_gettop(L);
    if (!luaopen_fdn_core_qs) {
        printf("test_qs: binding tests skipped (core/lua_qs.c not linked)\n");
        return;
    }
    luaL_requiref(L, "fdn.core.qs", luaopen_fdn_core_qs, 0);
    int ok = luaL_loadstring(L, script) == LUA_OK;
    if (ok) {
        lua_pushvalue(L, -2);
        ok = lua_pcall(L, 1, 1, 0) == LUA_OK;
    }
    if (!ok)
        fprintf(stderr, "  binding: %s\n", lua_tostring(L, -1));
    CHECK(ok);
    lua_settop(L, top);
}

int main(void)
{
    lua_State *L = new_state();
    test_cases(L);
    test_limits(L);
    test_long_keys(L);
    test_types_and_metatable(L);
    test_decode();
    test_binding(L);
    CHECK(lua_gettop(L) == 0);
    lua_close(L);
    return check_summary("test_qs");
}
