/* lua_timer.c: the reactor's clock for Lua: timers (core.timer, handles with :cancel) and now.
 * Opened by luaopen_fdn_core_node into fdn.core.node. */
#include <time.h>

#include <event2/event.h>
#include <lauxlib.h>

#include "node.h"
#include "util.h"

#define TIMER_MT "fdn.timer"

struct ltimer {
    struct event *ev;
    struct fdn_node *node;
    int self_ref; /* registry ref that keeps the userdata alive while armed */
    int repeat;
    uint64_t due_ns; /* a one-shot's deadline on fdn_now_ns's clock */
};

/* libevent's clock is CLOCK_MONOTONIC_COARSE (a kernel tick behind the real one, 4 ms here):
 * a timer can fire up to a tick before its time as fdn.now() counts. A one-shot that fires
 * early waits out the rest (rounded up to a millisecond); so fdn.sleep(50) never ends before
 * 50 ms, and the loop needs no timerfd (EVENT_BASE_FLAG_PRECISE_TIMER) on every turn. */
static int rearmed_if_early(struct ltimer *t)
{
    uint64_t now = fdn_now_ns();
    if (t->repeat || now >= t->due_ns)
        return 0;
    uint64_t ms = (t->due_ns - now + 999999u) / 1000000u;
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000 * 1000)};
    event_add(t->ev, &tv);
    return 1;
}

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
    if (ref == LUA_NOREF || rearmed_if_early(t))
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
static int l_timer_new(lua_State *L)
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
    t->due_ns = fdn_now_ns() + (uint64_t)(ms * 1e6);
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
static int l_timer_now(lua_State *L)
{
    lua_pushnumber(L, (lua_Number)fdn_now_ns() / 1e6);
    return 1;
}

static const luaL_Reg timer_funcs[] = {
    {"timer", l_timer_new},
    {"now", l_timer_now},
    {NULL, NULL},
};

static const luaL_Reg timer_methods[] = {
    {"cancel", l_timer_cancel},
    {"__gc", l_timer_gc},
    {"__close", l_timer_cancel},
    {NULL, NULL},
};

int luaopen_fdn_core_timer(lua_State *L)
{
    if (luaL_newmetatable(L, TIMER_MT)) {
        luaL_setfuncs(L, timer_methods, 0);
        lua_pushvalue(L, -1);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
    luaL_newlibtable(L, timer_funcs);
    lua_pushvalue(L, lua_upvalueindex(1));
    luaL_setfuncs(L, timer_funcs, 1);
    return 1;
}
