/* lua_rpc.c: the RPC codec for Lua (fdn.core.rpc): frames decoded straight onto the Lua stack
 * for their handler (the fast door, rpc.handle), and REQ, RES/ERR and EVT bodies encoded from
 * Lua values straight into a frame (request, reply, publish). The links are in lua_link.c. */
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "frame.h"
#include "json.h"
#include "link.h"
#include "node.h"

/* The RPC bodies that are JSON lists, by frame type: their fields, in order. request and
 * publish take their arguments in this order, a handler set with "fields" gets them in this
 * order, and rpc.LAYOUTS names them for Lua. */
static const char *const req_fields[] = {"path", "method", "id", "data", "params"};
static const char *const evt_fields[] = {"path", "event", "data", "meta"};
#define COUNT(a) ((int)(sizeof(a) / sizeof *(a)))
enum { REQ_N = COUNT(req_fields), EVT_N = COUNT(evt_fields) };

static const struct layout {
    int type;
    const char *const *fields;
    int n;
} layouts[] = {
    {FDN_FRAME_REQ, req_fields, REQ_N},
    {FDN_FRAME_EVT, evt_fields, EVT_N},
};

static const struct layout *layout_of(lua_Integer type)
{
    for (int i = 0; i < COUNT(layouts); i++)
        if (layouts[i].type == type)
            return &layouts[i];
    return NULL;
}

/* Registry key of the frame handlers (type -> function, -type -> body mode). */
static const char handlers_key;
#define SCRATCH_KEEP (64 * 1024) /* a larger scratch buffer is released after use */

enum { BODY_RAW = 0, BODY_VALUE = -1 }; /* or n > 0: a JSON list, unpacked into n values */

static uint64_t check_id(lua_State *L, int arg)
{
    lua_Integer id = luaL_checkinteger(L, arg);
    luaL_argcheck(L, id > 0, arg, "link id must be positive");
    return (uint64_t)id;
}

static uint32_t check_req(lua_State *L, int arg)
{
    lua_Integer req = luaL_checkinteger(L, arg);
    luaL_argcheck(L, req >= 0 && req <= 0xffffffffLL, arg, "request id must be in 0..2^32-1");
    return (uint32_t)req;
}

/* How the encoders report a frame that could not go: nil, err [, detail]. */
static int fail(lua_State *L, const char *err)
{
    luaL_pushfail(L);
    lua_pushstring(L, err);
    return 2;
}

/* nil, "not json", why */
static int not_json(lua_State *L, const char *why)
{
    fail(L, "not json");
    lua_pushstring(L, why);
    return 3;
}

/* nil, "too large", the body's size in bytes */
static int too_large(lua_State *L, size_t len)
{
    fail(L, fdn_link_strerror(FDN_LINK_ETOOLARGE));
    lua_pushinteger(L, (lua_Integer)len);
    return 3;
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

/* The fast door (link.h): pushes the handler Lua set for the frame's type (rpc.handle) and
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
    /* fn(link_id, id, value, err [, flags]) or fn(link_id, id, field1, ..., fieldn) */
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
 * malformed; flags only when the frame has any); "fields" (REQ and EVT, see LAYOUTS)
 * fn(link_id, id, field1, ..., fieldn), the items of the body's JSON list (nil where
 * missing or null; all nil when the body is not a list). */
