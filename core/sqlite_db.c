/* sqlite_db.c: SQLite work on a worker thread (sqlite_db.h): the connection's settings, a
 * call's statements with their bound values, its rows copied into a plain C result. */
#include "sqlite_db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "util.h"

static const struct {
    int code;
    const char *name;
} names[] = {
    {SQLITE_OK, "SQLITE_OK"},
    {SQLITE_ERROR, "SQLITE_ERROR"},
    {SQLITE_INTERNAL, "SQLITE_INTERNAL"},
    {SQLITE_PERM, "SQLITE_PERM"},
    {SQLITE_ABORT, "SQLITE_ABORT"},
    {SQLITE_BUSY, "SQLITE_BUSY"},
    {SQLITE_LOCKED, "SQLITE_LOCKED"},
    {SQLITE_NOMEM, "SQLITE_NOMEM"},
    {SQLITE_READONLY, "SQLITE_READONLY"},
    {SQLITE_INTERRUPT, "SQLITE_INTERRUPT"},
    {SQLITE_IOERR, "SQLITE_IOERR"},
    {SQLITE_CORRUPT, "SQLITE_CORRUPT"},
    {SQLITE_NOTFOUND, "SQLITE_NOTFOUND"},
    {SQLITE_FULL, "SQLITE_FULL"},
    {SQLITE_CANTOPEN, "SQLITE_CANTOPEN"},
    {SQLITE_PROTOCOL, "SQLITE_PROTOCOL"},
    {SQLITE_SCHEMA, "SQLITE_SCHEMA"},
    {SQLITE_TOOBIG, "SQLITE_TOOBIG"},
    {SQLITE_CONSTRAINT, "SQLITE_CONSTRAINT"},
    {SQLITE_MISMATCH, "SQLITE_MISMATCH"},
    {SQLITE_MISUSE, "SQLITE_MISUSE"},
    {SQLITE_RANGE, "SQLITE_RANGE"},
    {SQLITE_NOTADB, "SQLITE_NOTADB"},
    {SQLITE_BUSY_RECOVERY, "SQLITE_BUSY_RECOVERY"},
    {SQLITE_BUSY_SNAPSHOT, "SQLITE_BUSY_SNAPSHOT"},
    {SQLITE_BUSY_TIMEOUT, "SQLITE_BUSY_TIMEOUT"},
    {SQLITE_LOCKED_SHAREDCACHE, "SQLITE_LOCKED_SHAREDCACHE"},
    {SQLITE_READONLY_DBMOVED, "SQLITE_READONLY_DBMOVED"},
    {SQLITE_CANTOPEN_ISDIR, "SQLITE_CANTOPEN_ISDIR"},
    {SQLITE_CANTOPEN_FULLPATH, "SQLITE_CANTOPEN_FULLPATH"},
    {SQLITE_IOERR_READ, "SQLITE_IOERR_READ"},
    {SQLITE_IOERR_WRITE, "SQLITE_IOERR_WRITE"},
    {SQLITE_IOERR_FSYNC, "SQLITE_IOERR_FSYNC"},
    {SQLITE_IOERR_SHORT_READ, "SQLITE_IOERR_SHORT_READ"},
    {SQLITE_CONSTRAINT_CHECK, "SQLITE_CONSTRAINT_CHECK"},
    {SQLITE_CONSTRAINT_COMMITHOOK, "SQLITE_CONSTRAINT_COMMITHOOK"},
    {SQLITE_CONSTRAINT_FOREIGNKEY, "SQLITE_CONSTRAINT_FOREIGNKEY"},
    {SQLITE_CONSTRAINT_FUNCTION, "SQLITE_CONSTRAINT_FUNCTION"},
    {SQLITE_CONSTRAINT_NOTNULL, "SQLITE_CONSTRAINT_NOTNULL"},
    {SQLITE_CONSTRAINT_PRIMARYKEY, "SQLITE_CONSTRAINT_PRIMARYKEY"},
    {SQLITE_CONSTRAINT_TRIGGER, "SQLITE_CONSTRAINT_TRIGGER"},
    {SQLITE_CONSTRAINT_UNIQUE, "SQLITE_CONSTRAINT_UNIQUE"},
    {SQLITE_CONSTRAINT_VTAB, "SQLITE_CONSTRAINT_VTAB"},
    {SQLITE_CONSTRAINT_ROWID, "SQLITE_CONSTRAINT_ROWID"},
    {SQLITE_CONSTRAINT_DATATYPE, "SQLITE_CONSTRAINT_DATATYPE"},
};

const char *fdn_sqlite_code_name(int code)
{
    const char *primary = NULL;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (names[i].code == code)
            return names[i].name;
        if (names[i].code == (code & 0xff))
            primary = names[i].name;
    }
    return primary ? primary : "SQLITE_ERROR";
}

