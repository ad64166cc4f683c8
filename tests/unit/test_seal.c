/* test_seal.c: unit tests of core/seal.c: round trip, the documented format (opened by mbedtls
 * directly), every bit flipped or byte cut refused, keys, subjects, replays, window edges,
 * reordering, freshness, sender restart, the table's bound. `test_seal --bench`: messages/s. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/chachapoly.h>
#include <mbedtls/hkdf.h>
#include <mbedtls/md.h>

#include "check.h"
#include "seal.h"
#include "tls.h"

#define NOW 1764770000000ull /* ms since the epoch */
#define SUBJ "fdn.calls.users"

static uint8_t key1[FDN_SEAL_KEY_LEN], key2[FDN_SEAL_KEY_LEN];

static void id_of(unsigned n, uint8_t id[FDN_SEAL_ID_LEN])
{
    for (int i = 0; i < FDN_SEAL_ID_LEN; i++)
        id[i] = (uint8_t)(0xa0 + i);
    id[12] = (uint8_t)(n >> 24), id[13] = (uint8_t)(n >> 16), id[14] = (uint8_t)(n >> 8),
    id[15] = (uint8_t)n;
}

static void node(struct fdn_seal *s, const uint8_t *key, unsigned n)
{
    uint8_t id[FDN_SEAL_ID_LEN];
    id_of(n, id);
    fdn_seal_init(s, key, id);
}

static uint64_t counter_of(const struct fdn_buf *b)
{
    uint64_t c = 0;
    for (int i = 0; i < 8; i++)
        c = c << 8 | (uint8_t)b->data[1 + FDN_SEAL_ID_LEN + i];
    return c;
}

/* Opens b on SUBJ at now; checks that out grows only on success. */
static int open_at(struct fdn_seal *r, const struct fdn_buf *b, uint64_t now)
{
    struct fdn_buf out;
    fdn_buf_init(&out);
    int rc = fdn_seal_open(r, SUBJ, strlen(SUBJ), b->data, b->len, now, &out, NULL);
    CHECK(out.len == (rc == FDN_SEAL_OK ? b->len - FDN_SEAL_OVERHEAD : 0));
    fdn_buf_free(&out);
    return rc;
}

static void seal(struct fdn_seal *s, const char *msg, uint64_t now, struct fdn_buf *b)
{
    fdn_buf_init(b);
    fdn_seal_put(s, SUBJ, strlen(SUBJ), msg, strlen(msg), now, b);
}

static void test_round_trip(void)
{
    struct fdn_seal a, r;
    node(&a, key1, 1);
    node(&r, key1, 2);
    size_t sizes[] = {0, 1, 100, 65536};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        char *msg = malloc(sizes[k] + 1);
        for (size_t i = 0; i < sizes[k]; i++)
            msg[i] = (char)(i * 7 + k);
        struct fdn_buf b, out;
        fdn_buf_init(&b);
        fdn_buf_init(&out);
        fdn_buf_put(&out, "x", 1); /* the plaintext is appended */
        fdn_seal_put(&a, SUBJ, strlen(SUBJ), msg, sizes[k], NOW, &b);
        CHECK(b.len == sizes[k] + FDN_SEAL_OVERHEAD);
        CHECK(sizes[k] < 16 || memcmp(b.data + FDN_SEAL_HEADER_LEN, msg, 16) != 0);
        uint8_t from[FDN_SEAL_ID_LEN];
        CHECK(fdn_seal_open(&r, SUBJ, strlen(SUBJ), b.data, b.len, NOW, &out, from) == FDN_SEAL_OK);
        CHECK(out.len == sizes[k] + 1 && memcmp(out.data + 1, msg, sizes[k]) == 0);
        CHECK(memcmp(from, a.id, FDN_SEAL_ID_LEN) == 0);
        fdn_buf_free(&b);
        fdn_buf_free(&out);
        free(msg);
    }
    /* a node opens its own messages too (a bus echoes what one publishes) */
    struct fdn_buf b;
    seal(&a, "self", NOW, &b);
    CHECK(open_at(&a, &b, NOW) == FDN_SEAL_OK);
    fdn_buf_free(&b);
    fdn_seal_free(&a);
    fdn_seal_free(&r);
    fdn_seal_free(NULL);
}

