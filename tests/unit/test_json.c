/* test_json.c: unit tests of the JSON codec (core/json*.c): exact round trips, every error
 * message, stack balance. Cases are Lua expressions; their helpers are json_prelude.lua's, and
 * the binding (core/lua_json.c) is tests/lua/test_bindings.lua's. */
#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "check.h"

static lua_State *L;
static char err[128];

/* tests/unit/json_prelude.lua (the first argument): Lua helpers shared by the tests, arr(...)
 * and eq(a, b), as globals. */
static const char *prelude_path;

static void push_expr(const char *expr)
{
    char code[8192];
    snprintf(code, sizeof code, "return %s", expr);
    if (luaL_loadstring(L, code) || lua_pcall(L, 0, 1, 0)) {
        fprintf(stderr, "bad test expression %s: %s\n", expr, lua_tostring(L, -1));
        exit(2);
    }
}

/* Encodes the Lua expression; returns a static copy of the JSON, or NULL (message in err). */
static const char *enc(const char *expr)
{
    static char text[65536];
    struct fdn_buf b;
    fdn_buf_init(&b);
    push_expr(expr);
    int top = lua_gettop(L);
    int rc = fdn_json_encode(L, -1, &b, err, sizeof err);
    CHECK(lua_gettop(L) == top);
    lua_pop(L, 1);
    if (rc) {
        CHECK(b.len == 0);
        fdn_buf_free(&b);
        return NULL;
    }
    snprintf(text, sizeof text, "%.*s", (int)b.len, b.data ? b.data : "");
    fdn_buf_free(&b);
    return text;
}

static int enc_is(const char *expr, const char *want)
{
    const char *got = enc(expr);
    if (got && strcmp(got, want) == 0)
        return 1;
    fprintf(stderr, "  encode %s: got %s, want %s\n", expr, got ? got : err, want);
    return 0;
}

static int enc_err(const char *expr, const char *want)
{
    const char *got = enc(expr);
    if (!got && strcmp(err, want) == 0)
        return 1;
    fprintf(stderr, "  encode %s: got %s, want error %s\n", expr, got ? got : err, want);
    return 0;
}

/* Decodes s[0..n) and tests the Lua predicate `pred` on it (as v). */
static int dec_ok(const char *s, size_t n, const char *pred)
{
    int top = lua_gettop(L);
    if (fdn_json_decode(L, s, n, err, sizeof err)) {
        fprintf(stderr, "  decode %.*s: %s\n", (int)n, s, err);
        return 0;
    }
    if (lua_gettop(L) != top + 1)
        return 0;
    lua_setglobal(L, "v");
    push_expr(pred);
    int ok = lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (!ok)
        fprintf(stderr, "  decode %.*s: predicate %s is false\n", (int)n, s, pred);
    return ok;
}

#define DEC_OK(s, pred) dec_ok(s, sizeof(s) - 1, pred)

static int dec_err(const char *s, size_t n, const char *want)
{
    int top = lua_gettop(L);
    int rc = fdn_json_decode(L, s, n, err, sizeof err);
    if (lua_gettop(L) != top) {
        fprintf(stderr, "  decode %.*s: stack %d -> %d\n", (int)n, s, top, lua_gettop(L));
        return 0;
    }
    if (rc == -1 && strcmp(err, want) == 0)
        return 1;
    fprintf(stderr, "  decode %.*s: got %s, want %s\n", (int)n, s, rc ? err : "success", want);
    return 0;
}

#define DEC_ERR(s, want) dec_err(s, sizeof(s) - 1, want)

/* encode(decode(s)) == s */
static int canonical(const char *s)
{
    if (fdn_json_decode(L, s, strlen(s), err, sizeof err)) {
        fprintf(stderr, "  canonical %s: %s\n", s, err);
        return 0;
    }
    struct fdn_buf b;
    fdn_buf_init(&b);
    int ok = fdn_json_encode(L, -1, &b, err, sizeof err) == 0 && b.len == strlen(s) &&
             memcmp(b.data, s, b.len) == 0;
    if (!ok)
        fprintf(stderr, "  canonical %s: got %.*s\n", s, (int)b.len, b.data ? b.data : "");
    lua_pop(L, 1);
    fdn_buf_free(&b);
    return ok;
}

/* decode(encode(x)) == x, deeply */
static int round_trip(const char *expr)
{
    struct fdn_buf b;
    fdn_buf_init(&b);
    push_expr(expr);
    int ok = fdn_json_encode(L, -1, &b, err, sizeof err) == 0 &&
             fdn_json_decode(L, b.data, b.len, err, sizeof err) == 0;
    if (ok) {
        lua_getglobal(L, "eq");
        lua_insert(L, -3);
        lua_call(L, 2, 1);
        ok = lua_toboolean(L, -1);
    }
    if (!ok)
        fprintf(stderr, "  round trip %s: %.*s %s\n", expr, (int)b.len, b.data ? b.data : "", err);
    lua_settop(L, 0);
    fdn_buf_free(&b);
    return ok;
}

