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

static const char *const long_days[7] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                         "Thursday", "Friday", "Saturday"};

/* The month of the three letters at s, or -1. */
static int month(const char *s)
{
    for (int i = 0; i < 12; i++)
        if (memcmp(s, months[i], 3) == 0)
            return i;
    return -1;
}

/* Whether s[0..n) is a day's name: short (IMF-fixdate, asctime) or long (rfc850). */
static int is_day(const char *s, size_t n, int long_name)
{
    for (int i = 0; i < 7; i++)
        if (long_name ? strlen(long_days[i]) == n && memcmp(s, long_days[i], n) == 0
                      : n == 3 && memcmp(s, days[i], 3) == 0)
            return 1;
    return 0;
}

/* "hh:mm:ss" at s into v[3]; -1 when it is not that. */
static int clock_at(const char *s, int v[3])
{
    if (s[2] != ':' || s[5] != ':')
        return -1;
    v[0] = digits(s, 2);
    v[1] = digits(s + 3, 2);
    v[2] = digits(s + 6, 2);
    return v[0] < 0 || v[1] < 0 || v[2] < 0 ? -1 : 0;
}

/* An rfc850 two-digit year: the nearest that is at most 50 years ahead (RFC 9110 §5.6.7). */
static int full_year(int yy)
{
    time_t now = time(NULL);
    struct tm tm;
    int cur = gmtime_r(&now, &tm) ? tm.tm_year + 1900 : 2000;
    int year = cur - cur % 100 + yy;
    return year > cur + 50 ? year - 100 : year;
}

int fdn_static_parse_date(const char *s, int64_t *t)
{
    size_t n = strlen(s);
    const char *comma = memchr(s, ',', n < 10 ? n : 10);
    int day, mon, year, c[3];
    if (n == 29 && comma == s + 3) { /* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
        if (!is_day(s, 3, 0) || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
            clock_at(s + 17, c) < 0 || memcmp(s + 25, " GMT", 4) != 0)
            return -1;
        day = digits(s + 5, 2);
        mon = month(s + 8);
        year = digits(s + 12, 4);
    } else if (comma && n == (size_t)(comma - s) + 24) { /* "Sunday, 06-Nov-94 08:49:37 GMT" */
        const char *p = comma + 1;
        if (!is_day(s, (size_t)(comma - s), 1) || p[0] != ' ' || p[3] != '-' || p[7] != '-' ||
            p[10] != ' ' || clock_at(p + 11, c) < 0 || memcmp(p + 19, " GMT", 4) != 0)
            return -1;
        day = digits(p + 1, 2);
        mon = month(p + 4);
        year = digits(p + 8, 2);
        year = year < 0 ? -1 : full_year(year);
    } else if (n == 24 && !comma) { /* asctime: "Sun Nov  6 08:49:37 1994" */
        if (!is_day(s, 3, 0) || s[3] != ' ' || s[7] != ' ' || s[10] != ' ' || s[19] != ' ' ||
            clock_at(s + 11, c) < 0)
            return -1;
        day = s[8] == ' ' ? digits(s + 9, 1) : digits(s + 8, 2);
        mon = month(s + 4);
        year = digits(s + 20, 4);
    } else {
        return -1;
    }
    if (mon < 0 || day < 1 || day > 31 || year < 1970 || c[0] > 23 || c[1] > 59 || c[2] > 60)
        return -1;
    struct tm tm = {.tm_year = year - 1900,
                    .tm_mon = mon,
                    .tm_mday = day,
                    .tm_hour = c[0],
                    .tm_min = c[1],
                    .tm_sec = c[2]};
    time_t tt = timegm(&tm);
    struct tm back;
    if (!gmtime_r(&tt, &back) || back.tm_mday != day || back.tm_mon != mon || back.tm_sec != c[2])
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
