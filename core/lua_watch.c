/* lua_watch.c: file watching for Lua (fdn.core.watch): add, remove, clear, quiet, files.
 * Changes come back through the dispatcher as "watch", {path, ...} (see watch.h). The
 * watcher is created on first add, held by one "fdn.watch" userdata whose __gc frees it. */
#include <errno.h>

#include <lauxlib.h>
#include <lua.h>

#include "node.h"
#include "watch.h"

#define WATCH_MT "fdn.watch"
#define INSTANCE "fdn.watch.instance" /* registry field: the one holder per Lua state */

struct lwatch {
    struct fdn_watch *w; /* NULL until first used, and after __gc */
    int quiet_ms;        /* kept here so quiet() before add() needs no watcher */
};

static struct lwatch *holder(lua_State *L)
{
    return lua_touserdata(L, lua_upvalueindex(2));
}

static struct fdn_watch *watch_of(lua_State *L)
{
    struct lwatch *lw = holder(L);
    if (!lw->w && fdn_watch_new(fdn_node_from_upvalue(L), &lw->w) == 0)
        fdn_watch_set_quiet(lw->w, lw->quiet_ms);
    return lw->w;
}

/* add(path) -> true | nil, err: err is "not found", "permission denied", "too many watches"
 * or "system error" (the log has the details). */
static int l_watch_add(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    struct fdn_watch *w = watch_of(L);
    if (w && fdn_watch_add(w, path) == 0) {
        lua_pushboolean(L, 1);
        return 1;
    }
    int e = w ? errno : 0;
    luaL_pushfail(L);
    lua_pushstring(L, e == ENOENT || e == ENOTDIR || e == EISDIR ? "not found"
                      : e == EACCES                              ? "permission denied"
                      : e == ENOSPC                              ? "too many watches"
                                                                 : "system error");
    return 2;
}

/* remove(path) -> true | nil, "not watched". */
static int l_watch_remove(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    struct fdn_watch *w = holder(L)->w;
    if (w && fdn_watch_remove(w, path) == 0) {
        lua_pushboolean(L, 1);
        return 1;
    }
    luaL_pushfail(L);
    lua_pushliteral(L, "not watched");
    return 2;
}

static int l_watch_clear(lua_State *L)
{
    struct fdn_watch *w = holder(L)->w;
    if (w)
        fdn_watch_clear(w);
    return 0;
}

/* quiet(ms): the debounce period, 0..60000 ms (default 100). */
static int l_watch_quiet(lua_State *L)
{
    lua_Integer ms = luaL_checkinteger(L, 1);
    luaL_argcheck(L, ms >= 0 && ms <= 60000, 1, "quiet period must be in 0..60000 ms");
    struct lwatch *lw = holder(L);
    lw->quiet_ms = (int)ms;
    if (lw->w)
        fdn_watch_set_quiet(lw->w, (int)ms);
    return 0;
}

/* files() -> {path, ...} as given to add, in the order added. */
static int l_watch_files(lua_State *L)
{
    struct fdn_watch *w = holder(L)->w;
    int count = w ? fdn_watch_count(w) : 0;
    lua_createtable(L, count, 0);
    for (int i = 0; i < count; i++) {
        lua_pushstring(L, fdn_watch_path(w, i));
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int l_watch_gc(lua_State *L)
{
    struct lwatch *lw = luaL_checkudata(L, 1, WATCH_MT);
    fdn_watch_free(lw->w);
    lw->w = NULL;
    return 0;
}

static const luaL_Reg watch_funcs[] = {
    {"add", l_watch_add},     {"remove", l_watch_remove}, {"clear", l_watch_clear},
    {"quiet", l_watch_quiet}, {"files", l_watch_files},   {NULL, NULL},
};

int luaopen_fdn_core_watch(lua_State *L)
{
    luaL_newlibtable(L, watch_funcs);
    lua_pushvalue(L, lua_upvalueindex(1));
    if (lua_getfield(L, LUA_REGISTRYINDEX, INSTANCE) != LUA_TUSERDATA) {
        lua_pop(L, 1);
        struct lwatch *lw = lua_newuserdatauv(L, sizeof *lw, 0);
        lw->w = NULL;
        lw->quiet_ms = 100;
        if (luaL_newmetatable(L, WATCH_MT)) {
            lua_pushcfunction(L, l_watch_gc);
            lua_setfield(L, -2, "__gc");
            lua_pushcfunction(L, l_watch_gc);
            lua_setfield(L, -2, "__close");
        }
        lua_setmetatable(L, -2);
        lua_pushvalue(L, -1);
        lua_setfield(L, LUA_REGISTRYINDEX, INSTANCE);
    }
    luaL_setfuncs(L, watch_funcs, 2);
    return 1;
}
