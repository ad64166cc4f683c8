/* http_respond.c: the gateway's answers to requests in Lua: the head (status line, the caller's
 * fields checked, CORS, Content-Type, -Length, Connection) and the body, or a file's bytes. */
#include "http_int.h"

#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "cors.h"
#include "http_parser.h"
#include "metrics.h"
#include "node.h"
#include "status.h"
#include "traceparent.h"

static int field_ok(const struct fdn_http_field *f)
{
    if (!f->name || f->name_len == 0 || (!f->value && f->value_len))
        return 0;
    for (size_t i = 0; i < f->name_len; i++) {
        unsigned char c = (unsigned char)f->name[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c && strchr("!#$%&'*+-.^_`|~", c))))
            return 0;
    }
    for (size_t i = 0; i < f->value_len; i++) {
        unsigned char c = (unsigned char)f->value[i];
        if (c != '\t' && (c < 0x20 || c == 0x7f))
            return 0; /* no CR or LF: no response splitting */
    }
    return 1;
}

static int name_is(const char *s, size_t n, const char *lit)
{
    return n == strlen(lit) && strncasecmp(s, lit, n) == 0;
}

static void put_field(struct evbuffer *out, const struct fdn_http_field *f)
{
    evbuffer_add(out, f->name, f->name_len);
    evbuffer_add(out, ": ", 2);
    evbuffer_add(out, f->value, f->value_len);
    evbuffer_add(out, "\r\n", 2);
}

/* pre, the decimal digits of v, then post (no printf: this runs for every answer). */
static void put_num(struct evbuffer *out, const char *pre, size_t v, const char *post)
{
    char d[24];
    size_t i = sizeof d;
    do
        d[--i] = (char)('0' + v % 10);
    while ((v /= 10) && i);
    evbuffer_add(out, pre, strlen(pre));
    evbuffer_add(out, d + i, sizeof d - i);
    evbuffer_add(out, post, strlen(post));
}

/* The body: len bytes of the file fd from its start (consumed), or of body when fd is -1. */
static void put_body(struct evbuffer *out, const char *body, size_t len, int fd)
{
    if (fd < 0) {
        evbuffer_add(out, body, len);
        return;
    }
    struct evbuffer_file_segment *seg =
        evbuffer_file_segment_new(fd, 0, (ev_off_t)len, EVBUF_FS_CLOSE_ON_FREE);
    if (!seg) {
        close(fd);
        return; /* the client sees a short body: its Content-Length is not met */
    }
    evbuffer_add_file_segment(out, seg, 0, (ev_off_t)len);
    evbuffer_file_segment_free(seg); /* the buffer holds its own reference */
}

int fdn_http_send(struct fdn_http *h, uint64_t req_id, int status,
                  const struct fdn_http_field *fields, size_t nfields, const char *body, size_t len,
                  int fd)
{
    int r = status < 200 || status > 999 ? FDN_HTTP_EINVAL : 0;
    for (size_t i = 0; i < nfields && !r; i++)
        if (!field_ok(&fields[i]))
            r = FDN_HTTP_EINVAL;
    struct conn *c = h && req_id ? h->slots[req_id % (uint64_t)h->nslots] : NULL;
    if (!r && (!c || c->req_id != req_id || c->state != C_IN_LUA))
        r = FDN_HTTP_EGONE;
    if (r) {
        if (fd >= 0)
            close(fd);
        return r;
    }
    struct evbuffer *out = h->out;
    int bodyless = status == 204 || status == 304, has_type = 0;
    const char *trace = NULL; /* the trace id of a traceparent field (fdn.trace), for the log */
    struct fdn_http_field cors[FDN_CORS_MAX_FIELDS];
    size_t ncors = fdn_http_cors_fields(c, cors);
    put_num(out, "HTTP/1.1 ", (size_t)status, " ");
    const char *reason = fdn_status_find(status)->reason;
    evbuffer_add(out, reason, strlen(reason));
    evbuffer_add(out, "\r\n", 2);
    for (size_t i = 0; i < nfields; i++) {
        const struct fdn_http_field *f = &fields[i];
        if (name_is(f->name, f->name_len, "connection")) {
            if (name_is(f->value, f->value_len, "close"))
                c->keep_alive = 0;
            continue;
        }
        if (name_is(f->name, f->name_len, "content-length") ||
            name_is(f->name, f->name_len, "transfer-encoding") ||
            (ncors && (name_is(f->name, f->name_len, "access-control-allow-origin") ||
                       name_is(f->name, f->name_len, "access-control-allow-credentials"))))
            continue; /* (with CORS on, the gateway's policy answers for the origin) */
        has_type |= name_is(f->name, f->name_len, "content-type");
        if (name_is(f->name, f->name_len, "traceparent") &&
            fdn_traceparent_valid(f->value, f->value_len))
            trace = f->value + 3;
        put_field(out, f);
    }
    for (size_t i = 0; i < ncors; i++)
        put_field(out, &cors[i]);
    static const char JSON[] = "Content-Type: application/json; charset=utf-8\r\n";
    if (!bodyless && !has_type)
        evbuffer_add(out, JSON, sizeof JSON - 1);
    c->keep_alive = c->keep_alive && !h->stopping;
    const char *conn =
        c->keep_alive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n";
    if (!bodyless)
        put_num(out, "Content-Length: ", len, "\r\n");
    evbuffer_add(out, conn, strlen(conn));
    if (!bodyless && !c->head && len)
        put_body(out, body, len, fd);
    else if (fd >= 0)
        close(fd);
    if (!h->admin) {
        fdn_metrics_http(h->n->metrics, c->p->method, status);
        if (h->n->cfg.access_log)
            fdn_http_access(c, status, trace);
    }
    c->state = C_WRITING;
    evtimer_del(c->timer); /* the answer deadline is met */
    fdn_http_answer(c);
    return 0;
}

int fdn_http_respond(struct fdn_http *h, uint64_t req_id, int status,
                     const struct fdn_http_field *fields, size_t nfields, const char *body,
                     size_t len)
{
    return fdn_http_send(h, req_id, status, fields, nfields, body, len, -1);
}
