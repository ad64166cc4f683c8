/* sqlite_db.h: SQLite work as a worker thread runs it (no Lua here): open a connection in WAL
 * mode, run SQL with bound values into a plain result, name SQLite's result codes. */
#ifndef FDN_SQLITE_DB_H
#define FDN_SQLITE_DB_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct sqlite3;

/* What a result may hold at most: past either, the call fails with SQLITE_TOOBIG. */
#define FDN_SQLITE_MAX_ROWS 100000
#define FDN_SQLITE_MAX_BYTES (64u << 20)
#define FDN_SQLITE_BUSY_MS 5000 /* busy_timeout: how long a locked database is waited for */

/* One value: type is SQLite's (SQLITE_INTEGER, SQLITE_FLOAT, SQLITE_TEXT, SQLITE_BLOB,
 * SQLITE_NULL); text and blobs are off/len in the owning result's (or call's) bytes. */
struct fdn_sqlite_value {
    int type;
    int64_t i;
    double d;
    size_t off, len;
};

/* A call's outcome. code 0: ncols column names (cols, TEXT) and nrows rows of ncols values
 * (cells, row after row) of the last statement that had columns; changes and last_id as
 * SQLite counts them. Otherwise code is SQLite's extended result code and errmsg its
 * message (or ours: too many rows, wrong number of values). */
struct fdn_sqlite_result {
    int code;
    char errmsg[256];
    int ncols;
    struct fdn_sqlite_value *cols;
    size_t nrows, ncells, cap;
    struct fdn_sqlite_value *cells;
    struct fdn_buf bytes;
    int64_t changes, last_id;
};

/* Opens path (":memory:" for a private in-memory database) read-write, creating it, with
 * WAL, synchronous=NORMAL, busy_timeout and foreign_keys=ON. 0 and *out, or -1 with res's
 * code and errmsg set (and *out NULL). */
int fdn_sqlite_open(const char *path, struct sqlite3 **out, struct fdn_sqlite_result *res);

/* Statements kept prepared on a connection between calls, keyed by their text (a call whose
 * SQL is one statement keeps it; past this many, the oldest is finalized). */
#define FDN_SQLITE_KEPT 32

/* Runs every statement of sql[0..len): the values (text and blobs in `bytes`) are bound in
 * order, each statement taking as many as it has placeholders, and all must be used. SQL that
 * is one statement runs the statement kept for its text, else prepares and keeps it (SQLite
 * prepares a kept statement again itself when the schema changed). */
void fdn_sqlite_run(struct sqlite3 *db, const char *sql, size_t len,
                    const struct fdn_sqlite_value *params, int nparams, const char *bytes,
                    struct fdn_sqlite_result *res);

/* Finalizes the kept statements and closes db (rolling back a transaction left open). */
void fdn_sqlite_close(struct sqlite3 *db);

/* Frees what res holds and zeroes it. */
void fdn_sqlite_result_clear(struct fdn_sqlite_result *res);

/* "SQLITE_CONSTRAINT_UNIQUE" for an extended code, the primary code's name for one not
 * listed, "SQLITE_ERROR" for one unknown. */
const char *fdn_sqlite_code_name(int code);

#endif
