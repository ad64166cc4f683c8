/* guard.c: the Lua state's guards. The allocator counts bytes and refuses to
 * pass the cap (Lua then raises "not enough memory" in the code that asked);
 * a count hook raises an error in code that has run past the dispatch's time
 * budget, and keeps raising until the dispatch ends, so a pcall in a loop
 * cannot swallow it. */
#include "guard.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>

#include "util.h"

/* instructions between two looks at the clock: ~10 µs of Lua, a negligible cost */
#define HOOK_EVERY 10000

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void *fdn_guard_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct fdn_guard *g = ud;
    if (!ptr)
        osize = 0; /* osize then encodes the type of the new object, not a size */
    if (nsize == 0) {
        free(ptr);
        g->used -= osize;
        return NULL;
    }
    if (g->cap && g->enforce && nsize > osize && g->used - osize + nsize > g->cap) {
        g->refused++;
        return NULL;
    }
    void *p = realloc(ptr, nsize);
    if (p)
        g->used = g->used - osize + nsize;
    return p;
}

static struct fdn_guard *guard_of(lua_State *L)
{
    void *ud;
    lua_getallocf(L, &ud);
    return ud;
}

/* Past the budget the hook raises in user code only, and in the thread that
 * ran too long it fires at every instruction from then on, so that a loop
 * around pcall cannot swallow the error: it is raised again the moment the
 * loop's own code runs. fdnode's library code is let through so that the
 * error is turned into an answer for the caller. */
static void budget_hook(lua_State *L, lua_Debug *ar)
{
    struct fdn_guard *g = guard_of(L);
    if (!g->budget_ns || !g->depth)
        return;
    if (!g->tripped) {
        if (now_ns() - g->start_ns <= g->budget_ns)
            return;
        g->tripped = 1;
        g->aborted++;
    }
    lua_Hook hook = lua_gethook(L);
    if (lua_gethookcount(L) != 1 && hook && g->ntripped < 8) {
        lua_pushthread(L);
        g->tripped_refs[g->ntripped++] = luaL_ref(L, LUA_REGISTRYINDEX);
        lua_sethook(L, budget_hook, LUA_MASKCOUNT, 1);
    }
    if (lua_getinfo(L, "S", ar) && ar->source &&
        strncmp(ar->source, g->lib_prefix, strlen(g->lib_prefix)) == 0)
        return;
    luaL_error(L, "handler stopped: it ran over the call budget of %d ms without yielding",
               (int)(g->budget_ns / 1000000u));
}

void fdn_guard_install(lua_State *L, struct fdn_guard *g, const char *lib_dir)
{
    snprintf(g->lib_prefix, sizeof g->lib_prefix, "@%s/lua/", lib_dir);
    if (g->budget_ns)
        lua_sethook(L, budget_hook, LUA_MASKCOUNT, HOOK_EVERY);
}

void fdn_guard_enter(struct fdn_guard *g)
{
    if (g->depth++ == 0 && g->budget_ns)
        g->start_ns = now_ns();
}

void fdn_guard_leave(struct fdn_guard *g, lua_State *L)
{
    if (--g->depth > 0 || !g->tripped)
        return;
    /* the dispatch is over: the threads that ran too long go back to the
     * ordinary hook (they may be reused from the coroutine pool) */
    for (int i = 0; i < g->ntripped; i++) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, g->tripped_refs[i]);
        lua_State *t = lua_tothread(L, -1);
        if (t)
            lua_sethook(t, budget_hook, LUA_MASKCOUNT, HOOK_EVERY);
        lua_pop(L, 1);
        luaL_unref(L, LUA_REGISTRYINDEX, g->tripped_refs[i]);
    }
    g->ntripped = 0;
    g->tripped = 0;
}
