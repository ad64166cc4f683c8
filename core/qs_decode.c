/* qs_decode.c: the query string's percent-decoding, apart from the object builder (qs.c):
 * decodeURIComponent on bytes (escapes that must decode to valid UTF-8), qs's lenient decoder
 * built on it, and the %5B / %5D unescaping qs does before it splits anything. */
#include "qs.h"

#include <stdint.h>

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The byte of the escape "%XX" at s[i], or -1. */
static int escape_at(const char *s, size_t n, size_t i)
{
    if (i >= n || n - i < 3 || s[i] != '%')
        return -1;
    int hi = hexval((unsigned char)s[i + 1]), lo = hexval((unsigned char)s[i + 2]);
    return hi < 0 || lo < 0 ? -1 : hi << 4 | lo;
}

/* Length of the UTF-8 sequence a lead byte >= 0x80 starts, 0 when it cannot start one. */
static int utf8_len(int b)
{
    if ((b & 0xE0) == 0xC0)
        return 2;
    if ((b & 0xF0) == 0xE0)
        return 3;
    if ((b & 0xF8) == 0xF0)
        return 4;
    return 0;
}

/* Decodes the escaped UTF-8 sequence whose lead byte b is at s[i]; 0 or -1. */
static int decode_seq(const char *s, size_t n, size_t i, int b, char *out, int *len)
{
    static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
    int k, count = utf8_len(b);
    if (!count)
        return -1;
    uint32_t cp = (uint32_t)b & (0xFFu >> (count + 1));
    out[0] = (char)b;
    for (k = 1; k < count; k++) {
        int c = escape_at(s, n, i + 3 * (size_t)k);
        if (c < 0 || (c & 0xC0) != 0x80)
            return -1;
        cp = cp << 6 | (uint32_t)(c & 0x3F);
        out[k] = (char)c;
    }
    if (cp < min[count] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return -1;
    *len = count;
    return 0;
}

int fdn_qs_decode(const char *s, size_t n, char *out, size_t *outlen, int plus)
{
    size_t i = 0, o = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (c != '%') {
            out[o++] = plus && c == '+' ? ' ' : (char)c;
            i++;
            continue;
        }
        int b = escape_at(s, n, i), len = 1;
        if (b < 0)
            return -1;
        if (b < 0x80)
            out[o] = (char)b;
        else if (decode_seq(s, n, i, b, out + o, &len) < 0)
            return -1;
        o += (size_t)len;
        i += 3 * (size_t)len;
    }
    *outlen = o;
    return 0;
}

size_t fdn_qs_decode_lenient(const char *s, size_t n, char *out)
{
    size_t len, i;
    if (fdn_qs_decode(s, n, out, &len, 1) < 0) {
        for (i = 0; i < n; i++)
            out[i] = s[i] == '+' ? ' ' : s[i];
        len = n;
    }
    return len;
}

size_t fdn_qs_unescape_brackets(const char *s, size_t n, char *out)
{
    size_t i = 0, o = 0;
    while (i < n) {
        if (s[i] == '%' && n - i >= 3 && s[i + 1] == '5') {
            char c = s[i + 2];
            if (c == 'B' || c == 'b' || c == 'D' || c == 'd') {
                out[o++] = c == 'B' || c == 'b' ? '[' : ']';
                i += 3;
                continue;
            }
        }
        out[o++] = s[i++];
    }
    return o;
}
