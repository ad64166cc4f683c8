/* ws.c: the pure WebSocket codec (RFC 6455) of ws.h: the handshake's accept key, the incremental
 * reader of client frames (byte by byte if need be, a size limit checked from the header, UTF-8
 * of whole text messages), and the header of a server frame. */
#include "ws.h"

#include <stdlib.h>
#include <string.h>

#include <mbedtls/base64.h>
#include <mbedtls/sha1.h>
#include <mbedtls/version.h>

#include "json_text.h"
#include "util.h"

#define GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define KEEP_MAX                                                                                   \
    1024            /* a message buffer larger than this is freed after its message; any is        \
                     * freed by a call without input (the connection idles) */
#define BUF_MIN 256 /* the first allocation of a message buffer */

enum {
    S_HDR,      /* the first two bytes of a frame */
    S_LEN,      /* its 16- or 64-bit length */
    S_MASK,     /* its masking key */
    S_PAYLOAD,  /* its payload */
    S_RETURNED, /* a message was returned: its buffer is released on the next call */
    S_CLOSED,   /* the client's close was returned */
    S_FAILED,   /* an error was returned */
};

int fdn_ws_accept(const char *key, size_t len, char out[FDN_WS_ACCEPT_LEN + 1])
{
    unsigned char raw[18], cat[FDN_WS_KEY_LEN + sizeof GUID - 1], sha[20];
    size_t n = 0;
    if (len != FDN_WS_KEY_LEN ||
        mbedtls_base64_decode(raw, sizeof raw, &n, (const unsigned char *)key, len) != 0 || n != 16)
        return -1;
    memcpy(cat, key, len);
    memcpy(cat + len, GUID, sizeof GUID - 1);
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
    if (mbedtls_sha1(cat, sizeof cat, sha) != 0)
        return -1;
#else
    if (mbedtls_sha1_ret(cat, sizeof cat, sha) != 0)
        return -1;
#endif
    if (mbedtls_base64_encode((unsigned char *)out, FDN_WS_ACCEPT_LEN + 1, &n, sha, sizeof sha) !=
            0 ||
        n != FDN_WS_ACCEPT_LEN)
        return -1;
    return 0;
}

void fdn_ws_reader_init(struct fdn_ws_reader *r, size_t max_message)
{
    memset(r, 0, sizeof *r);
    r->max_message = max_message;
    r->state = S_HDR;
    r->hdr_need = 2;
}

void fdn_ws_reader_free(struct fdn_ws_reader *r)
{
    free(r->buf);
    r->buf = NULL;
    r->buf_len = r->buf_cap = 0;
}

/* Whether p[0..len) is UTF-8 (RFC 3629): json_text.h's check of each multibyte sequence. */
static int utf8_valid(const uint8_t *p, size_t len)
{
    if (len == 0)
        return 1;
    const uint8_t *end = p + len;
    while (p < end) {
        while (end - p >= 8) { /* ASCII a word at a time */
            uint64_t v;
            memcpy(&v, p, 8);
            if (v & 0x8080808080808080u)
                break;
            p += 8;
        }
        while (p < end && *p < 0x80)
            p++;
        if (p == end)
            break;
        int n = fdn_json_utf8_seq(p, end);
        if (n <= 0)
            return 0;
        p += n;
    }
    return 1;
}

static enum fdn_ws_event fail(struct fdn_ws_reader *r, int code, const char *why)
{
    r->state = S_FAILED;
    r->close_code = code;
    r->error = why;
    return FDN_WS_ERROR;
}

static int is_control(int op)
{
    return op >= 0x8;
}

