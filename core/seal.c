/* seal.c: sealing and opening bus messages (seal.h gives the format): ChaCha20-Poly1305 from
 * mbedtls 2.28 with a key per sender (HKDF-Expand by hand over precomputed HMAC pads, so that
 * nothing is allocated per message), and a fixed table of senders with their replay windows. */
#include "seal.h"

#include <stdlib.h>
#include <string.h>

#include <mbedtls/chachapoly.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/sha256.h>

#include "util.h"

#define BUCKETS (2 * FDN_SEAL_SENDERS)
#define INFO_TABLE "fdnode seal table v1"

/* Links are index + 1 into s->senders; 0 is none. */
struct fdn_seal_sender {
    uint8_t id[FDN_SEAL_ID_LEN];
    uint8_t key[FDN_SEAL_KEY_LEN]; /* K_s */
    uint64_t top;                  /* the highest counter opened */
    uint64_t seen[2];              /* bit i (seen[i / 64], i % 64): counter top - i opened */
    uint32_t chain;                /* the next sender of the same bucket */
    uint32_t newer, older;         /* the LRU list */
};

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* HMAC-SHA256 under the seal key of a || b || tail[0..tail_len), from the pads (RFC 2104). */
static void hmac2(const struct fdn_seal *s, const void *a, size_t a_len, const void *b,
                  size_t b_len, const void *tail, size_t tail_len, uint8_t out[32])
{
    mbedtls_sha256_context c;
    uint8_t inner[32];
    mbedtls_sha256_init(&c);
    /* the _ret functions fail only on hardware accelerators, which Debian's build has none of */
    (void)mbedtls_sha256_starts_ret(&c, 0);
    (void)mbedtls_sha256_update_ret(&c, s->pads[0], 64);
    (void)mbedtls_sha256_update_ret(&c, a, a_len);
    (void)mbedtls_sha256_update_ret(&c, b, b_len);
    (void)mbedtls_sha256_update_ret(&c, tail, tail_len);
    (void)mbedtls_sha256_finish_ret(&c, inner);
    (void)mbedtls_sha256_starts_ret(&c, 0);
    (void)mbedtls_sha256_update_ret(&c, s->pads[1], 64);
    (void)mbedtls_sha256_update_ret(&c, inner, sizeof inner);
    (void)mbedtls_sha256_finish_ret(&c, out);
    mbedtls_sha256_free(&c);
    mbedtls_platform_zeroize(inner, sizeof inner);
}

/* K_s = HKDF-Expand(K, INFO_SENDER || id, 32): one block, T(1) = HMAC(K, info || 0x01). */
static void sender_key(const struct fdn_seal *s, const uint8_t id[FDN_SEAL_ID_LEN],
                       uint8_t key[FDN_SEAL_KEY_LEN])
{
    static const char info[] = FDN_SEAL_INFO_SENDER;
    static const uint8_t one = 1;
    hmac2(s, info, sizeof info - 1, id, FDN_SEAL_ID_LEN, &one, 1, key);
}

void fdn_seal_init(struct fdn_seal *s, const uint8_t key[FDN_SEAL_KEY_LEN],
                   const uint8_t id[FDN_SEAL_ID_LEN])
{
    memset(s, 0, sizeof *s);
    memcpy(s->id, id, FDN_SEAL_ID_LEN);
    for (int i = 0; i < 64; i++) {
        uint8_t k = i < FDN_SEAL_KEY_LEN ? key[i] : 0;
        s->pads[0][i] = k ^ 0x36;
        s->pads[1][i] = k ^ 0x5c;
    }
    sender_key(s, id, s->key);
    uint8_t h[32];
    static const char info[] = INFO_TABLE;
    hmac2(s, info, sizeof info - 1, NULL, 0, NULL, 0, h);
    s->hash_seed = get64(h);
}

void fdn_seal_free(struct fdn_seal *s)
{
    if (!s)
        return;
    if (s->senders) /* slots past `used` were never written */
        mbedtls_platform_zeroize(s->senders, s->used * sizeof *s->senders);
    free(s->senders);
    free(s->buckets);
    mbedtls_platform_zeroize(s, sizeof *s);
}

/* The nonce of a counter: 4 zero bytes, then the counter. */
static void nonce_of(uint64_t counter, uint8_t nonce[12])
{
    memset(nonce, 0, 4);
    put64(nonce + 4, counter);
}

