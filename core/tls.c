/* tls.c: the cluster secret's cryptography on mbedtls 2.28: the key schedule (PBKDF2, HKDF), HMAC,
 * a constant-time compare, and PSK TLS sessions whose transport is a pair of evbuffers: the bio
 * callbacks move bytes between mbedtls and the link's socket buffers; there is no I/O here. */
#include "tls.h"

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <mbedtls/error.h>
#include <mbedtls/hkdf.h>
#include <mbedtls/md.h>
#include <mbedtls/pkcs5.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/ssl.h>

#include "rng.h"
#include "util.h"

#define READ_CHUNK 16384 /* one record's plaintext at most */

struct fdn_tls {
    struct fdn_tls_keys keys;
    struct fdn_rng rng;
    mbedtls_ssl_config client, server;
};

struct fdn_tls_conn {
    mbedtls_ssl_context ssl;
    struct evbuffer *cin, *cout; /* ciphertext: the socket bufferevent's buffers */
    int established;
    char err[128];
};

/* The one suite (§4): ECDHE for forward secrecy, the PSK for mutual proof of the secret. */
static const int suites[] = {MBEDTLS_TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256, 0};
static const mbedtls_ecp_group_id curves[] = {MBEDTLS_ECP_DP_CURVE25519, MBEDTLS_ECP_DP_SECP256R1,
                                              MBEDTLS_ECP_DP_NONE};

static const mbedtls_md_info_t *sha256(void)
{
    return mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
}

/* --- primitives ----------------------------------------------------------------------- */

int fdn_tls_hkdf(const uint8_t *salt, size_t salt_len, const uint8_t *ikm, size_t ikm_len,
                 const uint8_t *info, size_t info_len, uint8_t *okm, size_t okm_len)
{
    if (okm_len == 0 || okm_len > 255 * 32)
        return -1;
    return mbedtls_hkdf(sha256(), salt, salt_len, ikm, ikm_len, info, info_len, okm, okm_len) == 0
               ? 0
               : -1;
}

int fdn_tls_pbkdf2(const uint8_t *pw, size_t pw_len, const uint8_t *salt, size_t salt_len,
                   unsigned iterations, uint8_t *out, size_t out_len)
{
    if (iterations == 0 || out_len == 0 || out_len > UINT32_MAX)
        return -1;
    mbedtls_md_context_t md;
    mbedtls_md_init(&md);
    int r = mbedtls_md_setup(&md, sha256(), 1);
    if (r == 0)
        r = mbedtls_pkcs5_pbkdf2_hmac(&md, pw, pw_len, salt, salt_len, iterations,
                                      (uint32_t)out_len, out);
    mbedtls_md_free(&md); /* wipes its HMAC pads, which are keyed by pw */
    return r == 0 ? 0 : -1;
}

void fdn_tls_hmac(const uint8_t *key, size_t key_len, const uint8_t *msg, size_t len,
                  uint8_t mac[FDN_TLS_MAC_LEN])
{
    if (mbedtls_md_hmac(sha256(), key, key_len, msg, len, mac) != 0) {
        fdn_error("tls: HMAC-SHA256 failed"); /* only out of memory */
        abort();
    }
}

int fdn_tls_equal(const void *a, const void *b, size_t n)
{
    const volatile uint8_t *x = a, *y = b; /* volatile: no early exit may be compiled in */
    uint32_t diff = 0;
    for (size_t i = 0; i < n; i++)
        diff |= (uint32_t)(x[i] ^ y[i]);
    return (int)(1 & ((diff - 1) >> 8)); /* diff is 0..255: 1 iff it is 0, without a branch */
}

