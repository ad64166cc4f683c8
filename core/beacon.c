/* beacon.c: the discovery beacon codec (pure, no I/O): strict big-endian encoding and
 * decoding of the fixed 44-byte beacon, with hooks for the 32-byte tag of §4. */
#include "beacon.h"

#include <string.h>

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void write_header(const struct fdn_beacon *b, uint8_t flags, uint8_t *out)
{
    memcpy(out, FDN_BEACON_MAGIC, 4);
    out[4] = FDN_BEACON_VERSION;
    out[5] = flags | (b->leaving ? FDN_BEACON_F_LEAVING : 0);
    memcpy(out + 6, b->node_id, 16);
    put32(out + 22, b->boot_id);
    put32(out + 26, b->seq);
    put16(out + 30, b->tcp_port);
    put32(out + 32, b->key_hash);
    put32(out + 36, b->services_version);
    put32(out + 40, b->timestamp);
}

int fdn_beacon_encode_tagged(const struct fdn_beacon *b, uint8_t *out, size_t cap,
                             fdn_beacon_sign_fn sign, void *arg)
{
    size_t len = sign ? FDN_BEACON_MAX_LEN : FDN_BEACON_LEN;
    if (cap < len)
        return FDN_BEACON_E_LENGTH;
    write_header(b, sign ? FDN_BEACON_F_TAGGED : 0, out);
    if (sign)
        sign(out, FDN_BEACON_LEN, out + FDN_BEACON_LEN, arg);
    return (int)len;
}

int fdn_beacon_encode(const struct fdn_beacon *b, uint8_t *out, size_t cap)
{
    return fdn_beacon_encode_tagged(b, out, cap, NULL, NULL);
}

/* Checks everything but the tag itself; 0 or an FDN_BEACON_E_* code. */
static int check(const uint8_t *in, size_t len, int want_tag)
{
    if (len < 6)
        return FDN_BEACON_E_LENGTH;
    if (memcmp(in, FDN_BEACON_MAGIC, 4) != 0)
        return FDN_BEACON_E_MAGIC;
    if (in[4] != FDN_BEACON_VERSION)
        return FDN_BEACON_E_VERSION;
    uint8_t flags = in[5];
    if (flags & ~(FDN_BEACON_F_LEAVING | FDN_BEACON_F_TAGGED))
        return FDN_BEACON_E_FLAGS;
    int tagged = (flags & FDN_BEACON_F_TAGGED) != 0;
    if (len != (tagged ? FDN_BEACON_MAX_LEN : FDN_BEACON_LEN))
        return FDN_BEACON_E_LENGTH;
    if (tagged && !want_tag)
        return FDN_BEACON_E_TAGGED;
    if (!tagged && want_tag)
        return FDN_BEACON_E_UNTAGGED;
    return 0;
}

int fdn_beacon_decode_tagged(const uint8_t *in, size_t len, struct fdn_beacon *out,
                             fdn_beacon_verify_fn verify, void *arg)
{
    memset(out, 0, sizeof *out);
    int rc = check(in, len, verify != NULL);
    if (rc == 0 && verify && verify(in, FDN_BEACON_LEN, in + FDN_BEACON_LEN, arg) != 0)
        rc = FDN_BEACON_E_TAG;
    if (rc < 0)
        return rc;
    out->leaving = (in[5] & FDN_BEACON_F_LEAVING) != 0;
    memcpy(out->node_id, in + 6, 16);
    out->boot_id = get32(in + 22);
    out->seq = get32(in + 26);
    out->tcp_port = get16(in + 30);
    out->key_hash = get32(in + 32);
    out->services_version = get32(in + 36);
    out->timestamp = get32(in + 40);
    return 0;
}

int fdn_beacon_decode(const uint8_t *in, size_t len, struct fdn_beacon *out)
{
    return fdn_beacon_decode_tagged(in, len, out, NULL, NULL);
}

uint32_t fdn_beacon_key_hash(const char *key)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)(key ? key : ""); *p; p++) {
        h ^= *p;
        h *= 16777619u;
    }
    return h;
}

const char *fdn_beacon_strerror(int err)
{
    switch (err) {
    case 0:
        return "ok";
    case FDN_BEACON_E_LENGTH:
        return "bad length";
    case FDN_BEACON_E_MAGIC:
        return "bad magic";
    case FDN_BEACON_E_VERSION:
        return "unknown version";
    case FDN_BEACON_E_FLAGS:
        return "reserved flags set";
    case FDN_BEACON_E_TAGGED:
        return "tagged but no secret";
    case FDN_BEACON_E_UNTAGGED:
        return "not tagged";
    case FDN_BEACON_E_TAG:
        return "bad tag";
    default:
        return "unknown error";
    }
}
