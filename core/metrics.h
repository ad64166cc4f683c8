/* metrics.h: the node's counters for Prometheus, kept in C so that counting a call costs a few
 * additions: calls served and made per (path, method, outcome), a latency histogram of the
 * calls served, events per (path, event), gateway answers per (method, status); rendered in
 * the text exposition format 0.0.4 only when scraped. Label values come from registered
 * services (the caller registers a series once), never from what a client sent. */
#ifndef FDN_METRICS_H
#define FDN_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct fdn_metrics;

enum fdn_metrics_kind { FDN_M_SERVED, FDN_M_REMOTE, FDN_M_EVENT };

#define FDN_METRICS_MAX_SERIES 4096 /* series of calls and events; more are not counted */

struct fdn_metrics *fdn_metrics_new(void);
void fdn_metrics_free(struct fdn_metrics *m); /* accepts NULL */

/* The series of (kind, path, name) (name: a method, or an event), made on first use: its
 * number, 1 or more; 0 when FDN_METRICS_MAX_SERIES are taken (then nothing is counted). */
int fdn_metrics_series(struct fdn_metrics *m, enum fdn_metrics_kind kind, const char *path,
                       const char *name);

/* One call or event of series s ended: code 0 for success, else its error's status code (the
 * outcome label is the Feathers class of the code, GeneralError for one not in status.h);
 * ns, the call's duration (served calls only: the histogram), or -1. s 0 is ignored. */
void fdn_metrics_count(struct fdn_metrics *m, int s, int code, int64_t ns);

/* One answer of the gateway (method: the request's, NULL when it was never read whole). */
void fdn_metrics_http(struct fdn_metrics *m, const char *method, int status);

/* A series' totals, for the cluster page: calls, failed calls, and the sum of their
 * durations in seconds. kind and the labels are written to the out-params; -1 past the end. */
int fdn_metrics_get(const struct fdn_metrics *m, int s, int *kind, const char **path,
                    const char **name, uint64_t *calls, uint64_t *errors, double *seconds);

/* The process' figures: resident memory (bytes), CPU time (seconds), open descriptors, start
 * time (seconds since the epoch, as the node recorded it at its start). */
struct fdn_process {
    double rss, cpu, fds, start;
};
void fdn_metrics_process(const struct fdn_metrics *m, struct fdn_process *p);

/* Appends the exposition of every metric kept here (and the process_* ones) to out via put
 * (put(arg, bytes, len)). */
void fdn_metrics_render(const struct fdn_metrics *m, void (*put)(void *, const char *, size_t),
                        void *arg);

#endif
