/* test_tls.c: the cluster secret. core/tls.c against RFC 5869, RFC 4231 and RFC 7914 vectors,
 * its constant-time compare and key schedule; TLS sessions pumped by hand; TLS links (core/link.c)
 * on a real event loop, through a recording proxy (no plaintext on the wire); and tagged
 * beacons (core/discovery.c) in a private network namespace (root only, else skipped).
 * Stand-ins for node.c record every dispatch. Every wait is bounded. */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <lauxlib.h>
#include <lualib.h>

#include "beacon.h"
#include "discovery.h"
#include "frame.h"
#include "link.h"
#include "node.h"
#include "tls.h"
#include "util.h"
#include "check.h"
#include "standins.h"

#define MAX_FRAME (64 * 1024)
#define MAX_PENDING (256 * 1024)
#define PING_TIMEOUT 600
#define HANDSHAKE_MS 500
#define MAX_RECS 8192
#define MARKER "PLAINTEXT-MARKER-4711"

/* ---- stand-ins for node.c (standins.h): every dispatch is recorded ---- */

struct rec {
    struct fdn_node *to;
    char kind[8]; /* "frame", "link" or "beacon" */
    uint64_t link;
    int type;
    uint32_t id;
    char what[16], s[64], detail[160];
    size_t body_len;
    uint32_t body_hash;
    char body[128];
    char node[33]; /* beacon */
    long long boot, seq;
};

static struct rec recs[MAX_RECS], recorded; /* the dispatch being recorded */
static int nrecs;
static void (*hook)(const struct rec *r); /* runs inside the dispatch, after recording */

static uint32_t fnv(const void *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ ((const uint8_t *)p)[i]) * 16777619u;
    return h;
}

/* The door of standins.h hands every dispatch here, then calls after_dispatch. */
static void record_dispatch(struct fdn_node *n, int base, int nargs)
{
    lua_State *L = n->L;
    struct rec r = {.to = n};
    snprintf(r.kind, sizeof r.kind, "%s", lua_tostring(L, base));
    if (strcmp(r.kind, "beacon") == 0) {
        CHECK(nargs == 7);
        snprintf(r.node, sizeof r.node, "%s", lua_tostring(L, base + 1));
        r.boot = lua_tointeger(L, base + 2);
        r.seq = lua_tointeger(L, base + 3);
    } else if (strcmp(r.kind, "frame") == 0) {
        CHECK(nargs == 5);
        r.link = (uint64_t)lua_tointeger(L, base + 1);
        r.type = (int)lua_tointeger(L, base + 2);
        r.id = (uint32_t)lua_tointeger(L, base + 4);
        const char *b = lua_tolstring(L, base + 5, &r.body_len);
        r.body_hash = fnv(b, r.body_len);
        memcpy(r.body, b, r.body_len < sizeof r.body - 1 ? r.body_len : sizeof r.body - 1);
    } else {
        CHECK(strcmp(r.kind, "link") == 0 && nargs >= 3);
        r.link = (uint64_t)lua_tointeger(L, base + 1);
        snprintf(r.what, sizeof r.what, "%s", lua_tostring(L, base + 2));
        snprintf(r.s, sizeof r.s, "%s", lua_tostring(L, base + 3));
        if (nargs >= 4 && !lua_isinteger(L, base + 4))
            snprintf(r.detail, sizeof r.detail, "%s", lua_tostring(L, base + 4));
    }
    recorded = r;
}

static void after_dispatch(void)
{
    if (nrecs < MAX_RECS)
        recs[nrecs++] = recorded;
    if (hook)
        hook(&recs[nrecs - 1]);
}

/* ---- helpers ---- */

static struct event_base *base;
static lua_State *L;
static struct event *beat; /* wakes the loop at least every 10 ms: run_until looks that often */

static void beat_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

static const struct rec *find_event(struct fdn_node *n, uint64_t link, const char *what)
{
    for (int i = 0; i < nrecs; i++)
        if (recs[i].to == n && strcmp(recs[i].kind, "link") == 0 &&
            (!link || recs[i].link == link) && strcmp(recs[i].what, what) == 0)
            return &recs[i];
    return NULL;
}

static int count_frames(struct fdn_node *n, uint64_t link, int type)
{
    int c = 0;
    for (int i = 0; i < nrecs; i++)
        c += recs[i].to == n && strcmp(recs[i].kind, "frame") == 0 && recs[i].link == link &&
             (!type || recs[i].type == type);
    return c;
}

static struct fdn_node *w_node;
static uint64_t w_link;
static const char *w_what;
static int w_count, w_since;

static int have_event(void)
{
    return find_event(w_node, w_link, w_what) != NULL;
}

static const struct rec *await(struct fdn_node *n, uint64_t link, const char *what, int ms)
{
    w_node = n;
    w_link = link;
    w_what = what;
    run_until(base, have_event, ms);
    return find_event(n, link, what);
}

static int have_frames(void)
{
    return count_frames(w_node, w_link, 0) >= w_count;
}

static int await_frames(struct fdn_node *n, uint64_t link, int count, int ms)
{
    w_node = n;
    w_link = link;
    w_count = count;
    return run_until(base, have_frames, ms);
}

static int have_accept(void)
{
    for (int i = w_since; i < nrecs; i++)
        if (recs[i].to == w_node && strcmp(recs[i].what, "accept") == 0)
            return 1;
    return 0;
}

/* The first link n accepted from event index since on, or 0. */
static uint64_t await_accept(struct fdn_node *n, int since, int ms)
{
    w_node = n;
    w_since = since;
    run_until(base, have_accept, ms);
    for (int i = since; i < nrecs; i++)
        if (recs[i].to == n && strcmp(recs[i].what, "accept") == 0)
            return recs[i].link;
    return 0;
}

static void ready_on_hello(const struct rec *r)
{
    if (strcmp(r->kind, "frame") == 0 && r->type == FDN_FRAME_HELLO)
        CHECK(fdn_links_ready(r->to->links, r->link) == 0);
}

static int find_bytes(const uint8_t *hay, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(hay + i, needle, k) == 0)
            return 1;
    return 0;
}

static void hex(const char *s, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(s + 2 * i, "%2x", &v);
        out[i] = (uint8_t)v;
    }
}

/* ---- the primitives ---- */