/* The header as documented, and the body opened by mbedtls alone with K_s from mbedtls' HKDF. */
static void test_format(void)
{
    struct fdn_seal a;
    node(&a, key1, 7);
    struct fdn_buf b;
    seal(&a, "hello", NOW, &b);
    CHECK((uint8_t)b.data[0] == FDN_SEAL_VERSION);
    CHECK(memcmp(b.data + 1, a.id, FDN_SEAL_ID_LEN) == 0);
    CHECK(counter_of(&b) == NOW << 16);

    uint8_t info[64], ks[32], nonce[12] = {0}, aad[FDN_SEAL_HEADER_LEN + sizeof SUBJ], pt[5];
    size_t il = strlen(FDN_SEAL_INFO_SENDER);
    memcpy(info, FDN_SEAL_INFO_SENDER, il);
    memcpy(info + il, a.id, FDN_SEAL_ID_LEN);
    CHECK(mbedtls_hkdf_expand(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), key1, sizeof key1, info,
                              il + FDN_SEAL_ID_LEN, ks, sizeof ks) == 0);
    CHECK(memcmp(ks, a.key, sizeof ks) == 0);
    memcpy(nonce + 4, b.data + 1 + FDN_SEAL_ID_LEN, 8);
    memcpy(aad, b.data, FDN_SEAL_HEADER_LEN);
    memcpy(aad + FDN_SEAL_HEADER_LEN, SUBJ, strlen(SUBJ));
    mbedtls_chachapoly_context c;
    mbedtls_chachapoly_init(&c);
    CHECK(mbedtls_chachapoly_setkey(&c, ks) == 0);
    CHECK(mbedtls_chachapoly_auth_decrypt(&c, 5, nonce, aad, FDN_SEAL_HEADER_LEN + strlen(SUBJ),
                                          (const uint8_t *)b.data + FDN_SEAL_HEADER_LEN + 5,
                                          (const uint8_t *)b.data + FDN_SEAL_HEADER_LEN, pt) == 0);
    CHECK(memcmp(pt, "hello", 5) == 0);
    mbedtls_chachapoly_free(&c);
    fdn_buf_free(&b);

    /* counters: +1 within a ms, the clock's value when it is ahead, never back with it */
    uint64_t want[] = {(NOW << 16) + 1, (NOW + 5) << 16, ((NOW + 5) << 16) + 1};
    uint64_t at[] = {NOW, NOW + 5, NOW - 1000};
    for (int i = 0; i < 3; i++) {
        seal(&a, "x", at[i], &b);
        CHECK(counter_of(&b) == want[i]);
        fdn_buf_free(&b);
    }
    fdn_seal_free(&a);

    /* the seal key comes from the secret with its own label */
    struct fdn_tls_keys k;
    fdn_tls_derive("s3cret", 6, "", &k);
    CHECK(memcmp(k.seal, k.discovery, FDN_TLS_KEY_LEN) != 0);
    CHECK(memcmp(k.seal, k.link, FDN_TLS_KEY_LEN) != 0);
    uint8_t zero[FDN_TLS_KEY_LEN] = {0};
    CHECK(memcmp(k.seal, zero, sizeof zero) != 0);
}

/* Every bit flipped, every byte cut off or added: refused, and nothing changes on refusal. */
static void test_tamper(void)
{
    struct fdn_seal a, r;
    node(&a, key1, 1);
    node(&r, key1, 2);
    char msg[101];
    memset(msg, 'm', 100);
    msg[100] = 0;
    struct fdn_buf b, known;
    seal(&a, "first", NOW, &known);
    CHECK(open_at(&r, &known, NOW) == FDN_SEAL_OK); /* a known sender too */
    seal(&a, msg, NOW, &b);
    struct fdn_buf out;
    fdn_buf_init(&out);
    int bad = 0;
    for (size_t i = 0; i < 8 * b.len; i++) {
        b.data[i / 8] ^= (char)(1 << (i % 8));
        bad += !CHECK(open_at(&r, &b, NOW) < 0);
        b.data[i / 8] ^= (char)(1 << (i % 8));
    }
    CHECK(bad == 0);
    for (size_t n = 0; n < b.len; n++)
        CHECK(fdn_seal_open(&r, SUBJ, strlen(SUBJ), b.data, n, NOW, &out, NULL) ==
              (n < FDN_SEAL_OVERHEAD ? FDN_SEAL_EMALFORMED : FDN_SEAL_ETAG));
    fdn_buf_putc(&b, 0);
    CHECK(open_at(&r, &b, NOW) == FDN_SEAL_ETAG);
    b.len--;
    CHECK(open_at(&r, &b, NOW) == FDN_SEAL_OK); /* the original still opens */
    CHECK(out.len == 0);
    fdn_buf_free(&out);
    fdn_buf_free(&b);
    fdn_buf_free(&known);
    fdn_seal_free(&a);
    fdn_seal_free(&r);
}

