/* http_static.c: --public DIR on the gateway: a GET or HEAD that no service took answered with
 * a file under DIR (static_path.c decides what may be opened, and opens it beneath DIR); and
 * the start of the browser's needs, --cors's policy with it. */
#include "http_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cors.h"
#include "http_parser.h"
#include "node.h"
#include "static_path.h"
#include "util.h"

#define INDEX "index.html"

int fdn_http_web_start(struct fdn_http *h)
{
    const struct fdn_config *cfg = &h->n->cfg;
    const char *err;
    h->open_how = FDN_STATIC_OPENAT2;
    if (cfg->cors && fdn_http_set_cors(h, cfg->cors, strlen(cfg->cors), &err) < 0) {
        fdn_error("http: --cors: %s", err);
        return -1;
    }
    if (cfg->public_dir) {
        int fd = open(cfg->public_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
            fdn_error("http: --public %s: %s", cfg->public_dir, strerror(errno));
            return -1;
        }
        h->public_fd = fd;
        h->has_public = 1;
        fdn_info("http: serving the files of %s", cfg->public_dir);
    }
    return 0;
}

void fdn_http_web_free(struct fdn_http *h)
{
    fdn_cors_free(h->cors);
    h->cors = NULL;
    if (h->has_public)
        close(h->public_fd);
    h->has_public = 0;
}

/* 301 to the directory's path with its '/' (and the query). */
static int redirect(struct fdn_http *h, uint64_t req_id, const char *path, size_t len,
                    const char *query)
{
    size_t qlen = query ? strlen(query) : 0, n = 0;
    char *loc = xmalloc(len + qlen + 3);
    memcpy(loc, path, len);
    n = len;
    loc[n++] = '/';
    if (query) {
        loc[n++] = '?';
        memcpy(loc + n, query, qlen);
        n += qlen;
    }
    struct fdn_http_field f[2] = {
        {"Location", loc, 8, n},
        {"Content-Type", "text/plain; charset=utf-8", 12, 25},
    };
    int r = fdn_http_send(h, req_id, 301, f, 2, NULL, 0, -1);
    free(loc);
    return r;
}

/* The open file (and its stat) rel names; -1 when there is none that may be served. */
static int open_file(struct fdn_http *h, const char *rel, struct stat *st)
{
    int fd = fdn_static_open(h->public_fd, rel, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY,
                             &h->open_how);
    if (fd >= 0 && fstat(fd, st) < 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

int fdn_http_send_file(struct fdn_http *h, uint64_t req_id, const char *path, size_t len,
                       const char *query)
{
    struct conn *c = h && req_id ? h->slots[req_id % (uint64_t)h->nslots] : NULL;
    if (!c || c->req_id != req_id || c->state != C_IN_LUA)
        return FDN_HTTP_EGONE;
    if (!h->has_public || (strcmp(c->p->method, "GET") != 0 && !c->head))
        return FDN_HTTP_ENOENT;
    char rel[FDN_STATIC_MAX_PATH + sizeof INDEX + 2];
    int dir;
    struct stat st;
    if (len > FDN_STATIC_MAX_PATH || fdn_static_path(path, len, rel, &dir) < 0)
        return FDN_HTTP_ENOENT;
    int fd = open_file(h, rel, &st);
    if (fd >= 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        if (!dir)
            return redirect(h, req_id, path, len, query);
        strcat(*rel ? strcat(rel, "/") : rel, INDEX);
        fd = open_file(h, rel, &st);
    } else if (fd >= 0 && dir) { /* "/file.txt/" */
        close(fd);
        return FDN_HTTP_ENOENT;
    }
    if (fd < 0)
        return FDN_HTTP_ENOENT;
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return FDN_HTTP_ENOENT;
    }
    char etag[FDN_STATIC_ETAG_LEN], date[FDN_STATIC_DATE_LEN];
    int64_t mtime_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
    fdn_static_etag((uint64_t)st.st_size, mtime_ms, etag);
    fdn_static_date((int64_t)st.st_mtim.tv_sec, date);
    const char *type = fdn_static_type(rel);
    struct fdn_http_field f[] = {
        {"Content-Type", type, 12, strlen(type)},     {"ETag", etag, 4, strlen(etag)},
        {"Last-Modified", date, 13, strlen(date)},    {"Cache-Control", "no-cache", 13, 8},
        {"X-Content-Type-Options", "nosniff", 22, 7},
    };
    int not_modified = fdn_static_not_modified(fdn_http_parser_header(c->p, "if-none-match"),
                                               fdn_http_parser_header(c->p, "if-modified-since"),
                                               etag, (int64_t)st.st_mtim.tv_sec);
    return fdn_http_send(h, req_id, not_modified ? 304 : 200, f, sizeof f / sizeof f[0], NULL,
                         (size_t)st.st_size, fd);
}
