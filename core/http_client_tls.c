/* http_client_tls.c: the HTTP client's TLS on mbedtls 2.28: TLS 1.2, the server's certificate
 * verified against a CA bundle with its name (SNI and hostname check); records move through the
 * socket bufferevent's evbuffers, as core/tls.c does for links. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <mbedtls/error.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include "http_client.h"
#include "rng.h"
#include "util.h"

#define READ_CHUNK 16384

struct tls_config {
    char *ca_file;
    mbedtls_x509_crt ca;
    mbedtls_ssl_config conf;
    struct tls_config *next;
};

struct fdn_hc_tls {
    struct fdn_rng rng;
    struct tls_config *configs;
};

struct fdn_hc_tls_conn {
    mbedtls_ssl_context ssl;
    unsigned char ip[16]; /* the host is an address: the certificate must name it */
    size_t ip_len;
    struct evbuffer *cin, *cout;
    int established;
};

int fdn_hc_tls_new(struct fdn_hc_tls **out)
{
    static const char pers[] = "fdnode http client";
    struct fdn_hc_tls *t = xcalloc(1, sizeof *t);
    if (fdn_rng_init(&t->rng, pers) != 0) {
        fdn_hc_tls_free(t);
        *out = NULL;
        return -1;
    }
    *out = t;
    return 0;
}

void fdn_hc_tls_free(struct fdn_hc_tls *t)
{
    if (!t)
        return;
    while (t->configs) {
        struct tls_config *c = t->configs;
        t->configs = c->next;
        mbedtls_ssl_config_free(&c->conf);
        mbedtls_x509_crt_free(&c->ca);
        free(c->ca_file);
        free(c);
    }
    fdn_rng_free(&t->rng);
    free(t);
}

static void strerr(int r, char *err, size_t errlen, const char *what)
{
    char buf[120];
    mbedtls_strerror(r, buf, sizeof buf);
    snprintf(err, errlen, "%s: %s", what, buf);
}

void *fdn_hc_tls_config(struct fdn_hc_tls *t, const char *ca_file, char *err, size_t errlen)
{
    if (!ca_file)
        ca_file = FDN_HC_CA_BUNDLE;
    for (struct tls_config *c = t->configs; c; c = c->next)
        if (strcmp(c->ca_file, ca_file) == 0)
            return &c->conf;
    struct tls_config *c = xcalloc(1, sizeof *c);
    mbedtls_x509_crt_init(&c->ca);
    mbedtls_ssl_config_init(&c->conf);
    /* a bundle may hold a certificate mbedtls cannot read: > 0 is how many were skipped */
    int r = mbedtls_x509_crt_parse_file(&c->ca, ca_file);
    if (r < 0 || c->ca.version == 0) {
        strerr(r, err, errlen, "cannot load the CA file");
        goto fail;
    }
    r = mbedtls_ssl_config_defaults(&c->conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                    MBEDTLS_SSL_PRESET_DEFAULT);
    if (r != 0) {
        strerr(r, err, errlen, "cannot set up TLS");
        goto fail;
    }
    mbedtls_ssl_conf_rng(&c->conf, mbedtls_ctr_drbg_random, &t->rng.drbg);
    mbedtls_ssl_conf_min_version(&c->conf, MBEDTLS_SSL_MAJOR_VERSION_3,
                                 MBEDTLS_SSL_MINOR_VERSION_3);
    mbedtls_ssl_conf_authmode(&c->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    mbedtls_ssl_conf_ca_chain(&c->conf, &c->ca, NULL);
    mbedtls_ssl_conf_renegotiation(&c->conf, MBEDTLS_SSL_RENEGOTIATION_DISABLED);
    c->ca_file = xstrdup(ca_file);
    c->next = t->configs;
    t->configs = c;
    return &c->conf;
fail:
    mbedtls_ssl_config_free(&c->conf);
    mbedtls_x509_crt_free(&c->ca);
    free(c);
    return NULL;
}

static int bio_send(void *arg, const unsigned char *buf, size_t len)
{
    struct fdn_hc_tls_conn *c = arg;
    return evbuffer_add(c->cout, buf, len) < 0 ? MBEDTLS_ERR_SSL_ALLOC_FAILED : (int)len;
}

static int bio_recv(void *arg, unsigned char *buf, size_t len)
{
    struct fdn_hc_tls_conn *c = arg;
    int n = evbuffer_remove(c->cin, buf, len);
    return n > 0 ? n : MBEDTLS_ERR_SSL_WANT_READ;
}

struct fdn_hc_tls_conn *fdn_hc_tls_conn_new(void *config, const char *host, struct evbuffer *cin,
                                            struct evbuffer *cout)
{
    struct fdn_hc_tls_conn *c = xcalloc(1, sizeof *c);
    mbedtls_ssl_init(&c->ssl);
    c->cin = cin;
    c->cout = cout;
    /* a name goes into SNI and the certificate must hold it (mbedtls checks); an address is not
     * sent as SNI (RFC 6066), and mbedtls 2.28 does not match IP SANs: ip_named does */
    if (inet_pton(AF_INET, host, c->ip) == 1)
        c->ip_len = 4;
    else if (inet_pton(AF_INET6, host, c->ip) == 1)
        c->ip_len = 16;
    if (mbedtls_ssl_setup(&c->ssl, config) != 0 ||
        (!c->ip_len && mbedtls_ssl_set_hostname(&c->ssl, host) != 0)) {
        fdn_error("http client: cannot start a TLS session");
        abort(); /* allocation only */
    }
    mbedtls_ssl_set_bio(&c->ssl, c, bio_send, bio_recv, NULL);
    return c;
}

void fdn_hc_tls_conn_free(struct fdn_hc_tls_conn *c)
{
    if (!c)
        return;
    mbedtls_ssl_free(&c->ssl);
    free(c);
}

/* The peer's certificate holds the address among its subjectAltName iPAddress entries. */
static int ip_named(struct fdn_hc_tls_conn *c)
{
    const mbedtls_x509_crt *crt = mbedtls_ssl_get_peer_cert(&c->ssl);
    if (!crt)
        return 0;
    for (const mbedtls_x509_sequence *s = &crt->subject_alt_names; s && s->buf.p; s = s->next)
        if (s->buf.tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7) && s->buf.len == c->ip_len &&
            memcmp(s->buf.p, c->ip, c->ip_len) == 0)
            return 1;
    return 0;
}

