/* test_jwt.c: core/jwt.c: base64url (RFC 4648 vectors, strictness), the RFC 7515 HS256 example,
 * tokens made by npm jsonwebtoken 9.0.2 (fixed vectors), and every refusal with its message. */
#include <lauxlib.h>
#include <lualib.h>
#include <stdlib.h>

#include "check.h"
#include "jwt.h"

#include <mbedtls/md.h>

static lua_State *L;
static char err[200];

/* Verifies tok with key at now; returns the status, err holding the message. */
static int verify_at(const char *tok, const char *key, int64_t now, const struct fdn_jwt_opts *o)
{
    int top = lua_gettop(L);
    err[0] = 0;
    int rc = fdn_jwt_verify(L, tok, strlen(tok), (const uint8_t *)key, strlen(key), now, o, err,
                            sizeof err);
    check_at(lua_gettop(L) == top + (rc == 0), __FILE__, __LINE__, "stack balance");
    if (rc == 0)
        strcpy(err, "ok");
    lua_settop(L, top);
    return rc;
}

#define REFUSED(tok, key, now, o, msg) CHECK_STR((verify_at(tok, key, now, o), err), msg)

static char *sign(const char *payload, const char *key)
{
    static char out[FDN_JWT_MAX_LEN + 1];
    struct fdn_buf b;
    fdn_buf_init(&b);
    if (fdn_jwt_sign(payload, strlen(payload), NULL, (const uint8_t *)key, strlen(key), &b) < 0) {
        fdn_buf_free(&b);
        return NULL;
    }
    memcpy(out, b.data, b.len);
    out[b.len] = 0;
    fdn_buf_free(&b);
    return out;
}

