/* nats_bus.c: a NATS connection on the reactor (nats_bus.h): libnats' event-loop callbacks
 * drive two libevent events on its socket; its threads' messages and states come through a
 * queue and an eventfd, as the worker threads' results do (worker.c). */
#include "nats_bus.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/event.h>
#include <nats/nats.h>

#include "nats_opts.h"
#include "ratelog.h"
#include "util.h"

/* libnats' own libevent adapter (nats/adapters/libevent.h) needs evthread_use_pthreads(): it
 * calls event_add from libnats' threads (a publish from a timer, the reconnect thread's
 * attach). That would lock the whole base on every operation of the node. Instead these
 * callbacks record the wanted state (socket, read, write) under the mutex; the reactor applies
 * it, at once when they run on it, else after the eventfd woke it. */

#define BATCH 256          /* messages handed to Lua per loop turn */
#define DIRECT_BATCH 1024  /* messages of direct subscriptions taken per read or turn */
#define CLOSE_WAIT_MS 5000 /* nats_CloseAndWait at exit */

enum { IT_MSG, IT_CONNECTED, IT_STATUS };

struct item {
    struct item *next;
    int kind, state, no_responders;
    uint64_t sid;
    natsConnection *nc; /* IT_CONNECTED: the new connection, or NULL with err */
    char *subject, *reply, *data, *err;
    size_t len;
};

struct sub {
    struct sub *next;
    uint64_t sid;
    natsSubscription *s;
    int direct; /* synchronous: taken on the reactor (drain) */
};

struct fdn_nats {
    struct fdn_nats *next_all; /* every bus of the process, freed at shutdown */
    struct event_base *base;
    pthread_t reactor;
    struct fdn_nats_handlers h;
    void *arg;
    natsOptions *opts;
    natsConnection *nc; /* reactor thread: once connected, until closed */
    struct sub *subs;
    unsigned subs_gen; /* changes with subs: a handler may (un)subscribe while drain walks it */
    int closed;
    pthread_t connector;
    int connecting; /* the connect thread has not been joined */
    pthread_mutex_t mu;
    struct item *head, *tail; /* under mu */
    int queued, max_queued;   /* under mu: messages only */
    size_t bytes, max_bytes;  /* under mu: their payloads */
    uint64_t dropped;         /* under mu */
    uint64_t dropped_told;    /* reactor thread: the count last logged */
    struct fdn_ratelog drop_log;
    int woken; /* under mu: the eventfd was written and not yet read */
    /* the adapter's wanted state, under mu */
    natsConnection *io_nc;
    int want_sock, want_gen, want_read, want_write;
    /* what the reactor applied */
    int cur_gen, rd_on, wr_on;
    struct event *rd, *wr;
    int efd;
    struct event *wake_ev, *more_ev;
};

static struct fdn_nats *all;
static int lib_open;

/* Runs stmt with every signal blocked: threads libnats starts there inherit the mask, so the
 * watchdog's SIGALRM and the stop signals stay the reactor's. */
#define NO_SIGNALS(stmt)                                                                           \
    do {                                                                                           \
        sigset_t all_, old_;                                                                       \
        sigfillset(&all_);                                                                         \
        pthread_sigmask(SIG_SETMASK, &all_, &old_);                                                \
        stmt;                                                                                      \
        pthread_sigmask(SIG_SETMASK, &old_, NULL);                                                 \
    } while (0)

static void wake_locked(struct fdn_nats *c)
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

