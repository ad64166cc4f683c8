/* discovery.c: beacons on UDP multicast via libevent: one socket bound to the group and port
 * (shared by every node of the host), joined on each usable IPv4 interface, sending on a
 * schedule, reading, authenticating (with a secret), filtering and deduplicating beacons
 * (against the table of the nodes heard, discovery_peers.c) before handing them to Lua. */
#include "discovery.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <inttypes.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <lua.h>

#include "beacon.h"
#include "discovery_peers.h"
#include "node.h"
#include "tls.h"
#include "ratelog.h"
#include "util.h"

#define MAX_IFACES 32
#define SCAN_MS 10000      /* interfaces that come up later are joined within this */
#define LEAVE_GAP_MS 20    /* between the three leaving beacons */
#define READ_BATCH 256     /* datagrams read per wake-up before yielding to the reactor */
#define LOG_EVERY_MS 10000 /* per-packet problems are logged at most this often, per kind */

static const int start_gaps_ms[] = {100, 200, 400}; /* beacons at 0, 100, 300, 700 ms */

/* A node beacons every second while it hears fewer than HEARD_PER_S others; in a larger cluster
 * it beacons less often, so that each node hears about HEARD_PER_S beacons a second whatever
 * the cluster's size (at most one per MAX_INTERVAL_MS from each). A node that joins needs one
 * beacon to find a member, and the member's links tell it of the rest. */
#define HEARD_PER_S 16
#define MAX_INTERVAL_MS 10000
#define RECENT_MS (2 * MAX_INTERVAL_MS) /* the nodes heard this recently count */

enum {
    LOG_MALFORMED,
    LOG_UNTRUSTED,
    LOG_UNAUTH,
    LOG_STALE,
    LOG_REPLAY,
    LOG_RECV,
    LOG_SEND,
    LOG_JOIN,
    LOG_SCAN,
    NLOG
};

struct iface {
    int index;
    int loopback;
    struct in_addr addr;
    char name[IF_NAMESIZE];
};

struct fdn_discovery {
    struct fdn_node *n;
    int fd;
    struct event *read_ev, *send_timer, *scan_timer, *leave_timer;
    struct sockaddr_in group;
    struct in_addr bind;
    int bind_any;
    struct fdn_beacon b; /* the next beacon we send (seq is the last one sent) */
    uint8_t auth_key[FDN_TLS_KEY_LEN];
    int auth; /* a secret is set: beacons are tagged with auth_key, and checked */
    int send, leaving, leave_left, step;
    uint32_t rng;
    struct iface ifaces[MAX_IFACES];
    int nifaces, no_iface_warned;
    struct fdn_discovery_peers peers; /* the nodes heard (discovery_peers.c) */
    struct fdn_ratelog log[NLOG];
    struct fdn_discovery_stats st;
    int busy, dead; /* inside a dispatch; freed while inside one */
};

static int log_allowed(struct fdn_discovery *d, int kind)
{
    return fdn_ratelog_allow(&d->log[kind], fdn_now_ms(), LOG_EVERY_MS, 1, NULL);
}

static uint32_t random32(void)
{
    uint32_t v = 0;
    if (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v)
        v = (uint32_t)time(NULL) ^ (uint32_t)getpid() << 16;
    return v;
}

static uint32_t next_rand(struct fdn_discovery *d)
{
    uint32_t x = d->rng; /* xorshift32: jitter only */
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return d->rng = x;
}

static void add_timer(struct event *ev, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_add(ev, &tv);
}

/* ---- interfaces ---- */

static int set_iface(struct fdn_discovery *d, const struct iface *f, int opt)
{
    /* by index (robust), with the address: it is also the source of what we send */
    struct ip_mreqn mr = {.imr_address = f->addr, .imr_ifindex = f->index};
    if (opt != IP_MULTICAST_IF)
        mr.imr_multiaddr = d->group.sin_addr;
    return setsockopt(d->fd, IPPROTO_IP, opt, &mr, sizeof mr);
}

static int find_iface(const struct iface *fs, int n, int index)
{
    for (int i = 0; i < n; i++)
        if (fs[i].index == index)
            return i;
    return -1;
}

