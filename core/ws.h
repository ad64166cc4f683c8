/* ws.h: the pure codec of WebSocket (RFC 6455), server side, no I/O: the handshake's accept key,
 * an incremental reader of client frames (masking, fragmentation, control frames, UTF-8 of text,
 * a size limit) and the header of a server frame. */
#ifndef FDN_WS_H
#define FDN_WS_H

#include <stddef.h>
#include <stdint.h>

enum fdn_ws_opcode {
    FDN_WS_OP_CONT = 0x0,
    FDN_WS_OP_TEXT = 0x1,
    FDN_WS_OP_BINARY = 0x2,
    FDN_WS_OP_CLOSE = 0x8,
    FDN_WS_OP_PING = 0x9,
    FDN_WS_OP_PONG = 0xA,
};

/* Close codes the reader fails with (RFC 6455 §7.4.1). */
enum {
    FDN_WS_CLOSE_NORMAL = 1000,
    FDN_WS_CLOSE_PROTOCOL = 1002, /* unmasked frame, RSV bits, bad opcode, bad control frame */
    FDN_WS_CLOSE_BAD_DATA = 1007, /* text that is not UTF-8 */
    FDN_WS_CLOSE_TOO_BIG = 1009,  /* a message over the limit */
};

#define FDN_WS_KEY_LEN 24    /* base64 of the client's 16 random bytes */
#define FDN_WS_ACCEPT_LEN 28 /* base64 of a SHA-1 */
#define FDN_WS_HEADER_MAX 10 /* a server frame's header: 2 + 8 bytes of length at most */

/* Sec-WebSocket-Accept for the client's Sec-WebSocket-Key (key[0..len), surrounding spaces
 * already trimmed): base64(SHA-1(key + GUID)), NUL-terminated in out. 0; -1 when the key is
 * not the base64 of 16 bytes (the handshake is then refused with 400). */
int fdn_ws_accept(const char *key, size_t len, char out[FDN_WS_ACCEPT_LEN + 1]);

/* What fdn_ws_read found. */
enum fdn_ws_event {
    FDN_WS_NEED_MORE = 0, /* all input consumed; no message complete yet */
    FDN_WS_TEXT,          /* a whole text message (fragments joined, UTF-8 checked) */
    FDN_WS_BINARY,        /* a whole binary message */
    FDN_WS_PING,          /* a ping; answer with a pong carrying the same payload */
    FDN_WS_PONG,          /* a pong */
    FDN_WS_CLOSE,         /* the client's close: close_code (1005 when none), payload = reason */
    FDN_WS_ERROR,         /* a protocol violation: close with close_code; the stream is dead */
};

struct fdn_ws_reader {
    size_t max_message; /* a message (all its fragments) longer than this: 1009 */
    int close_code;     /* FDN_WS_CLOSE and FDN_WS_ERROR: the code */
    const char *error;  /* FDN_WS_ERROR: a short English reason, for the log */
    /* private */
    int state, opcode, msg_opcode, fin;
    uint8_t hdr[14], mask[4];
    size_t hdr_len, hdr_need;
    uint64_t frame_len, frame_got;
    uint8_t *buf; /* the message being assembled (data frames); control frames apart */
    size_t buf_len, buf_cap;
    uint8_t ctl[125];
    size_t ctl_len;
};

/* A reader of client frames whose messages may have up to max_message bytes. */
void fdn_ws_reader_init(struct fdn_ws_reader *r, size_t max_message);
/* Frees the reader's buffer; the reader may be initialised again. */
void fdn_ws_reader_free(struct fdn_ws_reader *r);

/* Consumes input data[0..len) up to the end of the next message or control frame; *used is
 * the bytes taken (the caller drains them and calls again with the rest). On FDN_WS_TEXT,
 * FDN_WS_BINARY, FDN_WS_PING, FDN_WS_PONG and FDN_WS_CLOSE, *payload and *payload_len are the
 * message, unmasked, valid until the next call (a control frame may come between the
 * fragments of a message: it is returned at once, and the message goes on afterwards). After
 * FDN_WS_ERROR or FDN_WS_CLOSE the reader takes nothing more. A call with no input (len 0)
 * after a message frees the message buffer: an idle connection holds none. Client frames
 * must be masked; no extension is negotiated, so RSV bits are errors. */
enum fdn_ws_event fdn_ws_read(struct fdn_ws_reader *r, const uint8_t *data, size_t len,
                              size_t *used, const uint8_t **payload, size_t *payload_len);

/* Writes the header of an unmasked server frame with FIN set; returns its length (2..10). */
size_t fdn_ws_header(uint8_t out[FDN_WS_HEADER_MAX], enum fdn_ws_opcode op, uint64_t len);

/* The payload of a close frame with code (and no reason) into out: 2 bytes. */
void fdn_ws_close_payload(uint8_t out[2], int code);

#endif