static void push(struct fdn_nats *c, struct item *it)
{
    pthread_mutex_lock(&c->mu);
    if (it->kind == IT_MSG && (c->queued >= c->max_queued || c->bytes + it->len > c->max_bytes)) {
        c->dropped++;
        pthread_mutex_unlock(&c->mu);
        free(it);
        return;
    }
    if (it->kind == IT_MSG) {
        c->queued++;
        c->bytes += it->len;
    }
    it->next = NULL;
    if (c->tail)
        c->tail->next = it;
    else
        c->head = it;
    c->tail = it;
    wake_locked(c);
    pthread_mutex_unlock(&c->mu);
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
static int drain(struct fdn_nats *c, int budget)
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
    pthread_mutex_lock(&c->mu);
    natsConnection *nc = c->io_nc;
    pthread_mutex_unlock(&c->mu);
    if (!nc)
        return;
    /* an error there starts libnats' reconnect thread: with signals blocked */
    if (what & EV_READ)
        NO_SIGNALS(natsConnection_ProcessReadEvent(nc));
    if (what & EV_WRITE)
        NO_SIGNALS(natsConnection_ProcessWriteEvent(nc));
    if ((what & EV_READ) && drain(c, DIRECT_BATCH) == 0) {
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

/* On the reactor: makes the events match the wanted state. */
static void apply(struct fdn_nats *c)
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
        c->rd_on = c->wr_on = 0;
        if (sock >= 0) {
            c->rd = event_new(c->base, sock, EV_READ | EV_PERSIST, io_cb, c);
            c->wr = event_new(c->base, sock, EV_WRITE | EV_PERSIST, io_cb, c);
        }
        c->cur_gen = gen;
    }
    set_on(c->rd, &c->rd_on, rd);
    set_on(c->wr, &c->wr_on, wr);
}

/* Called with mu held: applies now on the reactor (after unlocking), else wakes it. */
static void settle_locked(struct fdn_nats *c)
{
    if (pthread_equal(pthread_self(), c->reactor)) {
        pthread_mutex_unlock(&c->mu);
        apply(c);
        return;
    }
    wake_locked(c);
    pthread_mutex_unlock(&c->mu);
}

static natsStatus ev_attach(void **user, void *loop, natsConnection *nc, natsSock sock)
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

static natsStatus ev_read(void *user, bool add)
{
    struct fdn_nats *c = user;
    pthread_mutex_lock(&c->mu);
    c->want_read = add;
    settle_locked(c);
    return NATS_OK;
}

static natsStatus ev_write(void *user, bool add)
{
    struct fdn_nats *c = user;
    pthread_mutex_lock(&c->mu);
    c->want_write = add;
    settle_locked(c);
    return NATS_OK;
}

static natsStatus ev_detach(void *user)
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

static void on_msg(natsConnection *nc, natsSubscription *s, natsMsg *m, void *closure)
{
    struct fdn_nats *c = closure;
    (void)nc;
    const char *subject = natsMsg_GetSubject(m), *reply = natsMsg_GetReply(m);
    size_t ls = strlen(subject), lr = reply ? strlen(reply) : 0;
    size_t len = (size_t)natsMsg_GetDataLength(m);
    /* one allocation: the item, then subject, reply and data, each NUL-terminated */
    struct item *it = xmalloc(sizeof *it + ls + lr + len + 3);
    memset(it, 0, sizeof *it);
    it->kind = IT_MSG;
    it->no_responders = natsMsg_IsNoResponders(m);
    it->sid = (uint64_t)natsSubscription_GetID(s);
    it->subject = (char *)(it + 1);
    memcpy(it->subject, subject, ls + 1);
    if (reply) {
        it->reply = it->subject + ls + 1;
        memcpy(it->reply, reply, lr + 1);
    }
    it->data = it->subject + ls + 1 + lr + 1;
    if (len)
        memcpy(it->data, natsMsg_GetData(m), len);
    it->data[len] = '\0';
    it->len = len;
    natsMsg_Destroy(m);
    push(c, it);
}

static void on_state(struct fdn_nats *c, int state)
{
    struct item *it = xcalloc(1, sizeof *it);
    it->kind = IT_STATUS;
    it->state = state;
    push(c, it);
}

static void on_disconnected(natsConnection *nc, void *closure)
{
    (void)nc;
    on_state(closure, FDN_NATS_DISCONNECTED);
}

static void on_reconnected(natsConnection *nc, void *closure)
{
    (void)nc;
    on_state(closure, FDN_NATS_RECONNECTED);
}

