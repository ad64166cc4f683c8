/* guard.c: the Lua state's time budget. A watchdog (SIGALRM, four times per budget) notices
 * a dispatch that has run past its time budget and only then sets a hook on the running
 * thread, so Lua runs hook-free (no trap per instruction) until something overruns; a
 * thread stuck in C, where the hook never runs, ends the process instead. (The memory cap
 * is alloc.c's.) */
#include "guard.h"

#include <stdio.h>
#include <sys/time.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>

#include "util.h"

/* The watchdog. A signal handler can only reach the guard through a static:
 * the one piece of state outside the node struct besides the log level. It
 * does only what is async-signal-safe: read the clock, and lua_sethook (which
 * Lua's own interpreter calls from its SIGINT handler). */
static struct fdn_guard *watched;

/* Set on the thread that overran, by the watchdog: it fires at every
 * instruction, so a loop around pcall cannot swallow the error (it is raised
 * again the moment the loop's own code runs). fdnode's library code is let
 * through so that the error is turned into an answer for the caller. */
static void budget_hook(lua_State *L, lua_Debug *ar)
{
    struct fdn_guard *g = watched; /* (the watchdog's guard: only it sets the hook) */
    if (!g || !g->depth || !g->tripped) { /* a thread that inherited the hook: heal it */
        lua_sethook(L, NULL, 0, 0);
        return;
    }
    g->hooks++; /* Lua runs: not stuck in C */
    if (lua_getinfo(L, "S", ar) && ar->source &&
        strncmp(ar->source, g->lib_prefix, strlen(g->lib_prefix)) == 0)
        return;
    luaL_error(L, "handler stopped: it ran over the call budget of %d ms without yielding",
               (int)(g->budget_ns / 1000000u));
}


/* Sets the hook on a thread and remembers it, so that it can be cleared when
 * the dispatch ends; a thread that cannot be remembered is not hooked. */
static void hook_thread(struct fdn_guard *g, lua_State *L)
{
    for (int i = 0; i < g->nhooked; i++)
        if (g->hooked[i] == L)
            return;
    if (g->nhooked == (int)(sizeof g->hooked / sizeof g->hooked[0]))
        return;
    g->hooked[g->nhooked++] = L;
    lua_sethook(L, budget_hook, LUA_MASKCOUNT, 1);
}

/* The last words of a node stuck in C, built by hand (no stdio in a signal handler) in the
 * log's format: "HH:MM:SS.mmm error stuck in C: ...". */
struct line {
    char buf[400];
    size_t len;
};

static void put(struct line *l, const char *s, size_t max)
{
    for (size_t i = 0; i < max && s[i] && l->len < sizeof l->buf - 1; i++)
        l->buf[l->len++] = s[i];
}

