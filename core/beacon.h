/* beacon.h: the discovery beacon codec (pure, no I/O): one small binary datagram per node
 * saying "I am here, on this TCP port, with this services version". */
#ifndef FDN_BEACON_H
#define FDN_BEACON_H

#include <stddef.h>
#include <stdint.h>

/* Wire layout, version 1, every integer big-endian:
 *    0  magic "FDNB"      4
 *    4  version (1)       u8
 *    5  flags             u8   bit0 leaving, bit1 tagged; other bits must be 0
 *    6  node id           16
 *   22  boot id           u32
 *   26  sequence          u32
 *   30  tcp port          u16
 *   32  key hash          u32  fdn_beacon_key_hash(--key): a partition filter, not security
 *   36  services version  u32
 *   40  timestamp         u32  unix seconds of the sender
 *   44  [tag]             32   HMAC-SHA256 over bytes 0..43, present iff flags bit1
 * An untagged beacon is exactly 44 bytes, a tagged one exactly 76: any other length is
 * rejected. The tag covers the header with the tagged flag set, so it cannot be stripped. */
#define FDN_BEACON_MAGIC "FDNB"
#define FDN_BEACON_VERSION 1
#define FDN_BEACON_LEN 44
#define FDN_BEACON_TAG_LEN 32
#define FDN_BEACON_MAX_LEN (FDN_BEACON_LEN + FDN_BEACON_TAG_LEN)

#define FDN_BEACON_F_LEAVING 0x01
#define FDN_BEACON_F_TAGGED 0x02

enum {
    FDN_BEACON_E_LENGTH = -1,   /* wrong length (or output buffer too small) */
    FDN_BEACON_E_MAGIC = -2,    /* not "FDNB" */
    FDN_BEACON_E_VERSION = -3,  /* version other than 1 */
    FDN_BEACON_E_FLAGS = -4,    /* a reserved flag bit is set */
    FDN_BEACON_E_TAGGED = -5,   /* tagged, but the caller has no key to check it */
    FDN_BEACON_E_UNTAGGED = -6, /* untagged, but the caller requires a tag */
    FDN_BEACON_E_TAG = -7,      /* the tag does not verify */
};

struct fdn_beacon {
    uint8_t node_id[16];
    uint32_t boot_id;
    uint32_t seq;
    uint16_t tcp_port;
    uint32_t key_hash;
    uint32_t services_version;
    uint32_t timestamp;
    int leaving; /* 0 or 1 */
};

/* Writes the untagged beacon into out; returns its length (FDN_BEACON_LEN), or
 * FDN_BEACON_E_LENGTH when cap is too small. Never sets the tagged flag. */
int fdn_beacon_encode(const struct fdn_beacon *b, uint8_t *out, size_t cap);

/* Reads exactly one beacon of len bytes: 0, or a negative FDN_BEACON_E_* code (out is then
 * zeroed). A tagged beacon is rejected (FDN_BEACON_E_TAGGED): use fdn_beacon_decode_tagged. */
int fdn_beacon_decode(const uint8_t *in, size_t len, struct fdn_beacon *out);

/* Hooks for authenticated beacons (a secret is set): sign writes the tag of msg[0..len);
 * verify returns 0 when tag is the tag of msg[0..len) (comparing in constant time). */
typedef void (*fdn_beacon_sign_fn)(const uint8_t *msg, size_t len, uint8_t tag[FDN_BEACON_TAG_LEN],
                                   void *arg);
typedef int (*fdn_beacon_verify_fn)(const uint8_t *msg, size_t len,
                                    const uint8_t tag[FDN_BEACON_TAG_LEN], void *arg);

/* With sign NULL: fdn_beacon_encode. Else sets the tagged flag, appends sign's tag and
 * returns FDN_BEACON_MAX_LEN. */
int fdn_beacon_encode_tagged(const struct fdn_beacon *b, uint8_t *out, size_t cap,
                             fdn_beacon_sign_fn sign, void *arg);

/* With verify NULL: fdn_beacon_decode. Else accepts only tagged beacons whose tag verifies
 * (untagged: FDN_BEACON_E_UNTAGGED, bad tag: FDN_BEACON_E_TAG). */
int fdn_beacon_decode_tagged(const uint8_t *in, size_t len, struct fdn_beacon *out,
                             fdn_beacon_verify_fn verify, void *arg);

/* 32-bit FNV-1a of the partition key (NULL hashes as ""). */
uint32_t fdn_beacon_key_hash(const char *key);

/* A short lowercase description of an FDN_BEACON_E_* code. */
const char *fdn_beacon_strerror(int err);

#endif
