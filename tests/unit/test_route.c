/* test_route.c: unit tests of core/route.c: request paths to decoded segments and lookup
 * keys, HTTP methods to Feathers service methods. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "route.h"
#include "check.h"

static int slice_is(const char *s, size_t n, const char *want)
{
    if (!want)
        return s == NULL;
    return s && n == strlen(want) && memcmp(s, want, n) == 0;
}

/* Splits path and compares the full path, the parent and the last segment. */
static int splits_to(const char *path, size_t nseg, const char *full, const char *parent,
                     const char *last)
{
    struct fdn_route_path p;
    size_t n;
    const char *s;
    if (fdn_route_split(path, strlen(path), &p) < 0 || p.nseg != nseg) {
        fprintf(stderr, "  %s: split failed or wrong segment count\n", path);
        return 0;
    }
    s = fdn_route_full(&p, &n);
    if (!slice_is(s, n, full) || strlen(p.buf) != p.len)
        return 0;
    s = fdn_route_parent(&p, &n);
    if (!slice_is(s, n, parent))
        return 0;
    s = fdn_route_last(&p, &n);
    return slice_is(s, n, last);
}

static int rejects(const char *path, size_t n)
{
    struct fdn_route_path p;
    return fdn_route_split(path, n, &p) == -1 && p.nseg == 0;
}

#define REJECTS(path) CHECK(rejects(path, sizeof(path) - 1))

static void test_split(void)
{
    CHECK(splits_to("/", 0, "", NULL, NULL));
    CHECK(splits_to("/users", 1, "users", NULL, NULL));
    CHECK(splits_to("/users/", 1, "users", NULL, NULL));
    CHECK(splits_to("/users/7", 2, "users/7", "users", "7"));
    CHECK(splits_to("/api/users/7", 3, "api/users/7", "api/users", "7"));
    CHECK(splits_to("//api//users///7/", 3, "api/users/7", "api/users", "7"));
    CHECK(splits_to("/users/a%2Fb", 2, "users/a/b", "users", "a/b"));
    CHECK(splits_to("/users/a+b%20c", 2, "users/a+b c", "users", "a+b c"));
    CHECK(splits_to("/users/%E2%82%AC", 2, "users/\xE2\x82\xAC", "users", "\xE2\x82\xAC"));
    CHECK(splits_to("/users/...", 2, "users/...", "users", "..."));
    CHECK(splits_to("/users/.x", 2, "users/.x", "users", ".x"));
    CHECK(splits_to("/a?b", 1, "a?b", NULL, NULL)); /* the caller strips the query */

    struct fdn_route_path p;
    CHECK(fdn_route_split("/a/b%2Fc/d", 10, &p) == 0 && p.nseg == 3);
    CHECK(p.seg[1].len == 3 && memcmp(p.buf + p.seg[1].off, "b/c", 3) == 0);

    REJECTS("");
    REJECTS("users");
    REJECTS("*");
    REJECTS("/users/..");
    REJECTS("/../users");
    REJECTS("/users/.");
    REJECTS("/users/%2e%2E");
    REJECTS("/users/%2e");
    REJECTS("/a%00b");
    REJECTS("/a\0b");
    REJECTS("/a%");
    REJECTS("/a%2");
    REJECTS("/a%zz");
    REJECTS("/a/%C0%80");
    REJECTS("/a/%ED%A0%80");
    REJECTS("/a/%FF");
}