static int handshake_failed(struct fdn_hc_tls_conn *c, int r, char *err, size_t errlen)
{
    uint32_t flags = mbedtls_ssl_get_verify_result(&c->ssl);
    if (r == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED && flags != 0 && flags != (uint32_t)-1) {
        char info[200];
        mbedtls_x509_crt_verify_info(info, sizeof info, "", flags);
        info[strcspn(info, "\n")] = 0;
        snprintf(err, errlen, "TLS certificate not trusted: %s", info);
    } else
        strerr(r, err, errlen, "TLS handshake failed");
    return -1;
}

int fdn_hc_tls_conn_pump(struct fdn_hc_tls_conn *c, struct evbuffer *pout, struct evbuffer *pin,
                         char *err, size_t errlen)
{
    if (!c->established) {
        int r = mbedtls_ssl_handshake(&c->ssl);
        if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE)
            return 0;
        if (r != 0)
            return handshake_failed(c, r, err, errlen);
        if (c->ip_len && !ip_named(c)) {
            snprintf(err, errlen, "TLS certificate not trusted: it does not name this address");
            return -1;
        }
        c->established = 1;
    }
    size_t len;
    while ((len = evbuffer_get_length(pout)) > 0) {
        size_t n = len < READ_CHUNK ? len : READ_CHUNK;
        int r = mbedtls_ssl_write(&c->ssl, evbuffer_pullup(pout, (ev_ssize_t)n), n);
        if (r <= 0) {
            strerr(r, err, errlen, "TLS write failed");
            return -1;
        }
        evbuffer_drain(pout, (size_t)r);
    }
    for (;;) {
        struct evbuffer_iovec v;
        if (evbuffer_reserve_space(pin, READ_CHUNK, &v, 1) < 1)
            abort();
        size_t room = v.iov_len < READ_CHUNK ? v.iov_len : READ_CHUNK;
        int r = mbedtls_ssl_read(&c->ssl, v.iov_base, room);
        v.iov_len = r > 0 ? (size_t)r : 0;
        evbuffer_commit_space(pin, &v, r > 0 ? 1 : 0);
        if (r > 0)
            continue;
        if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE)
            return 0;
        if (r == 0 || r == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY)
            return 1;
        strerr(r, err, errlen, "TLS read failed");
        return -1;
    }
}
