/* http_response.c: the outbound client's HTTP/1.1 response parser (RFC 9112), strict: CRLF line
 * ends, no obs-fold, one Content-Length value, chunked as the only transfer coding, never both
 * framings; interim 1xx responses are skipped. Pure: no I/O. */
#include "http_response.h"

#include <string.h>
#include <strings.h>

enum {
    S_START,
    S_STATUS,
    S_HEADER,
    S_LENGTH,
    S_CHUNK_SIZE,
    S_CHUNK_DATA,
    S_CHUNK_END,
    S_TRAILER,
    S_CLOSE,
    S_DONE,
    S_ERROR
};

#define MAX_LENGTH (UINT64_C(1) << 62)

void fdn_hresp_init(struct fdn_hresp *p, size_t max_body, int head_request)
{
    memset(p, 0, sizeof *p);
    fdn_buf_init(&p->line);
    fdn_buf_init(&p->headers);
    fdn_buf_init(&p->body);
    p->max_body = max_body;
    p->head_request = head_request;
    p->state = S_START;
}

void fdn_hresp_free(struct fdn_hresp *p)
{
    if (!p)
        return;
    fdn_buf_free(&p->line);
    fdn_buf_free(&p->headers);
    fdn_buf_free(&p->body);
}

int fdn_hresp_started(const struct fdn_hresp *p)
{
    return p->state != S_START;
}

static int fail(struct fdn_hresp *p, int code, const char *why)
{
    p->state = S_ERROR;
    p->err = why;
    return code;
}

static int is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* field-value characters: HTAB, SP, VCHAR, obs-text */
static int is_vchar(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static int parse_status(struct fdn_hresp *p, const char *s, size_t n)
{
    if (n < 12 || memcmp(s, "HTTP/1.", 7) != 0 || (s[7] != '0' && s[7] != '1') || s[8] != ' ')
        return fail(p, FDN_HRESP_EMALFORMED, "bad status line");
    for (int i = 9; i < 12; i++)
        if (s[i] < '0' || s[i] > '9')
            return fail(p, FDN_HRESP_EMALFORMED, "bad status code");
    if (n > 12 && s[12] != ' ')
        return fail(p, FDN_HRESP_EMALFORMED, "bad status line");
    for (size_t i = 13; i < n; i++)
        if (!is_vchar((unsigned char)s[i]))
            return fail(p, FDN_HRESP_EMALFORMED, "bad reason phrase");
    p->minor = s[7] - '0';
    p->status = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
    if (p->status < 100)
        return fail(p, FDN_HRESP_EMALFORMED, "bad status code");
    p->keep_alive = p->minor == 1;
    return 0;
}

/* 1*DIGIT, no sign, no list, below 2^62 */
static int parse_length(const char *v, size_t n, uint64_t *out)
{
    uint64_t x = 0;
    if (n == 0 || n > 18)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        x = x * 10 + (uint64_t)(v[i] - '0');
    }
    *out = x;
    return 0;
}

/* "close" among the comma-separated tokens of a Connection value */
static int has_close(const char *v, size_t n)
{
    size_t i = 0;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t b = i;
        while (i < n && v[i] != ',' && v[i] != ' ' && v[i] != '\t')
            i++;
        if (i - b == 5 && strncasecmp(v + b, "close", 5) == 0)
            return 1;
    }
    return 0;
}

