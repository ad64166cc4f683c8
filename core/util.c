/* util.c: allocation that aborts on out-of-memory, the monotonic clock, and the process-wide
 * log (one line per message on stderr: time, level, text; or, with --log-format json, one JSON
 * object: time, level, node, message, fields). */
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "json_text.h"

static int log_level = FDN_LOG_INFO;
static int log_json;       /* --log-format json */
static char log_node[128]; /* the node's name, in every JSON line */

uint64_t fdn_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int64_t fdn_now_ms(void)
{
    return (int64_t)(fdn_now_ns() / 1000000u);
}

static void oom(size_t n)
{
    fprintf(stderr, "fdnode: out of memory (%zu bytes)\n", n);
    abort();
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        oom(count * size);
    return p;
}

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    return q;
}

char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = xmalloc(n);
    memcpy(p, s, n);
    return p;
}

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void fdn_log_set_level(int level)
{
    log_level = level;
}

int fdn_log_level(void)
{
    return log_level;
}

int fdn_log_parse_level(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcasecmp(s, level_names[i]) == 0)
            return i;
    return -1;
}

void fdn_log_set_format(int json, const char *node)
{
    log_json = json;
    snprintf(log_node, sizeof log_node, "%s", node ? node : "");
}

int fdn_log_json(void)
{
    return log_json;
}

/* Appends s (len bytes) to line as a JSON string's content: quotes, backslashes and control
 * characters escaped, a byte that starts no well-formed UTF-8 sequence as U+FFFD. Stops short
 * of room (it keeps 8 bytes for the line's end); returns the new offset. */
static size_t put_escaped(char *line, size_t off, size_t room, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end && off + 16 < room) {
        unsigned c = *p;
        if (c >= 0x80) {
            int n = fdn_json_utf8_seq(p, end);
            if (n > 0) {
                memcpy(line + off, p, (size_t)n);
                off += (size_t)n;
                p += n;
            } else {
                memcpy(line + off, "\xef\xbf\xbd", 3);
                off += 3;
                p += -n;
            }
            continue;
        }
        if (c == '"' || c == '\\')
            off += (size_t)snprintf(line + off, room - off, "\\%c", c);
        else if (c < 0x20)
            off += (size_t)snprintf(line + off, room - off, "\\u%04x", c);
        else
            line[off++] = (char)c;
        p++;
    }
    return off;
}

void fdn_log_write(int level, const char *msg, size_t len, const char *fields, size_t flen)
{
    if (level < log_level)
        return;
    level = level < 0 ? 0 : level > 3 ? 3 : level;
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    char line[8192];
    size_t off;
    if (!log_json) {
        off = (size_t)snprintf(line, sizeof line, "%02d:%02d:%02d.%03ld %-5s ", tm.tm_hour,
                               tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000L, level_names[level]);
        size_t n = len < sizeof line - off - 2 ? len : sizeof line - off - 2;
        memcpy(line + off, msg, n);
        off += n;
    } else {
        off =
            (size_t)snprintf(line, sizeof line,
                             "{\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"level\":\"%s\","
                             "\"node\":\"",
                             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                             tm.tm_sec, ts.tv_nsec / 1000000L, level_names[level]);
        off = put_escaped(line, off, sizeof line, log_node, strlen(log_node));
        memcpy(line + off, "\",\"message\":\"", 13);
        off = put_escaped(line, off + 13, sizeof line - 16, msg, len);
        line[off++] = '"';
        /* fields: a JSON object made by the caller (fdn.json), dropped when it would not fit */
        if (fields && flen && off + flen + 16 < sizeof line) {
            memcpy(line + off, ",\"fields\":", 10);
            memcpy(line + off + 10, fields, flen);
            off += 10 + flen;
        }
        line[off++] = '}';
    }
    line[off++] = '\n';
    fwrite(line, 1, off, stderr);
}

void fdn_log_access(const char *kind, const char *method, const char *path, size_t plen, int status,
                    double ms, const char *trace)
{
    if (FDN_LOG_INFO < log_level)
        return;
    char f[2048];
    size_t off;
    if (!log_json) {
        off = (size_t)snprintf(f, sizeof f, "access %s %s ", kind, method);
        off = put_escaped(f, off, sizeof f - 128, path, plen); /* (no control bytes in a line) */
        off += (size_t)snprintf(f + off, sizeof f - off, " %d %.3f ms", status, ms);
        if (trace)
            off += (size_t)snprintf(f + off, sizeof f - off, " trace=%.32s", trace);
        fdn_log_write(FDN_LOG_INFO, f, off, NULL, 0);
        return;
    }
    off = (size_t)snprintf(f, sizeof f, "{\"kind\":\"%s\",\"method\":\"%s\",\"path\":\"", kind,
                           method);
    off = put_escaped(f, off, sizeof f - 128, path, plen);
    off += (size_t)snprintf(f + off, sizeof f - off, "\",\"status\":%d,\"ms\":%.3f", status, ms);
    if (trace)
        off += (size_t)snprintf(f + off, sizeof f - off, ",\"trace\":\"%.32s\"", trace);
    f[off++] = '}';
    fdn_log_write(FDN_LOG_INFO, "access", 6, f, off);
}

void fdn_log(int level, const char *fmt, ...)
{
    if (level < log_level)
        return;
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    size_t len = n < 0 ? 0 : (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1;
    fdn_log_write(level, msg, len, NULL, 0);
}