static void test_vectors(void)
{
    uint8_t ikm[22], salt[13], info[10], okm[42], want[42], mac[32], wmac[32];
    memset(ikm, 0x0b, sizeof ikm);
    for (int i = 0; i < 13; i++)
        salt[i] = (uint8_t)i;
    for (int i = 0; i < 10; i++)
        info[i] = (uint8_t)(0xf0 + i);
    /* RFC 5869, A.1 and A.3 */
    CHECK(fdn_tls_hkdf(salt, sizeof salt, ikm, sizeof ikm, info, sizeof info, okm, 42) == 0);
    hex("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
        want, 42);
    CHECK(memcmp(okm, want, 42) == 0);
    CHECK(fdn_tls_hkdf(NULL, 0, ikm, sizeof ikm, NULL, 0, okm, 42) == 0);
    hex("8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8",
        want, 42);
    CHECK(memcmp(okm, want, 42) == 0);
    CHECK(fdn_tls_hkdf(NULL, 0, ikm, sizeof ikm, NULL, 0, okm, 0) == -1);
    static uint8_t big[255 * 32 + 1];
    CHECK(fdn_tls_hkdf(NULL, 0, ikm, sizeof ikm, NULL, 0, big, sizeof big) == -1);
    CHECK(fdn_tls_hkdf(NULL, 0, ikm, sizeof ikm, NULL, 0, big, sizeof big - 1) == 0);

    /* RFC 4231, test cases 1, 2 and 6 */
    uint8_t key[131];
    memset(key, 0x0b, 20);
    fdn_tls_hmac(key, 20, (const uint8_t *)"Hi There", 8, mac);
    hex("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7", wmac, 32);
    CHECK(memcmp(mac, wmac, 32) == 0);
    const char *jefe = "what do ya want for nothing?";
    fdn_tls_hmac((const uint8_t *)"Jefe", 4, (const uint8_t *)jefe, strlen(jefe), mac);
    hex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", wmac, 32);
    CHECK(memcmp(mac, wmac, 32) == 0);
    memset(key, 0xaa, sizeof key);
    const char *tc6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    fdn_tls_hmac(key, sizeof key, (const uint8_t *)tc6, strlen(tc6), mac);
    hex("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54", wmac, 32);
    CHECK(memcmp(mac, wmac, 32) == 0);

    /* PBKDF2-HMAC-SHA256: RFC 7914 section 11 (the first two), and NULs in both inputs (the
     * value from Python's hashlib.pbkdf2_hmac) */
    uint8_t dk[64], wdk[64];
    CHECK(fdn_tls_pbkdf2((const uint8_t *)"passwd", 6, (const uint8_t *)"salt", 4, 1, dk, 64) == 0);
    hex("55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
        "49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783",
        wdk, 64);
    CHECK(memcmp(dk, wdk, 64) == 0);
    CHECK(fdn_tls_pbkdf2((const uint8_t *)"Password", 8, (const uint8_t *)"NaCl", 4, 80000, dk,
                         64) == 0);
    hex("4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56"
        "a1d425a1225833549adb841b51c9b3176a272bdebba1d078478f62b397f33c8d",
        wdk, 64);
    CHECK(memcmp(dk, wdk, 64) == 0);
    CHECK(fdn_tls_pbkdf2((const uint8_t *)"pass\0word", 9, (const uint8_t *)"sa\0lt", 5, 4096, dk,
                         40) == 0);
    hex("89b69d0516f829893c696226650a86878c029ac13ee276509d5ae58b6466a72422433a5c04e21eb0", wdk,
        40);
    CHECK(memcmp(dk, wdk, 40) == 0);
    CHECK(fdn_tls_pbkdf2((const uint8_t *)"pw", 2, (const uint8_t *)"s", 1, 0, dk, 32) == -1);
    CHECK(fdn_tls_pbkdf2((const uint8_t *)"pw", 2, (const uint8_t *)"s", 1, 1, dk, 0) == -1);
}

static double time_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
    double best = 1e9;
    for (int i = 0; i < 7; i++) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        CHECK(fdn_tls_equal(a, b, n) == 0);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double t = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        best = t < best ? t : best;
    }
    return best;
}

static void test_equal(void)
{
    uint8_t a[64], b[64];
    CHECK(getrandom(a, sizeof a, 0) == (ssize_t)sizeof a);
    memcpy(b, a, sizeof b);
    CHECK(fdn_tls_equal(a, b, sizeof a) == 1);
    CHECK(fdn_tls_equal(a, b, 0) == 1);
    int all = 1;
    for (size_t i = 0; i < sizeof a; i++) {
        for (int bit = 0; bit < 8; bit++) {
            b[i] ^= (uint8_t)(1 << bit);
            all &= fdn_tls_equal(a, b, sizeof a) == 0;
            b[i] ^= (uint8_t)(1 << bit);
        }
    }
    CHECK(all);
    /* the time does not depend on where the first difference is (loosely: no early exit) */
    size_t n = 4 << 20;
    uint8_t *x = xcalloc(1, n), *y = xcalloc(1, n), *z = xcalloc(1, n);
    y[0] = 1;
    z[n - 1] = 1;
    double first = time_equal(x, y, n), last = time_equal(x, z, n);
    if (!CHECK(first > last / 3 && first < last * 3))
        fprintf(stderr, "  difference at the start: %.6f s, at the end: %.6f s\n", first, last);
    free(x);
    free(y);
    free(z);
}

static void test_derive(void)
{
    const char *s = "correct horse battery staple";
    struct fdn_tls_keys k1, k2, k3; /* each derivation costs FDN_TLS_PBKDF2_ITERATIONS */
    fdn_tls_derive(s, strlen(s), "default", &k1);
    fdn_tls_derive("correct horse battery staplf", strlen(s), "default", &k2);
    fdn_tls_derive(s, strlen(s), "other", &k3);
    CHECK(memcmp(k1.discovery, k1.link, sizeof k1.link) != 0);
    CHECK(memcmp(k1.discovery, k2.discovery, 32) != 0 && memcmp(k1.link, k2.link, 32) != 0);
    /* the key schedule of protocol version 2 is pinned: changing it splits clusters. The values
     * come from Python's hashlib.pbkdf2_hmac (200000 iterations, salt "fdnode cluster key
     * v2:default") and an HKDF written on its hmac module (salt "fdnode cluster secret v1",
     * info "fdnode discovery v1" and "fdnode link psk v1"), not from this code */
    CHECK(FDN_TLS_PBKDF2_ITERATIONS == 200000);
    uint8_t want[32];
    hex("19c4661246406fde8795b6f1dcdeb566793db1bd9bb6d3bca1d51661831a30dc", want, 32);
    CHECK(memcmp(k1.discovery, want, 32) == 0);
    hex("7ae11353bfdd9a15dadf481a298067407392aed7cbb3cd244172db1dbc9b5a42", want, 32);
    CHECK(memcmp(k1.link, want, 32) == 0);
    /* another --key salts the same secret otherwise */
    hex("855931f0b27f2eb31bb98f717163f189d2bfa5f52dcb4721a793626a1a3e8fac", want, 32);
    CHECK(memcmp(k3.discovery, want, 32) == 0);
    hex("8bac8cd2388896e9b96d7e1436be7c0d2f446134ebd23f0a03939bc645e92fcf", want, 32);
    CHECK(memcmp(k3.link, want, 32) == 0);
}

