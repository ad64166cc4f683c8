/* traceparent.c: W3C Trace Context's traceparent header checked (the gateway and the links read
 * it from outside: a client's header, another node's request). */
#include "traceparent.h"

static int lower_hex(const char *s, size_t from, size_t to, int *all_zero)
{
    int zero = 1;
    for (size_t i = from; i < to; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return 0;
        zero &= c == '0';
    }
    if (all_zero)
        *all_zero = zero;
    return 1;
}

int fdn_traceparent_valid(const char *s, size_t n)
{
    int zero_id, zero_parent;
    if (n < FDN_TRACEPARENT_LEN || s[2] != '-' || s[35] != '-' || s[52] != '-')
        return 0;
    if (!lower_hex(s, 0, 2, NULL) || (s[0] == 'f' && s[1] == 'f'))
        return 0;
    if (!lower_hex(s, 3, 35, &zero_id) || !lower_hex(s, 36, 52, &zero_parent) ||
        !lower_hex(s, 53, 55, NULL) || zero_id || zero_parent)
        return 0;
    if (n > FDN_TRACEPARENT_LEN && ((s[0] == '0' && s[1] == '0') || s[FDN_TRACEPARENT_LEN] != '-'))
        return 0;
    return 1;
}
