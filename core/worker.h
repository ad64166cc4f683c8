/* worker.h: a few threads for work that cannot be made non-blocking (bcrypt, SQLite): a job's
 * run(arg) goes on a worker thread, its done(arg, status) later on the reactor thread. */
#ifndef FDN_WORKER_H
#define FDN_WORKER_H

struct event_base;
struct fdn_worker;

/* What done is told: the job ran and this is its hand-back on the reactor; or the worker was
 * freed first, after run (DROPPED) or before it (CANCELLED). Only OK may call into Lua: the
 * other two only release what the job holds. */
enum { FDN_WORKER_OK = 0, FDN_WORKER_DROPPED = 1, FDN_WORKER_CANCELLED = 2 };

typedef void (*fdn_worker_run_fn)(void *arg);
typedef void (*fdn_worker_done_fn)(void *arg, int status);

/* threads worker threads, each at the reactor's nice value plus nice (0..19: Linux's nice is
 * per thread); at most max_jobs jobs submitted whose done has not been called yet. 0, or -1
 * after logging (the threads or the wake-up descriptor could not be made). */
int fdn_worker_new(struct event_base *base, int threads, int max_jobs, int nice,
                   struct fdn_worker **out);

/* Queues a job (from the reactor thread); -1 when max_jobs are already outstanding (done
 * will not be called then). */
int fdn_worker_submit(struct fdn_worker *w, fdn_worker_run_fn run, fdn_worker_done_fn done,
                      void *arg);

/* Whether any worker of the process has a job whose done has not been called yet: the reactor
 * then sleeps rather than polls (its polling would take the core the job needs). */
int fdn_workers_busy(void);

/* Jobs submitted whose done has not been called yet. */
int fdn_worker_outstanding(const struct fdn_worker *w);

/* Stops and joins the threads (a job running finishes first), then calls done for every job
 * not yet handed back, with DROPPED or CANCELLED, on the calling thread. Accepts NULL. */
void fdn_worker_free(struct fdn_worker *w);

#endif
