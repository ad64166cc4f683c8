/* http_parser.c: incremental HTTP/1.1 request parser. The head is collected line by line in
 * the parser's own bounded buffer and parsed in place; body bytes pass through uncopied.
 * Strict on framing (CRLF only, no obs-fold, one Content-Length, chunked last). */
#include "http_parser.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

enum { S_START, S_HEAD, S_BODY, S_CHUNK_SIZE, S_CHUNK, S_CHUNK_END, S_TRAILER, S_ERROR };
enum { CL_DIGITS, CL_WS, CL_EXT, CL_LF };               /* within a chunk-size line */
enum { TR_START, TR_NAME, TR_VALUE, TR_LF, TR_END_LF }; /* within the trailer section */

static int fail(struct fdn_http_parser *p, int status, const char *msg)
{
    p->state = S_ERROR;
    p->status = status;
    p->error = msg;
    return FDN_HP_ERROR;
}

static int is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return 1;
    return c != 0 && c < 0x80 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* field-value octets: VCHAR, obs-text, SP, HTAB */
static int is_field_char(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (unsigned char)lower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* s[0..n) equals the lowercase literal lit, ignoring case */
static int eq_ci(const char *s, size_t n, const char *lit)
{
    if (n != strlen(lit))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)s[i]) != lit[i])
            return 0;
    return 1;
}

/* Next element of a comma-separated list, trimmed; 0 when the list is exhausted. */
static int next_token(const char **s, const char *end, const char **tok, size_t *n)
{
    if (*s > end)
        return 0;
    const char *b = *s, *e = memchr(b, ',', (size_t)(end - b));
    if (!e)
        e = end;
    *s = e + 1;
    while (b < e && (*b == ' ' || *b == '\t'))
        b++;
    while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    *tok = b;
    *n = (size_t)(e - b);
    return 1;
}

struct fdn_http_parser *fdn_http_parser_new(size_t max_head, size_t max_headers, uint64_t max_body)
{
    struct fdn_http_parser *p = xcalloc(1, sizeof *p);
    p->max_head = max_head ? max_head : FDN_HTTP_MAX_HEAD;
    p->max_headers = max_headers ? max_headers : FDN_HTTP_MAX_HEADERS;
    p->max_body = max_body;
    p->state = S_START;
    return p;
}

void fdn_http_parser_free(struct fdn_http_parser *p)
{
    if (!p)
        return;
    free(p->buf);
    free(p->offs);
    free(p->headers);
    free(p);
}

static void reset(struct fdn_http_parser *p)
{
    struct fdn_http_parser keep = *p;
    memset(p, 0, sizeof *p);
    p->max_head = keep.max_head;
    p->max_headers = keep.max_headers;
    p->max_body = keep.max_body;
    p->offs = keep.offs;
    p->offs_cap = keep.offs_cap;
    p->headers = keep.headers;
    if (keep.cap > 4096) { /* give back what one large head took */
        free(keep.buf);
    } else {
        p->buf = keep.buf;
        p->cap = keep.cap;
    }
    p->state = S_HEAD;
}

/* The methods Node knows (http.METHODS), most used first. Methods are case-sensitive: "get"
 * is not GET, and a method outside this list is refused, as Node refuses it. */
static const char *const methods[] = {
    "GET",      "POST",      "PUT",        "PATCH",      "DELETE", "HEAD",   "OPTIONS",
    "ACL",      "BIND",      "CHECKOUT",   "CONNECT",    "COPY",   "LINK",   "LOCK",
    "M-SEARCH", "MERGE",     "MKACTIVITY", "MKCALENDAR", "MKCOL",  "MOVE",   "NOTIFY",
    "PROPFIND", "PROPPATCH", "PURGE",      "QUERY",      "REBIND", "REPORT", "SEARCH",
    "SOURCE",   "SUBSCRIBE", "TRACE",      "UNBIND",     "UNLINK", "UNLOCK", "UNSUBSCRIBE"};

