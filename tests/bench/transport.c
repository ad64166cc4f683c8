/* transport.c: what fdnode's transport alone can do: a minimal server and client speaking its
 * link framing (core/frame.h: u32 length | u8 type | u8 flags | u32 id | body) on libevent
 * bufferevents, as core/link.c does, with no Lua and no JSON codec. The bodies are the bytes
 * fdnode puts on the wire for the bench's echo workload, formatted with snprintf.
 *
 *   transport server [HOST [PORT]]            listens (default 127.0.0.1, any port), prints
 *                                             the port on stdout, serves until killed
 *   transport client HOST PORT rpc|events     one run, one JSON line on stdout
 *     env: DURATION (s, default 5), WARMUP (s, default 1), CONCURRENCY (default 64)
 *   env SPIN=US (both sides): after a callback that read frames, the loop polls US µs for
 *     more before it sleeps: fdnode's own loop (core/reactor.c, --spin); the JSON lines then
 *     say "transport-spin"
 *
 * rpc: CONCURRENCY requests in flight on one connection (closed loop: each answer sends the
 * next request), a WARMUP phase then a DURATION phase, as the peers' harness does; latency
 * from queueing a REQ to parsing its RES. events: the client sends SUB; the server sends EVT
 * frames for DURATION s, BATCH at a time, stopping while more than 1 MiB is queued (the same
 * pacing as tests/bench/echo_provider.lua), then one BYE carrying the count it sent.
 * Build: cc -O2 -Icore tests/bench/transport.c core/frame.c core/reactor.c core/util.c
 * $(pkg-config --cflags --libs libevent_core) -o transport   (tests/bench/run does this). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "frame.h"
#include "reactor.h"
#include "worker.h"

#define MAX_FRAME (1024 * 1024)
#define EVT_BATCH 100
#define EVT_HIGH (1024 * 1024) /* bytes queued above which the event source pauses */
#define MAX_LIFETIME_S 120

/* core/reactor.c stops polling while the node's workers have results to hand over: this
 * program has none (worker.c is not linked in). */
