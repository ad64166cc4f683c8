/* watch.c: inotify for hot reload. Files are watched through their directories (one inotify
 * watch per directory, shared by its files) so that every editor's way of saving is seen;
 * changes are collected and handed to Lua in one "watch" dispatch once things are quiet. */
#include "watch.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <lua.h>

#include "node.h"
#include "util.h"

#define DIR_MASK                                                                                   \
    (IN_MODIFY | IN_CLOSE_WRITE | IN_ATTRIB | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE |            \
     IN_DELETE | IN_MOVE_SELF | IN_ONLYDIR)
#define MAX_QUIETS 10 /* a burst is cut after this many quiet periods */
#define MAX_READS 64  /* reads per wake-up; the persistent event brings us back for more */
#define QUIET_MAX 60000

struct wdir {
    int wd;     /* the inotify watch descriptor */
    char *real; /* the directory's realpath */
    int refs;   /* files watched in it; 0: to be dropped by the sweep */
};

struct wfile {
    char *path;       /* as given to add: what Lua sees */
    char *real;       /* realpath of the file (or of its directory, plus its name) */
    const char *name; /* the last component of real */
    struct wdir *dir; /* NULL once its directory went away */
    int changed;
};

struct fdn_watch {
    struct fdn_node *n;
    int fd;
    struct event *ev, *timer, *sweep;
    int quiet_ms;
    int64_t first_ms; /* when the oldest pending change arrived (valid while pending) */
    int pending;      /* files with changed set */
    struct wfile **files;
    int nfiles, capfiles;
    struct wdir **dirs;
    int ndirs, capdirs;
};

/* realpath of path; a file that does not exist (yet) is resolved through its directory. */
static char *resolve(const char *path)
{
    char *r = realpath(path, NULL);
    if (r || errno != ENOENT)
        return r;
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
        return NULL; /* errno is still ENOENT */
    char *dir;
    if (!slash) {
        dir = xstrdup(".");
    } else {
        size_t len = slash == path ? 1 : (size_t)(slash - path);
        dir = xmalloc(len + 1);
        memcpy(dir, path, len);
        dir[len] = '\0';
    }
    char *rd = realpath(dir, NULL);
    free(dir);
    if (!rd)
        return NULL;
    size_t dl = strlen(rd), bl = strlen(base);
    int sep = dl == 0 || rd[dl - 1] != '/';
    r = xmalloc(dl + (size_t)sep + bl + 1);
    memcpy(r, rd, dl);
    if (sep)
        r[dl] = '/';
    memcpy(r + dl + sep, base, bl + 1);
    free(rd);
    return r;
}

static void arm(struct fdn_watch *w)
{
    int64_t now = fdn_now_ms();
    int64_t delay = w->quiet_ms;
    int64_t left = w->first_ms + (int64_t)MAX_QUIETS * w->quiet_ms - now;
    if (left < delay)
        delay = left < 0 ? 0 : left;
    struct timeval tv = {(time_t)(delay / 1000), (suseconds_t)(delay % 1000) * 1000};
    evtimer_add(w->timer, &tv);
}

static void mark(struct fdn_watch *w, struct wfile *f)
{
    if (!f->changed) {
        f->changed = 1;
        if (w->pending++ == 0)
            w->first_ms = fdn_now_ms();
    }
    arm(w);
}

static void unmark(struct fdn_watch *w, struct wfile *f)
{
    if (!f->changed)
        return;
    f->changed = 0;
    if (--w->pending == 0)
        evtimer_del(w->timer);
}

static struct wdir *dir_by_wd(struct fdn_watch *w, int wd)
{
    for (int i = 0; i < w->ndirs; i++)
        if (w->dirs[i]->wd == wd)
            return w->dirs[i];
    return NULL;
}

static void dir_unlink(struct fdn_watch *w, struct wdir *d)
{
    for (int i = 0; i < w->ndirs; i++) {
        if (w->dirs[i] == d) {
            memmove(&w->dirs[i], &w->dirs[i + 1], (size_t)(w->ndirs - i - 1) * sizeof *w->dirs);
            w->ndirs--;
            break;
        }
    }
    free(d->real);
    free(d);
}

/* The watch of directory real, shared with the files already in it; NULL after logging. An
 * unused watch is kept until the sweep runs, so clear() then add() of the same files (what a
 * reload does) keeps the kernel's watch and the events already queued on it. */
