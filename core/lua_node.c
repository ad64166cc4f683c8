/* lua_node.c: the node's reactor services for Lua (fdn.core.node): timers, the
 * monotonic clock, logging, starting the gateway and stopping the node. */
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <lauxlib.h>

#include "http.h"
#include "node.h"
#include "util.h"

#define TIMER_MT "fdn.timer"

struct ltimer {
    struct event *ev;
    struct fdn_node *node;
    int self_ref; /* registry ref that keeps the userdata alive while armed */
    int repeat;
};

static void disarm(lua_State *L, struct ltimer *t)
{
    if (t->ev)
        event_del(t->ev);
    if (t->self_ref != LUA_NOREF) {
        luaL_unref(L, LUA_REGISTRYINDEX, t->self_ref);
        t->self_ref = LUA_NOREF;
    }
}

static void timer_fire_cb(evutil_socket_t fd, short what, void *arg)
{
    struct ltimer *t = arg;
    (void)fd;
    (void)what;
    struct fdn_node *n = t->node;
    lua_State *L = n->L;
    int ref = t->self_ref;
    int repeat = t->repeat;
    if (ref == LUA_NOREF)
        return;
    if (!repeat)
        t->self_ref = LUA_NOREF; /* one-shot: released after the dispatch below */
    /* The userdata stays on the stack through the dispatch: a callback that
     * cancels its own timer cannot get it collected under our feet. */
    lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
    int anchor = lua_gettop(L);
    fdn_node_dispatch_begin(n, "timer");
    lua_getiuservalue(L, anchor, 1);
    fdn_node_dispatch_end(n, 1);
    lua_settop(L, anchor - 1);
    if (!repeat)
        luaL_unref(L, LUA_REGISTRYINDEX, ref);
}

/* timer(ms, fn [, repeat]) -> handle: calls dispatch("timer", fn) after ms. */
static int l_node_timer(lua_State *L)
{
    struct fdn_node *n = fdn_node_from_upvalue(L);
    lua_Number ms = luaL_checknumber(L, 1);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    int repeat = lua_toboolean(L, 3);
    luaL_argcheck(L, ms == ms, 1, "not a number");
    if (ms < 0)
        ms = 0;
    if (ms > 2592000000.0) /* 30 days: also keeps the conversions below defined */
        ms = 2592000000.0;
    struct ltimer *t = lua_newuserdatauv(L, sizeof *t, 1);
    t->node = n;
    t->repeat = repeat;
    t->self_ref = LUA_NOREF;
    t->ev = event_new(n->base, -1, repeat ? EV_PERSIST : 0, timer_fire_cb, t);
    luaL_setmetatable(L, TIMER_MT);
    lua_pushvalue(L, 2);
    lua_setiuservalue(L, -2, 1);
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((long long)(ms * 1000) % 1000000)};
    /* libevent counts from the time it cached when this turn of the loop began; Lua may have
     * run for a while since (long under a sanitizer), and a timer must not fire early */
    event_base_update_cache_time(n->base);
    event_add(t->ev, &tv);
    lua_pushvalue(L, -1);
    t->self_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return 1;
}

static int l_timer_cancel(lua_State *L)
{
    struct ltimer *t = luaL_checkudata(L, 1, TIMER_MT);
    disarm(L, t);
    return 0;
}

static int l_timer_gc(lua_State *L)
{
    struct ltimer *t = luaL_checkudata(L, 1, TIMER_MT);
    disarm(L, t);
    if (t->ev) {
        event_free(t->ev);
        t->ev = NULL;
    }
    return 0;
}

/* now() -> milliseconds on the monotonic clock (float). */
static int l_node_now(lua_State *L)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec * 1e3 + (lua_Number)ts.tv_nsec / 1e6);
    return 1;
}

/* log(level, message): level 0 debug .. 3 error. */
static int l_node_log(lua_State *L)
{
    lua_Integer level = luaL_checkinteger(L, 1);
    const char *msg = luaL_checkstring(L, 2);
    fdn_log((int)level, "%s", msg);
    return 0;
}

static int l_node_log_level(lua_State *L)
{
    lua_pushinteger(L, fdn_log_level());
    return 1;
}

/* exit([code]): stops the reactor; fdnode exits with code (default: as set so far). */
static int l_node_exit(lua_State *L)
{
    struct fdn_node *n = fdn_node_from_upvalue(L);
    if (!lua_isnoneornil(L, 1))
        n->exit_code = (int)luaL_checkinteger(L, 1);
    fdn_node_exit(n);
    return 0;
}

