/* sioload.c: the gateway benchmark's load generator in C (tests/bench/gateway, DRIVER=c). It
 * speaks Engine.IO v4 over a websocket, Socket.IO v5 and Feathers' socket protocol itself, on
 * epoll, so that the driver no longer saturates before the server does (the Node one does).
 *
 *   sioload [OPTIONS] URL rpc SOCKETS CONCURRENCY SECONDS
 *       CONCURRENCY calls 42<id>["get","echo",<n>,{}] in flight over SOCKETS sockets (call n on
 *       socket n % SOCKETS), each answer 43<id>[null,...] sending the next; a warm-up, then
 *       SECONDS measured; the calls in flight at the end are awaited (5 s at most).
 *   sioload [OPTIONS] URL fanout LISTENERS EVENTS
 *       LISTENERS sockets connect; one more creates EVENTS records ["create","echo",{...},{}],
 *       32 in flight; the listeners count the 42["echo created",...] they hear (waiting 20 s at
 *       most after the last create is answered).
 * Options: -t THREADS (sockets spread over threads, 1), -w WARMUP (rpc seconds, 1), -p PID
 * (also report "server_cpu_s": PID's CPU time over the measured phase only, every thread),
 * -s BYTES (fanout: the created record's text is BYTES long, "hello" by default).
 * One JSON line on stdout, with the keys of shared/bench/gateway/socket-load.mjs; exit 1 and a
 * line on stderr when a socket cannot connect. Only ws:// to a numeric or resolvable host. */
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SEC 1000000000LL
#define HIST_US 1000000 /* latency histogram: 1 µs buckets up to 1 s, the last one beyond */
#define MAX_MSG (64 << 20)
#define MAX_OPENING 128 /* sockets in their handshake at once, per thread */
#define PRODUCER_SLOTS 32

enum { ST_CONNECTING, ST_HTTP, ST_OPEN, ST_CONNECT, ST_READY, ST_DEAD };
enum { ROLE_RPC, ROLE_LISTENER, ROLE_PRODUCER };

struct slot {
    uint64_t id;
    int64_t sent;
    int arg, busy;
};

struct buf {
    char *p;
    size_t off, len, cap; /* p[off..len) is pending */
};

struct conn {
    struct worker *w;
    int fd, state, role, dirty, out_wait, frag_op; /* frag_op: of the message in fragments */
    struct buf in, out, msg;                       /* read; to write; a fragmented message */
    struct slot *slots;                            /* calls in flight: id = seq * nslots + slot */
    int nslots;
    uint64_t seq;
};

struct run {
    struct sockaddr_storage addr;
    socklen_t addrlen;
    char host[300], *text; /* the Host header; fanout's record text */
    int fanout, nsock, conc, secs, events, threads, pid;
    double warmup;
    pthread_barrier_t barrier;
    atomic_int failed, stop, finished, release;
    atomic_ullong heard;
    atomic_llong creates_done; /* fanout: when the last create was answered, 0 before */
    char why[200];
};

struct worker {
    struct run *r;
    pthread_t tid;
    int idx, ep, nconns, opened, opening, ready;
    struct conn *conns;
    struct conn **dirty;
    int ndirty;
    uint32_t rng;
    int64_t t0, t_measure, t_stop, t_end, last_heard;
    uint64_t calls, errors, heard, inflight;
    uint32_t *hist;
    int next_event; /* fanout producer: the next record to create */
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * SEC + ts.tv_nsec;
}

/* Room for n more bytes at b->p + b->len. */
static char *room(struct buf *b, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = b->cap ? b->cap : 4096;
        while (b->cap < b->len + n)
            b->cap *= 2;
        b->p = realloc(b->p, b->cap);
        if (!b->p)
            abort(); /* out of memory */
    }
    return b->p + b->len;
}

static void append(struct buf *b, const void *p, size_t n)
{
    memcpy(room(b, n), p, n);
    b->len += n;
}