static void put_num(struct line *l, uint64_t v, int width)
{
    char d[24];
    int n = 0;
    do {
        d[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v && n < (int)sizeof d);
    while (n < width--)
        put(l, "0", 1);
    while (n > 0 && l->len < sizeof l->buf - 1)
        l->buf[l->len++] = d[--n];
}

static void stuck(struct fdn_guard *g, uint64_t now)
{
    struct line l = {.len = 0};
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t day = (uint64_t)ts.tv_sec % 86400u;
    put_num(&l, day / 3600, 2);
    put(&l, ":", 1);
    put_num(&l, day / 60 % 60, 2);
    put(&l, ":", 1);
    put_num(&l, day % 60, 2);
    put(&l, ".", 1);
    put_num(&l, (uint64_t)ts.tv_nsec / 1000000u, 3);
    put(&l, " error stuck in C: ", SIZE_MAX);
    struct fdn_task *t = g->task;
    if (t && t->path[0]) {
        put(&l, "the call to service '", SIZE_MAX);
        put(&l, t->path, sizeof t->path - 1);
        put(&l, "' method '", SIZE_MAX);
        put(&l, t->method, sizeof t->method - 1);
        put(&l, "'", 1);
    } else {
        put(&l, "Lua that serves no call", SIZE_MAX);
    }
    put(&l, " has run ", SIZE_MAX);
    put_num(&l, (now - g->start_ns) / 1000000u, 0);
    put(&l, " ms (call budget ", SIZE_MAX);
    put_num(&l, g->budget_ns / 1000000u, 0);
    put(&l, " ms) inside a C function that cannot be stopped; exiting with status ", SIZE_MAX);
    put_num(&l, FDN_STUCK_EXIT, 0);
    l.buf[l.len++] = '\n';
    ssize_t w = write(STDERR_FILENO, l.buf, l.len);
    (void)w;
    _exit(FDN_STUCK_EXIT);
}

static void watchdog(int sig)
{
    (void)sig;
    struct fdn_guard *g = watched;
    if (!g || !g->depth)
        return;
    uint64_t now = fdn_now_ns();
    if (!g->tripped) {
        if (now - g->start_ns <= g->budget_ns)
            return;
        g->tripped = 1;
        g->aborted++;
        g->hooks_seen = g->hooks;
        g->quiet_ns = now;
        hook_thread(g, g->running ? g->running : g->main);
        return;
    }
    /* Over budget, the thread that runs Lua has the hook, which runs at every instruction:
     * when it has not run for FDN_STUCK_BUDGETS budgets, the thread is inside C. */
    if (g->hooks != g->hooks_seen) {
        g->hooks_seen = g->hooks;
        g->quiet_ns = now;
    } else if (now - g->quiet_ns > FDN_STUCK_BUDGETS * g->budget_ns) {
        stuck(g, now);
    }
}

void fdn_guard_install(lua_State *L, struct fdn_guard *g, const char *lib_dir)
{
    snprintf(g->lib_prefix, sizeof g->lib_prefix, "@%s/lua/", lib_dir);
    g->main = L;
    if (!g->budget_ns)
        return;
    watched = g;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = watchdog;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    /* look four times per budget: an overrun is caught within 1.25 budgets */
    uint64_t every_us = g->budget_ns / 4000u;
    if (every_us < 5000)
        every_us = 5000;
    struct itimerval it = {{(time_t)(every_us / 1000000u), (suseconds_t)(every_us % 1000000u)},
                           {(time_t)(every_us / 1000000u), (suseconds_t)(every_us % 1000000u)}};
    setitimer(ITIMER_REAL, &it, NULL);
}

void fdn_guard_uninstall(struct fdn_guard *g)
{
    if (watched != g)
        return;
    struct itimerval off;
    memset(&off, 0, sizeof off);
    setitimer(ITIMER_REAL, &off, NULL);
    signal(SIGALRM, SIG_IGN);
    watched = NULL;
}

void fdn_guard_enter(struct fdn_guard *g)
{
    if (g->depth == 0 && g->budget_ns)
        g->start_ns = fdn_now_ns();
    g->depth++;
}

void fdn_guard_restart(struct fdn_guard *g)
{
    if (g->depth == 1 && g->budget_ns)
        g->start_ns = fdn_now_ns();
}

void fdn_guard_leave(struct fdn_guard *g, lua_State *L)
{
    (void)L;
    if (--g->depth > 0 || !g->tripped)
        return;
    /* the dispatch is over: the threads that overran lose the hook (they may
     * be reused from the coroutine pool) */
    for (int i = 0; i < g->nhooked; i++)
        lua_sethook(g->hooked[i], NULL, 0, 0);
    g->nhooked = 0;
    g->tripped = 0;
}

int fdn_guard_resume(struct fdn_guard *g, lua_State *co, lua_State *from, int narg, int *nres)
{
    lua_State *outer = g->running;
    struct fdn_task *outer_task = g->task, *t = fdn_task_of(co);
    g->running = co;
    if (t) /* (a coroutine of the user's runs within the task that resumed it) */
        g->task = t;
    if (g->tripped) /* already over budget: user code resumed now is stopped too */
        hook_thread(g, co);
    int status = lua_resume(co, from, narg, nres);
    g->running = outer;
    g->task = outer_task;
    if (g->tripped) /* and so is the code it goes back to (the hook must see all Lua that runs) */
        hook_thread(g, outer ? outer : g->main);
    return status;
}