static int l_rpc_handle(lua_State *L)
{
    lua_Integer type = luaL_checkinteger(L, 1);
    luaL_argcheck(L, type >= 1 && type <= FDN_FRAME_TYPE_MAX, 1, "unknown frame type");
    luaL_checktype(L, 2, LUA_TFUNCTION);
    static const char *const modes[] = {"raw", "value", "fields", NULL};
    int option = luaL_checkoption(L, 3, "raw", modes);
    const struct layout *lay = layout_of(type);
    luaL_argcheck(L, option != 2 || lay, 3, "this frame type's body has no fields");
    int mode = option == 2 ? lay->n : option == 1 ? BODY_VALUE : BODY_RAW;
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
    struct fdn_node *n = fdn_node_from_upvalue(L);
    if (!n->links)
        n->links = fdn_links_new(n);
    fdn_links_set_door(n->links, door);
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

/* Appends '[' and the values from..to (nil as null), comma-separated: a JSON list still
 * open; 0 or -1. */
static int open_list(lua_State *L, int from, int to, struct fdn_buf *b, char *err, size_t errlen)
{
    fdn_buf_put(b, "[", 1);
    return fdn_json_encode_items(L, from, to, b, err, errlen);
}

/* Whether the table at idx has a "connection" field (raw: no metamethod runs). */
static int has_connection(lua_State *L, int idx)
{
    lua_pushliteral(L, "connection");
    int found = lua_rawget(L, idx) != LUA_TNIL;
    lua_pop(L, 1);
    return found;
}

/* Appends the table at idx, leaving out the fields that are not JSON (functions, userdata)
 * and "connection" (a socket's connection is its gateway's: it never crosses nodes, though its
 * fields do as params of their own); other values as fdn_json_encode (nil as null). */
static void put_portable(lua_State *L, int idx, struct fdn_buf *b)
{
    int is_table = lua_type(L, idx) == LUA_TTABLE;
    if (!(is_table && has_connection(L, idx)) && fdn_json_encode(L, idx, b, NULL, 0) == 0)
        return;
    if (!is_table) {
        fdn_buf_put(b, "null", 4);
        return;
    }
    fdn_buf_put(b, "{", 1);
    size_t open = b->len;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        int value = lua_gettop(L);
        size_t klen = 0;
        const char *key =
            lua_type(L, value - 1) == LUA_TSTRING ? lua_tolstring(L, value - 1, &klen) : NULL;
        if (key && !(klen == 10 && memcmp(key, "connection", 10) == 0)) {
            size_t mark = b->len;
            if (b->len > open)
                fdn_buf_put(b, ",", 1);
            if (fdn_json_encode(L, value - 1, b, NULL, 0) < 0)
                b->len = mark;
            else {
                fdn_buf_put(b, ":", 1);
                if (fdn_json_encode(L, value, b, NULL, 0) < 0)
                    b->len = mark;
            }
        }
        lua_pop(L, 1);
    }
    fdn_buf_put(b, "}", 1);
}

/* The scratch buffer after use: released when it grew large. */
static void done_with(struct fdn_buf *b)
{
    if (b->cap > SCRATCH_KEEP)
        fdn_buf_free(b);
}

/* Sends b as one frame: true | nil, err (link.send's words), with the body's size after
 * "too large". */
static int send_buf(lua_State *L, uint64_t id, int type, uint32_t req, struct fdn_buf *b)
{
    struct fdn_node *n = fdn_node_from_upvalue(L);
    int r = n->links ? fdn_links_send(n->links, id, type, 0, req, b->data, b->len) : FDN_LINK_EGONE;
    size_t len = b->len;
    done_with(b);
    if (r == 0) {
        lua_pushboolean(L, 1);
        return 1;
    }
    if (r == FDN_LINK_ETOOLARGE)
        return too_large(L, len);
    return fail(L, fdn_link_strerror(r));
}

/* Encodes a REQ body from the fields at first..first+REQ_N-1 into b: 0, or the count of
 * results pushed (nil, "not json", why). */
static int put_request(lua_State *L, int first, struct fdn_buf *b)
{
    int last = first + REQ_N - 1;   /* the fields: path first, params last */
    luaL_checkstring(L, first);     /* path */
    luaL_checkstring(L, first + 1); /* method */
    lua_settop(L, last);
    char err[128];
    if (open_list(L, first, last - 1, b, err, sizeof err) < 0)
        return not_json(L, err);
    fdn_buf_put(b, ",", 1);
    put_portable(L, last, b);
    fdn_buf_put(b, "]", 1);
    return 0;
}

/* request(id, req_id, path, method, id, data, params) -> true | nil, err [, detail]: a REQ
 * whose body is its fields (LAYOUTS.REQ; nil as null; params.connection and the fields of
 * params that are not JSON are left out). err: "not json" when id or data is not (detail says why);
 * "too large" over
 * --max-frame (detail: the body's size in bytes); link.send's other words. */
static int l_rpc_request(lua_State *L)
{
    uint64_t id = check_id(L, 1);
    uint32_t req = check_req(L, 2);
    struct fdn_buf *b = scratch(L);
    int r = put_request(L, 3, b);
    return r ? r : send_buf(L, id, FDN_FRAME_REQ, req, b);
}

/* reply(id, type, req_id [, value]) -> true | nil, err [, detail]: a frame (RES, ERR, SUB...)
 * whose body is value as JSON (empty when nil); err as request's. */
static int l_rpc_reply(lua_State *L)
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

/* publish(set, path, event, data, meta) -> sent | nil, err, detail: one EVT body, its fields
 * (LAYOUTS.EVT; nil as null), encoded once and queued on every link whose id is a key of set;
 * the links that are gone (or were just dropped as slow) leave the set. err "not json"
 * (detail says why), or "too large" (detail: the body's size; no link leaves the set). */
