/* test_beacon.c: unit tests of core/beacon.c: round trip, the exact wire layout, every
 * truncation and extension rejected, bad magic/version/flags, the tag hooks, key hashes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "beacon.h"
#include "check.h"

static struct fdn_beacon sample(void)
{
    struct fdn_beacon b = {
        .boot_id = 0xdeadbeef,
        .seq = 0x01020304,
        .tcp_port = 0xa1b2,
        .key_hash = 0x811c9dc5,
        .services_version = 0xfffffffe,
        .timestamp = 1700000000,
        .leaving = 0,
    };
    for (int i = 0; i < 16; i++)
        b.node_id[i] = (uint8_t)(0xf0 + i);
    return b;
}

static int same(const struct fdn_beacon *a, const struct fdn_beacon *b)
{
    return memcmp(a->node_id, b->node_id, 16) == 0 && a->boot_id == b->boot_id &&
           a->seq == b->seq && a->tcp_port == b->tcp_port && a->key_hash == b->key_hash &&
           a->services_version == b->services_version && a->timestamp == b->timestamp &&
           a->leaving == b->leaving;
}

static void test_round_trip(void)
{
    struct fdn_beacon b = sample(), c;
    uint8_t buf[FDN_BEACON_MAX_LEN + 8], again[FDN_BEACON_MAX_LEN];
    for (int leaving = 0; leaving < 2; leaving++) {
        b.leaving = leaving;
        int len = fdn_beacon_encode(&b, buf, sizeof buf);
        CHECK(len == FDN_BEACON_LEN);
        CHECK(fdn_beacon_decode(buf, (size_t)len, &c) == 0);
        CHECK(same(&b, &c));
        CHECK(fdn_beacon_encode(&c, again, sizeof again) == len);
        CHECK(memcmp(buf, again, (size_t)len) == 0);
    }
    /* zero and all-ones fields */
    memset(&b, 0, sizeof b);
    CHECK(fdn_beacon_encode(&b, buf, sizeof buf) == FDN_BEACON_LEN);
    CHECK(fdn_beacon_decode(buf, FDN_BEACON_LEN, &c) == 0 && same(&b, &c));
    memset(b.node_id, 0xff, 16);
    b.boot_id = b.seq = b.key_hash = b.services_version = b.timestamp = 0xffffffff;
    b.tcp_port = 0xffff;
    b.leaving = 1;
    CHECK(fdn_beacon_encode(&b, buf, sizeof buf) == FDN_BEACON_LEN);
    CHECK(fdn_beacon_decode(buf, FDN_BEACON_LEN, &c) == 0 && same(&b, &c));
}

/* The layout is the contract with other implementations: check it byte by byte. */
static void test_layout(void)
{
    struct fdn_beacon b = sample();
    b.leaving = 1;
    uint8_t buf[FDN_BEACON_LEN];
    static const uint8_t want[FDN_BEACON_LEN] = {
        'F',  'D',  'N',  'B',  1,    0x01, 0xf0, 0xf1, 0xf2, 0xf3, 0xf4,
        0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff, /* node id */
        0xde, 0xad, 0xbe, 0xef,                                           /* boot id */
        0x01, 0x02, 0x03, 0x04,                                           /* seq */
        0xa1, 0xb2,                                                       /* tcp port */
        0x81, 0x1c, 0x9d, 0xc5,                                           /* key hash */
        0xff, 0xff, 0xff, 0xfe,                                           /* services version */
        0x65, 0x53, 0xf1, 0x00,                                           /* 1700000000 */
    };
    CHECK(fdn_beacon_encode(&b, buf, sizeof buf) == FDN_BEACON_LEN);
    CHECK(memcmp(buf, want, sizeof want) == 0);
}

static void test_lengths(void)
{
    struct fdn_beacon b = sample(), c;
    uint8_t buf[FDN_BEACON_MAX_LEN + 16];
    memset(buf, 0, sizeof buf);
    CHECK(fdn_beacon_encode(&b, buf, sizeof buf) == FDN_BEACON_LEN);
    for (size_t len = 0; len < FDN_BEACON_LEN; len++) {
        memset(&c, 0x5a, sizeof c);
        int rc = fdn_beacon_decode(buf, len, &c);
        CHECK(rc == FDN_BEACON_E_LENGTH);
        CHECK(c.boot_id == 0 && c.seq == 0 && c.leaving == 0); /* out zeroed on failure */
    }
    for (size_t len = FDN_BEACON_LEN + 1; len <= sizeof buf; len++)
        CHECK(fdn_beacon_decode(buf, len, &c) == FDN_BEACON_E_LENGTH);
    CHECK(fdn_beacon_decode(buf, FDN_BEACON_LEN, &c) == 0);
    /* the output buffer must hold the whole beacon */
    for (size_t cap = 0; cap < FDN_BEACON_LEN; cap++)
        CHECK(fdn_beacon_encode(&b, buf, cap) == FDN_BEACON_E_LENGTH);
    CHECK(fdn_beacon_encode(&b, buf, FDN_BEACON_LEN) == FDN_BEACON_LEN);
}

