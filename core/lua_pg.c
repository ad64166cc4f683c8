/* lua_pg.c: the fdn.core.pg binding: connect(params, cb) -> conn; conn:send(batch, cb);
 * conn:state(); conn:close(). Parameters go as text (binary when a string cannot be text);
 * results come back typed by their column's type OID. Callbacks run on the reactor. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "json.h"
#include "node.h"
#include "pg.h"
#include "util.h"

#define PG_MT "fdn.pg"
#define MAX_PARAMS 65535 /* the protocol's limit */
#define NUM_LEN 32

/* type OIDs (the server's catalog, stable across versions) */
enum {
    OID_BOOL = 16,
    OID_BYTEA = 17,
    OID_INT8 = 20,
    OID_INT2 = 21,
    OID_INT4 = 23,
    OID_JSON = 114,
    OID_FLOAT4 = 700,
    OID_FLOAT8 = 701,
    OID_NUMERIC = 1700,
    OID_JSONB = 3802,
};

struct lpg {
    struct fdn_pg *pg;
    struct fdn_node *node;
    int cb_ref;   /* the connect's or the running query's callback */
    int self_ref; /* keeps the userdata alive while a callback is due */
};

/* Whether s[0..n) is well-formed UTF-8 (RFC 3629) without a NUL: text PostgreSQL takes. */
static int is_text(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char b = s[i];
        if (b == 0)
            return 0;
        if (b < 0x80) {
            i++;
            continue;
        }
        size_t len = b >= 0xC2 && b <= 0xDF   ? 2
                     : b >= 0xE0 && b <= 0xEF ? 3
                     : b >= 0xF0 && b <= 0xF4 ? 4
                                              : 0;
        if (len == 0 || i + len > n)
            return 0;
        unsigned char lo = 0x80, hi = 0xBF;
        if (b == 0xE0)
            lo = 0xA0;
        else if (b == 0xED)
            hi = 0x9F;
        else if (b == 0xF0)
            lo = 0x90;
        else if (b == 0xF4)
            hi = 0x8F;
        if (s[i + 1] < lo || s[i + 1] > hi)
            return 0;
        for (size_t k = 2; k < len; k++)
            if (s[i + k] < 0x80 || s[i + k] > 0xBF)
                return 0;
        i += len;
    }
    return 1;
}

/* A numeric's text as a float when 15 significant digits or fewer (a double holds them
 * exactly as decimal), else as the text. */
static void push_numeric(lua_State *L, const char *s, size_t len)
{
    int digits = 0, leading = 1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] >= '0' && s[i] <= '9') {
            if (s[i] != '0')
                leading = 0;
            if (!leading)
                digits++;
        } else if (s[i] != '.' && s[i] != '-' && s[i] != '+') {
            digits = s[i] == 'N' || s[i] == 'I' ? 0 : 99; /* NaN, Infinity: floats */
            break;
        }
    }
    if (digits <= 15)
        lua_pushnumber(L, strtod(s, NULL));
    else
        lua_pushlstring(L, s, len);
}

static void push_value(lua_State *L, const PGresult *res, int row, int col)
{
    const char *s = PQgetvalue(res, row, col);
    size_t len = (size_t)PQgetlength(res, row, col);
    char err[80];
    switch (PQftype(res, col)) {
    case OID_BOOL:
        lua_pushboolean(L, s[0] == 't');
        break;
    case OID_INT2:
    case OID_INT4:
    case OID_INT8:
        lua_pushinteger(L, (lua_Integer)strtoll(s, NULL, 10));
        break;
    case OID_FLOAT4:
    case OID_FLOAT8:
        lua_pushnumber(L, strtod(s, NULL));
        break;
    case OID_NUMERIC:
        push_numeric(L, s, len);
        break;
    case OID_JSON:
    case OID_JSONB:
        if (fdn_json_decode(L, s, len, err, sizeof err) < 0)
            lua_pushlstring(L, s, len);
        break;
    case OID_BYTEA: {
        size_t n = 0;
        unsigned char *b = PQunescapeBytea((const unsigned char *)s, &n);
        if (!b)
            luaL_error(L, "out of memory");
        lua_pushlstring(L, (const char *)b, n);
        PQfreemem(b);
        break;
    }
    default:
        lua_pushlstring(L, s, len);
    }
}

static void push_rows(lua_State *L, const PGresult *res)
{
    int rows = PQntuples(res), cols = PQnfields(res);
    lua_createtable(L, rows, 0);
    fdn_json_push_array_mt(L);
    lua_setmetatable(L, -2);
    for (int r = 0; r < rows; r++) {
        lua_createtable(L, 0, cols);
        for (int c = 0; c < cols; c++) {
            if (PQgetisnull(res, r, c))
                fdn_json_push_null(L);
            else
                push_value(L, res, r, c);
            lua_setfield(L, -2, PQfname(res, c));
        }
        lua_rawseti(L, -2, r + 1);
    }
    const char *changes = PQcmdTuples((PGresult *)res);
    if (changes[0])
        lua_pushinteger(L, (lua_Integer)strtoll(changes, NULL, 10));
    else
        lua_pushnil(L);
}

