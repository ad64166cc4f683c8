/* qs.h: the REST gateway's query-string parser, with the semantics of Express's default
 * parser (qs 6.13 with allowPrototypes), building the result as Lua tables. Pure: no I/O.
 *
 * Deliberate differences from qs: more than max_params '&'-separated parts (empty ones count,
 * as in qs's split) is an error, where qs silently drops the rest, so the gateway can answer
 * 400; input longer than max_length is an error (qs has no such limit); depth and array_limit
 * are capped at 64 and 1000; bytes that are not %-escaped pass through unchanged (Node would
 * have read them as latin1). Arrays are 1-based Lua sequences; object keys are always strings
 * (a[21]=x gives {a = {["21"] = "x"}}). Like qs, a[b]=c&a=d gives {a = {b = "c", d = true}}.
 * One addition: a top-level $sort object of several keys keeps their order (Lua tables do
 * not), as the __order list of its metatable, for fdn.query. */
#ifndef FDN_QS_H
#define FDN_QS_H

#include <stddef.h>

#include <lua.h>

#define FDN_QS_MAX_LENGTH 65536 /* default overall length limit (bytes) */
#define FDN_QS_MAX_PARAMS 1000  /* qs parameterLimit */
#define FDN_QS_DEPTH 5          /* qs depth */
#define FDN_QS_ARRAY_LIMIT 20   /* qs arrayLimit: a[20] is an array element, a[21] a key */

/* Registry field where core/lua_json.c keeps the JSON array metatable. */
#define FDN_QS_ARRAY_MT_KEY "fdn.json.array"

struct fdn_qs_limits {
    size_t max_length; /* longer input fails with "query string too long"; 0 = no limit */
    int max_params;    /* more '&'-separated parts fail with "too many parameters"; 0 = none */
    int depth;         /* bracket groups parsed per key; the rest stays one literal key (<= 64) */
    int array_limit;   /* highest index a[i] that makes an array (<= 1000) */
    int array_mt;      /* stack index (absolute, or relative to the top at the call) of the
                        * metatable given to arrays; 0 = the registry field
                        * FDN_QS_ARRAY_MT_KEY (arrays get none when it is nil) */
};

#define FDN_QS_LIMITS_DEFAULT                                                                      \
    {                                                                                              \
        FDN_QS_MAX_LENGTH, FDN_QS_MAX_PARAMS, FDN_QS_DEPTH, FDN_QS_ARRAY_LIMIT, 0                  \
    }

/* Parses s[0..n) (the part after '?', without it). On success pushes one table and returns 0:
 * values are strings (or true, where qs gives true), arrays are 1-based sequences carrying the
 * array metatable. On failure pushes nothing, writes a message to err and returns -1. lim may be
 * NULL for the defaults. Like any Lua API call it may raise a memory error. */
int fdn_qs_parse(lua_State *L, const char *s, size_t n, const struct fdn_qs_limits *lim, char *err,
                 size_t errlen);

/* ---- the percent-decoding (qs_decode.c) ---- */

/* decodeURIComponent on bytes: %XX escapes must be well formed and decode to valid UTF-8
 * (no overlong forms, surrogates or code points past U+10FFFF); other bytes are copied. With
 * plus set, '+' decodes to a space (form encoding). out must hold n bytes; *outlen gets the
 * decoded length. Returns 0, or -1 when the input is malformed (out is then unspecified). */
int fdn_qs_decode(const char *s, size_t n, char *out, size_t *outlen, int plus);

/* qs's decoder, the one fdn_qs_parse applies to keys and values: fdn_qs_decode with plus; when
 * that fails the text is kept as it is, with only '+' replaced by a space. out must hold n
 * bytes; returns the decoded length. */
size_t fdn_qs_decode_lenient(const char *s, size_t n, char *out);

/* What qs does first, in keys and values alike: every %5B / %5D (any case) becomes a bracket.
 * out must hold n bytes; returns the length written. */
size_t fdn_qs_unescape_brackets(const char *s, size_t n, char *out);

#endif
