/* lua_task.c: tasks for Lua on pooled threads (spawn, spawn_call), the resume that tells the
 * call budget's watchdog which thread runs, and the call a task serves (serving). Opened by
 * luaopen_fdn_core_node into fdn.core.node. */
#include <string.h>

#include <lauxlib.h>

#include "guard.h"
#include "node.h"
#include "util.h"

/* spawn(fn, ...) runs fn(...) as the main function of a thread of its own, now, until it first
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

static int l_task_spawn(lua_State *L)
{
    return spawn(L, 0);
}

/* spawn_call(fn, path, method, ...): spawn(fn, path, method, ...) for a task that serves the
 * call of path's method: should it get stuck inside C, the watchdog names that call. */
static int l_task_spawn_call(lua_State *L)
{
    return spawn(L, 1);
}

/* resume(co, ...) -> true, results... | false, err: coroutine.resume that
 * tells the call budget's watchdog which thread runs (sched.lua and the
 * coroutine library use it). */
static int l_task_resume(lua_State *L)
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
static int l_task_serving(lua_State *L)
{
    struct fdn_task *t = fdn_task_of(L);
    if (t)
        name_task(t, L, 1, 2);
    return 0;
}

static const luaL_Reg task_funcs[] = {
    {"spawn", l_task_spawn},
    {"spawn_call", l_task_spawn_call},
    {"resume", l_task_resume},
    {"serving", l_task_serving},
    {NULL, NULL},
};

int luaopen_fdn_core_task(lua_State *L)
{
    luaL_newlibtable(L, task_funcs);
    lua_pushvalue(L, lua_upvalueindex(1));
    luaL_setfuncs(L, task_funcs, 1);
    if (!fdn_node_from_upvalue(L)->guard.budget_ns) { /* no watchdog: nobody to tell */
        lua_pushnil(L);
        lua_setfield(L, -2, "serving");
    }
    return 1;
}