void fdn_seal_put(struct fdn_seal *s, const char *subject, size_t subject_len, const void *msg,
                  size_t len, uint64_t now_ms, struct fdn_buf *out)
{
    uint64_t c = s->counter + 1, t = now_ms << 16;
    s->counter = c = t > c ? t : c;
    uint8_t *p = (uint8_t *)fdn_buf_room(out, len + FDN_SEAL_OVERHEAD), nonce[12];
    p[0] = FDN_SEAL_VERSION;
    memcpy(p + 1, s->id, FDN_SEAL_ID_LEN);
    put64(p + 1 + FDN_SEAL_ID_LEN, c);
    nonce_of(c, nonce);
    mbedtls_chachapoly_context ctx;
    mbedtls_chachapoly_init(&ctx);
    /* with a 32-byte key and valid pointers, none of these can fail */
    (void)mbedtls_chachapoly_setkey(&ctx, s->key);
    (void)mbedtls_chachapoly_starts(&ctx, nonce, MBEDTLS_CHACHAPOLY_ENCRYPT);
    (void)mbedtls_chachapoly_update_aad(&ctx, p, FDN_SEAL_HEADER_LEN);
    (void)mbedtls_chachapoly_update_aad(&ctx, (const uint8_t *)subject, subject_len);
    (void)mbedtls_chachapoly_update(&ctx, len, msg, p + FDN_SEAL_HEADER_LEN);
    (void)mbedtls_chachapoly_finish(&ctx, p + FDN_SEAL_HEADER_LEN + len);
    mbedtls_chachapoly_free(&ctx);
    out->len += len + FDN_SEAL_OVERHEAD;
}

/* --- the table of senders ------------------------------------------------------------- */

static uint32_t bucket_of(const struct fdn_seal *s, const uint8_t id[FDN_SEAL_ID_LEN])
{
    uint64_t h = s->hash_seed;
    for (int i = 0; i < 2; i++) {
        h ^= get64(id + 8 * i);
        h *= 0x9e3779b97f4a7c15u;
        h ^= h >> 31;
    }
    return (uint32_t)(h % BUCKETS);
}

static struct fdn_seal_sender *at(const struct fdn_seal *s, uint32_t link)
{
    return link ? &s->senders[link - 1] : NULL;
}

static uint32_t find(const struct fdn_seal *s, const uint8_t id[FDN_SEAL_ID_LEN])
{
    if (!s->buckets)
        return 0;
    uint32_t l = s->buckets[bucket_of(s, id)];
    while (l && memcmp(at(s, l)->id, id, FDN_SEAL_ID_LEN) != 0)
        l = at(s, l)->chain;
    return l;
}

static void lru_unlink(struct fdn_seal *s, uint32_t l)
{
    struct fdn_seal_sender *e = at(s, l);
    if (e->newer)
        at(s, e->newer)->older = e->older;
    else
        s->lru_head = e->older;
    if (e->older)
        at(s, e->older)->newer = e->newer;
    else
        s->lru_tail = e->newer;
    e->newer = e->older = 0;
}

static void lru_push(struct fdn_seal *s, uint32_t l)
{
    struct fdn_seal_sender *e = at(s, l);
    e->newer = 0;
    e->older = s->lru_head;
    if (s->lru_head)
        at(s, s->lru_head)->newer = l;
    else
        s->lru_tail = l;
    s->lru_head = l;
}

/* Forgets the least recently heard sender; returns its slot. */
static uint32_t evict(struct fdn_seal *s)
{
    uint32_t l = s->lru_tail;
    struct fdn_seal_sender *e = at(s, l);
    uint32_t *p = &s->buckets[bucket_of(s, e->id)];
    while (*p != l)
        p = &at(s, *p)->chain;
    *p = e->chain;
    lru_unlink(s, l);
    mbedtls_platform_zeroize(e, sizeof *e);
    s->evicted++;
    return l;
}

static uint32_t insert(struct fdn_seal *s, const uint8_t id[FDN_SEAL_ID_LEN],
                       const uint8_t key[FDN_SEAL_KEY_LEN])
{
    if (!s->senders) { /* a node that only seals never needs them */
        s->senders = xcalloc(FDN_SEAL_SENDERS, sizeof *s->senders);
        s->buckets = xcalloc(BUCKETS, sizeof *s->buckets);
    }
    uint32_t l = s->used < FDN_SEAL_SENDERS ? ++s->used : evict(s);
    struct fdn_seal_sender *e = at(s, l);
    memcpy(e->id, id, FDN_SEAL_ID_LEN);
    memcpy(e->key, key, FDN_SEAL_KEY_LEN);
    uint32_t *head = &s->buckets[bucket_of(s, id)];
    e->chain = *head;
    *head = l;
    lru_push(s, l);
    return l;
}

/* --- the replay window ---------------------------------------------------------------- */

