/* lua_sqlite.c: the fdn.core.sqlite binding: a database is one sqlite3 connection used by one
 * worker thread of its own; open, run and close queue jobs there, and their callbacks run on the
 * reactor with the rows built as Lua tables (lua/fdn/sql/sqlite.lua is the Lua side). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <sqlite3.h>

#include "json.h"
#include "node.h"
#include "sqlite_db.h"
#include "util.h"
#include "worker.h"

/* A database's thread runs a little below the reactor (nice +5, a third of its weight): a long
 * query waits for the reactor's short turns, and an ordinary one, which the reactor waits for
 * anyway, still gets a fair share of a busy core (bcrypt's +10 starved queries under load). */
#define SQLITE_NICE 5
#define DB_MT "fdn.sqlite"
#define MAX_JOBS 10000 /* calls queued on one database; past it run says busy */

enum { JOB_OPEN, JOB_RUN, JOB_CLOSE };

/* The userdata. conn is written by the open and close jobs on the worker thread; the reactor
 * reads it only while it knows no job can change it (opened and not closing), or after the
 * thread is joined. */
struct sdb {
    struct fdn_node *node;
    struct fdn_worker *w;
    sqlite3 *conn;
    int opened;  /* reactor: the open job came back successful */
    int closing; /* reactor: close was called */
};

struct sjob {
    struct sdb *db;
    struct fdn_node *node;
    int kind;
    int cb_ref;
    char *text; /* the SQL, or the path to open */
    size_t len;
    int nparams;
    struct fdn_sqlite_value *params;
    struct fdn_buf pbytes; /* the params' text and blobs */
    struct fdn_sqlite_result res;
};

static void job_free(struct sjob *j)
{
    free(j->text);
    free(j->params);
    fdn_buf_free(&j->pbytes);
    fdn_sqlite_result_clear(&j->res);
    free(j);
}

static void sqlite_run_cb(void *arg)
{
    struct sjob *j = arg;
    struct sdb *db = j->db;
    if (j->kind == JOB_OPEN) {
        fdn_sqlite_open(j->text, &db->conn, &j->res);
    } else if (j->kind == JOB_CLOSE) {
        fdn_sqlite_close(db->conn); /* rolls back a transaction left open */
        db->conn = NULL;
    } else if (!db->conn) {
        j->res.code = SQLITE_MISUSE;
        strcpy(j->res.errmsg, "the database is not open");
    } else {
        fdn_sqlite_run(db->conn, j->text, j->len, j->params, j->nparams, j->pbytes.data, &j->res);
    }
}

/* build_rows(job): the list (json.array_mt) of row tables keyed by column name. */
static int build_rows(lua_State *L)
{
    struct sjob *j = lua_touserdata(L, 1);
    const struct fdn_sqlite_result *r = &j->res;
    const char *bytes = r->bytes.data;
    luaL_checkstack(L, r->ncols + 4, "too many columns");
    lua_createtable(L, r->nrows > INT_MAX ? INT_MAX : (int)r->nrows, 0);
    fdn_json_push_array_mt(L);
    lua_setmetatable(L, -2);
    int list = lua_gettop(L);
    for (int c = 0; c < r->ncols; c++)
        lua_pushlstring(L, bytes + r->cols[c].off, r->cols[c].len);
    for (size_t i = 0; i < r->nrows; i++) {
        lua_createtable(L, 0, r->ncols);
        const struct fdn_sqlite_value *v = &r->cells[i * (size_t)r->ncols];
        for (int c = 0; c < r->ncols; c++, v++) {
            lua_pushvalue(L, list + 1 + c);
            if (v->type == SQLITE_INTEGER)
                lua_pushinteger(L, v->i);
            else if (v->type == SQLITE_FLOAT)
                lua_pushnumber(L, v->d);
            else if (v->type == SQLITE_TEXT || v->type == SQLITE_BLOB)
                lua_pushlstring(L, bytes + v->off, v->len);
            else
                fdn_json_push_null(L);
            lua_rawset(L, -3);
        }
        lua_rawseti(L, list, (lua_Integer)i + 1);
    }
    lua_settop(L, list);
    return 1;
}

