/* test_ratelog.c: unit tests of the rate-limited log line: the burst, the count of lines not
 * allowed said once when the next period begins, and a clock at 0. */
#include "check.h"
#include "ratelog.h"

int main(void)
{
    struct fdn_ratelog r = {0};
    uint64_t unsaid = 99;
    CHECK(fdn_ratelog_allow(&r, 1000, 100, 2, &unsaid) == 1 && unsaid == 0);
    CHECK(fdn_ratelog_allow(&r, 1010, 100, 2, &unsaid) == 1 && unsaid == 0);
    CHECK(fdn_ratelog_allow(&r, 1020, 100, 2, &unsaid) == 0); /* over the burst */
    CHECK(fdn_ratelog_allow(&r, 1099, 100, 2, &unsaid) == 0);
    CHECK(r.dropped == 2);
    CHECK(fdn_ratelog_allow(&r, 1100, 100, 2, &unsaid) == 1 && unsaid == 2); /* a new period */
    CHECK(fdn_ratelog_allow(&r, 1150, 100, 2, &unsaid) == 1 && unsaid == 0);
    CHECK(fdn_ratelog_allow(&r, 5000, 100, 2, NULL) == 1); /* NULL: the count is not wanted */

    struct fdn_ratelog once = {0}; /* burst 1: once per period; a clock at 0 still counts */
    CHECK(fdn_ratelog_allow(&once, 0, 10, 1, NULL) == 1);
    CHECK(fdn_ratelog_allow(&once, 5, 10, 1, NULL) == 0);
    CHECK(fdn_ratelog_allow(&once, 11, 10, 1, &unsaid) == 1 && unsaid == 1);
    return check_summary("ratelog");
}
