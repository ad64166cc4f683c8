/* nats_int.h: what nats_bus.c (the connection, its threads' queue) and nats_loop.c (its side on
 * the reactor) share. Not for other modules. */
#ifndef FDN_NATS_INT_H
#define FDN_NATS_INT_H

#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <nats/nats.h>

#include "nats_bus.h"
#include "ratelog.h"

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
    int wr_kicked, wr_full; /* a write run without a poll is pending; the last one left bytes */
    struct event *rd, *wr;
    int efd;
    struct event *wake_ev, *more_ev;
};

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

/* Wakes the reactor (the eventfd), once until it has read it; mu held. */
void fdn_nats_wake_locked(struct fdn_nats *c);

/* On the reactor: makes the socket's events match what libnats wants. */
void fdn_nats_apply(struct fdn_nats *c);

/* On the reactor: hands the messages the direct subscriptions hold to the handler, at most
 * budget of them. Returns the budget left (0: there may be more). */
int fdn_nats_drain(struct fdn_nats *c, int budget);

/* libnats' event-loop callbacks (natsOptions_SetEventLoop), loop being the bus. */
natsStatus fdn_nats_ev_attach(void **user, void *loop, natsConnection *nc, natsSock sock);
natsStatus fdn_nats_ev_read(void *user, bool add);
natsStatus fdn_nats_ev_write(void *user, bool add);
natsStatus fdn_nats_ev_detach(void *user);

/* Unmaps the OpenSSL pages libnats' start-up touched (read-only ones: they come back from the
 * file if read again). */
void fdn_nats_trim(void);

#endif