/* ---- sessions pumped by hand: the wire is ours ---- */

struct end {
    struct fdn_tls_conn *c;
    struct evbuffer *cin, *cout, *pin, *pout;
    int rc; /* last fdn_tls_conn_read */
};

static struct evbuffer *wire; /* every byte that crossed, both ways */

static void end_init(struct end *e, struct fdn_tls *t, int server)
{
    e->cin = evbuffer_new();
    e->cout = evbuffer_new();
    e->pin = evbuffer_new();
    e->pout = evbuffer_new();
    e->c = fdn_tls_conn_new(t, server, e->cin, e->cout);
    e->rc = 0;
}

static void end_free(struct end *e)
{
    fdn_tls_conn_free(e->c);
    evbuffer_free(e->cin);
    evbuffer_free(e->cout);
    evbuffer_free(e->pin);
    evbuffer_free(e->pout);
}

/* Moves a's output to b's input (recording it), then lets b read. */
static void deliver(struct end *a, struct end *b)
{
    size_t n = evbuffer_get_length(a->cout);
    if (n) {
        uint8_t *p = evbuffer_pullup(a->cout, (ev_ssize_t)n);
        evbuffer_add(wire, p, n);
    }
    evbuffer_add_buffer(b->cin, a->cout);
    if (b->rc >= 0)
        b->rc = fdn_tls_conn_read(b->c, b->pin);
}

/* Rounds of client -> server -> client until both are established, one fails or 10 pass. */
static void pump(struct end *c, struct end *s)
{
    if (c->rc >= 0)
        c->rc = fdn_tls_conn_read(c->c, c->pin); /* the client speaks first */
    for (int i = 0; i < 10; i++) {
        deliver(c, s);
        deliver(s, c);
        if (c->rc < 0 || s->rc < 0)
            return;
    }
}

static void test_sessions(void)
{
    struct fdn_tls *t1, *t2, *other;
    const char *secret = "a secret of the test suite";
    CHECK(fdn_tls_new(secret, strlen(secret), "default", &t1) == 0);
    CHECK(fdn_tls_new(secret, strlen(secret), "default", &t2) == 0);
    CHECK(fdn_tls_new("another secret", 14, "default", &other) == 0);
    CHECK(memcmp(fdn_tls_discovery_key(t1), fdn_tls_discovery_key(t2), 32) == 0);
    wire = evbuffer_new();

    /* the handshake, and data both ways */
    struct end c, s;
    end_init(&c, t1, 0);
    end_init(&s, t2, 1);
    evbuffer_add_printf(c.pout, "early %s", MARKER);
    CHECK(fdn_tls_conn_write(c.c, c.pout) == FDN_TLS_OK);
    CHECK(evbuffer_get_length(c.pout) > 0 && evbuffer_get_length(c.cout) == 0); /* waits */
    pump(&c, &s);
    CHECK(c.rc == FDN_TLS_OK && s.rc == FDN_TLS_OK);
    CHECK(fdn_tls_conn_established(c.c) && fdn_tls_conn_established(s.c));
    CHECK(evbuffer_get_length(c.pin) == 0 && evbuffer_get_length(s.pin) == 0);
    CHECK(fdn_tls_conn_write(c.c, c.pout) == FDN_TLS_OK && evbuffer_get_length(c.pout) == 0);
    deliver(&c, &s);
    CHECK(s.rc == FDN_TLS_OK && evbuffer_get_length(s.pin) == strlen("early " MARKER));
    CHECK(find_bytes(evbuffer_pullup(s.pin, -1), evbuffer_get_length(s.pin), MARKER));
    evbuffer_drain(s.pin, evbuffer_get_length(s.pin));
    static uint8_t big[100000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)(i * 7);
    memcpy(big + 50000, MARKER, strlen(MARKER));
    evbuffer_add(s.pout, big, sizeof big);
    CHECK(fdn_tls_conn_write(s.c, s.pout) == FDN_TLS_OK);
    size_t cipher = evbuffer_get_length(s.cout);
    CHECK(cipher > sizeof big && cipher < sizeof big + 7 * 64); /* 7 records of <= 16 KiB */
    deliver(&s, &c);
    CHECK(c.rc == FDN_TLS_OK && evbuffer_get_length(c.pin) == sizeof big);
    CHECK(memcmp(evbuffer_pullup(c.pin, -1), big, sizeof big) == 0);
    /* not one plaintext byte crossed */
    CHECK(evbuffer_get_length(wire) > sizeof big);
    CHECK(!find_bytes(evbuffer_pullup(wire, -1), evbuffer_get_length(wire), MARKER));
    CHECK(!find_bytes(evbuffer_pullup(wire, -1), evbuffer_get_length(wire), "early"));
    CHECK(find_bytes(evbuffer_pullup(wire, -1), evbuffer_get_length(wire), FDN_TLS_PSK_IDENTITY));

    /* a record changed in flight is refused */
    evbuffer_add(c.pout, "tampered", 8);
    CHECK(fdn_tls_conn_write(c.c, c.pout) == FDN_TLS_OK);
    uint8_t *p = evbuffer_pullup(c.cout, -1);
    p[evbuffer_get_length(c.cout) - 3] ^= 1;
    deliver(&c, &s);
    CHECK(s.rc == FDN_TLS_ERECORD && *fdn_tls_conn_error(s.c));
    CHECK(evbuffer_get_length(s.pin) == 0);
    end_free(&c);
    end_free(&s);

    /* close_notify: the plaintext before it, then EOF */
    end_init(&c, t1, 0);
    end_init(&s, t2, 1);
    pump(&c, &s);
    evbuffer_add(c.pout, "last words", 10);
    CHECK(fdn_tls_conn_write(c.c, c.pout) == FDN_TLS_OK);
    fdn_tls_conn_close(c.c);
    deliver(&c, &s);
    CHECK(s.rc == FDN_TLS_EOF && evbuffer_get_length(s.pin) == 10);
    end_free(&c);
    end_free(&s);

    /* another secret: the server fails the handshake, the client never completes it */
    end_init(&c, t1, 0);
    end_init(&s, other, 1);
    pump(&c, &s);
    CHECK(s.rc == FDN_TLS_EHANDSHAKE);
    CHECK(!fdn_tls_conn_established(c.c) && !fdn_tls_conn_established(s.c));
    printf("another secret: server \"%s\"; client %d \"%s\"\n", fdn_tls_conn_error(s.c), c.rc,
           fdn_tls_conn_error(c.c));
    deliver(&s, &c); /* the server's alert, if any */
    CHECK(!fdn_tls_conn_established(c.c));
    end_free(&c);
    end_free(&s);
    /* ... and the other way round */
    end_init(&c, other, 0);
    end_init(&s, t2, 1);
    pump(&c, &s);
    CHECK(s.rc == FDN_TLS_EHANDSHAKE && !fdn_tls_conn_established(c.c));
    end_free(&c);
    end_free(&s);

    /* not TLS at all: a plaintext frame */
    end_init(&s, t2, 1);
    uint8_t h[FDN_FRAME_HEADER];
    fdn_frame_header(h, FDN_FRAME_HELLO, 0, 0, 2);
    evbuffer_add(s.cin, h, sizeof h);
    evbuffer_add(s.cin, "{}", 2);
    CHECK(fdn_tls_conn_read(s.c, s.pin) == FDN_TLS_EHANDSHAKE);
    CHECK(evbuffer_get_length(s.pin) == 0);
    end_free(&s);

    /* application data before the handshake is over: refused, never handed on */
    end_init(&c, t1, 0);
    end_init(&s, t2, 1);
    CHECK(fdn_tls_conn_read(c.c, c.pin) == FDN_TLS_OK); /* ClientHello */
    static const uint8_t appdata[] = {23, 3, 3, 0, 5, 'h', 'e', 'l', 'l', 'o'};
    evbuffer_add(c.cout, appdata, sizeof appdata);
    deliver(&c, &s);
    deliver(&s, &c);
    deliver(&c, &s);
    CHECK(s.rc == FDN_TLS_EHANDSHAKE || !fdn_tls_conn_established(s.c));
    CHECK(evbuffer_get_length(s.pin) == 0);
    end_free(&c);
    end_free(&s);

    evbuffer_free(wire);
    fdn_tls_free(t1);
    fdn_tls_free(t2);
    fdn_tls_free(other);
    fdn_tls_free(NULL);
    fdn_tls_conn_free(NULL);
}

