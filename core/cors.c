/* cors.c: the gateway's CORS policy (pure): the origin list, the match, and the headers of an
 * answer and of a preflight (cors.h). */
#include "cors.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

struct fdn_cors {
    int any;
    size_t n;
    char **origins;
};

static int is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int visible(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return 0;
    return n > 0;
}

/* scheme://host[:port], or "null". */
static int is_origin(const char *s, size_t n)
{
    if (n == 4 && memcmp(s, "null", 4) == 0)
        return 1;
    if (n > FDN_CORS_MAX_ORIGIN || !visible(s, n) || memchr(s, ',', n))
        return 0;
    size_t i = 0;
    while (i < n && (((s[i] | 0x20) >= 'a' && (s[i] | 0x20) <= 'z') ||
                     (i > 0 && ((s[i] >= '0' && s[i] <= '9') || strchr("+-.", s[i])))))
        i++;
    if (i == 0 || n - i < 4 || memcmp(s + i, "://", 3) != 0)
        return 0;
    const char *host = s + i + 3;
    return memchr(host, '/', (size_t)(s + n - host)) == NULL;
}

static void free_list(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

struct fdn_cors *fdn_cors_new(const char *list, size_t len, const char **err)
{
    size_t n = 0, cap = 0, i = 0;
    char **v = NULL;
    int any = 0;
    while (i <= len) {
        const char *comma = memchr(list + i, ',', len - i);
        size_t end = comma ? (size_t)(comma - list) : len, a = i, b = end;
        while (a < b && (list[a] == ' ' || list[a] == '\t'))
            a++;
        while (b > a && (list[b - 1] == ' ' || list[b - 1] == '\t'))
            b--;
        if (b - a == 1 && list[a] == '*') {
            any = 1;
        } else if (b > a) {
            if (list[b - 1] == '/')
                b--;
            if (!is_origin(list + a, b - a)) {
                free_list(v, n);
                *err = "not an origin (scheme://host[:port], \"null\" or *)";
                return NULL;
            }
            if (n == cap)
                v = xrealloc(v, (cap = cap ? 2 * cap : 4) * sizeof *v);
            v[n] = xmalloc(b - a + 1);
            memcpy(v[n], list + a, b - a);
            v[n++][b - a] = 0;
        }
        i = end + 1;
    }
    if (!any && n == 0) {
        *err = "no origin given";
        return NULL;
    }
    struct fdn_cors *c = xcalloc(1, sizeof *c);
    c->any = any;
    c->n = n;
    c->origins = v;
    return c;
}

void fdn_cors_free(struct fdn_cors *c)
{
    if (!c)
        return;
    free_list(c->origins, c->n);
    free(c);
}

int fdn_cors_allows(const struct fdn_cors *c, const char *origin, size_t len)
{
    if (!c || !origin || len > FDN_CORS_MAX_ORIGIN || !visible(origin, len))
        return 0;
    if (c->any)
        return 1;
    for (size_t i = 0; i < c->n; i++)
        if (strlen(c->origins[i]) == len && strncasecmp(c->origins[i], origin, len) == 0)
            return 1;
    return 0;
}

int fdn_cors_header_list_ok(const char *s, size_t len)
{
    size_t i = 0, names = 0;
    for (;;) {
        while (i < len && (s[i] == ' ' || s[i] == '\t'))
            i++;
        size_t start = i;
        while (i < len && is_tchar((unsigned char)s[i]))
            i++;
        if (i == start)
            return 0; /* an empty name, or a byte that cannot be in one */
        names++;
        while (i < len && (s[i] == ' ' || s[i] == '\t'))
            i++;
        if (i == len)
            return names > 0;
        if (s[i++] != ',')
            return 0;
    }
}

static void field(struct fdn_http_field *f, const char *name, const char *value)
{
    f->name = name;
    f->name_len = strlen(name);
    f->value = value;
    f->value_len = strlen(value);
}

size_t fdn_cors_fields(const struct fdn_cors *c, const char *origin, int preflight,
                       const char *request_headers, struct fdn_http_field *f)
{
    size_t n = 0;
    int allowed = origin && fdn_cors_allows(c, origin, strlen(origin));
    int echo = allowed && preflight && request_headers &&
               fdn_cors_header_list_ok(request_headers, strlen(request_headers));
    field(&f[n++], "Vary", echo ? "Origin, Access-Control-Request-Headers" : "Origin");
    if (!allowed)
        return n;
    /* any origin: "*" itself, which browsers never send credentials (cookies) with; so a page
     * from anywhere cannot act as a logged-in user. A listed origin is echoed, with them. */
    field(&f[n++], "Access-Control-Allow-Origin", c->any ? "*" : origin);
    if (!c->any)
        field(&f[n++], "Access-Control-Allow-Credentials", "true");
    if (!preflight)
        return n;
    field(&f[n++], "Access-Control-Allow-Methods", FDN_CORS_METHODS);
    field(&f[n++], "Access-Control-Max-Age", FDN_CORS_MAX_AGE);
    if (echo)
        field(&f[n++], "Access-Control-Allow-Headers", request_headers);
    return n;
}
