/* module.c: Lua modules whose C lives in a shared object of its own (fdn_pg.so: libpq and what
 * it pulls in; fdn_nats.so: libnats and OpenSSL), loaded by the first `require` that needs it, so a
 * node that never uses them neither maps nor pays for them. */
#include "module.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>

/* The directory of the running executable into dir (no trailing slash); 0, or -1. */
static int exe_dir(char *dir, size_t size)
{
    ssize_t len = readlink("/proc/self/exe", dir, size - 1);
    if (len <= 0)
        return -1;
    dir[len] = 0;
    char *slash = strrchr(dir, '/');
    if (!slash)
        return -1;
    *slash = 0;
    return 0;
}

/* The modules loaded, with the function each asked to run when the node ends. */
#define MAX_MODULES 8
static struct {
    void *handle;
    void (*shutdown)(void);
} loaded[MAX_MODULES];
static int nloaded;

/* dlopen's handle of file, looked for beside the executable (a build tree), then in
 * FDN_MODULE_DIR (an installed one); NULL with why in err. */
static void *open_module(const char *file, char *err, size_t err_size)
{
    char dir[PATH_MAX], path[PATH_MAX + 64];
    const char *dirs[2] = {NULL, FDN_MODULE_DIR};
    if (exe_dir(dir, sizeof dir) == 0)
        dirs[0] = dir;
    snprintf(err, err_size, "%s not found", file);
    for (int i = 0; i < 2; i++) {
        if (!dirs[i])
            continue;
        snprintf(path, sizeof path, "%s/%s", dirs[i], file);
        if (access(path, R_OK) != 0)
            continue;
        void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (h)
            return h;
        snprintf(err, err_size, "%s", dlerror());
        return NULL;
    }
    return NULL;
}

/* The package.preload loader: upvalues node, file, symbol, what (for the error), shutdown (a
 * symbol name, or nil). The module's luaopen function gets the node as its upvalue, as a
 * built-in one does. */
static int load_module(lua_State *L)
{
    void *node = lua_touserdata(L, lua_upvalueindex(1));
    const char *file = lua_tostring(L, lua_upvalueindex(2));
    const char *symbol = lua_tostring(L, lua_upvalueindex(3));
    const char *what = lua_tostring(L, lua_upvalueindex(4));
    const char *shutdown = lua_tostring(L, lua_upvalueindex(5));
    char err[512];
    void *h = open_module(file, err, sizeof err);
    if (!h)
        return luaL_error(L, "%s is not available: %s", what, err);
    lua_CFunction open = (lua_CFunction)(uintptr_t)dlsym(h, symbol);
    if (!open)
        return luaL_error(L, "%s is not available: %s has no %s", what, file, symbol);
    /* the handle stays open for the process's life: the module's functions live in it */
    int known = 0;
    for (int i = 0; i < nloaded; i++)
        known |= loaded[i].handle == h;
    if (!known && nloaded < MAX_MODULES) {
        loaded[nloaded].handle = h;
        loaded[nloaded++].shutdown =
            shutdown ? (void (*)(void))(uintptr_t)dlsym(h, shutdown) : NULL;
    }
    lua_pushlightuserdata(L, node);
    lua_pushcclosure(L, open, 1);
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    return 1;
}

void fdn_module_preload(lua_State *L, void *node, const char *name, const char *file,
                        const char *symbol, const char *what, const char *shutdown)
{
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushlightuserdata(L, node);
    lua_pushstring(L, file);
    lua_pushstring(L, symbol);
    lua_pushstring(L, what);
    if (shutdown)
        lua_pushstring(L, shutdown);
    else
        lua_pushnil(L);
    lua_pushcclosure(L, load_module, 5);
    lua_setfield(L, -2, name);
    lua_pop(L, 1);
}

void fdn_module_shutdown_all(void)
{
    for (int i = 0; i < nloaded; i++)
        if (loaded[i].shutdown)
            loaded[i].shutdown();
}
