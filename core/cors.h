/* cors.h: the gateway's CORS policy (pure): the allowed origins (a list, or any), whether a
 * request's Origin is one of them, and the headers of an answer and of a preflight. */
#ifndef FDN_CORS_H
#define FDN_CORS_H

#include <stddef.h>

#include "http.h"

#define FDN_CORS_MAX_FIELDS 6   /* the most headers fdn_cors_fields gives */
#define FDN_CORS_MAX_ORIGIN 512 /* longest origin accepted, in the list or in a request */
#define FDN_CORS_METHODS "GET,HEAD,PUT,PATCH,POST,DELETE"
#define FDN_CORS_MAX_AGE "86400"

struct fdn_cors;

/* Parses a policy: "*" (any origin) or a comma-separated list of origins
 * ("https://a.example,http://localhost:8080"), blanks around each skipped and one trailing '/'
 * of each dropped. An origin is scheme://host[:port] (no path) or "null". NULL, with *err a
 * static message, when the list is empty or an entry is not an origin. */
struct fdn_cors *fdn_cors_new(const char *list, size_t len, const char **err);
void fdn_cors_free(struct fdn_cors *c);

/* 1 when a request's Origin header value is allowed: any origin of visible ASCII under "*",
 * else one of the list, compared without regard to ASCII case. */
int fdn_cors_allows(const struct fdn_cors *c, const char *origin, size_t len);

/* 1 when s is a comma-separated list of header names (tokens, blanks around them). */
int fdn_cors_header_list_ok(const char *s, size_t len);

/* The CORS headers of an answer to a request whose Origin is origin (NULL: none): always
 * "Vary: Origin"; for an allowed origin, Access-Control-Allow-Origin: the origin echoed with
 * Access-Control-Allow-Credentials: true for a listed one, "*" without credentials under "*". With
 * preflight set, an allowed origin also gets Allow-Methods, Max-Age and, when request_headers (the
 * request's Access-Control-Request-Headers, or NULL) is a valid list, Allow-Headers echoing it, and
 * the Vary names Access-Control-Request-Headers too. Fills f, which has room for
 * FDN_CORS_MAX_FIELDS; returns the count. The fields point to static strings, origin and
 * request_headers. */
size_t fdn_cors_fields(const struct fdn_cors *c, const char *origin, int preflight,
                       const char *request_headers, struct fdn_http_field *f);

#endif
