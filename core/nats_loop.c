/* nats_loop.c: the NATS connection's side on the reactor (nats_int.h): the event-loop callbacks
 * libnats calls, which record the socket and the events it wants, applied on the reactor, and
 * the direct subscriptions' messages taken there as the socket is read. */
#include <errno.h>
#include <pthread.h>
#include <unistd.h>

#include <event2/event.h>
#include <nats/nats.h>

#include "nats_int.h"

/* libnats' own libevent adapter (nats/adapters/libevent.h) needs evthread_use_pthreads(): it
 * calls event_add from libnats' threads (a publish from a timer, the reconnect thread's
 * attach). That would lock the whole base on every operation of the node. Instead the
 * callbacks below record the wanted state (socket, read, write) under the mutex; the reactor
 * applies it, at once when they run on it, else after the eventfd woke it. */

void fdn_nats_wake_locked(struct fdn_nats *c)
{
    if (c->woken)
        return;
    c->woken = 1;
    uint64_t one = 1;
    ssize_t r;
    do
        r = write(c->efd, &one, sizeof one);
    while (r < 0 && errno == EINTR);
}

/* The head of every object libnats' garbage collector takes (its gc.h: natsMsg opens with it,
 * as natsMsg_Destroy's cast to it says). */
struct gc_head {
    void *next;
    void (*free_cb)(void *);
};

/* natsMsg_Destroy hands a message to libnats' collector thread, waking it: per message read on
 * the reactor, a context switch. Without a free callback, natsMsg_Destroy frees it here. */
static void free_now(natsMsg *m)
{
    ((struct gc_head *)(void *)m)->free_cb = NULL;
    natsMsg_Destroy(m);
}

/* On the reactor: hands the messages the direct subscriptions hold to the handler, at most
 * budget of them. Returns the budget left (0: there may be more). */
int fdn_nats_drain(struct fdn_nats *c, int budget)
{
restart:
    for (struct sub *s = c->subs; s && !c->closed; s = s->next) {
        while (s->direct && budget > 0) {
            natsMsg *m = NULL;
            if (natsSubscription_NextMsg(&m, s->s, 0) != NATS_OK || !m)
                break;
            budget--;
            unsigned gen = c->subs_gen;
            c->h.message(c->arg, s->sid, natsMsg_GetSubject(m), natsMsg_GetReply(m),
                         natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), 0);
            free_now(m);
            if (c->closed)
                return budget;
            if (gen != c->subs_gen)
                goto restart; /* s may be gone (bounded: each pass took a message) */
        }
    }
    return budget;
}

static void io_cb(evutil_socket_t fd, short what, void *arg)
{
    struct fdn_nats *c = arg;
    (void)fd;
    int kicked = c->wr_kicked; /* (cleared even when the connection went away meanwhile) */
    c->wr_kicked = 0;
    pthread_mutex_lock(&c->mu);
    natsConnection *nc = c->io_nc;
    pthread_mutex_unlock(&c->mu);
    if (!nc)
        return;
    /* an error there starts libnats' reconnect thread: with signals blocked */
    if (what & EV_READ)
        NO_SIGNALS(natsConnection_ProcessReadEvent(nc));
    if (what & EV_WRITE) {
        NO_SIGNALS(natsConnection_ProcessWriteEvent(nc));
        if (kicked) { /* bytes left (the socket is full): poll for room from now on */
            pthread_mutex_lock(&c->mu);
            int still = c->want_write;
            pthread_mutex_unlock(&c->mu);
            if (still) {
                c->wr_full = 1;
                fdn_nats_apply(c);
            }
        }
    }
    if ((what & EV_READ) && fdn_nats_drain(c, DIRECT_BATCH) == 0) {
        static const struct timeval now = {0, 0};
        event_add(c->more_ev, &now); /* the rest after the next poll */
    }
}

static void set_on(struct event *ev, int *on, int want)
{
    if (!ev || *on == want)
        return;
    if (want)
        event_add(ev, NULL);
    else
        event_del(ev);
    *on = want;
}

/* The write event. libnats wants it for every publish; the socket nearly always has room, so
 * the first time the write is run in this loop pass (event_active: no epoll_ctl, no poll);
 * only when that write left bytes is the socket polled for room until libnats is done. */
static void apply_write(struct fdn_nats *c, int want)
{
    if (!c->wr)
        return;
    if (!want) {
        c->wr_full = 0;
        set_on(c->wr, &c->wr_on, 0);
    } else if (c->wr_full) {
        set_on(c->wr, &c->wr_on, 1);
    } else if (!c->wr_on && !c->wr_kicked) {
        c->wr_kicked = 1;
        event_active(c->wr, EV_WRITE, 1);
    }
}

/* On the reactor: makes the events match the wanted state. */
void fdn_nats_apply(struct fdn_nats *c)
{
    pthread_mutex_lock(&c->mu);
    int sock = c->want_sock, gen = c->want_gen, rd = c->want_read, wr = c->want_write;
    pthread_mutex_unlock(&c->mu);
    if (gen != c->cur_gen) { /* a new socket (its number may be the old one's) or none */
        if (c->rd)
            event_free(c->rd);
        if (c->wr)
            event_free(c->wr);
        c->rd = c->wr = NULL;
        c->rd_on = c->wr_on = c->wr_kicked = c->wr_full = 0;
        if (sock >= 0) {
            c->rd = event_new(c->base, sock, EV_READ | EV_PERSIST, io_cb, c);
            c->wr = event_new(c->base, sock, EV_WRITE | EV_PERSIST, io_cb, c);
        }
        c->cur_gen = gen;
    }
    set_on(c->rd, &c->rd_on, rd);
    apply_write(c, wr);
}

/* Called with mu held: applies now on the reactor (after unlocking), else wakes it. */
static void settle_locked(struct fdn_nats *c)
{
    if (pthread_equal(pthread_self(), c->reactor)) {
        pthread_mutex_unlock(&c->mu);
        fdn_nats_apply(c);
        return;
    }
    fdn_nats_wake_locked(c);
    pthread_mutex_unlock(&c->mu);
}

natsStatus fdn_nats_ev_attach(void **user, void *loop, natsConnection *nc, natsSock sock)
{
    struct fdn_nats *c = loop;
    *user = c;
    pthread_mutex_lock(&c->mu);
    c->io_nc = nc;
    c->want_sock = sock;
    c->want_gen++;
    c->want_read = 1;
    c->want_write = 0;
    settle_locked(c);
    return NATS_OK;
}

/* Records that libnats wants (add) or no longer wants one of the socket's events. */
static natsStatus want(struct fdn_nats *c, int *wanted, bool add)
{
    pthread_mutex_lock(&c->mu);
    *wanted = add;
    settle_locked(c);
    return NATS_OK;
}

natsStatus fdn_nats_ev_read(void *user, bool add)
{
    struct fdn_nats *c = user;
    return want(c, &c->want_read, add);
}

natsStatus fdn_nats_ev_write(void *user, bool add)
{
    struct fdn_nats *c = user;
    return want(c, &c->want_write, add);
}

natsStatus fdn_nats_ev_detach(void *user)
{
    struct fdn_nats *c = user;
    pthread_mutex_lock(&c->mu);
    c->io_nc = NULL;
    c->want_sock = -1;
    c->want_gen++;
    c->want_read = c->want_write = 0;
    settle_locked(c);
    return NATS_OK;
}
