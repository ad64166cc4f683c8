/* lua_link.c: RPC links for Lua (fdn.core.link): listen, connect, send frames, mark a link
 * ready, close, stats and info. Frames and link events come back through the dispatcher as
 * "frame" and "link" (see link.h). The links are created on first use. */
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "frame.h"
#include "json.h"
#include "link.h"
#include "node.h"

/* Registry key of the frame handlers (type -> function, -type -> body mode). */
static const char handlers_key;
#define SCRATCH_KEEP (64 * 1024) /* a larger scratch buffer is released after use */

enum { BODY_RAW = 0, BODY_VALUE = -1 }; /* or n > 0: a JSON array, unpacked into n values */

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
    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
}

static int ok_or(lua_State *L, int r)
{
    switch (r) {
    case 0:
        lua_pushboolean(L, 1);
        return 1;
    case FDN_LINK_EGONE:
        return fail(L, "gone");
    case FDN_LINK_ETOOLARGE:
        return fail(L, "too large");
    case FDN_LINK_ESLOW:
        return fail(L, "slow consumer");
    case FDN_LINK_EINVAL:
        return fail(L, "invalid");
    default:
        return fail(L, "system error");
    }
}

/* listen([host [, port]]) -> port | nil, err: host and port default to --bind and --port. */
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

/* connect(host, port) -> id | nil, err: only immediate failures (a bad address) return nil;
 * later ones arrive as a "down" event. */
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

/* send(id, type, flags, req_id [, body]) -> true | nil, "gone" | "too large" | "slow consumer" */
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

/* --- frames in: the fast door ------------------------------------------------------------ */

/* Replaces the JSON null at idx by nil (the unpacked top-level values of a frame). */
static void null_to_nil(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    if (fdn_json_is_null(L, idx)) {
        lua_pushnil(L);
        lua_replace(L, idx);
    }
}

/* The fast door (link.h): pushes the handler Lua set for the frame's type (link.handle) and
 * its arguments, the body as the handler asked for it; -1 when nobody handles the type (the
 * frame is dropped). It only decodes: no Lua code runs here. */
static int door(lua_State *L, uint64_t link, const struct fdn_frame *f)
{
    const char *body = (const char *)f->body;
    size_t len = f->body_len;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &handlers_key);
    int handlers = lua_gettop(L);
    if (lua_rawgeti(L, handlers, f->type) != LUA_TFUNCTION)
        return -1;
    lua_rawgeti(L, handlers, -(lua_Integer)f->type);
    int mode = (int)lua_tointeger(L, -1);
    lua_pop(L, 1);
    lua_pushinteger(L, (lua_Integer)link);
    if (mode == BODY_RAW) { /* fn(link_id, type, flags, id, body) */
        lua_pushinteger(L, f->type);
        lua_pushinteger(L, f->flags);
        lua_pushinteger(L, (lua_Integer)f->id);
        lua_pushlstring(L, body, len);
        return 5;
    }
    /* fn(link_id, id, value, err [, flags]) or fn(link_id, id, v1, ..., vn) */
    lua_pushinteger(L, (lua_Integer)f->id);
    char err[128];
    if (mode == BODY_VALUE) {
        int n = 2;
        if (len == 0) {
            /* no body: nil value */
        } else if (fdn_json_decode(L, body, len, err, sizeof err) == 0) {
            null_to_nil(L, -1);
            n = 3;
        } else { /* malformed: fn(link_id, id, nil, err) */
            lua_pushnil(L);
            lua_pushstring(L, err);
            n = 4;
        }
        if (f->flags == 0) /* the common case: flags left out */
            return n;
        lua_settop(L, lua_gettop(L) + 4 - n);
        lua_pushinteger(L, f->flags);
        return 5;
    }
    if (len == 0)
        return 2; /* no body: nil values */
    /* a list's items, straight onto the stack */
    int rc = fdn_json_decode_items(L, body, len, mode, err, sizeof err);
    if (rc == 0)
        return 2 + mode; /* (an item that is null comes as nil) */
    if (rc > 0 && fdn_json_decode(L, body, len, err, sizeof err) == 0) {
        lua_pop(L, 1); /* JSON, not a list: the handler sees nils */
        return 2;
    }
    lua_pushnil(L); /* malformed: fn(link_id, id, nil, err) */
    lua_pushstring(L, err);
    return 4;
}

/* handle(type, fn [, mode]): from now on frames of this type go to fn; mode says how their
 * body comes: "raw" (default) fn(link_id, type, flags, id, body); "value" fn(link_id, id,
 * value, err, flags), the decoded JSON body (nil when empty; JSON null is nil; err when
 * malformed; flags only when the frame has any);
 * or a count n: fn(link_id, id, v1, ..., vn), the elements of the body's JSON array (nil
 * where missing or null; all nil when the body is not an array). */
