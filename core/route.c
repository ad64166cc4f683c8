/* route.c: the REST gateway's route mapper (pure): request path -> decoded segments and
 * lookup keys, HTTP method -> Feathers service method. */
#include "route.h"

#include <string.h>

#include "qs.h"

/* Appends one raw segment, decoded, to out; 0 or -1. */
static int add_segment(struct fdn_route_path *out, const char *s, size_t n)
{
    size_t len, off = out->len + (out->nseg > 0);
    if (out->nseg == FDN_ROUTE_MAX_SEGMENTS || off > FDN_ROUTE_MAX_LENGTH ||
        n > FDN_ROUTE_MAX_LENGTH - off)
        return -1; /* cannot happen: the joined decoded path is shorter than the raw one */
    char *dst = out->buf + off;
    if (fdn_qs_decode(s, n, dst, &len, 0) < 0 || memchr(dst, '\0', len))
        return -1;
    if ((len == 1 && dst[0] == '.') || (len == 2 && dst[0] == '.' && dst[1] == '.'))
        return -1;
    if (out->nseg > 0)
        out->buf[out->len] = '/';
    out->seg[out->nseg].off = off;
    out->seg[out->nseg].len = len;
    out->nseg++;
    out->len = off + len;
    out->buf[out->len] = '\0';
    return 0;
}

int fdn_route_split(const char *path, size_t n, struct fdn_route_path *out)
{
    size_t i = 1;
    out->nseg = 0;
    out->len = 0;
    out->buf[0] = '\0';
    if (n == 0 || n > FDN_ROUTE_MAX_LENGTH || path[0] != '/' || memchr(path, '\0', n))
        return -1;
    while (i < n) {
        const char *slash = memchr(path + i, '/', n - i);
        size_t end = slash ? (size_t)(slash - path) : n;
        if (end > i && add_segment(out, path + i, end - i) < 0) {
            out->nseg = 0;
            out->len = 0;
            out->buf[0] = '\0';
            return -1;
        }
        i = end + 1;
    }
    return 0;
}

const char *fdn_route_full(const struct fdn_route_path *p, size_t *len)
{
    *len = p->len;
    return p->buf;
}

const char *fdn_route_parent(const struct fdn_route_path *p, size_t *len)
{
    if (p->nseg < 2) {
        *len = 0;
        return NULL;
    }
    *len = p->seg[p->nseg - 1].off - 1;
    return p->buf;
}

const char *fdn_route_last(const struct fdn_route_path *p, size_t *len)
{
    if (p->nseg < 2) {
        *len = 0;
        return NULL;
    }
    *len = p->seg[p->nseg - 1].len;
    return p->buf + p->seg[p->nseg - 1].off;
}

/* ASCII case-insensitive equality (HTTP method names are ASCII). */
static int ieq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char x = *a >= 'a' && *a <= 'z' ? (char)(*a - 32) : *a;
        if (x != *b)
            return 0;
    }
    return *a == *b;
}

enum fdn_route_method fdn_route_map(const char *http_method, int has_id, int custom)
{
    if (!http_method)
        return FDN_ROUTE_NOT_ALLOWED;
    if (ieq(http_method, "GET") || ieq(http_method, "HEAD"))
        return has_id ? FDN_ROUTE_GET : FDN_ROUTE_FIND;
    if (ieq(http_method, "POST")) {
        if (custom)
            return has_id ? FDN_ROUTE_NOT_ALLOWED : FDN_ROUTE_CUSTOM;
        return FDN_ROUTE_CREATE;
    }
    if (ieq(http_method, "PUT"))
        return FDN_ROUTE_UPDATE;
    if (ieq(http_method, "PATCH"))
        return FDN_ROUTE_PATCH;
    if (ieq(http_method, "DELETE"))
        return FDN_ROUTE_REMOVE;
    return FDN_ROUTE_NOT_ALLOWED;
}

const char *fdn_route_method_name(enum fdn_route_method m)
{
    static const char *const names[] = {"find", "get", "create", "update", "patch", "remove"};
    if (m < FDN_ROUTE_FIND || m > FDN_ROUTE_REMOVE)
        return NULL;
    return names[m];
}
