/* lua_bcrypt.c: the fdn.core.bcrypt binding: hash(password, cost, cb) and verify(password, hash,
 * cb) run libxcrypt's bcrypt on the node's worker threads; cb runs on the reactor. */
#include <crypt.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>

#include "node.h"
#include "tls.h"
#include "util.h"
#include "worker.h"

#define PW_MAX 72     /* bcrypt reads no further: longer passwords hash as their first 72 bytes */
#define HASH_LEN 60   /* $2b$NN$ + 22 characters of salt + 31 of hash */
#define MAX_JOBS 1024 /* hashes queued or running at once; past it, hash and verify say busy */

struct bjob {
    struct fdn_node *node;
    int cb_ref;
    int verify, cost;
    int ok;       /* verify: the password matches */
    char err[64]; /* hash: why it failed, or "" */
    char pw[PW_MAX + 1];
    char hash[HASH_LEN + 1]; /* verify: the stored hash; hash: the result */
};

/* $2a$, $2b$ or $2y$, two digits of cost, 53 characters of bcrypt's base64. */
static int well_formed(const char *h, size_t len)
{
    static const char *b64 = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    if (len != HASH_LEN || h[0] != '$' || h[1] != '2' || !strchr("aby", h[2]) || h[2] == 0 ||
        h[3] != '$' || h[6] != '$' || h[4] < '0' || h[4] > '9' || h[5] < '0' || h[5] > '9')
        return 0;
    for (size_t i = 7; i < len; i++)
        if (!strchr(b64, h[i]) || h[i] == 0)
            return 0;
    return 1;
}

static void bcrypt_run(void *arg)
{
    struct bjob *j = arg;
    struct crypt_data *cd = xcalloc(1, sizeof *cd);
    if (j->verify) {
        const char *out = NULL;
        if (well_formed(j->hash, strlen(j->hash)))
            out = crypt_rn(j->pw, j->hash, cd, sizeof *cd);
        j->ok = out && strlen(out) == HASH_LEN && fdn_tls_equal(out, j->hash, HASH_LEN);
    } else {
        char salt[CRYPT_GENSALT_OUTPUT_SIZE];
        errno = 0;
        /* NULL random bytes: libxcrypt reads them from the OS (getrandom) */
        const char *out = NULL;
        if (crypt_gensalt_rn("$2b$", (unsigned long)j->cost, NULL, 0, salt, sizeof salt))
            out = crypt_rn(j->pw, salt, cd, sizeof *cd);
        if (out && strlen(out) == HASH_LEN)
            memcpy(j->hash, out, HASH_LEN + 1);
        else
            snprintf(j->err, sizeof j->err, "bcrypt failed: %s", strerror(errno ? errno : EINVAL));
        explicit_bzero(salt, sizeof salt);
    }
    explicit_bzero(cd, sizeof *cd); /* it held the key schedule */
    free(cd);
    explicit_bzero(j->pw, sizeof j->pw);
}

static void bcrypt_done(void *arg, int status)
{
    struct bjob *j = arg;
    struct fdn_node *n = j->node;
    lua_State *L = n->L;
    if (status == FDN_WORKER_OK) {
        fdn_node_dispatch_begin(n, "callback");
        lua_rawgeti(L, LUA_REGISTRYINDEX, j->cb_ref);
        int nargs = 1;
        if (j->verify)
            lua_pushboolean(L, j->ok);
        else if (j->err[0]) {
            lua_pushnil(L);
            lua_pushstring(L, j->err);
            nargs = 2;
        } else
            lua_pushstring(L, j->hash);
        fdn_node_dispatch_end(n, nargs + 1);
    }
    luaL_unref(L, LUA_REGISTRYINDEX, j->cb_ref);
    explicit_bzero(j, sizeof *j);
    free(j);
}

/* bcrypt's threads run below the reactor: a hash is long CPU work that can wait a little. */
#define BCRYPT_NICE 10

/* The node's bcrypt threads, made on first use: one CPU fewer than the machine has (1 to 4),
 * so that ten logins at once leave a core to the reactor (on 2 cores, two threads put an echo
 * call's p99 over 5 ms while they hashed; one kept it near 1 ms). */
static struct fdn_worker *pool(lua_State *L, struct fdn_node *n)
{
    if (!n->bcrypt) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        int threads = cpus > 5 ? 4 : cpus > 2 ? (int)cpus - 1 : 1;
        if (fdn_worker_new(n->base, threads, MAX_JOBS, BCRYPT_NICE, &n->bcrypt) < 0)
            luaL_error(L, "cannot start the bcrypt threads");
    }
    return n->bcrypt;
}

/* Checks the password (argument 1) and the callback (3), refs the callback, fills a job. */
static struct bjob *job_new(lua_State *L, struct fdn_node *n)
{
    size_t len;
    const char *pw = luaL_checklstring(L, 1, &len);
    luaL_argcheck(L, memchr(pw, 0, len) == NULL, 1, "password holds a NUL byte");
    luaL_checktype(L, 3, LUA_TFUNCTION);
    pool(L, n);
    lua_pushvalue(L, 3);
    int ref = luaL_ref(L, LUA_REGISTRYINDEX); /* first: it may raise, the job may not */
    struct bjob *j = xcalloc(1, sizeof *j);
    j->node = n;
    memcpy(j->pw, pw, len < PW_MAX ? len : PW_MAX);
    j->cb_ref = ref;
    return j;
}

/* Queues the job; true, or nil, "busy" when too many are queued (cb will not be called). */
static int submit(lua_State *L, struct bjob *j)
{
    if (fdn_worker_submit(j->node->bcrypt, bcrypt_run, bcrypt_done, j) < 0) {
        luaL_unref(L, LUA_REGISTRYINDEX, j->cb_ref);
        explicit_bzero(j, sizeof *j);
        free(j);
        lua_pushnil(L);
        lua_pushliteral(L, "busy");
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* hash(password, cost, cb): cb(hash) or cb(nil, message) later; cost 4..31. */
static int l_bcrypt_hash(lua_State *L)
{
    struct fdn_node *n = fdn_node_from_upvalue(L);
    lua_Integer cost = luaL_checkinteger(L, 2);
    luaL_argcheck(L, cost >= 4 && cost <= 31, 2, "cost must be 4..31");
    struct bjob *j = job_new(L, n);
    j->cost = (int)cost;
    return submit(L, j);
}

/* verify(password, hash, cb): cb(true|false) later; a malformed hash is false. */
static int l_bcrypt_verify(lua_State *L)
{
    struct fdn_node *n = fdn_node_from_upvalue(L);
    size_t hlen;
    const char *h = luaL_checklstring(L, 2, &hlen);
    struct bjob *j = job_new(L, n);
    j->verify = 1;
    if (hlen <= HASH_LEN)
        memcpy(j->hash, h, hlen); /* NUL bytes inside make it malformed on the worker */
    return submit(L, j);
}

static const luaL_Reg bcrypt_funcs[] = {
    {"hash", l_bcrypt_hash},
    {"verify", l_bcrypt_verify},
    {NULL, NULL},
};

int luaopen_fdn_core_bcrypt(lua_State *L)
{
    luaL_newlibtable(L, bcrypt_funcs);
    lua_pushvalue(L, lua_upvalueindex(1));
    luaL_setfuncs(L, bcrypt_funcs, 1);
    return 1;
}