static void test_bad_header(void)
{
    struct fdn_beacon b = sample(), c;
    uint8_t buf[FDN_BEACON_LEN], bad[FDN_BEACON_LEN];
    CHECK(fdn_beacon_encode(&b, buf, sizeof buf) == FDN_BEACON_LEN);
    for (int i = 0; i < 4; i++) {
        memcpy(bad, buf, sizeof bad);
        bad[i] ^= 0x20; /* "fDNB", "FdNB", ... */
        CHECK(fdn_beacon_decode(bad, sizeof bad, &c) == FDN_BEACON_E_MAGIC);
    }
    int versions[] = {0, 2, 255};
    for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++) {
        memcpy(bad, buf, sizeof bad);
        bad[4] = (uint8_t)versions[i];
        CHECK(fdn_beacon_decode(bad, sizeof bad, &c) == FDN_BEACON_E_VERSION);
    }
    for (int bit = 2; bit < 8; bit++) {
        memcpy(bad, buf, sizeof bad);
        bad[5] = (uint8_t)(1 << bit);
        CHECK(fdn_beacon_decode(bad, sizeof bad, &c) == FDN_BEACON_E_FLAGS);
    }
    /* a tagged flag on a 44-byte packet: the length is wrong for a tagged beacon */
    memcpy(bad, buf, sizeof bad);
    bad[5] = FDN_BEACON_F_TAGGED;
    CHECK(fdn_beacon_decode(bad, sizeof bad, &c) == FDN_BEACON_E_LENGTH);
    for (int e = 0; e >= -8; e--)
        CHECK(fdn_beacon_strerror(e) != NULL);
}

/* A stand-in MAC for the hooks: the real HMAC-SHA256 comes with --secret. */
static void toy_sign(const uint8_t *msg, size_t len, uint8_t tag[FDN_BEACON_TAG_LEN], void *arg)
{
    uint8_t k = *(const uint8_t *)arg;
    for (int i = 0; i < FDN_BEACON_TAG_LEN; i++)
        tag[i] = (uint8_t)(k + i);
    for (size_t i = 0; i < len; i++)
        tag[i % FDN_BEACON_TAG_LEN] ^= (uint8_t)(msg[i] + k);
}

static int toy_verify(const uint8_t *msg, size_t len, const uint8_t tag[FDN_BEACON_TAG_LEN],
                      void *arg)
{
    uint8_t want[FDN_BEACON_TAG_LEN], diff = 0;
    toy_sign(msg, len, want, arg);
    for (int i = 0; i < FDN_BEACON_TAG_LEN; i++)
        diff |= want[i] ^ tag[i];
    return diff ? -1 : 0;
}

static void test_tagged(void)
{
    struct fdn_beacon b = sample(), c;
    uint8_t key = 7, other = 8;
    uint8_t buf[FDN_BEACON_MAX_LEN], plain[FDN_BEACON_LEN], again[FDN_BEACON_MAX_LEN];
    CHECK(fdn_beacon_encode_tagged(&b, buf, sizeof buf, toy_sign, &key) == FDN_BEACON_MAX_LEN);
    CHECK(buf[5] == FDN_BEACON_F_TAGGED);
    CHECK(fdn_beacon_encode_tagged(&b, buf, FDN_BEACON_MAX_LEN - 1, toy_sign, &key) ==
          FDN_BEACON_E_LENGTH);
    /* no verifier: a tagged beacon is refused, whatever its tag */
    CHECK(fdn_beacon_decode(buf, sizeof buf, &c) == FDN_BEACON_E_TAGGED);
    CHECK(fdn_beacon_decode_tagged(buf, sizeof buf, &c, toy_verify, &key) == 0);
    CHECK(same(&b, &c));
    CHECK(fdn_beacon_encode_tagged(&c, again, sizeof again, toy_sign, &key) == FDN_BEACON_MAX_LEN);
    CHECK(memcmp(buf, again, sizeof buf) == 0);
    CHECK(fdn_beacon_decode_tagged(buf, sizeof buf, &c, toy_verify, &other) == FDN_BEACON_E_TAG);
    buf[30] ^= 1; /* any header change breaks the tag */
    CHECK(fdn_beacon_decode_tagged(buf, sizeof buf, &c, toy_verify, &key) == FDN_BEACON_E_TAG);
    buf[30] ^= 1;
    buf[FDN_BEACON_MAX_LEN - 1] ^= 1;
    CHECK(fdn_beacon_decode_tagged(buf, sizeof buf, &c, toy_verify, &key) == FDN_BEACON_E_TAG);
    /* tagged beacons are exactly 76 bytes */
    for (size_t len = 0; len < FDN_BEACON_MAX_LEN; len++)
        CHECK(fdn_beacon_decode_tagged(buf, len, &c, toy_verify, &key) < 0);
    /* with a verifier an untagged beacon is refused, and stripping the tag is no way around */
    CHECK(fdn_beacon_encode(&b, plain, sizeof plain) == FDN_BEACON_LEN);
    CHECK(fdn_beacon_decode_tagged(plain, sizeof plain, &c, toy_verify, &key) ==
          FDN_BEACON_E_UNTAGGED);
    CHECK(fdn_beacon_decode_tagged(buf, FDN_BEACON_LEN, &c, toy_verify, &key) ==
          FDN_BEACON_E_LENGTH);
}

static void test_key_hash(void)
{
    /* 32-bit FNV-1a reference values */
    CHECK(fdn_beacon_key_hash("") == 0x811c9dc5u);
    CHECK(fdn_beacon_key_hash(NULL) == 0x811c9dc5u);
    CHECK(fdn_beacon_key_hash("a") == 0xe40c292cu);
    CHECK(fdn_beacon_key_hash("foobar") == 0xbf9cf968u);
    CHECK(fdn_beacon_key_hash("default") == 0x933b5bdeu);
    CHECK(fdn_beacon_key_hash("default") != fdn_beacon_key_hash("Default"));
    CHECK(fdn_beacon_key_hash("\xff\x80") != fdn_beacon_key_hash("\x7f\x80"));
}

int main(void)
{
    test_round_trip();
    test_layout();
    test_lengths();
    test_bad_header();
    test_tagged();
    test_key_hash();
    return check_summary("test_beacon");
}