static void test_key_and_subject(void)
{
    struct fdn_seal a, other, r;
    node(&a, key1, 1);
    node(&other, key2, 2);
    node(&r, key1, 3);
    struct fdn_buf b, out;
    fdn_buf_init(&out);
    seal(&a, "payload", NOW, &b);
    CHECK(open_at(&other, &b, NOW) == FDN_SEAL_ETAG);
    const char *subjects[] = {"fdn.calls.user", "fdn.calls.users.", "", "fdn.calls.userS"};
    for (int i = 0; i < 4; i++)
        CHECK(fdn_seal_open(&r, subjects[i], strlen(subjects[i]), b.data, b.len, NOW, &out, NULL) ==
              FDN_SEAL_ETAG);
    CHECK(out.len == 0);
    CHECK(open_at(&r, &b, NOW) == FDN_SEAL_OK);
    fdn_buf_free(&b);
    /* a message of the other cluster, even with a known sender's id, does not open */
    fdn_seal_free(&other);
    node(&other, key2, 1);
    seal(&other, "forged", NOW + 1, &b); /* a counter sender 1 has not used */
    CHECK(open_at(&r, &b, NOW) == FDN_SEAL_ETAG);
    fdn_buf_free(&b);
    /* an empty subject is a subject */
    fdn_buf_init(&b);
    fdn_seal_put(&a, "", 0, "e", 1, NOW, &b);
    CHECK(fdn_seal_open(&r, "", 0, b.data, b.len, NOW, &out, NULL) == FDN_SEAL_OK);
    CHECK(out.len == 1 && out.data[0] == 'e');
    fdn_buf_free(&b);
    fdn_buf_free(&out);
    fdn_seal_free(&a);
    fdn_seal_free(&other);
    fdn_seal_free(&r);
}

#define N 300

/* Messages 0..N-1 of one sender in one ms: counters NOW << 16 + i. */
static void batch(struct fdn_seal *a, struct fdn_buf m[N])
{
    for (int i = 0; i < N; i++) {
        seal(a, "m", NOW, &m[i]);
        CHECK(counter_of(&m[i]) == (NOW << 16) + (uint64_t)i);
    }
}

static void test_window(void)
{
    struct fdn_seal a, r;
    struct fdn_buf m[N];
    node(&a, key1, 1);
    batch(&a, m);

    node(&r, key1, 2);
    CHECK(open_at(&r, &m[10], NOW) == FDN_SEAL_OK);
    CHECK(open_at(&r, &m[10], NOW) == FDN_SEAL_EREPLAY);
    /* the window's edges below the top: 127 back opens, 128 back is too old */
    CHECK(open_at(&r, &m[200], NOW) == FDN_SEAL_OK);
    CHECK(open_at(&r, &m[200 - 127], NOW) == FDN_SEAL_OK);
    CHECK(open_at(&r, &m[200 - 127], NOW) == FDN_SEAL_EREPLAY);
    CHECK(open_at(&r, &m[200 - 128], NOW) == FDN_SEAL_EOLD);
    CHECK(open_at(&r, &m[10], NOW) == FDN_SEAL_EOLD);
    /* reordered within the window: every one opens once, in any order */
    for (int i = 199; i > 200 - 127; i--)
        CHECK(open_at(&r, &m[i], NOW) == FDN_SEAL_OK);
    for (int i = 200 - 127; i <= 200; i++)
        CHECK(open_at(&r, &m[i], NOW) == FDN_SEAL_EREPLAY);
    fdn_seal_free(&r);

    /* the window moved by exactly 64, by 70, by 127, by 128 and more */
    node(&r, key1, 2);
    CHECK(open_at(&r, &m[0], NOW) == FDN_SEAL_OK);
    CHECK(open_at(&r, &m[64], NOW) == FDN_SEAL_OK);
    CHECK(open_at(&r, &m[0], NOW) == FDN_SEAL_EREPLAY);
    CHECK(open_at(&r, &m[1], NOW) == FDN_SEAL_OK);
    CHECK(open_at(&r, &m[134], NOW) == FDN_SEAL_OK);
    CHECK(open_at(&r, &m[1], NOW) == FDN_SEAL_EOLD);
    CHECK(open_at(&r, &m[64], NOW) == FDN_SEAL_EREPLAY);
    CHECK(open_at(&r, &m[65], NOW) == FDN_SEAL_OK);
    CHECK(open_at(&r, &m[7], NOW) == FDN_SEAL_OK); /* 127 back */
    CHECK(open_at(&r, &m[261], NOW) == FDN_SEAL_OK);
    CHECK(open_at(&r, &m[134], NOW) == FDN_SEAL_EREPLAY); /* 127 back, carried over */
    CHECK(open_at(&r, &m[133], NOW) == FDN_SEAL_EOLD);
    CHECK(open_at(&r, &m[135], NOW) == FDN_SEAL_OK);
    struct fdn_buf far;
    seal(&a, "later", NOW + 1, &far); /* 65536 - 300 ahead: the window empties */
    CHECK(open_at(&r, &far, NOW + 1) == FDN_SEAL_OK);
    CHECK(open_at(&r, &m[299], NOW + 1) == FDN_SEAL_EOLD);
    fdn_buf_free(&far);
    fdn_seal_free(&r);
    for (int i = 0; i < N; i++)
        fdn_buf_free(&m[i]);
    fdn_seal_free(&a);
}

