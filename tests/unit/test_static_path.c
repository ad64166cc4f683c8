/* test_static_path.c: unit tests of core/static_path.c: request paths to file paths (and the
 * hostile ones refused), content types, ETag, HTTP dates, 304s, and the open beneath a
 * directory (openat2 and the component walk) in a scratch directory with symlinks, also where a
 * seccomp filter refuses openat2 with EPERM (containers, systemd's SystemCallFilter). */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "static_path.h"

static const char *mapped(const char *raw, int *dir)
{
    static char out[FDN_STATIC_MAX_PATH + 2];
    return fdn_static_path(raw, strlen(raw), out, dir) == 0 ? out : NULL;
}

static void test_paths(void)
{
    static const char *const ok[][3] = {
        /* raw, relative path, "1" when it ends with '/' */
        {"/", "", "1"},
        {"/index.html", "index.html", "0"},
        {"/css/app.css", "css/app.css", "0"},
        {"/docs/", "docs", "1"},
        {"/a%20b.txt", "a b.txt", "0"},
        {"/%C3%A9t%C3%A9.png", "\xc3\xa9t\xc3\xa9.png", "0"},
        {"/sub/%252e%252e/x", "sub/%2e%2e/x", "0"}, /* decoded once: a literal name */
        {"/a..b", "a..b", "0"},
        {"/a./b", "a./b", "0"},
        {"/file+1", "file+1", "0"}, /* '+' is not a space in a path */
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int dir = -1;
        const char *got = mapped(ok[i][0], &dir);
        if (!CHECK(got && strcmp(got, ok[i][1]) == 0 && dir == (ok[i][2][0] == '1')))
            fprintf(stderr, "  %s -> %s (dir %d)\n", ok[i][0], got ? got : "refused", dir);
    }
    static const char *const refused[] = {
        "",
        "index.html",
        "/..",
        "/../etc/passwd",
        "/a/../../etc/passwd",
        "/.",
        "/./a",
        "/%2e%2e/etc/passwd",
        "/%2E%2e%2fetc%2fpasswd",
        "/..%2fetc",
        "/a%2f..%2f..%2fx",
        "/a%2Fb",
        "/%2e",
        "/.env",
        "/.git/config",
        "/a/.hidden",
        "/%2eenv",
        "/a\\..\\b",
        "/a%5c..%5cb",
        "/%00",
        "/a%00.html",
        "/a\x01",
        "/%0a",
        "/%7f",
        "//etc/passwd",
        "/a//b",
        "/%",
        "/%2",
        "/%zz",
        "/%C3",
        "/%C0%AE%C0%AE/x",
        "/%ED%A0%80",
        "/a b",
        "/\xc3\xa9",
        "/a\x7f",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        int dir;
        if (!CHECK(mapped(refused[i], &dir) == NULL))
            fprintf(stderr, "  accepted: %s\n", refused[i]);
    }
    char big[FDN_STATIC_MAX_PATH + 2];
    memset(big, 'a', sizeof big);
    big[0] = '/';
    big[sizeof big - 1] = 0;
    int dir;
    CHECK(mapped(big, &dir) == NULL);
    big[FDN_STATIC_MAX_PATH] = 0;
    CHECK(mapped(big, &dir) != NULL);
    /* a NUL byte in the raw path itself */
    char out[16];
    CHECK(fdn_static_path("/a\0b", 4, out, &dir) < 0);
}

