/* test_watch.c: end-to-end test of core/watch.c and its binding core/lua_watch.c on a real
 * event_base, lua_State and inotify, in a fresh directory under /tmp, without node.c: stand-ins
 * for the dispatch door record every "watch" event. Every wait is bounded (a few seconds). */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>
#include <lauxlib.h>
#include <lualib.h>

#include "check.h"
#include "node.h"
#include "standins.h"
#include "util.h"
#include "watch.h"

int luaopen_fdn_core_watch(lua_State *L);

#define QUIET 30
#define SLACK 5 /* ms of timer imprecision allowed */
#define MAX_DISPATCH 64
#define MAX_PATHS 16

/* --- stand-ins for node.c (standins.h): the dispatch door records events ----------------- */

struct rec {
    int n;
    char paths[MAX_PATHS][PATH_MAX];
    int64_t at;
};

static struct fdn_node node;
static struct rec recs[MAX_DISPATCH], recorded; /* the dispatch being recorded */
static int nrecs;
static void (*hook)(void); /* runs inside the dispatch, after recording */

/* The door of standins.h hands every dispatch here, then calls after_dispatch. */
static void record_dispatch(struct fdn_node *n, int base, int nargs)
{
    lua_State *L = n->L;
    CHECK(nargs == 1);
    CHECK_STR(lua_tostring(L, base), "watch");
    CHECK(lua_istable(L, base + 1));
    struct rec r = {.at = now_ms()};
    r.n = (int)lua_rawlen(L, base + 1);
    for (int i = 0; i < r.n && i < MAX_PATHS; i++) {
        lua_rawgeti(L, base + 1, i + 1);
        CHECK(lua_type(L, -1) == LUA_TSTRING);
        snprintf(r.paths[i], sizeof r.paths[i], "%s", lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    recorded = r;
}

static void after_dispatch(void)
{
    if (nrecs < MAX_DISPATCH)
        recs[nrecs++] = recorded;
    if (hook)
        hook();
}

/* --- helpers ----------------------------------------------------------------------------- */

static char dir[64]; /* /tmp/fdn-watch-XXXXXX */
static struct fdn_watch *w;

/* An absolute path in the test directory; four rotating buffers. */
static const char *P(const char *name)
{
    static char bufs[4][PATH_MAX];
    static int k;
    char *b = bufs[k++ % 4];
    snprintf(b, PATH_MAX, "%s/%s", dir, name);
    return b;
}

static void write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
}

/* Runs the loop in 10 ms slices until at least want dispatches arrived or ms passed. */
static int wait_dispatches(int want, int ms)
{
    int64_t end = now_ms() + ms;
    while (nrecs < want && now_ms() < end)
        run_ms(node.base, 10);
    return nrecs >= want;
}

static void reset(void)
{
    nrecs = 0;
    hook = NULL;
}

/* Exactly one dispatch (waiting for it, then a few quiet periods for any second one) listing
 * exactly the given paths in order. */
static void expect_one(int line, int count, ...)
{
    wait_dispatches(1, 2000);
    run_ms(node.base, 3 * QUIET);
    int ok = nrecs == 1 && recs[0].n == count;
    va_list ap;
    va_start(ap, count);
    for (int i = 0; ok && i < count; i++)
        ok = strcmp(recs[0].paths[i], va_arg(ap, const char *)) == 0;
    va_end(ap);
    if (!check_at(ok, __FILE__, line, "one dispatch with the expected paths")) {
        fprintf(stderr, "  %d dispatches:\n", nrecs);
        for (int d = 0; d < nrecs; d++)
            for (int i = 0; i < recs[d].n; i++)
                fprintf(stderr, "    [%d] %s\n", d, recs[d].paths[i]);
    }
    reset();
}

static void expect_none(int line)
{
    run_ms(node.base, 4 * QUIET);
    if (!check_at(nrecs == 0, __FILE__, line, "no dispatch"))
        fprintf(stderr, "  %d dispatches, first: %s\n", nrecs, recs[0].n ? recs[0].paths[0] : "");
    reset();
}

#define EXPECT_ONE(...) expect_one(__LINE__, __VA_ARGS__)
#define EXPECT_NONE() expect_none(__LINE__)

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* --- the cases ------------------------------------------------------------------------- */

static void test_editors(void)
{
    char a[PATH_MAX];
    snprintf(a, sizeof a, "%s", P("a.lua"));
    int64_t t = now_ms();
    write_file(a, "return 1\n"); /* in place */
    wait_dispatches(1, 2000);
    CHECK(nrecs == 1 && recs[0].at >= t + QUIET - SLACK);
    EXPECT_ONE(1, a);

    write_file(P("a.lua.tmp"), "return 2\n"); /* temp + rename over */
    CHECK(rename(P("a.lua.tmp"), a) == 0);
    EXPECT_ONE(1, a);

    CHECK(unlink(a) == 0); /* delete + recreate */
    write_file(a, "return 3\n");
    EXPECT_ONE(1, a);

    CHECK(rename(a, P("a.lua~")) == 0); /* vim: backup by rename, write anew, drop backup */
    write_file(a, "return 4\n");
    CHECK(unlink(P("a.lua~")) == 0);
    EXPECT_ONE(1, a);

    CHECK(chmod(a, 0600) == 0); /* attributes (touch, chmod) */
    EXPECT_ONE(1, a);

    CHECK(unlink(P("b.lua")) == 0); /* deleted, not recreated: still reported */
    EXPECT_ONE(1, P("b.lua"));
    write_file(P("b.lua"), "return 'b'\n"); /* and watched again once back */
    EXPECT_ONE(1, P("b.lua"));
}

struct burst {
    struct event *ev;
    const char *path;
    int left;
    int64_t last;
};

static void burst_tick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct burst *b = arg;
    (void)fd;
    (void)what;
    if (b->left <= 0)
        return;
    write_file(b->path, "return 'burst'\n");
    b->last = now_ms();
    if (--b->left == 0)
        event_del(b->ev);
}