static void test_fresh(void)
{
    struct fdn_seal a, r;
    node(&a, key1, 1);
    node(&r, key1, 2);
    struct fdn_buf b;
    seal(&a, "t", NOW, &b);
    CHECK(open_at(&r, &b, NOW + FDN_SEAL_FRESH_MS + 1) == FDN_SEAL_ESTALE);
    CHECK(open_at(&r, &b, NOW - FDN_SEAL_FRESH_MS - 1) == FDN_SEAL_ESTALE);
    CHECK(open_at(&r, &b, 0) == FDN_SEAL_ESTALE);
    CHECK(open_at(&r, &b, UINT64_MAX) == FDN_SEAL_ESTALE);
    CHECK(open_at(&r, &b, NOW + FDN_SEAL_FRESH_MS) == FDN_SEAL_OK);
    fdn_buf_free(&b);
    seal(&a, "t", NOW, &b);
    CHECK(open_at(&r, &b, NOW - FDN_SEAL_FRESH_MS) == FDN_SEAL_OK);
    fdn_buf_free(&b);
    fdn_seal_free(&a);
    fdn_seal_free(&r);
}

/* A sender that restarts with the same id starts above all it sent before, even after sending
 * 70000 messages in its last ms (borrowing 4464 counters from the next ms): a restart within
 * the ms borrowed from is refused as old, one after it opens. */
static void test_restart(void)
{
    struct fdn_seal a, r;
    node(&a, key1, 1);
    node(&r, key1, 2);
    struct fdn_buf b;
    uint64_t last = 0;
    for (int i = 0; i < 70000; i++) {
        fdn_buf_init(&b);
        fdn_seal_put(&a, SUBJ, strlen(SUBJ), "x", 1, NOW, &b);
        last = counter_of(&b);
        if (i % 997 == 0 || i == 69999)
            CHECK(open_at(&r, &b, NOW) == FDN_SEAL_OK);
        fdn_buf_free(&b);
    }
    CHECK(last == (NOW << 16) + 69999 && last > (NOW + 1) << 16);
    fdn_seal_free(&a);
    node(&a, key1, 1); /* restarted: the counter is lost */
    seal(&a, "again", NOW + 1, &b);
    CHECK(counter_of(&b) == (NOW + 1) << 16);
    CHECK(open_at(&r, &b, NOW + 1) == FDN_SEAL_EOLD);
    fdn_buf_free(&b);
    fdn_seal_free(&a);
    node(&a, key1, 1);
    seal(&a, "again", NOW + 2, &b);
    CHECK(counter_of(&b) > last);
    CHECK(open_at(&r, &b, NOW + 2) == FDN_SEAL_OK);
    fdn_buf_free(&b);
    fdn_seal_free(&a);
    fdn_seal_free(&r);
}

/* At most FDN_SEAL_SENDERS senders are remembered, the least recently heard forgotten first;
 * forged messages with new ids never enter. */
