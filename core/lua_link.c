/* lua_link.c: RPC links for Lua (fdn.core.link), the transport: listen, connect, send frames,
 * mark a link ready, pair two links to one peer, close, stats and info. Link events come back
 * through the dispatcher as "link" (see link.h), frames through fdn.core.rpc's door (lua_rpc.c).
 * Created on first use. */
#include <lauxlib.h>
#include <lua.h>

#include "frame.h"
#include "link.h"
#include "node.h"

static struct fdn_links *links_of(lua_State *L)
{
    struct fdn_node *n = fdn_node_from_upvalue(L);
    if (!n->links)
        n->links = fdn_links_new(n);
    return n->links;
}

static uint64_t check_id(lua_State *L, int arg)
{
    lua_Integer id = luaL_checkinteger(L, arg);
    luaL_argcheck(L, id > 0, arg, "link id must be positive");
    return (uint64_t)id;
}

static int fail(lua_State *L, const char *err)
{
    luaL_pushfail(L);
    lua_pushstring(L, err);
    return 2;
}

/* true | nil, err: err is fdn_link_strerror's word ("gone", "too large", "slow consumer") */
static int ok_or(lua_State *L, int r)
{
    if (r < 0)
        return fail(L, fdn_link_strerror(r));
    lua_pushboolean(L, 1);
    return 1;
}

/* listen([host [, port]]) -> port | nil, err ("invalid address", "cannot listen"): host and
 * port default to --bind and --port. */
static int l_link_listen(lua_State *L)
{
    struct fdn_node *n = fdn_node_from_upvalue(L);
    const char *host = luaL_optstring(L, 1, n->cfg.bind ? n->cfg.bind : "0.0.0.0");
    lua_Integer port = luaL_optinteger(L, 2, n->cfg.port);
    luaL_argcheck(L, port >= 0 && port <= 65535, 2, "port must be in 0..65535");
    int bound = 0;
    int r = fdn_links_listen(links_of(L), host, (int)port, &bound);
    if (r == FDN_LINK_EINVAL)
        return fail(L, "invalid address");
    if (r < 0)
        return fail(L, "cannot listen");
    lua_pushinteger(L, bound);
    return 1;
}

static int l_link_stop_listening(lua_State *L)
{
    struct fdn_node *n = fdn_node_from_upvalue(L);
    fdn_links_stop_listening(n->links);
    return 0;
}

/* connect(host, port) -> id | nil, err ("invalid address", "system error"): only immediate
 * failures return nil; later ones arrive as a "down" event. */
static int l_link_connect(lua_State *L)
{
    const char *host = luaL_checkstring(L, 1);
    lua_Integer port = luaL_checkinteger(L, 2);
    luaL_argcheck(L, port > 0 && port <= 65535, 2, "port must be in 1..65535");
    uint64_t id = 0;
    int r = fdn_links_connect(links_of(L), host, (int)port, &id);
    if (r == FDN_LINK_EINVAL)
        return fail(L, "invalid address");
    if (r < 0)
        return fail(L, "system error");
    lua_pushinteger(L, (lua_Integer)id);
    return 1;
}

/* send(id, type, flags, req_id [, body]) -> true | nil, err: "gone", "too large", "slow consumer"
 */
static int l_link_send(lua_State *L)
{
    uint64_t id = check_id(L, 1);
    lua_Integer type = luaL_checkinteger(L, 2);
    lua_Integer flags = luaL_checkinteger(L, 3);
    lua_Integer req = luaL_checkinteger(L, 4);
    size_t len = 0;
    const char *body = luaL_optlstring(L, 5, "", &len);
    luaL_argcheck(L, type >= 1 && type <= FDN_FRAME_TYPE_MAX, 2, "unknown frame type");
    luaL_argcheck(L, flags >= 0 && flags <= 255, 3, "flags must be in 0..255");
    luaL_argcheck(L, req >= 0 && req <= 0xffffffffLL, 4, "request id must be in 0..2^32-1");
    struct fdn_node *n = fdn_node_from_upvalue(L);
    if (!n->links)
        return ok_or(L, FDN_LINK_EGONE);
    return ok_or(L, fdn_links_send(n->links, id, (int)type, (int)flags, (uint32_t)req, body, len));
}

/* ready(id) -> true | nil, "gone": the handshake is over, any frame type may come. */
static int l_link_ready(lua_State *L)
{
    uint64_t id = check_id(L, 1);
    struct fdn_node *n = fdn_node_from_upvalue(L);
    return ok_or(L, n->links ? fdn_links_ready(n->links, id) : FDN_LINK_EGONE);
}

/* pair(a, b [, lead]) -> true | nil, "gone" | "invalid": links a and b go to the same peer
 * and share one liveness; lead: this side pings the pair (see link.h). */
static int l_link_pair(lua_State *L)
{
    uint64_t a = check_id(L, 1), b = check_id(L, 2);
    int lead = lua_toboolean(L, 3);
    struct fdn_node *n = fdn_node_from_upvalue(L);
    return ok_or(L, n->links ? fdn_links_pair(n->links, a, b, lead) : FDN_LINK_EGONE);
}