static void fail(struct fdn_sqlite_result *res, int code, const char *msg)
{
    res->code = code ? code : SQLITE_ERROR;
    snprintf(res->errmsg, sizeof res->errmsg, "%s", msg ? msg : sqlite3_errstr(res->code));
}

static void fail_db(struct fdn_sqlite_result *res, sqlite3 *db)
{
    fail(res, sqlite3_extended_errcode(db), sqlite3_errmsg(db));
}

int fdn_sqlite_open(const char *path, sqlite3 **out, struct fdn_sqlite_result *res)
{
    sqlite3 *db = NULL;
    *out = NULL;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX;
    int rc = sqlite3_open_v2(path, &db, flags, NULL);
    if (rc != SQLITE_OK) {
        if (db)
            fail_db(res, db);
        else
            fail(res, rc, NULL);
        sqlite3_close_v2(db);
        return -1;
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, FDN_SQLITE_BUSY_MS);
    /* WAL: readers do not block the writer (another process on the same file); NORMAL is
     * durable at each checkpoint and never corrupts, the usual setting with WAL */
    char *err = NULL;
    rc = sqlite3_exec(db,
                      "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                      "PRAGMA foreign_keys=ON;",
                      NULL, NULL, &err);
    if (rc != SQLITE_OK) {
        fail(res, sqlite3_extended_errcode(db), err);
        sqlite3_free(err);
        sqlite3_close_v2(db);
        return -1;
    }
    *out = db;
    return 0;
}

/* Room for one more value in res->cells. */
static struct fdn_sqlite_value *cell(struct fdn_sqlite_result *res)
{
    if (res->ncells == res->cap) {
        res->cap = res->cap ? res->cap * 2 : 64;
        res->cells = xrealloc(res->cells, res->cap * sizeof *res->cells);
    }
    struct fdn_sqlite_value *v = &res->cells[res->ncells++];
    memset(v, 0, sizeof *v);
    return v;
}

static size_t footprint(const struct fdn_sqlite_result *res)
{
    return res->bytes.len + res->ncells * sizeof *res->cells;
}

/* Copies the current row of st; -1 (res failed) when the result grows past a cap. */
static int copy_row(struct fdn_sqlite_result *res, sqlite3_stmt *st)
{
    if (res->nrows >= FDN_SQLITE_MAX_ROWS) {
        snprintf(res->errmsg, sizeof res->errmsg,
                 "the result has more than %d rows (the cap): add a LIMIT", FDN_SQLITE_MAX_ROWS);
        res->code = SQLITE_TOOBIG;
        return -1;
    }
    int too_big = 0;
    for (int c = 0; c < res->ncols && !too_big; c++) {
        struct fdn_sqlite_value *v = cell(res);
        v->type = sqlite3_column_type(st, c);
        if (v->type == SQLITE_INTEGER) {
            v->i = sqlite3_column_int64(st, c);
        } else if (v->type == SQLITE_FLOAT) {
            v->d = sqlite3_column_double(st, c);
        } else if (v->type == SQLITE_TEXT || v->type == SQLITE_BLOB) {
            const void *p = v->type == SQLITE_TEXT ? (const void *)sqlite3_column_text(st, c)
                                                   : sqlite3_column_blob(st, c);
            v->len = (size_t)sqlite3_column_bytes(st, c);
            too_big = footprint(res) + v->len > FDN_SQLITE_MAX_BYTES;
            if (too_big)
                break;
            v->off = res->bytes.len;
            fdn_buf_put(&res->bytes, p, v->len);
        }
    }
    if (too_big || footprint(res) > FDN_SQLITE_MAX_BYTES) {
        snprintf(res->errmsg, sizeof res->errmsg,
                 "the result is larger than %u MB (the cap): add a LIMIT or select less",
                 FDN_SQLITE_MAX_BYTES >> 20);
        res->code = SQLITE_TOOBIG;
        return -1;
    }
    res->nrows++;
    return 0;
}

/* A statement with columns replaces what an earlier one returned: its names, no rows yet. */
static void start_rows(struct fdn_sqlite_result *res, sqlite3_stmt *st)
{
    free(res->cols);
    res->ncols = sqlite3_column_count(st);
    res->cols = xcalloc((size_t)res->ncols, sizeof *res->cols);
    res->nrows = res->ncells = 0;
    res->bytes.len = 0;
    for (int c = 0; c < res->ncols; c++) {
        const char *name = sqlite3_column_name(st, c);
        res->cols[c].type = SQLITE_TEXT;
        res->cols[c].len = name ? strlen(name) : 0;
    }
    /* the names first in bytes, so that clearing the rows keeps them */
    for (int c = 0; c < res->ncols; c++) {
        res->cols[c].off = res->bytes.len;
        fdn_buf_put(&res->bytes, sqlite3_column_name(st, c), res->cols[c].len);
    }
}

