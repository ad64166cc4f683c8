/* lua_batch.c: fdn.core.batch (batch.h): new(head) -> batch; batch:frame(type, flags, id, body)
 * -> the bytes of frames queued; batch:take() -> head and frames as one string, the frames
 * dropped; batch:clear(). The NATS links' send queues: a frame is appended in C, in the TCP
 * links' encoding (frame.h), instead of packed into a string and concatenated at the turn's end. */
#include <lauxlib.h>

#include "batch.h"
#include "frame.h"

#define KEEP (16 * 1024) /* a buffer larger than this is released once its frames are gone */

struct fdn_batch *fdn_batch_test(lua_State *L, int idx)
{
    return luaL_testudata(L, idx, FDN_BATCH_MT);
}

void fdn_batch_clear(struct fdn_batch *q)
{
    if (q->b.cap > KEEP && q->head <= q->b.len) {
        struct fdn_buf fresh;
        fdn_buf_init(&fresh);
        fdn_buf_put(&fresh, q->b.data, q->head);
        fdn_buf_free(&q->b);
        q->b = fresh;
    }
    q->b.len = q->head;
}

static struct fdn_batch *check(lua_State *L)
{
    return luaL_checkudata(L, 1, FDN_BATCH_MT);
}

/* new(head) -> batch */
static int l_new(lua_State *L)
{
    size_t len;
    const char *head = luaL_checklstring(L, 1, &len);
    struct fdn_batch *q = lua_newuserdatauv(L, sizeof *q, 0);
    fdn_buf_init(&q->b);
    fdn_buf_put(&q->b, head, len);
    q->head = len;
    luaL_setmetatable(L, FDN_BATCH_MT);
    return 1;
}

/* batch:frame(type, flags, id, body) -> bytes of frames queued (the head not counted). The
 * caller bounds the body (--max-frame). */
static int l_frame(lua_State *L)
{
    struct fdn_batch *q = check(L);
    lua_Integer type = luaL_checkinteger(L, 2), flags = luaL_checkinteger(L, 3);
    lua_Integer id = luaL_checkinteger(L, 4);
    size_t len;
    const char *body = luaL_checklstring(L, 5, &len);
    luaL_argcheck(L, type >= 1 && type <= FDN_FRAME_TYPE_MAX, 2, "unknown frame type");
    luaL_argcheck(L, flags >= 0 && flags <= 255, 3, "flags must be in 0..255");
    luaL_argcheck(L, id >= 0 && id <= 0xffffffffLL, 4, "request id must be in 0..2^32-1");
    luaL_argcheck(L, len <= FDN_FRAME_CEILING - FDN_FRAME_MIN_LEN, 5, "body too large");
    uint8_t *at = (uint8_t *)fdn_buf_room(&q->b, FDN_FRAME_HEADER + len);
    fdn_frame_header(at, (uint8_t)type, (uint8_t)flags, (uint32_t)id, len);
    if (len)
        memcpy(at + FDN_FRAME_HEADER, body, len);
    q->b.len += FDN_FRAME_HEADER + len;
    lua_pushinteger(L, (lua_Integer)(q->b.len - q->head));
    return 1;
}

/* batch:take() -> the message (head and frames); the frames are dropped */
static int l_take(lua_State *L)
{
    struct fdn_batch *q = check(L);
    lua_pushlstring(L, q->b.data, q->b.len);
    fdn_batch_clear(q);
    return 1;
}

static int l_clear(lua_State *L)
{
    fdn_batch_clear(check(L));
    return 0;
}

static int l_gc(lua_State *L)
{
    fdn_buf_free(&check(L)->b);
    return 0;
}

int luaopen_fdn_core_batch(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"frame", l_frame}, {"take", l_take}, {"clear", l_clear}, {NULL, NULL}};
    if (luaL_newmetatable(L, FDN_BATCH_MT)) {
        luaL_newlib(L, methods);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, l_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, l_new);
    lua_setfield(L, -2, "new");
    return 1;
}
