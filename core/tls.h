/* tls.h: the cluster secret (§4). Keys derived from it (slow PBKDF2, then HKDF-SHA256),
 * HMAC-SHA256 and a constant-time compare for beacons, and TLS 1.2 with a pre-shared key
 * (mbedtls) for links, driven over a pair of evbuffers so link.c keeps its socket bufferevent. */
#ifndef FDN_TLS_H
#define FDN_TLS_H

#include <stddef.h>
#include <stdint.h>

struct evbuffer;
struct fdn_tls;
struct fdn_tls_conn;

#define FDN_TLS_KEY_LEN 32 /* every derived key */
#define FDN_TLS_MAC_LEN 32 /* HMAC-SHA256 */

/* Protocol version 2 of the key schedule: changing any of these splits clusters. The secret goes
 * through PBKDF2-HMAC-SHA256 (FDN_TLS_PBKDF2_ITERATIONS rounds, salt FDN_TLS_PBKDF2_SALT then the
 * --key partition name) into a master key, from which HKDF-SHA256 (salt FDN_TLS_SALT) expands
 * the keys (beacons, links, sealed messages). The slow step makes every guess at a secret, tried
 * offline against a captured beacon, cost those rounds. The PSK identity names the version: the
 * handshake of a node with the older schedule fails as "unknown PSK identity". */
#define FDN_TLS_PBKDF2_ITERATIONS 200000
#define FDN_TLS_PBKDF2_SALT "fdnode cluster key v2:"
#define FDN_TLS_SALT "fdnode cluster secret v1"
#define FDN_TLS_INFO_DISCOVERY "fdnode discovery v1"
#define FDN_TLS_INFO_LINK "fdnode link psk v1"
#define FDN_TLS_INFO_SEAL "fdnode seal v1"
#define FDN_TLS_PSK_IDENTITY "fdnode v2"

/* --- primitives (no state) ------------------------------------------------------------ */

/* HKDF-SHA256 (RFC 5869): extract with salt, expand with info into okm[okm_len]
 * (okm_len <= 255 * 32). 0, or -1 on a bad length. */
int fdn_tls_hkdf(const uint8_t *salt, size_t salt_len, const uint8_t *ikm, size_t ikm_len,
                 const uint8_t *info, size_t info_len, uint8_t *okm, size_t okm_len);

/* PBKDF2-HMAC-SHA256 (RFC 8018) of pw with salt, `iterations` rounds, into out[out_len].
 * 0, or -1 on zero iterations or an empty output. */
int fdn_tls_pbkdf2(const uint8_t *pw, size_t pw_len, const uint8_t *salt, size_t salt_len,
                   unsigned iterations, uint8_t *out, size_t out_len);

/* HMAC-SHA256 (RFC 2104) of msg[0..len) under key[0..key_len). */
void fdn_tls_hmac(const uint8_t *key, size_t key_len, const uint8_t *msg, size_t len,
                  uint8_t mac[FDN_TLS_MAC_LEN]);

/* 1 when a[0..n) equals b[0..n), else 0; the time taken depends on n only. */
int fdn_tls_equal(const void *a, const void *b, size_t n);

/* The keys of a secret: one for beacon tags, one for the links' PSK, one for messages sealed
 * on a shared bus (seal.h). */
struct fdn_tls_keys {
    uint8_t discovery[FDN_TLS_KEY_LEN];
    uint8_t link[FDN_TLS_KEY_LEN];
    uint8_t seal[FDN_TLS_KEY_LEN];
};

/* The keys of secret[0..len) in the partition `key` (--key), by the schedule above. Slow on
 * purpose (FDN_TLS_PBKDF2_ITERATIONS: a few hundred ms): once per process. */
void fdn_tls_derive(const char *secret, size_t len, const char *key, struct fdn_tls_keys *out);

/* --- the node's context --------------------------------------------------------------- */

/* Derives the keys (fdn_tls_derive: the slow part) and sets up what every link shares: the DRBG
 * (seeded from the system's entropy) and the client and server configurations (TLS 1.2 only, one
 * suite: TLS-ECDHE-PSK-WITH-CHACHA20-POLY1305-SHA256, X25519 or P-256, no tickets, no
 * renegotiation). 0, or -1 after logging one line. */
int fdn_tls_new(const char *secret, size_t len, const char *key, struct fdn_tls **out);
void fdn_tls_free(struct fdn_tls *t); /* wipes the keys; accepts NULL */

/* The beacon key (FDN_TLS_KEY_LEN bytes), valid as long as t. */
const uint8_t *fdn_tls_discovery_key(const struct fdn_tls *t);

/* The seal key (FDN_TLS_KEY_LEN bytes), valid as long as t. */
const uint8_t *fdn_tls_seal_key(const struct fdn_tls *t);

/* --- one session ------------------------------------------------------------------------
 * A session reads ciphertext from cin and appends ciphertext to cout: a link passes its
 * socket bufferevent's input and output, which must outlive the session. Plaintext moves
 * through evbuffers the caller owns. Nothing but the handshake passes before the handshake is
 * over: fdn_tls_conn_read yields no plaintext and fdn_tls_conn_write sends none until then
 * (mbedtls refuses application data before its Finished). Writing never blocks: cout grows,
 * and the caller bounds it (the link's max pending output). */

enum {
    FDN_TLS_OK = 0,
    FDN_TLS_EOF = 1,         /* the peer sent close_notify */
    FDN_TLS_EHANDSHAKE = -1, /* the handshake failed (another secret, or not TLS at all) */
    FDN_TLS_ERECORD = -2,    /* a bad record after the handshake */
};

/* server: 1 for an accepted link. Out-of-memory aborts. */
struct fdn_tls_conn *fdn_tls_conn_new(struct fdn_tls *t, int server, struct evbuffer *cin,
                                      struct evbuffer *cout);
void fdn_tls_conn_free(struct fdn_tls_conn *c); /* accepts NULL */

/* Runs the handshake as far as the input allows (a client's first call writes its hello), then
 * decrypts every whole record of cin, appending the plaintext to pin. FDN_TLS_OK (also while
 * the handshake waits for more), FDN_TLS_EOF (plaintext before the close_notify is in pin), or
 * a negative FDN_TLS_E* code (see fdn_tls_conn_error). */
int fdn_tls_conn_read(struct fdn_tls_conn *c, struct evbuffer *pin);

/* Once the handshake is over, encrypts all of pout into cout (records of up to 16 KiB) and
 * drains it; before, leaves pout alone. FDN_TLS_OK or FDN_TLS_ERECORD. */
int fdn_tls_conn_write(struct fdn_tls_conn *c, struct evbuffer *pout);

/* Appends a close_notify alert to cout (when the handshake is over). */
void fdn_tls_conn_close(struct fdn_tls_conn *c);

int fdn_tls_conn_established(const struct fdn_tls_conn *c);

/* What went wrong last, in mbedtls' words ("" when nothing did). */
const char *fdn_tls_conn_error(const struct fdn_tls_conn *c);

#endif
