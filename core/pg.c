/* pg.c: one PostgreSQL connection on the reactor: libpq's asynchronous API in pipeline mode with
 * its socket watched by libevent (one non-persistent event, re-armed after each wake-up), from the
 * first byte of the connect to the last result of each batch. See pg.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "pg.h"
#include "util.h"

struct fdn_pg {
    struct event_base *base;
    PGconn *conn;
    struct event *ev;
    evutil_socket_t ev_fd;
    short ev_flags;
    int state;
    int flushing;                         /* PQflush left data to send: wait for writable too */
    int64_t deadline;                     /* the connect's end (CLOCK_MONOTONIC ms) */
    PGresult *err;                        /* the running batch's first error, or NULL */
    PGresult *res[FDN_PG_MAX_BATCH];      /* each statement's result so far */
    int nres;                             /* statements in the running batch */
    int got;                              /* results of the batch's queries received so far */
    int nq;                               /* queries sent (a prepare and its run are two) */
    signed char of[2 * FDN_PG_MAX_BATCH]; /* query -> its statement, -1 - it for its prepare */
    unsigned prepared;                    /* the batch's statements whose prepare succeeded */
    fdn_pg_done_fn done;                  /* the connect's or the running batch's, or NULL */
    void *arg;
};

static void pg_io_cb(evutil_socket_t fd, short what, void *arg);

/* The server's notices (NOTICE, WARNING: "table does not exist, skipping") go to the debug
 * log, not to stderr as libpq's default does. */
static void notice(void *arg, const char *message)
{
    (void)arg;
    fdn_debug("postgres: %.*s", (int)strcspn(message, "\n"), message);
}

static void unwatch(struct fdn_pg *c)
{
    if (c->ev)
        event_free(c->ev);
    c->ev = NULL;
}

/* Waits for flags on libpq's socket (its number may change while connecting: another address
 * is tried), for at most ms when ms >= 0. -1 when libpq has no socket. */
static int watch(struct fdn_pg *c, short flags, int64_t ms)
{
    evutil_socket_t fd = PQsocket(c->conn);
    if (fd < 0)
        return -1;
    if (!c->ev || c->ev_fd != fd || c->ev_flags != flags) {
        unwatch(c);
        c->ev = event_new(c->base, fd, flags, pg_io_cb, c);
        if (!c->ev)
            return -1;
        c->ev_fd = fd;
        c->ev_flags = flags;
    }
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    return event_add(c->ev, ms >= 0 ? &tv : NULL);
}

static void clear_batch(struct fdn_pg *c)
{
    for (int i = 0; i < c->nres; i++) {
        PQclear(c->res[i]);
        c->res[i] = NULL;
    }
    PQclear(c->err);
    c->err = NULL;
    c->nres = c->got = c->nq = 0;
}

/* Hands the end of a connect or batch to its done (which may free c: nothing touches c after).
 * The batch's results are taken from c first and freed after done. */
static void finish(struct fdn_pg *c, const char *err, const char *code)
{
    fdn_pg_done_fn done = c->done;
    PGresult *res[FDN_PG_MAX_BATCH] = {0};
    int all = c->nres;
    for (int i = 0; i < all; i++) {
        res[i] = c->res[i];
        c->res[i] = NULL;
    }
    c->done = NULL;
    c->nres = c->got = c->nq = 0;
    if (done)
        done(c->arg, res, err ? 0 : all, err, code);
    for (int i = 0; i < all; i++)
        PQclear(res[i]);
}

/* Ends the batch with its first error (err is freed after done). */
static void finish_error(struct fdn_pg *c, PGresult *err)
{
    const char *code = PQresultErrorField(err, PG_DIAG_SQLSTATE);
    const char *msg = PQresultErrorField(err, PG_DIAG_MESSAGE_PRIMARY);
    finish(c, msg ? msg : PQresultErrorMessage(err), code ? code : "XX000");
    PQclear(err);
}

/* The connection is unusable: the running query (if any) ends with the error the server sent
 * (57P01 when it shuts down) or with 08006 and libpq's message. */
