/* lua_seal.c: fdn.core.seal, messages sealed with the cluster key for a shared bus (seal.h):
 * new() -> sealer | nil (no --secret); s:seal(subject, msg) -> sealed; s:open(subject, data)
 * -> msg, sender (hex) | nil, why; s:stats(). Keys come from the node's secret, never Lua. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>

#include "node.h"
#include "seal.h"
#include "tls.h"

#define SEAL_MT "fdn.seal"

struct lseal {
    struct fdn_seal seal;
    struct fdn_buf out;
    int live;
    uint64_t opened, refused[6]; /* refused[-code]: FDN_SEAL_E* */
};

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static struct lseal *check_seal(lua_State *L)
{
    struct lseal *s = luaL_checkudata(L, 1, SEAL_MT);
    luaL_argcheck(L, s->live, 1, "sealer freed");
    s->out.len = 0;
    return s;
}

/* The output buffer as a string; a large one is released after use. */
static int push_out(lua_State *L, struct lseal *s)
{
    lua_pushlstring(L, s->out.data ? s->out.data : "", s->out.len);
    if (s->out.cap > 64 * 1024)
        fdn_buf_free(&s->out);
    return 1;
}

/* new() -> sealer for this node (its id is the sender), or nil without a cluster secret. */
static int l_seal_new(lua_State *L)
{
    struct fdn_node *n = fdn_node_from_upvalue(L);
    if (!n->tls) {
        lua_pushnil(L);
        return 1;
    }
    struct lseal *s = lua_newuserdatauv(L, sizeof *s, 0);
    memset(s, 0, sizeof *s);
    fdn_seal_init(&s->seal, fdn_tls_seal_key(n->tls), n->id);
    fdn_buf_init(&s->out);
    s->live = 1;
    luaL_setmetatable(L, SEAL_MT);
    return 1;
}

/* s:seal(subject, msg) -> the sealed message (msg's length + 41 bytes) */
static int l_seal_seal(lua_State *L)
{
    struct lseal *s = check_seal(L);
    size_t slen, len;
    const char *subject = luaL_checklstring(L, 2, &slen);
    const char *msg = luaL_checklstring(L, 3, &len);
    fdn_seal_put(&s->seal, subject, slen, msg, len, wall_ms(), &s->out);
    return push_out(L, s);
}

/* s:open(subject, data) -> msg, sender (32 hex digits) | nil, why ("malformed", "stale",
 * "old", "replay", "tag"): counted in stats either way. */
static int l_seal_open(lua_State *L)
{
    struct lseal *s = check_seal(L);
    size_t slen, len;
    const char *subject = luaL_checklstring(L, 2, &slen);
    const char *data = luaL_checklstring(L, 3, &len);
    uint8_t sender[FDN_SEAL_ID_LEN];
    int r = fdn_seal_open(&s->seal, subject, slen, data, len, wall_ms(), &s->out, sender);
    if (r < 0) {
        if (-r < (int)(sizeof s->refused / sizeof s->refused[0]))
            s->refused[-r]++;
        luaL_pushfail(L);
        lua_pushstring(L, fdn_seal_strerror(r));
        return 2;
    }
    s->opened++;
    push_out(L, s);
    char hex[2 * FDN_SEAL_ID_LEN + 1];
    for (int i = 0; i < FDN_SEAL_ID_LEN; i++)
        snprintf(hex + 2 * i, 3, "%02x", sender[i]);
    lua_pushstring(L, hex);
    return 2;
}

/* s:stats() -> {opened = n, refused = n (all causes), malformed, stale, old, replay, tag} */
static int l_seal_stats(lua_State *L)
{
    struct lseal *s = check_seal(L);
    lua_createtable(L, 0, 7);
    lua_pushinteger(L, (lua_Integer)s->opened);
    lua_setfield(L, -2, "opened");
    uint64_t all = 0;
    for (int code = 1; code < (int)(sizeof s->refused / sizeof s->refused[0]); code++) {
        all += s->refused[code];
        lua_pushinteger(L, (lua_Integer)s->refused[code]);
        lua_setfield(L, -2, fdn_seal_strerror(-code));
    }
    lua_pushinteger(L, (lua_Integer)all);
    lua_setfield(L, -2, "refused");
    return 1;
}

static int l_seal_gc(lua_State *L)
{
    struct lseal *s = luaL_checkudata(L, 1, SEAL_MT);
    if (s->live) {
        fdn_seal_free(&s->seal);
        fdn_buf_free(&s->out);
        s->live = 0;
    }
    return 0;
}

static const luaL_Reg seal_methods[] = {
    {"seal", l_seal_seal},
    {"open", l_seal_open},
    {"stats", l_seal_stats},
    {NULL, NULL},
};

int luaopen_fdn_core_seal(lua_State *L)
{
    if (luaL_newmetatable(L, SEAL_MT)) {
        luaL_newlib(L, seal_methods);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, l_seal_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    lua_createtable(L, 0, 1);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushcclosure(L, l_seal_new, 1);
    lua_setfield(L, -2, "new");
    return 1;
}
