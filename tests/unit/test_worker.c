/* test_worker.c: the worker threads on a real event loop: run off the reactor thread, done on
 * it, many jobs, the bound on outstanding jobs, and a free with jobs still queued. */
#include <errno.h>
#include <pthread.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "check.h"
#include "worker.h"

struct tjob {
    pthread_t run_thread, done_thread;
    int ran, status, sleep_ms;
    int *finished;
    struct event_base *base;
};

static pthread_t reactor;

static void job_run(void *arg)
{
    struct tjob *j = arg;
    j->run_thread = pthread_self();
    j->ran = 1;
    if (j->sleep_ms) {
        struct timespec ts = {0, (long)j->sleep_ms * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static void job_done(void *arg, int status)
{
    struct tjob *j = arg;
    j->done_thread = pthread_self();
    j->status = status;
    (*j->finished)++;
}

static void timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    event_base_loopbreak(arg);
}

/* Runs the loop until *count reaches want or 10 s pass. */
static void run_until(struct event_base *base, const int *count, int want)
{
    struct timeval tv = {10, 0};
    struct event *t = evtimer_new(base, timeout_cb, base);
    evtimer_add(t, &tv);
    while (*count < want && !event_base_got_break(base))
        event_base_loop(base, EVLOOP_ONCE);
    event_free(t);
}

static void many_jobs(struct event_base *base)
{
    enum { N = 200 };
    struct fdn_worker *w;
    CHECK(fdn_worker_new(base, 2, N, 0, &w) == 0);
    static struct tjob jobs[N];
    int finished = 0;
    for (int i = 0; i < N; i++) {
        jobs[i] = (struct tjob){.finished = &finished};
        CHECK(fdn_worker_submit(w, job_run, job_done, &jobs[i]) == 0);
    }
    CHECK(fdn_worker_outstanding(w) == N);
    CHECK(finished == 0); /* nothing is handed back outside the loop */
    run_until(base, &finished, N);
    CHECK(finished == N);
    int off = 0, on = 0;
    for (int i = 0; i < N; i++) {
        off += jobs[i].ran && !pthread_equal(jobs[i].run_thread, reactor);
        on += pthread_equal(jobs[i].done_thread, reactor) && jobs[i].status == FDN_WORKER_OK;
    }
    CHECK(off == N);
    CHECK(on == N);
    CHECK(fdn_worker_outstanding(w) == 0);
    fdn_worker_free(w);
}

static void bounded(struct event_base *base)
{
    struct fdn_worker *w;
    CHECK(fdn_worker_new(base, 1, 2, 0, &w) == 0);
    int finished = 0;
    struct tjob a = {.finished = &finished}, b = a, c = a;
    CHECK(fdn_worker_submit(w, job_run, job_done, &a) == 0);
    CHECK(fdn_worker_submit(w, job_run, job_done, &b) == 0);
    CHECK(fdn_worker_submit(w, job_run, job_done, &c) == -1);
    run_until(base, &finished, 2);
    CHECK(finished == 2 && !c.ran);
    CHECK(fdn_worker_submit(w, job_run, job_done, &c) == 0); /* room again */
    run_until(base, &finished, 3);
    CHECK(c.ran && c.status == FDN_WORKER_OK);
    fdn_worker_free(w);
}

/* heap jobs, freed by their done: a free that forgot one leaks it under ASan */
static int heap_done_count, heap_statuses[3];
static void heap_done(void *arg, int status)
{
    free(arg);
    heap_done_count++;
    heap_statuses[status]++;
}

static void free_with_jobs_queued(struct event_base *base)
{
    struct fdn_worker *w;
    CHECK(fdn_worker_new(base, 1, 100, 0, &w) == 0);
    int finished = 0;
    for (int i = 0; i < 20; i++) {
        struct tjob *j = calloc(1, sizeof *j);
        j->finished = &finished;
        j->sleep_ms = 20; /* the one thread is busy with the first while the rest wait */
        CHECK(fdn_worker_submit(w, job_run, heap_done, j) == 0);
    }
    usleep(5000);
    fdn_worker_free(w); /* joins after the job running; the rest are cancelled */
    CHECK(heap_done_count == 20);
    CHECK(heap_statuses[FDN_WORKER_OK] == 0);
    CHECK(heap_statuses[FDN_WORKER_DROPPED] >= 1);
    CHECK(heap_statuses[FDN_WORKER_CANCELLED] >= 15);
    fdn_worker_free(NULL);
}

/* a done that submits the next job: a chain of 50 on the loop */
static struct fdn_worker *chain_w;
static int chain_left, chain_done;
static void chain_run(void *arg)
{
    (void)arg;
}
static void chain_next(void *arg, int status)
{
    (void)arg;
    if (status != FDN_WORKER_OK)
        return;
    chain_done++;
    if (--chain_left > 0)
        fdn_worker_submit(chain_w, chain_run, chain_next, NULL);
}

static void chained(struct event_base *base)
{
    CHECK(fdn_worker_new(base, 2, 4, 0, &chain_w) == 0);
    chain_left = 50;
    fdn_worker_submit(chain_w, chain_run, chain_next, NULL);
    run_until(base, &chain_done, 50);
    CHECK(chain_done == 50);
    fdn_worker_free(chain_w);
}

static int seen_nice;
static void nice_run(void *arg)
{
    (void)arg;
    errno = 0;
    seen_nice = getpriority(PRIO_PROCESS, (id_t)gettid());
}
static void nice_done(void *arg, int status)
{
    (void)status;
    (*(int *)arg)++;
}

/* A worker made with nice 3 runs its jobs 3 below the reactor's priority; the reactor keeps its. */
static void niced(struct event_base *base)
{
    errno = 0;
    int mine = getpriority(PRIO_PROCESS, 0);
    struct fdn_worker *w;
    int finished = 0;
    CHECK(fdn_worker_new(base, 1, 4, 3, &w) == 0);
    CHECK(fdn_worker_submit(w, nice_run, nice_done, &finished) == 0);
    run_until(base, &finished, 1);
    CHECK(finished == 1);
    CHECK(seen_nice == (mine + 3 > 19 ? 19 : mine + 3));
    CHECK(getpriority(PRIO_PROCESS, 0) == mine);
    fdn_worker_free(w);
}

int main(void)
{
    reactor = pthread_self();
    struct event_base *base = event_base_new();
    many_jobs(base);
    bounded(base);
    free_with_jobs_queued(base);
    chained(base);
    niced(base);
    event_base_free(base);
    return check_summary("worker");
}