/* Writes path count times, every interval ms, from the loop; returns the last write's time. */
static int64_t burst(const char *path, int count, int interval)
{
    struct burst b = {.path = path, .left = count};
    b.ev = event_new(node.base, -1, EV_PERSIST, burst_tick_cb, &b);
    struct timeval tv = {0, interval * 1000};
    event_add(b.ev, &tv);
    int64_t end = now_ms() + count * interval + 2000;
    while (b.left > 0 && now_ms() < end)
        run_ms(node.base, 10);
    CHECK(b.left == 0);
    event_free(b.ev);
    return b.last;
}

static void test_burst(void)
{
    int64_t last = burst(P("a.lua"), 20, 5); /* 100 ms of writes, gaps well under QUIET */
    CHECK(nrecs == 0);
    wait_dispatches(1, 2000);
    CHECK(nrecs == 1 && recs[0].at >= last + QUIET - SLACK);
    EXPECT_ONE(1, P("a.lua"));

    /* a file rewritten without pause still reloads: at most ten quiet periods after the
     * first change */
    last = burst(P("a.lua"), 30, 15); /* 450 ms: over ten quiet periods */
    CHECK(nrecs >= 1 && recs[0].at < last);
    wait_dispatches(nrecs + 1, 2000);
    run_ms(node.base, 3 * QUIET);
    CHECK(nrecs >= 2 && nrecs <= 4);
    reset();
}

static void test_together(void)
{
    write_file(P("b.lua"), "return 'b2'\n");
    write_file(P("a.lua"), "return 'a2'\n");
    EXPECT_ONE(2, P("a.lua"), P("b.lua")); /* in the order added */

    write_file(P("sub/c.lua"), "return 'c'\n");
    EXPECT_ONE(1, "sub/c.lua"); /* the caller's string, relative as it was given */

    write_file(P("unrelated.txt"), "x"); /* same directories, other names */
    CHECK(rename(P("unrelated.txt"), P("unrelated2.txt")) == 0);
    write_file(P("sub/a.lua"), "same name, other directory");
    write_file(P("a.lua.swp"), "x");
    CHECK(unlink(P("a.lua.swp")) == 0);
    EXPECT_NONE();
}