static void lost(struct fdn_pg *c)
{
    unwatch(c);
    int was_busy = c->state == FDN_PG_BUSY;
    c->state = FDN_PG_DEAD;
    PGresult *res = c->err;
    c->err = NULL;
    if (!was_busy) {
        PQclear(res);
        finish(c, PQerrorMessage(c->conn), "08001");
        return;
    }
    if (res && PQresultErrorField(res, PG_DIAG_SQLSTATE)) {
        finish_error(c, res);
        return;
    }
    PQclear(res);
    char msg[512];
    snprintf(msg, sizeof msg, "connection lost: %s", PQerrorMessage(c->conn));
    msg[strcspn(msg, "\n")] = 0;
    finish(c, msg, "08006");
}

static void connect_step(struct fdn_pg *c, short what)
{
    int64_t left = c->deadline - fdn_now_ms();
    if ((what & EV_TIMEOUT) || left <= 0) {
        unwatch(c);
        c->state = FDN_PG_DEAD;
        finish(c, "timeout expired while connecting", "08001");
        return;
    }
    switch (PQconnectPoll(c->conn)) {
    case PGRES_POLLING_READING:
        if (watch(c, EV_READ, left) == 0)
            return;
        break;
    case PGRES_POLLING_WRITING:
        if (watch(c, EV_WRITE, left) == 0)
            return;
        break;
    case PGRES_POLLING_OK:
        c->state = FDN_PG_IDLE;
        if (PQenterPipelineMode(c->conn) && watch(c, EV_READ, -1) == 0) {
            finish(c, NULL, NULL);
            return;
        }
        break;
    default:
        break;
    }
    lost(c);
}

/* One query's result: the first error is kept, a statement's result is kept, the rest freed. */
static void keep(struct fdn_pg *c, PGresult *r)
{
    int q = c->got++;
    if (PQresultStatus(r) == PGRES_FATAL_ERROR && !c->err) {
        c->err = r;
        return;
    }
    if (q < c->nq && c->of[q] < 0 && PQresultStatus(r) == PGRES_COMMAND_OK)
        c->prepared |= 1u << (-1 - c->of[q]);
    if (q < c->nq && c->of[q] >= 0 && PQresultStatus(r) != PGRES_PIPELINE_ABORTED) {
        PQclear(c->res[c->of[q]]);
        c->res[c->of[q]] = r;
        return;
    }
    PQclear(r);
}

/* The running batch's results, as far as they have come (each query's result, a NULL after
 * it, the Sync's at the end); 1 when the batch ended (c may be gone then), 0 when more is
 * awaited, -1 when the connection must be dropped. */
static int collect(struct fdn_pg *c)
{
    int nulls = 0;
    while (!PQisBusy(c->conn)) {
        PGresult *r = PQgetResult(c->conn);
        if (!r) {
            if (++nulls > 1) /* nothing more buffered: wait for the socket */
                return 0;
            continue;
        }
        nulls = 0;
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_PIPELINE_SYNC) {
            PQclear(r);
            c->state = FDN_PG_IDLE;
            if (c->got != c->nq || watch(c, EV_READ, -1) < 0) {
                c->state = FDN_PG_BUSY;
                return -1;
            }
            PGresult *e = c->err;
            c->err = NULL;
            if (e)
                finish_error(c, e);
            else
                finish(c, NULL, NULL);
            return 1;
        }
        if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH) {
            PQclear(r);
            unwatch(c);
            c->state = FDN_PG_DEAD;
            PQclear(c->err);
            c->err = NULL;
            finish(c, "COPY is not supported", "0A000");
            return 1;
        }
        keep(c, r);
    }
    return 0;
}

static void pg_io_cb(evutil_socket_t fd, short what, void *arg)
{
    struct fdn_pg *c = arg;
    (void)fd;
    if (c->state == FDN_PG_CONNECTING) {
        connect_step(c, what);
        return;
    }
    if ((what & EV_READ) && !PQconsumeInput(c->conn)) {
        lost(c);
        return;
    }
    if (c->flushing) {
        int r = PQflush(c->conn);
        if (r < 0) {
            lost(c);
            return;
        }
        c->flushing = r;
    }
    if (c->state == FDN_PG_BUSY) {
        int r = collect(c);
        if (r > 0)
            return;
        if (r < 0) {
            lost(c);
            return;
        }
    } else {
        PGnotify *nt;
        while ((nt = PQnotifies(c->conn)))
            PQfreemem(nt);
        if (PQstatus(c->conn) == CONNECTION_BAD) {
            lost(c);
            return;
        }
    }
    if (watch(c, EV_READ | (c->flushing ? EV_WRITE : 0), -1) < 0)
        lost(c);
}