/* close(id [, reason [, flush]]) -> true | nil, "gone": no "down" event follows. */
static int l_link_close(lua_State *L)
{
    uint64_t id = check_id(L, 1);
    const char *reason = luaL_optstring(L, 2, NULL);
    int flush = lua_toboolean(L, 3);
    struct fdn_node *n = fdn_node_from_upvalue(L);
    return ok_or(L, n->links ? fdn_links_close(n->links, id, reason, flush) : FDN_LINK_EGONE);
}

static void set_int(lua_State *L, const char *k, uint64_t v)
{
    lua_pushinteger(L, (lua_Integer)v);
    lua_setfield(L, -2, k);
}

/* stats() -> {links, accepted, connected, frames_in, frames_out, bytes_in, bytes_out,
 * pings_sent, protocol_errors, tls_handshakes, tls_failures, closes = {[reason] = count},
 * tls = true when the node has a secret} */
static int l_link_stats(lua_State *L)
{
    struct fdn_node *n = fdn_node_from_upvalue(L);
    struct fdn_link_stats st = {0};
    if (n->links)
        fdn_links_stats(n->links, &st);
    lua_createtable(L, 0, 13);
    set_int(L, "links", st.links);
    set_int(L, "accepted", st.accepted);
    set_int(L, "connected", st.connected);
    set_int(L, "frames_in", st.frames_in);
    set_int(L, "frames_out", st.frames_out);
    set_int(L, "bytes_in", st.bytes_in);
    set_int(L, "bytes_out", st.bytes_out);
    set_int(L, "pings_sent", st.pings_sent);
    set_int(L, "protocol_errors", st.protocol_errors);
    set_int(L, "tls_handshakes", st.tls_handshakes);
    set_int(L, "tls_failures", st.tls_failures);
    lua_pushboolean(L, n->tls != NULL);
    lua_setfield(L, -2, "tls");
    lua_createtable(L, 0, FDN_LINK_R_MAX);
    for (int i = 0; i < FDN_LINK_R_MAX; i++)
        set_int(L, fdn_link_reason_name(i), st.closes[i]);
    lua_setfield(L, -2, "closes");
    return 1;
}

/* The link named by argument 1 into *in: 0, or (when it is gone) what to return after
 * pushing nil, "gone". */
static int link_info_arg(lua_State *L, struct fdn_link_info *in)
{
    uint64_t id = check_id(L, 1);
    struct fdn_node *n = fdn_node_from_upvalue(L);
    if (n->links && fdn_links_info(n->links, id, in) == 0)
        return 0;
    return ok_or(L, FDN_LINK_EGONE);
}

/* info(id) -> {ip, local_ip, port, inbound, connected, ready, secure, pending} | nil, "gone":
 * local_ip is this end's address, secure once the TLS handshake is over */
static int l_link_info(lua_State *L)
{
    struct fdn_link_info in;
    int gone = link_info_arg(L, &in);
    if (gone)
        return gone;
    lua_createtable(L, 0, 8);
    lua_pushstring(L, in.ip);
    lua_setfield(L, -2, "ip");
    lua_pushstring(L, in.local_ip);
    lua_setfield(L, -2, "local_ip");
    set_int(L, "port", (uint64_t)in.port);
    lua_pushboolean(L, in.inbound);
    lua_setfield(L, -2, "inbound");
    lua_pushboolean(L, in.connected);
    lua_setfield(L, -2, "connected");
    lua_pushboolean(L, in.ready);
    lua_setfield(L, -2, "ready");
    lua_pushboolean(L, in.secure);
    lua_setfield(L, -2, "secure");
    set_int(L, "pending", in.pending);
    return 1;
}

/* pending(id) -> bytes queued for output on the link (see info) | nil, "gone" */
static int l_link_pending(lua_State *L)
{
    struct fdn_link_info in;
    int gone = link_info_arg(L, &in);
    if (gone)
        return gone;
    lua_pushinteger(L, (lua_Integer)in.pending);
    return 1;
}

static const luaL_Reg link_funcs[] = {
    {"listen", l_link_listen},
    {"stop_listening", l_link_stop_listening},
    {"connect", l_link_connect},
    {"send", l_link_send},
    {"ready", l_link_ready},
    {"close", l_link_close},
    {"stats", l_link_stats},
    {"info", l_link_info},
    {"pending", l_link_pending},
    {"pair", l_link_pair},
    {NULL, NULL},
};

int luaopen_fdn_core_link(lua_State *L)
{
    luaL_newlibtable(L, link_funcs);
    lua_pushvalue(L, lua_upvalueindex(1));
    luaL_setfuncs(L, link_funcs, 1);
    lua_createtable(L, 0, FDN_FRAME_TYPE_MAX);
    for (int t = 1; t <= FDN_FRAME_TYPE_MAX; t++) {
        lua_pushinteger(L, t);
        lua_setfield(L, -2, fdn_frame_type_name(t));
    }
    lua_setfield(L, -2, "TYPES");
    lua_createtable(L, 0, 1);
    lua_pushinteger(L, FDN_FRAME_F_NOT_RUN);
    lua_setfield(L, -2, "NOT_RUN");
    lua_setfield(L, -2, "FLAGS");
    return 1;
}
