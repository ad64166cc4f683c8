/* json.h: JSON <-> Lua codec working directly on the Lua stack (no I/O, no global state).
 * Round-trips exactly: 64-bit integers, full-precision floats, [] vs {} (fdn.json.array_mt),
 * null as the sentinel fdn.json.null. See DESIGN.md §6. */
#ifndef FDN_JSON_H
#define FDN_JSON_H

#include <stddef.h>

#include <lua.h>

#include "buf.h"

/* Nesting limit for both directions: 128 nested arrays/objects decode and encode, 129 do not.
 * It also stops cycles on encode ("too deep"). There is no size limit here: the input
 * length is bounded by the caller (frame size, --max-body). */
#define FDN_JSON_MAX_DEPTH 128

/* Registry name of the array metatable (also its __name). */
#define FDN_JSON_ARRAY_MT "fdn.json.array"

/* Whether the encoder writes the value at idx as a JSON array: a table with the array
 * metatable, or a non-empty sequence 1..n with no other key. The one definition of "a list";
 * fdn.json.is_array is this. */
int fdn_json_is_array(lua_State *L, int idx);

/* Pushes the array metatable (created in the registry on first use) / the null sentinel. */
void fdn_json_push_array_mt(lua_State *L);
void fdn_json_push_null(lua_State *L);
int fdn_json_is_null(lua_State *L, int idx);

/* Encodes the value at idx and appends it to *out. Returns 0, or -1 with a short message
 * in err (err may be NULL when errlen is 0) and *out as it was; the stack is left as it was
 * either way (raw access only: no metamethods run). Sequences (keys exactly 1..n) and
 * array_mt tables are arrays; other tables objects, integer keys written as strings. The
 * output is always UTF-8: in a string (or key) that is not, each maximal ill-formed part
 * becomes U+FFFD (as Node's Buffer#toString does), so binary data in a Lua string is
 * written lossily rather than refused. */
int fdn_json_encode(lua_State *L, int idx, struct fdn_buf *out, char *err, size_t errlen);

/* Encodes the values at from..to as fdn_json_encode does, comma-separated: the inside of a
 * JSON list. Negative indices count from the top; none is encoded when to < from (from = 1
 * and to = 0 for an empty range). */
int fdn_json_encode_items(lua_State *L, int from, int to, struct fdn_buf *out, char *err,
                          size_t errlen);

/* Decodes s[0..n) (need not be NUL-terminated). Returns 0 and pushes the value, or -1
 * with a message such as "unexpected character at 17" (1-based byte position) and
 * pushes nothing. May raise only on Lua out-of-memory. Arrays get array_mt, objects are
 * plain tables with string keys, null is the sentinel; numbers without '.'/'e' that fit
 * int64 are integers, others floats (a float overflowing to inf is "number out of range").
 * Strings must be UTF-8 per RFC 3629 ("invalid UTF-8": overlong forms, surrogates, bytes
 * 0xC0, 0xC1, 0xF5..0xFF, stray or missing continuation bytes), and a \u escape of a lone
 * surrogate is refused too ("invalid unicode escape"; JSON.parse takes it, but no UTF-8
 * string can hold it): every decoded string is valid UTF-8. */
int fdn_json_decode(lua_State *L, const char *s, size_t n, char *err, size_t errlen);

/* Decodes s[0..n), a JSON array, straight onto the stack: pushes its first `want` items
 * (0..255), nil where the array is shorter or an item is null (a null deeper inside an item
 * stays the sentinel), and returns 0; the
 * items after `want` are checked and dropped. Returns 1 and pushes nothing when s is not
 * an array (it may not even be JSON); -1 with err set as fdn_json_decode when it is a
 * malformed one. No table is built for the array itself. */
int fdn_json_decode_items(lua_State *L, const char *s, size_t n, int want, char *err,
                          size_t errlen);

#endif
