/* ratelog.h: a log line that a flood cannot repeat without bound: at most `burst` lines per
 * period, the rest counted, and the count said once when the next period begins. Pure: the
 * caller passes the time. */
#ifndef FDN_RATELOG_H
#define FDN_RATELOG_H

#include <stdint.h>

struct fdn_ratelog {
    int64_t start;    /* when the current period began (ms); 0 before the first line */
    uint32_t count;   /* lines allowed in the current period */
    uint64_t dropped; /* lines not allowed in the current period */
};

/* Whether one more line may be logged at now (ms): 1 for at most burst lines per period_ms,
 * else 0 (the line is counted as dropped). When a new period begins and lines were dropped
 * in the last one, *dropped_before (if not NULL) gets their count, else 0. */
int fdn_ratelog_allow(struct fdn_ratelog *r, int64_t now, int period_ms, uint32_t burst,
                      uint64_t *dropped_before);

#endif
