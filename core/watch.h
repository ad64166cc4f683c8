/* watch.h: file watching for hot reload: inotify on the reactor, one watch per directory,
 * editor-proof matching by name, and a debounce that hands Lua one list of changed files. */
#ifndef FDN_WATCH_H
#define FDN_WATCH_H

struct fdn_node;
struct fdn_watch;

/* Dispatches into Lua (fdn_node_dispatch_begin/end):
 *
 *   "watch", {path, ...}
 *       the files that changed, each as the string given to fdn_watch_add, in the order
 *       they were added. Sent once the watched files have been quiet for the quiet period
 *       (default 100 ms, fdn_watch_set_quiet) since the last change, or at the latest ten
 *       quiet periods after the first change of a burst, so a file rewritten without pause
 *       still reloads. Lua may call any fdn_watch_* function from inside, but not free.
 *
 * A file counts as changed when it is written (IN_MODIFY, IN_CLOSE_WRITE), its attributes
 * change (touch), it is renamed over or away, deleted or created: every way editors save
 * (in place, temp + rename, delete + recreate, vim's backup rename). A file deleted and not
 * recreated is reported too (Lua then fails to load it and keeps the old version). The
 * kernel queue overflowing reports every watched file. A watched directory that goes away
 * (deleted, unmounted or renamed) reports its files; they stay in the set, unwatched, until
 * added again. Paths are matched after realpath (symlinks, "..", relative paths), so two
 * spellings of one file are one entry, reported as the first spelling added. */

/* 0, or -1 after logging one line (no inotify instance to be had). */
int fdn_watch_new(struct fdn_node *n, struct fdn_watch **out);
/* Frees everything; a pending change is dropped, never dispatched. Accepts NULL. */
void fdn_watch_free(struct fdn_watch *w);

/* Watches path (a file, which need not exist yet, in a directory that must). 0 (also when
 * already watched), or -1 after logging one line when its directory cannot be watched. */
int fdn_watch_add(struct fdn_watch *w, const char *path);
/* Stops watching path (matched as given to add, else after realpath); a pending change of
 * it is dropped. 0, or -1 when it was not watched. */
int fdn_watch_remove(struct fdn_watch *w, const char *path);
/* Stops watching every file; pending changes are dropped. */
void fdn_watch_clear(struct fdn_watch *w);
/* The quiet period in milliseconds (0..60000). */
void fdn_watch_set_quiet(struct fdn_watch *w, int ms);

/* The watched files, as given to add, in the order they were added (i < count). */
int fdn_watch_count(const struct fdn_watch *w);
const char *fdn_watch_path(const struct fdn_watch *w, int i);
/* How many files have a change waiting for the quiet period to end. */
int fdn_watch_pending(const struct fdn_watch *w);

#endif