static char *nested(int depth, char open, char close)
{
    char *s = malloc((size_t)depth * 2 + 1);
    memset(s, open, (size_t)depth);
    memset(s + depth, close, (size_t)depth);
    s[depth * 2] = '\0';
    return s;
}

static void test_integers(void)
{
    CHECK(enc_is("math.maxinteger", "9223372036854775807"));
    CHECK(enc_is("math.mininteger", "-9223372036854775808"));
    CHECK(enc_is("12345678901234567", "12345678901234567"));
    CHECK(enc_is("0", "0"));
    CHECK(enc_is("-7", "-7"));
    CHECK(enc_is("1000000", "1000000"));
    CHECK(DEC_OK("9223372036854775807", "v == math.maxinteger and math.type(v) == 'integer'"));
    CHECK(DEC_OK("-9223372036854775808", "v == math.mininteger and math.type(v) == 'integer'"));
    CHECK(DEC_OK("12345678901234567", "v == 12345678901234567 and math.type(v) == 'integer'"));
    CHECK(DEC_OK("-0", "v == 0 and math.type(v) == 'integer'"));
    /* beyond int64: floats */
    CHECK(DEC_OK("9223372036854775808", "v == 2^63 and math.type(v) == 'float'"));
    CHECK(DEC_OK("-9223372036854775809", "v == -2^63 and math.type(v) == 'float'"));
    CHECK(DEC_OK("12345678901234567890", "v == 12345678901234567890.0"));
    CHECK(DEC_OK("18446744073709551616", "v == 2^64 and math.type(v) == 'float'"));
    CHECK(DEC_OK("123456789012345678901234567890", "math.type(v) == 'float' and v > 1e29"));
    CHECK(enc_is("2^63", "9.223372036854776e+18"));
}

static void test_floats(void)
{
    CHECK(enc_is("0.1", "0.1"));
    CHECK(enc_is("1e300", "1e+300"));
    CHECK(enc_is("5e-324", "4.94065645841247e-324"));
    CHECK(enc_is("-0.0", "-0.0"));
    CHECK(enc_is("0.0", "0.0"));
    CHECK(enc_is("1.0", "1.0"));
    CHECK(enc_is("3.14", "3.14"));
    CHECK(enc_is("1/3", "0.3333333333333333"));
    CHECK(enc_is("0.1 + 0.2", "0.30000000000000004")); /* needs 17 digits */
    CHECK(enc_is("0.07", "0.07"));
    CHECK(enc_is("-45.5", "-45.5"));
    CHECK(enc_is("123.456", "123.456"));
    CHECK(enc_is("12.34567891", "12.34567891"));
    CHECK(enc_is("0.000001", "0.000001"));
    CHECK(enc_is("1e-9", "1e-09"));
    CHECK(enc_is("999999999999999.9", "999999999999999.9"));
    CHECK(enc_is("-1e15", "-1e+15"));
    CHECK(enc_is("2^53", "9007199254740992.0"));
    CHECK(enc_is("1e16", "1e+16"));
    CHECK(enc_is("123456789012.0", "123456789012.0"));
    CHECK(enc_is("-2.5", "-2.5"));
    CHECK(DEC_OK("0.1", "v == 0.1"));
    CHECK(DEC_OK("1e300", "v == 1e300"));
    CHECK(DEC_OK("5e-324", "v == 5e-324 and v > 0"));
    CHECK(DEC_OK("-0.0", "v == 0 and 1/v < 0 and math.type(v) == 'float'"));
    CHECK(DEC_OK("1.0", "v == 1 and math.type(v) == 'float'"));
    CHECK(DEC_OK("1E2", "v == 100 and math.type(v) == 'float'"));
    CHECK(DEC_OK("1e-2", "v == 0.01"));
    CHECK(DEC_OK("2.5e+1", "v == 25.0"));
    CHECK(DEC_OK("1e-400", "v == 0 and math.type(v) == 'float'"));
    CHECK(enc_err("0/0", "cannot encode nan/inf"));
    CHECK(enc_err("1/0", "cannot encode nan/inf"));
    CHECK(enc_err("arr(1, -1/0)", "cannot encode nan/inf"));
}