static void fail(struct run *r, const char *what)
{
    if (atomic_exchange(&r->failed, 1) == 0)
        snprintf(r->why, sizeof r->why, "%s", what);
}

static void set_events(struct conn *c, uint32_t ev)
{
    struct epoll_event e = {.events = ev, .data.ptr = c};
    epoll_ctl(c->w->ep, EPOLL_CTL_MOD, c->fd, &e);
}

/* The socket is dead: its calls in flight are errors (rpc) and the run goes on without it. */
static void kill_conn(struct conn *c, const char *why)
{
    struct worker *w = c->w;
    if (c->state == ST_DEAD)
        return;
    if (c->state != ST_READY) {
        w->opening--;
        fail(w->r, why);
    }
    for (int i = 0; i < c->nslots; i++)
        if (c->slots[i].busy) {
            c->slots[i].busy = 0;
            w->inflight--;
            w->errors++;
        }
    if (c->role == ROLE_PRODUCER)
        atomic_store(&w->r->stop, 1);
    close(c->fd);
    c->state = ST_DEAD;
}

static void mark_dirty(struct conn *c)
{
    if (!c->dirty) {
        c->dirty = 1;
        c->w->dirty[c->w->ndirty++] = c;
    }
}

/* Queues a masked client frame (FIN, opcode op) carrying p[0..n). */
static void send_frame(struct conn *c, int op, const char *p, size_t n)
{
    struct worker *w = c->w;
    uint8_t *h = (uint8_t *)room(&c->out, n + 14);
    size_t k = 2;
    h[0] = 0x80 | op;
    if (n < 126) {
        h[1] = 0x80 | n;
    } else if (n < 65536) {
        h[1] = 0x80 | 126;
        h[2] = n >> 8;
        h[3] = n & 0xff;
        k = 4;
    } else {
        h[1] = 0x80 | 127;
        for (int i = 0; i < 8; i++)
            h[2 + i] = (uint64_t)n >> (56 - 8 * i);
        k = 10;
    }
    w->rng ^= w->rng << 13, w->rng ^= w->rng >> 17, w->rng ^= w->rng << 5; /* xorshift32 */
    memcpy(h + k, &w->rng, 4);
    for (size_t i = 0; i < n; i++)
        h[k + 4 + i] = p[i] ^ h[k + (i & 3)];
    c->out.len += k + 4 + n;
    mark_dirty(c);
}

static void send_text(struct conn *c, const char *s)
{
    send_frame(c, 1, s, strlen(s));
}

static void flush(struct conn *c)
{
    while (c->state != ST_DEAD && c->out.off < c->out.len) {
        ssize_t n = write(c->fd, c->out.p + c->out.off, c->out.len - c->out.off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            if (!c->out_wait)
                set_events(c, EPOLLIN | EPOLLOUT);
            c->out_wait = 1;
            return;
        }
        if (n <= 0) {
            kill_conn(c, "write failed");
            return;
        }
        c->out.off += n;
    }
    c->out.off = c->out.len = 0;
    if (c->out_wait && c->state != ST_DEAD)
        set_events(c, EPOLLIN);
    c->out_wait = 0;
}

/* --- the workloads ------------------------------------------------------------------------ */

static void call(struct conn *c, int k)
{
    struct worker *w = c->w;
    struct slot *s = &c->slots[k];
    char buf[160];
    s->id = c->seq++ * c->nslots + k;
    s->busy = 1;
    w->inflight++;
    if (c->role == ROLE_RPC) {
        snprintf(buf, sizeof buf, "42%" PRIu64 "[\"get\",\"echo\",%d,{}]", s->id, s->arg);
        s->sent = now_ns();
        send_text(c, buf);
        return;
    }
    s->arg = w->next_event++;
    size_t n = strlen(w->r->text) + 128;
    struct buf m = {0};
    n = snprintf(room(&m, n), n, "42%" PRIu64 "[\"create\",\"echo\",{\"i\":%d,\"text\":\"%s\"},{}]",
                 s->id, s->arg, w->r->text);
    send_frame(c, 1, m.p, n);
    free(m.p);
}