static struct wdir *dir_get(struct fdn_watch *w, const char *real, const char *path)
{
    for (int i = 0; i < w->ndirs; i++) {
        if (strcmp(w->dirs[i]->real, real) == 0) {
            w->dirs[i]->refs++;
            return w->dirs[i];
        }
    }
    int wd = inotify_add_watch(w->fd, real, DIR_MASK);
    if (wd < 0) {
        int e = errno;
        fdn_error("watch: cannot watch %s (directory %s): %s%s", path, real, strerror(e),
                  e == ENOSPC ? " (see fs.inotify.max_user_watches)" : "");
        errno = e;
        return NULL;
    }
    struct wdir *d = dir_by_wd(w, wd); /* the same directory by another path (a bind mount) */
    if (d) {
        d->refs++;
        return d;
    }
    d = xcalloc(1, sizeof *d);
    d->wd = wd;
    d->real = xstrdup(real);
    d->refs = 1;
    if (w->ndirs == w->capdirs) {
        w->capdirs = w->capdirs ? 2 * w->capdirs : 8;
        w->dirs = xrealloc(w->dirs, (size_t)w->capdirs * sizeof *w->dirs);
    }
    w->dirs[w->ndirs++] = d;
    return d;
}

static void dir_put(struct fdn_watch *w, struct wdir *d)
{
    if (--d->refs == 0)
        event_active(w->sweep, EV_TIMEOUT, 0);
}

static void watch_sweep_cb(evutil_socket_t fd, short what, void *arg)
{
    struct fdn_watch *w = arg;
    (void)fd;
    (void)what;
    for (int i = w->ndirs - 1; i >= 0; i--) {
        struct wdir *d = w->dirs[i];
        if (d->refs == 0) {
            inotify_rm_watch(w->fd, d->wd); /* its IN_IGNORED finds no directory: skipped */
            dir_unlink(w, d);
        }
    }
}

/* The directory went away (or moved): report its files, keep them unwatched. */
static void dir_drop(struct fdn_watch *w, struct wdir *d, int rm)
{
    if (d->refs > 0)
        fdn_warn("watch: directory %s is gone: its files are no longer watched", d->real);
    for (int i = 0; i < w->nfiles; i++) {
        if (w->files[i]->dir == d) {
            w->files[i]->dir = NULL;
            mark(w, w->files[i]);
        }
    }
    if (rm)
        inotify_rm_watch(w->fd, d->wd);
    dir_unlink(w, d);
}

static void handle(struct fdn_watch *w, const struct inotify_event *ie)
{
    if (ie->mask & IN_Q_OVERFLOW) {
        fdn_warn("watch: the kernel's event queue overflowed: reporting every file");
        for (int i = 0; i < w->nfiles; i++)
            mark(w, w->files[i]);
        return;
    }
    struct wdir *d = dir_by_wd(w, ie->wd);
    if (!d)
        return;
    if (ie->mask & (IN_IGNORED | IN_MOVE_SELF)) {
        dir_drop(w, d, !(ie->mask & IN_IGNORED));
        return;
    }
    if (ie->len == 0 || !ie->name[0])
        return;
    for (int i = 0; i < w->nfiles; i++) {
        struct wfile *f = w->files[i];
        if (f->dir == d && strcmp(f->name, ie->name) == 0)
            mark(w, f);
    }
}

static void watch_read_cb(evutil_socket_t fd, short what, void *arg)
{
    struct fdn_watch *w = arg;
    (void)what;
    char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
    for (int reads = 0; reads < MAX_READS; reads++) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r < 0 && errno != EAGAIN)
                fdn_warn("watch: read: %s", strerror(errno));
            return;
        }
        for (char *p = buf; p < buf + r;) {
            const struct inotify_event *ie = (const struct inotify_event *)p;
            handle(w, ie);
            p += sizeof *ie + ie->len;
        }
    }
}

static void watch_quiet_cb(evutil_socket_t fd, short what, void *arg)
{
    struct fdn_watch *w = arg;
    (void)fd;
    (void)what;
    if (w->pending == 0)
        return;
    lua_State *L = w->n->L;
    int count = w->pending;
    fdn_node_dispatch_begin(w->n, "watch");
    lua_createtable(L, count, 0);
    int k = 0;
    for (int i = 0; i < w->nfiles; i++) {
        struct wfile *f = w->files[i];
        if (!f->changed)
            continue;
        f->changed = 0;
        lua_pushstring(L, f->path);
        lua_rawseti(L, -2, ++k);
    }
    w->pending = 0;
    /* from here on Lua may add, remove or clear: nothing of ours is held across the call */
    fdn_node_dispatch_end(w->n, 1);
}