/* ---- a recording TCP proxy: client -> listen port -> target ---- */

struct proxy {
    int lfd, cfd, sfd, port, target;
    struct event *lev, *cev, *sev;
    struct evbuffer *seen;
};

static void proxy_close(struct proxy *p)
{
    struct event **evs[] = {&p->cev, &p->sev};
    for (int i = 0; i < 2; i++)
        if (*evs[i]) {
            event_free(*evs[i]);
            *evs[i] = NULL;
        }
    if (p->cfd >= 0)
        close(p->cfd);
    if (p->sfd >= 0)
        close(p->sfd);
    p->cfd = p->sfd = -1;
}

static void send_all(int fd, const uint8_t *b, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        b += w;
        n -= (size_t)w;
    }
}

static void proxy_data_cb(evutil_socket_t fd, short what, void *arg)
{
    struct proxy *p = arg;
    (void)what;
    uint8_t buf[65536];
    ssize_t r = recv(fd, buf, sizeof buf, 0);
    if (r <= 0) {
        if (r < 0 && errno == EAGAIN)
            return;
        proxy_close(p); /* either end gone: both go */
        return;
    }
    evbuffer_add(p->seen, buf, (size_t)r);
    send_all(fd == p->cfd ? p->sfd : p->cfd, buf, (size_t)r);
}

static void proxy_accept_cb(evutil_socket_t fd, short what, void *arg)
{
    struct proxy *p = arg;
    (void)what;
    int c = accept(fd, NULL, NULL);
    if (c < 0)
        return;
    if (p->cfd >= 0) { /* one pair at a time */
        close(c);
        return;
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p->target)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a) < 0) {
        close(c);
        if (s >= 0)
            close(s);
        return;
    }
    evutil_make_socket_nonblocking(c);
    evutil_make_socket_nonblocking(s);
    p->cfd = c;
    p->sfd = s;
    p->cev = event_new(base, c, EV_READ | EV_PERSIST, proxy_data_cb, p);
    p->sev = event_new(base, s, EV_READ | EV_PERSIST, proxy_data_cb, p);
    event_add(p->cev, NULL);
    event_add(p->sev, NULL);
}

static void proxy_open(struct proxy *p, int target)
{
    memset(p, 0, sizeof *p);
    p->cfd = p->sfd = -1;
    p->target = target;
    p->seen = evbuffer_new();
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof a;
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    p->lfd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(bind(p->lfd, (struct sockaddr *)&a, sizeof a) == 0 && listen(p->lfd, 4) == 0);
    CHECK(getsockname(p->lfd, (struct sockaddr *)&a, &len) == 0);
    p->port = ntohs(a.sin_port);
    p->lev = event_new(base, p->lfd, EV_READ | EV_PERSIST, proxy_accept_cb, p);
    event_add(p->lev, NULL);
}

static void proxy_free(struct proxy *p)
{
    proxy_close(p);
    event_free(p->lev);
    close(p->lfd);
    evbuffer_free(p->seen);
}

/* Stops (or resumes) reading from the client: its output piles up. */
static void proxy_pause(struct proxy *p, int on)
{
    if (!p->cev)
        return;
    if (on)
        event_del(p->cev);
    else
        event_add(p->cev, NULL);
}

/* ---- TLS links on the event loop ---- */

static struct fdn_node A, B, P; /* A: secret 1; B: secret 2; P: no secret */
static int portA, portB, portP;