static void test_add_remove(void)
{
    int count = fdn_watch_count(w);
    CHECK(fdn_watch_add(w, "./a.lua") == 0); /* another spelling of a watched file */
    CHECK(fdn_watch_add(w, "sub/../b.lua") == 0);
    CHECK(fdn_watch_count(w) == count);
    write_file(P("a.lua"), "return 'a3'\n");
    EXPECT_ONE(1, P("a.lua")); /* reported as first added */

    errno = 0;
    CHECK(fdn_watch_add(w, P("nodir/x.lua")) == -1 && errno == ENOENT);
    CHECK(fdn_watch_add(w, "/") == -1);
    CHECK(fdn_watch_add(w, P("sub/..")) == 0 && fdn_watch_remove(w, P("sub/..")) == 0);
    CHECK(fdn_watch_count(w) == count);

    CHECK(fdn_watch_add(w, P("later.lua")) == 0); /* not there yet */
    write_file(P("later.lua"), "return 'later'\n");
    EXPECT_ONE(1, P("later.lua"));
    CHECK(fdn_watch_remove(w, "./later.lua") == 0); /* removed by another spelling */
    CHECK(fdn_watch_remove(w, P("later.lua")) == -1);

    CHECK(fdn_watch_remove(w, P("b.lua")) == 0); /* remove stops reporting */
    write_file(P("b.lua"), "return 'b3'\n");
    EXPECT_NONE();
    write_file(P("b.lua"), "return 'b4'\n"); /* a pending change is dropped by remove */
    write_file(P("a.lua"), "return 'a4'\n");
    int64_t end = now_ms() + 2000;
    while (fdn_watch_pending(w) == 0 && now_ms() < end)
        run_ms(node.base, 5);
    CHECK(fdn_watch_add(w, P("b.lua")) == 0);
    CHECK(fdn_watch_remove(w, P("a.lua")) == 0);
    CHECK(fdn_watch_pending(w) == 0);
    EXPECT_NONE();
    CHECK(fdn_watch_count(w) == count - 1);
    CHECK_STR(fdn_watch_path(w, count - 2), P("b.lua"));
    CHECK(fdn_watch_path(w, count - 1) == NULL);
    CHECK(fdn_watch_add(w, P("a.lua")) == 0);
    CHECK(fdn_watch_count(w) == count);
}

/* What a reload does: clear, then add every file again. A change the kernel queued before
 * the clear is not lost. */
static void rewatch(void)
{
    fdn_watch_clear(w);
    CHECK(fdn_watch_count(w) == 0);
    CHECK(fdn_watch_add(w, P("a.lua")) == 0);
    CHECK(fdn_watch_add(w, P("b.lua")) == 0);
    CHECK(fdn_watch_add(w, "sub/c.lua") == 0);
}

static void test_rewatch(void)
{
    write_file(P("a.lua"), "return 'a5'\n"); /* queued in the kernel, not read yet */
    rewatch();
    EXPECT_ONE(1, P("a.lua"));

    hook = rewatch; /* from inside the dispatch, as Lua would */
    write_file(P("sub/c.lua"), "return 'c2'\n");
    wait_dispatches(1, 2000);
    hook = NULL;
    EXPECT_ONE(1, "sub/c.lua");
    write_file(P("b.lua"), "return 'b5'\n");
    EXPECT_ONE(1, P("b.lua"));
    CHECK(fdn_watch_count(w) == 3);
}

static void test_dir_gone(void)
{
    CHECK(mkdir(P("gone"), 0755) == 0);
    write_file(P("gone/e.lua"), "return 'e'\n");
    CHECK(fdn_watch_add(w, P("gone/e.lua")) == 0);
    CHECK(unlink(P("gone/e.lua")) == 0);
    CHECK(rmdir(P("gone")) == 0);
    EXPECT_ONE(1, P("gone/e.lua"));
    CHECK(fdn_watch_count(w) == 4); /* still in the set, unwatched */
    CHECK(mkdir(P("gone"), 0755) == 0);
    write_file(P("gone/e.lua"), "return 'e2'\n");
    EXPECT_NONE();
    CHECK(fdn_watch_add(w, P("gone/e.lua")) == 0); /* added again: watched again */
    CHECK(fdn_watch_count(w) == 4);
    write_file(P("gone/e.lua"), "return 'e3'\n");
    EXPECT_ONE(1, P("gone/e.lua"));

    CHECK(rename(P("gone"), P("moved")) == 0); /* a directory renamed away counts as gone */
    EXPECT_ONE(1, P("gone/e.lua"));
    write_file(P("moved/e.lua"), "return 'e4'\n");
    EXPECT_NONE();
    CHECK(fdn_watch_remove(w, P("gone/e.lua")) == 0);
}

/* The kernel's queue overflows: every watched file is reported. Two unrelated files touched
 * in turn (identical consecutive events are merged) fill the queue. */