static void test_tables(void)
{
    CHECK(enc_is("{}", "{}"));
    CHECK(enc_is("arr()", "[]"));
    CHECK(enc_is("{1, 2, 3}", "[1,2,3]"));
    CHECK(enc_is("arr(1, 'a', true, false, null)", "[1,\"a\",true,false,null]"));
    CHECK(enc_is("{a = {b = {}}}", "{\"a\":{\"b\":{}}}"));
    CHECK(enc_is("{a = arr()}", "{\"a\":[]}"));
    CHECK(enc_is("{[1] = 'x'}", "[\"x\"]"));
    CHECK(enc_is("{[2] = 'x'}", "{\"2\":\"x\"}"));
    CHECK(enc_is("{[-1] = 'x'}", "{\"-1\":\"x\"}"));
    CHECK(enc_is("{[0] = 'x'}", "{\"0\":\"x\"}"));
    CHECK(enc_is("nil", "null"));
    CHECK(enc_is("null", "null"));
    CHECK(enc_is("setmetatable({}, {})", "{}"));
    CHECK(enc_is("setmetatable({n = 1}, json.array_mt)", "[]"));
    CHECK(enc_is("setmetatable({1, nil, 3}, json.array_mt)", "[1,null,3]"));
    /* mixed and sparse tables are objects with stringified integer keys */
    const char *mixed = enc("{1, 2, x = 3}");
    CHECK(mixed && mixed[0] == '{');
    CHECK(mixed && dec_ok(mixed, strlen(mixed), "v['1'] == 1 and v['2'] == 2 and v.x == 3"));
    const char *sparse = enc("{[1] = 1, [3] = 3}");
    CHECK(sparse && dec_ok(sparse, strlen(sparse), "v['1'] == 1 and v['3'] == 3 and #v == 0"));
    CHECK(enc_err("{[true] = 1}", "cannot encode key of type boolean"));
    CHECK(enc_err("{[1.5] = 1}", "cannot encode key of type float"));
    CHECK(enc_err("{[{}] = 1}", "cannot encode key of type table"));
    CHECK(enc_err("{f = print}", "cannot encode value of type function"));
    CHECK(enc_err("arr(coroutine.create(print))", "cannot encode value of type thread"));
    CHECK(enc_err("io.stdout", "cannot encode value of type userdata"));
    /* decoded arrays carry array_mt, objects do not */
    CHECK(DEC_OK("[]", "getmetatable(v) == json.array_mt and next(v) == nil"));
    CHECK(DEC_OK("{}", "getmetatable(v) == nil and next(v) == nil"));
    CHECK(DEC_OK("[1,[2,[]],{\"a\":[null]}]", "#v == 3 and v[2][1] == 2 and "
                                              "getmetatable(v[2][2]) == json.array_mt and "
                                              "v[3].a[1] == null"));
    CHECK(DEC_OK(" { \"a\" : 1 , \"b\" : [ ] } ", "v.a == 1 and #v.b == 0"));
    CHECK(DEC_OK("{\"a\":1,\"a\":2}", "v.a == 2"));
    CHECK(DEC_OK("{\"1\":\"x\"}", "v['1'] == 'x' and v[1] == nil"));
    CHECK(DEC_OK("null", "v == null"));
    CHECK(DEC_OK("true", "v == true"));
    CHECK(DEC_OK("false", "v == false"));
}

static void test_depth(void)
{
    char *ok = nested(128, '[', ']'), *bad = nested(129, '[', ']');
    CHECK(dec_ok(ok, strlen(ok), "type(v) == 'table'"));
    CHECK(dec_err(bad, strlen(bad), "too deep at 129"));
    free(ok);
    free(bad);
    char *objs = malloc(129 * 6 + 1), *o = objs;
    for (int i = 0; i < 129; i++)
        o += sprintf(o, "{\"a\":");
    CHECK(dec_err(objs, strlen(objs), "too deep at 641"));
    free(objs);
    push_expr("(function() local t = {} for i = 1, 127 do t = {t} end return t end)()");
    lua_setglobal(L, "deep128");
    CHECK(enc_is("arr(1)", "[1]"));
    const char *s = enc("deep128");
    CHECK(s && strlen(s) == 256);
    CHECK(enc_err("{deep128}", "too deep"));
    CHECK(enc_err("(function() local t = {} t.self = t return t end)()", "too deep"));
    CHECK(enc_err("(function() local t = {} t[1] = t return t end)()", "too deep"));
}

