/* standins.h: stand-ins for node.c (the dispatch door, the node upvalue of a binding) and the
 * helpers around them (a clock, bounded loop runs, a private network namespace), shared by the
 * unit tests of modules that talk to Lua: test_link.c, test_discovery.c, test_watch.c, test_tls.c.
 */
#ifndef FDN_TESTS_STANDINS_H
#define FDN_TESTS_STANDINS_H

/* What it offers:
 *   fdn_node_from_upvalue(L)  the node is the light userdata upvalue 1, as open_binding puts it.
 *   fdn_node_dispatch_begin/end: the recording door. begin CHECKs it is not re-entered, notes
 *       the stack's top and pushes the kind; end CHECKs that the kind and nargs arguments stand
 *       just above that top, calls record_dispatch(n, base, nargs) (the kind at base, the
 *       arguments above it), restores the stack, then calls after_dispatch() (hooks run there).
 *       The test defines those two. A test with a door of its own defines STANDINS_OWN_DISPATCH
 *       before including this header, and fdn_node_dispatch_begin/end itself.
 *   preload_binding(L, n, open, name)
 *       a Lua binding with n as its upvalue, left for require(name).
 *   load_steps(L, path, n, open), call_step(L, steps, name, nargs)
 *       a test's Lua side: the file at path, called with the binding, returns a table of steps
 *       (kept in the registry); call_step calls one of them with the nargs values on top.
 *   now_ms()                  the monotonic clock in milliseconds.
 *   run_until(base, pred, ms) the loop, an iteration at a time, until pred() holds or ms pass.
 *   run_for(base, ms)         the loop, an iteration at a time, for ms.
 *   run_ms(base, ms)          the loop dispatching for ms (until a loopexit).
 *   enter_netns()             a private network namespace with lo up; -1 when it cannot be had.
 *   id_to_hex(id, hex)        a 16-byte node id as node.c spells it in id_hex.
 * Header only, like check.h: every test is a single translation unit. */

#include <net/if.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <lauxlib.h>

#include "check.h"
#include "node.h"

struct fdn_node *fdn_node_from_upvalue(lua_State *L)
{
    return lua_touserdata(L, lua_upvalueindex(1));
}

#ifndef STANDINS_OWN_DISPATCH

static int dispatch_top = -1; /* the stack's top when the current dispatch began; -1 outside */

/* Defined by the test: reads one dispatch, the kind at base and nargs arguments above it. */
static void record_dispatch(struct fdn_node *n, int base, int nargs);
/* Defined by the test: runs inside the dispatch, after recording, with the stack restored. */
static void after_dispatch(void);

void fdn_node_dispatch_begin(struct fdn_node *n, const char *kind)
{
    CHECK(dispatch_top < 0); /* never re-entered */
    dispatch_top = lua_gettop(n->L);
    lua_pushstring(n->L, kind);
}

void fdn_node_dispatch_end(struct fdn_node *n, int nargs)
{
    int base = lua_gettop(n->L) - nargs;
    CHECK(base - 1 == dispatch_top);
    record_dispatch(n, base, nargs);
    lua_settop(n->L, dispatch_top);
    dispatch_top = -1;
    after_dispatch();
}

#endif

/* The hot paths' door runs its C function for real, protected as in node.c: a test that
 * registers frame handlers wants them called. Errors are counted and printed. */
static int call_errors;

void fdn_node_call_begin(struct fdn_node *n, lua_CFunction fn)
{
    lua_pushcfunction(n->L, fn);
}

void fdn_node_call_end(struct fdn_node *n, int nargs)
{
    if (lua_pcall(n->L, nargs, 0, 0) != LUA_OK) {
        call_errors++;
        fprintf(stderr, "error in a protected call: %s\n", lua_tostring(n->L, -1));
        lua_pop(n->L, 1);
    }
}

int fdn_node_call_next(struct fdn_node *n)
{
    (void)n;
    return 0;
}

/* Pushes the binding's open function as a closure over n, the upvalue fdn_node_from_upvalue reads.
 */
static inline void push_binding(lua_State *L, struct fdn_node *n, lua_CFunction open)
{
    lua_pushlightuserdata(L, n);
    lua_pushcclosure(L, open, 1);
}

/* Leaves the binding in package.preload, for require(name). */
static inline void preload_binding(lua_State *L, struct fdn_node *n, lua_CFunction open,
                                   const char *name)
{
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    push_binding(L, n, open);
    lua_setfield(L, -2, name);
    lua_pop(L, 1);
}

/* Loads the Lua file at path and calls it with the binding (opened over n); returns a registry
 * reference to the table of steps it returns, LUA_NOREF (the error printed) when that failed. */
static inline int load_steps(lua_State *L, const char *path, struct fdn_node *n, lua_CFunction open)
{
    int top = lua_gettop(L), rc = luaL_loadfile(L, path);
    if (rc == LUA_OK) {
        push_binding(L, n, open);
        lua_call(L, 0, 1);
        rc = lua_pcall(L, 1, 1, 0);
    }
    if (rc == LUA_OK && lua_istable(L, -1))
        return luaL_ref(L, LUA_REGISTRYINDEX);
    fprintf(stderr, "lua: %s\n", rc == LUA_OK ? "no table of steps" : luaL_tolstring(L, -1, NULL));
    lua_settop(L, top);
    return LUA_NOREF;
}

/* Calls step `name` of the table steps refers to with the nargs values on top of the stack; 1
 * when it returned (its first result in their place), 0 when it raised (the error printed, the
 * arguments popped). */
static inline int call_step(lua_State *L, int steps, const char *name, int nargs)
{
    int top = lua_gettop(L) - nargs;
    if (lua_rawgeti(L, LUA_REGISTRYINDEX, steps) == LUA_TTABLE)
        lua_getfield(L, -1, name);
    else
        lua_pushnil(L);
    lua_remove(L, -2);
    if (!lua_isfunction(L, -1)) {
        fprintf(stderr, "lua: no step %s\n", name);
        lua_settop(L, top);
        return 0;
    }
    lua_insert(L, -nargs - 1);
    if (lua_pcall(L, nargs, 1, 0) == LUA_OK)
        return 1;
    fprintf(stderr, "lua: %s: %s\n", name, luaL_tolstring(L, -1, NULL));
    lua_settop(L, top);
    return 0;
}

static inline int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs the loop until pred() holds or ms pass; returns pred(). */
static inline int run_until(struct event_base *base, int (*pred)(void), int ms)
{
    int64_t end = now_ms() + ms;
    while (!pred() && now_ms() < end)
        event_base_loop(base, EVLOOP_ONCE);
    return pred();
}

static inline void run_for(struct event_base *base, int ms)
{
    int64_t end = now_ms() + ms;
    while (now_ms() < end)
        event_base_loop(base, EVLOOP_ONCE);
}

static inline void run_ms(struct event_base *base, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
}

static inline int enter_netns(void)
{
    if (geteuid() != 0 || unshare(CLONE_NEWNET) < 0)
        return -1;
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
    if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
        return -1;
    ifr.ifr_flags |= IFF_UP;
    int rc = ioctl(fd, SIOCSIFFLAGS, &ifr);
    close(fd);
    return rc;
}

static inline void id_to_hex(const uint8_t id[16], char hex[33])
{
    for (int i = 0; i < 16; i++)
        snprintf(hex + 2 * i, 3, "%02x", id[i]);
}

#endif