/* deliver(cb, res|false, err, code, nres, prepared): cb(true, rows1, changes1, rows2,
 * changes2, ...), cb(false, err, code, prepared) (bit i: statement i+1's prepare succeeded), or
 * for a connect, cb(true). Runs under the node's pcall: building the
 * rows may raise (memory). */
static int l_deliver(lua_State *L)
{
    if (!lua_islightuserdata(L, 2)) {
        lua_settop(L, 6);
        if (lua_isnil(L, 3)) {
            lua_settop(L, 1);
            lua_pushboolean(L, 1);
            lua_call(L, 1, 0);
            return 0;
        }
        lua_pushboolean(L, 0);
        lua_replace(L, 2);
        lua_pushvalue(L, 6);
        lua_replace(L, 5);
        lua_settop(L, 5);
        lua_call(L, 4, 0);
        return 0;
    }
    PGresult *const *res = lua_touserdata(L, 2);
    int n = (int)lua_tointeger(L, 5);
    lua_settop(L, 1);
    luaL_checkstack(L, 2 * n + 2, "results");
    lua_pushboolean(L, 1);
    for (int i = 0; i < n; i++)
        push_rows(L, res[i]);
    lua_call(L, 1 + 2 * n, 0);
    return 0;
}

static void release(lua_State *L, struct lpg *u)
{
    luaL_unref(L, LUA_REGISTRYINDEX, u->cb_ref);
    luaL_unref(L, LUA_REGISTRYINDEX, u->self_ref);
    u->cb_ref = u->self_ref = LUA_NOREF;
}

static void lpg_done(void *arg, PGresult *const *res, int nres, const char *err, const char *code)
{
    struct lpg *u = arg;
    struct fdn_node *n = u->node;
    lua_State *L = n->L;
    int cb = u->cb_ref, self = u->self_ref;
    u->cb_ref = u->self_ref = LUA_NOREF;
    lua_rawgeti(L, LUA_REGISTRYINDEX, self); /* on the stack through the call: cannot be freed */
    int anchor = lua_gettop(L);
    fdn_node_call_begin(n, l_deliver);
    lua_rawgeti(L, LUA_REGISTRYINDEX, cb);
    if (res && !err)
        lua_pushlightuserdata(L, (void *)res);
    else
        lua_pushboolean(L, 0);
    lua_pushstring(L, err);
    lua_pushstring(L, code);
    lua_pushinteger(L, nres);
    lua_pushinteger(L, u->pg ? (lua_Integer)fdn_pg_prepared(u->pg) : 0);
    fdn_node_call_end(n, 6);
    lua_settop(L, anchor - 1);
    luaL_unref(L, LUA_REGISTRYINDEX, cb);
    luaL_unref(L, LUA_REGISTRYINDEX, self);
}

static struct lpg *check_conn(lua_State *L)
{
    struct lpg *u = luaL_checkudata(L, 1, PG_MT);
    if (!u->pg)
        luaL_argerror(L, 1, "connection closed");
    return u;
}

/* connect(params, cb) -> conn (cb(true) or cb(false, message, "08001") later), or nil,
 * message. params: libpq's keywords and their string values. */
static int l_pg_connect(lua_State *L)
{
    struct fdn_node *n = fdn_node_from_upvalue(L);
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    int count = 0;
    for (lua_pushnil(L); lua_next(L, 1); lua_pop(L, 1)) {
        if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
            luaL_argerror(L, 1, "keywords and values must be strings");
        count++;
    }
    const char **kv = lua_newuserdatauv(L, sizeof(char *) * 2 * ((size_t)count + 1), 0);
    const char **keys = kv, **vals = kv + count + 1;
    int i = 0;
    for (lua_pushnil(L); lua_next(L, 1); lua_pop(L, 1)) {
        keys[i] = lua_tostring(L, -2); /* alive: the table holds them */
        vals[i++] = lua_tostring(L, -1);
    }
    keys[i] = vals[i] = NULL;
    struct lpg *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->node = n;
    u->pg = NULL;
    u->cb_ref = u->self_ref = LUA_NOREF;
    luaL_setmetatable(L, PG_MT);
    char err[256];
    if (fdn_pg_new(n->base, keys, vals, lpg_done, u, &u->pg, err, sizeof err) < 0) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    lua_pushvalue(L, 2);
    u->cb_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pushvalue(L, -1);
    u->self_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return 1;
}