/* The interfaces to use now: IPv4, up, multicast or loopback, and carrying the
 * bind address when one is given (any of 127.0.0.0/8 is on loopback); one per index. */
static int usable_ifaces(struct fdn_discovery *d, struct iface *out)
{
    struct ifaddrs *all, *a;
    int n = 0;
    if (getifaddrs(&all) < 0) {
        if (log_allowed(d, LOG_SCAN))
            fdn_warn("discovery: cannot list interfaces: %s", strerror(errno));
        return -1;
    }
    for (a = all; a && n < MAX_IFACES; a = a->ifa_next) {
        unsigned flags = a->ifa_flags;
        /* no IFF_RUNNING test: a link's carrier shows up to a second after it is up, and
         * what is sent before is just dropped */
        if (!a->ifa_addr || a->ifa_addr->sa_family != AF_INET || !(flags & IFF_UP) ||
            !(flags & (IFF_MULTICAST | IFF_LOOPBACK)))
            continue;
        struct in_addr addr = ((const struct sockaddr_in *)a->ifa_addr)->sin_addr;
        if (!d->bind_any) {
            int on_lo = (flags & IFF_LOOPBACK) && (ntohl(d->bind.s_addr) >> 24) == 127;
            if (addr.s_addr != d->bind.s_addr && !on_lo)
                continue;
            addr = d->bind; /* what we send then comes from the bind address */
        }
        struct iface f = {.loopback = (flags & IFF_LOOPBACK) != 0, .addr = addr};
        snprintf(f.name, sizeof f.name, "%s", a->ifa_name);
        f.name[strcspn(f.name, ":")] = '\0'; /* an alias "eth0:1" is eth0 */
        f.index = (int)if_nametoindex(f.name);
        if (f.index > 0 && find_iface(out, n, f.index) < 0)
            out[n++] = f;
    }
    freeifaddrs(all);
    return n;
}

/* Joins the group on interfaces that appeared, leaves those that went away. */
static void scan(struct fdn_discovery *d)
{
    struct iface want[MAX_IFACES];
    int nwant = usable_ifaces(d, want);
    if (nwant < 0)
        return;
    for (int i = 0; i < d->nifaces;) {
        struct iface *f = &d->ifaces[i];
        int w = find_iface(want, nwant, f->index);
        if (w >= 0 && want[w].addr.s_addr == f->addr.s_addr) {
            i++;
            continue;
        }
        set_iface(d, f, IP_DROP_MEMBERSHIP); /* fails harmlessly when the interface is gone */
        fdn_debug("discovery: left %s", f->name);
        d->ifaces[i] = d->ifaces[--d->nifaces];
    }
    for (int i = 0; i < nwant; i++) {
        if (find_iface(d->ifaces, d->nifaces, want[i].index) >= 0)
            continue;
        if (set_iface(d, &want[i], IP_ADD_MEMBERSHIP) < 0) {
            if (log_allowed(d, LOG_JOIN))
                fdn_warn("discovery: cannot join %s on %s: %s", inet_ntoa(d->group.sin_addr),
                         want[i].name, strerror(errno));
            continue;
        }
        char addr[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &want[i].addr, addr, sizeof addr);
        fdn_debug("discovery: joined %s on %s (%s)", inet_ntoa(d->group.sin_addr), want[i].name,
                  addr);
        d->ifaces[d->nifaces++] = want[i];
    }
    if (d->nifaces == 0 && !d->no_iface_warned)
        fdn_warn("discovery: no usable interface%s%s: waiting for one to come up",
                 d->bind_any ? "" : " with address ", d->bind_any ? "" : inet_ntoa(d->bind));
    d->no_iface_warned = d->nifaces == 0;
}

static void discovery_scan_cb(evutil_socket_t fd, short what, void *arg)
{
    struct fdn_discovery *d = arg;
    (void)fd;
    (void)what;
    scan(d);
}

/* ---- sending ---- */

static void sign_cb(const uint8_t *msg, size_t len, uint8_t tag[FDN_BEACON_TAG_LEN], void *arg)
{
    struct fdn_discovery *d = arg;
    fdn_tls_hmac(d->auth_key, sizeof d->auth_key, msg, len, tag);
}