static int l_rpc_publish(lua_State *L)
{
    enum { FIRST = 2, LAST = FIRST + EVT_N - 1 }; /* the fields: path, event first */
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checkstring(L, FIRST);     /* path */
    luaL_checkstring(L, FIRST + 1); /* event */
    lua_settop(L, LAST);
    struct fdn_buf *b = scratch(L);
    char err[128];
    if (open_list(L, FIRST, LAST, b, err, sizeof err) < 0)
        return not_json(L, err);
    fdn_buf_put(b, "]", 1);
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
    done_with(b);
    if (r == FDN_LINK_ETOOLARGE)
        return too_large(L, len);
    lua_pushinteger(L, sent);
    return 1;
}

/* --- bodies for another transport (the NATS one) ---------------------------------------- */

/* b as a string: body | nil, "too large", size when over --max-frame, as a link says it. */
static int push_body(lua_State *L, struct fdn_buf *b)
{
    struct fdn_node *n = fdn_node_from_upvalue(L);
    size_t max = n->cfg.max_frame;
    if (max == 0 || max > FDN_FRAME_CEILING)
        max = FDN_FRAME_CEILING;
    size_t len = b->len;
    if (len + FDN_FRAME_MIN_LEN > max) {
        done_with(b);
        return too_large(L, len);
    }
    lua_pushlstring(L, b->data ? b->data : "", len);
    done_with(b);
    return 1;
}

/* encode_request(path, method, id, data, params) -> body | nil, err [, detail] (as request) */
static int l_rpc_encode_request(lua_State *L)
{
    struct fdn_buf *b = scratch(L);
    int r = put_request(L, 1, b);
    return r ? r : push_body(L, b);
}

/* encode_value([value]) -> body | nil, err [, detail] (as reply: empty for nil) */
static int l_rpc_encode_value(lua_State *L)
{
    struct fdn_buf *b = scratch(L);
    char err[128];
    if (!lua_isnoneornil(L, 1) && fdn_json_encode(L, 1, b, err, sizeof err) < 0)
        return not_json(L, err);
    return push_body(L, b);
}

/* encode_event(path, event, data, meta) -> body | nil, err [, detail] (as publish's) */
static int l_rpc_encode_event(lua_State *L)
{
    luaL_checkstring(L, 1);
    luaL_checkstring(L, 2);
    lua_settop(L, EVT_N);
    struct fdn_buf *b = scratch(L);
    char err[128];
    if (open_list(L, 1, EVT_N, b, err, sizeof err) < 0)
        return not_json(L, err);
    fdn_buf_put(b, "]", 1);
    return push_body(L, b);
}

/* Hands one frame to its handler (rpc.handle) as a link's would go: 1, or 0 when nobody
 * handles its type. The stack is as it was after. */
static int hand(lua_State *L, uint64_t link, const struct fdn_frame *f)
{
    int top = lua_gettop(L);
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &handlers_key) != LUA_TTABLE) {
        lua_settop(L, top);
        return 0;
    }
    lua_pop(L, 1);
    int nargs = door(L, link, f);
    if (nargs >= 0) /* door left the handlers table below the function: call, then drop it */
        lua_call(L, nargs, 0);
    lua_settop(L, top);
    return nargs >= 0;
}

/* deliver(link_id, type, flags, req_id, body) -> true | false: a frame that came by another
 * transport, to its handler (rpc.handle) exactly as a link's would go; false when none. */
static int l_rpc_deliver(lua_State *L)
{
    uint64_t link = check_id(L, 1);
    lua_Integer type = luaL_checkinteger(L, 2);
    lua_Integer flags = luaL_checkinteger(L, 3);
    uint32_t req = check_req(L, 4);
    size_t len;
    const char *body = luaL_checklstring(L, 5, &len);
    luaL_argcheck(L, type >= 1 && type <= FDN_FRAME_TYPE_MAX, 2, "unknown frame type");
    luaL_argcheck(L, flags >= 0 && flags <= 255, 3, "flags must be in 0..255");
    struct fdn_frame f = {.type = (uint8_t)type,
                          .flags = (uint8_t)flags,
                          .id = req,
                          .body = (const uint8_t *)body,
                          .body_len = len};
    lua_pushboolean(L, hand(L, link, &f));
    return 1;
}

/* The frame of data at 1-based pos (frame.h's encoding): its size, or 0 with *why when the rest
 * of data is not a whole frame. */
static size_t frame_at(lua_State *L, int data_arg, lua_Integer pos, lua_Integer max_frame,
                       struct fdn_frame *f, const char **why)
{
    size_t len;
    const uint8_t *data = (const uint8_t *)luaL_checklstring(L, data_arg, &len);
    luaL_argcheck(L, pos >= 1 && (size_t)pos <= len + 1, data_arg + 1, "out of range");
    size_t avail = len - (size_t)(pos - 1);
    int r = fdn_frame_parse(data + pos - 1, avail, max_frame > 0 ? (size_t)max_frame : 0, f);
    if (r > 0)
        return (size_t)r;
    *why = r < 0 ? fdn_frame_strerror(r) : "frame cut short";
    return 0;
}

