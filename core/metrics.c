/* metrics.c: the node's counters (metrics.h) and their text exposition (Prometheus 0.0.4):
 * counting is an array index and a few additions; the text is made only when scraped. */
#include "metrics.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "status.h"
#include "util.h"

/* The histogram's upper bounds, in ns: 100 µs to 10 s (a call on loopback takes tens of µs) */
static const int64_t bounds[] = {
    100000,   250000,    500000,    1000000,   2500000,    5000000,    10000000,   25000000,
    50000000, 100000000, 250000000, 500000000, 1000000000, 2500000000, 5000000000, 10000000000};
#define NBOUNDS (sizeof bounds / sizeof bounds[0])
#define MAX_OUTCOMES 40 /* 1 (ok) + status.h's error classes */
#define MAX_HTTP 256    /* (method, status) pairs of the gateway; more go to the last one */

struct series {
    int kind;
    char *path, *name;
    uint64_t out[MAX_OUTCOMES];   /* by outcome: 0 ok, else 1 + the class' index in status.h */
    uint64_t bucket[NBOUNDS + 1]; /* served calls: by bound (not cumulative), the last +Inf */
    int64_t sum_ns;
};

struct http_count {
    char method[16];
    int status;
    uint64_t n;
};

struct fdn_metrics {
    struct series *s;
    int n, cap;
    struct http_count http[MAX_HTTP];
    int nhttp;
    int general;  /* the outcome of GeneralError (500), for codes status.h does not name */
    double start; /* when the node started, seconds since the epoch */
};

struct fdn_metrics *fdn_metrics_new(void)
{
    struct fdn_metrics *m = xcalloc(1, sizeof *m);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    m->start = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    size_t nt;
    const struct fdn_status *t = fdn_status_table(&nt);
    for (size_t i = 0; i < nt; i++)
        if (t[i].code == 500)
            m->general = (int)i + 1;
    return m;
}

void fdn_metrics_free(struct fdn_metrics *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->n; i++) {
        free(m->s[i].path);
        free(m->s[i].name);
    }
    free(m->s);
    free(m);
}

int fdn_metrics_series(struct fdn_metrics *m, enum fdn_metrics_kind kind, const char *path,
                       const char *name)
{
    for (int i = 0; i < m->n; i++)
        if (m->s[i].kind == (int)kind && strcmp(m->s[i].path, path) == 0 &&
            strcmp(m->s[i].name, name) == 0)
            return i + 1;
    if (m->n == FDN_METRICS_MAX_SERIES)
        return 0;
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 16;
        m->s = xrealloc(m->s, (size_t)m->cap * sizeof *m->s);
    }
    struct series *s = &m->s[m->n++];
    memset(s, 0, sizeof *s);
    s->kind = (int)kind;
    s->path = xstrdup(path);
    s->name = xstrdup(name);
    return m->n;
}

/* The outcome of an error's status code: 1 + its class' index in status.h's table. */
static int outcome(const struct fdn_metrics *m, int code)
{
    size_t nt;
    const struct fdn_status *t = fdn_status_table(&nt), *e = fdn_status_find(code);
    if (e < t || e >= t + nt || !e->name || code < 400)
        return m->general;
    return (int)(e - t) + 1;
}

void fdn_metrics_count(struct fdn_metrics *m, int s, int code, int64_t ns)
{
    if (s <= 0 || s > m->n)
        return;
    struct series *x = &m->s[s - 1];
    x->out[code ? outcome(m, code) : 0]++;
    if (ns < 0)
        return;
    size_t b = 0;
    while (b < NBOUNDS && ns > bounds[b])
        b++;
    x->bucket[b]++;
    x->sum_ns += ns;
}

void fdn_metrics_http(struct fdn_metrics *m, const char *method, int status)
{
    if (!method || strlen(method) >= sizeof m->http[0].method)
        method = "OTHER";
    int i = 0;
    while (i < m->nhttp && (m->http[i].status != status || strcmp(m->http[i].method, method)))
        i++;
    if (i == m->nhttp) {
        if (m->nhttp == MAX_HTTP)
            i = MAX_HTTP - 1; /* (never with Node's methods and real statuses) */
        else {
            snprintf(m->http[i].method, sizeof m->http[i].method, "%s", method);
            m->http[i].status = status;
            m->nhttp++;
        }
    }
    m->http[i].n++;
}

int fdn_metrics_get(const struct fdn_metrics *m, int s, int *kind, const char **path,
                    const char **name, uint64_t *calls, uint64_t *errors, double *seconds)
{
    if (s <= 0 || s > m->n)
        return -1;
    const struct series *x = &m->s[s - 1];
    *kind = x->kind;
    *path = x->path;
    *name = x->name;
    *errors = 0;
    for (int o = 1; o < MAX_OUTCOMES; o++)
        *errors += x->out[o];
    *calls = *errors + x->out[0];
    *seconds = (double)x->sum_ns / 1e9;
    return 0;
}

