/* batch.h: a batch of frames (fdn.core.batch, lua_batch.c): the frames one NATS link queues in
 * a loop turn, after the link's message head, as one message; published straight from its
 * buffer (lua_nats.c), with no Lua string between. */
#ifndef FDN_BATCH_H
#define FDN_BATCH_H

#include <stddef.h>

#include <lua.h>

#include "buf.h"

#define FDN_BATCH_MT "fdn.batch"

struct fdn_batch {
    struct fdn_buf b; /* the head, then the frames (frame.h's encoding, as on a TCP link) */
    size_t head;      /* the head's bytes */
};

/* The batch at idx, or NULL when that is not one. */
struct fdn_batch *fdn_batch_test(lua_State *L, int idx);
/* Drops the frames (the head stays); a buffer that grew large is given back. */
void fdn_batch_clear(struct fdn_batch *q);

#endif
