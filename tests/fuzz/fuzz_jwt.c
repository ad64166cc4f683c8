/* fuzz_jwt.c: libFuzzer target for core/jwt.c. The first byte picks: verify the rest as a token;
 * make a correctly signed token of "header\npayload" and verify it (reaching the claims); or sign
 * the rest as a payload and verify it back. Any base64url the decoder accepts re-encodes to the
 * same text. Aborts on a wrong status, an unbalanced stack or a payload that does not survive. */
#include "jwt.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <mbedtls/md.h>

#include "json.h"

static const uint8_t key[] = "fuzz-key";
#define NOW 1700000000

static lua_State *L;

static int verify(const char *tok, size_t n, const struct fdn_jwt_opts *o)
{
    char err[128];
    int top = lua_gettop(L);
    int rc = fdn_jwt_verify(L, tok, n, key, sizeof key - 1, NOW, o, err, sizeof err);
    if (rc > 0 || rc < FDN_JWT_ISSUER || lua_gettop(L) != top + (rc == 0))
        abort();
    if (rc == 0 && (lua_type(L, -1) != LUA_TTABLE || lua_getmetatable(L, -1)))
        abort();
    if (rc != 0 && (err[0] == 0 || strlen(err) >= sizeof err))
        abort();
    lua_settop(L, top);
    return rc;
}

static void b64_roundtrip(const uint8_t *data, size_t size)
{
    uint8_t *raw = malloc(size + 1);
    char *back = malloc(size + 4);
    size_t n;
    if (!raw || !back)
        abort();
    if (fdn_jwt_b64_decode((const char *)data, size, raw, size, &n) == 0) {
        if (FDN_JWT_B64_LEN(n) != size || fdn_jwt_b64_encode(raw, n, back) != size ||
            memcmp(back, data, size) != 0)
            abort();
    }
    free(raw);
    free(back);
}

/* header\npayload -> header.payload.signature, signed with the key (no other check). */
static void forged(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    if (!nl)
        return;
    size_t hn = (size_t)(nl - data), pn = size - hn - 1;
    char *tok = malloc(FDN_JWT_B64_LEN(hn) + FDN_JWT_B64_LEN(pn) + 2 + FDN_JWT_SIG_TEXT);
    if (!tok)
        abort();
    char *p = tok + fdn_jwt_b64_encode(data, hn, tok);
    *p++ = '.';
    p += fdn_jwt_b64_encode(nl + 1, pn, p);
    uint8_t mac[32];
    mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), key, sizeof key - 1,
                    (const uint8_t *)tok, (size_t)(p - tok), mac);
    *p++ = '.';
    p += fdn_jwt_b64_encode(mac, 32, p);
    struct fdn_jwt_opts o = {.audience = "a", .issuer = "i"};
    size_t n = (size_t)(p - tok);
    int rc = verify(tok, n, &o);
    /* correctly signed: malformed only when too long, never a signature failure */
    if ((rc == FDN_JWT_MALFORMED) != (n > FDN_JWT_MAX_LEN) || rc == FDN_JWT_SIGNATURE ||
        rc == FDN_JWT_NO_SIGNATURE || rc == FDN_JWT_NO_KEY)
        abort();
    verify(tok, n, NULL);
    free(tok);
}

/* sign the input as a payload; when it is a JSON object that fits, it verifies back equal. */
static void signed_back(const uint8_t *data, size_t size)
{
    struct fdn_buf b;
    fdn_buf_init(&b);
    int top = lua_gettop(L);
    int object = fdn_json_decode(L, (const char *)data, size, NULL, 0) == 0 &&
                 lua_type(L, -1) == LUA_TTABLE && !lua_getmetatable(L, -1);
    lua_settop(L, top);
    if (fdn_jwt_sign((const char *)data, size, NULL, key, sizeof key - 1, &b) == 0) {
        int rc = verify(b.data, b.len, NULL);
        if (object ? rc != 0 && rc > FDN_JWT_NBF_VALUE : rc != FDN_JWT_INVALID)
            abort();
        if (rc == 0 && memcmp(b.data, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.", 37) != 0)
            abort();
    } else if (37 + FDN_JWT_B64_LEN(size) + 1 + FDN_JWT_SIG_TEXT <= FDN_JWT_MAX_LEN) {
        abort();
    }
    fdn_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!L)
        L = luaL_newstate();
    if (size == 0)
        return 0;
    /* an exact-size heap copy, so that ASan sees any read past the input */
    uint8_t *in = malloc(size - 1 ? size - 1 : 1);
    if (!in)
        abort();
    memcpy(in, data + 1, size - 1);
    switch (data[0] % 3) {
    case 0:
        verify((const char *)in, size - 1, NULL);
        verify((const char *)in, size - 1, &(struct fdn_jwt_opts){.audience = "a", .leeway = 5});
        b64_roundtrip(in, size - 1);
        break;
    case 1:
        forged(in, size - 1);
        break;
    default:
        signed_back(in, size - 1);
        break;
    }
    free(in);
    return 0;
}