/* http_listen() -> true | nil, err: starts the gateway configured by --http. */
static int l_node_http_listen(lua_State *L)
{
    struct fdn_node *n = fdn_node_from_upvalue(L);
    if (n->cfg.http_port <= 0 || n->http) {
        lua_pushboolean(L, n->http != NULL);
        return 1;
    }
    if (fdn_http_start(n, n->cfg.http_host, n->cfg.http_port, &n->http) < 0) {
        lua_pushnil(L);
        lua_pushfstring(L, "cannot listen on %s:%d", n->cfg.http_host, n->cfg.http_port);
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* info() -> table: this node's id, name and configuration. */
static int l_node_info(lua_State *L)
{
    struct fdn_node *n = fdn_node_from_upvalue(L);
    lua_createtable(L, 0, 16);
    lua_pushstring(L, n->id_hex);
    lua_setfield(L, -2, "id");
    lua_pushstring(L, FDN_VERSION); /* meson.build's project version: the one source */
    lua_setfield(L, -2, "version");
    lua_pushstring(L, n->cfg.name);
    lua_setfield(L, -2, "name");
    lua_pushinteger(L, n->cfg.timeout_ms);
    lua_setfield(L, -2, "timeout");
    lua_pushinteger(L, n->cfg.http_port);
    lua_setfield(L, -2, "http_port");
    lua_pushstring(L, n->cfg.http_host);
    lua_setfield(L, -2, "http_host");
    lua_pushinteger(L, n->cfg.shutdown_ms);
    lua_setfield(L, -2, "shutdown_ms");
    lua_pushstring(L, n->cfg.lib_dir);
    lua_setfield(L, -2, "lib_dir");
    lua_pushstring(L, n->cfg.bind);
    lua_setfield(L, -2, "bind");
    lua_pushinteger(L, n->cfg.port);
    lua_setfield(L, -2, "port");
    lua_pushstring(L, n->cfg.key);
    lua_setfield(L, -2, "key");
    if (n->cfg.seeds) {
        lua_pushstring(L, n->cfg.seeds);
        lua_setfield(L, -2, "seeds");
    }
    lua_pushinteger(L, n->cfg.grace_ms);
    lua_setfield(L, -2, "grace");
    lua_pushboolean(L, n->cfg.watch);
    lua_setfield(L, -2, "watch");
    return 1;
}

/* --- tasks on pooled threads ---------------------------------------------------------------
 * spawn(fn, ...) runs fn(...) as the main function of a thread of its own, now, until it first
 * waits or ends. A thread whose function returned is empty again and can run the next task, so
 * finished threads are parked and reused: a task costs no new thread and no wrapper function,
 * and one that never waits never yields (no longjmp). */
#define POOL_MAX 512
_Static_assert(LUA_EXTRASPACE >= sizeof(void *), "a thread's extra space holds a pointer");

static int is_task_thread(lua_State *co)
{
    return fdn_task_of(co) != NULL;
}

/* A new task thread (on top of L): its extra space points to its struct fdn_task (guard.h), a
 * userdata that lives as long as the thread (the value of a weak-keyed registry table). */
static const char tasks_key;

static void new_task(lua_State *L)
{
    struct fdn_task *t = lua_newuserdatauv(L, sizeof *t, 0);
    memset(t, 0, sizeof *t);
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &tasks_key) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_createtable(L, 0, 1);
        lua_pushliteral(L, "k");
        lua_setfield(L, -2, "__mode");
        lua_setmetatable(L, -2);
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &tasks_key);
    }
    lua_pushvalue(L, -3); /* tasks[thread] = t */
    lua_pushvalue(L, -3);
    lua_rawset(L, -3);
    lua_pop(L, 2);
    *(struct fdn_task **)lua_getextraspace(lua_tothread(L, -1)) = t;
}

/* co (at index idx of L) ended its task: parked for the next one, unless the pool is full */
static void park(lua_State *L, struct fdn_node *n, int idx)
{
    if (n->pool_n >= POOL_MAX || !lua_checkstack(n->pool, 1))
        return;
    lua_pushvalue(L, idx);
    lua_xmove(L, n->pool, 1);
    n->pool_n++;
}

/* The task on co raised: logged with co's traceback (its stack is still there); co, dead, is
 * not reused. */
static void task_failed(lua_State *L, lua_State *co)
{
    lua_xmove(co, L, 1); /* the error object */
    const char *msg = luaL_tolstring(L, -1, NULL);
    luaL_traceback(L, co, msg, 0);
    fdn_error("uncaught error in task: %s", lua_tostring(L, -1));
    lua_pop(L, 3);
}

/* Names the call a task serves: the strings at indexes p and m of L, its service path and method
 * (copied: the watchdog reads them in a signal handler); none when either is not a string. */
static void name_task(struct fdn_task *t, lua_State *L, int p, int m)
{
    t->path[0] = '\0';
    if (lua_type(L, p) != LUA_TSTRING || lua_type(L, m) != LUA_TSTRING)
        return;
    size_t lp, lm;
    const char *ps = lua_tolstring(L, p, &lp), *ms = lua_tolstring(L, m, &lm);
    if (lp > sizeof t->path - 1)
        lp = sizeof t->path - 1;
    if (lm > sizeof t->method - 1)
        lm = sizeof t->method - 1;
    memcpy(t->method, ms, lm);
    t->method[lm] = '\0';
    memcpy(t->path, ps, lp);
    t->path[lp] = '\0';
}

