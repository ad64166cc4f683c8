/* test_metrics.c: the node's counters (core/metrics.c): series made once per labels and
 * bounded, outcomes by error class, the histogram's buckets (cumulative in the text), label
 * values escaped, the gateway's (method, status) pairs, and the text's shape. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "metrics.h"

struct text {
    char *s;
    size_t len;
};

static void put(void *arg, const char *s, size_t len)
{
    struct text *t = arg;
    t->s = realloc(t->s, t->len + len + 1);
    memcpy(t->s + t->len, s, len);
    t->len += len;
    t->s[t->len] = 0;
}

static char *render(const struct fdn_metrics *m)
{
    struct text t = {NULL, 0};
    fdn_metrics_render(m, put, &t);
    return t.s;
}

static int has(const char *text, const char *line)
{
    int ok = strstr(text, line) != NULL;
    if (!ok)
        fprintf(stderr, "  missing: %s\n", line);
    return ok;
}

int main(void)
{
    struct fdn_metrics *m = fdn_metrics_new();
    int get = fdn_metrics_series(m, FDN_M_SERVED, "users", "get");
    CHECK(get == 1);
    CHECK(fdn_metrics_series(m, FDN_M_SERVED, "users", "get") == get); /* once per labels */
    int remote = fdn_metrics_series(m, FDN_M_REMOTE, "users", "get");
    CHECK(remote != get && remote > 0);
    int odd = fdn_metrics_series(m, FDN_M_SERVED, "we\"ird\\path\n", "find");
    int ev = fdn_metrics_series(m, FDN_M_EVENT, "users", "created");

    fdn_metrics_count(m, get, 0, 50000);         /* 50 µs: the first bucket */
    fdn_metrics_count(m, get, 0, 300000);        /* 300 µs: le 0.0005 */
    fdn_metrics_count(m, get, 404, 2000000);     /* NotFound, 2 ms */
    fdn_metrics_count(m, get, 599, 20000000000); /* a code with no class: GeneralError, +Inf */
    fdn_metrics_count(m, remote, 408, -1);
    fdn_metrics_count(m, odd, 0, 1);
    fdn_metrics_count(m, ev, 0, -1);
    fdn_metrics_count(m, ev, 0, -1);
    fdn_metrics_count(m, 0, 0, 1);   /* no series: ignored */
    fdn_metrics_count(m, 999, 0, 1); /* nor one out of range */
    fdn_metrics_http(m, "GET", 200);
    fdn_metrics_http(m, "GET", 200);
    fdn_metrics_http(m, NULL, 400);

    char *t = render(m);
    CHECK(has(t, "# TYPE fdn_calls_total counter\n"));
    CHECK(has(t, "fdn_calls_total{path=\"users\",method=\"get\",outcome=\"ok\"} 2\n"));
    CHECK(has(t, "fdn_calls_total{path=\"users\",method=\"get\",outcome=\"NotFound\"} 1\n"));
    CHECK(has(t, "fdn_calls_total{path=\"users\",method=\"get\",outcome=\"GeneralError\"} 1\n"));
    CHECK(has(t, "fdn_remote_calls_total{path=\"users\",method=\"get\",outcome=\"Timeout\"} 1\n"));
    CHECK(has(t, "fdn_remote_calls_total{path=\"users\",method=\"get\",outcome=\"ok\"} 0\n"));
    CHECK(has(t,
              "fdn_call_duration_seconds_bucket{path=\"users\",method=\"get\",le=\"0.0001\"} 1\n"));
    CHECK(has(t,
              "fdn_call_duration_seconds_bucket{path=\"users\",method=\"get\",le=\"0.0005\"} 2\n"));
    CHECK(has(t,
              "fdn_call_duration_seconds_bucket{path=\"users\",method=\"get\",le=\"0.0025\"} 3\n"));
    CHECK(has(t, "fdn_call_duration_seconds_bucket{path=\"users\",method=\"get\",le=\"10\"} 3\n"));
    CHECK(
        has(t, "fdn_call_duration_seconds_bucket{path=\"users\",method=\"get\",le=\"+Inf\"} 4\n"));
    CHECK(has(t, "fdn_call_duration_seconds_count{path=\"users\",method=\"get\"} 4\n"));
    CHECK(has(t, "fdn_call_duration_seconds_sum{path=\"users\",method=\"get\"} 20.002350000\n"));
    CHECK(has(t,
              "fdn_calls_total{path=\"we\\\"ird\\\\path\\n\",method=\"find\",outcome=\"ok\"} 1\n"));
    CHECK(has(t, "fdn_events_total{path=\"users\",event=\"created\"} 2\n"));
    CHECK(has(t, "fdn_http_requests_total{method=\"GET\",status=\"200\"} 2\n"));
    CHECK(has(t, "fdn_http_requests_total{method=\"OTHER\",status=\"400\"} 1\n"));
    CHECK(has(t, "# TYPE process_cpu_seconds_total counter\n"));
    CHECK(has(t, "process_start_time_seconds "));
    CHECK(t[strlen(t) - 1] == '\n');
    /* every line is a comment or a sample with a value; no family appears twice */
    CHECK(strstr(strstr(t, "# TYPE fdn_calls_total") + 1, "# TYPE fdn_calls_total") == NULL);
    free(t);

    int kind;
    const char *path, *name;
    uint64_t calls, errors;
    double seconds;
    CHECK(fdn_metrics_get(m, get, &kind, &path, &name, &calls, &errors, &seconds) == 0);
    CHECK(kind == FDN_M_SERVED && calls == 4 && errors == 2 && seconds > 20.0 && seconds < 20.01);
    CHECK_STR(path, "users");
    CHECK(fdn_metrics_get(m, 99, &kind, &path, &name, &calls, &errors, &seconds) < 0);

    /* the series are bounded: past the cap, 0 (nothing counted) */
    char p[32];
    int last = 1;
    for (int i = 0; i < FDN_METRICS_MAX_SERIES + 10; i++) {
        snprintf(p, sizeof p, "p%d", i);
        last = fdn_metrics_series(m, FDN_M_SERVED, p, "get");
    }
    CHECK(last == 0);
    fdn_metrics_count(m, last, 0, 1); /* ignored */

    struct fdn_process pr;
    fdn_metrics_process(m, &pr);
    CHECK(pr.rss > 0 && pr.fds >= 3 && pr.cpu >= 0 && pr.start > 1.6e9);
    fdn_metrics_free(m);
    fdn_metrics_free(NULL);
    return check_summary("metrics");
}
