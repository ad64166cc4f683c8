/* http_parser.h: incremental HTTP/1.1 request parser (RFC 9112), pure: no I/O, no callbacks.
 * Feed it bytes in any split; each call reports one event (head, body bytes, end, error). */
#ifndef FDN_HTTP_PARSER_H
#define FDN_HTTP_PARSER_H

#include <stddef.h>
#include <stdint.h>

#define FDN_HTTP_MAX_HEAD 16384 /* request line + headers, bytes */
#define FDN_HTTP_MAX_HEADERS 100
#define FDN_HTTP_MAX_CHUNK_LINE 4096 /* one chunk-size line with its extensions */

enum fdn_hp_event {
    FDN_HP_NEED_MORE, /* every byte given was consumed; nothing to report */
    FDN_HP_HEAD,      /* request line and headers complete: the request fields are valid */
    FDN_HP_BODY,      /* body bytes in *body / *body_len (they point into the input) */
    FDN_HP_DONE,      /* request complete; the next feed starts the next request */
    FDN_HP_ERROR,     /* p->status (400, 413, 417, 431, 501, 505) and p->error say why; sticky */
};

struct fdn_hp_header {
    const char *name;  /* lowercased, NUL-terminated */
    const char *value; /* trimmed of surrounding whitespace, NUL-terminated */
    size_t name_len, value_len;
};

struct fdn_http_parser {
    /* Limits, set by new; they may be changed before a request starts. */
    size_t max_head;
    size_t max_headers;
    uint64_t max_body;

    /* The request: valid from FDN_HP_HEAD until the feed after FDN_HP_DONE. */
    const char *method; /* NUL-terminated */
    const char *target; /* NUL-terminated, raw (still percent-encoded); an absolute-form
                         * target (http://host/p?q) is given in origin form (/p?q) */
    int version_minor;  /* HTTP/1.<minor> */
    struct fdn_hp_header *headers;
    size_t nheaders;
    uint64_t content_length; /* when not chunked */
    unsigned chunked : 1;
    unsigned keep_alive : 1;      /* the connection may carry another request after this one */
    unsigned expect_continue : 1; /* HTTP/1.1 "Expect: 100-continue" with a body to come */
    unsigned upgrade : 1;         /* "Connection: upgrade" and an Upgrade header */

    /* Set with FDN_HP_ERROR: an HTTP status and a short message (a static string). */
    int status;
    const char *error;

    /* Private. */
    int state, sub;
    char *buf; /* the head, collected line by line */
    size_t len, cap, line_start, head_bytes, target_off;
    size_t *offs; /* 4 offsets per header: name, name_len, value, value_len */
    size_t offs_cap;
    uint64_t remaining, body_total, chunk_size;
    size_t line_bytes, trailer_bytes;
    unsigned have_request_line : 1, have_cl : 1, have_te : 1, te_chunked : 1, te_other : 1,
        te_bad : 1, conn_close : 1, conn_keep_alive : 1, conn_upgrade : 1, have_upgrade : 1,
        expect : 1, expect_other : 1, chunk_digits : 1;
};

/* max_head 0 means FDN_HTTP_MAX_HEAD, max_headers 0 means FDN_HTTP_MAX_HEADERS; max_body is
 * the largest body accepted (Content-Length or the sum of the chunks). */
struct fdn_http_parser *fdn_http_parser_new(size_t max_head, size_t max_headers, uint64_t max_body);
void fdn_http_parser_free(struct fdn_http_parser *p);

/* Consumes a prefix of data[0..len) (*used bytes) and returns one event. Call it again with
 * the rest (even when nothing is left: after FDN_HP_HEAD, a request without a body reports
 * FDN_HP_DONE with no input). FDN_HP_NEED_MORE means all of data was used. A body limit is
 * checked before any body byte is consumed: a Content-Length over max_body is an error
 * (413) instead of FDN_HP_HEAD, and so is a chunk that would take the total over it. */
int fdn_http_parser_feed(struct fdn_http_parser *p, const char *data, size_t len, size_t *used,
                         const char **body, size_t *body_len);

/* The first value of a header (name lowercase), or NULL. */
const char *fdn_http_parser_header(const struct fdn_http_parser *p, const char *name);

#endif
