/* node.c: the node's life: create the reactor and the Lua state, boot the Lua
 * side, run, stop in order on SIGTERM/SIGINT, and the one dispatch door into Lua. */
#include "node.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <event2/event.h>
#include <lauxlib.h>
#include <lualib.h>

#include "discovery.h"
#include "eio_server.h"
#include "reactor.h"
#include "http.h"
#include "metrics.h"
#include "link.h"
#include "module.h"
#include "tls.h"
#include "util.h"
#include "worker.h"

int luaopen_fdn_core_node(lua_State *L);
int luaopen_fdn_core_json(lua_State *L);
int luaopen_fdn_core_qs(lua_State *L);
int luaopen_fdn_core_http(lua_State *L);
int luaopen_fdn_core_metrics(lua_State *L);
int luaopen_fdn_core_link(lua_State *L);
int luaopen_fdn_core_rpc(lua_State *L);
int luaopen_fdn_core_discovery(lua_State *L);
int luaopen_fdn_core_watch(lua_State *L);
int luaopen_fdn_core_socket(lua_State *L);
int luaopen_fdn_core_jwt(lua_State *L);
int luaopen_fdn_core_bcrypt(lua_State *L);
int luaopen_fdn_core_sqlite(lua_State *L);
int luaopen_fdn_core_http_client(lua_State *L);
int luaopen_fdn_core_seal(lua_State *L);
int luaopen_fdn_core_batch(lua_State *L);

struct fdn_node *fdn_node_from_upvalue(lua_State *L)
{
    return lua_touserdata(L, lua_upvalueindex(1));
}

static void random_id(uint8_t id[16])
{
    size_t got = 0;
    while (got < 16) {
        ssize_t r = getrandom(id + got, 16 - got, 0);
        if (r <= 0) {
            fdn_error("getrandom failed");
            abort();
        }
        got += (size_t)r;
    }
}

struct fdn_node *fdn_node_new(const struct fdn_config *cfg)
{
    struct fdn_node *n = xcalloc(1, sizeof *n);
    n->cfg = *cfg;
    /* libevent's default clock (CLOCK_MONOTONIC_COARSE, a tick behind): no
     * EVENT_BASE_FLAG_PRECISE_TIMER, which arms a timerfd on every turn of the loop (8-15% of a
     * busy node's CPU in profiles). Lua's one-shot timers wait out a tick's lag themselves
     * (lua_timer.c), so fdn.sleep(50) still never ends before 50 ms as fdn.now() counts. */
    n->base = event_base_new();
    n->metrics = fdn_metrics_new();
    if (!n->base) {
        fdn_error("cannot create the event loop");
        free(n);
        return NULL;
    }
    random_id(n->id);
    for (int i = 0; i < 16; i++)
        snprintf(n->id_hex + 2 * i, 3, "%02x", n->id[i]);
    n->dispatch_ref = LUA_NOREF;
    n->traceback_ref = LUA_NOREF;
    if (cfg->secret) {
        size_t len = strlen(cfg->secret);
        if (fdn_tls_new(cfg->secret, len, cfg->key, &n->tls) < 0) {
            event_base_free(n->base);
            free(n);
            return NULL;
        }
        if (len < 16) /* a captured beacon lets anyone try guesses offline */
            fdn_warn("the cluster secret is short (%zu characters): use 16 or more random ones",
                     len);
    }
    return n;
}

void fdn_node_free(struct fdn_node *n)
{
    if (!n)
        return;
    fdn_eio_server_free(n->eio); /* before the gateway: a held GET is one of its requests */
    n->eio = NULL;
    fdn_http_free(n->http);
    n->http = NULL;
    fdn_http_free(n->admin);
    n->admin = NULL;
    fdn_metrics_free(n->metrics);
    n->metrics = NULL;
    fdn_links_free(n->links);
    n->links = NULL;
    fdn_discovery_free(n->discovery);
    n->discovery = NULL;
    /* joins the threads (a hash running ends first); the jobs not handed back release their
     * callbacks' refs: before the Lua state goes */
    fdn_worker_free(n->bcrypt);
    n->bcrypt = NULL;
    fdn_guard_uninstall(&n->guard); /* no watchdog signal once the node is going */
    if (n->L)
        lua_close(n->L);       /* finalizers free timers before the base goes */
    fdn_module_shutdown_all(); /* NATS: the connections closed with the state, its threads end */
    fdn_alloc_release(&n->mem);
    struct event **evs[] = {&n->sig_term,       &n->sig_int,   &n->sig_hup,
                            &n->shutdown_timer, &n->exit_poll, &n->reclaim};
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
        if (*evs[i])
            event_free(*evs[i]);
    event_base_free(n->base);
    fdn_tls_free(n->tls); /* after every link: their sessions use its configuration */
    free(n);
}