static void test_table(void)
{
    enum { MANY = FDN_SEAL_SENDERS + 1 };
    struct fdn_seal r, a;
    static struct fdn_buf first[MANY], second;
    node(&r, key1, 0);
    for (unsigned i = 1; i <= MANY; i++) {
        node(&a, key1, i);
        seal(&a, "hi", NOW, &first[i - 1]);
        if (i == 1)
            seal(&a, "again", NOW, &second);
        fdn_seal_free(&a);
    }
    for (unsigned i = 1; i < FDN_SEAL_SENDERS; i++) /* senders 1..4095 */
        CHECK(open_at(&r, &first[i - 1], NOW) == FDN_SEAL_OK);
    CHECK(r.used == FDN_SEAL_SENDERS - 1 && r.evicted == 0);
    /* forged: another key, ids never seen */
    node(&a, key2, 100000);
    struct fdn_buf f;
    seal(&a, "fake", NOW, &f);
    for (unsigned i = 0; i < 20000; i++) {
        memcpy(f.data + 1 + FDN_SEAL_ID_LEN - 4, &i, 4);
        CHECK(open_at(&r, &f, NOW) == FDN_SEAL_ETAG);
    }
    fdn_buf_free(&f);
    fdn_seal_free(&a);
    CHECK(r.used == FDN_SEAL_SENDERS - 1);
    CHECK(open_at(&r, &second, NOW) == FDN_SEAL_OK); /* sender 1 heard again: most recent */
    CHECK(open_at(&r, &first[FDN_SEAL_SENDERS - 1], NOW) == FDN_SEAL_OK); /* 4096: full */
    CHECK(r.used == FDN_SEAL_SENDERS && r.evicted == 0);
    CHECK(open_at(&r, &first[MANY - 1], NOW) == FDN_SEAL_OK); /* 4097: evicts sender 2 */
    CHECK(r.used == FDN_SEAL_SENDERS && r.evicted == 1);
    CHECK(open_at(&r, &second, NOW) == FDN_SEAL_EREPLAY);   /* sender 1 still known */
    CHECK(open_at(&r, &first[2], NOW) == FDN_SEAL_EREPLAY); /* sender 3 still known */
    /* sender 2 is forgotten: its message opens again, within FDN_SEAL_FRESH_MS only */
    CHECK(open_at(&r, &first[1], NOW + FDN_SEAL_FRESH_MS + 1) == FDN_SEAL_ESTALE);
    CHECK(open_at(&r, &first[1], NOW) == FDN_SEAL_OK);
    CHECK(r.evicted == 2);
    CHECK(open_at(&r, &first[1], NOW) == FDN_SEAL_EREPLAY);
    for (unsigned i = 0; i < MANY; i++)
        fdn_buf_free(&first[i]);
    fdn_buf_free(&second);
    fdn_seal_free(&r);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Seal + open of a 100-byte message, one core. */
static int bench(void)
{
    struct fdn_seal a, r;
    node(&a, key1, 1);
    node(&r, key1, 2);
    char msg[100];
    memset(msg, 'b', sizeof msg);
    struct fdn_buf b, out;
    fdn_buf_init(&b);
    fdn_buf_init(&out);
    const int n = 1000000;
    double t0 = now_s();
    for (int i = 0; i < n; i++) {
        b.len = out.len = 0;
        fdn_seal_put(&a, SUBJ, strlen(SUBJ), msg, sizeof msg, NOW, &b);
        if (fdn_seal_open(&r, SUBJ, strlen(SUBJ), b.data, b.len, NOW, &out, NULL) != 0)
            return 1;
    }
    double dt = now_s() - t0;
    printf("seal+open of 100 bytes: %.0f /s (%.2f us each)\n", n / dt, dt * 1e6 / n);
    fdn_buf_free(&b);
    fdn_buf_free(&out);
    fdn_seal_free(&a);
    fdn_seal_free(&r);
    return 0;
}

int main(int argc, char **argv)
{
    for (int i = 0; i < FDN_SEAL_KEY_LEN; i++)
        key1[i] = (uint8_t)i, key2[i] = (uint8_t)(i + 1);
    if (argc > 1 && strcmp(argv[1], "--bench") == 0)
        return bench();
    test_round_trip();
    test_format();
    test_tamper();
    test_key_and_subject();
    test_window();
    test_fresh();
    test_restart();
    test_table();
    printf("fdn_seal_strerror: %s\n", fdn_seal_strerror(FDN_SEAL_EREPLAY));
    return check_summary("test_seal");
}