void fdn_tls_derive(const char *secret, size_t len, const char *key, struct fdn_tls_keys *out)
{
    static const char prefix[] = FDN_TLS_PBKDF2_SALT, salt[] = FDN_TLS_SALT,
                      disc[] = FDN_TLS_INFO_DISCOVERY, link[] = FDN_TLS_INFO_LINK,
                      seal[] = FDN_TLS_INFO_SEAL;
    size_t key_len = strlen(key), psalt_len = sizeof prefix - 1 + key_len;
    uint8_t *psalt = xmalloc(psalt_len);
    memcpy(psalt, prefix, sizeof prefix - 1);
    memcpy(psalt + sizeof prefix - 1, key, key_len);
    uint8_t master[FDN_TLS_KEY_LEN];
    int r = fdn_tls_pbkdf2((const uint8_t *)secret, len, psalt, psalt_len,
                           FDN_TLS_PBKDF2_ITERATIONS, master, sizeof master);
    free(psalt);
    if (r < 0 ||
        fdn_tls_hkdf((const uint8_t *)salt, sizeof salt - 1, master, sizeof master,
                     (const uint8_t *)disc, sizeof disc - 1, out->discovery,
                     sizeof out->discovery) < 0 ||
        fdn_tls_hkdf((const uint8_t *)salt, sizeof salt - 1, master, sizeof master,
                     (const uint8_t *)link, sizeof link - 1, out->link, sizeof out->link) < 0 ||
        fdn_tls_hkdf((const uint8_t *)salt, sizeof salt - 1, master, sizeof master,
                     (const uint8_t *)seal, sizeof seal - 1, out->seal, sizeof out->seal) < 0) {
        fdn_error("tls: key derivation failed"); /* only out of memory */
        abort();
    }
    mbedtls_platform_zeroize(master, sizeof master);
}

/* --- the node's context --------------------------------------------------------------- */

static void log_mbedtls(const char *what, int err)
{
    char buf[128];
    mbedtls_strerror(err, buf, sizeof buf);
    fdn_error("tls: %s: %s (-0x%04x)", what, buf, (unsigned)-err);
}