static void make_node(struct fdn_node *n, const char *secret)
{
    memset(n, 0, sizeof *n);
    n->base = base;
    n->L = L;
    n->cfg.max_frame = MAX_FRAME;
    n->cfg.max_pending = MAX_PENDING;
    n->cfg.ping_timeout_ms = PING_TIMEOUT;
    if (secret)
        CHECK(fdn_tls_new(secret, strlen(secret), "default", &n->tls) == 0);
    n->links = fdn_links_new(n);
    fdn_links_set_deadlines(n->links, 1000, HANDSHAKE_MS);
}

static void free_node(struct fdn_node *n)
{
    fdn_links_free(n->links);
    n->links = NULL;
    fdn_tls_free(n->tls);
    n->tls = NULL;
}

/* A pair of A's links, the outbound one through proxy px (or direct when NULL), ready. */
static void tls_pair(struct proxy *px, uint64_t *out, uint64_t *in)
{
    int since = nrecs;
    CHECK(fdn_links_connect(A.links, "127.0.0.1", px ? px->port : portA, out) == 0);
    *in = await_accept(&A, since, 2000);
    CHECK(*in != 0);
    CHECK(await(&A, *out, "up", 2000) != NULL);
    hook = ready_on_hello;
    CHECK(fdn_links_send(A.links, *out, FDN_FRAME_HELLO, 0, 0, "{\"hi\":\"" MARKER "\"}",
                         strlen(MARKER) + 9) == 0);
    CHECK(fdn_links_send(A.links, *in, FDN_FRAME_HELLO, 0, 0, "{}", 2) == 0);
    CHECK(await_frames(&A, *in, 1, 2000));
    CHECK(await_frames(&A, *out, 1, 2000));
    hook = NULL;
    struct fdn_link_info i1, i2;
    CHECK(fdn_links_info(A.links, *out, &i1) == 0 && i1.ready && i1.secure && !i1.inbound);
    CHECK(fdn_links_info(A.links, *in, &i2) == 0 && i2.ready && i2.secure && i2.inbound);
}

static void test_link_traffic(void)
{
    struct proxy px;
    proxy_open(&px, portA);
    struct fdn_link_stats s0, s1;
    fdn_links_stats(A.links, &s0);
    uint64_t out, in;
    tls_pair(&px, &out, &in);
    fdn_links_stats(A.links, &s1);
    CHECK(s1.tls_handshakes == s0.tls_handshakes + 2);
    const struct rec *hello = NULL;
    for (int i = 0; i < nrecs; i++)
        if (recs[i].to == &A && recs[i].link == in && recs[i].type == FDN_FRAME_HELLO)
            hello = &recs[i];
    CHECK(hello && strstr(hello->body, MARKER) != NULL);

    /* frames both ways, one of them over several records */
    CHECK(fdn_links_send(A.links, out, FDN_FRAME_REQ, 0, 7, "{\"q\":\"" MARKER "\"}",
                         strlen(MARKER) + 8) == 0);
    CHECK(await_frames(&A, in, 2, 2000));
    CHECK(strstr(recs[nrecs - 1].body, MARKER) && recs[nrecs - 1].id == 7);
    static char body[MAX_FRAME - FDN_FRAME_MIN_LEN];
    for (size_t i = 0; i < sizeof body; i++)
        body[i] = (char)('a' + i % 26);
    memcpy(body + 30000, MARKER, strlen(MARKER));
    CHECK(fdn_links_send(A.links, in, FDN_FRAME_RES, 0, 7, body, sizeof body) == 0);
    CHECK(await_frames(&A, out, 2, 2000));
    CHECK(recs[nrecs - 1].body_len == sizeof body &&
          recs[nrecs - 1].body_hash == fnv(body, sizeof body));

    /* idle past the ping timeout: encrypted PING/PONG keep the pair alive */
    int before = nrecs;
    run_for(base, PING_TIMEOUT * 5 / 2);
    fdn_links_stats(A.links, &s1);
    CHECK(nrecs == before);
    CHECK(s1.pings_sent >= s0.pings_sent + 4);
    CHECK(fdn_links_send(A.links, out, FDN_FRAME_REQ, 0, 8, "{}", 2) == 0);
    CHECK(await_frames(&A, in, 3, 2000));

    /* close with flush: what is queued arrives, then EOF (close_notify) */
    CHECK(fdn_links_send(A.links, out, FDN_FRAME_EVT, 0, 9, body, sizeof body) == 0);
    CHECK(fdn_links_send(A.links, out, FDN_FRAME_BYE, 0, 0, "{}", 2) == 0);
    CHECK(fdn_links_close(A.links, out, "bye", 1) == 0);
    const struct rec *e = await(&A, in, "down", 3000);
    CHECK(e && strcmp(e->s, "eof") == 0);
    CHECK(count_frames(&A, in, FDN_FRAME_EVT) == 1 && count_frames(&A, in, FDN_FRAME_BYE) == 1);
    CHECK(find_event(&A, out, "down") == NULL);

    /* the wire: plenty of bytes, none of them the plaintext */
    run_for(base, 50);
    size_t n = evbuffer_get_length(px.seen);
    const uint8_t *w = evbuffer_pullup(px.seen, -1);
    CHECK(n > 2 * sizeof body);
    CHECK(!find_bytes(w, n, MARKER));
    CHECK(!find_bytes(w, n, "abcdefghijklmnop"));
    CHECK(!find_bytes(w, n, "{\"hi\""));
    proxy_free(&px);
}

static void test_link_slow_consumer(void)
{
    struct proxy px;
    proxy_open(&px, portA);
    uint64_t out, in;
    tls_pair(&px, &out, &in);
    proxy_pause(&px, 1); /* out's bytes stop moving */
    static char body[60000];
    size_t max_seen = 0;
    int r = 0;
    for (int sends = 0; sends < 4000 && r == 0; sends++) {
        struct fdn_link_info info;
        r = fdn_links_send(A.links, out, FDN_FRAME_EVT, 0, (uint32_t)sends, body, sizeof body);
        if (r == 0 && fdn_links_info(A.links, out, &info) == 0 && info.pending > max_seen)
            max_seen = info.pending;
        event_base_loop(base, EVLOOP_NONBLOCK);
    }
    CHECK(r == FDN_LINK_ESLOW);
    if (!CHECK(max_seen <= MAX_PENDING && max_seen > MAX_PENDING / 2))
        fprintf(stderr, "  pending at most %zu (r %d)\n", max_seen, r);
    const struct rec *e = await(&A, out, "down", 1000);
    CHECK(e && strcmp(e->s, "slow consumer") == 0);
    proxy_pause(&px, 0);
    e = await(&A, in, "down", 3000);
    CHECK(e != NULL);
    proxy_free(&px);
}

