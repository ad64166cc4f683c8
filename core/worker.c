/* worker.c: the worker threads (worker.h). A mutex guards the two job lists; a finished job
 * goes on the done list, and an eventfd watched by the reactor wakes it to call the dones. */
#include "worker.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include <event2/event.h>

#include "util.h"

/* The hand-back is an eventfd rather than event_active from the worker thread: that needs
 * evthread_use_pthreads() before the base is made, and then every event_add, event_del and
 * loop turn of the whole node takes the base's lock, for the sake of a few jobs. With the
 * eventfd libevent stays single-threaded; a worker writes it only when the done list was
 * empty, so a burst of finished jobs costs the reactor one wake-up and one read. */

struct job {
    fdn_worker_run_fn run;
    fdn_worker_done_fn done;
    void *arg;
    struct job *next;
};

struct list {
    struct job *head, *tail;
};

/* Jobs of every worker of the process whose done has not run (reactor thread only). */
static int jobs_out;

struct fdn_worker {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct list todo, done; /* under mu */
    int stopping;           /* under mu */
    int closing;            /* reactor thread only: fdn_worker_free has begun */
    int outstanding;        /* reactor thread only */
    int max_jobs;
    int nice; /* added to the reactor's nice value in each thread */
    int efd;
    struct event *ev;
    int nthreads;
    pthread_t *threads;
};

static void push(struct list *l, struct job *j)
{
    j->next = NULL;
    if (l->tail)
        l->tail->next = j;
    else
        l->head = j;
    l->tail = j;
}

static struct job *take_all(struct list *l)
{
    struct job *j = l->head;
    l->head = l->tail = NULL;
    return j;
}

static void *worker_main(void *arg)
{
    struct fdn_worker *w = arg;
    /* below the reactor when asked (Linux's nice is per thread; +10 weighs a tenth of nice 0):
     * when the cores are busy, the reactor's short turns come first and a long job waits */
    errno = 0;
    int nice = getpriority(PRIO_PROCESS, 0);
    if (errno == 0 && w->nice > 0)
        setpriority(PRIO_PROCESS, (id_t)gettid(), nice + w->nice > 19 ? 19 : nice + w->nice);
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->stopping && !w->todo.head)
            pthread_cond_wait(&w->cv, &w->mu);
        if (w->stopping) /* what is still queued is cancelled by fdn_worker_free */
            break;
        struct job *j = w->todo.head;
        w->todo.head = j->next;
        if (!w->todo.head)
            w->todo.tail = NULL;
        pthread_mutex_unlock(&w->mu);
        j->run(j->arg);
        pthread_mutex_lock(&w->mu);
        int wake = !w->done.head;
        push(&w->done, j);
        if (wake) {
            uint64_t one = 1;
            ssize_t r;
            do
                r = write(w->efd, &one, sizeof one);
            while (r < 0 && errno == EINTR);
            /* EAGAIN: the counter is full, so the reactor is woken anyway */
        }
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

static void deliver(struct fdn_worker *w, struct job *j, int status)
{
    while (j) {
        struct job *next = j->next;
        w->outstanding--;
        jobs_out--;
        j->done(j->arg, status);
        free(j);
        j = next;
    }
}

static void worker_ready_cb(evutil_socket_t fd, short what, void *arg)
{
    struct fdn_worker *w = arg;
    (void)what;
    uint64_t count;
    if (read(fd, &count, sizeof count) < 0 && errno != EAGAIN && errno != EINTR)
        fdn_error("worker: reading the wake-up: %s", strerror(errno));
    pthread_mutex_lock(&w->mu);
    struct job *j = take_all(&w->done);
    pthread_mutex_unlock(&w->mu);
    deliver(w, j, FDN_WORKER_OK); /* a done may submit again: the list is ours alone now */
}

int fdn_worker_new(struct event_base *base, int threads, int max_jobs, int nice,
                   struct fdn_worker **out)
{
    struct fdn_worker *w = xcalloc(1, sizeof *w);
    w->max_jobs = max_jobs;
    w->nice = nice;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->efd < 0) {
        fdn_error("worker: eventfd: %s", strerror(errno));
        fdn_worker_free(w);
        return -1;
    }
    w->ev = event_new(base, w->efd, EV_READ | EV_PERSIST, worker_ready_cb, w);
    if (!w->ev || event_add(w->ev, NULL) < 0) {
        fdn_error("worker: cannot watch the wake-up descriptor");
        fdn_worker_free(w);
        return -1;
    }
    /* the threads block every signal: the watchdog's SIGALRM and the stop signals are the
     * reactor thread's */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    w->threads = xcalloc((size_t)threads, sizeof *w->threads);
    for (; w->nthreads < threads; w->nthreads++) {
        int rc = pthread_create(&w->threads[w->nthreads], NULL, worker_main, w);
        if (rc != 0) {
            fdn_error("worker: pthread_create: %s", strerror(rc));
            break;
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (w->nthreads < threads) {
        fdn_worker_free(w);
        return -1;
    }
    *out = w;
    return 0;
}

int fdn_worker_submit(struct fdn_worker *w, fdn_worker_run_fn run, fdn_worker_done_fn done,
                      void *arg)
{
    if (w->closing || w->outstanding >= w->max_jobs)
        return -1; /* closing: a done called by fdn_worker_free may not queue more */
    struct job *j = xmalloc(sizeof *j);
    j->run = run;
    j->done = done;
    j->arg = arg;
    w->outstanding++;
    jobs_out++;
    pthread_mutex_lock(&w->mu);
    push(&w->todo, j);
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return 0;
}

int fdn_workers_busy(void)
{
    return jobs_out > 0;
}

int fdn_worker_outstanding(const struct fdn_worker *w)
{
    return w->outstanding;
}

void fdn_worker_free(struct fdn_worker *w)
{
    if (!w)
        return;
    w->closing = 1;
    pthread_mutex_lock(&w->mu);
    w->stopping = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    for (int i = 0; i < w->nthreads; i++)
        pthread_join(w->threads[i], NULL);
    free(w->threads);
    /* no thread is left: the lists are ours without the lock */
    deliver(w, take_all(&w->done), FDN_WORKER_DROPPED);
    deliver(w, take_all(&w->todo), FDN_WORKER_CANCELLED);
    if (w->ev)
        event_free(w->ev);
    if (w->efd >= 0)
        close(w->efd);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
}