static void test_strings(void)
{
    CHECK(enc_is("''", "\"\""));
    CHECK(enc_is("'hello world'", "\"hello world\""));
    CHECK(enc_is("'\"\\\\/'", "\"\\\"\\\\/\""));
    CHECK(enc_is("'\\b\\f\\n\\r\\t'", "\"\\b\\f\\n\\r\\t\""));
    CHECK(enc_is("'\\0\\1\\31\\127'", "\"\\u0000\\u0001\\u001f\x7f\""));
    CHECK(enc_is("'h\\u{e9}llo \\u{1F600}'", "\"h\xc3\xa9llo \xf0\x9f\x98\x80\""));
    /* every control character, both ways */
    for (int c = 0; c < 0x20; c++) {
        char expr[64], want[16];
        snprintf(expr, sizeof expr, "'a\\%d'", c);
        const char *named = strchr("\b\f\n\r\t", c);
        if (c && named)
            snprintf(want, sizeof want, "\"a\\%c\"", "bfnrt"[named - "\b\f\n\r\t"]);
        else
            snprintf(want, sizeof want, "\"a\\u%04x\"", c);
        CHECK(enc_is(expr, want));
        char pred[64];
        snprintf(pred, sizeof pred, "v == 'a\\%d'", c);
        CHECK(dec_ok(want, strlen(want), pred));
    }
    CHECK(DEC_OK("\"\\u0041\\u00e9\\u20AC\\ud83d\\ude00\"", "v == 'A\\u{e9}\\u{20ac}\\u{1f600}'"));
    CHECK(DEC_OK("\"\\uD800\\uDC00\\uDBFF\\uDFFF\"", "v == '\\u{10000}\\u{10ffff}'"));
    CHECK(DEC_OK("\"\\u0000\"", "v == '\\0'"));
    CHECK(DEC_OK("\"\\/\\\"\\\\\"", "v == '/\"\\\\'"));
    CHECK(DEC_OK("\"h\xc3\xa9llo \xf0\x9f\x98\x80\"", "v == 'h\\u{e9}llo \\u{1F600}'"));
    CHECK(DEC_OK("\"x\\ty\"", "v == 'x\\ty'"));
    CHECK(DEC_OK("{\"k\\n\":\"\\\"\"}", "v['k\\n'] == '\"'"));
}

static void test_errors(void)
{
    CHECK(DEC_ERR("", "unexpected end of input at 1"));
    CHECK(DEC_ERR("   ", "unexpected end of input at 4"));
    CHECK(DEC_ERR("[1,2", "unexpected end of input at 5"));
    CHECK(DEC_ERR("[1,", "unexpected end of input at 4"));
    CHECK(DEC_ERR("[", "unexpected end of input at 2"));
    CHECK(DEC_ERR("{", "unexpected end of input at 2"));
    CHECK(DEC_ERR("{\"a\"", "unexpected end of input at 5"));
    CHECK(DEC_ERR("{\"a\":", "unexpected end of input at 6"));
    CHECK(DEC_ERR("{\"a\":1", "unexpected end of input at 7"));
    CHECK(DEC_ERR("\"abc", "unexpected end of input at 5"));
    CHECK(DEC_ERR("\"ab\\n", "unexpected end of input at 6"));
    CHECK(DEC_ERR("\"ab\\", "unexpected end of input at 5"));
    CHECK(DEC_ERR("\"\\u12", "unexpected end of input at 6"));
    CHECK(DEC_ERR("tr", "unexpected end of input at 3"));
    CHECK(DEC_ERR("-", "unexpected end of input at 2"));
    CHECK(DEC_ERR("1.", "unexpected end of input at 3"));
    CHECK(DEC_ERR("1e", "unexpected end of input at 3"));
    CHECK(DEC_ERR("1e+", "unexpected end of input at 4"));
    CHECK(DEC_ERR("1 2", "trailing characters at 3"));
    CHECK(DEC_ERR("[]]", "trailing characters at 3"));
    CHECK(DEC_ERR("{}x", "trailing characters at 3"));
    CHECK(DEC_ERR("[1]\0", "trailing characters at 4"));
    CHECK(DEC_ERR("01", "trailing characters at 2"));
    CHECK(DEC_ERR("nul!", "invalid literal at 1"));
    CHECK(DEC_ERR("[tru]", "invalid literal at 2"));
    CHECK(DEC_ERR("falsy", "invalid literal at 1"));
    CHECK(DEC_ERR("True", "unexpected character at 1"));
    CHECK(DEC_ERR("-a", "invalid number at 1"));
    CHECK(DEC_ERR("1.e5", "invalid number at 1"));
    CHECK(DEC_ERR("1e+x", "invalid number at 1"));
    CHECK(DEC_ERR("-.5", "invalid number at 1"));
    CHECK(DEC_ERR("+1", "unexpected character at 1"));
    CHECK(DEC_ERR(".5", "unexpected character at 1"));
    CHECK(DEC_ERR("1e400", "number out of range at 1"));
    CHECK(DEC_ERR("[-1e999]", "number out of range at 2"));
    CHECK(DEC_ERR("[1,]", "unexpected character at 4"));
    CHECK(DEC_ERR("[1 2]", "unexpected character at 4"));
    CHECK(DEC_ERR("{\"a\" 1}", "unexpected character at 6"));
    CHECK(DEC_ERR("{\"a\":1,}", "unexpected character at 8"));
    CHECK(DEC_ERR("{1:2}", "unexpected character at 2"));
    CHECK(DEC_ERR("{\"a\":1 \"b\":2}", "unexpected character at 8"));
    CHECK(DEC_ERR("'a'", "unexpected character at 1"));
    CHECK(DEC_ERR("\"\\ud800\"", "invalid unicode escape at 2"));
    CHECK(DEC_ERR("\"\\udc00\"", "invalid unicode escape at 2"));
    CHECK(DEC_ERR("\"ab\\ud800\\u0041\"", "invalid unicode escape at 4"));
    CHECK(DEC_ERR("\"\\ud800\\n\"", "invalid unicode escape at 2"));
    CHECK(DEC_ERR("\"\\ud83d\"", "invalid unicode escape at 2"));
    CHECK(DEC_ERR("\"\\u12g4\"", "invalid unicode escape at 2"));
    CHECK(DEC_ERR("\"\\u12\"", "invalid unicode escape at 2"));
    CHECK(DEC_ERR("\"\\x\"", "invalid escape at 2"));
    CHECK(DEC_ERR("\"\\U0041\"", "invalid escape at 2"));
    CHECK(DEC_ERR("\"a\nb\"", "control character in string at 3"));
    CHECK(DEC_ERR("\"\\n\x01\"", "control character in string at 4"));
    CHECK(DEC_ERR("\"a\0\"", "control character in string at 3"));
    CHECK(DEC_ERR("[\"a\",\"b\tc\"]", "control character in string at 8"));
    CHECK(DEC_ERR("\x01", "unexpected character at 1"));
    CHECK(dec_err(NULL, 0, "unexpected end of input at 1"));
}