static int verify_cb(const uint8_t *msg, size_t len, const uint8_t tag[FDN_BEACON_TAG_LEN],
                     void *arg)
{
    struct fdn_discovery *d = arg;
    uint8_t want[FDN_TLS_MAC_LEN];
    fdn_tls_hmac(d->auth_key, sizeof d->auth_key, msg, len, want);
    return fdn_tls_equal(want, tag, sizeof want) ? 0 : -1;
}

static void send_beacon(struct fdn_discovery *d)
{
    uint8_t buf[FDN_BEACON_MAX_LEN];
    d->b.seq++;
    d->b.timestamp = (uint32_t)time(NULL);
    int len = fdn_beacon_encode_tagged(&d->b, buf, sizeof buf, d->auth ? sign_cb : NULL, d);
    /* loopback first: a node on this host then hears us as 127.0.0.1 before the loop copies
     * of the other interfaces arrive (those are dropped as duplicates) */
    for (int pass = 1; pass >= 0; pass--) {
        for (int i = 0; i < d->nifaces; i++) {
            struct iface *f = &d->ifaces[i];
            if (f->loopback != pass)
                continue;
            if (set_iface(d, f, IP_MULTICAST_IF) < 0 ||
                sendto(d->fd, buf, (size_t)len, 0, (struct sockaddr *)&d->group, sizeof d->group) !=
                    len) {
                d->st.send_errors++;
                if (log_allowed(d, LOG_SEND))
                    fdn_warn("discovery: cannot send on %s: %s (%" PRIu64 " errors so far)",
                             f->name, strerror(errno), d->st.send_errors);
                continue;
            }
            d->st.sent++;
        }
    }
}

/* The next beacon's interval: about a second per HEARD_PER_S nodes heard lately, jittered. */
static int beacon_interval_ms(struct fdn_discovery *d)
{
    int64_t since = fdn_now_ms() - RECENT_MS;
    int heard = 0;
    for (struct peer *p = d->peers.newest; p && p->heard_ms >= since; p = p->older)
        heard++;
    int64_t base = 1000;
    if (heard > HEARD_PER_S)
        base = (int64_t)heard * 1000 / HEARD_PER_S;
    if (base > MAX_INTERVAL_MS)
        base = MAX_INTERVAL_MS;
    return (int)(base * 95 / 100 + (int64_t)(next_rand(d) % (uint32_t)(base / 10 + 1)));
}

static void discovery_send_cb(evutil_socket_t fd, short what, void *arg)
{
    struct fdn_discovery *d = arg;
    (void)fd;
    (void)what;
    send_beacon(d);
    int nsteps = (int)(sizeof start_gaps_ms / sizeof start_gaps_ms[0]);
    if (d->step < nsteps)
        add_timer(d->send_timer, start_gaps_ms[d->step++]);
    else
        add_timer(d->send_timer, beacon_interval_ms(d));
}

static void discovery_leave_cb(evutil_socket_t fd, short what, void *arg)
{
    struct fdn_discovery *d = arg;
    (void)fd;
    (void)what;
    if (d->leave_left <= 0)
        return;
    send_beacon(d);
    if (--d->leave_left > 0)
        add_timer(d->leave_timer, LEAVE_GAP_MS);
}

void fdn_discovery_set_version(struct fdn_discovery *d, uint32_t version)
{
    d->b.services_version = version;
    if (d->send && !d->leaving && !d->dead)
        send_beacon(d);
}

void fdn_discovery_leave(struct fdn_discovery *d)
{
    if (!d->send || d->leaving || d->dead)
        return;
    d->leaving = 1;
    d->b.leaving = 1;
    event_del(d->send_timer);
    send_beacon(d);
    d->leave_left = 2;
    add_timer(d->leave_timer, LEAVE_GAP_MS);
}

/* ---- receiving ---- */

