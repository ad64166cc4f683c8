/* check.h: the checks of the C unit tests, one copy for all of them.
 *   CHECK(cond)          counts a check; a false cond prints "file:line: CHECK failed: cond".
 *                        It is an expression, true when cond holds, so a test can add detail:
 *                        if (!CHECK(x == want)) fprintf(stderr, "...", x);
 *   CHECK_STR(got, want) the two strings are equal (NULL equals only NULL); prints both if not.
 *   check_at(...)        the same count for a helper that reports its caller's file and line.
 *   check_summary(name)  prints "name: N passed, N failed"; returns the exit code (0: none failed).
 * Header only: every test is a single translation unit. */
#ifndef FDN_TESTS_CHECK_H
#define FDN_TESTS_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_count, check_failures;

static inline int check_at(int ok, const char *file, int line, const char *what)
{
    check_count++;
    if (!ok) {
        check_failures++;
        fprintf(stderr, "%s:%d: CHECK failed: %s\n", file, line, what);
    }
    return ok;
}

#define CHECK(cond) check_at((cond) ? 1 : 0, __FILE__, __LINE__, #cond)

static inline int check_str_at(const char *got, const char *want, const char *file, int line,
                               const char *what)
{
    int ok = got && want ? strcmp(got, want) == 0 : got == want;
    if (!check_at(ok, file, line, what))
        fprintf(stderr, "  got:  %s%s%s\n  want: %s%s%s\n", got ? "\"" : "", got ? got : "NULL",
                got ? "\"" : "", want ? "\"" : "", want ? want : "NULL", want ? "\"" : "");
    return ok;
}

#define CHECK_STR(got, want) check_str_at((got), (want), __FILE__, __LINE__, #got " == " #want)

static inline int check_summary(const char *test)
{
    printf("%s: %d passed, %d failed\n", test, check_count - check_failures, check_failures);
    return check_failures ? 1 : 0;
}

#endif
