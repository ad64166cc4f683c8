/* frame.c: the pure codec of RPC link frames: header encoding and incremental, bounds-checked
 * parsing of a byte stream (see frame.h for the wire format). */
#include "frame.h"

static const char *const type_names[FDN_FRAME_TYPE_MAX + 1] = {
    "?", "HELLO", "SERVICES", "REQ", "RES", "ERR", "SUB", "EVT", "PING", "PONG", "BYE", "PEERS",
};

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

void fdn_frame_header(uint8_t out[FDN_FRAME_HEADER], uint8_t type, uint8_t flags, uint32_t id,
                      size_t body_len)
{
    put32(out, (uint32_t)(body_len + FDN_FRAME_MIN_LEN));
    out[4] = type;
    out[5] = flags;
    put32(out + 6, id);
}

int fdn_frame_parse(const uint8_t *buf, size_t avail, size_t max_frame, struct fdn_frame *out)
{
    out->size = 0;
    if (avail < 4)
        return 0;
    uint32_t len = get32(buf);
    if (max_frame == 0 || max_frame > FDN_FRAME_CEILING)
        max_frame = FDN_FRAME_CEILING;
    if (len > max_frame)
        return FDN_FRAME_ETOOLARGE;
    if (len < FDN_FRAME_MIN_LEN)
        return FDN_FRAME_ETOOSHORT;
    if (avail < 5)
        return 0;
    if (buf[4] == 0 || buf[4] > FDN_FRAME_TYPE_MAX)
        return FDN_FRAME_ETYPE;
    if (avail < FDN_FRAME_HEADER)
        return 0;
    size_t size = (size_t)len + 4;
    out->size = size;
    if (avail < size)
        return 0;
    out->type = buf[4];
    out->flags = buf[5];
    out->id = get32(buf + 6);
    out->body = buf + FDN_FRAME_HEADER;
    out->body_len = size - FDN_FRAME_HEADER;
    return (int)size;
}

const char *fdn_frame_strerror(int err)
{
    switch (err) {
    case FDN_FRAME_ETOOLARGE:
        return "frame too large";
    case FDN_FRAME_ETOOSHORT:
        return "frame too short";
    case FDN_FRAME_ETYPE:
        return "unknown frame type";
    default:
        return "frame error";
    }
}

const char *fdn_frame_type_name(int type)
{
    return type > 0 && type <= FDN_FRAME_TYPE_MAX ? type_names[type] : type_names[0];
}