static int traceback_handler(lua_State *L)
{
    if (!lua_isstring(L, 1) && !lua_isnoneornil(L, 1)) {
        /* an error object (e.g. fdn.errors): keep it, tostring gives its message */
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
            luaL_traceback(L, L, lua_tostring(L, -1), 1);
        else
            luaL_traceback(L, L, luaL_typename(L, 1), 1);
        return 1;
    }
    luaL_traceback(L, L, lua_tostring(L, 1), 1);
    return 1;
}

/* ---- giving memory back after a spike ----
 * A handler that builds a large temporary leaves it to the collector, and the collector's
 * leavings to the allocators: Lua's generational collector may not look at that garbage
 * again until the heap doubles (never, on a quiet node), the pool keeps the slabs it carved,
 * and malloc the pages it was given. So after the outermost call into Lua, a few comparisons
 * tell whether a spike may have left memory behind, and if so reclaim_cb runs from the
 * reactor a little later, at most once per RECLAIM_EVERY_MS: a full collection once the heap
 * has stopped growing fast (a collection in the middle of a spike finds it all alive), then
 * the pool's wholly free slabs and malloc's free pages go back to the system. */
#define RECLAIM_MIN ((size_t)16 << 20) /* less left behind than this is not worth the walk */
#define RECLAIM_EVERY_MS 1000
#define RECLAIM_DELAY_MS 100  /* after the call: its answer goes out first; a burst is one */
#define RECLAIM_DEFER_MS 5000 /* a heap still growing fast defers the collection this long */

/* The heap is half as large again as when a full collection last measured it: garbage may
 * be waiting (Lua's own major collections wait for twice). */
static int collect_due(const struct fdn_node *n)
{
    size_t settled = n->settled, more = settled / 2 > RECLAIM_MIN ? settled / 2 : RECLAIM_MIN;
    return n->mem.used > settled + more;
}

/* The heap came down from its peak by a third or more: the allocators hold what it freed. */
static int trim_due(const struct fdn_alloc *g)
{
    size_t drop = g->peak - g->used;
    return drop >= RECLAIM_MIN && drop >= g->used / 2;
}

static void reclaim_arm(struct fdn_node *n, int64_t wait)
{
    struct timeval tv = {(time_t)(wait / 1000), (suseconds_t)(wait % 1000) * 1000};
    n->reclaim_used = n->mem.used;
    evtimer_add(n->reclaim, &tv);
}

static void reclaim_cb(evutil_socket_t fd, short what, void *arg)
{
    struct fdn_node *n = arg;
    struct fdn_alloc *g = &n->mem;
    (void)fd;
    (void)what;
    int64_t now = fdn_now_ms();
    int collect = collect_due(n);
    if (collect && g->used > n->reclaim_used + n->reclaim_used / 16 &&
        now - n->reclaim_since < RECLAIM_DEFER_MS) {
        reclaim_arm(n, RECLAIM_DELAY_MS); /* still growing by 6% per look: not yet */
        return;
    }
    size_t before = g->used, peak = g->peak, slabs = 0;
    if (collect) {
        fdn_guard_enter(&n->guard); /* finalizers run: under the time budget as any Lua */
        lua_gc(n->L, LUA_GCCOLLECT);
        fdn_guard_leave(&n->guard, n->L);
        n->settled = g->used;
    }
    int trim = trim_due(g);
    if (trim) {
        slabs = fdn_pool_trim(&g->pool);
#ifdef __GLIBC__
        malloc_trim(0);
#endif
    }
    g->peak = g->used;
    n->reclaimed_ms = fdn_now_ms();
    n->reclaim_since = 0;
    fdn_debug("memory: Lua heap %zu KiB (peak %zu KiB) -> %zu KiB%s, %zu KiB of slabs unmapped",
              before >> 10, peak >> 10, g->used >> 10, trim ? ", trimmed" : "", slabs >> 10);
}

static void reclaim_check(struct fdn_node *n)
{
    if (n->mem.used < n->settled) /* Lua's own collections found less alive */
        n->settled = n->mem.used;
    if (!collect_due(n) && !trim_due(&n->mem))
        return;
    if (!n->reclaim)
        n->reclaim = evtimer_new(n->base, reclaim_cb, n);
    if (!n->reclaim || evtimer_pending(n->reclaim, NULL))
        return;
    int64_t now = fdn_now_ms(), wait = n->reclaimed_ms + RECLAIM_EVERY_MS - now;
    n->reclaim_since = now;
    reclaim_arm(n, wait > RECLAIM_DELAY_MS ? wait : RECLAIM_DELAY_MS);
}

/* The opening of both doors: the guards, the Lua work count and the traceback handler. */
static void enter(struct fdn_node *n)
{
    n->turns++;
    fdn_guard_enter(&n->guard);
    lua_rawgeti(n->L, LUA_REGISTRYINDEX, n->traceback_ref);
}