static int known_method(const char *m, size_t n)
{
    for (size_t i = 0; i < sizeof methods / sizeof *methods; i++)
        if (strlen(methods[i]) == n && memcmp(methods[i], m, n) == 0)
            return 1;
    return 0;
}

/* An absolute-form target (RFC 9112 3.2.2: "http://host:port/path?query") is served as its
 * origin form ("/path?query"), made in place: the authority's last byte becomes the '/'
 * when the URL has no path. Other targets are returned as they are. */
static char *origin_form(char *t, char *end)
{
    char *a = NULL;
    if (end - t >= 7 && eq_ci(t, 7, "http://"))
        a = t + 7;
    else if (end - t >= 8 && eq_ci(t, 8, "https://"))
        a = t + 8;
    if (!a)
        return t;
    while (a < end && *a != '/' && *a != '?')
        a++;
    if (a == end || *a == '?')
        *--a = '/'; /* a - 1 is at least the second '/' of "://" */
    return a;
}

static int request_line(struct fdn_http_parser *p, char *line, size_t n)
{
    char *end = line + n, *sp1 = memchr(line, ' ', n);
    if (!sp1 || sp1 == line)
        return fail(p, 400, "Invalid request line");
    for (char *c = line; c < sp1; c++)
        if (!is_tchar((unsigned char)*c))
            return fail(p, 400, "Invalid method");
    char *t = sp1 + 1, *sp2 = memchr(t, ' ', (size_t)(end - t));
    if (!sp2 || sp2 == t)
        return fail(p, 400, "Invalid request line");
    for (char *c = t; c < sp2; c++)
        if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f)
            return fail(p, 400, "Invalid request target");
    char *v = sp2 + 1;
    if (end - v != 8 || memcmp(v, "HTTP/", 5) != 0 || v[5] < '0' || v[5] > '9' || v[6] != '.' ||
        v[7] < '0' || v[7] > '9')
        return fail(p, 400, "Invalid HTTP version");
    if (v[5] != '1')
        return fail(p, 505, "HTTP version not supported");
    if (!known_method(line, (size_t)(sp1 - line)))
        return fail(p, 400, "Unknown method");
    p->version_minor = v[7] - '0';
    t = origin_form(t, sp2);
    *sp1 = *sp2 = v[8] = '\0'; /* v[8] is the CR */
    p->target_off = (size_t)(t - p->buf);
    return 0;
}

static int content_length(struct fdn_http_parser *p, const char *v, size_t n)
{
    uint64_t x = 0;
    if (n == 0)
        return fail(p, 400, "Invalid Content-Length");
    for (size_t i = 0; i < n; i++) {
        uint64_t d = (uint64_t)(v[i] - '0');
        if (v[i] < '0' || v[i] > '9' || x > (UINT64_MAX - d) / 10)
            return fail(p, 400, "Invalid Content-Length");
        x = x * 10 + d;
    }
    if (p->have_cl && x != p->content_length)
        return fail(p, 400, "Conflicting Content-Length");
    p->have_cl = 1;
    p->content_length = x;
    return 0;
}

/* Remembers what the framing and connection headers say; judged at the end of the head. */
static int known_header(struct fdn_http_parser *p, const char *name, size_t nl, const char *v,
                        size_t vl)
{
    const char *s = v, *end = v + vl, *tok;
    size_t tn;
    if (nl == 14 && memcmp(name, "content-length", 14) == 0)
        return content_length(p, v, vl);
    if (nl == 17 && memcmp(name, "transfer-encoding", 17) == 0) {
        p->have_te = 1;
        while (next_token(&s, end, &tok, &tn)) {
            if (tn == 0)
                continue;
            if (p->te_chunked)
                p->te_bad = 1; /* chunked must be the last coding, and appear once */
            if (eq_ci(tok, tn, "chunked"))
                p->te_chunked = 1;
            else
                p->te_other = 1;
        }
    } else if (nl == 10 && memcmp(name, "connection", 10) == 0) {
        while (next_token(&s, end, &tok, &tn)) {
            if (eq_ci(tok, tn, "close"))
                p->conn_close = 1;
            else if (eq_ci(tok, tn, "keep-alive"))
                p->conn_keep_alive = 1;
            else if (eq_ci(tok, tn, "upgrade"))
                p->conn_upgrade = 1;
        }
    } else if (nl == 6 && memcmp(name, "expect", 6) == 0) {
        if (eq_ci(v, vl, "100-continue"))
            p->expect = 1;
        else
            p->expect_other = 1; /* an expectation we cannot meet: 417 */
    } else if (nl == 7 && memcmp(name, "upgrade", 7) == 0) {
        p->have_upgrade = 1;
    }
    return 0;
}