static void on_ack(struct conn *c, uint64_t id, const char *rest, size_t n)
{
    struct worker *w = c->w;
    struct slot *s = c->nslots ? &c->slots[id % c->nslots] : NULL;
    if (!s || !s->busy || s->id != id) {
        w->errors++; /* an answer to no call of ours */
        return;
    }
    int ok = n >= 6 && memcmp(rest, "[null,", 6) == 0;
    int64_t t = now_ns();
    s->busy = 0;
    w->inflight--;
    if (c->role == ROLE_RPC) {
        if (t >= w->t_measure) {
            uint64_t us = (t - s->sent + 500) / 1000;
            w->hist[us < HIST_US ? us : HIST_US]++;
            if (ok)
                w->calls++;
        }
        if (!ok)
            w->errors++;
        if (t < w->t_stop)
            call(c, (int)(id % c->nslots));
        else if (w->inflight == 0)
            w->t_end = t;
        return;
    }
    w->calls += ok, w->errors += !ok;
    if (w->next_event < w->r->events)
        call(c, (int)(id % c->nslots));
    else if (w->inflight == 0)
        atomic_store(&w->r->creates_done, t);
}

/* A whole Engine.IO message (text). */
static void on_message(struct conn *c, const char *s, size_t n)
{
    if (n == 1 && s[0] == '2') {
        send_text(c, "3");
    } else if (n >= 1 && s[0] == '0' && c->state == ST_OPEN) {
        send_text(c, "40");
        c->state = ST_CONNECT;
    } else if (n >= 1 && s[0] == '1') {
        kill_conn(c, "engine.io close");
    } else if (n >= 2 && s[0] == '4' && s[1] == '0' && c->state == ST_CONNECT) {
        c->state = ST_READY;
        c->w->ready++;
        c->w->opening--;
    } else if (n >= 2 && s[0] == '4' && (s[1] == '4' || s[1] == '1')) {
        kill_conn(c, s[1] == '4' ? "socket.io connect error" : "socket.io disconnect");
    } else if (n >= 3 && s[0] == '4' && s[1] == '3' && s[2] >= '0' && s[2] <= '9') {
        uint64_t id = 0;
        size_t i = 2;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            id = id * 10 + (s[i++] - '0');
        on_ack(c, id, s + i, n - i);
    } else if (c->role == ROLE_LISTENER && n >= 17 && memcmp(s, "42[\"echo created\"", 17) == 0) {
        c->w->heard++;
        c->w->last_heard = now_ns();
        atomic_fetch_add_explicit(&c->w->r->heard, 1, memory_order_relaxed);
    }
}

/* One server frame: unmasked, FIN or a fragment of a message. */
static void on_frame(struct conn *c, int fin, int op, const char *p, size_t n)
{
    if (op == 0x9) {
        send_frame(c, 0xA, p, n);
    } else if (op == 0x8) {
        kill_conn(c, "websocket closed by the server");
    } else if ((op == 1 || op == 2) && !c->frag_op && fin) {
        if (op == 1)
            on_message(c, p, n); /* binary messages (attachments) are not ours: skipped */
    } else if (((op == 1 || op == 2) && !c->frag_op) || (op == 0 && c->frag_op)) {
        if (op != 0)
            c->frag_op = op, c->msg.len = 0; /* the first fragment */
        append(&c->msg, p, n);
        if (fin && c->frag_op == 1)
            on_message(c, c->msg.p, c->msg.len);
        if (fin)
            c->frag_op = 0;
    } else if (op == 0 || op == 1 || op == 2) {
        kill_conn(c, "bad websocket fragments");
    } else if (op != 0xA) {
        kill_conn(c, "bad websocket opcode");
    }
}

