/* eio.h: the pure codecs of Engine.IO v4 and Socket.IO v5 packets (text only, no I/O): split a
 * polling payload into packets, read one Engine.IO packet, read a Socket.IO packet's header
 * (type, namespace, ack id) and find its JSON data; write their headers. */
#ifndef FDN_EIO_H
#define FDN_EIO_H

#include <stddef.h>
#include <stdint.h>

/* Engine.IO v4 packet types: the first character of a packet, '0' + type. */
enum fdn_eio_type {
    FDN_EIO_OPEN = 0,
    FDN_EIO_CLOSE = 1,
    FDN_EIO_PING = 2,
    FDN_EIO_PONG = 3,
    FDN_EIO_MESSAGE = 4,
    FDN_EIO_UPGRADE = 5,
    FDN_EIO_NOOP = 6,
};

#define FDN_EIO_SEPARATOR '\x1e' /* between the packets of a polling payload */

struct fdn_eio_packet {
    enum fdn_eio_type type;
    const char *data; /* the bytes after the type character; points into the input */
    size_t len;
};

/* The next packet of a polling payload (packets joined by FDN_EIO_SEPARATOR), from *pos;
 * advances *pos past it and its separator. 1 with *p filled; 0 at the end of the payload;
 * -1 when the packet is empty, has an unknown type, or is binary ('b' + base64: not
 * supported, the client only sends it for binary arguments). A websocket message holds one
 * packet: call with pos 0 and check that *pos is len afterwards. */
int fdn_eio_next(const char *payload, size_t len, size_t *pos, struct fdn_eio_packet *p);

/* Socket.IO v5 packet types: the first character of an Engine.IO message's data. */
enum fdn_sio_type {
    FDN_SIO_CONNECT = 0,
    FDN_SIO_DISCONNECT = 1,
    FDN_SIO_EVENT = 2,
    FDN_SIO_ACK = 3,
    FDN_SIO_CONNECT_ERROR = 4,
    FDN_SIO_BINARY_EVENT = 5,
    FDN_SIO_BINARY_ACK = 6,
};

#define FDN_SIO_NO_ID (-1)
#define FDN_SIO_MAX_ID 9007199254740991LL /* 2^53 - 1: what the client's counter can reach */
#define FDN_SIO_MAX_NSP 256

struct fdn_sio_packet {
    enum fdn_sio_type type;
    const char
        *nsp; /* the namespace, "/" when none is written; points into the input or a literal */
    size_t nsp_len;
    long long id;     /* the ack id, or FDN_SIO_NO_ID */
    const char *data; /* the JSON that follows (not checked here), or NULL when none */
    size_t data_len;
};

/* Reads a Socket.IO packet: <type>[<attachments>-][<nsp>,][<id>][<json>]. 0 with *p filled;
 * -1 on a malformed packet (unknown type, binary packets (attachments: not supported), a
 * namespace not starting with '/' or longer than FDN_SIO_MAX_NSP, an id over FDN_SIO_MAX_ID,
 * data that does not start with '[' or '{' where JSON must follow). EVENT and ACK must carry
 * an array, CONNECT an object or nothing, CONNECT_ERROR an object, DISCONNECT nothing. */
int fdn_sio_parse(const char *s, size_t len, struct fdn_sio_packet *p);

/* Writes the header of an Engine.IO message carrying a Socket.IO packet: '4', the type,
 * "<nsp>," unless nsp is "/" (or NULL), then the id unless FDN_SIO_NO_ID. The JSON data
 * follows. Returns the header's length; out needs FDN_SIO_HEADER_MAX bytes. */
#define FDN_SIO_HEADER_MAX (2 + FDN_SIO_MAX_NSP + 1 + 20)
size_t fdn_sio_header(char *out, enum fdn_sio_type type, const char *nsp, size_t nsp_len,
                      long long id);

#endif