static int setup_config(struct fdn_tls *t, mbedtls_ssl_config *conf, int endpoint)
{
    static const char identity[] = FDN_TLS_PSK_IDENTITY;
    int r = mbedtls_ssl_config_defaults(conf, endpoint, MBEDTLS_SSL_TRANSPORT_STREAM,
                                        MBEDTLS_SSL_PRESET_DEFAULT);
    if (r != 0) {
        log_mbedtls("cannot set up TLS", r);
        return -1;
    }
    mbedtls_ssl_conf_rng(conf, mbedtls_ctr_drbg_random, &t->rng.drbg);
    mbedtls_ssl_conf_min_version(conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
    mbedtls_ssl_conf_max_version(conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
    mbedtls_ssl_conf_ciphersuites(conf, suites);
    mbedtls_ssl_conf_curves(conf, curves);
    /* no certificates anywhere: the PSK authenticates both ends */
    mbedtls_ssl_conf_authmode(conf, MBEDTLS_SSL_VERIFY_NONE);
    mbedtls_ssl_conf_renegotiation(conf, MBEDTLS_SSL_RENEGOTIATION_DISABLED);
    if (endpoint == MBEDTLS_SSL_IS_CLIENT)
        mbedtls_ssl_conf_session_tickets(conf, MBEDTLS_SSL_SESSION_TICKETS_DISABLED);
    /* a server without a PSK callback accepts only this identity, with this key */
    r = mbedtls_ssl_conf_psk(conf, t->keys.link, sizeof t->keys.link, (const uint8_t *)identity,
                             sizeof identity - 1);
    if (r != 0) {
        log_mbedtls("cannot set the pre-shared key", r);
        return -1;
    }
    return 0;
}

int fdn_tls_new(const char *secret, size_t len, const char *key, struct fdn_tls **out)
{
    static const char pers[] = "fdnode links";
    *out = NULL;
    struct fdn_tls *t = xcalloc(1, sizeof *t);
    fdn_tls_derive(secret, len, key, &t->keys);
    mbedtls_ssl_config_init(&t->client);
    mbedtls_ssl_config_init(&t->server);
    int r = fdn_rng_init(&t->rng, pers);
    if (r != 0) {
        log_mbedtls("cannot seed the random generator", r);
        fdn_tls_free(t);
        return -1;
    }
    if (setup_config(t, &t->client, MBEDTLS_SSL_IS_CLIENT) < 0 ||
        setup_config(t, &t->server, MBEDTLS_SSL_IS_SERVER) < 0) {
        fdn_tls_free(t);
        return -1;
    }
    *out = t;
    return 0;
}

void fdn_tls_free(struct fdn_tls *t)
{
    if (!t)
        return;
    mbedtls_ssl_config_free(&t->client); /* wipes its copy of the PSK */
    mbedtls_ssl_config_free(&t->server);
    fdn_rng_free(&t->rng);
    mbedtls_platform_zeroize(&t->keys, sizeof t->keys);
    free(t);
}

const uint8_t *fdn_tls_discovery_key(const struct fdn_tls *t)
{
    return t->keys.discovery;
}

const uint8_t *fdn_tls_seal_key(const struct fdn_tls *t)
{
    return t->keys.seal;
}

/* --- sessions ------------------------------------------------------------------------- */

/* mbedtls writes records here: appended to the socket's output, never "would block" */
static int bio_send(void *arg, const unsigned char *buf, size_t len)
{
    struct fdn_tls_conn *c = arg;
    if (evbuffer_add(c->cout, buf, len) < 0)
        return MBEDTLS_ERR_SSL_ALLOC_FAILED;
    return (int)len;
}

/* ... and reads them from the socket's input: empty means "wait for the next read" */
static int bio_recv(void *arg, unsigned char *buf, size_t len)
{
    struct fdn_tls_conn *c = arg;
    int n = evbuffer_remove(c->cin, buf, len);
    return n > 0 ? n : MBEDTLS_ERR_SSL_WANT_READ;
}

static int failed(struct fdn_tls_conn *c, int err, int code)
{
    mbedtls_strerror(err, c->err, sizeof c->err);
    return code;
}

struct fdn_tls_conn *fdn_tls_conn_new(struct fdn_tls *t, int server, struct evbuffer *cin,
                                      struct evbuffer *cout)
{
    struct fdn_tls_conn *c = xcalloc(1, sizeof *c);
    mbedtls_ssl_init(&c->ssl);
    c->cin = cin;
    c->cout = cout;
    int r = mbedtls_ssl_setup(&c->ssl, server ? &t->server : &t->client);
    if (r != 0) { /* allocation only: the configuration was checked at fdn_tls_new */
        log_mbedtls("cannot start a session", r);
        abort();
    }
    mbedtls_ssl_set_bio(&c->ssl, c, bio_send, bio_recv, NULL);
    return c;
}

void fdn_tls_conn_free(struct fdn_tls_conn *c)
{
    if (!c)
        return;
    mbedtls_ssl_free(&c->ssl);
    free(c);
}

int fdn_tls_conn_read(struct fdn_tls_conn *c, struct evbuffer *pin)
{
    if (!c->established) {
        int r = mbedtls_ssl_handshake(&c->ssl);
        if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE)
            return FDN_TLS_OK;
        if (r != 0)
            return failed(c, r, FDN_TLS_EHANDSHAKE);
        c->established = 1;
    }
    for (;;) {
        struct evbuffer_iovec v;
        if (evbuffer_reserve_space(pin, READ_CHUNK, &v, 1) < 1) {
            fdn_error("tls: out of memory");
            abort();
        }
        size_t room = v.iov_len < READ_CHUNK ? v.iov_len : READ_CHUNK;
        int r = mbedtls_ssl_read(&c->ssl, v.iov_base, room);
        v.iov_len = r > 0 ? (size_t)r : 0;
        evbuffer_commit_space(pin, &v, r > 0 ? 1 : 0);
        if (r > 0)
            continue;
        if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE)
            return FDN_TLS_OK;
        if (r == 0 || r == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY)
            return FDN_TLS_EOF;
        return failed(c, r, FDN_TLS_ERECORD);
    }
}

int fdn_tls_conn_write(struct fdn_tls_conn *c, struct evbuffer *pout)
{
    if (!c->established)
        return FDN_TLS_OK;
    int max = mbedtls_ssl_get_max_out_record_payload(&c->ssl);
    if (max <= 0)
        return failed(c, max, FDN_TLS_ERECORD);
    size_t len;
    while ((len = evbuffer_get_length(pout)) > 0) {
        size_t n = len < (size_t)max ? len : (size_t)max;
        const unsigned char *p = evbuffer_pullup(pout, (ev_ssize_t)n);
        int r = mbedtls_ssl_write(&c->ssl, p, n);
        if (r <= 0) /* the bio never blocks: only a real failure gets here */
            return failed(c, r, FDN_TLS_ERECORD);
        evbuffer_drain(pout, (size_t)r);
    }
    return FDN_TLS_OK;
}

void fdn_tls_conn_close(struct fdn_tls_conn *c)
{
    if (c->established)
        mbedtls_ssl_close_notify(&c->ssl);
}

int fdn_tls_conn_established(const struct fdn_tls_conn *c)
{
    return c->established;
}

const char *fdn_tls_conn_error(const struct fdn_tls_conn *c)
{
    return c->err;
}