/* The frame's first two bytes: everything they can refuse. */
static enum fdn_ws_event check_start(struct fdn_ws_reader *r)
{
    uint8_t b0 = r->hdr[0], b1 = r->hdr[1];
    int op = b0 & 0x0f, len7 = b1 & 0x7f;
    r->fin = b0 >> 7;
    r->opcode = op;
    if (b0 & 0x70)
        return fail(r, FDN_WS_CLOSE_PROTOCOL, "reserved bits set");
    if (op != FDN_WS_OP_CONT && op != FDN_WS_OP_TEXT && op != FDN_WS_OP_BINARY &&
        op != FDN_WS_OP_CLOSE && op != FDN_WS_OP_PING && op != FDN_WS_OP_PONG)
        return fail(r, FDN_WS_CLOSE_PROTOCOL, "reserved opcode");
    if (!(b1 & 0x80))
        return fail(r, FDN_WS_CLOSE_PROTOCOL, "unmasked client frame");
    if (is_control(op)) {
        if (!r->fin)
            return fail(r, FDN_WS_CLOSE_PROTOCOL, "fragmented control frame");
        if (len7 > 125)
            return fail(r, FDN_WS_CLOSE_PROTOCOL, "control frame over 125 bytes");
    } else if (op == FDN_WS_OP_CONT && !r->msg_opcode) {
        return fail(r, FDN_WS_CLOSE_PROTOCOL, "continuation without a message");
    } else if (op != FDN_WS_OP_CONT && r->msg_opcode) {
        return fail(r, FDN_WS_CLOSE_PROTOCOL, "new message inside a fragmented one");
    }
    return FDN_WS_NEED_MORE;
}

/* The frame's length is known: refuse what would make the message too big. */
static enum fdn_ws_event check_len(struct fdn_ws_reader *r)
{
    if (r->frame_len >> 63)
        return fail(r, FDN_WS_CLOSE_PROTOCOL, "64-bit length with the top bit set");
    if (!is_control(r->opcode) && r->frame_len > r->max_message - r->buf_len)
        return fail(r, FDN_WS_CLOSE_TOO_BIG, "message over the size limit");
    return FDN_WS_NEED_MORE;
}

/* Room for n more bytes of message, grown as data arrives (never for a claimed length). */
static void reserve(struct fdn_ws_reader *r, size_t n)
{
    size_t need = r->buf_len + n, cap = r->buf_cap ? r->buf_cap : BUF_MIN;
    if (need <= r->buf_cap)
        return;
    while (cap < need)
        cap *= 2;
    if (cap > r->max_message)
        cap = need > r->max_message ? need : r->max_message;
    r->buf = xrealloc(r->buf, cap);
    r->buf_cap = cap;
}

