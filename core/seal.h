/* seal.h: messages sealed with the cluster key for a shared bus (NATS subjects other software may
 * publish on): ChaCha20-Poly1305 with a key per sender, the subject as associated data, and
 * replay protection (a sliding window per sender, a bounded table of senders). Pure: no I/O. */
#ifndef FDN_SEAL_H
#define FDN_SEAL_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* A sealed message (every integer big-endian):
 *
 *   offset  size  field
 *   0       1     version: FDN_SEAL_VERSION
 *   1       16    sender: the sealing node's id
 *   17      8     counter: per sender, strictly increasing, never reused
 *   25      n     ciphertext: the plaintext (n bytes) under ChaCha20-Poly1305 (RFC 8439)
 *   25+n    16    tag: Poly1305 over the associated data and the ciphertext
 *
 * Key: one per sender, K_s = HKDF-Expand-SHA256(K, "fdnode seal sender v1" || sender, 32), K
 * being the cluster's seal key (tls.h: FDN_TLS_INFO_SEAL). Nonce: 4 zero bytes || counter. A
 * key per sender lets the 96-bit nonce hold the whole counter: (K_s, nonce) pairs repeat only
 * if one sender reuses a counter, which its counter rule excludes. Associated data: the 25
 * header bytes, then the subject's bytes: a message sealed for one subject does not open on
 * another, and no header bit can be changed.
 *
 * Counter: max(previous + 1, now_ms << 16), now_ms being the sender's wall clock in ms since
 * the epoch. The top 48 bits are a time (good for 8900 years), the low 16 a sequence for
 * messages within one ms; more than 65536 messages in a ms borrow from the next ms. A sender
 * that restarts (even with the same id, or after a crash that lost its counter) starts above
 * everything it sent before, unless its clock went back by more than it had borrowed ahead.
 * Receivers refuse a counter whose time is more than FDN_SEAL_FRESH_MS away from their own
 * clock (the cluster's clocks must agree that closely, as for beacons): a message captured and
 * replayed later cannot open on a receiver that restarted or forgot its sender (evicted).
 *
 * Replay: per sender, the highest counter opened and a window of the FDN_SEAL_WINDOW counters
 * below it (as IPsec and DTLS do): a counter seen before, or below the window, is refused;
 * messages reordered within the window open. At most FDN_SEAL_SENDERS senders are remembered,
 * the least recently heard one forgotten first; only a message that authenticates enters the
 * table, so fake sender ids cost nothing. */
#define FDN_SEAL_VERSION 1
#define FDN_SEAL_ID_LEN 16
#define FDN_SEAL_KEY_LEN 32
#define FDN_SEAL_HEADER_LEN 25
#define FDN_SEAL_TAG_LEN 16
#define FDN_SEAL_OVERHEAD (FDN_SEAL_HEADER_LEN + FDN_SEAL_TAG_LEN)
#define FDN_SEAL_WINDOW 128
#define FDN_SEAL_SENDERS 4096
#define FDN_SEAL_FRESH_MS 30000
#define FDN_SEAL_INFO_SENDER "fdnode seal sender v1"

enum {
    FDN_SEAL_OK = 0,
    FDN_SEAL_EMALFORMED = -1, /* too short, or another version */
    FDN_SEAL_ESTALE = -2,     /* the counter's time is too far from ours */
    FDN_SEAL_EOLD = -3,       /* below the sender's window */
    FDN_SEAL_EREPLAY = -4,    /* a counter already opened */
    FDN_SEAL_ETAG = -5,       /* does not authenticate: another key, subject, or bytes */
};

struct fdn_seal_sender; /* seal.c: one remembered sender */

struct fdn_seal {
    uint8_t id[FDN_SEAL_ID_LEN];
    uint8_t key[FDN_SEAL_KEY_LEN]; /* this node's own K_s */
    uint64_t counter;              /* the last counter sealed (0: none yet) */
    uint8_t pads[2][64];           /* HMAC(K, .) inner and outer pads, for K_s of any sender */
    uint64_t hash_seed;            /* of the table's buckets, from K */
    struct fdn_seal_sender *senders;
    uint32_t *buckets;                 /* FDN_SEAL_SENDERS * 2 heads: sender index + 1, 0: none */
    uint32_t used, lru_head, lru_tail; /* lru: index + 1, head = most recent */
    uint64_t evicted;                  /* senders forgotten to make room */
};

/* Sets s up for the node `id` under the cluster's seal key (both copied). The table of senders
 * (about 400 KiB) is allocated by the first message opened (out-of-memory aborts). */
void fdn_seal_init(struct fdn_seal *s, const uint8_t key[FDN_SEAL_KEY_LEN],
                   const uint8_t id[FDN_SEAL_ID_LEN]);
void fdn_seal_free(struct fdn_seal *s); /* wipes the keys and the table; accepts NULL */

/* Appends to out the sealed form of msg[0..len) for subject[0..subject_len), now_ms being the
 * wall clock (ms since the epoch). Appends len + FDN_SEAL_OVERHEAD bytes. msg must not lie in
 * out (out may move); the same goes for fdn_seal_open's input. */
void fdn_seal_put(struct fdn_seal *s, const char *subject, size_t subject_len, const void *msg,
                  size_t len, uint64_t now_ms, struct fdn_buf *out);

/* Opens the sealed message in[0..len) received on subject[0..subject_len) at now_ms. On
 * FDN_SEAL_OK, appends the plaintext (len - FDN_SEAL_OVERHEAD bytes) to out and, when sender
 * is not NULL, copies the sender's id there; the sender's window moves. On an error (a
 * negative FDN_SEAL_E* code) out's length and the table are as they were. */
int fdn_seal_open(struct fdn_seal *s, const char *subject, size_t subject_len, const void *in,
                  size_t len, uint64_t now_ms, struct fdn_buf *out,
                  uint8_t sender[FDN_SEAL_ID_LEN]);

/* A short word for an FDN_SEAL_E* code ("malformed", "stale", "old", "replay", "tag"). */
const char *fdn_seal_strerror(int code);

#endif
