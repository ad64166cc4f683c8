/* fuzz_route.c: libFuzzer target for core/route.c: any request path splits into consistent
 * segments (no NUL, no "." or "..", joined by '/' into the full path) or is rejected cleanly;
 * any method string maps without crashing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "route.h"

static void check_path(const struct fdn_route_path *p)
{
    size_t i, n, pos = 0;
    const char *s;
    if (p->nseg > FDN_ROUTE_MAX_SEGMENTS || p->len > FDN_ROUTE_MAX_LENGTH ||
        strlen(p->buf) != p->len)
        abort();
    for (i = 0; i < p->nseg; i++) {
        const struct fdn_route_seg *g = &p->seg[i];
        if (g->off != pos || g->len == 0 || g->off + g->len > p->len)
            abort();
        if ((g->len == 1 && p->buf[g->off] == '.') ||
            (g->len == 2 && memcmp(p->buf + g->off, "..", 2) == 0))
            abort();
        pos = g->off + g->len;
        if (i + 1 < p->nseg && p->buf[pos++] != '/')
            abort();
    }
    if (pos != p->len)
        abort();
    s = fdn_route_full(p, &n);
    if (s != p->buf || n != p->len)
        abort();
    s = fdn_route_parent(p, &n);
    if (p->nseg < 2 ? s != NULL : (s != p->buf || n + 1 != p->seg[p->nseg - 1].off))
        abort();
    s = fdn_route_last(p, &n);
    if (p->nseg < 2 ? s != NULL : (s != p->buf + p->seg[p->nseg - 1].off || n == 0))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fdn_route_path *p = malloc(sizeof(*p));
    if (fdn_route_split((const char *)data, size, p) == 0)
        check_path(p);
    else if (p->nseg != 0 || p->len != 0)
        abort();
    free(p);

    char *method = malloc(size + 1);
    memcpy(method, data, size);
    method[size] = '\0';
    int has_id, custom;
    for (has_id = 0; has_id < 2; has_id++) {
        for (custom = 0; custom < 2; custom++) {
            enum fdn_route_method m = fdn_route_map(method, has_id, custom);
            const char *name = fdn_route_method_name(m);
            if ((m == FDN_ROUTE_CUSTOM || m == FDN_ROUTE_NOT_ALLOWED) != (name == NULL))
                abort();
        }
    }
    free(method);
    return 0;
}