/* One header line (not empty). Trailers (trailer = 1) are checked and dropped. */
static int parse_header(struct fdn_hresp *p, const char *s, size_t n, int trailer)
{
    if (s[0] == ' ' || s[0] == '\t')
        return fail(p, FDN_HRESP_EMALFORMED, "obsolete line folding");
    size_t c = 0;
    while (c < n && is_tchar((unsigned char)s[c]))
        c++;
    if (c == 0 || c == n || s[c] != ':')
        return fail(p, FDN_HRESP_EMALFORMED, "bad header name");
    size_t b = c + 1, e = n;
    while (b < e && (s[b] == ' ' || s[b] == '\t'))
        b++;
    while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t'))
        e--;
    for (size_t i = b; i < e; i++)
        if (!is_vchar((unsigned char)s[i]))
            return fail(p, FDN_HRESP_EMALFORMED, "bad header value");
    if (trailer)
        return 0;
    if (++p->nheaders > FDN_HRESP_MAX_HEADERS)
        return fail(p, FDN_HRESP_EMALFORMED, "too many headers");
    const char *v = s + b;
    size_t vn = e - b;
    if (c == 14 && strncasecmp(s, "content-length", c) == 0) {
        uint64_t len;
        if (parse_length(v, vn, &len) < 0 || len >= MAX_LENGTH)
            return fail(p, FDN_HRESP_EMALFORMED, "bad Content-Length");
        if (p->has_length && len != p->length)
            return fail(p, FDN_HRESP_EMALFORMED, "conflicting Content-Length");
        p->has_length = 1;
        p->length = len;
    } else if (c == 17 && strncasecmp(s, "transfer-encoding", c) == 0) {
        if (p->chunked || vn != 7 || strncasecmp(v, "chunked", 7) != 0 || p->minor == 0)
            return fail(p, FDN_HRESP_EMALFORMED, "unsupported Transfer-Encoding");
        p->chunked = 1;
    } else if (c == 10 && strncasecmp(s, "connection", c) == 0) {
        if (has_close(v, vn))
            p->keep_alive = 0;
    }
    char *d = fdn_buf_room(&p->headers, c + vn + 2);
    for (size_t i = 0; i < c; i++)
        d[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] + 32) : s[i];
    d[c] = 0;
    memcpy(d + c + 1, v, vn);
    d[c + 1 + vn] = 0;
    p->headers.len += c + vn + 2;
    return 0;
}

/* The head is over: decides how the body is framed. */
static int head_done(struct fdn_hresp *p)
{
    if (p->status < 200) { /* an interim response (101 was not asked for): the real one follows */
        if (p->status == 101)
            return fail(p, FDN_HRESP_EMALFORMED, "unexpected 101 Switching Protocols");
        p->headers.len = 0;
        p->nheaders = 0;
        p->head_len = 0;
        p->has_length = p->chunked = 0;
        p->state = S_STATUS;
        return 0;
    }
    if (p->chunked && p->has_length)
        return fail(p, FDN_HRESP_EMALFORMED, "both Content-Length and Transfer-Encoding");
    if (p->head_request || p->status == 204 || p->status == 304) {
        p->state = S_DONE;
        return FDN_HRESP_DONE;
    }
    if (p->chunked) {
        p->state = S_CHUNK_SIZE;
    } else if (p->has_length) {
        if (p->length > p->max_body)
            return fail(p, FDN_HRESP_ETOOBIG, "response too large");
        p->left = p->length;
        p->state = p->left ? S_LENGTH : S_DONE;
    } else {
        p->keep_alive = 0;
        p->state = S_CLOSE;
    }
    return p->state == S_DONE ? FDN_HRESP_DONE : 0;
}

static int chunk_size(struct fdn_hresp *p, const char *s, size_t n)
{
    uint64_t x = 0;
    size_t i = 0;
    for (; i < n; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            break;
        if (x >= MAX_LENGTH >> 4)
            return fail(p, FDN_HRESP_EMALFORMED, "bad chunk size");
        x = x * 16 + (uint64_t)d;
    }
    if (i == 0)
        return fail(p, FDN_HRESP_EMALFORMED, "bad chunk size");
    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    if (i < n && s[i] != ';')
        return fail(p, FDN_HRESP_EMALFORMED, "bad chunk size");
    for (; i < n; i++)
        if (!is_vchar((unsigned char)s[i]))
            return fail(p, FDN_HRESP_EMALFORMED, "bad chunk extension");
    if (x == 0) {
        p->head_len = 0;
        p->state = S_TRAILER;
    } else if (x > p->max_body - p->body.len) {
        return fail(p, FDN_HRESP_ETOOBIG, "response too large");
    } else {
        p->left = x;
        p->state = S_CHUNK_DATA;
    }
    return 0;
}