static void test_b64(void)
{
    static const char *vec[][2] = {
        {"", ""},           {"f", "Zg"},          {"fo", "Zm8"},          {"foo", "Zm9v"},
        {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"}, {"\xfb\xff", "-_8"}};
    char txt[32];
    uint8_t raw[32];
    size_t n;
    for (size_t i = 0; i < sizeof vec / sizeof vec[0]; i++) {
        n = fdn_jwt_b64_encode((const uint8_t *)vec[i][0], strlen(vec[i][0]), txt);
        txt[n] = 0;
        CHECK_STR(txt, vec[i][1]);
        CHECK(n == FDN_JWT_B64_LEN(strlen(vec[i][0])));
        CHECK(fdn_jwt_b64_decode(vec[i][1], n, raw, sizeof raw, &n) == 0 &&
              n == strlen(vec[i][0]) && memcmp(raw, vec[i][0], n) == 0);
    }
    /* every length 0..200 of pseudo-random bytes round-trips */
    uint8_t in[200], back[200];
    char t[300];
    srand(15);
    for (size_t len = 0; len <= sizeof in; len++) {
        for (size_t i = 0; i < len; i++)
            in[i] = (uint8_t)rand();
        size_t tn = fdn_jwt_b64_encode(in, len, t);
        CHECK(fdn_jwt_b64_decode(t, tn, back, len, &n) == 0 && n == len &&
              memcmp(in, back, len) == 0);
        if (len)
            CHECK(fdn_jwt_b64_decode(t, tn, back, len - 1, &n) < 0); /* over cap */
    }
    static const char *bad[] = {"Zg==", "Zg=", "Zm9v\n", " Zm9v", "Zm 9v", "+/8",   "Zm+v",
                                "Zm/v", "Z",   "Zm9vY",  "Zh",    "Zm9",   "Zm8A=", "Zm\0v"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (!CHECK(fdn_jwt_b64_decode(bad[i], strlen(bad[i]) + (i == 13 ? 2 : 0), raw, sizeof raw,
                                      &n) < 0))
            fprintf(stderr, "  accepted: %s\n", bad[i]);
    CHECK(fdn_jwt_b64_decode("Zm8", 3, raw, sizeof raw, &n) == 0 && n == 2);
    CHECK(fdn_jwt_b64_decode("Zm9", 3, raw, sizeof raw, &n) < 0); /* unused bits not zero */
}

/* RFC 7515 appendix A.1 (also RFC 7519 section 3.1): its header has a CRLF and typ first. */
static void test_rfc7515(void)
{
    static const uint8_t key_b64[] = "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtM"
                                     "N3Yj0iPS4hcgUuTwjAzZr1Z9CAow";
    static const char tok[] =
        "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAi"
        "OjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ."
        "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    uint8_t key[64];
    size_t kl;
    CHECK(fdn_jwt_b64_decode((const char *)key_b64, sizeof key_b64 - 1, key, sizeof key, &kl) == 0);
    struct fdn_jwt_opts o = {.issuer = "joe"};
    CHECK(fdn_jwt_verify(L, tok, strlen(tok), key, kl, 1300819379, &o, err, sizeof err) == 0);
    lua_getfield(L, -1, "http://example.com/is_root");
    CHECK(lua_toboolean(L, -1));
    lua_getfield(L, -2, "exp");
    CHECK(lua_isinteger(L, -1) && lua_tointeger(L, -1) == 1300819380);
    lua_settop(L, 0);
    CHECK(fdn_jwt_verify(L, tok, strlen(tok), key, kl, 1300819380, &o, err, sizeof err) ==
          FDN_JWT_EXPIRED);
    CHECK_STR(err, "jwt expired");
    CHECK(lua_gettop(L) == 0);
}

/* Made by jsonwebtoken 9.0.2's sign (key, token, payload text), now = 1700000000. */
static const char *const npm[][3] = {
    {"supersecret",
     "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
     "eyJzdWIiOiI0MiIsImlhdCI6MTcwMDAwMDAwMCwiZXhwIjoxNzAwMDg2ND"
     "AwLCJhdWQiOiJodHRwczovL3lvdXJkb21haW4uY29tIiwiaXNzIjoiZmVhdGhlcnMiLCJqdGkiOiJmM2UwYThjNC0wMDA"
     "wLT"
     "QwMDAtODAwMC0wMDAwMDAwMDAwMDAifQ.Wt0ynTkSHnuDWgljIGakG9GmEhnGuPBzw2XNy9q-8RE",
     "{\"sub\":\"42\",\"iat\":1700000000,\"exp\":1700086400,\"aud\":\"https://yourdomain.com\","
     "\"iss\":\"feathers\",\"jti\":\"f3e0a8c4-0000-4000-8000-000000000000\"}"},
    {"cl\xc3\xa9 secr\xc3\xa8te \xe2\x9c\x93",
     "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJuYW1lIjoiWm_"
     "DqyDinJMiLCJuIjoxLjUsImxpc3QiOlsxLCJ0d28iLG51"
     "bGxdLCJpYXQiOjE3MDAwMDAwMDAsImV4cCI6MTcwMDAwMDA2MCwibmJmIjoxNjk5OTk5OTkwfQ.BQ29A8w2fKz9iRZ-"
     "SKQJt"
     "JAtJwbNJ9uTo_N5p15VDQc",
     "{\"name\":\"Zo\xc3\xab \xe2\x9c\x93\",\"n\":1.5,\"list\":[1,\"two\",null],\"iat\":1700000000,"
     "\"exp\":1700000060,\"nbf\":1699999990}"},
    {"k",
     "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
     "eyJhdWQiOlsiYSIsImIiXSwiaWF0IjoxNzAwMDAwMDAwLCJleHAiOjE3MD"
     "AwMDM2MDB9.qj4r6opfdJ_a9Jr1wdCFtS4YnTOQWbg_MNCB36G1fJE",
     "{\"aud\":[\"a\",\"b\"],\"iat\":1700000000,\"exp\":1700003600}"},
};
static const char hs512[] =
    "eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXVCJ9.eyJpYXQiOjE3MDAwMDAwMDB9.lR374OyX6k"
    "6M6pgXJzB-hxHQdavCOaNOgqxssQBaOXd8RDp5nUZfgPWrrI36J0S3eQmtmbOqa9lmK90-vMEWzw";
static const char hs384[] =
    "eyJhbGciOiJIUzM4NCIsInR5cCI6IkpXVCJ9.eyJpYXQiOjE3MDAwMDAwMDB9.M1kv8xqSse"
    "SJSjTSSTDOW17Y-PT2pVBuOnehfgGKgGRvX6Q_TiJPdFKDMIcS-K90";
static const char none[] = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJpYXQiOjE3MDAwMDAwMDB9.";

static void test_npm(void)
{
    const int64_t now = 1700000000;
    for (size_t i = 0; i < sizeof npm / sizeof npm[0]; i++) {
        CHECK_STR(sign(npm[i][2], npm[i][0]), npm[i][1]); /* the same bytes as jsonwebtoken's */
        CHECK(verify_at(npm[i][1], npm[i][0], now, NULL) == 0);
    }
    struct fdn_jwt_opts fo = {
        .algorithm = "HS256", .audience = "https://yourdomain.com", .issuer = "feathers"};
    CHECK(verify_at(npm[0][1], "supersecret", now, &fo) == 0);
    REFUSED(npm[0][1], "supersecret", 1700086400, &fo, "jwt expired");
    REFUSED(npm[0][1], "supersecret", 1700086399, &fo, "ok");
    REFUSED(npm[0][1], "supersecret", now, &(struct fdn_jwt_opts){.audience = "https://x"},
            "jwt audience invalid. expected: https://x");
    REFUSED(npm[0][1], "supersecret", now, &(struct fdn_jwt_opts){.issuer = "other"},
            "jwt issuer invalid. expected: other");
    REFUSED(npm[0][1], "Supersecret", now, NULL, "invalid signature");
    REFUSED(npm[0][1], "", now, NULL, "secret or public key must be provided");
    /* nbf 1699999990: not active before, with leeway */
    REFUSED(npm[1][1], npm[1][0], 1699999989, NULL, "jwt not active");
    REFUSED(npm[1][1], npm[1][0], 1699999990, NULL, "ok");
    REFUSED(npm[1][1], npm[1][0], 1699999989, &(struct fdn_jwt_opts){.leeway = 1}, "ok");
    REFUSED(npm[1][1], npm[1][0], 1700000060, &(struct fdn_jwt_opts){.leeway = 1}, "ok");
    REFUSED(npm[1][1], npm[1][0], 1700000061, &(struct fdn_jwt_opts){.leeway = 1}, "jwt expired");
    /* aud as a list */
    REFUSED(npm[2][1], "k", now, &(struct fdn_jwt_opts){.audience = "b"}, "ok");
    REFUSED(npm[2][1], "k", now, &(struct fdn_jwt_opts){.audience = "c"},
            "jwt audience invalid. expected: c");
    /* other algorithms and none, refused before any HMAC */
    REFUSED(hs512, "k", now, NULL, "invalid algorithm");
    REFUSED(hs384, "k", now, NULL, "invalid algorithm");
    REFUSED(none, "k", now, NULL, "jwt signature is required");
    REFUSED(npm[2][1], "k", now, &(struct fdn_jwt_opts){.algorithm = "HS512"}, "invalid algorithm");
    REFUSED(npm[2][1], "k", now, &(struct fdn_jwt_opts){.algorithm = "HS2566"},
            "invalid algorithm");
}

/* A token of the given header and payload texts signed with key "k" (the header as given). */
static char *forge(const char *header, const char *payload)
{
    static char out[FDN_JWT_MAX_LEN * 2];
    char *p = out + fdn_jwt_b64_encode((const uint8_t *)header, strlen(header), out);
    *p++ = '.';
    p += fdn_jwt_b64_encode((const uint8_t *)payload, strlen(payload), p);
    *p = 0;
    uint8_t mac[32];
    mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), (const uint8_t *)"k", 1,
                    (const uint8_t *)out, (size_t)(p - out), mac);
    *p++ = '.';
    p += fdn_jwt_b64_encode(mac, 32, p);
    *p = 0;
    return out;
}

static void test_refusals(void)
{
    const int64_t now = 1700000000;
    const char *h = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    REFUSED(forge(h, "{}"), "k", now, NULL, "ok");
    REFUSED(forge("{\"alg\":\"HS256\"}", "{}"), "k", now, NULL, "ok"); /* no typ */
    REFUSED(forge("{\"alg\":\"HS256\",\"typ\":\"jwt\"}", "{}"), "k", now, NULL,
            "ok"); /* any case */
    REFUSED(forge("{\"alg\":\"HS256\",\"typ\":\"JOSE\"}", "{}"), "k", now, NULL, "invalid token");
    REFUSED(forge("{\"alg\":\"HS256\",\"typ\":1}", "{}"), "k", now, NULL, "invalid token");
    REFUSED(forge("{\"alg\":\"none\"}", "{}"), "k", now, NULL, "invalid algorithm");
    REFUSED(forge("{\"alg\":\"RS256\"}", "{}"), "k", now, NULL, "invalid algorithm");
    REFUSED(forge("{\"alg\":\"hs256\"}", "{}"), "k", now, NULL, "invalid algorithm");
    REFUSED(forge("{\"alg\":null}", "{}"), "k", now, NULL, "invalid algorithm");
    REFUSED(forge("{\"typ\":\"JWT\"}", "{}"), "k", now, NULL, "invalid algorithm");
    REFUSED(forge("[\"HS256\"]", "{}"), "k", now, NULL, "invalid token");
    REFUSED(forge("{\"alg\":\"HS256\"", "{}"), "k", now, NULL, "invalid token");
    REFUSED(forge("\"HS256\"", "{}"), "k", now, NULL, "invalid token");
    REFUSED(forge(h, "[1]"), "k", now, NULL, "invalid token");
    REFUSED(forge(h, "\"text\""), "k", now, NULL, "invalid token");
    REFUSED(forge(h, "{\"a\":"), "k", now, NULL, "invalid token");
    REFUSED(forge(h, "{\"nbf\":\"1\"}"), "k", now, NULL, "invalid nbf value");
    REFUSED(forge(h, "{\"exp\":null}"), "k", now, NULL, "invalid exp value");
    REFUSED(forge(h, "{\"exp\":1700000000.5}"), "k", now, NULL, "ok");
    REFUSED(forge(h, "{\"exp\":1700000000.0}"), "k", now, NULL, "jwt expired");
    REFUSED(forge(h, "{\"nbf\":1700000000.5}"), "k", now, NULL, "jwt not active");
    REFUSED(forge(h, "{\"aud\":\"a\"}"), "k", now, &(struct fdn_jwt_opts){.audience = "a"}, "ok");
    REFUSED(forge(h, "{\"aud\":{\"1\":\"a\"}}"), "k", now, &(struct fdn_jwt_opts){.audience = "a"},
            "jwt audience invalid. expected: a");
    REFUSED(forge(h, "{}"), "k", now, &(struct fdn_jwt_opts){.audience = "a"},
            "jwt audience invalid. expected: a");
    REFUSED(forge(h, "{\"iss\":[\"i\"]}"), "k", now, &(struct fdn_jwt_opts){.issuer = "i"},
            "jwt issuer invalid. expected: i");

    /* typ: Feathers signs "access"; a verifier expecting it refuses "JWT" and the other way */
    const struct fdn_jwt_opts access = {.typ = "access"};
    REFUSED(forge("{\"alg\":\"HS256\",\"typ\":\"access\"}", "{}"), "k", now, &access, "ok");
    REFUSED(forge("{\"alg\":\"HS256\",\"typ\":\"ACCESS\"}", "{}"), "k", now, &access, "ok");
    REFUSED(forge("{\"alg\":\"HS256\"}", "{}"), "k", now, &access, "ok");
    REFUSED(forge(h, "{}"), "k", now, &access, "invalid token");
    REFUSED(forge("{\"alg\":\"HS256\",\"typ\":\"access\"}", "{}"), "k", now, NULL, "invalid token");
    REFUSED(forge("{\"alg\":\"HS256\",\"typ\":\"acces\"}", "{}"), "k", now, &access,
            "invalid token");
    struct fdn_buf tb;
    fdn_buf_init(&tb);
    CHECK(fdn_jwt_sign("{}", 2, "access", (const uint8_t *)"k", 1, &tb) == 0);
    fdn_buf_put(&tb, "", 1);
    REFUSED(tb.data, "k", now, &access, "ok");
    REFUSED(tb.data, "k", now, NULL, "invalid token");
    CHECK_STR(strchr(tb.data, '.') ? "dotted" : "", "dotted");
    tb.len = 0;
    CHECK(fdn_jwt_sign("{}", 2, "a\"b", (const uint8_t *)"k", 1, &tb) < 0); /* needs escaping */
    CHECK(fdn_jwt_sign("{}", 2, "", (const uint8_t *)"k", 1, &tb) < 0);
    CHECK(fdn_jwt_sign("{}", 2, "0123456789abcdef0123456789abcdefX", (const uint8_t *)"k", 1, &tb) <
          0);
    CHECK(tb.len == 0);
    CHECK(fdn_jwt_typ_ok("application/at+jwt", 18) && !fdn_jwt_typ_ok("a b", 3) &&
          !fdn_jwt_typ_ok("a\0b", 3));
    fdn_buf_free(&tb);

    /* tampering: a payload character, the signature's, its unused last bits */
    char t[FDN_JWT_MAX_LEN * 2];
    strcpy(t, npm[2][1]);
    size_t n = strlen(t);
    t[40] ^= 1;
    REFUSED(t, "k", now, NULL, "invalid signature");
    strcpy(t, npm[2][1]);
    t[n - 5] = t[n - 5] == 'A' ? 'B' : 'A';
    REFUSED(t, "k", now, NULL, "invalid signature");
    strcpy(t, npm[2][1]);
    t[n - 1] = 'F'; /* "...fJE" -> "...fJF": the same bytes, other unused bits */
    REFUSED(t, "k", now, NULL, "invalid signature");
    t[n - 1] = 0;
    REFUSED(t, "k", now, NULL, "invalid signature");
    strcpy(t, npm[2][1]);
    strcat(t, "A");
    REFUSED(t, "k", now, NULL, "invalid signature");

    /* structure and base64url */
    REFUSED("a.b", "k", now, NULL, "jwt malformed");
    REFUSED("a.b.c.d", "k", now, NULL, "jwt malformed");
    REFUSED("", "k", now, NULL, "jwt malformed");
    REFUSED("..", "k", now, NULL, "invalid token");
    REFUSED(".e30.abc", "k", now, NULL, "invalid token");
    REFUSED("eyJhbGciOiJIUzI1NiJ9..abc", "k", now, NULL, "invalid token");
    REFUSED("eyJhbGciOiJIUzI1NiJ9.e30=.abc", "k", now, NULL, "invalid token");
    REFUSED("eyJhbGciOiJIUzI1NiJ9.e3+.abc", "k", now, NULL, "invalid token");
    REFUSED("eyJhbGciOiJIUzI1NiJ9.e30.ab/c", "k", now, NULL, "invalid token");
    REFUSED("eyJhbGciOiJIUzI1NiJ9 .e30.abc", "k", now, NULL, "invalid token");
    REFUSED("eyJhbGciOiJIUzI1NiJ9.e31.abc", "k", now, NULL, "invalid token"); /* unused bits */
    REFUSED("eyJhbGciOiJIUzI1NiJ9.e30.abc", "k", now, NULL, "invalid signature");
    /* giant: 8 KiB is the limit, refused before any decoding */
    char *big = malloc(FDN_JWT_MAX_LEN + 2);
    memset(big, 'A', FDN_JWT_MAX_LEN + 1);
    big[FDN_JWT_MAX_LEN + 1] = 0;
    big[10] = big[20] = '.';
    REFUSED(big, "k", now, NULL, "jwt malformed");
    free(big);
    char payload[FDN_JWT_MAX_LEN];
    memset(payload, ' ', sizeof payload);
    memcpy(payload, "{}", 2);
    payload[6200] = 0;
    CHECK(sign(payload, "k") == NULL); /* a token past the limit is not made */
    payload[5000] = 0;
    CHECK(sign(payload, "k") != NULL && verify_at(sign(payload, "k"), "k", now, NULL) == 0);
}

int main(void)
{
    L = luaL_newstate();
    test_b64();
    test_rfc7515();
    test_npm();
    test_refusals();
    lua_close(L);
    return check_summary("jwt");
}