/* frame_at(data, pos, max_frame) -> type, flags, req_id, body, next_pos | nil, why: the frame
 * at pos of a message of frames (a NATS link's). */
static int l_rpc_frame_at(lua_State *L)
{
    lua_Integer pos = luaL_checkinteger(L, 2), max_frame = luaL_checkinteger(L, 3);
    struct fdn_frame f;
    const char *why;
    size_t size = frame_at(L, 1, pos, max_frame, &f, &why);
    if (!size)
        return fail(L, why);
    lua_pushinteger(L, f.type);
    lua_pushinteger(L, f.flags);
    lua_pushinteger(L, (lua_Integer)f.id);
    lua_pushlstring(L, (const char *)f.body, f.body_len);
    lua_pushinteger(L, pos + (lua_Integer)size);
    return 5;
}

/* deliver_frames(link_id, data, pos, max_frame, links, link [, awaited]) -> frames,
 * event_bytes [, why]: the frames of data from pos on, each to its handler as deliver's; it
 * stops when links[link_id] is no longer link (a handler closed it), and at a malformed frame
 * (why). awaited: the requests link awaits answers to (slot = the id's 16 low bits -> id): an
 * answer (RES, ERR) to one takes it out. event_bytes: the EVT bodies' bytes. */
static int l_rpc_deliver_frames(lua_State *L)
{
    uint64_t link = check_id(L, 1);
    lua_Integer pos = luaL_checkinteger(L, 3), max_frame = luaL_checkinteger(L, 4);
    luaL_checktype(L, 5, LUA_TTABLE);
    int awaited = lua_istable(L, 7) ? 7 : 0;
    size_t len;
    luaL_checklstring(L, 2, &len);
    lua_Integer frames = 0, event_bytes = 0;
    const char *why = NULL;
    while ((size_t)pos <= len) {
        struct fdn_frame f;
        size_t size = frame_at(L, 2, pos, max_frame, &f, &why);
        if (!size)
            break;
        pos += (lua_Integer)size;
        frames++;
        if (f.type == FDN_FRAME_EVT)
            event_bytes += (lua_Integer)f.body_len;
        else if (awaited && (f.type == FDN_FRAME_RES || f.type == FDN_FRAME_ERR)) {
            lua_Integer slot = f.id & 0xffff;
            if (lua_rawgeti(L, awaited, slot) == LUA_TNUMBER && lua_tointeger(L, -1) == f.id) {
                lua_pushnil(L);
                lua_rawseti(L, awaited, slot);
            }
            lua_pop(L, 1);
        }
        hand(L, link, &f);
        lua_rawgeti(L, 5, (lua_Integer)link);
        int same = lua_rawequal(L, -1, 6);
        lua_pop(L, 1);
        if (!same)
            break;
    }
    lua_pushinteger(L, frames);
    lua_pushinteger(L, event_bytes);
    if (!why)
        return 2;
    lua_pushstring(L, why);
    return 3;
}

static const luaL_Reg rpc_funcs[] = {
    {"encode_request", l_rpc_encode_request},
    {"encode_value", l_rpc_encode_value},
    {"encode_event", l_rpc_encode_event},
    {"deliver", l_rpc_deliver},
    {"deliver_frames", l_rpc_deliver_frames},
    {"frame_at", l_rpc_frame_at},
    {"handle", l_rpc_handle},
    {"request", l_rpc_request},
    {"reply", l_rpc_reply},
    {"publish", l_rpc_publish},
    {NULL, NULL},
};

static int l_scratch_gc(lua_State *L)
{
    fdn_buf_free(lua_touserdata(L, 1));
    return 0;
}

int luaopen_fdn_core_rpc(lua_State *L)
{
    struct fdn_buf *b = lua_newuserdatauv(L, sizeof *b, 0);
    fdn_buf_init(b);
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, l_scratch_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    luaL_newlibtable(L, rpc_funcs);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushvalue(L, -3);
    luaL_setfuncs(L, rpc_funcs, 2);
    lua_remove(L, -2);                     /* the buffer: its upvalues keep it */
    lua_createtable(L, 0, COUNT(layouts)); /* LAYOUTS.REQ = {"path", "method", ...} */
    for (int i = 0; i < COUNT(layouts); i++) {
        lua_createtable(L, layouts[i].n, 0);
        for (int j = 0; j < layouts[i].n; j++) {
            lua_pushstring(L, layouts[i].fields[j]);
            lua_rawseti(L, -2, j + 1);
        }
        lua_setfield(L, -2, fdn_frame_type_name(layouts[i].type));
    }
    lua_setfield(L, -2, "LAYOUTS");
    return 1;
}