int fdn_workers_busy(void)
{
    return 0;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static double env_num(const char *name, double dflt)
{
    const char *s = getenv(name);
    double v = s ? atof(s) : 0;
    return v > 0 ? v : dflt;
}

static uint64_t
    turns; /* read callbacks so far: the loop polls a little after one (core/reactor.h) */

static int spin_us(void)
{
    const char *s = getenv("SPIN");
    return s ? atoi(s) : 0;
}

static void die(const char *what)
{
    fprintf(stderr, "transport: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n);
    if (!p) {
        fprintf(stderr, "transport: out of memory\n");
        exit(1);
    }
    return p;
}

static void send_frame(struct bufferevent *bev, int type, uint32_t id, const char *body, size_t len)
{
    uint8_t h[FDN_FRAME_HEADER];
    fdn_frame_header(h, (uint8_t)type, 0, id, len);
    struct evbuffer *out = bufferevent_get_output(bev);
    evbuffer_add(out, h, sizeof h);
    if (len)
        evbuffer_add(out, body, len);
}

static void set_sockopts(evutil_socket_t fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* Calls fn for each complete frame in bev's input (parsed in place, as core/link.c does);
 * returns -1 on a malformed stream. */
typedef void (*frame_fn)(struct bufferevent *bev, const struct fdn_frame *f, void *arg);

static int each_frame(struct bufferevent *bev, frame_fn fn, void *arg)
{
    struct evbuffer *in = bufferevent_get_input(bev);
    for (;;) {
        size_t avail = evbuffer_get_length(in);
        if (avail < FDN_FRAME_HEADER)
            return 0;
        const uint8_t *p = evbuffer_pullup(in, FDN_FRAME_HEADER);
        struct fdn_frame f;
        int r = fdn_frame_parse(p, FDN_FRAME_HEADER, MAX_FRAME, &f);
        if (r < 0)
            return -1;
        if (f.size > avail)
            return 0;
        p = evbuffer_pullup(in, (ev_ssize_t)f.size);
        r = fdn_frame_parse(p, f.size, MAX_FRAME, &f);
        if (r <= 0)
            return -1;
        fn(bev, &f, arg);
        evbuffer_drain(in, (size_t)r);
    }
}

/* --- server ------------------------------------------------------------------------------ */

struct sconn {
    struct bufferevent *bev;
    struct event *flood;
    double t_end;
    uint64_t sent;
    int flooding;
};

static void sconn_free(struct sconn *c)
{
    if (c->flood)
        event_free(c->flood);
    bufferevent_free(c->bev);
    free(c);
}

/* One batch of events per reactor turn, as fdn.sleep(0) between batches does in fdnode. */
static void flood_cb(evutil_socket_t fd, short what, void *arg)
{
    struct sconn *c = arg;
    (void)fd;
    (void)what;
    if (now_ms() >= c->t_end) {
        char body[32];
        int n = snprintf(body, sizeof body, "%llu", (unsigned long long)c->sent);
        send_frame(c->bev, FDN_FRAME_BYE, 0, body, (size_t)n);
        c->flooding = 0;
        return;
    }
    struct evbuffer *out = bufferevent_get_output(c->bev);
    if (evbuffer_get_length(out) <= EVT_HIGH) {
        char body[96];
        for (int k = 0; k < EVT_BATCH; k++) {
            int n = snprintf(body, sizeof body,
                             "[\"echo\",\"created\",{\"seq\":%llu,\"text\":\"hello\"},null]",
                             (unsigned long long)c->sent);
            send_frame(c->bev, FDN_FRAME_EVT, 0, body, (size_t)n);
            c->sent++;
        }
        struct timeval zero = {0, 0};
        event_add(c->flood, &zero);
    } else {
        struct timeval ms = {0, 1000};
        event_add(c->flood, &ms);
    }
}

static void server_frame(struct bufferevent *bev, const struct fdn_frame *f, void *arg)
{
    struct sconn *c = arg;
    if (f->type == FDN_FRAME_REQ) {
        /* the request is ["echo","get",ID,null,null]: answer {"id":ID,"text":"hello"} */
        long long id = 0;
        const char *p = memchr(f->body, ',', f->body_len);
        if (p)
            p = memchr(p + 1, ',', f->body_len - (size_t)(p + 1 - (const char *)f->body));
        if (p)
            id = strtoll(p + 1, NULL, 10);
        char body[64];
        int n = snprintf(body, sizeof body, "{\"id\":%lld,\"text\":\"hello\"}", id);
        send_frame(bev, FDN_FRAME_RES, f->id, body, (size_t)n);
    } else if (f->type == FDN_FRAME_SUB && !c->flooding) {
        double dur = env_num("DURATION", 5);
        c->flooding = 1;
        c->sent = 0;
        c->t_end = now_ms() + dur * 1000;
        if (!c->flood)
            c->flood = event_new(bufferevent_get_base(bev), -1, 0, flood_cb, c);
        event_active(c->flood, EV_TIMEOUT, 0);
    } else if (f->type == FDN_FRAME_PING) {
        send_frame(bev, FDN_FRAME_PONG, f->id, NULL, 0);
    }
}

static void server_read_cb(struct bufferevent *bev, void *arg)
{
    turns++;
    if (each_frame(bev, server_frame, arg) < 0)
        sconn_free(arg);
}

static void server_event_cb(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        sconn_free(arg);
}

static void accept_cb(struct evconnlistener *lis, evutil_socket_t fd, struct sockaddr *sa,
                      int socklen, void *arg)
{
    (void)lis;
    (void)sa;
    (void)socklen;
    struct event_base *base = arg;
    set_sockopts(fd);
    struct sconn *c = calloc(1, sizeof *c);
    if (!c)
        exit(1);
    c->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(c->bev, server_read_cb, NULL, server_event_cb, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

static int run_server(const char *host, int port)
{
    struct event_base *base = event_base_new();
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &sin.sin_addr) != 1) {
        fprintf(stderr, "transport: bad address %s\n", host);
        return 2;
    }
    struct evconnlistener *lis =
        evconnlistener_new_bind(base, accept_cb, base, LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE,
                                128, (struct sockaddr *)&sin, sizeof sin);
    if (!lis)
        die("listen");
    socklen_t len = sizeof sin;
    getsockname(evconnlistener_get_fd(lis), (struct sockaddr *)&sin, &len);
    printf("%d\n", ntohs(sin.sin_port));
    fflush(stdout);
    alarm(MAX_LIFETIME_S); /* bounded even if nobody stops us */
    fdn_reactor_run(base, spin_us(), &turns);
    return 0;
}

/* --- client ------------------------------------------------------------------------------ */

enum { PH_WARMUP, PH_MEASURE, PH_DONE };

struct client {
    struct event_base *base;
    struct bufferevent *bev;
    int events; /* workload */
    int conc, phase, inflight;
    double t_phase, t_end, t_connect0, connect_ms;
    double warmup_s, duration_s;
    double *sent_at; /* per slot: when its request was queued */
    uint32_t *gen;   /* per slot: request counter, for the request ids */
    uint64_t calls, errors, nlat, cap;
    double *lat; /* µs */
    double seconds;
    /* events */
    uint64_t received, sent;
    double t_sub, t_last;
    int got_bye;
};

static void send_req(struct client *cl, int slot)
{
    uint32_t g = cl->gen[slot]++;
    uint32_t id = (uint32_t)slot + 1 + (g % 4096u) * (uint32_t)cl->conc; /* id -> slot */
    long long arg = (long long)slot * 1000000 + g;
    char body[64];
    int n = snprintf(body, sizeof body, "[\"echo\",\"get\",%lld,null,null]", arg);
    cl->sent_at[slot] = now_ms();
    send_frame(cl->bev, FDN_FRAME_REQ, id, body, (size_t)n);
    cl->inflight++;
}

static void start_phase(struct client *cl, int phase)
{
    cl->phase = phase;
    cl->t_phase = now_ms();
    cl->t_end = cl->t_phase + 1000 * (phase == PH_WARMUP ? cl->warmup_s : cl->duration_s);
    for (int s = 0; s < cl->conc; s++)
        send_req(cl, s);
}

static void client_frame(struct bufferevent *bev, const struct fdn_frame *f, void *arg)
{
    struct client *cl = arg;
    (void)bev;
    if (cl->events) {
        if (f->type == FDN_FRAME_EVT) {
            cl->received++;
            cl->t_last = now_ms();
        } else if (f->type == FDN_FRAME_BYE) {
            char buf[32];
            size_t n = f->body_len < sizeof buf - 1 ? f->body_len : sizeof buf - 1;
            memcpy(buf, f->body, n);
            buf[n] = 0;
            cl->sent = strtoull(buf, NULL, 10);
            cl->got_bye = 1;
            event_base_loopbreak(cl->base);
        }
        return;
    }
    if (f->type != FDN_FRAME_RES && f->type != FDN_FRAME_ERR)
        return;
    int slot = (int)((f->id - 1) % (uint32_t)cl->conc);
    double t = now_ms();
    cl->inflight--;
    if (f->type == FDN_FRAME_RES && f->body_len > 0 &&
        memmem(f->body, f->body_len, "\"hello\"", 7)) {
        if (cl->phase == PH_MEASURE) {
            cl->calls++;
            if (cl->nlat == cl->cap) {
                cl->cap = cl->cap ? cl->cap * 2 : 1 << 16;
                cl->lat = xrealloc(cl->lat, cl->cap * sizeof *cl->lat);
            }
            cl->lat[cl->nlat++] = (t - cl->sent_at[slot]) * 1000;
        }
    } else if (cl->phase == PH_MEASURE) {
        cl->errors++;
    }
    if (t < cl->t_end) {
        send_req(cl, slot);
    } else if (cl->inflight == 0) { /* every worker saw the end: the phase is over */
        if (cl->phase == PH_WARMUP) {
            start_phase(cl, PH_MEASURE);
        } else {
            cl->seconds = (t - cl->t_phase) / 1000;
            cl->phase = PH_DONE;
            event_base_loopbreak(cl->base);
        }
    }
}

static void client_read_cb(struct bufferevent *bev, void *arg)
{
    turns++;
    if (each_frame(bev, client_frame, arg) < 0) {
        fprintf(stderr, "transport: malformed stream\n");
        exit(1);
    }
}

static void client_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct client *cl = arg;
    (void)bev;
    if (what & BEV_EVENT_CONNECTED) {
        set_sockopts(bufferevent_getfd(bev));
        cl->connect_ms = now_ms() - cl->t_connect0;
        cl->t_sub = now_ms();
        if (cl->events)
            send_frame(cl->bev, FDN_FRAME_SUB, 0, "{\"path\":\"echo\"}", 15);
        else
            start_phase(cl, cl->warmup_s > 0 ? PH_WARMUP : PH_MEASURE);
        return;
    }
    fprintf(stderr, "transport: connection %s\n", what & BEV_EVENT_EOF ? "closed" : "failed");
    exit(1);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(const double *sorted, uint64_t n, double p)
{
    if (!n)
        return 0;
    uint64_t i = (uint64_t)floor(p * (double)n);
    return sorted[i < n ? i : n - 1];
}

static int run_client(const char *host, int port, const char *workload)
{
    struct client cl = {0};
    cl.events = strcmp(workload, "events") == 0;
    if (!cl.events && strcmp(workload, "rpc") != 0) {
        fprintf(stderr, "transport: unknown workload %s\n", workload);
        return 2;
    }
    cl.conc = (int)env_num("CONCURRENCY", 64);
    cl.warmup_s = env_num("WARMUP", 1);
    cl.duration_s = env_num("DURATION", 5);
    cl.sent_at = calloc((size_t)cl.conc, sizeof *cl.sent_at);
    cl.gen = calloc((size_t)cl.conc, sizeof *cl.gen);
    cl.base = event_base_new();
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &sin.sin_addr) != 1) {
        fprintf(stderr, "transport: bad address %s\n", host);
        return 2;
    }
    cl.bev = bufferevent_socket_new(cl.base, -1, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(cl.bev, client_read_cb, NULL, client_event_cb, &cl);
    bufferevent_enable(cl.bev, EV_READ | EV_WRITE);
    alarm(MAX_LIFETIME_S);
    cl.t_connect0 = now_ms();
    if (bufferevent_socket_connect(cl.bev, (struct sockaddr *)&sin, sizeof sin) < 0)
        die("connect");
    if (cl.events) {
        /* bounded: the server sends BYE after DURATION s; stop waiting DURATION + 30 s in */
        struct timeval limit = {(time_t)(cl.duration_s + 30), 0};
        event_base_loopexit(cl.base, &limit);
    }
    fdn_reactor_run(cl.base, spin_us(), &turns);
    const char *peer = spin_us() > 0 ? "transport-spin" : "transport";
    if (cl.events) {
        double secs = cl.received ? (cl.t_last - cl.t_sub) / 1000 : 0;
        printf("{\"peer\":\"%s\",\"workload\":\"events\",\"sent\":%llu,\"received\":%llu,"
               "\"lost\":%lld,\"seconds\":%.3f,\"events_per_s\":%.0f,\"sent_per_s\":%.0f,"
               "\"discovery_ms\":null,\"connect_ms\":%.3f}\n",
               peer, (unsigned long long)cl.sent, (unsigned long long)cl.received,
               (long long)cl.sent - (long long)cl.received, secs,
               secs > 0 ? (double)cl.received / secs : 0, (double)cl.sent / cl.duration_s,
               cl.connect_ms);
        return cl.got_bye ? 0 : 1;
    }
    if (cl.phase != PH_DONE)
        return 1;
    qsort(cl.lat, cl.nlat, sizeof *cl.lat, cmp_double);
    printf("{\"peer\":\"%s\",\"workload\":\"rpc\",\"concurrency\":%d,\"calls\":%llu,"
           "\"seconds\":%.3f,\"calls_per_s\":%.0f,\"p50_us\":%.0f,\"p99_us\":%.0f,"
           "\"errors\":%llu,\"discovery_ms\":null,\"connect_ms\":%.3f}\n",
           peer, cl.conc, (unsigned long long)cl.calls, cl.seconds, (double)cl.calls / cl.seconds,
           round(pct(cl.lat, cl.nlat, 0.50)), round(pct(cl.lat, cl.nlat, 0.99)),
           (unsigned long long)cl.errors, cl.connect_ms);
    return 0;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    if (argc >= 2 && strcmp(argv[1], "server") == 0)
        return run_server(argc > 2 ? argv[2] : "127.0.0.1", argc > 3 ? atoi(argv[3]) : 0);
    if (argc >= 5 && strcmp(argv[1], "client") == 0)
        return run_client(argv[2], atoi(argv[3]), argv[4]);
    fprintf(stderr, "usage: transport server [HOST [PORT]]\n"
                    "       transport client HOST PORT rpc|events\n");
    return 2;
}
