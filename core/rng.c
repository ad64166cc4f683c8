/* rng.c: a CTR-DRBG seeded from the system's entropy (rng.h). */
#include "rng.h"

#include <string.h>

int fdn_rng_init(struct fdn_rng *r, const char *pers)
{
    mbedtls_entropy_init(&r->entropy);
    mbedtls_ctr_drbg_init(&r->drbg);
    return mbedtls_ctr_drbg_seed(&r->drbg, mbedtls_entropy_func, &r->entropy,
                                 (const unsigned char *)pers, strlen(pers));
}

void fdn_rng_free(struct fdn_rng *r)
{
    mbedtls_ctr_drbg_free(&r->drbg);
    mbedtls_entropy_free(&r->entropy);
}