/* Parses what was read: the HTTP answer, then any number of whole frames; keeps the rest. */
static void parse(struct conn *c)
{
    size_t off = 0;
    if (c->state == ST_HTTP) {
        char *end = memmem(c->in.p, c->in.len, "\r\n\r\n", 4);
        if (!end) {
            if (c->in.len > 16384)
                kill_conn(c, "HTTP answer too long");
            return;
        }
        if (c->in.len < 12 || memcmp(c->in.p, "HTTP/1.1 101", 12) != 0) {
            kill_conn(c, "the upgrade was refused (no 101)");
            return;
        }
        off = end + 4 - c->in.p;
        c->state = ST_OPEN;
    }
    while (c->state != ST_DEAD && c->in.len - off >= 2) {
        const uint8_t *p = (const uint8_t *)c->in.p + off;
        size_t avail = c->in.len - off, h = 2;
        uint64_t len = p[1] & 0x7f;
        if (len == 126) {
            if (avail < 4)
                break;
            len = (uint64_t)p[2] << 8 | p[3], h = 4;
        } else if (len == 127) {
            if (avail < 10)
                break;
            len = 0;
            for (int i = 0; i < 8; i++)
                len = len << 8 | p[2 + i];
            h = 10;
        }
        if ((p[1] & 0x80) || (p[0] & 0x70) || len > MAX_MSG) {
            kill_conn(c, "bad server frame (masked, RSV bits or too long)");
            return;
        }
        if (avail - h < len)
            break;
        off += h + len;
        on_frame(c, p[0] & 0x80, p[0] & 0x0f, (const char *)p + h, len);
    }
    if (c->state == ST_DEAD)
        return;
    memmove(c->in.p, c->in.p + off, c->in.len - off);
    c->in.len -= off;
}

static void on_readable(struct conn *c)
{
    char *at = room(&c->in, 65536);
    ssize_t n = read(c->fd, at, c->in.cap - c->in.len);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        kill_conn(c, n == 0 ? "closed by the server" : "read failed");
        return;
    }
    c->in.len += n;
    parse(c);
}

static void on_connected(struct conn *c)
{
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err) {
        kill_conn(c, strerror(err));
        return;
    }
    c->out.len +=
        snprintf(room(&c->out, 512), 512,
                 "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: %s\r\n"
                 "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Key: c2lvbG9hZCBzaW9sb2FkIQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                 c->w->r->host);
    c->state = ST_HTTP;
    c->out_wait = 1; /* EPOLLOUT is on: flush turns it off once written */
    mark_dirty(c);
}