static int bind(sqlite3_stmt *st, int i, const struct fdn_sqlite_value *v, const char *bytes)
{
    switch (v->type) {
    case SQLITE_INTEGER:
        return sqlite3_bind_int64(st, i, v->i);
    case SQLITE_FLOAT:
        return sqlite3_bind_double(st, i, v->d);
    case SQLITE_TEXT:
        return sqlite3_bind_text64(st, i, bytes + v->off, v->len, SQLITE_STATIC, SQLITE_UTF8);
    case SQLITE_BLOB:
        return sqlite3_bind_blob64(st, i, bytes + v->off, v->len, SQLITE_STATIC);
    default:
        return sqlite3_bind_null(st, i);
    }
}

/* Binds, steps and copies one prepared statement; 0, or -1 with res failed. */
static int run_one(sqlite3 *db, sqlite3_stmt *st, const struct fdn_sqlite_value *params,
                   int nparams, int *used, const char *bytes, struct fdn_sqlite_result *res)
{
    int np = sqlite3_bind_parameter_count(st);
    if (*used + np > nparams) {
        snprintf(res->errmsg, sizeof res->errmsg,
                 "the SQL has more placeholders than the %d values given", nparams);
        res->code = SQLITE_RANGE;
        return -1;
    }
    for (int i = 0; i < np; i++)
        if (bind(st, i + 1, &params[*used + i], bytes) != SQLITE_OK) {
            fail_db(res, db);
            return -1;
        }
    *used += np;
    for (int first = 1;; first = 0) {
        int rc = sqlite3_step(st);
        if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
            fail_db(res, db);
            return -1;
        }
        /* the columns as of the first step: a kept statement is prepared again there when the
         * schema changed (SELECT * then has the new columns) */
        if (first && sqlite3_column_count(st) > 0)
            start_rows(res, st);
        if (rc == SQLITE_DONE)
            return 0;
        if (res->ncols > 0 && copy_row(res, st) < 0)
            return -1;
    }
}

/* The statement kept for exactly sql[0..len), or NULL; counts the statements kept in *kept and
 * leaves the oldest in *oldest. Kept statements are those not running (all, between calls). */
static sqlite3_stmt *kept_stmt(sqlite3 *db, const char *sql, size_t len, int *kept,
                               sqlite3_stmt **oldest)
{
    *kept = 0;
    *oldest = NULL;
    for (sqlite3_stmt *st = sqlite3_next_stmt(db, NULL); st; st = sqlite3_next_stmt(db, st)) {
        const char *text = sqlite3_sql(st);
        if (!sqlite3_stmt_busy(st) && text && strlen(text) == len && memcmp(text, sql, len) == 0)
            return st;
        (*kept)++;
        *oldest = st;
    }
    return NULL;
}

void fdn_sqlite_run(sqlite3 *db, const char *sql, size_t len, const struct fdn_sqlite_value *params,
                    int nparams, const char *bytes, struct fdn_sqlite_result *res)
{
    const char *p = sql, *end = sql + len;
    int used = 0, kept = 0;
    sqlite3_stmt *oldest = NULL;
    sqlite3_stmt *hit = kept_stmt(db, sql, len, &kept, &oldest);
    while (p < end && res->code == 0) {
        sqlite3_stmt *st = hit;
        const char *tail = end;
        if (!st && sqlite3_prepare_v3(db, p, (int)(end - p), SQLITE_PREPARE_PERSISTENT, &st,
                                      &tail) != SQLITE_OK) {
            fail_db(res, db);
            break;
        }
        int keep = st && p == sql && tail == end; /* the whole text is this one statement */
        p = tail ? tail : end;
        if (!st) /* whitespace or a comment */
            continue;
        run_one(db, st, params, nparams, &used, bytes, res);
        if (!keep) {
            sqlite3_finalize(st);
            continue;
        }
        sqlite3_reset(st); /* (its error, if any, was taken by run_one) */
        sqlite3_clear_bindings(st);
        if (!hit && kept >= FDN_SQLITE_KEPT && oldest)
            sqlite3_finalize(oldest); /* (kept: the new one replaces it) */
    }
    if (res->code == 0 && used != nparams) {
        snprintf(res->errmsg, sizeof res->errmsg, "%d values given for %d placeholders in the SQL",
                 nparams, used);
        res->code = SQLITE_RANGE;
    }
    if (res->code != 0) {
        free(res->cols);
        res->cols = NULL;
        res->ncols = 0;
        res->nrows = res->ncells = 0;
        return;
    }
    res->changes = sqlite3_changes64(db);
    res->last_id = sqlite3_last_insert_rowid(db);
}

void fdn_sqlite_close(sqlite3 *db)
{
    sqlite3_stmt *st;
    if (!db)
        return;
    while ((st = sqlite3_next_stmt(db, NULL)))
        sqlite3_finalize(st);
    sqlite3_close_v2(db);
}

void fdn_sqlite_result_clear(struct fdn_sqlite_result *res)
{
    free(res->cols);
    free(res->cells);
    fdn_buf_free(&res->bytes);
    memset(res, 0, sizeof *res);
}
