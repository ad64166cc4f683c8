/* ratelog.c: a log line that a flood cannot repeat without bound (see ratelog.h). */
#include "ratelog.h"

int fdn_ratelog_allow(struct fdn_ratelog *r, int64_t now, int period_ms, uint32_t burst,
                      uint64_t *dropped_before)
{
    if (dropped_before)
        *dropped_before = 0;
    if (r->start == 0 || now - r->start >= period_ms) {
        if (dropped_before)
            *dropped_before = r->dropped;
        r->start = now ? now : 1;
        r->count = 0;
        r->dropped = 0;
    }
    if (r->count >= burst) {
        r->dropped++;
        return 0;
    }
    r->count++;
    return 1;
}
