/* rng.h: a random generator for mbedtls (CTR-DRBG seeded from the system's entropy), one per
 * TLS user: the links' configurations (tls.c) and the HTTP client's (http_client_tls.c). */
#ifndef FDN_RNG_H
#define FDN_RNG_H

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>

struct fdn_rng {
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
};

/* Initializes and seeds r, personalized with pers. 0, or mbedtls' error code (r must still be
 * released with fdn_rng_free). */
int fdn_rng_init(struct fdn_rng *r, const char *pers);

void fdn_rng_free(struct fdn_rng *r);

#endif
