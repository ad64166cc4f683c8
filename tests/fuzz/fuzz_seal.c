/* fuzz_seal.c: libFuzzer target for core/seal.c: opening any bytes never reads past them nor
 * opens twice; and, read as a script of seals, clock steps, opens and bit flips by two senders,
 * every open gives what a plain model of the replay window and freshness rule says. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "seal.h"

#define NOW 1764770000000ull
#define SUBJ "fdn.fuzz"
#define RING 32
#define MAX_OPS 128

static const uint8_t key[FDN_SEAL_KEY_LEN] = "fuzz key: 32 bytes, not secret.";

struct sent {
    struct fdn_buf b;
    int sender;
    uint64_t counter;
};

struct model { /* one sender, as the receiver should see it */
    int known;
    uint64_t top;
    uint64_t opened[MAX_OPS];
    int n;
};

static void node(struct fdn_seal *s, uint8_t n)
{
    uint8_t id[FDN_SEAL_ID_LEN];
    memset(id, 0x42, sizeof id);
    id[15] = n;
    fdn_seal_init(s, key, id);
}

static int open_at(struct fdn_seal *r, const void *p, size_t len, uint64_t now)
{
    struct fdn_buf out;
    fdn_buf_init(&out);
    int rc = fdn_seal_open(r, SUBJ, strlen(SUBJ), p, len, now, &out, NULL);
    if (out.len != (rc == FDN_SEAL_OK ? len - FDN_SEAL_OVERHEAD : 0))
        abort();
    fdn_buf_free(&out);
    return rc;
}

static int expect(const struct model *m, uint64_t c, uint64_t now)
{
    uint64_t t = c >> 16;
    if ((t < now ? now - t : t - now) > FDN_SEAL_FRESH_MS)
        return FDN_SEAL_ESTALE;
    if (!m->known || c > m->top)
        return FDN_SEAL_OK;
    if (m->top - c >= FDN_SEAL_WINDOW)
        return FDN_SEAL_EOLD;
    for (int i = 0; i < m->n; i++)
        if (m->opened[i] == c)
            return FDN_SEAL_EREPLAY;
    return FDN_SEAL_OK;
}

static void script(const uint8_t *data, size_t size)
{
    struct fdn_seal s[2], r;
    struct sent ring[RING];
    struct model m[2] = {{0}};
    int sent = 0;
    uint64_t now = NOW;
    node(&s[0], 1);
    node(&s[1], 2);
    node(&r, 3);
    for (size_t i = 0; i + 1 < size && i < 2 * MAX_OPS; i += 2) {
        uint8_t op = data[i] & 3, arg = data[i + 1];
        if (op == 0) { /* seal */
            struct sent *e = &ring[sent % RING];
            if (sent >= RING)
                fdn_buf_free(&e->b);
            fdn_buf_init(&e->b);
            e->sender = arg & 1;
            fdn_seal_put(&s[e->sender], SUBJ, strlen(SUBJ), "ab", (size_t)(arg >> 1) % 3, now,
                         &e->b);
            e->counter = s[e->sender].counter;
            sent++;
        } else if (op == 1) { /* the clock moves, ahead 0..127 ms or back 1..128 */
            now = arg < 128 ? now + arg : now - (uint64_t)(arg - 127);
        } else if (sent > 0) { /* open one, intact (2) or with a bit of its body flipped (3) */
            struct sent *e = &ring[arg % (sent < RING ? sent : RING)];
            struct model *mm = &m[e->sender];
            int want = expect(mm, e->counter, now);
            if (op == 3) {
                size_t bit = (size_t)arg * 13 % ((e->b.len - FDN_SEAL_HEADER_LEN) * 8);
                e->b.data[FDN_SEAL_HEADER_LEN + bit / 8] ^= (char)(1 << (bit % 8));
                int rc = open_at(&r, e->b.data, e->b.len, now);
                e->b.data[FDN_SEAL_HEADER_LEN + bit / 8] ^= (char)(1 << (bit % 8));
                if (rc != (want == FDN_SEAL_OK ? FDN_SEAL_ETAG : want))
                    abort();
                continue;
            }
            if (open_at(&r, e->b.data, e->b.len, now) != want)
                abort();
            if (want == FDN_SEAL_OK) {
                if (!mm->known || e->counter > mm->top)
                    mm->top = e->counter;
                mm->known = 1;
                mm->opened[mm->n++] = e->counter;
            }
        }
    }
    for (int i = 0; i < (sent < RING ? sent : RING); i++)
        fdn_buf_free(&ring[i].b);
    fdn_seal_free(&s[0]);
    fdn_seal_free(&s[1]);
    fdn_seal_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* an exact-size heap copy, so that ASan sees any read past the message */
    uint8_t *in = malloc(size ? size : 1);
    if (!in)
        abort();
    memcpy(in, data, size);
    struct fdn_seal r;
    node(&r, 9);
    int rc = open_at(&r, in, size, NOW);
    if (rc == FDN_SEAL_OK && open_at(&r, in, size, NOW) != FDN_SEAL_EREPLAY)
        abort();
    if (rc < FDN_SEAL_ETAG || rc > FDN_SEAL_OK)
        abort();
    fdn_seal_free(&r);
    script(in, size);
    free(in);
    return 0;
}