static int window_check(const struct fdn_seal_sender *e, uint64_t c)
{
    if (c > e->top)
        return FDN_SEAL_OK;
    uint64_t d = e->top - c;
    if (d >= FDN_SEAL_WINDOW)
        return FDN_SEAL_EOLD;
    return e->seen[d / 64] >> (d % 64) & 1 ? FDN_SEAL_EREPLAY : FDN_SEAL_OK;
}

static void window_mark(struct fdn_seal_sender *e, uint64_t c)
{
    if (c > e->top) {
        uint64_t n = c - e->top;
        if (n >= FDN_SEAL_WINDOW) {
            e->seen[0] = e->seen[1] = 0;
        } else if (n >= 64) {
            e->seen[1] = e->seen[0] << (n - 64);
            e->seen[0] = 0;
        } else {
            e->seen[1] = e->seen[1] << n | e->seen[0] >> (64 - n);
            e->seen[0] <<= n;
        }
        e->top = c;
    }
    uint64_t d = e->top - c;
    e->seen[d / 64] |= (uint64_t)1 << (d % 64);
}

/* --- opening -------------------------------------------------------------------------- */

static int tag_equal(const uint8_t *a, const uint8_t *b)
{
    uint8_t diff = 0;
    for (int i = 0; i < FDN_SEAL_TAG_LEN; i++)
        diff |= a[i] ^ b[i];
    return diff == 0;
}

int fdn_seal_open(struct fdn_seal *s, const char *subject, size_t subject_len, const void *in,
                  size_t len, uint64_t now_ms, struct fdn_buf *out, uint8_t sender[FDN_SEAL_ID_LEN])
{
    const uint8_t *p = in, *id = p + 1;
    if (len < FDN_SEAL_OVERHEAD || p[0] != FDN_SEAL_VERSION)
        return FDN_SEAL_EMALFORMED;
    uint64_t c = get64(p + 1 + FDN_SEAL_ID_LEN), t = c >> 16;
    if ((t < now_ms ? now_ms - t : t - now_ms) > FDN_SEAL_FRESH_MS)
        return FDN_SEAL_ESTALE;
    /* a known sender's window refuses replays before any cryptography; it moves only below,
     * once the message authenticates */
    uint32_t l = find(s, id);
    if (l) {
        int r = window_check(at(s, l), c);
        if (r != FDN_SEAL_OK)
            return r;
    }
    uint8_t key[FDN_SEAL_KEY_LEN], nonce[12], tag[FDN_SEAL_TAG_LEN];
    if (l)
        memcpy(key, at(s, l)->key, sizeof key);
    else
        sender_key(s, id, key);
    size_t n = len - FDN_SEAL_OVERHEAD;
    uint8_t *pt = n ? (uint8_t *)fdn_buf_room(out, n) : NULL;
    nonce_of(c, nonce);
    mbedtls_chachapoly_context ctx;
    mbedtls_chachapoly_init(&ctx);
    (void)mbedtls_chachapoly_setkey(&ctx, key);
    (void)mbedtls_chachapoly_starts(&ctx, nonce, MBEDTLS_CHACHAPOLY_DECRYPT);
    (void)mbedtls_chachapoly_update_aad(&ctx, p, FDN_SEAL_HEADER_LEN);
    (void)mbedtls_chachapoly_update_aad(&ctx, (const uint8_t *)subject, subject_len);
    (void)mbedtls_chachapoly_update(&ctx, n, p + FDN_SEAL_HEADER_LEN, pt);
    (void)mbedtls_chachapoly_finish(&ctx, tag);
    mbedtls_chachapoly_free(&ctx);
    int ok = tag_equal(tag, p + FDN_SEAL_HEADER_LEN + n);
    if (!ok) {
        if (n)
            mbedtls_platform_zeroize(pt, n); /* nothing unauthenticated stays behind */
        mbedtls_platform_zeroize(key, sizeof key);
        return FDN_SEAL_ETAG;
    }
    if (l) {
        lru_unlink(s, l);
        lru_push(s, l);
    } else {
        l = insert(s, id, key);
        at(s, l)->top = c;
    }
    mbedtls_platform_zeroize(key, sizeof key);
    window_mark(at(s, l), c);
    if (sender)
        memcpy(sender, id, FDN_SEAL_ID_LEN);
    out->len += n;
    return FDN_SEAL_OK;
}

const char *fdn_seal_strerror(int code)
{
    switch (code) {
    case FDN_SEAL_OK:
        return "ok";
    case FDN_SEAL_EMALFORMED:
        return "malformed";
    case FDN_SEAL_ESTALE:
        return "stale";
    case FDN_SEAL_EOLD:
        return "old";
    case FDN_SEAL_EREPLAY:
        return "replay";
    case FDN_SEAL_ETAG:
        return "tag";
    default:
        return "unknown";
    }
}
