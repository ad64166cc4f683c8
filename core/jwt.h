/* jwt.h: JSON Web Tokens signed with HS256 (RFC 7515/7519): strict base64url, sign, and a
 * verify that checks what jsonwebtoken's verify checks, with its messages. Pure: no I/O; the
 * header and payload are decoded by json.h onto a Lua stack. */
#ifndef FDN_JWT_H
#define FDN_JWT_H

#include <stddef.h>
#include <stdint.h>

#include <lua.h>

#include "buf.h"

#define FDN_JWT_MAX_LEN 8192 /* a longer token is refused ("jwt malformed") */
#define FDN_JWT_SIG_TEXT 43  /* an HS256 signature in base64url: 32 bytes, no padding */

/* Characters base64url needs for n bytes (no padding), and at most the bytes n characters hold. */
#define FDN_JWT_B64_LEN(n) (((n) / 3) * 4 + ((n) % 3 ? (n) % 3 + 1 : 0))
#define FDN_JWT_B64_MAX_BYTES(n) (((n) / 4) * 3 + ((n) % 4 ? (n) % 4 - 1 : 0))

/* Writes FDN_JWT_B64_LEN(n) characters to out (not NUL-terminated); returns that length. */
size_t fdn_jwt_b64_encode(const uint8_t *in, size_t n, char *out);

/* Decodes base64url strictly: only A-Z a-z 0-9 - _, no padding, no whitespace, a length that is
 * not 1 mod 4, and zero unused bits in the last character (so every byte string has exactly one
 * accepted text). Writes at most cap bytes. Returns 0 with *outlen set, or -1 (bad text, or more
 * than cap bytes). */
int fdn_jwt_b64_decode(const char *in, size_t n, uint8_t *out, size_t cap, size_t *outlen);

#define FDN_JWT_TYP_MAX 32 /* a longer typ is refused by sign (and never matches in verify) */

/* Whether s[0..n) may be a header's typ: 1..FDN_JWT_TYP_MAX of A-Z a-z 0-9 . _ + / - (so it needs
 * no JSON escaping). */
int fdn_jwt_typ_ok(const char *s, size_t n);

/* Appends header.payload.signature to out: the header is {"alg":"HS256","typ":TYP} with typ
 * ("JWT" when NULL; Feathers signs "access"), the payload the n bytes given (JSON, not checked
 * here). Returns 0, or -1 when typ is not fdn_jwt_typ_ok or the token would exceed
 * FDN_JWT_MAX_LEN (out as it was). */
int fdn_jwt_sign(const char *payload, size_t n, const char *typ, const uint8_t *key, size_t keylen,
                 struct fdn_buf *out);

/* What verify checks besides the signature. algorithm NULL means "HS256", the only one there is;
 * typ is the header's typ the token must have when it has one (compared without case, as a
 * media type; NULL means "JWT"); audience and issuer NULL are not checked; leeway (seconds,
 * 0..10^9: now - leeway must not overflow) widens exp and nbf, as jsonwebtoken's clockTolerance. */
struct fdn_jwt_opts {
    const char *algorithm;
    const char *typ;
    const char *audience;
    const char *issuer;
    int64_t leeway;
};

/* Verify's outcomes; err gets jsonwebtoken's message for each (quoted). */
enum fdn_jwt_status {
    FDN_JWT_OK = 0,
    FDN_JWT_MALFORMED = -1,    /* "jwt malformed": not three parts, or too long */
    FDN_JWT_INVALID = -2,      /* "invalid token": bad base64url, header or payload not an
                                  object, typ other than opts' typ */
    FDN_JWT_NO_SIGNATURE = -3, /* "jwt signature is required" */
    FDN_JWT_NO_KEY = -4,       /* "secret or public key must be provided" */
    FDN_JWT_ALGORITHM = -5,    /* "invalid algorithm": alg is not the configured one */
    FDN_JWT_SIGNATURE = -6,    /* "invalid signature" */
    FDN_JWT_NBF_VALUE = -7,    /* "invalid nbf value": not a number */
    FDN_JWT_NOT_ACTIVE = -8,   /* "jwt not active": now < nbf */
    FDN_JWT_EXP_VALUE = -9,    /* "invalid exp value": not a number */
    FDN_JWT_EXPIRED = -10,     /* "jwt expired": now >= exp */
    FDN_JWT_AUDIENCE = -11,    /* "jwt audience invalid. expected: <audience>" */
    FDN_JWT_ISSUER = -12,      /* "jwt issuer invalid. expected: <issuer>" */
};

/* Verifies tok[0..n) with key at time now (Unix seconds). Returns FDN_JWT_OK and pushes the
 * payload (a table, decoded by fdn_json_decode), or a negative status with err set (when errlen
 * > 0) and nothing pushed. Order, as jsonwebtoken's: structure, base64url and the header; an
 * empty signature; alg; the signature (HMAC-SHA256, compared in constant time); only then is
 * the payload decoded; nbf, exp, aud, iss. May raise only on Lua out-of-memory. */
int fdn_jwt_verify(lua_State *L, const char *tok, size_t n, const uint8_t *key, size_t keylen,
                   int64_t now, const struct fdn_jwt_opts *opts, char *err, size_t errlen);

#endif