/* spawn(fn, ...); with call, spawn_call(fn, path, method, ...): a task that serves that call. */
static int spawn(lua_State *L, int call)
{
    struct fdn_node *n = fdn_node_from_upvalue(L);
    luaL_checktype(L, 1, LUA_TFUNCTION);
    int narg = lua_gettop(L);
    lua_State *co;
    if (n->pool_n > 0) {
        lua_xmove(n->pool, L, 1);
        n->pool_n--;
        co = lua_tothread(L, -1);
    } else {
        co = lua_newthread(L);
        new_task(L);
    }
    if (call && n->guard.budget_ns)
        name_task(fdn_task_of(co), L, 2, 3);
    else
        fdn_task_of(co)->path[0] = '\0'; /* (a pooled thread named its last call) */
    lua_insert(L, 1); /* co stays referenced below fn and its arguments while it runs */
    if (!lua_checkstack(co, narg)) /* (raised in L: co is not running) */
        return luaL_error(L, "too many arguments to spawn");
    lua_xmove(L, co, narg);
    int nres;
    int status = fdn_guard_resume(&n->guard, co, L, narg - 1, &nres);
    if (status == LUA_OK) {
        lua_pop(co, nres);
        park(L, n, 1);
    } else if (status != LUA_YIELD) {
        task_failed(L, co);
    }
    return 0;
}

static int l_node_spawn(lua_State *L)
{
    return spawn(L, 0);
}

/* spawn_call(fn, path, method, ...): spawn(fn, path, method, ...) for a task that serves the
 * call of path's method: should it get stuck inside C, the watchdog names that call. */
static int l_node_spawn_call(lua_State *L)
{
    return spawn(L, 1);
}

/* resume(co, ...) -> true, results... | false, err: coroutine.resume that
 * tells the call budget's watchdog which thread runs (sched.lua and the
 * coroutine library use it). */
static int l_node_resume(lua_State *L)
{
    struct fdn_node *n = fdn_node_from_upvalue(L);
    lua_State *co = lua_tothread(L, 1);
    luaL_argexpected(L, co, 1, "coroutine");
    int narg = lua_gettop(L) - 1;
    lua_Debug ar;
    int status = lua_status(co);
    const char *refuse = NULL;
    if (co == L || (status == LUA_OK && lua_getstack(co, 0, &ar)))
        refuse = "cannot resume non-suspended coroutine";
    else if ((status == LUA_OK && lua_gettop(co) == 0) || (status != LUA_OK && status != LUA_YIELD))
        refuse = "cannot resume dead coroutine";
    else if (!lua_checkstack(co, narg))
        refuse = "too many arguments to resume";
    if (refuse) {
        lua_pushboolean(L, 0);
        lua_pushstring(L, refuse);
        return 2;
    }
    lua_xmove(L, co, narg);
    int nres;
    status = fdn_guard_resume(&n->guard, co, L, narg, &nres);
    if (status == LUA_OK || status == LUA_YIELD) {
        if (!lua_checkstack(L, nres + 3)) { /* the results, and room to park co */
            lua_pop(co, nres);
            lua_pushboolean(L, 0);
            lua_pushstring(L, "too many results to resume");
            return 2;
        }
        lua_pushboolean(L, 1);
        lua_xmove(co, L, nres);
        if (status == LUA_OK && is_task_thread(co)) /* a spawned task that had waited ended */
            park(L, n, 1);
        return nres + 1;
    }
    lua_pushboolean(L, 0);
    lua_xmove(co, L, 1); /* the error object */
    return 2;
}

/* serving(path, method): the running task serves this call from now on (a task that learns
 * it after it started: the gateway's). Only in the module with a call budget. */
static int l_node_serving(lua_State *L)
{
    struct fdn_task *t = fdn_task_of(L);
    if (t)
        name_task(t, L, 1, 2);
    return 0;
}

static const luaL_Reg node_funcs[] = {
    {"timer", l_node_timer},     {"now", l_node_now},
    {"log", l_node_log},         {"log_level", l_node_log_level},
    {"exit", l_node_exit},       {"http_listen", l_node_http_listen},
    {"info", l_node_info},       {"resume", l_node_resume},
    {"spawn", l_node_spawn},     {"spawn_call", l_node_spawn_call},
    {"serving", l_node_serving}, {NULL, NULL},
};

static const luaL_Reg timer_methods[] = {
    {"cancel", l_timer_cancel},
    {"__gc", l_timer_gc},
    {"__close", l_timer_cancel},
    {NULL, NULL},
};

int luaopen_fdn_core_node(lua_State *L)
{
    if (luaL_newmetatable(L, TIMER_MT)) {
        luaL_setfuncs(L, timer_methods, 0);
        lua_pushvalue(L, -1);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
    luaL_newlibtable(L, node_funcs);
    lua_pushvalue(L, lua_upvalueindex(1));
    luaL_setfuncs(L, node_funcs, 1);
    if (!fdn_node_from_upvalue(L)->guard.budget_ns) { /* no watchdog: nobody to tell */
        lua_pushnil(L);
        lua_setfield(L, -2, "serving");
    }
    return 1;
}
