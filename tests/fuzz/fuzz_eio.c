/* fuzz_eio.c: libFuzzer target for core/eio.c: the input is split as a polling payload and each
 * message packet parsed as Socket.IO (the whole input too); every result must lie inside the
 * input and have the header's shape, and fdn_sio_header + the data must parse back the same. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eio.h"

static int inside(const char *p, size_t n, const char *base, size_t len)
{
    return p >= base && n <= len && (size_t)(p - base) <= len - n;
}

static void check_sio(const char *s, size_t len)
{
    struct fdn_sio_packet p, q;
    if (fdn_sio_parse(s, len, &p) != 0)
        return;
    if (p.type > FDN_SIO_CONNECT_ERROR)
        abort();
    if (p.nsp_len < 1 || p.nsp_len > FDN_SIO_MAX_NSP || p.nsp[0] != '/')
        abort();
    if (!(p.nsp_len == 1 || inside(p.nsp, p.nsp_len, s, len)) || memchr(p.nsp, ',', p.nsp_len))
        abort();
    if (p.id != FDN_SIO_NO_ID && (p.id < 0 || p.id > FDN_SIO_MAX_ID))
        abort();
    if (p.data) {
        if (!p.data_len || !inside(p.data, p.data_len, s, len) || p.data + p.data_len != s + len)
            abort();
        if (p.data[0] != '[' && p.data[0] != '{')
            abort();
    } else if (p.data_len) {
        abort();
    }
    if ((p.type == FDN_SIO_EVENT || p.type == FDN_SIO_ACK) && (!p.data || p.data[0] != '['))
        abort();
    if (p.type == FDN_SIO_DISCONNECT && p.data)
        abort();

    /* the header written for it, then the same data, reads back as the same packet */
    static char buf[FDN_SIO_HEADER_MAX + (1 << 20)];
    if (p.data_len > sizeof buf - FDN_SIO_HEADER_MAX)
        return;
    size_t n = fdn_sio_header(buf, p.type, p.nsp, p.nsp_len, p.id);
    if (n < 2 || n > FDN_SIO_HEADER_MAX || buf[0] != '4')
        abort();
    if (p.data_len)
        memcpy(buf + n, p.data, p.data_len);
    n += p.data_len;
    if (fdn_sio_parse(buf + 1, n - 1, &q) != 0)
        abort();
    if (q.type != p.type || q.id != p.id || q.nsp_len != p.nsp_len ||
        memcmp(q.nsp, p.nsp, p.nsp_len) != 0 || q.data_len != p.data_len ||
        (p.data_len && memcmp(q.data, p.data, p.data_len) != 0) || !q.data != !p.data)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    struct fdn_eio_packet p;
    size_t pos = 0, prev = 0, count = 0;
    int r;
    while ((r = fdn_eio_next(s, size, &pos, &p)) > 0) {
        if (pos <= prev || pos > size || count++ > size)
            abort(); /* no progress, or past the end */
        if (p.type > FDN_EIO_NOOP || p.data != s + prev + 1 || !inside(p.data, p.len, s, size))
            abort();
        if (memchr(p.data, FDN_EIO_SEPARATOR, p.len))
            abort();
        if (pos != size && s[pos - 1] != FDN_EIO_SEPARATOR)
            abort();
        if (p.type == FDN_EIO_MESSAGE)
            check_sio(p.data, p.len);
        prev = pos;
    }
    if (r == 0 && (pos != size || size == 0 || s[size - 1] == FDN_EIO_SEPARATOR))
        abort(); /* the end, only at a real end */
    check_sio(s, size);
    return 0;
}
