/* bench_jwt.c: fdn_jwt_verify per second on one core, the C function alone (no binding), on the
 * Feathers-shaped token of bench_jwt.lua. Built by meson as build/tests/bench_jwt; not a test. */
#include <lauxlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "jwt.h"

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(void)
{
    static const char payload[] = "{\"sub\":\"42\",\"iat\":1700000000,\"exp\":1700086400,\"aud\":"
                                  "\"https://yourdomain.com\",\"iss\":\"feathers\",\"jti\":"
                                  "\"f3e0a8c4-0000-4000-8000-000000000000\"}";
    static const uint8_t key[] = "a secret of thirty-two bytes.....";
    struct fdn_buf tok;
    fdn_buf_init(&tok);
    if (fdn_jwt_sign(payload, sizeof payload - 1, "access", key, sizeof key - 1, &tok) < 0)
        return 1;
    lua_State *L = luaL_newstate();
    struct fdn_jwt_opts o = {
        .typ = "access", .audience = "https://yourdomain.com", .issuer = "feathers"};
    double best = 0;
    for (int round = 0; round < 5; round++) {
        long n = 0;
        double t0 = seconds_now(), t;
        do {
            for (int i = 0; i < 1000; i++) {
                if (fdn_jwt_verify(L, tok.data, tok.len, key, sizeof key - 1, 1700000001, &o, NULL,
                                   0) != 0)
                    return 1;
                lua_settop(L, 0);
            }
            n += 1000;
        } while ((t = seconds_now() - t0) < 0.4);
        best = n / t > best ? n / t : best;
    }
    printf("{\"case\":\"verify_c\",\"per_second\":%.0f}\n", best);
    fdn_buf_free(&tok);
    lua_close(L);
    return 0;
}