static void test_types(void)
{
    static const char *const t[][2] = {
        {"index.html", "text/html; charset=utf-8"},
        {"a/b/APP.JS", "text/javascript; charset=utf-8"},
        {"m.mjs", "text/javascript; charset=utf-8"},
        {"s.css", "text/css; charset=utf-8"},
        {"d.json", "application/json; charset=utf-8"},
        {"app.js.map", "application/json; charset=utf-8"},
        {"i.svg", "image/svg+xml"},
        {"i.png", "image/png"},
        {"i.jpg", "image/jpeg"},
        {"i.jpeg", "image/jpeg"},
        {"i.gif", "image/gif"},
        {"i.webp", "image/webp"},
        {"favicon.ico", "image/x-icon"},
        {"r.txt", "text/plain; charset=utf-8"},
        {"f.woff", "font/woff"},
        {"f.woff2", "font/woff2"},
        {"m.wasm", "application/wasm"},
        {"archive.tar.gz", "application/octet-stream"},
        {"README", "application/octet-stream"},
        {"dir.html/file", "application/octet-stream"},
        {"x.", "application/octet-stream"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        CHECK_STR(fdn_static_type(t[i][0]), t[i][1]);
}

static void test_dates_and_tags(void)
{
    char d[FDN_STATIC_DATE_LEN], e[FDN_STATIC_ETAG_LEN];
    int64_t t;
    fdn_static_date(784111777, d);
    CHECK_STR(d, "Sun, 06 Nov 1994 08:49:37 GMT");
    CHECK(fdn_static_parse_date(d, &t) == 0 && t == 784111777);
    fdn_static_date(0, d);
    CHECK_STR(d, "Thu, 01 Jan 1970 00:00:00 GMT");
    fdn_static_date(1709251199, d); /* a leap year's Feb 29 */
    CHECK_STR(d, "Thu, 29 Feb 2024 23:59:59 GMT");
    CHECK(fdn_static_parse_date(d, &t) == 0 && t == 1709251199);
    /* the two obsolete formats, which RFC 9110 §5.6.7 says a recipient MUST accept too */
    CHECK(fdn_static_parse_date("Sunday, 06-Nov-94 08:49:37 GMT", &t) == 0 && t == 784111777);
    CHECK(fdn_static_parse_date("Sun Nov  6 08:49:37 1994", &t) == 0 && t == 784111777);
    CHECK(fdn_static_parse_date("Thu Feb 29 23:59:59 2024", &t) == 0 && t == 1709251199);
    CHECK(fdn_static_parse_date("Thursday, 29-Feb-24 23:59:59 GMT", &t) == 0 && t == 1709251199);
    CHECK(fdn_static_not_modified(NULL, "Sunday, 06-Nov-94 08:49:37 GMT", "W/\"x\"", 784111777));
    static const char *const bad[] = {
        "",
        "Sunday, 06-Nov-94 08:49:37 UTC",
        "Sun, 06-Nov-94 08:49:37 GMT",
        "Sunda, 06-Nov-94 08:49:37 GMT",
        "Sunday, 6-Nov-94 08:49:37 GMT",
        "Sunday, 06-Nov-1994 08:49:37 GMT",
        "Sunday, 31-Nov-94 08:49:37 GMT",
        "Sun Nov 6 08:49:37 1994",
        "Sun Nov  6 08:49:37 94",
        "Sun Nov 06 08:49:37 1994 GMT",
        "Sun Nov  6 08:49:37 1994 ",
        "Sun Nov  x 08:49:37 1994",
        "Sun, 06 Nov 1994 08:49:37 UTC",
        "Sun, 6 Nov 1994 08:49:37 GMT",
        "Sun, 06 Foo 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 24:49:37 GMT",
        "Sun, 00 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 08:49:37 GMTx",
        "Xyz, 06 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 19a4 08:49:37 GMT",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (!CHECK(fdn_static_parse_date(bad[i], &t) < 0))
            fprintf(stderr, "  parsed: %s\n", bad[i]);

    fdn_static_etag(12, 0x1a2b, e);
    CHECK_STR(e, "W/\"c-1a2b\"");
    CHECK(fdn_static_not_modified("W/\"c-1a2b\"", NULL, e, 100));
    CHECK(fdn_static_not_modified("\"c-1a2b\"", NULL, e, 100)); /* weak comparison */
    CHECK(fdn_static_not_modified("\"x\", W/\"c-1a2b\"", NULL, e, 100));
    CHECK(fdn_static_not_modified(" *", NULL, e, 100));
    CHECK(!fdn_static_not_modified("W/\"c-1a2c\"", NULL, e, 100));
    CHECK(!fdn_static_not_modified("W/\"c-1a2", NULL, e, 100));
    CHECK(!fdn_static_not_modified("c-1a2b", NULL, e, 100));
    CHECK(!fdn_static_not_modified("", NULL, e, 100));
    /* If-None-Match decides alone when present */
    CHECK(!fdn_static_not_modified("\"x\"", "Sun, 06 Nov 1994 08:49:37 GMT", e, 100));
    CHECK(fdn_static_not_modified(NULL, "Sun, 06 Nov 1994 08:49:37 GMT", e, 784111777));
    CHECK(fdn_static_not_modified(NULL, "Sun, 06 Nov 1994 08:49:37 GMT", e, 784111776));
    CHECK(!fdn_static_not_modified(NULL, "Sun, 06 Nov 1994 08:49:37 GMT", e, 784111778));
    CHECK(!fdn_static_not_modified(NULL, "yesterday", e, 0));
    CHECK(!fdn_static_not_modified(NULL, NULL, e, 0));
}

/* Whether rel opens beneath root with how, and reads back want (NULL: must not open). */
static int opens(int root, const char *rel, int how, const char *want)
{
    int h = how, fd = fdn_static_open(root, rel, O_RDONLY | O_NONBLOCK | O_CLOEXEC, &h);
    if (fd < 0)
        return want == NULL;
    char buf[64] = {0};
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    return want && n >= 0 && strcmp(buf, want) == 0;
}

static void put(const char *dir, const char *name, const char *text)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* In a child whose openat2 fails with EPERM, as seccomp filters of older container runtimes
 * and systemd units make it: files still open beneath root (by the walk), and the walk is
 * kept for the next calls. */
static int opens_without_openat2(int root)
{
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat2, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {sizeof code / sizeof code[0], code};
    pid_t pid = fork();
    if (pid == 0) {
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
            prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
            _exit(2);
        int h = FDN_STATIC_OPENAT2, fd = fdn_static_open(root, "sub/b.txt", O_RDONLY, &h);
        _exit(fd >= 0 && h == FDN_STATIC_WALK ? 0 : 1);
    }
    int st = 0;
    return pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static void test_open(void)
{
    char tmpl[] = "/tmp/fdn-static-XXXXXX", pub[600], p[700], q[700];
    const char *base = mkdtemp(tmpl);
    if (!CHECK(base != NULL))
        return;
    snprintf(pub, sizeof pub, "%s/pub", base);
    mkdir(pub, 0755);
    snprintf(p, sizeof p, "%s/sub", pub);
    mkdir(p, 0755);
    put(base, "outside.txt", "secret");
    put(pub, "a.txt", "A");
    put(pub, "sub/b.txt", "B");
    snprintf(p, sizeof p, "%s/out", pub);
    snprintf(q, sizeof q, "%s/outside.txt", base);
    CHECK(symlink(q, p) == 0); /* absolute, out */
    snprintf(p, sizeof p, "%s/rel_out", pub);
    CHECK(symlink("../outside.txt", p) == 0); /* relative, out */
    snprintf(p, sizeof p, "%s/outdir", pub);
    CHECK(symlink("..", p) == 0); /* a directory out */
    snprintf(p, sizeof p, "%s/alias.txt", pub);
    CHECK(symlink("a.txt", p) == 0); /* inside */
    snprintf(p, sizeof p, "%s/subalias", pub);
    CHECK(symlink("sub", p) == 0); /* a directory inside */
    int root = open(pub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(root >= 0);
    CHECK(opens_without_openat2(root));
    for (int how = FDN_STATIC_OPENAT2; how <= FDN_STATIC_WALK; how++) {
        CHECK(opens(root, "a.txt", how, "A"));
        CHECK(opens(root, "sub/b.txt", how, "B"));
        CHECK(opens(root, "out", how, NULL));
        CHECK(opens(root, "rel_out", how, NULL));
        CHECK(opens(root, "outdir/outside.txt", how, NULL));
        CHECK(opens(root, "missing", how, NULL));
        CHECK(opens(root, "sub/missing/x", how, NULL));
        CHECK(opens(root, "a.txt/x", how, NULL));
        int h = how, fd = fdn_static_open(root, "", O_RDONLY | O_CLOEXEC, &h);
        struct stat st;
        CHECK(fd >= 0 && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode));
        if (fd >= 0)
            close(fd);
        /* symlinks inside: followed by openat2, refused by the walk */
        CHECK(opens(root, "alias.txt", how, how == FDN_STATIC_OPENAT2 ? "A" : NULL));
        CHECK(opens(root, "subalias/b.txt", how, how == FDN_STATIC_OPENAT2 ? "B" : NULL));
    }
    close(root);
    const char *names[] = {"pub/a.txt",  "pub/sub/b.txt", "pub/out",      "pub/rel_out",
                           "pub/outdir", "pub/alias.txt", "pub/subalias", "pub/sub",
                           "pub",        "outside.txt"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", base, names[i]);
        if (unlink(p) < 0 && errno == EISDIR)
            rmdir(p);
        else
            rmdir(p);
    }
    rmdir(base);
}

int main(void)
{
    test_paths();
    test_types();
    test_dates_and_tags();
    test_open();
    return check_summary("static_path");
}