static int header_line(struct fdn_http_parser *p, char *line, size_t n)
{
    if (line[0] == ' ' || line[0] == '\t')
        return fail(p, 400, "Obsolete line folding is not accepted");
    char *colon = memchr(line, ':', n);
    if (!colon || colon == line)
        return fail(p, 400, "Invalid header line");
    for (char *c = line; c < colon; c++) {
        if (!is_tchar((unsigned char)*c))
            return fail(p, 400, "Invalid header name");
        *c = (char)lower((unsigned char)*c);
    }
    char *v = colon + 1, *end = line + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    for (char *c = v; c < end; c++)
        if (!is_field_char((unsigned char)*c))
            return fail(p, 400, "Invalid header value");
    if (p->nheaders >= p->max_headers)
        return fail(p, 431, "Too many headers");
    if (p->nheaders == p->offs_cap) {
        p->offs_cap = p->offs_cap ? p->offs_cap * 2 : 16;
        p->offs = xrealloc(p->offs, p->offs_cap * 4 * sizeof *p->offs);
        p->headers = xrealloc(p->headers, p->offs_cap * sizeof *p->headers);
    }
    size_t *o = p->offs + 4 * p->nheaders++;
    o[0] = (size_t)(line - p->buf);
    o[1] = (size_t)(colon - line);
    o[2] = (size_t)(v - p->buf);
    o[3] = (size_t)(end - v);
    *colon = *end = '\0'; /* end is at most the CR */
    return known_header(p, line, o[1], v, o[3]);
}

static int finish_head(struct fdn_http_parser *p)
{
    if (p->have_te && p->have_cl)
        return fail(p, 400, "Both Content-Length and Transfer-Encoding");
    if (p->have_te) {
        if (!p->te_chunked || p->te_bad)
            return fail(p, 400, "Invalid Transfer-Encoding");
        if (p->te_other)
            return fail(p, 501, "Unsupported transfer coding");
        p->chunked = 1;
    }
    if (p->expect_other && p->version_minor >= 1) /* HTTP/1.0 has no Expect: ignored */
        return fail(p, 417, "Expectation not supported");
    if (p->have_cl && p->content_length > p->max_body)
        return fail(p, 413, "Request body too large");
    if (p->version_minor == 0)
        p->keep_alive = p->conn_keep_alive && !p->conn_close && !p->chunked;
    else
        p->keep_alive = !p->conn_close;
    p->expect_continue = p->expect && p->version_minor >= 1 && (p->chunked || p->content_length);
    p->upgrade = p->conn_upgrade && p->have_upgrade;
    p->method = p->buf;
    p->target = p->buf + p->target_off;
    for (size_t i = 0; i < p->nheaders; i++) {
        const size_t *o = p->offs + 4 * i;
        p->headers[i] = (struct fdn_hp_header){p->buf + o[0], p->buf + o[2], o[1], o[3]};
    }
    if (p->chunked) {
        p->state = S_CHUNK_SIZE;
        p->sub = CL_DIGITS;
    } else {
        p->remaining = p->content_length;
        p->state = S_BODY;
    }
    return FDN_HP_HEAD;
}

