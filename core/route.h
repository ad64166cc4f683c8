/* route.h: the REST gateway's route mapper (pure): a request path split into decoded
 * segments, and an HTTP method mapped to the Feathers service method it calls. */
#ifndef FDN_ROUTE_H
#define FDN_ROUTE_H

#include <stddef.h>

#define FDN_ROUTE_MAX_SEGMENTS 32
#define FDN_ROUTE_MAX_LENGTH 4096 /* longest raw path accepted, in bytes */

struct fdn_route_seg {
    size_t off; /* into buf */
    size_t len;
};

/* A decoded path. buf holds the segments joined with '/' (no leading or trailing slash),
 * NUL-terminated; a segment may itself contain '/' when it was sent as %2F. */
struct fdn_route_path {
    size_t nseg;
    size_t len; /* strlen(buf) */
    struct fdn_route_seg seg[FDN_ROUTE_MAX_SEGMENTS];
    char buf[FDN_ROUTE_MAX_LENGTH + 1]; /* the decoded path is shorter than the raw one */
};

/* Splits a request path (without '?query') into percent-decoded segments. The path must start
 * with '/'; empty segments ("//", a trailing '/') are skipped. Returns -1 for an empty path, a
 * NUL byte (raw or %00), a segment "." or ".." (raw or encoded), a malformed %-escape or one that
 * does not decode to UTF-8 (Express answers 400 there), more than FDN_ROUTE_MAX_SEGMENTS segments
 * or a raw path longer than FDN_ROUTE_MAX_LENGTH bytes; else 0. */
int fdn_route_split(const char *path, size_t n, struct fdn_route_path *out);

/* The lookup keys for the caller's service registry (a service path may contain '/'): the full
 * path, and the path without its last segment plus that segment (the id). Each returns a
 * pointer into p->buf and its length via *len; parent and last return NULL when the path has
 * fewer than two segments (no service/id split is possible). */
const char *fdn_route_full(const struct fdn_route_path *p, size_t *len);
const char *fdn_route_parent(const struct fdn_route_path *p, size_t *len);
const char *fdn_route_last(const struct fdn_route_path *p, size_t *len);

enum fdn_route_method {
    FDN_ROUTE_NOT_ALLOWED = -1,
    FDN_ROUTE_FIND,
    FDN_ROUTE_GET,
    FDN_ROUTE_CREATE,
    FDN_ROUTE_UPDATE,
    FDN_ROUTE_PATCH,
    FDN_ROUTE_REMOVE,
    FDN_ROUTE_CUSTOM /* the name is the X-Service-Method header */
};

/* Feathers' REST mapping, the one place it is decided. http_method is matched
 * case-insensitively (the HTTP parser has already refused methods not in uppercase); custom is
 * whether a non-empty X-Service-Method header was given (it counts for POST only). GET, and
 * HEAD (answered as GET without the body, as Express does): find / get; POST: create (with an
 * id too, which create does not take: Feathers routes POST /p/ID so), or the custom method
 * (without an id only); PUT: update (id null without one: multi); PATCH: patch; DELETE:
 * remove; anything else: not allowed. */
enum fdn_route_method fdn_route_map(const char *http_method, int has_id, int custom);

/* "find", "get", "create", "update", "patch", "remove"; NULL for CUSTOM and NOT_ALLOWED. */
const char *fdn_route_method_name(enum fdn_route_method m);

#endif