static void test_limits(void)
{
    char path[2 * FDN_ROUTE_MAX_SEGMENTS + 8];
    size_t i, n = 0;
    struct fdn_route_path p;
    for (i = 0; i < FDN_ROUTE_MAX_SEGMENTS; i++) {
        path[n++] = '/';
        path[n++] = (char)('a' + i % 26);
    }
    CHECK(fdn_route_split(path, n, &p) == 0 && p.nseg == FDN_ROUTE_MAX_SEGMENTS);
    memcpy(path + n, "/z", 2);
    CHECK(fdn_route_split(path, n + 2, &p) == -1);
    memcpy(path + n, "//", 2); /* empty segments do not count */
    CHECK(fdn_route_split(path, n + 2, &p) == 0);

    char *big = malloc(FDN_ROUTE_MAX_LENGTH + 8);
    big[0] = '/';
    memset(big + 1, 'x', FDN_ROUTE_MAX_LENGTH);
    CHECK(fdn_route_split(big, FDN_ROUTE_MAX_LENGTH, &p) == 0 && p.len == FDN_ROUTE_MAX_LENGTH - 1);
    CHECK(fdn_route_split(big, FDN_ROUTE_MAX_LENGTH + 1, &p) == -1);
    /* the limit is on the raw path, escapes included */
    for (i = 0; i + 3 <= FDN_ROUTE_MAX_LENGTH - 1; i += 3)
        memcpy(big + 1 + i, "%41", 3);
    CHECK(fdn_route_split(big, 1 + i, &p) == 0 && p.len == i / 3);
    CHECK(fdn_route_split(big, 1 + i + 3, &p) == -1);
    /* many segments at the length limit */
    for (i = 1; i < FDN_ROUTE_MAX_LENGTH; i += 2)
        memcpy(big + i, "/x", 2);
    CHECK(fdn_route_split(big, FDN_ROUTE_MAX_LENGTH, &p) == -1); /* too many segments */
    free(big);
}

static void test_methods(void)
{
    static const struct {
        const char *http;
        int has_id, custom;
        enum fdn_route_method want;
    } cases[] = {
        {"GET", 0, 0, FDN_ROUTE_FIND},
        {"GET", 1, 0, FDN_ROUTE_GET},
        {"get", 1, 0, FDN_ROUTE_GET},
        {"GET", 0, 1, FDN_ROUTE_FIND}, /* the header counts for POST only */
        {"POST", 0, 0, FDN_ROUTE_CREATE},
        {"POST", 0, 1, FDN_ROUTE_CUSTOM},
        {"POST", 1, 1, FDN_ROUTE_NOT_ALLOWED},
        {"POST", 1, 0, FDN_ROUTE_CREATE}, /* the id is not create's */
        {"PUT", 1, 0, FDN_ROUTE_UPDATE},
        {"PUT", 0, 0, FDN_ROUTE_UPDATE},
        {"PATCH", 1, 0, FDN_ROUTE_PATCH},
        {"PATCH", 0, 1, FDN_ROUTE_PATCH},
        {"DELETE", 1, 0, FDN_ROUTE_REMOVE},
        {"DELETE", 0, 0, FDN_ROUTE_REMOVE},
        {"HEAD", 0, 0, FDN_ROUTE_FIND}, /* answered as GET, without the body */
        {"HEAD", 1, 0, FDN_ROUTE_GET},
        {"OPTIONS", 0, 0, FDN_ROUTE_NOT_ALLOWED},
        {"GETS", 0, 0, FDN_ROUTE_NOT_ALLOWED},
        {"GE", 0, 0, FDN_ROUTE_NOT_ALLOWED},
        {"", 0, 0, FDN_ROUTE_NOT_ALLOWED},
        {NULL, 0, 0, FDN_ROUTE_NOT_ALLOWED},
    };
    size_t i;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum fdn_route_method got = fdn_route_map(cases[i].http, cases[i].has_id, cases[i].custom);
        if (!CHECK(got == cases[i].want))
            fprintf(stderr, "  case %zu: %s has_id=%d custom=%d\n", i,
                    cases[i].http ? cases[i].http : "NULL", cases[i].has_id, cases[i].custom);
    }
    CHECK_STR(fdn_route_method_name(FDN_ROUTE_FIND), "find");
    CHECK_STR(fdn_route_method_name(FDN_ROUTE_GET), "get");
    CHECK_STR(fdn_route_method_name(FDN_ROUTE_CREATE), "create");
    CHECK_STR(fdn_route_method_name(FDN_ROUTE_UPDATE), "update");
    CHECK_STR(fdn_route_method_name(FDN_ROUTE_PATCH), "patch");
    CHECK_STR(fdn_route_method_name(FDN_ROUTE_REMOVE), "remove");
    CHECK(fdn_route_method_name(FDN_ROUTE_CUSTOM) == NULL);
    CHECK(fdn_route_method_name(FDN_ROUTE_NOT_ALLOWED) == NULL);
}

int main(void)
{
    test_split();
    test_limits();
    test_methods();
    return check_summary("test_route");
}