int fdn_watch_new(struct fdn_node *n, struct fdn_watch **out)
{
    *out = NULL;
    int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) {
        fdn_error("watch: inotify_init1: %s%s", strerror(errno),
                  errno == EMFILE ? " (see fs.inotify.max_user_instances)" : "");
        return -1;
    }
    struct fdn_watch *w = xcalloc(1, sizeof *w);
    w->n = n;
    w->fd = fd;
    w->quiet_ms = 100;
    w->ev = event_new(n->base, fd, EV_READ | EV_PERSIST, watch_read_cb, w);
    w->timer = evtimer_new(n->base, watch_quiet_cb, w);
    w->sweep = event_new(n->base, -1, 0, watch_sweep_cb, w);
    if (!w->ev || !w->timer || !w->sweep || event_add(w->ev, NULL) < 0) {
        fdn_error("watch: cannot register with the event loop");
        fdn_watch_free(w);
        return -1;
    }
    *out = w;
    return 0;
}

static void file_free(struct wfile *f)
{
    free(f->path);
    free(f->real);
    free(f);
}

void fdn_watch_free(struct fdn_watch *w)
{
    if (!w)
        return;
    if (w->ev)
        event_free(w->ev);
    if (w->timer)
        event_free(w->timer);
    if (w->sweep)
        event_free(w->sweep);
    close(w->fd); /* drops every inotify watch with it */
    for (int i = 0; i < w->nfiles; i++)
        file_free(w->files[i]);
    for (int i = 0; i < w->ndirs; i++) {
        free(w->dirs[i]->real);
        free(w->dirs[i]);
    }
    free(w->files);
    free(w->dirs);
    free(w);
}

static int find_real(const struct fdn_watch *w, const char *real)
{
    for (int i = 0; i < w->nfiles; i++)
        if (strcmp(w->files[i]->real, real) == 0)
            return i;
    return -1;
}

int fdn_watch_add(struct fdn_watch *w, const char *path)
{
    char *real = resolve(path);
    if (!real) {
        int e = errno;
        fdn_error("watch: cannot watch %s: %s", path, strerror(e));
        errno = e;
        return -1;
    }
    char *slash = strrchr(real, '/');
    if (!slash || !slash[1]) { /* "/" itself */
        fdn_error("watch: cannot watch %s: not a file", path);
        free(real);
        errno = EISDIR;
        return -1;
    }
    int i = find_real(w, real);
    if (i >= 0 && w->files[i]->dir) {
        free(real);
        return 0;
    }
    *slash = '\0';
    struct wdir *d = dir_get(w, slash == real ? "/" : real, path);
    *slash = '/';
    if (!d) {
        free(real);
        return -1;
    }
    if (i >= 0) { /* its directory went away and is back: watch it again */
        w->files[i]->dir = d;
        free(real);
        return 0;
    }
    struct wfile *f = xcalloc(1, sizeof *f);
    f->path = xstrdup(path);
    f->real = real;
    f->name = slash + 1;
    f->dir = d;
    if (w->nfiles == w->capfiles) {
        w->capfiles = w->capfiles ? 2 * w->capfiles : 16;
        w->files = xrealloc(w->files, (size_t)w->capfiles * sizeof *w->files);
    }
    w->files[w->nfiles++] = f;
    return 0;
}

static void remove_at(struct fdn_watch *w, int i)
{
    struct wfile *f = w->files[i];
    unmark(w, f);
    if (f->dir)
        dir_put(w, f->dir);
    file_free(f);
    memmove(&w->files[i], &w->files[i + 1], (size_t)(w->nfiles - i - 1) * sizeof *w->files);
    w->nfiles--;
}

int fdn_watch_remove(struct fdn_watch *w, const char *path)
{
    for (int i = 0; i < w->nfiles; i++) {
        if (strcmp(w->files[i]->path, path) == 0) {
            remove_at(w, i);
            return 0;
        }
    }
    char *real = resolve(path);
    if (!real)
        return -1;
    int i = find_real(w, real);
    free(real);
    if (i < 0)
        return -1;
    remove_at(w, i);
    return 0;
}

void fdn_watch_clear(struct fdn_watch *w)
{
    while (w->nfiles > 0)
        remove_at(w, w->nfiles - 1);
}

void fdn_watch_set_quiet(struct fdn_watch *w, int ms)
{
    w->quiet_ms = ms < 0 ? 0 : ms > QUIET_MAX ? QUIET_MAX : ms;
    if (w->pending > 0)
        arm(w);
}

int fdn_watch_count(const struct fdn_watch *w)
{
    return w->nfiles;
}

const char *fdn_watch_path(const struct fdn_watch *w, int i)
{
    return i >= 0 && i < w->nfiles ? w->files[i]->path : NULL;
}

int fdn_watch_pending(const struct fdn_watch *w)
{
    return w->pending;
}