static int l_link_handle(lua_State *L)
{
    lua_Integer type = luaL_checkinteger(L, 1);
    luaL_argcheck(L, type >= 1 && type <= FDN_FRAME_TYPE_MAX, 1, "unknown frame type");
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_Integer mode = BODY_RAW;
    if (lua_type(L, 3) == LUA_TNUMBER) {
        mode = luaL_checkinteger(L, 3);
        luaL_argcheck(L, mode >= 1 && mode <= 16, 3, "a count must be in 1..16");
    } else if (!lua_isnoneornil(L, 3)) {
        const char *m = luaL_checkstring(L, 3);
        luaL_argcheck(L, strcmp(m, "raw") == 0 || strcmp(m, "value") == 0, 3,
                      "mode must be \"raw\", \"value\" or a count");
        mode = m[0] == 'v' ? BODY_VALUE : BODY_RAW;
    }
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &handlers_key) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &handlers_key);
    }
    lua_pushvalue(L, 2);
    lua_rawseti(L, -2, type);
    lua_pushinteger(L, mode);
    lua_rawseti(L, -2, -type);
    fdn_links_set_door(links_of(L), door);
    return 0;
}

/* --- frames out, encoded here ------------------------------------------------------------ */

/* The buffer frames are encoded in: every function of the binding has it as its second
 * upvalue (the node is the first). No Lua code runs while it is in use. */
static struct fdn_buf *scratch(lua_State *L)
{
    struct fdn_buf *b = lua_touserdata(L, lua_upvalueindex(2));
    b->len = 0;
    return b;
}

static void put(struct fdn_buf *b, const char *s, size_t n)
{
    fdn_buf_reserve(b, n);
    memcpy(b->data + b->len, s, n);
    b->len += n;
}

/* Appends '[' and the values from..to (nil as null), comma-separated: a JSON list still
 * open; 0 or -1. */
static int open_list(lua_State *L, int from, int to, struct fdn_buf *b, char *err, size_t errlen)
{
    put(b, "[", 1);
    return fdn_json_encode_items(L, from, to, b, err, errlen);
}

/* Appends the table at idx, leaving out the fields that are not JSON (functions, userdata,
 * connections: params that cannot cross nodes stay behind); other values as fdn_json_encode (nil as
 * null). */
static void put_portable(lua_State *L, int idx, struct fdn_buf *b)
{
    if (fdn_json_encode(L, idx, b, NULL, 0) == 0)
        return;
    if (lua_type(L, idx) != LUA_TTABLE) {
        put(b, "null", 4);
        return;
    }
    put(b, "{", 1);
    size_t open = b->len;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        int value = lua_gettop(L);
        if (lua_type(L, value - 1) == LUA_TSTRING) {
            size_t mark = b->len;
            if (b->len > open)
                put(b, ",", 1);
            if (fdn_json_encode(L, value - 1, b, NULL, 0) < 0)
                b->len = mark;
            else {
                put(b, ":", 1);
                if (fdn_json_encode(L, value, b, NULL, 0) < 0)
                    b->len = mark;
            }
        }
        lua_pop(L, 1);
    }
    put(b, "}", 1);
}

/* nil, "too large", the body's size in bytes */
static int too_large(lua_State *L, size_t len)
{
    fail(L, "too large");
    lua_pushinteger(L, (lua_Integer)len);
    return 3;
}

/* Sends b as one frame; the usual true | nil, err, with the body's size after "too large". */
static int send_buf(lua_State *L, uint64_t id, int type, uint32_t req, struct fdn_buf *b)
{
    struct fdn_node *n = fdn_node_from_upvalue(L);
    int r = n->links ? fdn_links_send(n->links, id, type, 0, req, b->data, b->len) : FDN_LINK_EGONE;
    size_t len = b->len;
    if (b->cap > SCRATCH_KEEP)
        fdn_buf_free(b);
    return r == FDN_LINK_ETOOLARGE ? too_large(L, len) : ok_or(L, r);
}

static int not_json(lua_State *L, const char *err)
{
    lua_pushnil(L);
    lua_pushliteral(L, "not JSON");
    lua_pushstring(L, err);
    return 3;
}

static uint32_t check_req(lua_State *L, int arg)
{
    lua_Integer req = luaL_checkinteger(L, arg);
    luaL_argcheck(L, req >= 0 && req <= 0xffffffffLL, arg, "request id must be in 0..2^32-1");
    return (uint32_t)req;
}

/* request(id, req_id, path, method, id, data, params) -> true | nil, err [, detail]: a REQ
 * whose body is [path, method, id, data, params] (nil as null; the fields of params that are
 * not JSON are left out); err "not JSON" (detail says why) when id or data is not, "too
 * large" (detail: the body's size in bytes) over --max-frame. */
static int l_link_request(lua_State *L)
{
    uint64_t id = check_id(L, 1);
    uint32_t req = check_req(L, 2);
    luaL_checkstring(L, 3);
    luaL_checkstring(L, 4);
    lua_settop(L, 7);
    struct fdn_buf *b = scratch(L);
    char err[128];
    if (open_list(L, 3, 6, b, err, sizeof err) < 0)
        return not_json(L, err);
    put(b, ",", 1);
    put_portable(L, 7, b);
    put(b, "]", 1);
    return send_buf(L, id, FDN_FRAME_REQ, req, b);
}

