/* nats_url.c: a NATS server list's credentials taken out and percent-decoded (nats_url.h). */
#include "nats_url.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "qs.h"

/* Decodes s[0..n) into out (FDN_NATS_CRED_MAX bytes): 0, or -1 with a message in err. */
static int decode(const char *what, const char *s, size_t n, char *out, char *err, size_t errlen)
{
    char tmp[FDN_NATS_CRED_MAX];
    size_t len;
    if (n >= sizeof tmp) {
        snprintf(err, errlen, "the %s is longer than %d bytes", what, FDN_NATS_CRED_MAX - 1);
        return -1;
    }
    if (fdn_qs_decode(s, n, tmp, &len, 0) < 0 || memchr(tmp, '\0', len)) {
        snprintf(err, errlen, "the %s has a bad percent-escape", what);
        return -1;
    }
    memcpy(out, tmp, len);
    out[len] = '\0';
    return 0;
}

int fdn_nats_url_split(const char *in, size_t n, char *servers, char *user, char *pass,
                       int *has_cred, char *err, size_t errlen)
{
    char u[FDN_NATS_CRED_MAX], p[FDN_NATS_CRED_MAX];
    size_t out = 0, i = 0;
    *has_cred = 0;
    user[0] = pass[0] = '\0';
    if (memchr(in, '\0', n)) {
        snprintf(err, errlen, "a NUL in the servers' URLs");
        return -1;
    }
    while (i <= n) {
        size_t end = i;
        while (end < n && in[end] != ',')
            end++;
        /* the authority: after "scheme://" (if any), up to the first '/' */
        size_t auth = i;
        for (size_t k = i; k + 2 < end; k++)
            if (in[k] == ':' && in[k + 1] == '/' && in[k + 2] == '/') {
                auth = k + 3;
                break;
            }
        size_t auth_end = auth;
        while (auth_end < end && in[auth_end] != '/')
            auth_end++;
        size_t at = auth_end;
        for (size_t k = auth; k < auth_end; k++)
            if (in[k] == '@')
                at = k; /* the last '@': a password may hold one, escaped or not */
        const char *colon = at < auth_end ? memchr(in + auth, ':', at - auth) : NULL;
        if (colon) {
            size_t ulen = (size_t)(colon - (in + auth));
            if (decode("user", in + auth, ulen, u, err, errlen) < 0 ||
                decode("password", colon + 1, (size_t)(in + at - colon - 1), p, err, errlen) < 0)
                return -1;
            if (*has_cred && (strcmp(u, user) != 0 || strcmp(p, pass) != 0)) {
                snprintf(err, errlen, "the servers' URLs name different credentials");
                return -1;
            }
            memcpy(user, u, strlen(u) + 1);
            memcpy(pass, p, strlen(p) + 1);
            *has_cred = 1;
            memcpy(servers + out, in + i, auth - i);
            out += auth - i;
            memcpy(servers + out, in + at + 1, end - at - 1);
            out += end - at - 1;
        } else {
            memcpy(servers + out, in + i, end - i);
            out += end - i;
        }
        if (end < n)
            servers[out++] = ',';
        i = end + 1;
    }
    servers[out] = '\0';
    return 0;
}

int fdn_nats_url_tls(const char *servers)
{
    for (const char *p = servers; *p;) {
        while (*p == ' ')
            p++;
        if (strncasecmp(p, "tls://", 6) == 0)
            return 1;
        p += strcspn(p, ",");
        if (*p == ',')
            p++;
    }
    return 0;
}
