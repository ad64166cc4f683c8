/* http.h: the REST gateway's HTTP/1.1 server side on bufferevents, kept thin: it hands each
 * complete request to Lua (dispatch kind "http") and writes the answer Lua gives back. */
#ifndef FDN_HTTP_H
#define FDN_HTTP_H

#include <stddef.h>
#include <stdint.h>

struct bufferevent;
struct fdn_node;
struct fdn_http;

/* Dispatch of a complete request: fdn_node_dispatch_begin(n, "http") then 6 arguments:
 *   req_id  integer, unique per node, never reused
 *   method  string ("GET"): one Node knows, in its case (others are refused with 400)
 *   path    string: the raw target before '?', still percent-encoded (an absolute-form
 *           target, http://host/p?q, is given by its path and query)
 *   query   string after '?' (raw), or nil when there is no '?'
 *   headers table: lowercased name -> value; repeated headers joined with ", " ("; " for cookie)
 *   body    string, or nil when empty
 * One request per connection is in Lua at a time; the connection reads nothing more until
 * the response is written. The client closing its side (even a half close) while the
 * request is in Lua counts as gone: the response is dropped.
 *
 * Errors the server answers itself close the connection; their bodies are Feathers-shaped:
 * the Feathers class where one exists, else the HTTP reason in the same form:
 *   400 BadRequest/bad-request   408 Timeout/timeout   501 NotImplemented/not-implemented
 *   503 Unavailable/unavailable (over http_max_conns, or http_max_per_addr from one client
 *       address, with no idle kept-alive connection to close instead)
 *   413 PayloadTooLarge/payload-too-large   431 RequestHeaderFieldsTooLarge/...
 *   417 ExpectationFailed/expectation-failed (an Expect other than 100-continue)
 *   505 HttpVersionNotSupported/http-version-not-supported
 * e.g. {"name":"BadRequest","message":"Invalid request line","code":400,"className":"bad-request"}
 */

/* Binds host:port (IPv4 or IPv6 literal, or a name such as "localhost": every address it
 * resolves to, port 0 binds the first only). 0 on success; -1 after logging one line. */
int fdn_http_start(struct fdn_node *n, const char *host, int port, struct fdn_http **out);

/* The operators' server (--admin): the same server, with no CORS, --public or Socket.IO, at
 * most 64 connections, and its complete requests dispatched as "admin" (same 6 arguments);
 * fdn_http_respond answers them on this struct. 0, or -1 after logging one line. */
int fdn_http_start_admin(struct fdn_node *n, const char *host, int port, struct fdn_http **out);

/* Shutdown: closes the listener and idle or half-read connections; requests in flight are
 * answered (with Connection: close) and then closed. */
void fdn_http_stop_accepting(struct fdn_http *h);

/* Takes request req_id's connection out of the server (a websocket upgrade, still "in Lua"):
 * its slot is freed and it no longer counts; the caller owns the bufferevent, whose input may
 * already hold what the client sent after the request. NULL when the request is unknown. */
struct bufferevent *fdn_http_take(struct fdn_http *h, uint64_t req_id);

/* Pushes a request's headers as Lua gets them: lowercased name -> value, repeated headers
 * joined with ", " ("; " for cookie). */
struct lua_State;
struct fdn_http_parser;
void fdn_http_push_headers(struct lua_State *L, const struct fdn_http_parser *p);

/* Requests handed to Lua whose response is not yet fully written. */
size_t fdn_http_in_flight(const struct fdn_http *h);

/* Closes every connection and frees everything; accepts NULL. */
void fdn_http_free(struct fdn_http *h);

/* A response header; name and value are not NUL-terminated. */
struct fdn_http_field {
    const char *name, *value;
    size_t name_len, value_len;
};

#define FDN_HTTP_EGONE (-1)  /* unknown request: its connection closed, or already answered */
#define FDN_HTTP_EINVAL (-2) /* status not in 200..999, or a header with forbidden bytes */
#define FDN_HTTP_ENOENT (-3) /* fdn_http_send_file: nothing to serve at that path */

/* Answers request req_id once: "HTTP/1.1 <status> <reason>", the given headers,
 * Content-Type (application/json; charset=utf-8 unless given), Content-Length and
 * Connection, then the body (none for HEAD, 204 and 304). Content-Length, Transfer-Encoding
 * and Connection headers from the caller are not copied; "Connection: close" among them
 * closes the connection after the response. 0 on success, or FDN_HTTP_E*. */
int fdn_http_respond(struct fdn_http *h, uint64_t req_id, int status,
                     const struct fdn_http_field *fields, size_t nfields, const char *body,
                     size_t len);

/* CORS (off unless --cors or this): every answer then gets Vary: Origin, and one to a request
 * whose Origin is allowed gets Access-Control-Allow-Origin (that origin) and
 * -Allow-Credentials: true; an OPTIONS is answered by the gateway itself (204, with
 * Allow-Methods, -Allow-Headers echoing the request's, -Max-Age for an allowed origin; with
 * none of the allow headers for another), never by Lua. Sets the allowed origins: "*" or a
 * comma-separated list (cors.h); list NULL turns CORS off. 0, or -1 and *err (h unchanged). */
int fdn_http_set_cors(struct fdn_http *h, const char *list, size_t len, const char **err);

/* Static files (--public DIR): answers request req_id, a GET or HEAD, with the file its raw
 * path (before '?', percent-encoded) names under DIR (static_path.h: no way out of DIR, no
 * dotfiles): 200 with Content-Type by extension, ETag, Last-Modified and Cache-Control:
 * no-cache; 304 when the request's If-None-Match or If-Modified-Since says it has it; a
 * directory's index.html when the path ends with '/', else 301 to the path with '/' (and
 * ?query when query is not NULL). 0, FDN_HTTP_EGONE, or FDN_HTTP_ENOENT when there is nothing
 * to serve (no --public, a path refused, no such regular file): the caller answers then. */
int fdn_http_send_file(struct fdn_http *h, uint64_t req_id, const char *path, size_t len,
                       const char *query);

#endif
