/* static_path.h: what the gateway's static files (--public) decide apart from I/O: a request
 * path to a file's path under the public directory, content types, ETag and HTTP dates, and
 * 304s; and fdn_static_open, the one open that cannot leave the directory. */
#ifndef FDN_STATIC_PATH_H
#define FDN_STATIC_PATH_H

#include <stddef.h>
#include <stdint.h>

#define FDN_STATIC_MAX_PATH 4096 /* longest raw path served, in bytes */
#define FDN_STATIC_ETAG_LEN 48   /* room for an ETag, NUL included */
#define FDN_STATIC_DATE_LEN 32   /* room for an HTTP date, NUL included */

/* Maps a request's raw path (before '?', still percent-encoded) to a path relative to the
 * public directory: out gets its segments joined by '/' ("" for the directory itself),
 * NUL-terminated; *dir is 1 when the raw path ends with '/'. Escapes are decoded once, as
 * decodeURIComponent does ("%252e" is the name "%2e"). out must hold n + 1 bytes. Returns -1
 * (nothing servable) when the path does not start with '/', is longer than FDN_STATIC_MAX_PATH,
 * has a raw byte outside '!'..'~' or a backslash, a malformed escape or one that is not UTF-8,
 * an empty segment ("//"), a segment that starts with '.' (".", "..", dotfiles, raw or
 * encoded), or a segment that decodes to NUL, '/', '\\' or a control byte; else 0. */
int fdn_static_path(const char *raw, size_t n, char *out, int *dir);

/* The Content-Type of a file by its name's extension (ASCII case ignored):
 * "text/html; charset=utf-8" and so on; "application/octet-stream" for any other. */
const char *fdn_static_type(const char *name);

/* A weak ETag from the file's size and its modification time: W/"<size hex>-<ms hex>". */
void fdn_static_etag(uint64_t size, int64_t mtime_ms, char out[FDN_STATIC_ETAG_LEN]);

/* An IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") of a time in seconds since the epoch. */
void fdn_static_date(int64_t t, char out[FDN_STATIC_DATE_LEN]);
/* Reads an HTTP-date: an IMF-fixdate, or one of the obsolete rfc850 and asctime forms that RFC
 * 9110 §5.6.7 says a recipient must accept too; 0 and *t, or -1 for anything else (such a date
 * is then ignored). */
int fdn_static_parse_date(const char *s, int64_t *t);

/* Whether a GET or HEAD gets 304 Not Modified, by its conditional headers (NULL: absent):
 * If-None-Match, when present, decides alone ("*", or one of its tags equal to etag by the
 * weak comparison); else If-Modified-Since, when it is a date no earlier than mtime (s). */
int fdn_static_not_modified(const char *if_none_match, const char *if_modified_since,
                            const char *etag, int64_t mtime);

enum { FDN_STATIC_OPENAT2, FDN_STATIC_WALK };

/* Opens rel (fdn_static_path's output; "" is root itself) beneath the directory root with
 * flags, and never anything outside it: with openat2's RESOLVE_BENEATH (*how
 * FDN_STATIC_OPENAT2; a symlink that stays inside root is followed, one that leads out is
 * refused), or, where the kernel has no openat2 or a seccomp filter refuses it with EPERM
 * (*how becomes FDN_STATIC_WALK for the next calls), one component at a time with O_NOFOLLOW
 * (every symlink is refused). The fd, or -1 with errno. */
int fdn_static_open(int root, const char *rel, int flags, int *how);

#endif