/* fdn_json_decode_items(s, want): the items, as the Lua predicate sees them in a table
 * `items` (nil-padded: #items is not used, `n` is want) when rc is 0. */
static int items_are(const char *s, int want, int want_rc, const char *pred)
{
    int top = lua_gettop(L);
    int rc = fdn_json_decode_items(L, s, strlen(s), want, err, sizeof err);
    int pushed = lua_gettop(L) - top;
    if (rc != want_rc || pushed != (rc == 0 ? want : 0)) {
        fprintf(stderr, "  items %s (%d): rc %d (%s), pushed %d\n", s, want, rc, rc < 0 ? err : "-",
                pushed);
        lua_settop(L, top);
        return 0;
    }
    if (!pred)
        return 1;
    lua_createtable(L, want, 0);
    lua_insert(L, top + 1);
    for (int i = want; i >= 1; i--)
        lua_rawseti(L, top + 1, i);
    lua_setglobal(L, "items");
    push_expr(pred);
    int ok = lua_toboolean(L, -1);
    lua_settop(L, top);
    if (!ok)
        fprintf(stderr, "  items %s (%d): predicate %s is false\n", s, want, pred);
    return ok;
}

static void test_items(void)
{
    CHECK(items_are("[\"echo\",\"created\",{\"seq\":1},null]", 4, 0,
                    "items[1] == 'echo' and items[2] == 'created' and items[3].seq == 1 and "
                    "items[4] == nil"));
    /* an item that is null is nil; a null inside an item stays the sentinel */
    CHECK(items_are("[null,{\"a\":null},[null]]", 3, 0,
                    "items[1] == nil and items[2].a == null and items[3][1] == null"));
    CHECK(items_are(" [1, [2, 3], {\"a\": []}] ", 3, 0,
                    "items[1] == 1 and eq(items[2], arr(2, 3)) and eq(items[3], {a = arr()})"));
    CHECK(items_are("[1]", 3, 0, "items[1] == 1 and items[2] == nil and items[3] == nil"));
    CHECK(items_are("[]", 2, 0, "items[1] == nil and items[2] == nil"));
    CHECK(items_are("[1,2,3,4,5]", 2, 0, "items[1] == 1 and items[2] == 2 and items[3] == nil"));
    CHECK(items_are("[1,2]", 0, 0, NULL));
    /* not an array: rc 1, nothing pushed, whether it is JSON or not */
    CHECK(items_are("{\"a\":1}", 2, 1, NULL));
    CHECK(items_are("\"x\"", 2, 1, NULL));
    CHECK(items_are("", 2, 1, NULL));
    CHECK(items_are("nope", 2, 1, NULL));
    /* a malformed array: -1 with the position, as fdn_json_decode says it */
    CHECK(items_are("[1,2", 2, -1, NULL) && strcmp(err, "unexpected end of input at 5") == 0);
    CHECK(items_are("[1,]", 2, -1, NULL) && strcmp(err, "unexpected character at 4") == 0);
    CHECK(items_are("[1,2,x]", 1, -1, NULL) && strcmp(err, "unexpected character at 6") == 0);
    CHECK(items_are("[1] 2", 1, -1, NULL) && strcmp(err, "trailing characters at 5") == 0);
    /* the depth limit counts the outer array, as a whole decode does */
    char *ok = nested(128, '[', ']'), *bad = nested(129, '[', ']');
    CHECK(items_are(ok, 1, 0, "type(items[1]) == 'table'"));
    CHECK(items_are(bad, 1, -1, NULL) && strcmp(err, "too deep at 129") == 0);
    free(ok);
    free(bad);
}

