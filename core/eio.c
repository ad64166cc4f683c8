/* eio.c: Engine.IO v4 and Socket.IO v5 packet codecs (eio.h): split a polling payload, read a
 * Socket.IO header (type, namespace, ack id) and check the shape of its data, write a header.
 * Pure: no I/O, no allocation; every result points into the input. */
#include "eio.h"

#include <string.h>

int fdn_eio_next(const char *payload, size_t len, size_t *pos, struct fdn_eio_packet *p)
{
    size_t start = *pos;
    if (start > len)
        return 0;
    if (start == len) /* the end, unless the payload is empty or ends with a separator */
        return start > 0 && payload[start - 1] != FDN_EIO_SEPARATOR ? 0 : -1;
    const char *sep = memchr(payload + start, FDN_EIO_SEPARATOR, len - start);
    size_t end = sep ? (size_t)(sep - payload) : len;
    *pos = sep ? end + 1 : len;
    if (end == start)
        return -1;
    char c = payload[start];
    if (c < '0' + FDN_EIO_OPEN || c > '0' + FDN_EIO_NOOP)
        return -1; /* unknown, or 'b' (base64 binary): not supported */
    p->type = (enum fdn_eio_type)(c - '0');
    p->data = payload + start + 1;
    p->len = end - start - 1;
    return 1;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Whether the data (NULL when none) has the shape the type requires. */
static int data_fits(enum fdn_sio_type type, const char *d, size_t n)
{
    switch (type) {
    case FDN_SIO_CONNECT:
        return !d || d[0] == '{';
    case FDN_SIO_DISCONNECT:
        return !d;
    case FDN_SIO_CONNECT_ERROR:
        return d && d[0] == '{';
    case FDN_SIO_EVENT: { /* a non-empty array: its first element is the event's name */
        if (!d || d[0] != '[')
            return 0;
        size_t i = 1;
        while (i < n && is_space(d[i]))
            i++;
        return i < n && d[i] != ']';
    }
    case FDN_SIO_ACK:
        return d && d[0] == '[';
    default:
        return 0;
    }
}

int fdn_sio_parse(const char *s, size_t len, struct fdn_sio_packet *p)
{
    if (len == 0 || s[0] < '0' + FDN_SIO_CONNECT || s[0] > '0' + FDN_SIO_CONNECT_ERROR)
        return -1; /* unknown, or binary (5, 6: attachments are not supported) */
    enum fdn_sio_type type = (enum fdn_sio_type)(s[0] - '0');
    size_t i = 1;

    const char *nsp = "/";
    size_t nsp_len = 1;
    if (i < len && s[i] == '/') {
        const char *comma = memchr(s + i, ',', len - i);
        if (!comma || (size_t)(comma - (s + i)) > FDN_SIO_MAX_NSP)
            return -1;
        nsp = s + i;
        nsp_len = (size_t)(comma - nsp);
        i += nsp_len + 1;
    }

    long long id = FDN_SIO_NO_ID;
    if (i < len && is_digit(s[i])) {
        id = 0;
        for (; i < len && is_digit(s[i]); i++) {
            id = id * 10 + (s[i] - '0');
            if (id > FDN_SIO_MAX_ID)
                return -1;
        }
    }

    const char *data = i < len ? s + i : NULL;
    size_t data_len = len - i;
    if (!data_fits(type, data, data_len))
        return -1;
    p->type = type;
    p->nsp = nsp;
    p->nsp_len = nsp_len;
    p->id = id;
    p->data = data;
    p->data_len = data ? data_len : 0;
    return 0;
}

size_t fdn_sio_header(char *out, enum fdn_sio_type type, const char *nsp, size_t nsp_len,
                      long long id)
{
    size_t n = 0;
    out[n++] = '0' + FDN_EIO_MESSAGE;
    out[n++] = (char)('0' + type);
    if (nsp && nsp_len > 0 && !(nsp_len == 1 && nsp[0] == '/')) {
        if (nsp_len > FDN_SIO_MAX_NSP) /* never past out's size; parsed names are no longer */
            nsp_len = FDN_SIO_MAX_NSP;
        memcpy(out + n, nsp, nsp_len);
        n += nsp_len;
        out[n++] = ',';
    }
    if (id >= 0) {
        char digits[20];
        size_t k = 0;
        unsigned long long v = (unsigned long long)id;
        do {
            digits[k++] = (char)('0' + v % 10);
            v /= 10;
        } while (v);
        while (k)
            out[n++] = digits[--k];
    }
    return n;
}
