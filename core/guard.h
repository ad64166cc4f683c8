/* guard.h: the limit in time that keeps a runaway handler from taking its node down: a
 * budget per dispatch, and an exit when a handler is stuck inside C where the budget cannot
 * stop it. (The memory cap is alloc.h's.) */
#ifndef FDN_GUARD_H
#define FDN_GUARD_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include <lua.h>

/* The exit status of a node whose handler stayed inside one C function (a pathological
 * pattern in string.find, say) for FDN_STUCK_BUDGETS call budgets after its own budget ran
 * out: nothing can stop it there, so the node ends rather than freeze (EX_SOFTWARE). */
#define FDN_STUCK_EXIT 70
#define FDN_STUCK_BUDGETS 3

/* What a task thread's extra space points to (NULL in other threads): the service path and
 * method of the call the task serves, copied in so that the watchdog can name them (always
 * NUL-terminated in their last byte); empty when the task serves no call. */
struct fdn_task {
    char path[96];
    char method[32];
};

static inline struct fdn_task *fdn_task_of(lua_State *thread)
{
    return *(struct fdn_task **)lua_getextraspace(thread);
}

struct fdn_guard {
    uint64_t budget_ns;             /* how long one dispatch may run Lua; 0 = no budget */
    volatile uint64_t start_ns;     /* when the outermost dispatch began */
    volatile sig_atomic_t depth;    /* dispatch nesting */
    volatile sig_atomic_t tripped;  /* this dispatch ran past the budget */
    lua_State *main;                /* the main thread */
    lua_State *volatile running;    /* the thread running now (fdn_guard_resume) */
    struct fdn_task *volatile task; /* the task running now, or the one it resumed from */
    volatile unsigned hooks;        /* runs of the budget hook: Lua ran (not stuck in C) */
    unsigned hooks_seen;            /* what the watchdog saw last */
    uint64_t quiet_ns;              /* since when the hook has not run */
    lua_State *hooked[8];           /* threads the budget hook was set on, to clear */
    int nhooked;
    uint64_t aborted;     /* handlers stopped by the budget */
    char lib_prefix[512]; /* "@<lib>/lua/": fdnode's own Lua is never interrupted */
};

/* Starts the budget's watchdog (a SIGALRM timer; no hook runs until a dispatch
 * overruns). lib_dir is where fdnode's own Lua lives: that code is never
 * interrupted, so the error always reaches the caller. */
void fdn_guard_install(lua_State *L, struct fdn_guard *g, const char *lib_dir);
/* Stops the watchdog (no SIGALRM after this): before the state goes away. */
void fdn_guard_uninstall(struct fdn_guard *g);
void fdn_guard_enter(struct fdn_guard *g);
void fdn_guard_leave(struct fdn_guard *g, lua_State *L);
/* Inside the outermost dispatch: its budget counts from now (the next piece of work in it). */
void fdn_guard_restart(struct fdn_guard *g);
/* lua_resume that tells the watchdog which thread (and task) runs. */
int fdn_guard_resume(struct fdn_guard *g, lua_State *co, lua_State *from, int narg, int *nres);

#endif