/* Strings are UTF-8 per RFC 3629: decode refuses anything else (with the position of the
 * first bad byte), encode writes U+FFFD for each maximal ill-formed part. */
#define FFFD "\xef\xbf\xbd"
static void test_utf8(void)
{
    /* the edges of every range decode, as values, keys, and next to escapes */
    CHECK(DEC_OK("\"\xc2\x80\xdf\xbf\"", "v == '\\u{80}\\u{7ff}'"));
    CHECK(DEC_OK("\"\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbf\"",
                 "v == '\\u{800}\\u{d7ff}\\u{e000}\\u{ffff}'"));
    CHECK(DEC_OK("\"\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\"", "v == '\\u{10000}\\u{10ffff}'"));
    CHECK(DEC_OK("{\"\xc3\xa9\":\"\\n\xe2\x82\xac\\t\xf0\x9f\x98\x80\"}",
                 "v['\\u{e9}'] == '\\n\\u{20ac}\\t\\u{1f600}'"));
    /* ill-formed: the position is the sequence's first byte */
    CHECK(DEC_ERR("\"\xff\"", "invalid UTF-8 at 2"));
    CHECK(DEC_ERR("\"\xfe\"", "invalid UTF-8 at 2"));
    CHECK(DEC_ERR("\"\xf5\x80\x80\x80\"", "invalid UTF-8 at 2"));     /* beyond U+10FFFF's lead */
    CHECK(DEC_ERR("\"\xf8\x88\x80\x80\x80\"", "invalid UTF-8 at 2")); /* 5 bytes */
    CHECK(DEC_ERR("\"\xc0\xaf\"", "invalid UTF-8 at 2"));             /* overlong '/' */
    CHECK(DEC_ERR("\"\xc1\xbf\"", "invalid UTF-8 at 2"));
    CHECK(DEC_ERR("\"\xe0\x80\xaf\"", "invalid UTF-8 at 2")); /* overlong, 3 bytes */
    CHECK(DEC_ERR("\"\xe0\x9f\xbf\"", "invalid UTF-8 at 2"));
    CHECK(DEC_ERR("\"\xf0\x80\x80\xaf\"", "invalid UTF-8 at 2")); /* overlong, 4 bytes */
    CHECK(DEC_ERR("\"\xf0\x8f\xbf\xbf\"", "invalid UTF-8 at 2"));
    CHECK(DEC_ERR("\"\xed\xa0\x80\"", "invalid UTF-8 at 2"));             /* U+D800 */
    CHECK(DEC_ERR("\"\xed\xbf\xbf\"", "invalid UTF-8 at 2"));             /* U+DFFF */
    CHECK(DEC_ERR("\"\xed\xa0\xbd\xed\xb8\x80\"", "invalid UTF-8 at 2")); /* a CESU-8 pair */
    CHECK(DEC_ERR("\"\xf4\x90\x80\x80\"", "invalid UTF-8 at 2"));         /* U+110000 */
    CHECK(DEC_ERR("\"\x80\"", "invalid UTF-8 at 2"));                     /* stray continuation */
    CHECK(DEC_ERR("\"ab\xc3\xa9\xbf\"", "invalid UTF-8 at 6"));
    CHECK(DEC_ERR("\"a\xc3\"", "invalid UTF-8 at 3")); /* cut short */
    CHECK(DEC_ERR("\"\xe2\x82\"", "invalid UTF-8 at 2"));
    CHECK(DEC_ERR("\"\xf0\x9f\x98x\"", "invalid UTF-8 at 2"));
    CHECK(DEC_ERR("\"\xc3", "invalid UTF-8 at 2")); /* cut by the end of the input */
    CHECK(DEC_ERR("{\"\xff\":1}", "invalid UTF-8 at 3"));
    CHECK(DEC_ERR("[\"ok\",{\"a\":\"\xc0\x80\"}]", "invalid UTF-8 at 13"));
    CHECK(DEC_ERR("\"\\n\xff\"", "invalid UTF-8 at 4")); /* in a string with escapes */
    CHECK(DEC_ERR("\"\\n\xc3\xa9\xed\xa0\x80\"", "invalid UTF-8 at 6"));
    CHECK(DEC_ERR("\"\xc3\xa9\\n\xe0\x80\x80\"", "invalid UTF-8 at 6"));
    CHECK(items_are("[\"echo\",\"\xff\"]", 1, -1, NULL) && strcmp(err, "invalid UTF-8 at 10") == 0);
    /* a bad byte outside a string was refused already */
    CHECK(DEC_ERR("\xef\xbb\xbf{}", "unexpected character at 1"));

    /* encode: well-formed sequences as they are, each maximal ill-formed part as U+FFFD */
    CHECK(enc_is("'\\u{80}\\u{7ff}\\u{800}\\u{ffff}\\u{10000}\\u{10ffff}'",
                 "\"\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\""));
    CHECK(enc_is("'\\xff\\xfe'", "\"" FFFD FFFD "\""));
    CHECK(enc_is("'a\\xc0\\xafb'", "\"a" FFFD FFFD "b\""));
    CHECK(enc_is("'\\xe0\\x80\\xaf'", "\"" FFFD FFFD FFFD "\""));
    CHECK(enc_is("'\\xed\\xa0\\x80'", "\"" FFFD FFFD FFFD "\""));
    CHECK(enc_is("'\\xf4\\x90\\x80\\x80'", "\"" FFFD FFFD FFFD FFFD "\""));
    CHECK(enc_is("'\\xe2\\x82'", "\"" FFFD "\"")); /* one maximal part */
    CHECK(enc_is("'\\xe2\\x82x'", "\"" FFFD "x\""));
    CHECK(enc_is("'\\xf0\\x9f\\x98\\xe2\\x82\\xac'", "\"" FFFD "\xe2\x82\xac\""));
    CHECK(enc_is("'\\x80\\x80'", "\"" FFFD FFFD "\""));
    CHECK(enc_is("'\\n\\xff\"\\xc3\\xa9\\0'", "\"\\n" FFFD "\\\"\xc3\xa9\\u0000\""));
    CHECK(enc_is("{['\\xff'] = '\\xc3'}", "{\"" FFFD "\":\"" FFFD "\"}"));
    /* every byte at every place of a string (the scan goes 8 bytes at a time), after plain
     * text and after a byte just below and above 0x20 (its borrow must not hide a stop) */
    int all = 1;
    for (int c = 0; c < 256 && all; c++)
        for (int at = 0; at < 19 && all; at++)
            for (int before = 0; before < 3 && all; before++) {
                unsigned char str[20], json[24];
                memset(str, 'a', sizeof str);
                str[at] = (unsigned char)c;
                if (at > 0 && before)
                    str[at - 1] = before == 1 ? 0x1f : 0x20;
                struct fdn_buf b;
                fdn_buf_init(&b);
                lua_pushlstring(L, (const char *)str, sizeof str);
                all &= fdn_json_encode(L, -1, &b, err, sizeof err) == 0;
                lua_pop(L, 1);
                /* the first stop that the encoder changes: its place in the output */
                int first = at > 0 && before == 1 ? at - 1 : at;
                int plain = c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
                if (first == at && plain)
                    all &= b.len == sizeof str + 2 && memcmp(b.data + 1, str, sizeof str) == 0;
                else if (first == at && c >= 0x80)
                    all &= memcmp(b.data + 1 + at, FFFD, 3) == 0 && b.len == sizeof str + 4;
                else
                    all &= b.data[1 + first] == '\\';
                fdn_buf_free(&b);
                /* decode: a string of these bytes is refused at the first bad one */
                json[0] = '"';
                memcpy(json + 1, str, sizeof str);
                json[sizeof str + 1] = '"';
                char want[64];
                if (first < at)
                    snprintf(want, sizeof want, "control character in string at %d", first + 2);
                else if (c >= 0x80)
                    snprintf(want, sizeof want, "invalid UTF-8 at %d", at + 2);
                else if (c < 0x20)
                    snprintf(want, sizeof want, "control character in string at %d", at + 2);
                else
                    continue; /* '"' and '\\' change the document itself */
                if (!dec_err((const char *)json, sizeof str + 2, want))
                    all = 0;
                if (!all)
                    fprintf(stderr, "  byte 0x%02x at %d (before: %d)\n", c, at, before);
            }
    CHECK(all);
    /* a multibyte character across the 8-byte words */
    for (int at = 0; at < 12; at++) {
        char str[32], pred[64];
        memset(str, 'a', sizeof str);
        memcpy(str + 1 + at, "\xf0\x9f\x98\x80", 4);
        str[0] = str[20] = '"';
        snprintf(pred, sizeof pred,
                 "v == string.rep('a', %d) .. '\\u{1f600}' .. string.rep('a', %d)", at, 15 - at);
        CHECK(dec_ok(str, 21, pred));
    }
    /* what encode writes, decode reads: binary data comes back with U+FFFD */
    CHECK(round_trip("'h\\u{e9}llo \\u{1F600}\\u{10ffff}'"));
    const char *bin = enc("'\\0\\1\\127\\128\\255\\xc3\\xa9\\xed\\xa0\\x80'");
    CHECK(bin && dec_ok(bin, strlen(bin),
                        "v == '\\0\\1\\127' .. string.rep('\\u{fffd}', 2) .. '\\u{e9}' .. "
                        "string.rep('\\u{fffd}', 3)"));
}