static int tls_failures(struct fdn_node *n)
{
    struct fdn_link_stats s;
    fdn_links_stats(n->links, &s);
    return (int)s.tls_failures;
}

static void test_link_refused(void)
{
    /* another secret: both ends fail the handshake, and no frame reaches either */
    int fa = tls_failures(&A), fb = tls_failures(&B), since = nrecs;
    uint64_t out;
    CHECK(fdn_links_connect(B.links, "127.0.0.1", portA, &out) == 0);
    CHECK(await(&B, out, "up", 2000) != NULL);
    CHECK(fdn_links_send(B.links, out, FDN_FRAME_HELLO, 0, 0, "{\"" MARKER "\":1}",
                         strlen(MARKER) + 6) == 0);
    uint64_t in = await_accept(&A, since, 2000);
    const struct rec *e = await(&A, in, "down", 3000);
    CHECK(e && strcmp(e->s, "tls handshake failed") == 0);
    if (e)
        printf("another secret, server side: %s (%s)\n", e->s, e->detail);
    e = await(&B, out, "down", 3000);
    CHECK(e && strcmp(e->s, "tls handshake failed") == 0);
    if (e)
        printf("another secret, client side: %s (%s)\n", e->s, e->detail);
    CHECK(tls_failures(&A) == fa + 1 && tls_failures(&B) == fb + 1);
    CHECK(count_frames(&A, in, 0) == 0 && count_frames(&B, out, 0) == 0);
    struct fdn_link_stats st;
    fdn_links_stats(A.links, &st);
    CHECK(st.closes[FDN_LINK_R_TLS] >= 1);

    /* no secret, toward a node with one: its HELLO is not TLS */
    since = nrecs;
    CHECK(fdn_links_connect(P.links, "127.0.0.1", portA, &out) == 0);
    CHECK(await(&P, out, "up", 2000) != NULL);
    CHECK(fdn_links_send(P.links, out, FDN_FRAME_HELLO, 0, 0, "{}", 2) == 0);
    in = await_accept(&A, since, 2000);
    e = await(&A, in, "down", 3000);
    CHECK(e && strcmp(e->s, "tls handshake failed") == 0);
    CHECK(await(&P, out, "down", 3000) != NULL);
    CHECK(count_frames(&A, in, 0) == 0);

    /* a secret, toward a node without: its hello is not a frame */
    since = nrecs;
    CHECK(fdn_links_connect(A.links, "127.0.0.1", portP, &out) == 0);
    in = await_accept(&P, since, 2000);
    e = await(&P, in, "down", 3000);
    CHECK(e && strcmp(e->s, "frame too large") == 0);
    e = await(&A, out, "down", 3000);
    CHECK(e && strcmp(e->s, "tls handshake failed") == 0);
    CHECK(count_frames(&P, in, 0) == 0);

    /* a peer that says nothing: the handshake deadline */
    since = nrecs;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)portA)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
    in = await_accept(&A, since, 2000);
    int64_t t0 = now_ms();
    e = await(&A, in, "down", HANDSHAKE_MS + 1000);
    CHECK(e && strcmp(e->s, "handshake timeout") == 0);
    CHECK(now_ms() - t0 >= HANDSHAKE_MS / 2);
    close(fd);

    /* TLS up, but no HELLO: the same deadline covers both */
    since = nrecs;
    CHECK(fdn_links_connect(A.links, "127.0.0.1", portA, &out) == 0);
    in = await_accept(&A, since, 2000);
    run_for(base, 100);
    struct fdn_link_info info;
    CHECK(fdn_links_info(A.links, out, &info) == 0 && info.secure && !info.ready);
    e = await(&A, in, "down", HANDSHAKE_MS + 1000);
    const struct rec *e2 = await(&A, out, "down", 1000);
    CHECK(e && e2); /* the first to reach its deadline closes, the other sees EOF */
    CHECK((e && strcmp(e->s, "handshake timeout") == 0) ||
          (e2 && strcmp(e2->s, "handshake timeout") == 0));

    /* closed with flush before its handshake is over: nothing is sent in plaintext */
    struct proxy px;
    proxy_open(&px, portA);
    since = nrecs;
    CHECK(fdn_links_connect(A.links, "127.0.0.1", px.port, &out) == 0);
    CHECK(await(&A, out, "up", 2000) != NULL);
    CHECK(fdn_links_send(A.links, out, FDN_FRAME_BYE, 0, 0, MARKER, strlen(MARKER)) == 0);
    CHECK(fdn_links_close(A.links, out, "early", 1) == 0);
    in = await_accept(&A, since, 2000);
    CHECK(await(&A, in, "down", 3000) != NULL);
    CHECK(count_frames(&A, in, 0) == 0);
    CHECK(!find_bytes(evbuffer_pullup(px.seen, -1), evbuffer_get_length(px.seen), MARKER));
    proxy_free(&px);
}

/* The warning about a listener open to the network without a secret: once, and only then. */
static int warnings(void (*fn)(void))
{
    fflush(stderr);
    FILE *tmp = tmpfile();
    int saved = dup(2);
    dup2(fileno(tmp), 2);
    int level = fdn_log_level();
    fdn_log_set_level(FDN_LOG_WARN);
    fn();
    fdn_log_set_level(level);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char buf[4096];
    rewind(tmp);
    size_t n = fread(buf, 1, sizeof buf - 1, tmp);
    buf[n] = 0;
    fclose(tmp);
    int count = 0;
    for (char *p = buf; (p = strstr(p, "not on loopback")) != NULL; p++)
        count++;
    return count;
}

static void listen_open_twice(void)
{
    struct fdn_node n;
    make_node(&n, NULL);
    int port;
    CHECK(fdn_links_listen(n.links, "0.0.0.0", 0, &port) == 0);
    fdn_links_stop_listening(n.links);
    CHECK(fdn_links_listen(n.links, "0.0.0.0", 0, &port) == 0);
    free_node(&n);
}

static void listen_loopback(void)
{
    struct fdn_node n;
    make_node(&n, NULL);
    int port;
    CHECK(fdn_links_listen(n.links, "127.0.0.2", 0, &port) == 0);
    free_node(&n);
}

static void listen_open_secret(void)
{
    struct fdn_node n;
    make_node(&n, "s");
    int port;
    CHECK(fdn_links_listen(n.links, "0.0.0.0", 0, &port) == 0);
    free_node(&n);
}