static void test_overflow(void)
{
    long max = 0;
    FILE *f = fopen("/proc/sys/fs/inotify/max_queued_events", "r");
    if (f) {
        if (fscanf(f, "%ld", &max) != 1)
            max = 0;
        fclose(f);
    }
    if (max <= 0 || max > 200000) {
        printf("test_watch: overflow case skipped (max_queued_events %ld)\n", max);
        return;
    }
    write_file(P("x.txt"), "x");
    write_file(P("y.txt"), "y");
    int fx = open(P("x.txt"), O_RDONLY | O_CLOEXEC), fy = open(P("y.txt"), O_RDONLY | O_CLOEXEC);
    CHECK(fx >= 0 && fy >= 0);
    for (long i = 0; i < max + 100; i++)
        futimens(i % 2 ? fy : fx, NULL);
    close(fx);
    close(fy);
    EXPECT_ONE(3, P("a.lua"), P("b.lua"), "sub/c.lua");
}

/* The binding, through the steps of tests/unit/watch_binding.lua (the first argument). */
static const char *steps_path;

static void test_lua(lua_State *L)
{
    int steps = load_steps(L, steps_path, &node, luaopen_fdn_core_watch);
    if (!CHECK(steps != LUA_NOREF))
        return;
    lua_pushstring(L, dir);
    if (!CHECK(call_step(L, steps, "watch", 1)))
        return;
    lua_settop(L, 0);
    int64_t t = now_ms();
    write_file(P("l.lua"), "return 'l'\n");
    write_file(P("m.lua"), "return 'm'\n");
    wait_dispatches(1, 2000);
    CHECK(nrecs == 1 && recs[0].at >= t + 30 - SLACK && recs[0].at < t + 3 * QUIET);
    EXPECT_ONE(1, P("l.lua"));
    CHECK(call_step(L, steps, "clear", 0));
    lua_settop(L, 0);
    write_file(P("l.lua"), "return 'l2'\n");
    EXPECT_NONE();
    /* left with a change pending: lua_close frees it through __gc, with no dispatch */
    lua_pushstring(L, dir);
    CHECK(call_step(L, steps, "pending", 1));
    lua_settop(L, 0);
    write_file(P("l.lua"), "return 'l3'\n");
    run_ms(node.base, 50);
    lua_close(L);
    node.L = NULL;
    run_ms(node.base, 50);
    CHECK(nrecs == 0);
}

static void test_free_pending(void)
{
    fdn_watch_set_quiet(w, 200);
    write_file(P("a.lua"), "return 'a6'\n");
    int64_t end = now_ms() + 2000;
    while (fdn_watch_pending(w) == 0 && now_ms() < end)
        run_ms(node.base, 5);
    CHECK(fdn_watch_pending(w) == 1);
    fdn_watch_free(w);
    w = NULL;
    fdn_watch_free(NULL);
    run_ms(node.base, 300);
    CHECK(nrecs == 0);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_watch PATH/watch_binding.lua\n");
        return 2;
    }
    steps_path = argv[1];
    fdn_log_set_level(FDN_LOG_ERROR + 1); /* the cases provoke errors on purpose */
    int64_t start = now_ms();
    char cwd[PATH_MAX];
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    snprintf(dir, sizeof dir, "/tmp/fdn-watch-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    CHECK(chdir(dir) == 0);
    CHECK(mkdir(P("sub"), 0755) == 0);
    write_file(P("a.lua"), "return 0\n");
    write_file(P("b.lua"), "return 0\n");
    write_file(P("sub/c.lua"), "return 0\n");

    node.base = event_base_new();
    node.L = luaL_newstate();
    luaL_openlibs(node.L);
    preload_binding(node.L, &node, luaopen_fdn_core_watch, "fdn.core.watch");

    CHECK(fdn_watch_new(&node, &w) == 0);
    fdn_watch_set_quiet(w, QUIET);
    CHECK(fdn_watch_add(w, P("a.lua")) == 0);
    CHECK(fdn_watch_add(w, P("b.lua")) == 0);
    CHECK(fdn_watch_add(w, "sub/c.lua") == 0);
    CHECK(fdn_watch_count(w) == 3 && fdn_watch_pending(w) == 0);
    EXPECT_NONE();

    test_editors();
    test_burst();
    test_together();
    test_add_remove();
    test_rewatch();
    test_dir_gone();
    test_overflow();
    test_free_pending();
    test_lua(node.L);

    event_base_free(node.base);
    CHECK(chdir(cwd) == 0);
    CHECK(nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) == 0);
    printf("test_watch: %lld ms\n", (long long)(now_ms() - start));
    return check_summary("test_watch");
}