/* fdn_json_encode_items(from, to): the values of a stack range, comma-separated, appended
 * to what the buffer holds; on failure the buffer and the stack are as they were. */
static int enc_items_is(const char *exprs[], int n, const char *want)
{
    struct fdn_buf b;
    fdn_buf_init(&b);
    fdn_buf_reserve(&b, 1);
    b.data[b.len++] = '[';
    int top = lua_gettop(L);
    for (int i = 0; i < n; i++)
        push_expr(exprs[i]);
    int rc = fdn_json_encode_items(L, top + 1, top + n, &b, err, sizeof err);
    int ok = lua_gettop(L) == top + n;
    lua_settop(L, top);
    if (rc == 0)
        ok = ok && b.len == strlen(want) && memcmp(b.data, want, b.len) == 0;
    else
        ok = ok && want == NULL && b.len == 1;
    if (!ok)
        fprintf(stderr, "  items encode: rc %d, got %.*s, want %s\n", rc, (int)b.len, b.data,
                want ? want : "an error");
    fdn_buf_free(&b);
    return ok;
}

static void test_encode_items(void)
{
    const char *values[] = {"1", "nil", "'x'", "{a = arr(true)}", "null"};
    CHECK(enc_items_is(values, 5, "[1,null,\"x\",{\"a\":[true]},null"));
    CHECK(enc_items_is(values, 1, "[1"));
    CHECK(enc_items_is(values, 0, "["));
    const char *bad[] = {"'ok'", "{f = print}"};
    CHECK(enc_items_is(bad, 2, NULL));
    CHECK(strstr(err, "function") != NULL);
}

