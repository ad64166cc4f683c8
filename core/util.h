/* util.h: allocation that aborts on out-of-memory, the monotonic clock, and the process-wide
 * log. */
#ifndef FDN_UTIL_H
#define FDN_UTIL_H

#include <stddef.h>
#include <stdint.h>

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

/* The monotonic clock (CLOCK_MONOTONIC, read now: not libevent's cached time). */
uint64_t fdn_now_ns(void);
int64_t fdn_now_ms(void);

enum { FDN_LOG_DEBUG = 0, FDN_LOG_INFO, FDN_LOG_WARN, FDN_LOG_ERROR };

/* The log level is the one piece of process state outside the node struct: it is
 * set once at start, before the node exists, and read by every module. */
void fdn_log_set_level(int level);
int fdn_log_level(void);
int fdn_log_parse_level(const char *s); /* -1 when unknown */
void fdn_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* --log-format: json 1 writes each line as one JSON object {"time","level","node","message"[,
 * "fields"]} (node: the node's name); 0, the text lines. Set once at start, as the level. */
void fdn_log_set_format(int json, const char *node);
int fdn_log_json(void);
/* One line of msg (len bytes); fields, when not NULL, is a JSON object's text (flen bytes)
 * written as "fields" in a JSON line (a text line has no room for it: the caller puts them in
 * msg). */
void fdn_log_write(int level, const char *msg, size_t len, const char *fields, size_t flen);
/* --access-log's line (info): "access KIND METHOD PATH STATUS MS ms [trace=ID]", or a JSON line
 * "access" with fields {kind, method, path, status, ms[, trace]}. trace: the request's trace id
 * (32 hex digits, not NUL-terminated), or NULL. */
void fdn_log_access(const char *kind, const char *method, const char *path, size_t plen, int status,
                    double ms, const char *trace);

#define fdn_debug(...) fdn_log(FDN_LOG_DEBUG, __VA_ARGS__)
#define fdn_info(...) fdn_log(FDN_LOG_INFO, __VA_ARGS__)
#define fdn_warn(...) fdn_log(FDN_LOG_WARN, __VA_ARGS__)
#define fdn_error(...) fdn_log(FDN_LOG_ERROR, __VA_ARGS__)

#endif
