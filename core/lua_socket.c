/* lua_socket.c: require "fdn.core.socket": Lua's side of the Engine.IO server (eio_server.h):
 * send(id, type, nsp, ack_id, data) one Socket.IO packet, ack(id, ack_id, result) the answer of
 * a call that succeeded, emit(ids, data) one event to many sessions (encoded once), close(id),
 * count(). Packets come in through dispatch "socket". */
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "buf.h"
#include "eio.h"
#include "eio_server.h"
#include "json.h"
#include "node.h"

static int gone(lua_State *L)
{
    luaL_pushfail(L);
    lua_pushliteral(L, "gone");
    return 2;
}

/* Appends the JSON of the value at idx to b; 0, or -1 with nil, "not json", why pushed (3). */
static int encode(lua_State *L, int idx, struct fdn_buf *b)
{
    char err[128];
    if (fdn_json_encode(L, idx, b, err, sizeof err) == 0)
        return 0;
    luaL_pushfail(L);
    lua_pushliteral(L, "not json");
    lua_pushstring(L, err);
    return -1;
}

/* send(id, type, nsp, ack_id_or_nil, data_or_nil) -> true | nil, "gone" | nil, "not json", why:
 * one Socket.IO packet (type 0..6, nsp "/..." without ',') in one Engine.IO message. */
static int l_socket_send(lua_State *L)
{
    struct fdn_node *n = fdn_node_from_upvalue(L);
    lua_Integer id = luaL_checkinteger(L, 1);
    lua_Integer type = luaL_checkinteger(L, 2);
    size_t nsp_len;
    const char *nsp = luaL_optlstring(L, 3, "/", &nsp_len);
    lua_Integer ack = luaL_opt(L, luaL_checkinteger, 4, FDN_SIO_NO_ID);
    luaL_argcheck(L, type >= FDN_SIO_CONNECT && type <= FDN_SIO_BINARY_ACK, 2,
                  "not a Socket.IO packet type");
    luaL_argcheck(L,
                  nsp_len >= 1 && nsp_len <= FDN_SIO_MAX_NSP && nsp[0] == '/' &&
                      !memchr(nsp, ',', nsp_len),
                  3, "a namespace starts with '/' and has no ','");
    luaL_argcheck(L, ack == FDN_SIO_NO_ID || (ack >= 0 && ack <= FDN_SIO_MAX_ID), 4,
                  "ack id out of range");
    if (!fdn_eio_server_exists(n->eio, (uint64_t)id))
        return gone(L);
    struct fdn_buf *b = fdn_eio_server_scratch(n->eio);
    b->len = fdn_sio_header(fdn_buf_room(b, FDN_SIO_HEADER_MAX), (enum fdn_sio_type)type, nsp,
                            nsp_len, (long long)ack);
    if (!lua_isnoneornil(L, 5) && encode(L, 5, b) < 0)
        return 3;
    if (fdn_eio_server_send(n->eio, (uint64_t)id, b->data, b->len) < 0)
        return gone(L);
    lua_pushboolean(L, 1);
    return 1;
}

/* ack(id, ack_id, result) -> as send: the ACK of a call that succeeded, [null,result] (a nil
 * result is null), on "/": the socket path's answer, without a table for the pair. */
static int l_socket_ack(lua_State *L)
{
    struct fdn_node *n = fdn_node_from_upvalue(L);
    lua_Integer id = luaL_checkinteger(L, 1);
    lua_Integer ack = luaL_checkinteger(L, 2);
    luaL_argcheck(L, ack >= 0 && ack <= FDN_SIO_MAX_ID, 2, "ack id out of range");
    if (!fdn_eio_server_exists(n->eio, (uint64_t)id))
        return gone(L);
    struct fdn_buf *b = fdn_eio_server_scratch(n->eio);
    b->len =
        fdn_sio_header(fdn_buf_room(b, FDN_SIO_HEADER_MAX), FDN_SIO_ACK, "/", 1, (long long)ack);
    fdn_buf_put(b, "[null,", 6);
    if (lua_isnoneornil(L, 3))
        fdn_buf_put(b, "null", 4);
    else if (encode(L, 3, b) < 0)
        return 3;
    fdn_buf_put(b, "]", 1);
    if (fdn_eio_server_send(n->eio, (uint64_t)id, b->data, b->len) < 0)
        return gone(L);
    lua_pushboolean(L, 1);
    return 1;
}

/* emit(ids, data) -> n | nil, "not json", why: the EVENT "42" .. JSON(data), encoded once, to
 * every open session among ids (a list of ids); n is how many got it. */
static int l_socket_emit(lua_State *L)
{
    struct fdn_node *n = fdn_node_from_upvalue(L);
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checkany(L, 2);
    lua_Integer sent = 0, count = (lua_Integer)lua_rawlen(L, 1);
    if (n->eio && count > 0) {
        struct fdn_buf *b = fdn_eio_server_scratch(n->eio);
        fdn_buf_put(b, "42", 2);
        if (encode(L, 2, b) < 0)
            return 3;
        for (lua_Integer i = 1; i <= count; i++) {
            int ok;
            lua_Integer id = (lua_rawgeti(L, 1, i), lua_tointegerx(L, -1, &ok));
            lua_pop(L, 1);
            if (ok && fdn_eio_server_send(n->eio, (uint64_t)id, b->data, b->len) == 0)
                sent++;
        }
    }
    lua_pushinteger(L, sent);
    return 1;
}

/* close(id): ends the session at once (sends to it are "gone"); its "close" dispatch follows
 * from the loop. */
static int l_socket_close(lua_State *L)
{
    struct fdn_node *n = fdn_node_from_upvalue(L);
    fdn_eio_server_close(n->eio, (uint64_t)luaL_checkinteger(L, 1));
    return 0;
}

/* count() -> the number of open sessions. */
static int l_socket_count(lua_State *L)
{
    struct fdn_node *n = fdn_node_from_upvalue(L);
    lua_pushinteger(L, (lua_Integer)fdn_eio_server_count(n->eio));
    return 1;
}

static const luaL_Reg socket_funcs[] = {
    {"send", l_socket_send},   {"ack", l_socket_ack},     {"emit", l_socket_emit},
    {"close", l_socket_close}, {"count", l_socket_count}, {NULL, NULL},
};

/* Registered by the node as a C closure whose upvalue 1 is the node (light userdata). */
int luaopen_fdn_core_socket(lua_State *L)
{
    luaL_newlibtable(L, socket_funcs);
    lua_pushvalue(L, lua_upvalueindex(1));
    luaL_setfuncs(L, socket_funcs, 1);
    return 1;
}
