/* fuzz_frame.c: libFuzzer target for core/frame.c: the input's first byte picks max_frame, the
 * rest is a byte stream parsed frame by frame, once whole and once fed in growing pieces; both
 * must agree, every frame must lie inside the input and re-encode to the same header. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"

#define MAX_FRAMES 4096

static const size_t max_frames[] = {0, FDN_FRAME_MIN_LEN, 7, 16, 64, 1000, 65536};

struct walk {
    size_t off[MAX_FRAMES];
    int size[MAX_FRAMES];
    size_t n;
    int last; /* 0: the rest is an incomplete frame, else the error */
};

static void check_frame(const uint8_t *p, size_t avail, int r, const struct fdn_frame *f,
                        size_t max)
{
    uint8_t h[FDN_FRAME_HEADER];
    if (r < FDN_FRAME_HEADER || (size_t)r > avail || f->size != (size_t)r)
        abort();
    if (f->body != p + FDN_FRAME_HEADER || f->body_len != (size_t)r - FDN_FRAME_HEADER)
        abort();
    if (f->type < 1 || f->type > FDN_FRAME_TYPE_MAX)
        abort();
    if (max && max <= FDN_FRAME_CEILING && (size_t)r - 4 > max)
        abort();
    fdn_frame_header(h, f->type, f->flags, f->id, f->body_len);
    if (memcmp(h, p, sizeof h) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct walk w;
    struct fdn_frame f;
    if (size == 0)
        return 0;
    size_t max = max_frames[data[0] % (sizeof max_frames / sizeof *max_frames)];
    data++;
    size--;

    /* whole */
    size_t off = 0;
    int r;
    w.n = 0;
    while ((r = fdn_frame_parse(data + off, size - off, max, &f)) > 0) {
        check_frame(data + off, size - off, r, &f, max);
        if (w.n < MAX_FRAMES) {
            w.off[w.n] = off;
            w.size[w.n] = r;
        }
        w.n++;
        off += (size_t)r;
    }
    w.last = r;
    if (r == 0 && f.size && f.size <= size - off)
        abort(); /* "need more" although the frame is there */
    if (r < 0 && strcmp(fdn_frame_strerror(r), "frame error") == 0)
        abort();

    /* in pieces of 1..16 bytes, as a socket might deliver them */
    size_t end = 0, k = 0;
    uint32_t seed = (uint32_t)size * 2654435761u;
    off = 0;
    for (;;) {
        r = fdn_frame_parse(data + off, end - off, max, &f);
        if (r > 0) {
            if (k < MAX_FRAMES && (w.off[k] != off || w.size[k] != r))
                abort();
            k++;
            off += (size_t)r;
            continue;
        }
        if (r < 0 || end == size)
            break;
        seed = seed * 1103515245u + 12345u;
        end += 1 + (seed >> 16) % 16;
        if (end > size)
            end = size;
    }
    if (k != w.n || r != w.last)
        abort();
    return 0;
}