/* deliver(job), under the node's pcall: the callback with the job's outcome. */
static int deliver(lua_State *L)
{
    struct sjob *j = lua_touserdata(L, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, j->cb_ref);
    if (j->res.code != 0) {
        lua_pushnil(L);
        lua_pushstring(L, fdn_sqlite_code_name(j->res.code));
        lua_pushstring(L, j->res.errmsg);
        lua_call(L, 3, 0);
        return 0;
    }
    if (j->kind != JOB_RUN) {
        lua_pushboolean(L, 1);
        lua_call(L, 1, 0);
        return 0;
    }
    lua_pushcfunction(L, build_rows);
    lua_pushlightuserdata(L, j);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) { /* the Lua memory cap: the caller still hears */
        lua_pushfstring(L, "cannot build the result: %s", lua_tostring(L, -1));
        lua_remove(L, -2);
        lua_pushnil(L);
        lua_pushliteral(L, "SQLITE_NOMEM");
        lua_rotate(L, -3, -1); /* cb, nil, code, message */
        lua_call(L, 3, 0);
        return 0;
    }
    lua_pushinteger(L, j->res.changes);
    lua_pushinteger(L, j->res.last_id);
    lua_call(L, 3, 0);
    return 0;
}

static void sqlite_done_cb(void *arg, int status)
{
    struct sjob *j = arg;
    struct fdn_node *n = j->node;
    if (status == FDN_WORKER_OK) {
        if (j->kind == JOB_OPEN && j->res.code == 0)
            j->db->opened = 1;
        fdn_node_call_begin(n, deliver);
        lua_pushlightuserdata(n->L, j);
        fdn_node_call_end(n, 1);
    }
    luaL_unref(n->L, LUA_REGISTRYINDEX, j->cb_ref);
    job_free(j);
}

/* A job for db with the callback at index cbi, its ref taken first (it may raise). */
static struct sjob *job_new(lua_State *L, struct sdb *db, int kind, int cbi)
{
    luaL_checktype(L, cbi, LUA_TFUNCTION);
    lua_pushvalue(L, cbi);
    int ref = luaL_ref(L, LUA_REGISTRYINDEX);
    struct sjob *j = xcalloc(1, sizeof *j);
    j->db = db;
    j->node = db->node;
    j->kind = kind;
    j->cb_ref = ref;
    return j;
}

/* Queues j; true, or nil and "busy" (the callback will not be called). */
static int submit(lua_State *L, struct sjob *j)
{
    if (fdn_worker_submit(j->db->w, sqlite_run_cb, sqlite_done_cb, j) < 0) {
        luaL_unref(L, LUA_REGISTRYINDEX, j->cb_ref);
        job_free(j);
        lua_pushnil(L);
        lua_pushliteral(L, "busy");
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

static struct sdb *check_db(lua_State *L)
{
    struct sdb *db = luaL_checkudata(L, 1, DB_MT);
    if (!db->w || db->closing)
        luaL_error(L, "the database is closed");
    return db;
}

/* open(path, cb) -> db: cb(true) or cb(nil, code, message) once the worker has opened it. */
static int l_sqlite_open(lua_State *L)
{
    struct fdn_node *n = fdn_node_from_upvalue(L);
    size_t len;
    const char *path = luaL_checklstring(L, 1, &len);
    luaL_argcheck(L, memchr(path, 0, len) == NULL, 1, "the path holds a NUL byte");
    luaL_checktype(L, 2, LUA_TFUNCTION);
    struct sdb *db = lua_newuserdatauv(L, sizeof *db, 0);
    memset(db, 0, sizeof *db);
    db->node = n;
    luaL_setmetatable(L, DB_MT);
    if (fdn_worker_new(n->base, 1, MAX_JOBS, SQLITE_NICE, &db->w) < 0)
        return luaL_error(L, "cannot start the SQLite thread");
    struct sjob *j = job_new(L, db, JOB_OPEN, 2);
    j->text = xstrdup(path);
    if (fdn_worker_submit(db->w, sqlite_run_cb, sqlite_done_cb, j) < 0) {
        luaL_unref(L, LUA_REGISTRYINDEX, j->cb_ref);
        job_free(j);
        return luaL_error(L, "cannot queue the open");
    }
    return 1;
}

/* Copies the value at idx into j's parameters; raises (after freeing j) on one it cannot bind. */
static void add_param(lua_State *L, struct sjob *j, int idx)
{
    struct fdn_sqlite_value *v = &j->params[j->nparams++];
    memset(v, 0, sizeof *v);
    size_t len;
    const char *s;
    char err[96];
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        v->type = SQLITE_NULL;
        return;
    case LUA_TBOOLEAN:
        v->type = SQLITE_INTEGER;
        v->i = lua_toboolean(L, idx);
        return;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
            v->type = SQLITE_INTEGER;
            v->i = lua_tointeger(L, idx);
        } else {
            v->type = SQLITE_FLOAT;
            v->d = lua_tonumber(L, idx);
        }
        return;
    case LUA_TSTRING:
        s = lua_tolstring(L, idx, &len);
        v->type = SQLITE_TEXT;
        v->off = j->pbytes.len;
        v->len = len;
        fdn_buf_put(&j->pbytes, s, len);
        return;
    case LUA_TTABLE: /* as its JSON text */
        v->type = SQLITE_TEXT;
        v->off = j->pbytes.len;
        if (fdn_json_encode(L, idx, &j->pbytes, err, sizeof err) == 0) {
            v->len = j->pbytes.len - v->off;
            return;
        }
        break;
    case LUA_TLIGHTUSERDATA:
        if (fdn_json_is_null(L, idx)) {
            v->type = SQLITE_NULL;
            return;
        }
        /* fall through */
    default:
        snprintf(err, sizeof err, "cannot bind a %s", luaL_typename(L, idx));
    }
    int arg = idx;
    luaL_unref(L, LUA_REGISTRYINDEX, j->cb_ref);
    job_free(j);
    luaL_argerror(L, arg, err);
}

