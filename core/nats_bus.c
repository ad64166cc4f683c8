/* nats_bus.c: a NATS connection on the reactor (nats_bus.h): libnats' event-loop callbacks
 * drive two libevent events on its socket (nats_loop.c); its threads' messages and states come
 * through a queue and an eventfd, as the worker threads' results do (worker.c). */
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

#include "nats_int.h"
#include "nats_opts.h"
#include "ratelog.h"
#include "util.h"

static struct fdn_nats *all;
static int lib_open;

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
    fdn_nats_wake_locked(c);
    pthread_mutex_unlock(&c->mu);
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
    fdn_nats_apply(c);
    int rest = fdn_nats_drain(c, DIRECT_BATCH) == 0;
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
        fdn_nats_trim();
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
        s = natsOptions_SetEventLoop(c->opts, c, fdn_nats_ev_attach, fdn_nats_ev_read,
                                     fdn_nats_ev_write, fdn_nats_ev_detach);
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
        fdn_nats_apply(c);
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
