/* fuzz_static_path.c: libFuzzer target for what the gateway's browser side reads from clients:
 * core/static_path.c's request path mapping (a result never leaves the public directory: no
 * empty, "." or dot-led segment, no NUL, backslash or control byte) and its conditional
 * headers, and core/cors.c's origin lists, origin match and header-name lists. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cors.h"
#include "static_path.h"

static void check_rel(const char *rel, size_t raw_len)
{
    size_t n = strlen(rel);
    if (n >= raw_len)
        abort(); /* decoding only shortens, and the leading '/' is gone */
    if (n == 0)
        return;
    if (rel[0] == '/' || rel[n - 1] == '/')
        abort();
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)rel[i];
        if (c < 0x20 || c == 0x7f || c == '\\')
            abort();
        if ((i == 0 || rel[i - 1] == '/') && (c == '.' || c == '/'))
            abort(); /* an empty segment, or one that starts with '.' */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *out = malloc(size + 1), *s = malloc(size + 1);
    int dir = -1;
    if (fdn_static_path((const char *)data, size, out, &dir) == 0) {
        check_rel(out, size);
        if (dir != (data[size - 1] == '/'))
            abort();
    } else if (out[0] != 0) {
        abort();
    }
    memcpy(s, data, size);
    s[size] = 0;
    (void)fdn_static_type(s);
    int64_t t;
    if (fdn_static_parse_date(s, &t) == 0 && size == 29 && s[3] == ',') { /* IMF-fixdate */
        char back[FDN_STATIC_DATE_LEN];
        fdn_static_date(t, back);
        if (strcmp(back + 3, s + 3) != 0) /* (the weekday is not checked when reading) */
            abort();
    }
    char etag[FDN_STATIC_ETAG_LEN];
    fdn_static_etag(size, (int64_t)size * 1000, etag);
    (void)fdn_static_not_modified(s, s, etag, 0);
    (void)fdn_static_not_modified(NULL, s, etag, 0);

    const char *err = NULL;
    struct fdn_cors *c = fdn_cors_new((const char *)data, size, &err);
    if (!c && !err)
        abort();
    struct fdn_cors *any = fdn_cors_new("*", 1, &err);
    struct fdn_http_field f[FDN_CORS_MAX_FIELDS];
    size_t n = fdn_cors_fields(c ? c : any, s, 1, s, f);
    if (n < 1 || n > FDN_CORS_MAX_FIELDS)
        abort();
    for (size_t i = 0; i < n; i++) /* never a byte that could split a response */
        for (size_t k = 0; k < f[i].value_len; k++)
            if ((unsigned char)f[i].value[k] < 0x20 && f[i].value[k] != '\t')
                abort();
    (void)fdn_cors_header_list_ok((const char *)data, size);
    fdn_cors_free(c);
    fdn_cors_free(any);
    free(out);
    free(s);
    return 0;
}
