/* lua_metrics.c: fdn.core.metrics, the Lua side's door to the node's counters (metrics.h):
 * series(kind, path, name) once per service method or event, then timed() (or clock() and
 * served()) and count() on the request path, and render() and stats() when someone looks. */
#include <lauxlib.h>
#include <time.h>

#include "metrics.h"
#include "node.h"

static const char *const kinds[] = {"served", "remote", "event", NULL};

/* series(kind, path, name) -> n: kind "served", "remote" or "event"; 0 once the table is full. */
static int l_metrics_series(lua_State *L)
{
    struct fdn_node *n = fdn_node_from_upvalue(L);
    int kind = luaL_checkoption(L, 1, NULL, kinds);
    const char *path = luaL_checkstring(L, 2), *name = luaL_checkstring(L, 3);
    lua_pushinteger(L, fdn_metrics_series(n->metrics, (enum fdn_metrics_kind)kind, path, name));
    return 1;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* clock() -> ns: a monotonic clock, for served()'s t0. */
static int l_metrics_clock(lua_State *L)
{
    lua_pushinteger(L, now_ns());
    return 1;
}

/* The status code of what a failed call raised (its `code`), 500 when it has none. The stack
 * is left as it was. */
static int code_of(lua_State *L, int i)
{
    int code = 500;
    if (lua_type(L, i) != LUA_TTABLE)
        return code;
    if (lua_getfield(L, i, "code") == LUA_TNUMBER && lua_isinteger(L, -1)) {
        lua_Integer c = lua_tointeger(L, -1);
        code = c >= 400 && c <= 599 ? (int)c : 500;
    }
    lua_pop(L, 1);
    return code;
}

/* served(n, t0, ok, err): a call of series n, begun at clock() t0, ended (ok, or failed with
 * err). */
static int l_metrics_served(lua_State *L)
{
    struct fdn_node *n = fdn_node_from_upvalue(L);
    int64_t ns = now_ns() - (int64_t)lua_tointeger(L, 2);
    int code = lua_toboolean(L, 3) ? 0 : code_of(L, 4);
    fdn_metrics_count(n->metrics, (int)lua_tointeger(L, 1), code, ns < 0 ? 0 : ns);
    return 0;
}

/* xpcall's continuation: the call ended (or resumed and ended). Stack: n, f, msgh, true, and
 * the results; or, after an error, the error on top. t0, the start, is the context. */
static int timed_done(lua_State *L, int status, lua_KContext t0)
{
    struct fdn_node *n = fdn_node_from_upvalue(L);
    int64_t ns = now_ns() - (int64_t)t0;
    int failed = status != LUA_OK && status != LUA_YIELD;
    fdn_metrics_count(n->metrics, (int)lua_tointeger(L, 1), failed ? code_of(L, -1) : 0,
                      ns < 0 ? 0 : ns);
    if (failed) {
        lua_pushboolean(L, 0);
        lua_rotate(L, -2, 1);
        return 2;
    }
    return lua_gettop(L) - 3;
}

/* timed(n, f, msgh, ...) -> as xpcall(f, msgh, ...): the call counted in series n, with its
 * duration. One C call where a served call already makes one (xpcall): counting costs no extra
 * trip between Lua and C. Yieldable, as xpcall. */
static int l_metrics_timed(lua_State *L)
{
    int nargs = lua_gettop(L) - 3;
    luaL_checktype(L, 3, LUA_TFUNCTION);
    lua_KContext t0 = (lua_KContext)now_ns();
    lua_pushboolean(L, 1); /* n, f, msgh, args, true */
    lua_pushvalue(L, 2);   /* ..., true, f */
    lua_rotate(L, 4, 2);   /* n, f, msgh, true, f, args */
    int status = lua_pcallk(L, nargs, LUA_MULTRET, 3, t0, timed_done);
    return timed_done(L, status, t0);
}

/* count(n, ok, err): a remote call (or, with ok true, an event) of series n. */
static int l_metrics_count(lua_State *L)
{
    struct fdn_node *n = fdn_node_from_upvalue(L);
    int code = lua_toboolean(L, 2) ? 0 : code_of(L, 3);
    fdn_metrics_count(n->metrics, (int)lua_tointeger(L, 1), code, -1);
    return 0;
}

static void put_buffer(void *arg, const char *s, size_t len)
{
    luaL_addlstring(arg, s, len);
}

/* render() -> text: the exposition of the counters kept in C and of the process. */
static int l_metrics_render(lua_State *L)
{
    struct fdn_node *n = fdn_node_from_upvalue(L);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    fdn_metrics_render(n->metrics, put_buffer, &b);
    luaL_pushresult(&b);
    return 1;
}

static void set_number(lua_State *L, const char *k, double v)
{
    lua_pushnumber(L, v);
    lua_setfield(L, -2, k);
}

/* stats() -> { rss, cpu, fds, start, lua, now (seconds since the epoch), series = { {kind, path,
 * name, calls, errors, seconds}, ... } }: the figures of the cluster page. */
static int l_metrics_stats(lua_State *L)
{
    struct fdn_node *n = fdn_node_from_upvalue(L);
    struct fdn_process p;
    fdn_metrics_process(n->metrics, &p);
    lua_createtable(L, 0, 6);
    set_number(L, "rss", p.rss);
    set_number(L, "cpu", p.cpu);
    set_number(L, "fds", p.fds);
    set_number(L, "start", p.start);
    set_number(L, "lua", (double)n->mem.used);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    set_number(L, "now", (double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
    lua_newtable(L);
    int kind;
    const char *path, *name;
    uint64_t calls, errors;
    double seconds;
    for (int i = 1;
         fdn_metrics_get(n->metrics, i, &kind, &path, &name, &calls, &errors, &seconds) == 0; i++) {
        lua_createtable(L, 0, 6);
        lua_pushstring(L, kinds[kind]);
        lua_setfield(L, -2, "kind");
        lua_pushstring(L, path);
        lua_setfield(L, -2, "path");
        lua_pushstring(L, name);
        lua_setfield(L, -2, "name");
        set_number(L, "calls", (double)calls);
        set_number(L, "errors", (double)errors);
        set_number(L, "seconds", seconds);
        lua_rawseti(L, -2, i);
    }
    lua_setfield(L, -2, "series");
    return 1;
}

static const luaL_Reg metrics_funcs[] = {
    {"series", l_metrics_series}, {"clock", l_metrics_clock},
    {"served", l_metrics_served}, {"count", l_metrics_count},
    {"render", l_metrics_render}, {"stats", l_metrics_stats},
    {"timed", l_metrics_timed},   {NULL, NULL},
};

int luaopen_fdn_core_metrics(lua_State *L)
{
    luaL_newlibtable(L, metrics_funcs);
    lua_pushvalue(L, lua_upvalueindex(1));
    luaL_setfuncs(L, metrics_funcs, 1);
    return 1;
}