static void dispatch(struct fdn_discovery *d, const struct fdn_beacon *b, struct in_addr ip)
{
    static const char hex[] = "0123456789abcdef";
    char id[33], ipbuf[INET_ADDRSTRLEN];
    for (int i = 0; i < 16; i++) {
        id[2 * i] = hex[b->node_id[i] >> 4];
        id[2 * i + 1] = hex[b->node_id[i] & 15];
    }
    id[32] = '\0';
    inet_ntop(AF_INET, &ip, ipbuf, sizeof ipbuf);
    lua_State *L = d->n->L;
    d->st.dispatched++;
    fdn_node_dispatch_begin(d->n, "beacon");
    lua_pushstring(L, id);
    lua_pushinteger(L, b->boot_id);
    lua_pushinteger(L, b->seq);
    lua_pushstring(L, ipbuf);
    lua_pushinteger(L, b->tcp_port);
    lua_pushinteger(L, b->services_version);
    lua_pushboolean(L, b->leaving);
    fdn_node_dispatch_end(d->n, 7);
}

/* Counts a dropped beacon in *count and says so at most once per LOG_EVERY_MS. */
static void drop(struct fdn_discovery *d, uint64_t *count, int kind, struct in_addr ip,
                 const char *why)
{
    (*count)++;
    if (log_allowed(d, kind))
        fdn_warn("discovery: dropped a beacon from %s: %s (%" PRIu64 " so far)", inet_ntoa(ip), why,
                 *count);
}

/* With a secret: the beacon's clock is within the window of ours, and a beacon of another boot
 * than the one we know is no older than the last we took (a restarted node's beacons are
 * newer; an old boot's, replayed, are not). 0, or -1 after counting the drop. */
static int fresh(struct fdn_discovery *d, const struct fdn_beacon *b, const struct peer *p,
                 struct in_addr ip)
{
    int32_t skew = (int32_t)(b->timestamp - (uint32_t)time(NULL));
    if (skew > FDN_DISCOVERY_WINDOW_S || skew < -FDN_DISCOVERY_WINDOW_S) {
        char why[96];
        snprintf(why, sizeof why, "its clock is %" PRId32 " s %s ours (more than %d s)",
                 skew < 0 ? -skew : skew, skew < 0 ? "behind" : "ahead of", FDN_DISCOVERY_WINDOW_S);
        drop(d, &d->st.stale, LOG_STALE, ip, why);
        return -1;
    }
    if (p && p->boot != b->boot_id && (int32_t)(b->timestamp - p->stamp) < 0) {
        drop(d, &d->st.replayed, LOG_REPLAY, ip, "replayed (an older boot of a known node)");
        return -1;
    }
    return 0;
}

static void handle(struct fdn_discovery *d, const uint8_t *buf, size_t len, struct in_addr ip)
{
    struct fdn_beacon b;
    int rc = fdn_beacon_decode_tagged(buf, len, &b, d->auth ? verify_cb : NULL, d);
    if (rc == FDN_BEACON_E_TAGGED) {
        drop(d, &d->st.untrusted, LOG_UNTRUSTED, ip, "tagged, and we have no secret");
        return;
    }
    if (rc == FDN_BEACON_E_UNTAGGED || rc == FDN_BEACON_E_TAG) {
        drop(d, &d->st.unauthenticated, LOG_UNAUTH, ip,
             rc == FDN_BEACON_E_TAG ? "bad tag (another secret?)" : "not tagged (no secret?)");
        return;
    }
    if (rc < 0) {
        d->st.malformed++;
        if (log_allowed(d, LOG_MALFORMED))
            fdn_warn("discovery: dropped a malformed datagram from %s: %s (%" PRIu64 " so far)",
                     inet_ntoa(ip), fdn_beacon_strerror(rc), d->st.malformed);
        return;
    }
    if (memcmp(b.node_id, d->b.node_id, 16) == 0) {
        d->st.own++;
        return;
    }
    if (b.key_hash != d->b.key_hash) {
        d->st.foreign++;
        return;
    }
    int64_t now = fdn_now_ms();
    struct peer *p = fdn_discovery_peers_find(&d->peers, b.node_id);
    if (d->auth && fresh(d, &b, p, ip) < 0)
        return;
    int changed = 1;
    if (!p || p->boot != b.boot_id) {
        if (!p)
            p = fdn_discovery_peers_add(&d->peers, b.node_id);
        p->ip_seen_ms = now;
    } else {
        if ((int32_t)(b.seq - p->seq) <= 0) { /* a copy from another interface, or stale */
            if (ip.s_addr == p->ip.s_addr)
                p->ip_seen_ms = now;
            d->st.duplicate++;
            return;
        }
        if (ip.s_addr == p->ip.s_addr || now - p->ip_seen_ms >= FDN_DISCOVERY_IP_HOLD_MS)
            p->ip_seen_ms = now;
        else
            ip = p->ip; /* still heard on its first address: keep that one */
        changed = ip.s_addr != p->ip.s_addr || b.services_version != p->version ||
                  b.leaving != p->leaving || b.tcp_port != p->port;
    }
    p->boot = b.boot_id;
    p->seq = b.seq;
    p->stamp = b.timestamp;
    p->version = b.services_version;
    p->leaving = b.leaving;
    p->port = b.tcp_port;
    p->ip = ip;
    p->heard_ms = now;
    fdn_discovery_peers_touch(&d->peers, p);
    if (!changed && now - p->dispatched_ms < FDN_DISCOVERY_REFRESH_MS)
        return;
    p->dispatched_ms = now;
    dispatch(d, &b, ip);
}