/* One complete line (ending in LF) is at buf[line_start..len). */
static int head_line(struct fdn_http_parser *p)
{
    char *line = p->buf + p->line_start;
    size_t n = p->len - p->line_start;
    if (n < 2 || line[n - 2] != '\r')
        return fail(p, 400, "Bare LF in request head");
    n -= 2;
    if (memchr(line, '\r', n))
        return fail(p, 400, "Bare CR in request head");
    int r;
    if (!p->have_request_line) {
        if (n == 0) { /* empty lines before the request line are ignored */
            p->len = p->line_start;
            return FDN_HP_NEED_MORE;
        }
        if ((r = request_line(p, line, n)) != 0)
            return r;
        p->have_request_line = 1;
    } else if (n == 0) {
        return finish_head(p);
    } else if ((r = header_line(p, line, n)) != 0) {
        return r;
    }
    p->line_start = p->len;
    return FDN_HP_NEED_MORE;
}

static int feed_head(struct fdn_http_parser *p, const char *data, size_t len, size_t *used)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c0 = (unsigned char)data[i];
        if (p->len == 0 && !is_tchar(c0) && c0 != '\r' && c0 != '\n')
            return fail(p, 400, "Invalid request line");
        const char *lf = memchr(data + i, '\n', len - i);
        size_t n = lf ? (size_t)(lf - (data + i)) + 1 : len - i;
        if (n > p->max_head - p->head_bytes)
            return fail(p, 431, "Request header fields too large");
        if (p->len + n > p->cap) {
            while (p->cap < p->len + n)
                p->cap = p->cap ? p->cap * 2 : 512;
            p->buf = xrealloc(p->buf, p->cap);
        }
        memcpy(p->buf + p->len, data + i, n);
        p->len += n;
        p->head_bytes += n;
        i += n;
        if (lf) {
            int r = head_line(p);
            if (r != FDN_HP_NEED_MORE) {
                *used = i;
                return r;
            }
        }
    }
    *used = i;
    return FDN_HP_NEED_MORE;
}

static int chunk_line_done(struct fdn_http_parser *p)
{
    uint64_t size = p->chunk_size;
    p->line_bytes = 0;
    p->chunk_digits = 0;
    p->chunk_size = 0;
    if (size == 0) {
        p->state = S_TRAILER;
        p->sub = TR_START;
        return FDN_HP_NEED_MORE;
    }
    if (size > p->max_body - p->body_total)
        return fail(p, 413, "Request body too large");
    p->body_total += size;
    p->remaining = size;
    p->state = S_CHUNK;
    return FDN_HP_NEED_MORE;
}

static int feed_chunk_line(struct fdn_http_parser *p, const char *data, size_t len, size_t *used)
{
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)data[i++];
        int d = hexval(c);
        if (++p->line_bytes > FDN_HTTP_MAX_CHUNK_LINE)
            return fail(p, 400, "Chunk line too long");
        if (p->sub == CL_DIGITS && d >= 0) {
            if (p->chunk_size > (UINT64_MAX >> 4))
                return fail(p, 400, "Invalid chunk size");
            p->chunk_size = p->chunk_size << 4 | (uint64_t)d;
            p->chunk_digits = 1;
        } else if (p->sub == CL_DIGITS || p->sub == CL_WS) {
            /* whitespace after the size is allowed only before an extension */
            if (!p->chunk_digits)
                return fail(p, 400, "Invalid chunk size");
            if (c == ' ' || c == '\t')
                p->sub = CL_WS;
            else if (c == ';')
                p->sub = CL_EXT;
            else if (c == '\r' && p->sub == CL_DIGITS)
                p->sub = CL_LF;
            else
                return fail(p, 400, "Invalid chunk size");
        } else if (p->sub == CL_EXT) {
            if (c == '\r')
                p->sub = CL_LF;
            else if (!is_field_char(c))
                return fail(p, 400, "Invalid chunk extension");
        } else {
            if (c != '\n')
                return fail(p, 400, "Bare CR in chunk line");
            *used = i;
            return chunk_line_done(p);
        }
    }
    *used = len;
    return FDN_HP_NEED_MORE;
}