/* Binds statement t's parameters t[1..t.n] into mem (NUM_LEN bytes of number text each). */
static void bind_params(lua_State *L, int t, int n, const char **vals, int *lens, int *fmts,
                        char *nums)
{
    for (int i = 0; i < n; i++) {
        int ty = lua_rawgeti(L, t, i + 1);
        char *num = nums + (size_t)i * NUM_LEN;
        lens[i] = fmts[i] = 0;
        vals[i] = num;
        if (ty == LUA_TNIL || fdn_json_is_null(L, -1))
            vals[i] = NULL;
        else if (ty == LUA_TBOOLEAN)
            vals[i] = lua_toboolean(L, -1) ? "t" : "f";
        else if (ty == LUA_TNUMBER && lua_isinteger(L, -1))
            snprintf(num, NUM_LEN, "%lld", (long long)lua_tointeger(L, -1));
        else if (ty == LUA_TNUMBER) {
            double d = lua_tonumber(L, -1);
            if (isnan(d))
                vals[i] = "NaN";
            else if (isinf(d))
                vals[i] = d > 0 ? "Infinity" : "-Infinity";
            else
                snprintf(num, NUM_LEN, "%.17g", d);
        } else if (ty == LUA_TSTRING) {
            size_t len;
            vals[i] = lua_tolstring(L, -1, &len); /* alive: the table holds it */
            if (len > 0x7fffffff)
                luaL_error(L, "parameter %d: string too long", i + 1);
            lens[i] = (int)len;
            fmts[i] = !is_text((const unsigned char *)vals[i], len);
        } else
            luaL_error(L, "parameter %d: cannot bind a %s", i + 1, luaL_typename(L, -1));
        lua_pop(L, 1);
    }
}

/* conn:send(batch, cb) -> true (cb(true, rows1, changes1, ...) or cb(false, message, code)
 * later), or nil, message when it could not be sent. batch: 1..FDN_PG_MAX_BATCH statements
 * { sql = text, name = prepared name, n = count, [1..n] = parameters } (see pg.h for sql and
 * name); parameters: nil or json.null, boolean, integer, float, string (tables: encode them
 * first). */
static int l_pg_send(lua_State *L)
{
    struct lpg *u = check_conn(L);
    luaL_checktype(L, 2, LUA_TTABLE);
    luaL_checktype(L, 3, LUA_TFUNCTION);
    lua_Integer k = luaL_len(L, 2);
    luaL_argcheck(L, k >= 1 && k <= FDN_PG_MAX_BATCH, 2, "1 to 16 statements");
    struct fdn_pg_stmt st[FDN_PG_MAX_BATCH];
    for (int s = 0; s < k; s++) {
        lua_rawgeti(L, 2, s + 1);
        int t = lua_gettop(L);
        luaL_argcheck(L, lua_istable(L, t), 2, "each statement is a table");
        lua_getfield(L, t, "sql");
        lua_getfield(L, t, "name");
        lua_getfield(L, t, "n");
        st[s].sql = lua_tostring(L, t + 1); /* alive: the statement's table holds them */
        st[s].name = lua_tostring(L, t + 2);
        lua_Integer n = lua_tointeger(L, t + 3);
        luaL_argcheck(L, st[s].sql || st[s].name, 2, "a statement has sql or a name");
        luaL_argcheck(L, n >= 0 && n <= MAX_PARAMS, 2, "too many parameters");
        lua_pop(L, 3);
        size_t each = sizeof(char *) + 2 * sizeof(int) + NUM_LEN;
        char *mem = lua_newuserdatauv(L, each * (size_t)n + 1, 0); /* freed with the stack */
        st[s].n = (int)n;
        st[s].vals = (const char **)mem;
        st[s].lens = (int *)(mem + sizeof(char *) * (size_t)n);
        st[s].fmts = st[s].lens + n;
        bind_params(L, t, (int)n, (const char **)st[s].vals, (int *)st[s].lens, (int *)st[s].fmts,
                    (char *)(st[s].fmts + n));
        lua_replace(L, t); /* the memory stays on the stack; the table is held by the batch */
    }
    char err[256];
    if (fdn_pg_send(u->pg, st, (int)k, lpg_done, u, err, sizeof err) < 0) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    lua_pushvalue(L, 3);
    u->cb_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pushvalue(L, 1);
    u->self_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pushboolean(L, 1);
    return 1;
}

static int l_pg_state(lua_State *L)
{
    static const char *names[] = {"connecting", "idle", "busy", "dead"};
    struct lpg *u = luaL_checkudata(L, 1, PG_MT);
    lua_pushstring(L, u->pg ? names[fdn_pg_state(u->pg)] : "closed");
    return 1;
}

/* close(): idempotent; a callback still due is dropped (not called). */
static int l_pg_close(lua_State *L)
{
    struct lpg *u = luaL_checkudata(L, 1, PG_MT);
    fdn_pg_free(u->pg);
    u->pg = NULL;
    release(L, u);
    return 0;
}

static const luaL_Reg conn_methods[] = {
    {"send", l_pg_send},
    {"state", l_pg_state},
    {"close", l_pg_close},
    {NULL, NULL},
};

static const luaL_Reg pg_funcs[] = {
    {"connect", l_pg_connect},
    {NULL, NULL},
};

int luaopen_fdn_core_pg(lua_State *L)
{
    if (luaL_newmetatable(L, PG_MT)) {
        luaL_newlib(L, conn_methods);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, l_pg_close);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, l_pg_close);
        lua_setfield(L, -2, "__close");
    }
    lua_pop(L, 1);
    luaL_newlibtable(L, pg_funcs);
    lua_pushvalue(L, lua_upvalueindex(1));
    luaL_setfuncs(L, pg_funcs, 1);
    return 1;
}