static void on_closed(natsConnection *nc, void *closure)
{
    (void)nc;
    on_state(closure, FDN_NATS_CLOSED);
}

static void *connect_main(void *arg)
{
    struct fdn_nats *c = arg;
    struct item *it = xcalloc(1, sizeof *it);
    it->kind = IT_CONNECTED;
    natsStatus s = natsConnection_Connect(&it->nc, c->opts);
    if (s != NATS_OK) {
        it->err = fdn_nats_connect_error(s);
        it->nc = NULL;
    }
    push(c, it);
    return NULL;
}

static void free_item(struct item *it)
{
    if (it->kind == IT_CONNECTED)
        free(it->err);
    free(it);
}

static void drop_connection(natsConnection *nc)
{
    NO_SIGNALS(natsConnection_Close(nc));
    natsConnection_Destroy(nc);
}

static int sub_known(struct fdn_nats *c, uint64_t sid)
{
    for (struct sub *s = c->subs; s; s = s->next)
        if (s->sid == sid)
            return 1;
    return 0;
}

static void handle(struct fdn_nats *c, struct item *it)
{
    if (it->kind == IT_CONNECTED) {
        if (c->connecting) {
            pthread_join(c->connector, NULL);
            c->connecting = 0;
        }
        if (c->closed) {
            if (it->nc)
                drop_connection(it->nc);
            return;
        }
        c->nc = it->nc;
        natsOptions_Destroy(c->opts); /* the connection holds a copy */
        c->opts = NULL;
        c->h.connected(c->arg, it->nc ? NULL : it->err);
    } else if (!c->closed && it->kind == IT_STATUS) {
        c->h.status(c->arg, it->state);
    } else if (!c->closed && sub_known(c, it->sid)) {
        c->h.message(c->arg, it->sid, it->subject, it->reply, it->data, it->len, it->no_responders);
    }
}

static void wake_cb(evutil_socket_t fd, short what, void *arg)
{
    struct fdn_nats *c = arg;
    (void)what;
    uint64_t count;
    if (fd >= 0 && read(fd, &count, sizeof count) < 0 && errno != EAGAIN && errno != EINTR)
        fdn_error("nats: reading the wake-up: %s", strerror(errno));
    pthread_mutex_lock(&c->mu);
    c->woken = 0;
    pthread_mutex_unlock(&c->mu);
    apply(c);
    int rest = drain(c, DIRECT_BATCH) == 0;
    /* a bounded batch per turn: the sockets and timers of the node get their turn between */
    for (int n = 0; n < BATCH; n++) {
        pthread_mutex_lock(&c->mu);
        struct item *it = c->head;
        if (it) {
            c->head = it->next;
            if (!c->head)
                c->tail = NULL;
            if (it->kind == IT_MSG) {
                c->queued--;
                c->bytes -= it->len;
            }
        }
        int more = it && c->head;
        uint64_t dropped = c->dropped;
        pthread_mutex_unlock(&c->mu);
        if (dropped != c->dropped_told &&
            fdn_ratelog_allow(&c->drop_log, fdn_now_ms(), 10000, 1, NULL)) {
            fdn_warn("nats: %llu messages dropped so far: the reactor did not keep up (queue %d "
                     "messages, %zu bytes)",
                     (unsigned long long)dropped, c->max_queued, c->max_bytes);
            c->dropped_told = dropped;
        }
        if (!it)
            break;
        handle(c, it); /* may close c: the items after are then dropped */
        free_item(it);
        if (!more)
            break;
        if (n == BATCH - 1)
            rest = 1;
    }
    if (!rest || c->closed)
        return;
    static const struct timeval now = {0, 0};
    event_add(c->more_ev, &now); /* the rest after the next poll */
}

static int fail(natsStatus s, const char *what, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s: %s", what, fdn_nats_last_error(s));
    return -1;
}

