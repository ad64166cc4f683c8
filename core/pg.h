/* pg.h: one PostgreSQL connection on the reactor: libpq's asynchronous API (PQconnectPoll, its
 * pipeline mode, PQconsumeInput/PQgetResult, PQflush) with its socket watched by libevent.
 * No Lua here: lua_pg.c binds it (fdn.core.pg) and the pool and queue live in fdn.sql.postgres. */
#ifndef FDN_PG_H
#define FDN_PG_H

#include <stddef.h>

#include <libpq-fe.h>

struct event_base;
struct fdn_pg;

enum { FDN_PG_CONNECTING, FDN_PG_IDLE, FDN_PG_BUSY, FDN_PG_DEAD };

/* How long a connection may take to open (the server's answer included). */
#define FDN_PG_CONNECT_MS 10000

/* The end of a connect or of a batch, on the reactor. Connect: err NULL when open, else libpq's
 * message with code "08001" (res NULL, nres 0). Batch: res[0..nres) each statement's result
 * (freed after done returns) and err NULL; or err with the SQLSTATE of the first error in code
 * ("08006" when the connection was lost). done may free the connection. */
typedef void (*fdn_pg_done_fn)(void *arg, PGresult *const *res, int nres, const char *err,
                               const char *code);

/* One statement of a batch. sql without name: sent unnamed (parsed and planned each time);
 * sql with name: prepared under name, then run; name alone: the statement prepared earlier on
 * this connection under name. n text or binary parameters (vals[i] NULL: SQL NULL). */
struct fdn_pg_stmt {
    const char *sql;
    const char *name;
    int n;
    const char *const *vals;
    const int *lens;
    const int *fmts;
};

#define FDN_PG_MAX_BATCH 16

/* Starts opening a connection with libpq's keywords/values (NULL-terminated keys). 0 and *out,
 * with done called later; or -1 with libpq's message in err (done is not called). */
int fdn_pg_new(struct event_base *base, const char *const *keys, const char *const *vals,
               fdn_pg_done_fn done, void *arg, struct fdn_pg **out, char *err, size_t errlen);

/* Sends k statements (1..FDN_PG_MAX_BATCH) on an idle connection in one round trip (one
 * pipeline, one Sync: outside BEGIN they are one implicit transaction, and the first error skips
 * the rest); done is called with their results later. 0, or -1 with a message in err (and the
 * connection dead when it was lost). */
int fdn_pg_send(struct fdn_pg *c, const struct fdn_pg_stmt *st, int k, fdn_pg_done_fn done,
                void *arg, char *err, size_t errlen);

/* The last batch's statements (bit i: st[i]) whose prepare succeeded: the names that exist on
 * the server after it, whether the batch failed or not. */
unsigned fdn_pg_prepared(const struct fdn_pg *c);

/* FDN_PG_CONNECTING, _IDLE, _BUSY or _DEAD (lost, failed or closed). */
int fdn_pg_state(const struct fdn_pg *c);

/* Closes the connection; a pending done is not called. Accepts NULL. */
void fdn_pg_free(struct fdn_pg *c);

#endif