static void test_open_warning(void)
{
    CHECK(warnings(listen_open_twice) == 1);
    CHECK(warnings(listen_loopback) == 0);
    CHECK(warnings(listen_open_secret) == 0);
}

/* ---- tagged beacons ---- */

static struct fdn_node D1, D2, D3, D4; /* D1, D2: secret 1; D3: secret 2; D4: none */
static struct fdn_tls_keys K1, K2;

static void make_dnode(struct fdn_node *n, const uint8_t *key, int tcp_port)
{
    memset(n, 0, sizeof *n);
    n->base = base;
    n->L = L;
    CHECK(getrandom(n->id, sizeof n->id, 0) == (ssize_t)sizeof n->id);
    id_to_hex(n->id, n->id_hex);
    struct fdn_discovery_opts o = {.key = "t", .tcp_port = tcp_port, .send = 1, .auth_key = key};
    CHECK(fdn_discovery_new(n, &o, &n->discovery) == 0);
}

static int beacons(struct fdn_node *to, const char *from_hex, long long boot)
{
    int c = 0;
    for (int i = 0; i < nrecs; i++)
        c += recs[i].to == to && strcmp(recs[i].kind, "beacon") == 0 &&
             strcmp(recs[i].node, from_hex) == 0 && (boot < 0 || recs[i].boot == boot);
    return c;
}

static struct fdn_discovery_stats dstats(struct fdn_node *n)
{
    struct fdn_discovery_stats s;
    fdn_discovery_stats(n->discovery, &s);
    return s;
}

static void sign_k1(const uint8_t *msg, size_t len, uint8_t tag[FDN_BEACON_TAG_LEN], void *arg)
{
    (void)arg;
    fdn_tls_hmac(K1.discovery, sizeof K1.discovery, msg, len, tag);
}

static void send_raw(const uint8_t *buf, size_t len)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct in_addr lo = {htonl(INADDR_LOOPBACK)};
    setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &lo, sizeof lo);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(FDN_DISCOVERY_PORT)};
    inet_pton(AF_INET, FDN_DISCOVERY_GROUP, &to.sin_addr);
    CHECK(sendto(fd, buf, len, 0, (struct sockaddr *)&to, sizeof to) == (ssize_t)len);
    close(fd);
}

/* A forged beacon of node X, tagged with secret 1's key (sign) or not. */
static void send_x(const uint8_t x[16], uint32_t boot, uint32_t seq, int64_t skew, int sign,
                   int tamper)
{
    struct fdn_beacon b = {.boot_id = boot, .seq = seq, .tcp_port = 9, .services_version = 1};
    memcpy(b.node_id, x, 16);
    b.key_hash = fdn_beacon_key_hash("t");
    b.timestamp = (uint32_t)(time(NULL) + skew);
    uint8_t buf[FDN_BEACON_MAX_LEN];
    int len = fdn_beacon_encode_tagged(&b, buf, sizeof buf, sign ? sign_k1 : NULL, NULL);
    if (tamper)
        buf[len - 1] ^= 0x40;
    send_raw(buf, (size_t)len);
}

static int captured_len;
static uint8_t captured[FDN_BEACON_MAX_LEN + 1];