void fdn_metrics_process(const struct fdn_metrics *m, struct fdn_process *p)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    p->cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
             (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    p->rss = 0;
    FILE *f = fopen("/proc/self/statm", "re");
    unsigned long size, res;
    if (f && fscanf(f, "%lu %lu", &size, &res) == 2)
        p->rss = (double)res * (double)sysconf(_SC_PAGESIZE);
    if (f)
        fclose(f);
    p->fds = 0;
    DIR *d = opendir("/proc/self/fd");
    for (struct dirent *e; d && (e = readdir(d));)
        p->fds += e->d_name[0] != '.';
    if (d) {
        closedir(d);
        p->fds--; /* the directory's own descriptor */
    }
    p->start = m->start;
}

/* --- the exposition --------------------------------------------------------------------- */

struct out {
    void (*put)(void *, const char *, size_t);
    void *arg;
};

__attribute__((format(printf, 2, 3))) static void say(struct out *o, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n > 0)
        o->put(o->arg, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

/* A label's value, escaped (backslash, double quote, line feed). */
static void label(struct out *o, const char *v)
{
    for (const char *p = v; *p; p++) {
        size_t run = strcspn(p, "\\\"\n");
        o->put(o->arg, p, run);
        p += run;
        if (!*p)
            break;
        o->put(o->arg, *p == '\\' ? "\\\\" : *p == '"' ? "\\\"" : "\\n", 2);
    }
}

static void family(struct out *o, const char *name, const char *type, const char *help)
{
    say(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{path="..",<key>=".."} (no closing brace: the caller adds its own labels and value) */
static void head(struct out *o, const char *metric, const struct series *x, const char *key)
{
    say(o, "%s{path=\"", metric);
    label(o, x->path);
    say(o, "\",%s=\"", key);
    label(o, x->name);
    o->put(o->arg, "\"", 1);
}

static void counts(struct out *o, const struct fdn_metrics *m, int kind, const char *metric)
{
    size_t nt;
    const struct fdn_status *t = fdn_status_table(&nt);
    for (int i = 0; i < m->n; i++) {
        const struct series *x = &m->s[i];
        if (x->kind != kind)
            continue;
        for (int k = 0; k < MAX_OUTCOMES && k <= (int)nt; k++) {
            if (k && !x->out[k])
                continue; /* ok always shows (0 included); an error class once it happened */
            head(o, metric, x, kind == FDN_M_EVENT ? "event" : "method");
            if (kind == FDN_M_EVENT) {
                say(o, "} %llu\n", (unsigned long long)x->out[0]);
                break;
            }
            say(o, ",outcome=\"%s\"} %llu\n", k ? t[k - 1].name : "ok",
                (unsigned long long)x->out[k]);
        }
    }
}

static void histograms(struct out *o, const struct fdn_metrics *m)
{
    for (int i = 0; i < m->n; i++) {
        const struct series *x = &m->s[i];
        if (x->kind != FDN_M_SERVED)
            continue;
        uint64_t total = 0;
        for (size_t b = 0; b <= NBOUNDS; b++) {
            total += x->bucket[b];
            head(o, "fdn_call_duration_seconds_bucket", x, "method");
            if (b < NBOUNDS)
                say(o, ",le=\"%g\"} %llu\n", (double)bounds[b] / 1e9, (unsigned long long)total);
            else
                say(o, ",le=\"+Inf\"} %llu\n", (unsigned long long)total);
        }
        head(o, "fdn_call_duration_seconds_sum", x, "method");
        say(o, "} %.9f\n", (double)x->sum_ns / 1e9);
        head(o, "fdn_call_duration_seconds_count", x, "method");
        say(o, "} %llu\n", (unsigned long long)total);
    }
}

void fdn_metrics_render(const struct fdn_metrics *m, void (*put)(void *, const char *, size_t),
                        void *arg)
{
    struct out o = {put, arg};
    family(&o, "fdn_calls_total", "counter",
           "Calls served by this node's services, by path, method and outcome (ok or the "
           "error's class).");
    counts(&o, m, FDN_M_SERVED, "fdn_calls_total");
    family(&o, "fdn_remote_calls_total", "counter",
           "Calls this node made to other nodes' services through its proxies.");
    counts(&o, m, FDN_M_REMOTE, "fdn_remote_calls_total");
    family(&o, "fdn_call_duration_seconds", "histogram",
           "How long the calls served by this node's services took, hooks included.");
    histograms(&o, m);
    family(&o, "fdn_events_total", "counter", "Events emitted by this node's services.");
    counts(&o, m, FDN_M_EVENT, "fdn_events_total");
    family(&o, "fdn_http_requests_total", "counter",
           "Requests the REST gateway answered, by method and status.");
    for (int i = 0; i < m->nhttp; i++)
        say(&o, "fdn_http_requests_total{method=\"%s\",status=\"%d\"} %llu\n", m->http[i].method,
            m->http[i].status, (unsigned long long)m->http[i].n);
    struct fdn_process p;
    fdn_metrics_process(m, &p);
    family(&o, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
    say(&o, "process_resident_memory_bytes %.0f\n", p.rss);
    family(&o, "process_cpu_seconds_total", "counter",
           "Total user and system CPU time spent in seconds.");
    say(&o, "process_cpu_seconds_total %.6f\n", p.cpu);
    family(&o, "process_open_fds", "gauge", "Number of open file descriptors.");
    say(&o, "process_open_fds %.0f\n", p.fds);
    family(&o, "process_start_time_seconds", "gauge",
           "Start time of the process since unix epoch in seconds.");
    say(&o, "process_start_time_seconds %.3f\n", p.start);
}