int fdn_pg_new(struct event_base *base, const char *const *keys, const char *const *vals,
               fdn_pg_done_fn done, void *arg, struct fdn_pg **out, char *err, size_t errlen)
{
    PGconn *conn = PQconnectStartParams(keys, vals, 0);
    if (!conn || PQstatus(conn) == CONNECTION_BAD || PQsetnonblocking(conn, 1) != 0) {
        snprintf(err, errlen, "%s", conn ? PQerrorMessage(conn) : "out of memory");
        err[strcspn(err, "\n")] = 0;
        PQfinish(conn);
        return -1;
    }
    PQsetNoticeProcessor(conn, notice, NULL);
    struct fdn_pg *c = xcalloc(1, sizeof *c);
    c->base = base;
    c->conn = conn;
    c->ev_fd = -1;
    c->state = FDN_PG_CONNECTING;
    c->deadline = fdn_now_ms() + FDN_PG_CONNECT_MS;
    c->done = done;
    c->arg = arg;
    if (watch(c, EV_WRITE, FDN_PG_CONNECT_MS) < 0) { /* libpq: poll as if writing at first */
        snprintf(err, errlen, "cannot watch the connection's socket");
        c->done = NULL;
        fdn_pg_free(c);
        return -1;
    }
    *out = c;
    return 0;
}

/* Queues one statement of a batch (its prepare first when it has sql and a name). */
static int queue(struct fdn_pg *c, const struct fdn_pg_stmt *st, int i)
{
    if (st->sql && !st->name) {
        c->of[c->nq++] = (signed char)i;
        return PQsendQueryParams(c->conn, st->sql, st->n, NULL, st->vals, st->lens, st->fmts, 0);
    }
    if (st->sql) {
        c->of[c->nq++] = (signed char)(-1 - i);
        if (!PQsendPrepare(c->conn, st->name, st->sql, 0, NULL))
            return 0;
    }
    c->of[c->nq++] = (signed char)i;
    return PQsendQueryPrepared(c->conn, st->name, st->n, st->vals, st->lens, st->fmts, 0);
}

int fdn_pg_send(struct fdn_pg *c, const struct fdn_pg_stmt *st, int k, fdn_pg_done_fn done,
                void *arg, char *err, size_t errlen)
{
    if (c->state != FDN_PG_IDLE) {
        snprintf(err, errlen, "%s", c->state == FDN_PG_DEAD ? "connection lost" : "busy");
        return -1;
    }
    if (k < 1 || k > FDN_PG_MAX_BATCH) {
        snprintf(err, errlen, "a batch has 1 to %d statements", FDN_PG_MAX_BATCH);
        return -1;
    }
    clear_batch(c);
    c->nres = k;
    c->prepared = 0;
    int ok = 1;
    for (int i = 0; i < k && ok; i++)
        ok = (st[i].sql || st[i].name) && queue(c, &st[i], i);
    if (!ok || !PQpipelineSync(c->conn)) {
        /* part of the batch may be queued: the connection cannot be trusted again */
        snprintf(err, errlen, "%s", PQerrorMessage(c->conn));
        err[strcspn(err, "\n")] = 0;
        clear_batch(c);
        unwatch(c);
        c->state = FDN_PG_DEAD;
        return -1;
    }
    int r = PQflush(c->conn);
    c->flushing = r > 0;
    c->state = FDN_PG_BUSY;
    c->done = done;
    c->arg = arg;
    if (r < 0 || watch(c, EV_READ | (c->flushing ? EV_WRITE : 0), -1) < 0) {
        /* reported through done, on a later turn: the caller is still setting up */
        unwatch(c);
        c->ev = event_new(c->base, -1, 0, pg_io_cb, c);
        c->ev_fd = -1;
        c->ev_flags = 0;
        if (c->ev)
            event_active(c->ev, EV_READ, 0);
    }
    return 0;
}

unsigned fdn_pg_prepared(const struct fdn_pg *c)
{
    return c->prepared;
}

int fdn_pg_state(const struct fdn_pg *c)
{
    return c->state;
}

void fdn_pg_free(struct fdn_pg *c)
{
    if (!c)
        return;
    unwatch(c);
    clear_batch(c);
    PQfinish(c->conn);
    free(c);
}