static void test_round_trips(void)
{
    static const char *values[] = {
        "0",
        "math.maxinteger",
        "math.mininteger",
        "12345678901234567",
        "-1",
        "0.1",
        "1e300",
        "5e-324",
        "-0.0",
        "1.0",
        "3.14",
        "1/3",
        "2^53 + 1.0",
        "2^63",
        "-1.7976931348623157e308",
        "2.2250738585072014e-308",
        "''",
        "'\\0\\1\\2\\31\\\"\\\\\\127'",
        "'h\\u{e9}llo \\u{1F600}'",
        "true",
        "false",
        "null",
        "{}",
        "arr()",
        "arr(arr(), {}, arr(arr()))",
        "{a = 1, b = 'two', c = arr(3.0, null, false), d = {e = {}}}",
        "{['1'] = 1, ['2'] = 2}",
        "{['k\\n\"'] = 'v'}",
        ("arr({id = 7, text = 'hello', createdAt = 1732000000, tags = arr('a', 'b'), score = 3.5,"
         " user = {id = 7, name = 'x'}})"),
    };
    for (size_t i = 0; i < sizeof values / sizeof *values; i++)
        CHECK(round_trip(values[i]));

    static const char *canon[] = {
        "0",
        "-9223372036854775808",
        "9223372036854775807",
        "12345678901234567",
        "0.1",
        "1.0",
        "-0.0",
        "3.14",
        "1e+300",
        "4.94065645841247e-324",
        "9.223372036854776e+18",
        "0.30000000000000004",
        "\"\"",
        "\"a\\\"b\\\\c\\n\\u0000\\u001f\"",
        "\"\xc3\xa9\xf0\x9f\x98\x80\"",
        "null",
        "true",
        "false",
        "[]",
        "{}",
        "[[],{},[[]]]",
        "[1,2.5,\"x\",null,true,{\"a\":[]}]",
        "{\"a\":{\"b\":{\"c\":[1,{\"d\":null}]}}}",
        "{\"1\":\"one\"}",
    };
    for (size_t i = 0; i < sizeof canon / sizeof *canon; i++)
        CHECK(canonical(canon[i]));
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_json PATH/json_prelude.lua\n");
        return 2;
    }
    prelude_path = argv[1];
    L = luaL_newstate();
    luaL_openlibs(L);
    if (luaL_loadfile(L, prelude_path)) {
        fprintf(stderr, "%s\n", lua_tostring(L, -1));
        return 2;
    }
    lua_createtable(L, 0, 2); /* the prelude's `json`: what the codec itself provides */
    fdn_json_push_null(L);
    lua_setfield(L, -2, "null");
    fdn_json_push_array_mt(L);
    lua_setfield(L, -2, "array_mt");
    lua_call(L, 1, 0);

    test_integers();
    test_floats();
    test_tables();
    test_depth();
    test_strings();
    test_errors();
    test_items();
    test_encode_items();
    test_utf8();
    test_round_trips();
    CHECK(lua_gettop(L) == 0);

    lua_close(L);
    return check_summary("test_json");
}