/* run(db, cb, sql, ...) -> true | nil, "busy": the statements of sql with the values bound;
 * cb(rows, changes, last_id) or cb(nil, code, message) on the reactor. */
static int l_sqlite_run(lua_State *L)
{
    struct sdb *db = check_db(L);
    size_t len;
    const char *sql = luaL_checklstring(L, 3, &len);
    luaL_argcheck(L, len < INT_MAX, 3, "the SQL is too long");
    int top = lua_gettop(L);
    struct sjob *j = job_new(L, db, JOB_RUN, 2);
    j->text = xmalloc(len + 1);
    memcpy(j->text, sql, len + 1);
    j->len = len;
    j->params = xcalloc((size_t)(top - 3) + 1, sizeof *j->params);
    for (int i = 4; i <= top; i++)
        add_param(L, j, i);
    return submit(L, j);
}

/* close(db, cb): closes the connection on its thread, then cb(true). Later calls raise. */
static int l_sqlite_close(lua_State *L)
{
    struct sdb *db = check_db(L);
    struct sjob *j = job_new(L, db, JOB_CLOSE, 2);
    db->closing = 1;
    return submit(L, j);
}

/* __gc and __close: stops a statement running, joins the thread, closes what is still open. */
static int l_sqlite_gc(lua_State *L)
{
    struct sdb *db = luaL_checkudata(L, 1, DB_MT);
    if (!db->w)
        return 0;
    if (db->opened && !db->closing && db->conn)
        sqlite3_interrupt(db->conn);
    fdn_worker_free(db->w); /* jobs not handed back only release their callbacks */
    db->w = NULL;
    fdn_sqlite_close(db->conn); /* no thread is left: conn is ours */
    db->conn = NULL;
    return 0;
}

static const luaL_Reg db_methods[] = {
    {"run", l_sqlite_run},
    {"close", l_sqlite_close},
    {NULL, NULL},
};

static const luaL_Reg sqlite_funcs[] = {
    {"open", l_sqlite_open},
    {NULL, NULL},
};

int luaopen_fdn_core_sqlite(lua_State *L)
{
    luaL_newmetatable(L, DB_MT);
    luaL_newlibtable(L, db_methods);
    luaL_setfuncs(L, db_methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, l_sqlite_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, l_sqlite_gc);
    lua_setfield(L, -2, "__close");
    lua_pop(L, 1);
    luaL_newlibtable(L, sqlite_funcs);
    lua_pushvalue(L, lua_upvalueindex(1));
    luaL_setfuncs(L, sqlite_funcs, 1);
    lua_pushinteger(L, FDN_SQLITE_MAX_ROWS);
    lua_setfield(L, -2, "MAX_ROWS");
    return 1;
}
