/* json_text.h: what json.c's encoder and decoder share (and the UTF-8 check: ws.c, and util.c's
 * JSON log lines; not for other modules): the text of JSON strings (UTF-8 sequences per RFC 3629,
 * and runs of plain text found a word at a time), and the null sentinel's address. Inline: both
 * loops are the codec's hot path. */
#ifndef FDN_JSON_TEXT_H
#define FDN_JSON_TEXT_H

#include <stdint.h>
#include <string.h>

/* The null sentinel is a light userdata pointing here (json.c). */
extern const char fdn_json_null_tag;

/* The UTF-8 sequence at p (p < end, *p >= 0x80), per RFC 3629: its length (2..4) when it is
 * well formed; else minus the length of its maximal well-formed prefix (1..3, the bytes that
 * one U+FFFD stands for, as WHATWG's decoder and Node's Buffer#toString count them). Refused:
 * stray continuation bytes, 0xC0, 0xC1 and 0xF5..0xFF, overlong forms, surrogates
 * (U+D800..U+DFFF), code points above U+10FFFF and sequences cut short. */
static inline int fdn_json_utf8_seq(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0], lo = 0x80, hi = 0xbf;
    int n;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0)
            lo = 0xa0; /* overlong below U+0800 */
        else if (c == 0xed)
            hi = 0x9f; /* surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0)
            lo = 0x90; /* overlong below U+10000 */
        else if (c == 0xf4)
            hi = 0x8f; /* above U+10FFFF */
    } else {
        return -1;
    }
    for (int i = 1; i < n; i++) {
        if (p + i == end || p[i] < lo || p[i] > hi)
            return -i;
        lo = 0x80;
        hi = 0xbf;
    }
    return n;
}

/* The bytes that end a plain run of string text, both ways: '"', '\\', control characters,
 * and the bytes >= 0x80 (UTF-8, checked apart; the run then goes on). */
// clang-format off
static const unsigned char fdn_json_stop[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    ['"'] = 1, ['\\'] = 1,
    [0x80 ... 0xff] = 1,
};
// clang-format on

/* The first byte from p on (before end) that is a stop, or end. Most runs are short (keys,
 * words between two non-ASCII characters), so the first 8 bytes are looked at one by one;
 * past them, a word at a time: a byte is flagged when it has its high bit (>= 0x80), when
 * subtracting 0x20 sets it (< 0x20), or when it is zero after an xor with '"' or '\\'. A
 * subtraction's borrow runs only toward higher bytes, from a byte that is flagged anyway, so
 * the lowest flag is the first stop. */
static inline const unsigned char *fdn_json_plain_run(const unsigned char *p,
                                                      const unsigned char *end)
{
    const unsigned char *lim = end - p > 8 ? p + 8 : end;
    while (p < lim && !fdn_json_stop[*p])
        p++;
    if (p < lim || p == end)
        return p;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uint64_t ones = 0x0101010101010101u, high = 0x8080808080808080u;
    while (end - p >= 8) {
        uint64_t v, q, b;
        memcpy(&v, p, 8);
        q = v ^ (ones * '"');
        b = v ^ (ones * '\\');
        uint64_t m = (v | (v - ones * 0x20) | ((q - ones) & ~q) | ((b - ones) & ~b)) & high;
        if (m)
            return p + (__builtin_ctzll(m) >> 3);
        p += 8;
    }
#endif
    while (p < end && !fdn_json_stop[*p])
        p++;
    return p;
}

#endif