void fdn_node_call_begin(struct fdn_node *n, lua_CFunction fn)
{
    enter(n);
    lua_pushcfunction(n->L, fn);
}

void fdn_node_call_end(struct fdn_node *n, int nargs)
{
    lua_State *L = n->L;
    int handler = lua_gettop(L) - nargs - 1;
    int enforcing = n->mem.enforce;
    n->mem.enforce = 1;
    int rc = lua_pcall(L, nargs, 0, handler);
    n->mem.enforce = enforcing;
    if (rc != LUA_OK) {
        fdn_error("dispatch: %s", lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    lua_pop(L, 1); /* the traceback handler */
    fdn_guard_leave(&n->guard, L);
    if (n->guard.depth == 0)
        reclaim_check(n);
}

int fdn_node_call_next(struct fdn_node *n)
{
    fdn_guard_restart(&n->guard); /* first: the watchdog may trip until the clock is reset */
    return n->guard.tripped;
}

void fdn_node_dispatch_begin(struct fdn_node *n, const char *kind)
{
    enter(n);
    lua_rawgeti(n->L, LUA_REGISTRYINDEX, n->dispatch_ref);
    lua_pushstring(n->L, kind);
}

void fdn_node_dispatch_end(struct fdn_node *n, int nargs)
{
    fdn_node_call_end(n, nargs + 1);
}

static void preload(lua_State *L, struct fdn_node *n, const char *name, lua_CFunction open)
{
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushlightuserdata(L, n);
    lua_pushcclosure(L, open, 1);
    lua_setfield(L, -2, name);
    lua_pop(L, 1);
}

static void stop_signal_cb(evutil_socket_t sig, short what, void *arg)
{
    struct fdn_node *n = arg;
    (void)what;
    if (n->shutdown_timer) { /* a second signal: stop now */
        fdn_warn("second signal: exiting at once");
        n->exit_code = 1;
        event_base_loopexit(n->base, NULL);
        return;
    }
    fdn_info("%s: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
    fdn_node_stop(n, 0);
}

/* Tells Lua about a signal: "stop" or "hup". */
static void dispatch_signal(struct fdn_node *n, const char *name)
{
    fdn_node_dispatch_begin(n, "signal");
    lua_pushstring(n->L, name);
    fdn_node_dispatch_end(n, 1);
}

static void hup_signal_cb(evutil_socket_t sig, short what, void *arg)
{
    struct fdn_node *n = arg;
    (void)sig;
    (void)what;
    dispatch_signal(n, "hup");
}

static void shutdown_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    struct fdn_node *n = arg;
    (void)fd;
    (void)what;
    fdn_warn("calls still in flight after %d ms: exiting anyway", n->cfg.shutdown_ms);
    event_base_loopexit(n->base, NULL);
}

void fdn_node_stop(struct fdn_node *n, int exit_code)
{
    if (n->shutdown_timer)
        return;
    n->exit_code = exit_code;
    n->shutdown_timer = evtimer_new(n->base, shutdown_deadline_cb, n);
    struct timeval tv = {n->cfg.shutdown_ms / 1000, (n->cfg.shutdown_ms % 1000) * 1000};
    evtimer_add(n->shutdown_timer, &tv);
    if (n->http)
        fdn_http_stop_accepting(n->http);
    fdn_eio_server_shutdown(n->eio); /* every session closed (Lua hears of it next) */
    /* Lua lets calls in flight finish, tears services down, then calls exit(). */
    dispatch_signal(n, "stop");
}

static void exit_poll_cb(evutil_socket_t fd, short what, void *arg)
{
    struct fdn_node *n = arg;
    (void)fd;
    (void)what;
    fdn_node_exit(n);
}

void fdn_node_exit(struct fdn_node *n)
{
    /* the answers still on their way out go first: HTTP responses, and the frames of links
     * closed with flush (each bounded by its own deadline) */
    if (fdn_http_in_flight(n->http) == 0 && fdn_links_closing(n->links) == 0 &&
        fdn_eio_server_alive(n->eio) == 0) {
        event_base_loopexit(n->base, NULL);
        return;
    }
    if (!n->exit_poll)
        n->exit_poll = evtimer_new(n->base, exit_poll_cb, n);
    struct timeval tv = {0, 5000};
    evtimer_add(n->exit_poll, &tv);
}

static void set_package_path(lua_State *L, const char *lib_dir)
{
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "path");
    const char *old = lua_tostring(L, -1);
    lua_pushfstring(L, "%s/lua/?.lua;%s/lua/?/init.lua;%s", lib_dir, lib_dir, old ? old : "");
    lua_setfield(L, -3, "path");
    lua_pop(L, 2);
}

int fdn_node_boot(struct fdn_node *n, int argc, char **scripts, const char *mode)
{
    n->mem.cap = n->cfg.lua_memory;
    n->guard.budget_ns = (uint64_t)n->cfg.call_budget_ms * 1000000u;
    lua_State *L = lua_newstate(fdn_alloc_lua, &n->mem);
    if (!L) {
        fdn_error("cannot create the Lua state");
        return -1;
    }
    n->L = L;
    /* threads copy the main thread's extra space: zero there, a task thread is told apart by
     * what spawn puts in its own (lua_task.c) */
    memset(lua_getextraspace(L), 0, LUA_EXTRASPACE);
    n->pool = lua_newthread(L);
    n->pool_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    luaL_openlibs(L);
    set_package_path(L, n->cfg.lib_dir);
    preload(L, n, "fdn.core.node", luaopen_fdn_core_node);
    preload(L, n, "fdn.core.json", luaopen_fdn_core_json);
    preload(L, n, "fdn.core.qs", luaopen_fdn_core_qs);
    preload(L, n, "fdn.core.http", luaopen_fdn_core_http);
    preload(L, n, "fdn.core.link", luaopen_fdn_core_link);
    preload(L, n, "fdn.core.rpc", luaopen_fdn_core_rpc);
    preload(L, n, "fdn.core.discovery", luaopen_fdn_core_discovery);
    preload(L, n, "fdn.core.watch", luaopen_fdn_core_watch);
    preload(L, n, "fdn.core.socket", luaopen_fdn_core_socket);
    preload(L, n, "fdn.core.jwt", luaopen_fdn_core_jwt);
    preload(L, n, "fdn.core.bcrypt", luaopen_fdn_core_bcrypt);
    preload(L, n, "fdn.core.sqlite", luaopen_fdn_core_sqlite);
    fdn_module_preload(L, n, "fdn.core.pg", "fdn_pg.so", "luaopen_fdn_core_pg",
                       "PostgreSQL support", NULL);
    preload(L, n, "fdn.core.http_client", luaopen_fdn_core_http_client);
    fdn_module_preload(L, n, "fdn.core.nats", "fdn_nats.so", "luaopen_fdn_core_nats",
                       "NATS support", "fdn_nats_shutdown");
    preload(L, n, "fdn.core.seal", luaopen_fdn_core_seal);
    preload(L, n, "fdn.core.batch", luaopen_fdn_core_batch);
    preload(L, n, "fdn.core.metrics", luaopen_fdn_core_metrics);

    lua_pushcfunction(L, traceback_handler);
    n->traceback_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    fdn_guard_install(L, &n->guard, n->cfg.lib_dir);

    /* boot = require "fdn.boot"; dispatch = boot.dispatch; ok, err = boot.start(mode, scripts) */
    lua_rawgeti(L, LUA_REGISTRYINDEX, n->traceback_ref);
    lua_getglobal(L, "require");
    lua_pushstring(L, "fdn.boot");
    if (lua_pcall(L, 1, 1, -3) != LUA_OK) {
        fprintf(stderr, "fdnode: cannot load the Lua library from %s: %s\n", n->cfg.lib_dir,
                lua_tostring(L, -1));
        return -1;
    }
    lua_getfield(L, -1, "dispatch");
    n->dispatch_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_getfield(L, -1, "start");
    lua_pushstring(L, mode);
    lua_createtable(L, argc, 0);
    for (int i = 0; i < argc; i++) {
        lua_pushstring(L, scripts[i]);
        lua_rawseti(L, -2, i + 1);
    }
    if (lua_pcall(L, 2, 2, -5) != LUA_OK) {
        fprintf(stderr, "fdnode: %s\n", lua_tostring(L, -1));
        return -1;
    }
    if (!lua_toboolean(L, -2)) {
        fprintf(stderr, "fdnode: %s\n", lua_tostring(L, -1));
        return -1;
    }
    lua_settop(L, 0);
    n->settled = n->mem.peak = n->mem.used;
    return 0;
}

int fdn_node_run(struct fdn_node *n)
{
    n->sig_term = evsignal_new(n->base, SIGTERM, stop_signal_cb, n);
    n->sig_int = evsignal_new(n->base, SIGINT, stop_signal_cb, n);
    n->sig_hup = evsignal_new(n->base, SIGHUP, hup_signal_cb, n);
    event_add(n->sig_term, NULL);
    event_add(n->sig_int, NULL);
    event_add(n->sig_hup, NULL);
    fdn_reactor_run(n->base, n->cfg.spin_us, &n->turns);
    /* from here on the node is going away whatever happens: a late signal must
     * not turn a clean exit into death by signal */
    signal(SIGTERM, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    return n->exit_code;
}
