/* http_cors.c: CORS on the gateway (the policy is cors.c's): set at start (--cors) or from Lua,
 * its headers on every answer, and OPTIONS answered here, without Lua. */
#include "http_int.h"

#include <stdlib.h>
#include <string.h>

#include "cors.h"
#include "http_parser.h"

int fdn_http_set_cors(struct fdn_http *h, const char *list, size_t len, const char **err)
{
    struct fdn_cors *c = NULL;
    if (list && !(c = fdn_cors_new(list, len, err)))
        return -1;
    fdn_cors_free(h->cors);
    h->cors = c;
    return 0;
}

size_t fdn_http_cors_fields(const struct conn *c, struct fdn_http_field *f)
{
    const struct fdn_http_parser *p = c->p; /* the request's, untouched until it is answered */
    if (!c->h->cors)
        return 0;
    return fdn_cors_fields(c->h->cors, fdn_http_parser_header(p, "origin"),
                           strcmp(p->method, "OPTIONS") == 0,
                           fdn_http_parser_header(p, "access-control-request-headers"), f);
}

int fdn_http_preflight(struct conn *c)
{
    if (!c->h->cors || strcmp(c->p->method, "OPTIONS") != 0)
        return 0;
    free(c->body); /* (a preflight has none; any other OPTIONS's is not read) */
    c->body = NULL;
    c->body_len = c->body_cap = 0;
    fdn_http_send(c->h, c->req_id, 204, NULL, 0, NULL, 0, -1);
    return 1;
}