/* A whole line (without its CRLF) in the state that collected it. */
static int on_line(struct fdn_hresp *p, const char *s, size_t n)
{
    switch (p->state) {
    case S_STATUS:
        if (parse_status(p, s, n) < 0)
            return FDN_HRESP_EMALFORMED;
        p->state = S_HEADER;
        return 0;
    case S_HEADER:
        if (n == 0)
            return head_done(p);
        return parse_header(p, s, n, 0);
    case S_CHUNK_SIZE:
        return chunk_size(p, s, n);
    case S_CHUNK_END:
        if (n != 0)
            return fail(p, FDN_HRESP_EMALFORMED, "chunk longer than its size");
        p->state = S_CHUNK_SIZE;
        return 0;
    case S_TRAILER:
        if (n == 0) {
            p->state = S_DONE;
            return FDN_HRESP_DONE;
        }
        return parse_header(p, s, n, 1);
    }
    return fail(p, FDN_HRESP_EMALFORMED, "internal state");
}

static int body(struct fdn_hresp *p, const char *d, size_t n)
{
    if (n > p->max_body - p->body.len)
        return fail(p, FDN_HRESP_ETOOBIG, "response too large");
    fdn_buf_put(&p->body, d, n);
    return 0;
}

/* Collects a line; returns 1 with the line in p->line when its CRLF was read. */
static int take_line(struct fdn_hresp *p, const char *data, size_t len, size_t *i, int *r)
{
    int head = p->state == S_STATUS || p->state == S_HEADER || p->state == S_TRAILER;
    size_t max = head ? FDN_HRESP_MAX_HEAD : FDN_HRESP_MAX_LINE;
    while (*i < len) {
        char c = data[(*i)++];
        if (head && ++p->head_len > max) {
            *r = fail(p, FDN_HRESP_EMALFORMED, "response head too large");
            return 0;
        }
        if (c == '\n') {
            if (p->line.len == 0 || p->line.data[p->line.len - 1] != '\r') {
                *r = fail(p, FDN_HRESP_EMALFORMED, "bare LF");
                return 0;
            }
            p->line.len--;
            return 1;
        }
        if (p->line.len && p->line.data[p->line.len - 1] == '\r') {
            *r = fail(p, FDN_HRESP_EMALFORMED, "bare CR");
            return 0;
        }
        if (c == 0) {
            *r = fail(p, FDN_HRESP_EMALFORMED, "NUL in the head");
            return 0;
        }
        if (!head && p->line.len >= max) {
            *r = fail(p, FDN_HRESP_EMALFORMED, "line too long");
            return 0;
        }
        fdn_buf_putc(&p->line, c);
    }
    return 0;
}

int fdn_hresp_feed(struct fdn_hresp *p, const char *data, size_t len, size_t *used)
{
    size_t i = 0;
    int r = 0;
    if (p->state == S_START && len > 0)
        p->state = S_STATUS;
    while (i < len && r == 0) {
        switch (p->state) {
        case S_LENGTH:
        case S_CHUNK_DATA: {
            size_t n = len - i < p->left ? len - i : (size_t)p->left;
            if ((r = body(p, data + i, n)) < 0)
                break;
            i += n;
            p->left -= n;
            if (p->left == 0) {
                p->state = p->state == S_LENGTH ? S_DONE : S_CHUNK_END;
                r = p->state == S_DONE ? FDN_HRESP_DONE : 0;
            }
            break;
        }
        case S_CLOSE:
            r = body(p, data + i, len - i);
            if (r == 0)
                i = len;
            break;
        case S_DONE:
            r = FDN_HRESP_DONE;
            break;
        case S_ERROR:
            r = FDN_HRESP_EMALFORMED;
            break;
        default:
            if (take_line(p, data, len, &i, &r)) {
                r = on_line(p, p->line.data ? p->line.data : "", p->line.len);
                p->line.len = 0;
            }
        }
    }
    if (p->state == S_DONE)
        r = FDN_HRESP_DONE;
    if (p->state == S_ERROR && r >= 0)
        r = FDN_HRESP_EMALFORMED;
    *used = i;
    return r;
}

int fdn_hresp_eof(struct fdn_hresp *p)
{
    if (p->state == S_CLOSE || p->state == S_DONE) {
        p->state = S_DONE;
        return FDN_HRESP_DONE;
    }
    if (p->state != S_ERROR)
        fail(p, FDN_HRESP_EMALFORMED,
             p->state == S_START ? "connection closed before a response" : "response cut short");
    return FDN_HRESP_EMALFORMED;
}
