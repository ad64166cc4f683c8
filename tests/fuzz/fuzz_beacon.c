/* fuzz_beacon.c: libFuzzer target for core/beacon.c: decoding any datagram never reads past
 * it, accepts only the exact lengths, and a decoded beacon re-encodes to the same bytes (with
 * and without the tag hooks). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "beacon.h"

/* A stand-in MAC (the real HMAC-SHA256 comes with --secret): tag = bytes xor'ed by position. */
static void toy_sign(const uint8_t *msg, size_t len, uint8_t tag[FDN_BEACON_TAG_LEN], void *arg)
{
    (void)arg;
    memset(tag, 0x5c, FDN_BEACON_TAG_LEN);
    for (size_t i = 0; i < len; i++)
        tag[i % FDN_BEACON_TAG_LEN] ^= (uint8_t)(msg[i] + i);
}

static int toy_verify(const uint8_t *msg, size_t len, const uint8_t tag[FDN_BEACON_TAG_LEN],
                      void *arg)
{
    uint8_t want[FDN_BEACON_TAG_LEN];
    toy_sign(msg, len, want, arg);
    return memcmp(want, tag, FDN_BEACON_TAG_LEN) ? -1 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* an exact-size heap copy, so that ASan sees any read past the datagram */
    uint8_t *in = malloc(size ? size : 1);
    if (!in)
        abort();
    memcpy(in, data, size);
    struct fdn_beacon b;
    uint8_t out[FDN_BEACON_MAX_LEN];

    int rc = fdn_beacon_decode(in, size, &b);
    if (rc == 0) {
        if (size != FDN_BEACON_LEN || (b.leaving != 0 && b.leaving != 1))
            abort();
        if (fdn_beacon_encode(&b, out, sizeof out) != FDN_BEACON_LEN ||
            memcmp(out, in, FDN_BEACON_LEN) != 0)
            abort();
    } else if (rc < FDN_BEACON_E_TAG || rc == FDN_BEACON_E_UNTAGGED || rc == FDN_BEACON_E_TAG) {
        abort(); /* no verifier: neither of these can happen */
    } else if (rc == FDN_BEACON_E_TAGGED && size != FDN_BEACON_MAX_LEN) {
        abort();
    }

    rc = fdn_beacon_decode_tagged(in, size, &b, toy_verify, NULL);
    if (rc == 0) {
        if (size != FDN_BEACON_MAX_LEN)
            abort();
        if (fdn_beacon_encode_tagged(&b, out, sizeof out, toy_sign, NULL) != FDN_BEACON_MAX_LEN ||
            memcmp(out, in, FDN_BEACON_MAX_LEN) != 0)
            abort();
    } else if (rc < FDN_BEACON_E_TAG || rc == FDN_BEACON_E_TAGGED) {
        abort();
    }

    /* whatever came in, the fields of a decoded beacon encode and decode to themselves */
    if (size >= sizeof b) {
        struct fdn_beacon c;
        memcpy(&b, in, sizeof b);
        b.leaving = b.leaving != 0;
        if (fdn_beacon_encode(&b, out, sizeof out) != FDN_BEACON_LEN ||
            fdn_beacon_decode(out, FDN_BEACON_LEN, &c) != 0 ||
            memcmp(b.node_id, c.node_id, 16) != 0 || b.boot_id != c.boot_id || b.seq != c.seq ||
            b.tcp_port != c.tcp_port || b.key_hash != c.key_hash ||
            b.services_version != c.services_version || b.timestamp != c.timestamp ||
            b.leaving != c.leaving)
            abort();
    }
    free(in);
    return 0;
}
