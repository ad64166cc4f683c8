/* nats_opts.c: the libnats options of one connection (nats_opts.h), TLS included: libnats
 * loads the system's CA bundle into every TLS context it makes (OpenSSL's default paths) and,
 * as Debian builds it, checks the server's name against the URL's host. */
#include "nats_opts.h"

#include <stdio.h>
#include <string.h>

#include "nats_url.h"
#include "util.h"

#define CONNECT_MS 2000  /* one connect attempt */
#define RECONNECT_MS 250 /* between reconnect attempts (forever) */

const char *fdn_nats_last_error(natsStatus s)
{
    const char *last = nats_GetLastError(NULL), *cut = last ? strstr(last, "): ") : NULL;
    return cut ? cut + 3 : last && *last ? last : natsStatus_GetText(s);
}

int fdn_nats_options(natsOptions **out, const struct fdn_nats_opts *o, char *err, size_t errlen)
{
    natsOptions *opts = NULL;
    const char *what = "nats options";
    natsStatus s = natsOptions_Create(&opts);
    if (s == NATS_OK)
        s = natsOptions_SetURL(opts, o->url);
    if (s == NATS_OK && o->user)
        s = natsOptions_SetUserInfo(opts, o->user, o->pass);
    if (s == NATS_OK && o->name)
        s = natsOptions_SetName(opts, o->name);
    if (s == NATS_OK)
        s = natsOptions_SetTimeout(opts, CONNECT_MS);
    if (s == NATS_OK)
        s = natsOptions_SetMaxReconnect(opts, -1);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectWait(opts, RECONNECT_MS);
    /* a CA file says TLS is expected: without TLS the node would not connect in the clear */
    if (s == NATS_OK && (o->ca || fdn_nats_url_tls(o->url))) {
        what = "nats TLS";
        s = natsOptions_SetSecure(opts, true);
    }
    if (s == NATS_OK && o->ca) {
        what = "nats CA file";
        s = natsOptions_LoadCATrustedCertificates(opts, o->ca);
    }
    if (s != NATS_OK) {
        snprintf(err, errlen, "%s: %s", what, fdn_nats_last_error(s));
        natsOptions_Destroy(opts);
        *out = NULL;
        return -1;
    }
    *out = opts;
    return 0;
}

char *fdn_nats_connect_error(natsStatus s)
{
    const char *why = fdn_nats_last_error(s), *hint = "";
    if (s == NATS_SECURE_CONNECTION_WANTED)
        why = "the server does not offer TLS, which tls:// (and --nats-ca) require";
    else if (s == NATS_SSL_ERROR)
        hint = " (the server's certificate must chain to the system's CA bundle or to --nats-ca's, "
               "and name the URL's host)";
    size_t len = strlen(why) + strlen(hint) + 1;
    char *out = xmalloc(len);
    snprintf(out, len, "%s%s", why, hint);
    return out;
}