static void destroy(struct fdn_discovery *d)
{
    fdn_discovery_peers_clear(&d->peers);
    explicit_bzero(d->auth_key, sizeof d->auth_key);
    free(d);
}

static void discovery_read_cb(evutil_socket_t fd, short what, void *arg)
{
    struct fdn_discovery *d = arg;
    (void)what;
    d->busy++;
    for (int i = 0; i < READ_BATCH && !d->dead; i++) {
        uint8_t buf[FDN_BEACON_MAX_LEN + 1];
        struct sockaddr_in from;
        socklen_t fromlen = sizeof from;
        /* MSG_TRUNC: the datagram's real length, so that an oversized one is seen as such */
        ssize_t r = recvfrom(fd, buf, sizeof buf, MSG_TRUNC, (struct sockaddr *)&from, &fromlen);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK && log_allowed(d, LOG_RECV))
                fdn_warn("discovery: receive failed: %s", strerror(errno));
            break;
        }
        d->st.received++;
        if (fromlen < sizeof from || from.sin_family != AF_INET) {
            d->st.malformed++;
            continue;
        }
        /* longer than the buffer: pass a length decode rejects without reading past buf */
        handle(d, buf, (size_t)r > sizeof buf ? sizeof buf : (size_t)r, from.sin_addr);
    }
    if (--d->busy == 0 && d->dead)
        destroy(d);
}

/* ---- life ---- */

static int parse_opts(struct fdn_discovery *d, const struct fdn_discovery_opts *o)
{
    const char *group = o->group ? o->group : FDN_DISCOVERY_GROUP;
    int port = o->port ? o->port : FDN_DISCOVERY_PORT;
    d->group.sin_family = AF_INET;
    d->group.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, group, &d->group.sin_addr) != 1 ||
        !IN_MULTICAST(ntohl(d->group.sin_addr.s_addr))) {
        fdn_error("discovery: %s is not an IPv4 multicast group", group);
        return -1;
    }
    if (port < 1 || port > 65535) {
        fdn_error("discovery: bad port %d", port);
        return -1;
    }
    const char *bind = o->bind;
    d->bind_any = !bind || !*bind || strcmp(bind, "0.0.0.0") == 0 || strcmp(bind, "::") == 0;
    if (!d->bind_any && inet_pton(AF_INET, bind, &d->bind) != 1) {
        fdn_error("discovery: --bind %s is not an IPv4 address (discovery is IPv4)", bind);
        return -1;
    }
    if (o->tcp_port < 0 || o->tcp_port > 65535) {
        fdn_error("discovery: bad tcp port %d", o->tcp_port);
        return -1;
    }
    return 0;
}

