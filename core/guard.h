/* guard.h: limits on the Lua state that keep a runaway handler from taking
 * its node down: a time budget per dispatch and a memory cap. */
#ifndef FDN_GUARD_H
#define FDN_GUARD_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include <lua.h>

#include "pool.h"

struct fdn_guard {
    size_t used;                   /* bytes the Lua state holds */
    size_t peak;                   /* the most `used` has been since node.c last reset it */
    size_t cap;                    /* refuse allocations beyond it; 0 = no cap */
    uint64_t refused;              /* allocations refused by the cap */
    int enforce;                   /* the cap applies only while Lua runs under lua_pcall: C code
                                      that pushes a dispatch's arguments must never fail */
    uint64_t budget_ns;            /* how long one dispatch may run Lua; 0 = no budget */
    volatile uint64_t start_ns;    /* when the outermost dispatch began */
    volatile sig_atomic_t depth;   /* dispatch nesting */
    volatile sig_atomic_t tripped; /* this dispatch ran past the budget */
    lua_State *main;               /* the main thread */
    lua_State *volatile running;   /* the thread running now (fdn_guard_resume) */
    lua_State *hooked[8];          /* threads the budget hook was set on, to clear */
    int nhooked;
    uint64_t aborted;     /* handlers stopped by the budget */
    char lib_prefix[512]; /* "@<lib>/lua/": fdnode's own Lua is never interrupted */
    struct fdn_pool pool; /* small blocks (not under AddressSanitizer: it must see each one) */
};

/* The lua_Alloc for lua_newstate; ud is the struct fdn_guard. */
void *fdn_guard_alloc(void *ud, void *ptr, size_t osize, size_t nsize);
/* Starts the budget's watchdog (a SIGALRM timer; no hook runs until a dispatch
 * overruns). lib_dir is where fdnode's own Lua lives: that code is never
 * interrupted, so the error always reaches the caller. */
void fdn_guard_install(lua_State *L, struct fdn_guard *g, const char *lib_dir);
/* Returns the small-block pool to the system: after lua_close. */
void fdn_guard_release(struct fdn_guard *g);
/* Stops the watchdog (no SIGALRM after this): before the state goes away. */
void fdn_guard_uninstall(struct fdn_guard *g);
void fdn_guard_enter(struct fdn_guard *g);
void fdn_guard_leave(struct fdn_guard *g, lua_State *L);
/* Inside the outermost dispatch: its budget counts from now (the next piece of work in it). */
void fdn_guard_restart(struct fdn_guard *g);
/* lua_resume that tells the watchdog which thread runs. */
int fdn_guard_resume(struct fdn_guard *g, lua_State *co, lua_State *from, int narg, int *nres);

#endif