static void test_beacons(void)
{
    fdn_tls_derive("secret one", 10, "default", &K1);
    fdn_tls_derive("secret two", 10, "default", &K2);
    /* a listener of the raw datagrams, to replay one */
    int cap = socket(AF_INET, SOCK_DGRAM, 0);
    int one = 1;
    setsockopt(cap, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(cap, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    struct sockaddr_in g = {.sin_family = AF_INET, .sin_port = htons(FDN_DISCOVERY_PORT)};
    inet_pton(AF_INET, FDN_DISCOVERY_GROUP, &g.sin_addr);
    CHECK(bind(cap, (struct sockaddr *)&g, sizeof g) == 0);
    struct ip_mreqn mr = {.imr_multiaddr = g.sin_addr, .imr_ifindex = (int)if_nametoindex("lo")};
    CHECK(setsockopt(cap, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof mr) == 0);
    evutil_make_socket_nonblocking(cap);

    make_dnode(&D1, K1.discovery, 1001);
    make_dnode(&D2, K1.discovery, 1002);
    make_dnode(&D3, K2.discovery, 1003);
    make_dnode(&D4, NULL, 1004);
    run_for(base, 1500);
    CHECK(dstats(&D1).authenticated && !dstats(&D4).authenticated);
    CHECK(beacons(&D1, D2.id_hex, -1) > 0 && beacons(&D2, D1.id_hex, -1) > 0);
    CHECK(beacons(&D1, D3.id_hex, -1) == 0 && beacons(&D1, D4.id_hex, -1) == 0);
    CHECK(beacons(&D3, D1.id_hex, -1) == 0 && beacons(&D3, D4.id_hex, -1) == 0);
    CHECK(beacons(&D4, D1.id_hex, -1) == 0 && beacons(&D4, D3.id_hex, -1) == 0);
    CHECK(dstats(&D1).unauthenticated > 0); /* D3's (bad tag) and D4's (untagged) */
    CHECK(dstats(&D3).unauthenticated > 0);
    CHECK(dstats(&D4).untrusted > 0);

    /* a beacon of D2 captured and sent again: dropped */
    uint8_t d2[16];
    memcpy(d2, D2.id, 16);
    captured_len = 0;
    for (int i = 0; i < 2000 && !captured_len; i++) {
        ssize_t r = recv(cap, captured, sizeof captured, 0);
        if (r == FDN_BEACON_MAX_LEN && memcmp(captured + 6, d2, 16) == 0)
            captured_len = (int)r;
        else if (r < 0)
            run_for(base, 5);
    }
    CHECK(captured_len == FDN_BEACON_MAX_LEN);
    struct fdn_discovery_stats s0 = dstats(&D1);
    int heard0 = beacons(&D1, D2.id_hex, -1);
    for (int i = 0; i < 3; i++)
        send_raw(captured, (size_t)captured_len);
    run_for(base, 100);
    struct fdn_discovery_stats s1 = dstats(&D1);
    CHECK(s1.duplicate >= s0.duplicate + 3);
    CHECK(beacons(&D1, D2.id_hex, -1) <= heard0 + 1); /* at most D2's own next one */

    /* forged node X, with the right key: heard; then the window and the boot order */
    uint8_t x[16];
    char xhex[33];
    CHECK(getrandom(x, sizeof x, 0) == (ssize_t)sizeof x);
    id_to_hex(x, xhex);
    s0 = dstats(&D1);
    send_x(x, 100, 1, 0, 1, 0);
    run_for(base, 50);
    CHECK(beacons(&D1, xhex, 100) == 1 && beacons(&D4, xhex, -1) == 0);
    send_x(x, 100, 2, -(FDN_DISCOVERY_WINDOW_S + 20), 1, 0); /* too old */
    send_x(x, 100, 3, FDN_DISCOVERY_WINDOW_S + 20, 1, 0);    /* from the future */
    run_for(base, 50);
    s1 = dstats(&D1);
    CHECK(s1.stale == s0.stale + 2);
    send_x(x, 200, 1, 0, 1, 0); /* X restarted */
    run_for(base, 50);
    CHECK(beacons(&D1, xhex, 200) == 1);
    send_x(x, 100, 9, -5, 1, 0); /* the old boot again, replayed */
    run_for(base, 50);
    s1 = dstats(&D1);
    CHECK(s1.replayed == s0.replayed + 1);
    CHECK(beacons(&D1, xhex, 100) == 1);
    send_x(x, 300, 1, 0, 1, 1); /* a tag changed in flight */
    send_x(x, 300, 2, 0, 0, 0); /* no tag */
    run_for(base, 50);
    s1 = dstats(&D1);
    CHECK(s1.unauthenticated >= s0.unauthenticated + 2);
    CHECK(beacons(&D1, xhex, 300) == 0);
    CHECK(beacons(&D4, xhex, 300) == 1); /* without a secret, the untagged one is heard */

    fdn_discovery_free(D1.discovery);
    fdn_discovery_free(D2.discovery);
    fdn_discovery_free(D3.discovery);
    fdn_discovery_free(D4.discovery);
    close(cap);
}

/* ---- benchmark: request/response over one pair, 64 in flight, with and without TLS ---- */

static struct fdn_node *bench_node;
static uint64_t bench_a, bench_b;
static long long bench_done;

static void bench_hook(const struct rec *r)
{
    static const char req[] = "{\"method\":\"get\",\"path\":\"echo\",\"id\":7}";
    static const char res[] = "{\"id\":7,\"text\":\"hello\"}";
    nrecs = 0;
    if (strcmp(r->kind, "frame") != 0)
        return;
    if (r->link == bench_b)
        fdn_links_send(bench_node->links, bench_b, FDN_FRAME_RES, 0, r->id, res, sizeof res - 1);
    else if (r->link == bench_a) {
        bench_done++;
        fdn_links_send(bench_node->links, bench_a, FDN_FRAME_REQ, 0, r->id, req, sizeof req - 1);
    }
}

static void bench(struct fdn_node *n, int port, const char *name, double seconds)
{
    int since = nrecs;
    CHECK(fdn_links_connect(n->links, "127.0.0.1", port, &bench_a) == 0);
    bench_b = await_accept(n, since, 2000);
    CHECK(await(n, bench_a, "up", 2000) != NULL);
    hook = ready_on_hello;
    fdn_links_send(n->links, bench_a, FDN_FRAME_HELLO, 0, 0, "{}", 2);
    fdn_links_send(n->links, bench_b, FDN_FRAME_HELLO, 0, 0, "{}", 2);
    CHECK(await_frames(n, bench_b, 1, 2000) && await_frames(n, bench_a, 1, 2000));
    bench_node = n;
    bench_done = 0;
    for (uint32_t i = 0; i < 64; i++)
        fdn_links_send(n->links, bench_a, FDN_FRAME_REQ, 0, i, "{\"id\":7}", 8);
    hook = bench_hook;
    int64_t t0 = now_ms(), end = t0 + (int64_t)(seconds * 1000);
    while (now_ms() < end)
        event_base_loop(base, EVLOOP_ONCE);
    hook = NULL;
    double s = (double)(now_ms() - t0) / 1000;
    printf("{\"bench\":\"link-%s\",\"concurrency\":64,\"calls\":%lld,\"seconds\":%.2f,"
           "\"calls_per_s\":%.0f}\n",
           name, bench_done, s, bench_done / s);
    fdn_links_close(n->links, bench_a, NULL, 0);
    fdn_links_close(n->links, bench_b, NULL, 0);
}

/* test_tls [--bench SECONDS] */
int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    fdn_log_set_level(getenv("FDN_TEST_VERBOSE") ? FDN_LOG_DEBUG : FDN_LOG_ERROR + 1);
    int netns = enter_netns() == 0; /* before any socket: they would stay outside */
    base = event_base_new();
    L = luaL_newstate();
    beat = event_new(base, -1, EV_PERSIST, beat_cb, NULL);
    struct timeval tv = {0, 10000};
    event_add(beat, &tv);

    if (argc > 1 && strcmp(argv[1], "--bench") == 0) {
        double seconds = argc > 2 ? atof(argv[2]) : 3.0;
        make_node(&A, "secret of node A and its friends");
        make_node(&P, NULL);
        CHECK(fdn_links_listen(A.links, "127.0.0.1", 0, &portA) == 0);
        CHECK(fdn_links_listen(P.links, "127.0.0.1", 0, &portP) == 0);
        bench(&P, portP, "plain", seconds);
        bench(&A, portA, "tls", seconds);
        free_node(&A);
        free_node(&P);
        event_free(beat);
        lua_close(L);
        event_base_free(base);
        return check_summary("test_tls --bench");
    }

    test_vectors();
    test_equal();
    test_derive();
    test_sessions();

    make_node(&A, "secret of node A and its friends");
    make_node(&B, "another secret entirely");
    make_node(&P, NULL);
    CHECK(fdn_links_listen(A.links, "127.0.0.1", 0, &portA) == 0);
    CHECK(fdn_links_listen(B.links, "127.0.0.1", 0, &portB) == 0);
    CHECK(fdn_links_listen(P.links, "127.0.0.1", 0, &portP) == 0);
    test_link_traffic();
    test_link_slow_consumer();
    test_link_refused();
    test_open_warning();
    free_node(&A); /* with links still open or lingering */
    free_node(&B);
    free_node(&P);

    if (netns)
        test_beacons();
    else
        printf("beacons: skipped (needs root for a private network namespace)\n");

    event_free(beat);
    lua_close(L);
    event_base_free(base);
    return check_summary("test_tls");
}