int fdn_nats_new(struct event_base *base, const struct fdn_nats_opts *o,
                 const struct fdn_nats_handlers *h, void *arg, struct fdn_nats **out, char *err,
                 size_t errlen)
{
    if (!lib_open) {
        natsStatus s;
        NO_SIGNALS(s = nats_Open(-1));
        if (s != NATS_OK)
            return fail(s, "nats_Open", err, errlen);
        lib_open = 1;
    }
    struct fdn_nats *c = xcalloc(1, sizeof *c);
    c->base = base;
    c->reactor = pthread_self();
    c->h = *h;
    c->arg = arg;
    c->max_queued = o->max_queued;
    c->max_bytes = o->max_bytes;
    c->want_sock = -1;
    pthread_mutex_init(&c->mu, NULL);
    c->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    c->next_all = all;
    all = c;
    if (c->efd < 0) {
        snprintf(err, errlen, "eventfd: %s", strerror(errno));
        c->closed = 1;
        return -1;
    }
    c->wake_ev = event_new(base, c->efd, EV_READ | EV_PERSIST, wake_cb, c);
    c->more_ev = evtimer_new(base, wake_cb, c);
    if (!c->wake_ev || !c->more_ev || event_add(c->wake_ev, NULL) < 0) {
        snprintf(err, errlen, "cannot watch the wake-up descriptor");
        c->closed = 1;
        return -1;
    }
    if (fdn_nats_options(&c->opts, o, err, errlen) < 0) {
        c->closed = 1;
        return -1;
    }
    /* a publish asks the reactor for a write at once (the write event: one write per loop turn),
     * instead of waking libnats' flusher thread, which sleeps 1 ms before each flush */
    natsStatus s = natsOptions_SetSendAsap(c->opts, true);
    if (s == NATS_OK)
        s = natsOptions_SetEventLoop(c->opts, c, ev_attach, ev_read, ev_write, ev_detach);
    if (s == NATS_OK)
        s = natsOptions_SetDisconnectedCB(c->opts, on_disconnected, c);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectedCB(c->opts, on_reconnected, c);
    if (s == NATS_OK)
        s = natsOptions_SetClosedCB(c->opts, on_closed, c);
    if (s != NATS_OK) {
        c->closed = 1;
        return fail(s, "nats options", err, errlen);
    }
    int rc;
    NO_SIGNALS(rc = pthread_create(&c->connector, NULL, connect_main, c));
    if (rc != 0) {
        snprintf(err, errlen, "pthread_create: %s", strerror(rc));
        c->closed = 1;
        return -1;
    }
    c->connecting = 1;
    *out = c;
    return 0;
}

int fdn_nats_publish(struct fdn_nats *c, const char *subject, const char *reply, const void *data,
                     size_t len, char *err, size_t errlen)
{
    if (c->closed || !c->nc) {
        snprintf(err, errlen, "not connected");
        return -1;
    }
    if (len > 0x7fffffff) {
        snprintf(err, errlen, "message too large");
        return -1;
    }
    natsStatus s = reply ? natsConnection_PublishRequest(c->nc, subject, reply, data, (int)len)
                         : natsConnection_Publish(c->nc, subject, data, (int)len);
    return s == NATS_OK ? 0 : fail(s, "publish", err, errlen);
}

static int subscribe(struct fdn_nats *c, const char *subject, const char *queue, int direct,
                     uint64_t *sid, char *err, size_t errlen)
{
    if (c->closed || !c->nc) {
        snprintf(err, errlen, "not connected");
        return -1;
    }
    natsSubscription *ns = NULL;
    natsStatus s;
    /* each subscription's delivery thread is started here: with signals blocked */
    if (direct && queue)
        s = natsConnection_QueueSubscribeSync(&ns, c->nc, subject, queue);
    else if (direct)
        s = natsConnection_SubscribeSync(&ns, c->nc, subject);
    else if (queue)
        NO_SIGNALS(s = natsConnection_QueueSubscribe(&ns, c->nc, subject, queue, on_msg, c));
    else
        NO_SIGNALS(s = natsConnection_Subscribe(&ns, c->nc, subject, on_msg, c));
    if (s != NATS_OK)
        return fail(s, "subscribe", err, errlen);
    struct sub *sb = xcalloc(1, sizeof *sb);
    sb->s = ns;
    sb->sid = (uint64_t)natsSubscription_GetID(ns);
    sb->direct = direct;
    sb->next = c->subs;
    c->subs = sb;
    c->subs_gen++;
    *sid = sb->sid;
    return 0;
}

