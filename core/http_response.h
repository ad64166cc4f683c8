/* http_response.h: an incremental, strict HTTP/1.1 response parser for the outbound client:
 * status line, headers (bounded), a body framed by Content-Length, chunked coding or the close
 * of the connection. Pure: bytes in, fields out, no I/O. */
#ifndef FDN_HTTP_RESPONSE_H
#define FDN_HTTP_RESPONSE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define FDN_HRESP_MAX_HEAD 65536 /* status line + headers, and again the trailers */
#define FDN_HRESP_MAX_HEADERS 128
#define FDN_HRESP_MAX_LINE 8192 /* one header or chunk-size line */

enum {
    FDN_HRESP_MORE = 0,        /* give it more bytes */
    FDN_HRESP_DONE = 1,        /* one whole response: the bytes after it are not consumed */
    FDN_HRESP_EMALFORMED = -1, /* not a well-formed response (see err) */
    FDN_HRESP_ETOOBIG = -2,    /* the body is longer than max_body */
};

struct fdn_hresp {
    int state;
    int status, minor; /* HTTP/1.<minor> <status> */
    int head_request;  /* the request was HEAD: no body follows */
    int keep_alive;    /* the connection may carry another request after this one */
    int chunked, has_length;
    uint64_t length; /* Content-Length */
    uint64_t left;   /* of the body or of the current chunk */
    size_t max_body;
    size_t head_len; /* bytes of head (or trailers) so far */
    int nheaders;
    struct fdn_buf line;    /* the line being collected */
    struct fdn_buf headers; /* "name\0value\0" pairs, names in lower case */
    struct fdn_buf body;
    const char *err; /* why EMALFORMED or ETOOBIG, a constant string */
};

void fdn_hresp_init(struct fdn_hresp *p, size_t max_body, int head_request);
void fdn_hresp_free(struct fdn_hresp *p); /* frees the buffers; accepts NULL */

/* Parses data[0..len): *used is how many bytes it took. FDN_HRESP_MORE, FDN_HRESP_DONE, or an
 * error (after which nothing more is accepted). */
int fdn_hresp_feed(struct fdn_hresp *p, const char *data, size_t len, size_t *used);

/* The connection closed: FDN_HRESP_DONE when the body was framed by the close (it is whole),
 * FDN_HRESP_EMALFORMED when the response was cut short. */
int fdn_hresp_eof(struct fdn_hresp *p);

/* 1 once a byte of the response has been read. */
int fdn_hresp_started(const struct fdn_hresp *p);

#endif