/* A close frame's payload: none (1005), or a valid code and a UTF-8 reason. */
static enum fdn_ws_event end_close(struct fdn_ws_reader *r, const uint8_t **payload,
                                   size_t *payload_len)
{
    if (r->ctl_len == 0) {
        r->close_code = 1005;
        *payload = r->ctl;
        *payload_len = 0;
        r->state = S_CLOSED;
        return FDN_WS_CLOSE;
    }
    if (r->ctl_len == 1)
        return fail(r, FDN_WS_CLOSE_PROTOCOL, "close frame of 1 byte");
    int code = r->ctl[0] << 8 | r->ctl[1];
    /* RFC 6455 §7.4 and the IANA registry since (1012-1014); 1005, 1006, 1015 are never sent */
    if (!((code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
          (code >= 3000 && code <= 4999)))
        return fail(r, FDN_WS_CLOSE_PROTOCOL, "invalid close code");
    if (!utf8_valid(r->ctl + 2, r->ctl_len - 2))
        return fail(r, FDN_WS_CLOSE_BAD_DATA, "close reason is not UTF-8");
    r->close_code = code;
    *payload = r->ctl + 2;
    *payload_len = r->ctl_len - 2;
    r->state = S_CLOSED;
    return FDN_WS_CLOSE;
}

/* The frame's payload is all in: a control frame's event, a whole message, or on. */
static enum fdn_ws_event end_frame(struct fdn_ws_reader *r, const uint8_t **payload,
                                   size_t *payload_len)
{
    r->state = S_HDR;
    r->hdr_len = 0;
    r->hdr_need = 2;
    switch (r->opcode) {
    case FDN_WS_OP_CLOSE:
        return end_close(r, payload, payload_len);
    case FDN_WS_OP_PING:
    case FDN_WS_OP_PONG:
        *payload = r->ctl;
        *payload_len = r->ctl_len;
        return r->opcode == FDN_WS_OP_PING ? FDN_WS_PING : FDN_WS_PONG;
    default:
        break;
    }
    if (r->opcode != FDN_WS_OP_CONT)
        r->msg_opcode = r->opcode;
    if (!r->fin)
        return FDN_WS_NEED_MORE;
    int op = r->msg_opcode;
    r->msg_opcode = 0;
    if (op == FDN_WS_OP_TEXT && !utf8_valid(r->buf, r->buf_len))
        return fail(r, FDN_WS_CLOSE_BAD_DATA, "text message is not UTF-8");
    *payload = r->buf ? r->buf : (const uint8_t *)"";
    *payload_len = r->buf_len;
    r->state = S_RETURNED;
    return op == FDN_WS_OP_TEXT ? FDN_WS_TEXT : FDN_WS_BINARY;
}

/* The whole header is in: the payload follows (or the frame is already over). */
static void start_payload(struct fdn_ws_reader *r)
{
    memcpy(r->mask, r->hdr + r->hdr_len - 4, 4);
    r->frame_got = 0;
    r->ctl_len = 0;
    r->state = S_PAYLOAD;
}

enum fdn_ws_event fdn_ws_read(struct fdn_ws_reader *r, const uint8_t *data, size_t len,
                              size_t *used, const uint8_t **payload, size_t *payload_len)
{
    size_t off = 0;
    enum fdn_ws_event ev;
    *used = 0;
    *payload = r->ctl; /* never NULL, even when empty */
    *payload_len = 0;
    if (r->state == S_CLOSED || r->state == S_FAILED)
        return r->state == S_CLOSED ? FDN_WS_CLOSE : FDN_WS_ERROR;
    if (r->state == S_RETURNED) { /* the last message is no longer needed */
        r->buf_len = 0;
        if (r->buf_cap > KEEP_MAX || len == 0) /* no input: the connection idles */
            fdn_ws_reader_free(r);
        r->state = S_HDR;
    }
    for (;;) {
        if (r->state == S_PAYLOAD) {
            uint64_t left = r->frame_len - r->frame_got;
            size_t n = len - off < left ? len - off : (size_t)left;
            uint8_t *dst;
            if (is_control(r->opcode)) {
                dst = r->ctl + r->ctl_len;
                r->ctl_len += n;
            } else {
                reserve(r, n);
                dst = r->buf ? r->buf + r->buf_len : NULL;
                r->buf_len += n;
            }
            for (size_t i = 0; i < n; i++)
                dst[i] = data[off + i] ^ r->mask[(r->frame_got + i) & 3];
            off += n;
            r->frame_got += n;
            if (r->frame_got < r->frame_len)
                break; /* all input taken */
            ev = end_frame(r, payload, payload_len);
            if (ev != FDN_WS_NEED_MORE) {
                *used = off;
                return ev;
            }
            continue;
        }
        if (off == len)
            break;
        size_t n = r->hdr_need - r->hdr_len;
        if (n > len - off)
            n = len - off;
        memcpy(r->hdr + r->hdr_len, data + off, n);
        r->hdr_len += n;
        off += n;
        if (r->hdr_len < r->hdr_need)
            break;
        int len7 = r->hdr[1] & 0x7f;
        ev = FDN_WS_NEED_MORE;
        if (r->state == S_HDR) {
            ev = check_start(r);
            if (ev == FDN_WS_NEED_MORE && len7 < 126) {
                r->frame_len = (uint64_t)len7;
                r->state = S_MASK;
                r->hdr_need = 6;
                ev = check_len(r);
            } else if (ev == FDN_WS_NEED_MORE) {
                r->state = S_LEN;
                r->hdr_need = len7 == 126 ? 4 : 10;
            }
        } else if (r->state == S_LEN) {
            r->frame_len = 0;
            for (size_t i = 2; i < r->hdr_len; i++)
                r->frame_len = r->frame_len << 8 | r->hdr[i];
            r->state = S_MASK;
            r->hdr_need += 4;
            ev = check_len(r);
        } else { /* S_MASK */
            start_payload(r);
        }
        if (ev != FDN_WS_NEED_MORE) {
            *used = off;
            return ev;
        }
    }
    *used = off;
    return FDN_WS_NEED_MORE;
}

size_t fdn_ws_header(uint8_t out[FDN_WS_HEADER_MAX], enum fdn_ws_opcode op, uint64_t len)
{
    out[0] = (uint8_t)(0x80 | op);
    if (len < 126) {
        out[1] = (uint8_t)len;
        return 2;
    }
    if (len <= 0xffff) {
        out[1] = 126;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        return 4;
    }
    out[1] = 127;
    for (int i = 0; i < 8; i++)
        out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
    return 10;
}

void fdn_ws_close_payload(uint8_t out[2], int code)
{
    out[0] = (uint8_t)(code >> 8);
    out[1] = (uint8_t)code;
}
