/* test_cors.c: unit tests of core/cors.c: origin lists, the origin match, header-name lists,
 * and the headers of answers and preflights. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "cors.h"

static struct fdn_cors *make(const char *list)
{
    const char *err = NULL;
    struct fdn_cors *c = fdn_cors_new(list, strlen(list), &err);
    if (!c && !CHECK(err != NULL))
        fprintf(stderr, "  no message for %s\n", list);
    return c;
}

static int allows(const struct fdn_cors *c, const char *origin)
{
    return fdn_cors_allows(c, origin, strlen(origin));
}

/* The value of the header named name among f[0..n), or NULL. */
static const char *value_of(const struct fdn_http_field *f, size_t n, const char *name)
{
    static char buf[600];
    for (size_t i = 0; i < n; i++)
        if (f[i].name_len == strlen(name) && memcmp(f[i].name, name, f[i].name_len) == 0) {
            snprintf(buf, sizeof buf, "%.*s", (int)f[i].value_len, f[i].value);
            return buf;
        }
    return NULL;
}

static void test_lists(void)
{
    struct fdn_cors *c = make("https://a.example, http://localhost:8080/ ,http://[::1]:3000");
    CHECK(c != NULL);
    CHECK(allows(c, "https://a.example"));
    CHECK(allows(c, "HTTPS://A.example"));     /* ASCII case is not significant */
    CHECK(allows(c, "http://localhost:8080")); /* the list's trailing '/' was dropped */
    CHECK(allows(c, "http://[::1]:3000"));
    CHECK(!allows(c, "https://a.example.evil"));
    CHECK(!allows(c, "https://b.example"));
    CHECK(!allows(c, "http://a.example"));      /* another scheme */
    CHECK(!allows(c, "https://a.example:443")); /* no normalisation of ports */
    CHECK(!allows(c, "http://localhost:8080/"));
    CHECK(!allows(c, ""));
    CHECK(!allows(c, "null"));
    CHECK(!fdn_cors_allows(c, NULL, 0));
    CHECK(!fdn_cors_allows(NULL, "https://a.example", 17));
    fdn_cors_free(c);

    c = make("*");
    CHECK(c && allows(c, "https://anything.example") && allows(c, "null"));
    CHECK(!allows(c, "https://a b"));       /* not visible ASCII: never echoed */
    CHECK(!allows(c, "https://a\r\nX: y")); /* (no response splitting) */
    CHECK(!allows(c, ""));
    char big[FDN_CORS_MAX_ORIGIN + 2];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    CHECK(!allows(c, big));
    fdn_cors_free(c);

    c = make("http://a.example,*");
    CHECK(c && allows(c, "http://b.example"));
    fdn_cors_free(c);
    c = make("null");
    CHECK(c && allows(c, "null") && !allows(c, "http://a.example"));
    fdn_cors_free(c);

    const char *bad[] = {"",           " , ",       "a.example", "http://a.example/path",
                         "://a",       "1http://a", "http:/a",   "http://",
                         "http://a b", "**"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (!CHECK(make(bad[i]) == NULL))
            fprintf(stderr, "  accepted: '%s'\n", bad[i]);
    fdn_cors_free(NULL);
}

static void test_header_lists(void)
{
    const char *good[] = {"content-type", "Content-Type, Authorization", " x-a ,x-b\t",
                          "x-requested-with,accept"};
    const char *bad[] = {"", " ", ",", "a,", ",a", "a,,b", "a b", "a;b", "a\r\nb", "a:b", "é"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (!CHECK(fdn_cors_header_list_ok(good[i], strlen(good[i]))))
            fprintf(stderr, "  refused: '%s'\n", good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (!CHECK(!fdn_cors_header_list_ok(bad[i], strlen(bad[i]))))
            fprintf(stderr, "  accepted: '%s'\n", bad[i]);
}

static void test_fields(void)
{
    struct fdn_cors *c = make("https://a.example");
    struct fdn_http_field f[FDN_CORS_MAX_FIELDS];
    size_t n = fdn_cors_fields(c, "https://a.example", 0, NULL, f);
    CHECK(n == 3);
    CHECK_STR(value_of(f, n, "Vary"), "Origin");
    CHECK_STR(value_of(f, n, "Access-Control-Allow-Origin"), "https://a.example");
    CHECK_STR(value_of(f, n, "Access-Control-Allow-Credentials"), "true");

    n = fdn_cors_fields(c, "https://b.example", 0, NULL, f); /* not allowed: Vary only */
    CHECK(n == 1 && value_of(f, n, "Access-Control-Allow-Origin") == NULL);
    n = fdn_cors_fields(c, NULL, 0, NULL, f); /* no Origin */
    CHECK(n == 1);
    CHECK_STR(value_of(f, n, "Vary"), "Origin");

    n = fdn_cors_fields(c, "https://a.example", 1, "content-type,x-token", f);
    CHECK(n == 6);
    CHECK_STR(value_of(f, n, "Access-Control-Allow-Methods"), "GET,HEAD,PUT,PATCH,POST,DELETE");
    CHECK_STR(value_of(f, n, "Access-Control-Allow-Headers"), "content-type,x-token");
    CHECK_STR(value_of(f, n, "Access-Control-Max-Age"), "86400");
    CHECK_STR(value_of(f, n, "Vary"), "Origin, Access-Control-Request-Headers");
    n = fdn_cors_fields(c, "https://a.example", 1, "bad header", f); /* not echoed */
    CHECK(n == 5 && value_of(f, n, "Access-Control-Allow-Headers") == NULL);
    CHECK_STR(value_of(f, n, "Vary"), "Origin");
    n = fdn_cors_fields(c, "https://a.example", 1, NULL, f);
    CHECK(n == 5);
    n = fdn_cors_fields(c, "https://evil.example", 1, "content-type", f);
    CHECK(n == 1 && value_of(f, n, "Access-Control-Allow-Methods") == NULL);
    fdn_cors_free(c);

    c = make("*"); /* any origin: "*", without credentials */
    n = fdn_cors_fields(c, "http://x.example:9", 0, NULL, f);
    CHECK_STR(value_of(f, n, "Access-Control-Allow-Origin"), "*");
    CHECK(value_of(f, n, "Access-Control-Allow-Credentials") == NULL);
    n = fdn_cors_fields(c, "null", 1, "content-type", f);
    CHECK_STR(value_of(f, n, "Access-Control-Allow-Origin"), "*");
    CHECK(value_of(f, n, "Access-Control-Allow-Credentials") == NULL);
    CHECK_STR(value_of(f, n, "Access-Control-Allow-Headers"), "content-type");
    fdn_cors_free(c);
}

int main(void)
{
    test_lists();
    test_header_lists();
    test_fields();
    return check_summary("cors");
}