static int open_socket(struct fdn_discovery *d)
{
    int one = 1, zero = 0, ttl = 1;
    d->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (d->fd < 0) {
        fdn_error("discovery: socket: %s", strerror(errno));
        return -1;
    }
    setsockopt(d->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
#ifdef SO_REUSEPORT
    setsockopt(d->fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
#endif
    /* bound to the group address: only the group's datagrams arrive, not unicast */
    if (bind(d->fd, (struct sockaddr *)&d->group, sizeof d->group) < 0) {
        fdn_error("discovery: cannot bind %s:%d: %s", inet_ntoa(d->group.sin_addr),
                  ntohs(d->group.sin_port), strerror(errno));
        return -1;
    }
    setsockopt(d->fd, IPPROTO_IP, IP_MULTICAST_LOOP, &one, sizeof one);
    setsockopt(d->fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl);
#ifdef IP_MULTICAST_ALL
    /* only the memberships of this socket, not every group joined on the host */
    setsockopt(d->fd, IPPROTO_IP, IP_MULTICAST_ALL, &zero, sizeof zero);
#endif
    (void)zero;
    return 0;
}

int fdn_discovery_new(struct fdn_node *n, const struct fdn_discovery_opts *o,
                      struct fdn_discovery **out)
{
    *out = NULL;
    struct fdn_discovery *d = xcalloc(1, sizeof *d);
    d->n = n;
    d->fd = -1;
    if (parse_opts(d, o) < 0 || open_socket(d) < 0) {
        if (d->fd >= 0)
            close(d->fd);
        free(d);
        return -1;
    }
    memcpy(d->b.node_id, n->id, 16);
    if (o->auth_key) {
        memcpy(d->auth_key, o->auth_key, sizeof d->auth_key);
        d->auth = 1;
    }
    d->b.boot_id = o->boot_id;
    while (d->b.boot_id == 0)
        d->b.boot_id = random32();
    d->b.tcp_port = (uint16_t)o->tcp_port;
    d->b.key_hash = fdn_beacon_key_hash(o->key ? o->key : "default");
    d->b.services_version = o->version;
    d->send = o->send != 0;
    d->rng = d->b.boot_id | 1;
    d->peers.seed = (uint64_t)random32() << 32 | random32();
    d->read_ev = event_new(n->base, d->fd, EV_READ | EV_PERSIST, discovery_read_cb, d);
    d->scan_timer = event_new(n->base, -1, EV_PERSIST, discovery_scan_cb, d);
    d->send_timer = evtimer_new(n->base, discovery_send_cb, d);
    d->leave_timer = evtimer_new(n->base, discovery_leave_cb, d);
    event_add(d->read_ev, NULL);
    add_timer(d->scan_timer, SCAN_MS);
    scan(d);
    if (d->send)
        discovery_send_cb(-1, 0, d); /* the first beacon at once, and the schedule */
    fdn_debug("discovery: %s:%d, boot %08" PRIx32 ", %d interface(s)%s%s",
              inet_ntoa(d->group.sin_addr), ntohs(d->group.sin_port), d->b.boot_id, d->nifaces,
              d->send ? "" : ", listening only", d->auth ? ", authenticated beacons" : "");
    *out = d;
    return 0;
}

void fdn_discovery_free(struct fdn_discovery *d)
{
    if (!d)
        return;
    if (!d->dead) {
        while (d->leave_left > 0) { /* the leaving beacons still due go now */
            send_beacon(d);
            d->leave_left--;
        }
        struct event *evs[] = {d->read_ev, d->send_timer, d->scan_timer, d->leave_timer};
        for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
            if (evs[i])
                event_free(evs[i]);
        d->read_ev = d->send_timer = d->scan_timer = d->leave_timer = NULL;
        close(d->fd); /* leaves every group */
        d->fd = -1;
        d->dead = 1;
    }
    if (d->busy == 0)
        destroy(d);
}

void fdn_discovery_stats(const struct fdn_discovery *d, struct fdn_discovery_stats *out)
{
    *out = d->st;
    out->peers = d->peers.count;
    out->evicted = d->peers.evicted;
    out->interfaces = (size_t)d->nifaces;
    out->authenticated = d->auth;
    out->boot_id = d->b.boot_id;
    out->seq = d->b.seq;
    out->version = d->b.services_version;
}
