/* frame.h: the pure codec of RPC link frames (no I/O): build a frame header, and find one
 * complete frame at the start of a byte stream, refusing malformed or oversized ones. */
#ifndef FDN_FRAME_H
#define FDN_FRAME_H

#include <stddef.h>
#include <stdint.h>

/* A frame on the wire, integers big-endian:
 *   u32 length | u8 type | u8 flags | u32 id | body
 * length counts the bytes after itself (1 + 1 + 4 + body), so it is at least 6. The body is
 * JSON, opaque here (REQ's and EVT's are lists whose fields core/lua_rpc.c names, its LAYOUTS;
 * RES's and ERR's one value). A frame's size is 4 + length. */
#define FDN_FRAME_HEADER 10          /* bytes before the body */
#define FDN_FRAME_MIN_LEN 6          /* smallest valid length field (empty body) */
#define FDN_FRAME_CEILING (1u << 30) /* max_frame is clamped to this */

enum fdn_frame_type {
    FDN_FRAME_HELLO = 1,
    FDN_FRAME_SERVICES = 2,
    FDN_FRAME_REQ = 3,
    FDN_FRAME_RES = 4,
    FDN_FRAME_ERR = 5,
    FDN_FRAME_SUB = 6,
    FDN_FRAME_EVT = 7,
    FDN_FRAME_PING = 8,
    FDN_FRAME_PONG = 9,
    FDN_FRAME_BYE = 10,
    FDN_FRAME_PEERS = 11,
    FDN_FRAME_TYPE_MAX = 11, /* valid types are 1..FDN_FRAME_TYPE_MAX */
};

/* Flags. On an ERR: the request was refused before it ran (its node is stopping), so the
 * caller may send it to another provider whatever its method. */
enum { FDN_FRAME_F_NOT_RUN = 1 };

/* fdn_frame_parse's errors: the stream cannot be resynchronised after any of them. */
enum {
    FDN_FRAME_ETOOLARGE = -1, /* length > max_frame */
    FDN_FRAME_ETOOSHORT = -2, /* length < FDN_FRAME_MIN_LEN */
    FDN_FRAME_ETYPE = -3,     /* type 0 or > FDN_FRAME_TYPE_MAX */
};

struct fdn_frame {
    uint8_t type, flags;
    uint32_t id;
    const uint8_t *body; /* points into the parsed buffer; never NULL on success */
    size_t body_len;
    size_t size; /* the whole frame's bytes: known once FDN_FRAME_HEADER bytes are there */
};

/* Writes the 10-byte header of a frame whose body has body_len bytes (the caller keeps
 * body_len <= FDN_FRAME_CEILING - FDN_FRAME_MIN_LEN). */
void fdn_frame_header(uint8_t out[FDN_FRAME_HEADER], uint8_t type, uint8_t flags, uint32_t id,
                      size_t body_len);

/* Looks at the first frame of buf[0..avail). Returns its size (> 0) when it is complete,
 * with out filled in; 0 when more bytes are needed (out->size is then the frame's size if
 * the header is complete, else 0); a negative FDN_FRAME_E* as soon as the bytes present
 * show the frame is invalid (the length is checked from 4 bytes on, the type from 5).
 * max_frame bounds the length field (0 or above FDN_FRAME_CEILING means the ceiling).
 * Reads nothing at or beyond buf + avail. */
int fdn_frame_parse(const uint8_t *buf, size_t avail, size_t max_frame, struct fdn_frame *out);

/* A short lowercase description of an FDN_FRAME_E* code ("frame too large", ...). */
const char *fdn_frame_strerror(int err);

/* The name of a frame type ("HELLO"), or "?" when unknown. */
const char *fdn_frame_type_name(int type);

#endif
