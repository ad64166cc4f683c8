/* fuzz_traceparent.c: libFuzzer target for core/traceparent.c: any input is checked without
 * reading past its end; a valid one has non-zero lowercase ids, and its version 00 form (the
 * fields it names) is valid too. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "traceparent.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size ? size : 1); /* exactly size bytes: ASan sees a read past them */
    memcpy(copy, data, size);
    if (fdn_traceparent_valid(copy, size)) {
        char v00[FDN_TRACEPARENT_LEN];
        memcpy(v00, "00", 2);
        memcpy(v00 + 2, copy + 2, FDN_TRACEPARENT_LEN - 2);
        if (!fdn_traceparent_valid(v00, sizeof v00))
            abort();
        if (strspn(v00 + 3, "0") >= 32 || strspn(v00 + 36, "0") >= 16)
            abort();
    }
    free(copy);
    return 0;
}