static void open_conn(struct worker *w, struct conn *c)
{
    struct run *r = w->r;
    int one = 1;
    c->w = w;
    c->fd = socket(r->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    w->opened++;
    w->opening++;
    if (c->fd < 0) {
        c->state = ST_DEAD;
        w->opening--;
        fail(r, "socket() failed (too many open files?)");
        return;
    }
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->state = ST_CONNECTING;
    if (connect(c->fd, (struct sockaddr *)&r->addr, r->addrlen) < 0 && errno != EINPROGRESS) {
        kill_conn(c, strerror(errno));
        return;
    }
    struct epoll_event e = {.events = EPOLLOUT, .data.ptr = c};
    epoll_ctl(w->ep, EPOLL_CTL_ADD, c->fd, &e);
}

/* Waits up to ms for events, handles them, then writes what they queued (one write a socket). */
static void poll_once(struct worker *w, int ms)
{
    struct epoll_event ev[256];
    int n = epoll_wait(w->ep, ev, 256, ms);
    for (int i = 0; i < n; i++) {
        struct conn *c = ev[i].data.ptr;
        if (c->state == ST_CONNECTING && (ev[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
            on_connected(c);
        else if (c->state != ST_DEAD && (ev[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
            on_readable(c);
        if (c->state != ST_DEAD && (ev[i].events & EPOLLOUT) && c->out_wait)
            flush(c);
    }
    for (int i = 0; i < w->ndirty; i++) {
        w->dirty[i]->dirty = 0;
        flush(w->dirty[i]);
    }
    w->ndirty = 0;
}

static int all_done(struct run *r, int64_t t, int64_t t0)
{
    uint64_t want = (uint64_t)r->nsock * r->events;
    int64_t done = atomic_load(&r->creates_done);
    return atomic_load_explicit(&r->heard, memory_order_relaxed) >= want ||
           (done && t > done + 20 * SEC) || t > t0 + 150 * SEC;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct run *r = w->r;
    int64_t deadline = now_ns() + 30 * SEC;
    while (w->ready < w->nconns && !atomic_load(&r->failed) && now_ns() < deadline) {
        while (w->opened < w->nconns && w->opening < MAX_OPENING)
            open_conn(w, &w->conns[w->opened]);
        poll_once(w, 50);
    }
    if (w->ready < w->nconns)
        fail(r, "the sockets did not all connect within 30 s");
    pthread_barrier_wait(&r->barrier);
    w->t0 = now_ns();
    w->t_measure = w->t0 + (int64_t)(r->warmup * SEC);
    w->t_stop = w->t_measure + r->secs * SEC;
    for (int i = 0; i < w->nconns && !atomic_load(&r->failed); i++)
        for (int k = 0; k < w->conns[i].nslots && (!r->fanout || w->next_event < r->events); k++)
            call(&w->conns[i], k);
    while (!atomic_load(&r->failed)) {
        poll_once(w, 20);
        int64_t t = now_ns();
        if (!r->fanout && (w->inflight == 0 || t > w->t_stop + 5 * SEC)) {
            w->errors += w->inflight; /* never answered */
            if (!w->t_end || w->inflight)
                w->t_end = t;
            break;
        }
        if (r->fanout && (atomic_load(&r->stop) || all_done(r, t, w->t0))) {
            atomic_store(&r->stop, 1);
            break;
        }
    }
    atomic_fetch_add(&r->finished, 1);
    for (int i = 0; i < 30000 && !atomic_load(&r->release); i++)
        usleep(1000); /* the sockets stay open until the server's CPU was read */
    for (int i = 0; i < w->nconns; i++)
        if (w->conns[i].state != ST_DEAD)
            close(w->conns[i].fd);
    return NULL;
}

/* --- setup and the report --------------------------------------------------------------- */

/* The CPU time of process pid (every thread, ns precision): its POSIX CPU-time clock. */
static double cpu_of(int pid)
{
    clockid_t clk;
    struct timespec ts;
    if (clock_getcpuclockid(pid, &clk) != 0 || clock_gettime(clk, &ts) != 0)
        return -1;
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int parse_url(struct run *r, const char *url)
{
    const char *p = strstr(url, "://") ? strstr(url, "://") + 3 : url;
    size_t n = strcspn(p, "/");
    if (n == 0 || n >= sizeof r->host)
        return -1;
    memcpy(r->host, p, n);
    r->host[n] = 0;
    char host[300], *colon = strrchr(r->host, ':');
    const char *port = colon ? colon + 1 : "80";
    snprintf(host, sizeof host, "%.*s", colon ? (int)(colon - r->host) : (int)n, r->host);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
    if (getaddrinfo(host, port, &hints, &ai) != 0)
        return -1;
    memcpy(&r->addr, ai->ai_addr, ai->ai_addrlen);
    r->addrlen = ai->ai_addrlen;
    freeaddrinfo(ai);
    return 0;
}

static void usage(void)
{
    fputs("usage: sioload [-t THREADS] [-w WARMUP] [-p PID] [-s BYTES] URL rpc SOCKETS "
          "CONCURRENCY SECONDS\n       sioload [-t THREADS] [-p PID] [-s BYTES] URL fanout "
          "LISTENERS EVENTS\n",
          stderr);
    exit(2);
}

/* Spreads the sockets over the threads (socket j on thread j % T) and the calls over the
 * sockets (call i on socket i % SOCKETS); fanout's producer is the last socket of thread 0. */
static void assign(struct run *r, struct worker *ws)
{
    for (int t = 0; t < r->threads; t++) {
        struct worker *w = &ws[t];
        int extra = r->fanout && t == 0;
        w->r = r, w->idx = t, w->rng = 0x9e3779b9u * (t + 1);
        w->ep = epoll_create1(EPOLL_CLOEXEC);
        w->nconns = (r->nsock - t + r->threads - 1) / r->threads + extra;
        w->conns = calloc(w->nconns, sizeof *w->conns);
        w->dirty = calloc(w->nconns, sizeof *w->dirty);
        w->hist = r->fanout ? NULL : calloc(HIST_US + 1, sizeof *w->hist);
        for (int i = 0; i < w->nconns; i++) {
            struct conn *c = &w->conns[i];
            int j = t + i * r->threads; /* the global socket number */
            c->role = !r->fanout                      ? ROLE_RPC
                      : (extra && i == w->nconns - 1) ? ROLE_PRODUCER
                                                      : ROLE_LISTENER;
            c->nslots = c->role == ROLE_PRODUCER ? PRODUCER_SLOTS : 0;
            if (c->role == ROLE_RPC)
                c->nslots = (r->conc - j + r->nsock - 1) / r->nsock;
            c->slots = calloc(c->nslots ? c->nslots : 1, sizeof *c->slots);
            for (int k = 0; c->role == ROLE_RPC && k < c->nslots; k++)
                c->slots[k].arg = j + k * r->nsock;
        }
    }
}

static int percentile(struct worker *ws, int nt, uint64_t total, double q)
{
    uint64_t want = (uint64_t)(q * total), seen = 0;
    if (want >= total)
        want = total ? total - 1 : 0;
    for (int us = 0; us <= HIST_US; us++) {
        for (int t = 0; t < nt; t++)
            seen += ws[t].hist[us];
        if (seen > want)
            return us;
    }
    return 0;
}

static void report(struct run *r, struct worker *ws, double cpu0, double cpu1);

int main(int argc, char **argv)
{
    static char text[] = "hello";
    static struct run run = {.threads = 1, .warmup = 1, .text = text};
    struct run *r = &run;
    int o;
    while ((o = getopt(argc, argv, "+t:w:p:s:")) != -1) {
        if (o == 't')
            r->threads = atoi(optarg);
        else if (o == 'w')
            r->warmup = atof(optarg);
        else if (o == 'p')
            r->pid = atoi(optarg);
        else if (o == 's') {
            int n = atoi(optarg);
            if (n < 0 || n > (1 << 24) || !(r->text = malloc(n + 1)))
                usage();
            memset(r->text, 'x', n);
            r->text[n] = 0;
        } else
            usage();
    }
    argv += optind, argc -= optind;
    if (argc < 4 || parse_url(r, argv[0]) < 0)
        usage();
    r->fanout = strcmp(argv[1], "fanout") == 0;
    if (!r->fanout && (strcmp(argv[1], "rpc") != 0 || argc != 5))
        usage();
    r->nsock = atoi(argv[2]);
    r->conc = r->fanout ? 0 : atoi(argv[3]);
    r->events = r->fanout ? atoi(argv[3]) : 0;
    r->secs = r->fanout ? 0 : atoi(argv[4]);
    if (r->fanout)
        r->warmup = 0;
    if (r->nsock < 1 || r->threads < 1 || r->warmup < 0 || (r->fanout && r->events < 1) ||
        (!r->fanout && (r->conc < 1 || r->secs < 1)))
        usage();
    if (r->threads > r->nsock)
        r->threads = r->nsock;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    struct worker *ws = calloc(r->threads, sizeof *ws);
    assign(r, ws);
    pthread_barrier_init(&r->barrier, NULL, r->threads + 1);
    for (int t = 0; t < r->threads; t++)
        pthread_create(&ws[t].tid, NULL, worker_main, &ws[t]);
    pthread_barrier_wait(&r->barrier);
    double cpu0 = -1, cpu1 = -1;
    if (!atomic_load(&r->failed)) {
        usleep((useconds_t)(r->warmup * 1e6));
        cpu0 = r->pid ? cpu_of(r->pid) : -1;
        for (long i = 0; i < (200L + r->secs) * 1000 && atomic_load(&r->finished) < r->threads; i++)
            usleep(1000); /* every worker bounds itself well within this */
        cpu1 = r->pid ? cpu_of(r->pid) : -1;
    }
    atomic_store(&r->release, 1);
    for (int t = 0; t < r->threads; t++)
        pthread_join(ws[t].tid, NULL);
    int failed = atomic_load(&r->failed);
    if (failed)
        fprintf(stderr, "sioload: %s\n", r->why);
    else
        report(r, ws, cpu0, cpu1);
    for (int t = 0; t < r->threads; t++) {
        for (int i = 0; i < ws[t].nconns; i++) {
            struct conn *c = &ws[t].conns[i];
            free(c->in.p), free(c->out.p), free(c->msg.p), free(c->slots);
        }
        close(ws[t].ep);
        free(ws[t].conns), free(ws[t].dirty), free(ws[t].hist);
    }
    free(ws);
    if (r->text != text)
        free(r->text);
    pthread_barrier_destroy(&r->barrier);
    return failed;
}

/* The JSON line: the keys of socket-load.mjs, and "server_cpu_s" with -p. */
static void report(struct run *r, struct worker *ws, double cpu0, double cpu1)
{
    uint64_t calls = 0, errors = 0, heard = 0;
    int64_t first = 0, last = 0;
    for (int t = 0; t < r->threads; t++) {
        struct worker *w = &ws[t];
        calls += w->calls, errors += w->errors, heard += w->heard;
        int64_t a = r->fanout ? ws[0].t0 : w->t_measure;
        int64_t b = r->fanout ? (w->last_heard ? w->last_heard : a) : w->t_end;
        first = (t == 0 || a < first) ? a : first;
        last = b > last ? b : last;
    }
    double secs = (last - first) / 1e9;
    if (secs <= 0)
        secs = 1e-9;
    char cpu[64] = "";
    if (cpu0 >= 0 && cpu1 >= 0)
        snprintf(cpu, sizeof cpu, ",\"server_cpu_s\":%.6f", cpu1 - cpu0);
    if (r->fanout) {
        uint64_t want = (uint64_t)r->nsock * r->events;
        printf(
            "{\"workload\":\"socket-fanout\",\"listeners\":%d,\"events\":%d,\"deliveries\":%" PRIu64
            ",\"expected\":%" PRIu64 ",\"lost\":%" PRId64 ",\"create_errors\":%" PRIu64
            ",\"seconds\":%.3f,\"deliveries_per_s\":%.0f,\"threads\":%d%s}\n",
            r->nsock, r->events, heard, want, (int64_t)(want - heard), errors, secs, heard / secs,
            r->threads, cpu);
    } else {
        uint64_t n = 0;
        for (int t = 0; t < r->threads; t++)
            for (int us = 0; us <= HIST_US; us++)
                n += ws[t].hist[us];
        printf("{\"workload\":\"socket-rpc\",\"sockets\":%d,\"concurrency\":%d,\"calls\":%" PRIu64
               ",\"errors\":%" PRIu64 ",\"seconds\":%.3f,\"calls_per_s\":%.0f,\"p50_us\":%d,"
               "\"p99_us\":%d,\"warmup_s\":%g,\"threads\":%d%s}\n",
               r->nsock, r->conc, calls, errors, secs, calls / secs,
               percentile(ws, r->threads, n, 0.5), percentile(ws, r->threads, n, 0.99), r->warmup,
               r->threads, cpu);
    }
    fflush(stdout);
}
