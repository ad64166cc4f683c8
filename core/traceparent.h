/* traceparent.h: W3C Trace Context's traceparent header (level 1): checked and split. */
#ifndef FDN_TRACEPARENT_H
#define FDN_TRACEPARENT_H

#include <stddef.h>

#define FDN_TRACEPARENT_LEN 55 /* "00-" 32 hex "-" 16 hex "-" 2 hex */

/* Whether s (n bytes) is a valid traceparent: lowercase hex fields of 2, 32, 16 and 2 digits
 * joined by '-', version not ff, neither the trace id nor the parent id all zeros; version 00 is
 * exactly FDN_TRACEPARENT_LEN bytes, a later version may go on after a '-' (its first fields read
 * as version 00's). When valid, the trace id is s + 3, the parent id s + 36, the flags s + 53. */
int fdn_traceparent_valid(const char *s, size_t n);

#endif