/* Trailer fields are checked for syntax and dropped. */
static int feed_trailer(struct fdn_http_parser *p, const char *data, size_t len, size_t *used)
{
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)data[i++];
        if (++p->trailer_bytes > p->max_head)
            return fail(p, 431, "Trailer section too large");
        if (p->sub == TR_START && c == '\r') {
            p->sub = TR_END_LF;
        } else if (p->sub == TR_START || p->sub == TR_NAME) {
            if (c == ':' && p->sub == TR_NAME)
                p->sub = TR_VALUE;
            else if (is_tchar(c))
                p->sub = TR_NAME;
            else
                return fail(p, 400, "Invalid trailer line");
        } else if (p->sub == TR_VALUE) {
            if (c == '\r')
                p->sub = TR_LF;
            else if (!is_field_char(c))
                return fail(p, 400, "Invalid trailer line");
        } else if (c != '\n') {
            return fail(p, 400, "Bare CR in trailer");
        } else if (p->sub == TR_LF) {
            p->sub = TR_START;
        } else {
            *used = i;
            p->state = S_START;
            return FDN_HP_DONE;
        }
    }
    *used = len;
    return FDN_HP_NEED_MORE;
}

/* Passes up to p->remaining bytes of data through as body. */
static int body_bytes(struct fdn_http_parser *p, const char *data, size_t len, size_t *used,
                      const char **body, size_t *body_len)
{
    if (len == 0)
        return FDN_HP_NEED_MORE;
    size_t n = p->remaining < len ? (size_t)p->remaining : len;
    *body = data;
    *body_len = *used = n;
    p->remaining -= n;
    return FDN_HP_BODY;
}

int fdn_http_parser_feed(struct fdn_http_parser *p, const char *data, size_t len, size_t *used,
                         const char **body, size_t *body_len)
{
    size_t off = 0;
    *body = NULL;
    *body_len = 0;
    for (;;) {
        size_t u = 0;
        int r = FDN_HP_NEED_MORE;
        switch (p->state) {
        case S_START:
            reset(p);
            continue;
        case S_HEAD:
            r = feed_head(p, data + off, len - off, &u);
            break;
        case S_BODY:
            if (p->remaining == 0) {
                p->state = S_START;
                r = FDN_HP_DONE;
            } else {
                r = body_bytes(p, data + off, len - off, &u, body, body_len);
            }
            break;
        case S_CHUNK_SIZE:
            r = feed_chunk_line(p, data + off, len - off, &u);
            break;
        case S_CHUNK:
            r = body_bytes(p, data + off, len - off, &u, body, body_len);
            if (p->remaining == 0) {
                p->state = S_CHUNK_END;
                p->sub = 0;
            }
            break;
        case S_CHUNK_END: /* the CRLF after chunk data */
            if (off < len) {
                if (data[off] != (p->sub ? '\n' : '\r')) {
                    r = fail(p, 400, "Invalid chunk data end");
                    break;
                }
                u = 1;
                if (p->sub++) {
                    p->state = S_CHUNK_SIZE;
                    p->sub = CL_DIGITS;
                }
            }
            break;
        case S_TRAILER:
            r = feed_trailer(p, data + off, len - off, &u);
            break;
        default:
            r = FDN_HP_ERROR;
            break;
        }
        off += u;
        if (r != FDN_HP_NEED_MORE || off == len) {
            *used = off;
            return r;
        }
    }
}

const char *fdn_http_parser_header(const struct fdn_http_parser *p, const char *name)
{
    for (size_t i = 0; i < p->nheaders; i++)
        if (strcmp(p->headers[i].name, name) == 0)
            return p->headers[i].value;
    return NULL;
}
