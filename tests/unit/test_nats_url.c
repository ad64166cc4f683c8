/* test_nats_url.c: unit tests of a NATS server list's credentials: taken out of every URL,
 * percent-decoded, the same across the list; tokens and URLs without them left as they are. */
#include <string.h>

#include "check.h"
#include "nats_url.h"

static char servers[1024], user[FDN_NATS_CRED_MAX], pass[FDN_NATS_CRED_MAX], err[128];
static int has;

static int split(const char *in)
{
    return fdn_nats_url_split(in, strlen(in), servers, user, pass, &has, err, sizeof err);
}

int main(void)
{
    CHECK(split("nats://127.0.0.1:4222") == 0 && has == 0);
    CHECK_STR(servers, "nats://127.0.0.1:4222");
    CHECK(split("nats://fdn:s3cret@127.0.0.1:4222") == 0 && has == 1);
    CHECK_STR(servers, "nats://127.0.0.1:4222");
    CHECK_STR(user, "fdn");
    CHECK_STR(pass, "s3cret");
    /* escapes decoded; an unescaped '@' in the password: the last '@' ends the credentials */
    CHECK(split("nats://f%20dn:p%40ss%3Aw%2Frd@h:1,tls://f%20dn:p%40ss%3Aw%2Frd@k:2/") == 0);
    CHECK_STR(servers, "nats://h:1,tls://k:2/");
    CHECK_STR(user, "f dn");
    CHECK_STR(pass, "p@ss:w/rd");
    CHECK(split("nats://u:a@b@h:1") == 0 && has == 1);
    CHECK_STR(pass, "a@b");
    CHECK_STR(servers, "nats://h:1");
    /* credentials on one URL of the list apply to all; a token is left where it is */
    CHECK(split("nats://h:1,nats://u:p@k:2,nats://tok@m:3") == 0 && has == 1);
    CHECK_STR(servers, "nats://h:1,nats://k:2,nats://tok@m:3");
    CHECK(split("h:1,u:p@k:2") == 0 && has == 1); /* no scheme */
    CHECK_STR(servers, "h:1,k:2");
    CHECK(split("nats://u::@h") == 0);
    CHECK_STR(pass, ":");
    CHECK(split("") == 0 && has == 0);
    CHECK_STR(servers, "");
    CHECK(split("nats://h:1/path@x") == 0 && has == 0); /* '@' after the authority */
    CHECK_STR(servers, "nats://h:1/path@x");
    /* refused */
    CHECK(split("nats://u:p@h:1,nats://u:q@k:2") < 0 && strstr(err, "different"));
    CHECK(split("nats://u:%zz@h") < 0 && strstr(err, "password"));
    CHECK(split("nats://u%00:p@h") < 0 && strstr(err, "user"));
    char longer[400] = "nats://u:";
    memset(longer + 9, 'x', 300);
    strcpy(longer + 309, "@h:1");
    CHECK(split(longer) < 0 && strstr(err, "longer"));
    CHECK(fdn_nats_url_split("a\0b", 3, servers, user, pass, &has, err, sizeof err) < 0);
    /* TLS required when a URL of the list says tls:// */
    CHECK(fdn_nats_url_tls("tls://h:1") == 1);
    CHECK(fdn_nats_url_tls("nats://h:1, TLS://k:2") == 1);
    CHECK(fdn_nats_url_tls("nats://h:1,nats://tls://") == 0); /* a scheme starts a URL only */
    CHECK(fdn_nats_url_tls("nats://h:1,h:2") == 0);
    CHECK(fdn_nats_url_tls("") == 0);
    CHECK(fdn_nats_url_tls("tls:/h,tlsx://h") == 0);
    return check_summary("nats_url");
}