/* reply(id, type, req_id [, value]) -> true | nil, err [, detail]: a frame (RES, ERR, SUB...)
 * whose body is value as JSON (empty when nil); err "not JSON" when it is not (detail says
 * why), "too large" (detail: the body's size in bytes) over --max-frame. */
static int l_link_reply(lua_State *L)
{
    uint64_t id = check_id(L, 1);
    lua_Integer type = luaL_checkinteger(L, 2);
    luaL_argcheck(L, type >= 1 && type <= FDN_FRAME_TYPE_MAX, 2, "unknown frame type");
    uint32_t req = check_req(L, 3);
    struct fdn_buf *b = scratch(L);
    char err[128];
    if (!lua_isnoneornil(L, 4) && fdn_json_encode(L, 4, b, err, sizeof err) < 0)
        return not_json(L, err);
    return send_buf(L, id, (int)type, req, b);
}

/* publish(set, path, event, data, meta) -> sent | nil, err, detail: one EVT body,
 * [path, event, data, meta] (nil as null), encoded once and queued on every link whose id
 * is a key of set; the links that are gone (or were just dropped as slow) leave the set.
 * err "not JSON" (detail says why), or "too large" (detail: the body's size; no link
 * leaves the set). */
static int l_link_publish(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checkstring(L, 2);
    luaL_checkstring(L, 3);
    lua_settop(L, 5);
    struct fdn_buf *b = scratch(L);
    char err[128];
    if (open_list(L, 2, 5, b, err, sizeof err) < 0)
        return not_json(L, err);
    put(b, "]", 1);
    struct fdn_node *n = fdn_node_from_upvalue(L);
    lua_Integer sent = 0;
    int r = 0;
    lua_pushnil(L);
    while (lua_next(L, 1)) {
        lua_pop(L, 1);
        lua_Integer lid = lua_tointeger(L, -1);
        r = lid > 0 && n->links
                ? fdn_links_send(n->links, (uint64_t)lid, FDN_FRAME_EVT, 0, 0, b->data, b->len)
                : FDN_LINK_EGONE;
        if (r == 0) {
            sent++;
        } else if (r == FDN_LINK_ETOOLARGE) { /* too large for every link: they all stay */
            lua_pop(L, 1);
            break;
        } else { /* assigning nil to a present field during the traversal is allowed */
            lua_pushvalue(L, -1);
            lua_pushnil(L);
            lua_rawset(L, 1);
        }
    }
    size_t len = b->len;
    if (b->cap > SCRATCH_KEEP)
        fdn_buf_free(b);
    if (r == FDN_LINK_ETOOLARGE)
        return too_large(L, len);
    lua_pushinteger(L, sent);
    return 1;
}

/* ready(id) -> true | nil, "gone": the handshake is over, any frame type may come. */
static int l_link_ready(lua_State *L)
{
    uint64_t id = check_id(L, 1);
    struct fdn_node *n = fdn_node_from_upvalue(L);
    return ok_or(L, n->links ? fdn_links_ready(n->links, id) : FDN_LINK_EGONE);
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

/* The link named by argument 1 into *in: 1, or 0 after pushing nil when it is gone. */
static int link_info_arg(lua_State *L, struct fdn_link_info *in)
{
    uint64_t id = check_id(L, 1);
    struct fdn_node *n = fdn_node_from_upvalue(L);
    if (n->links && fdn_links_info(n->links, id, in) == 0)
        return 1;
    lua_pushnil(L);
    return 0;
}

/* info(id) -> {ip, port, inbound, connected, ready, secure, pending} | nil: secure once the
 * TLS handshake is over */
static int l_link_info(lua_State *L)
{
    struct fdn_link_info in;
    if (!link_info_arg(L, &in))
        return 1;
    lua_createtable(L, 0, 7);
    lua_pushstring(L, in.ip);
    lua_setfield(L, -2, "ip");
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

/* pending(id) -> bytes queued for output on the link (see info), or nil when it is gone */
static int l_link_pending(lua_State *L)
{
    struct fdn_link_info in;
    if (!link_info_arg(L, &in))
        return 1;
    lua_pushinteger(L, (lua_Integer)in.pending);
    return 1;
}

static const luaL_Reg link_funcs[] = {
    {"pending", l_link_pending},
    {"listen", l_link_listen},
    {"stop_listening", l_link_stop_listening},
    {"connect", l_link_connect},
    {"send", l_link_send},
    {"handle", l_link_handle},
    {"request", l_link_request},
    {"reply", l_link_reply},
    {"publish", l_link_publish},
    {"ready", l_link_ready},
    {"close", l_link_close},
    {"stats", l_link_stats},
    {"info", l_link_info},
    {NULL, NULL},
};

static int l_scratch_gc(lua_State *L)
{
    fdn_buf_free(lua_touserdata(L, 1));
    return 0;
}

int luaopen_fdn_core_link(lua_State *L)
{
    struct fdn_buf *b = lua_newuserdatauv(L, sizeof *b, 0);
    fdn_buf_init(b);
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, l_scratch_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    luaL_newlibtable(L, link_funcs);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushvalue(L, -3);
    luaL_setfuncs(L, link_funcs, 2);
    lua_remove(L, -2); /* the buffer: its upvalues keep it */
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
