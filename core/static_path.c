/* static_path.c: the static files' decisions (static_path.h): request path to file path,
 * content types, ETag, HTTP dates, 304s; pure but for fdn_static_open, which only opens. */
#include "static_path.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "qs.h"

int fdn_static_path(const char *raw, size_t n, char *out, int *dir)
{
    size_t o = 0, i = 1;
    out[0] = 0;
    *dir = 0;
    if (n == 0 || n > FDN_STATIC_MAX_PATH || raw[0] != '/')
        return -1;
    for (size_t k = 0; k < n; k++)
        if ((unsigned char)raw[k] <= 0x20 || (unsigned char)raw[k] >= 0x7f || raw[k] == '\\')
            return -1;
    while (i < n) {
        const char *slash = memchr(raw + i, '/', n - i);
        size_t end = slash ? (size_t)(slash - raw) : n, len;
        if (end == i)
            goto refuse; /* "//" */
        if (o)
            out[o++] = '/';
        if (fdn_qs_decode(raw + i, end - i, out + o, &len, 0) < 0 || out[o] == '.')
            goto refuse;
        for (size_t k = o; k < o + len; k++)
            if ((unsigned char)out[k] < 0x20 || out[k] == 0x7f || out[k] == '/' || out[k] == '\\')
                goto refuse;
        o += len;
        i = end + 1;
    }
    out[o] = 0;
    *dir = raw[n - 1] == '/';
    return 0;
refuse:
    out[0] = 0;
    return -1;
}

static const char *const types[][2] = {
    {"html", "text/html; charset=utf-8"},
    {"htm", "text/html; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"json", "application/json; charset=utf-8"},
    {"map", "application/json; charset=utf-8"},
    {"svg", "image/svg+xml"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"webp", "image/webp"},
    {"ico", "image/x-icon"},
    {"txt", "text/plain; charset=utf-8"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"wasm", "application/wasm"},
};

const char *fdn_static_type(const char *name)
{
    const char *dot = strrchr(name, '.'), *slash = strrchr(name, '/');
    if (dot && (!slash || dot > slash))
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            if (strcasecmp(dot + 1, types[i][0]) == 0)
                return types[i][1];
    return "application/octet-stream";
}

void fdn_static_etag(uint64_t size, int64_t mtime_ms, char out[FDN_STATIC_ETAG_LEN])
{
    snprintf(out, FDN_STATIC_ETAG_LEN, "W/\"%llx-%llx\"", (unsigned long long)size,
             (unsigned long long)mtime_ms);
}

static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

void fdn_static_date(int64_t t, char out[FDN_STATIC_DATE_LEN])
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm) || tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 0) {
        tt = 0;
        gmtime_r(&tt, &tm);
    }
    snprintf(out, FDN_STATIC_DATE_LEN, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday],
             tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* The number of n digits at s, or -1. */
static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int fdn_static_parse_date(const char *s, int64_t *t)
{
    /* "Sun, 06 Nov 1994 08:49:37 GMT" */
    if (strlen(s) != 29 || memcmp(s + 3, ", ", 2) != 0 || s[7] != ' ' || s[11] != ' ' ||
        s[16] != ' ' || s[19] != ':' || s[22] != ':' || memcmp(s + 25, " GMT", 4) != 0)
        return -1;
    int wday = -1, mon = -1;
    for (int i = 0; i < 7; i++)
        if (memcmp(s, days[i], 3) == 0)
            wday = i;
    for (int i = 0; i < 12; i++)
        if (memcmp(s + 8, months[i], 3) == 0)
            mon = i;
    int day = digits(s + 5, 2), year = digits(s + 12, 4), hh = digits(s + 17, 2),
        mm = digits(s + 20, 2), ss = digits(s + 23, 2);
    if (wday < 0 || mon < 0 || day < 1 || day > 31 || year < 1970 || hh < 0 || hh > 23 || mm < 0 ||
        mm > 59 || ss < 0 || ss > 60)
        return -1;
    struct tm tm = {.tm_year = year - 1900,
                    .tm_mon = mon,
                    .tm_mday = day,
                    .tm_hour = hh,
                    .tm_min = mm,
                    .tm_sec = ss};
    time_t tt = timegm(&tm);
    struct tm back;
    if (!gmtime_r(&tt, &back) || back.tm_mday != day || back.tm_mon != mon || back.tm_sec != ss)
        return -1; /* a day past the month's end, or a leap second */
    *t = (int64_t)tt;
    return 0;
}

/* The opaque part of the entity tag at *s ("xyz" with its quotes, W/ skipped), and *s moved
 * past it; NULL when there is none. */
static const char *next_tag(const char **s, size_t *len)
{
    const char *p = *s;
    while (*p == ' ' || *p == '\t' || *p == ',')
        p++;
    if (p[0] == 'W' && p[1] == '/')
        p += 2;
    if (*p != '"')
        return NULL;
    const char *q = strchr(p + 1, '"');
    if (!q)
        return NULL;
    *len = (size_t)(q + 1 - p);
    *s = q + 1;
    return p;
}

int fdn_static_not_modified(const char *if_none_match, const char *if_modified_since,
                            const char *etag, int64_t mtime)
{
    if (if_none_match) {
        const char *s = if_none_match, *m = etag, *mine, *tag;
        size_t len, mlen;
        while (*s == ' ' || *s == '\t')
            s++;
        if (s[0] == '*')
            return 1;
        if (!(mine = next_tag(&m, &mlen)))
            return 0;
        while ((tag = next_tag(&s, &len)))
            if (len == mlen && memcmp(tag, mine, len) == 0)
                return 1;
        return 0;
    }
    int64_t since;
    return if_modified_since && fdn_static_parse_date(if_modified_since, &since) == 0 &&
           mtime <= since;
}

/* One component at a time with O_NOFOLLOW: a symlink anywhere is refused. */
static int walk(int root, const char *rel, int flags)
{
    char name[FDN_STATIC_MAX_PATH + 1];
    int dir = root, fd;
    for (;;) {
        const char *slash = strchr(rel, '/');
        if (!slash) {
            fd = openat(dir, *rel ? rel : ".", flags | O_NOFOLLOW);
            break;
        }
        size_t len = (size_t)(slash - rel);
        if (len > FDN_STATIC_MAX_PATH) {
            errno = ENAMETOOLONG;
            fd = -1;
            break;
        }
        memcpy(name, rel, len);
        name[len] = 0;
        int next = openat(dir, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dir != root) {
            int e = errno;
            close(dir);
            errno = e;
        }
        if (next < 0)
            return -1;
        dir = next;
        rel = slash + 1;
    }
    if (dir != root) {
        int e = errno;
        close(dir);
        errno = e;
    }
    return fd;
}

int fdn_static_open(int root, const char *rel, int flags, int *how)
{
    if (*how == FDN_STATIC_OPENAT2) {
        struct open_how oh = {.flags = (uint64_t)flags,
                              .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
        long fd = syscall(SYS_openat2, root, *rel ? rel : ".", &oh, sizeof oh);
        if (fd >= 0 || (errno != ENOSYS && errno != EPERM))
            return (int)fd;
        *how = FDN_STATIC_WALK; /* EPERM: a seccomp filter that does not know openat2 */
    }
    return walk(root, rel, flags);
}