int fdn_nats_subscribe(struct fdn_nats *c, const char *subject, const char *queue, uint64_t *sid,
                       char *err, size_t errlen)
{
    return subscribe(c, subject, queue, 0, sid, err, errlen);
}

int fdn_nats_subscribe_direct(struct fdn_nats *c, const char *subject, const char *queue,
                              uint64_t *sid, char *err, size_t errlen)
{
    return subscribe(c, subject, queue, 1, sid, err, errlen);
}

static void sub_free(struct sub *sb)
{
    NO_SIGNALS(natsSubscription_Unsubscribe(sb->s));
    natsSubscription_Destroy(sb->s);
    free(sb);
}

void fdn_nats_unsubscribe(struct fdn_nats *c, uint64_t sid)
{
    for (struct sub **p = &c->subs; *p; p = &(*p)->next)
        if ((*p)->sid == sid) {
            struct sub *sb = *p;
            *p = sb->next;
            c->subs_gen++;
            sub_free(sb);
            return;
        }
}

int fdn_nats_status(const struct fdn_nats *c)
{
    return c->closed ? -1 : c->nc ? (int)natsConnection_Status(c->nc) : -2;
}

void fdn_nats_stats(struct fdn_nats *c, int *queued, uint64_t *dropped)
{
    pthread_mutex_lock(&c->mu);
    *queued = c->queued;
    *dropped = c->dropped;
    pthread_mutex_unlock(&c->mu);
    for (struct sub *s = c->subs; s; s = s->next) { /* libnats' own queues of direct ones */
        int n = 0;
        int64_t lost = 0;
        if (!s->direct)
            continue;
        if (natsSubscription_GetPending(s->s, &n, NULL) == NATS_OK)
            *queued += n;
        if (natsSubscription_GetDropped(s->s, &lost) == NATS_OK)
            *dropped += (uint64_t)lost;
    }
}

void fdn_nats_close(struct fdn_nats *c)
{
    if (!c || c->closed)
        return;
    c->closed = 1;
    while (c->subs) {
        struct sub *sb = c->subs;
        c->subs = sb->next;
        sub_free(sb);
    }
    if (c->nc)
        drop_connection(c->nc);
    c->nc = NULL;
}

void fdn_nats_shutdown(void)
{
    if (!lib_open)
        return;
    for (struct fdn_nats *c = all; c; c = c->next_all) {
        fdn_nats_close(c);
        if (c->connecting) { /* its connection, if any, is closed below with the queue */
            pthread_join(c->connector, NULL);
            c->connecting = 0;
        }
        for (struct item *it = c->head; it; it = it->next)
            if (it->kind == IT_CONNECTED && it->nc) {
                drop_connection(it->nc);
                it->nc = NULL;
            }
        natsOptions_Destroy(c->opts);
        c->opts = NULL;
    }
    if (nats_CloseAndWait(CLOSE_WAIT_MS) != NATS_OK)
        fdn_warn("nats: the library's threads did not end in %d ms", CLOSE_WAIT_MS);
    lib_open = 0;
    while (all) {
        struct fdn_nats *c = all;
        all = c->next_all;
        while (c->head) {
            struct item *it = c->head;
            c->head = it->next;
            free_item(it);
        }
        pthread_mutex_lock(&c->mu);
        c->want_gen++;
        c->want_sock = -1;
        pthread_mutex_unlock(&c->mu);
        apply(c);
        if (c->wake_ev)
            event_free(c->wake_ev);
        if (c->more_ev)
            event_free(c->more_ev);
        if (c->efd >= 0)
            close(c->efd);
        pthread_mutex_destroy(&c->mu);
        free(c);
    }
}
