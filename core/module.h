/* module.h: Lua modules kept in shared objects of their own and loaded on first require (see
 * module.c), for dependencies that are large and seldom all used (libpq, libnats). */
#ifndef FDN_MODULE_H
#define FDN_MODULE_H

#include <lua.h>

#ifndef FDN_MODULE_DIR
#define FDN_MODULE_DIR "/usr/local/lib/fdnode"
#endif

/* package.preload[name] = a loader that dlopens file (beside the executable, else in
 * FDN_MODULE_DIR) and runs its `symbol` (a lua_CFunction) with node as its upvalue. A file that
 * is missing or does not load is an error that names `what` ("PostgreSQL support"). shutdown,
 * when not NULL, names a void(void) function of the module that fdn_module_shutdown_all runs. */
void fdn_module_preload(lua_State *L, void *node, const char *name, const char *file,
                        const char *symbol, const char *what, const char *shutdown);

/* Runs the shutdown function of every module loaded (after the Lua state is closed). */
void fdn_module_shutdown_all(void);

#endif
