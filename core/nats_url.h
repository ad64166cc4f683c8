/* nats_url.h: the credentials of a NATS server list (nats://user:pass@host:port,...). libnats
 * 3.4 does not decode percent-escapes in a URL's user and password, so they are taken out of
 * the list, decoded, and handed to it apart (natsOptions_SetUserInfo). Pure. */
#ifndef FDN_NATS_URL_H
#define FDN_NATS_URL_H

#include <stddef.h>

#define FDN_NATS_CRED_MAX 256 /* user and password, decoded, NUL included */

/* Splits the list in[0..n): servers (n + 1 bytes) gets it without any user:pass@ part; user
 * and pass (FDN_NATS_CRED_MAX bytes each) the decoded credentials, *has_cred 1 when some URL
 * had them (every URL that has them must have the same). A user without ':' is a token: left
 * in place. 0, or -1 with a message in err (bad escape, NUL, too long, two different users). */
int fdn_nats_url_split(const char *in, size_t n, char *servers, char *user, char *pass,
                       int *has_cred, char *err, size_t errlen);

/* 1 when a URL of the list (as split above) has the scheme tls:// (any case): the connection
 * then requires TLS, whatever the server offers. Pure. */
int fdn_nats_url_tls(const char *servers);

#endif
