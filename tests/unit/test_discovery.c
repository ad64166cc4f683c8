/* test_discovery.c: end-to-end test of core/discovery.c and its Lua binding inside a private
 * network namespace with only lo: nodes in this process and in a child process hear each other
 * with default settings, partitions stay apart, leaving is heard, junk and floods are bounded.
 * The binding's checks are Lua steps in tests/unit/discovery_binding.lua (the first argument). */
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>
#include <lauxlib.h>
#include <lualib.h>

#include "beacon.h"
#include "discovery.h"
#include "node.h"
#include "util.h"
#include "check.h"
/* Its own door, below: it pushes no kind, and counts a bad dispatch rather than CHECKing it. */
#define STANDINS_OWN_DISPATCH
#include "standins.h"

int luaopen_fdn_core_discovery(lua_State *L);

/* ---- stand-ins for node.c (the rest in standins.h): dispatches are recorded ---- */

#define MAX_EVENTS 20000

struct rec {
    struct fdn_node *to;
    char id[33], ip[16];
    long long boot, seq, port, version;
    int leaving;
};

static struct rec recs[MAX_EVENTS];
static int nrecs, bad_dispatch;
static struct fdn_node *free_on_dispatch; /* its discovery is freed inside a dispatch */

void fdn_node_dispatch_begin(struct fdn_node *n, const char *kind)
{
    if (strcmp(kind, "beacon") != 0 || lua_gettop(n->L) != 0)
        bad_dispatch++;
}

void fdn_node_dispatch_end(struct fdn_node *n, int nargs)
{
    lua_State *L = n->L;
    if (nargs != 7 || lua_gettop(L) != 7 || !lua_isstring(L, 1) || !lua_isinteger(L, 2) ||
        !lua_isinteger(L, 3) || !lua_isstring(L, 4) || !lua_isinteger(L, 5) ||
        !lua_isinteger(L, 6) || !lua_isboolean(L, 7)) {
        bad_dispatch++;
    } else if (nrecs < MAX_EVENTS) {
        struct rec *r = &recs[nrecs++];
        r->to = n;
        snprintf(r->id, sizeof r->id, "%s", lua_tostring(L, 1));
        r->boot = lua_tointeger(L, 2);
        r->seq = lua_tointeger(L, 3);
        snprintf(r->ip, sizeof r->ip, "%s", lua_tostring(L, 4));
        r->port = lua_tointeger(L, 5);
        r->version = lua_tointeger(L, 6);
        r->leaving = lua_toboolean(L, 7);
    }
    lua_settop(L, 0);
    if (free_on_dispatch == n) {
        fdn_discovery_free(n->discovery); /* as a Lua handler calling stop() would */
        n->discovery = NULL;
        free_on_dispatch = NULL;
    }
}

/* ---- helpers ---- */

static void make_node(struct fdn_node *n, struct event_base *base, lua_State *L, int tag)
{
    memset(n, 0, sizeof *n);
    n->base = base;
    n->L = L;
    if (getrandom(n->id, sizeof n->id, 0) != (ssize_t)sizeof n->id)
        abort();
    n->id[0] = (uint8_t)tag;
    id_to_hex(n->id, n->id_hex);
}

/* Dispatches to `to` about node `from` since event index `since`; the last one in *last. */
static int heard(struct fdn_node *to, const struct fdn_node *from, int since, struct rec *last)
{
    int count = 0;
    for (int i = since; i < nrecs; i++) {
        if (recs[i].to == to && strcmp(recs[i].id, from->id_hex) == 0) {
            count++;
            if (last)
                *last = recs[i];
        }
    }
    return count;
}

static int leavings(struct fdn_node *to, const struct fdn_node *from, int since)
{
    int count = 0;
    for (int i = since; i < nrecs; i++)
        count += recs[i].to == to && recs[i].leaving && strcmp(recs[i].id, from->id_hex) == 0;
    return count;
}

static struct fdn_discovery_stats stats(const struct fdn_node *n)
{
    struct fdn_discovery_stats s;
    fdn_discovery_stats(n->discovery, &s);
    return s;
}

static int start(struct fdn_node *n, const char *key, int tcp_port, int send)
{
    struct fdn_discovery_opts o = {.key = key, .tcp_port = tcp_port, .send = send};
    return fdn_discovery_new(n, &o, &n->discovery);
}

/* A socket that sends raw datagrams to the default group through lo. */
static int raw_sender(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct ip_mreqn mr = {.imr_ifindex = (int)if_nametoindex("lo")};
    if (fd < 0 || setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &mr, sizeof mr) < 0)
        abort();
    return fd;
}

static void send_raw(int fd, const void *buf, size_t len)
{
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(FDN_DISCOVERY_PORT)};
    inet_pton(AF_INET, FDN_DISCOVERY_GROUP, &to.sin_addr);
    if (sendto(fd, buf, len, 0, (struct sockaddr *)&to, sizeof to) != (ssize_t)len)
        perror("sendto");
}

/* ---- the child process: one more node, on its own reactor ---- */

static int child_main(void)
{
    struct event_base *base = event_base_new();
    lua_State *L = luaL_newstate();
    struct fdn_node n;
    nrecs = 0; /* what the parent recorded before the fork is not ours */
    make_node(&n, base, L, 0xc0);
    if (start(&n, NULL, 7777, 1) < 0)
        return 2;
    run_ms(base, 1500);
    fdn_discovery_leave(n.discovery);
    int heard_others = 0;
    for (int i = 0; i < nrecs; i++)
        heard_others += recs[i].port == 1111; /* node A of the parent */
    fdn_discovery_free(n.discovery);
    lua_close(L);
    event_base_free(base);
    return heard_others > 0 && bad_dispatch == 0 ? 0 : 1;
}

/* ---- the tests ---- */

static struct event_base *base;
static lua_State *L;
static struct fdn_node A, B, C, D, E, F;

static const char *steps_path; /* discovery_binding.lua */

/* Runs a Lua step: an error there (a failed assert) is a failed check at the caller's line. */
static void run_step_at(lua_State *L, int steps, const char *name, int line)
{
    check_at(call_step(L, steps, name, 0), __FILE__, line, name);
    lua_settop(L, 0);
}
#define RUN_STEP(L, steps, name) run_step_at(L, steps, name, __LINE__)

static void test_config_errors(void)
{
    struct fdn_node n;
    make_node(&n, base, L, 0xee);
    struct fdn_discovery_opts o = {.group = "10.0.0.1", .send = 1};
    CHECK(fdn_discovery_new(&n, &o, &n.discovery) < 0 && n.discovery == NULL);
    o.group = "not an address";
    CHECK(fdn_discovery_new(&n, &o, &n.discovery) < 0);
    o.group = NULL;
    o.bind = "fe80::1";
    CHECK(fdn_discovery_new(&n, &o, &n.discovery) < 0);
    o.bind = NULL;
    o.tcp_port = 70000;
    CHECK(fdn_discovery_new(&n, &o, &n.discovery) < 0);
    /* an address no interface has: starts, joins nothing, waits for it to appear */
    o.tcp_port = 1;
    o.bind = "10.9.9.9";
    CHECK(fdn_discovery_new(&n, &o, &n.discovery) == 0);
    CHECK(stats(&n).interfaces == 0);
    fdn_discovery_free(n.discovery);
    fdn_discovery_free(NULL);
}

static void test_hear_each_other(void)
{
    int since = nrecs;
    CHECK(start(&A, NULL, 1111, 1) == 0);
    CHECK(start(&B, "default", 2222, 1) == 0);
    CHECK(start(&C, "other", 3333, 1) == 0);
    CHECK(start(&D, NULL, 0, 0) == 0); /* listen only, like fdnode ls */
    CHECK(stats(&A).interfaces == 1);  /* lo only, joined with no flags */
    run_ms(base, 850);                 /* beacons at 0, 100, 300, 700 ms */

    struct rec r;
    CHECK(heard(&A, &B, since, &r) == 1); /* the next three changed nothing */
    CHECK(strcmp(r.ip, "127.0.0.1") == 0 && r.port == 2222 && r.version == 0 && !r.leaving);
    CHECK(r.seq == 1 && r.boot == stats(&B).boot_id);
    CHECK(heard(&B, &A, since, &r) == 1 && r.port == 1111);
    CHECK(heard(&D, &A, since, NULL) == 1 && heard(&D, &B, since, NULL) == 1);
    CHECK(heard(&A, &D, since, NULL) == 0 && heard(&B, &D, since, NULL) == 0);
    CHECK(heard(&A, &C, since, NULL) == 0 && heard(&B, &C, since, NULL) == 0);
    CHECK(heard(&C, &A, since, NULL) == 0 && heard(&C, &B, since, NULL) == 0);
    CHECK(heard(&A, &A, since, NULL) == 0);

    struct fdn_discovery_stats sa = stats(&A), sb = stats(&B), sc = stats(&C), sd = stats(&D);
    fprintf(stderr, "A: sent %llu received %llu own %llu foreign %llu duplicate %llu peers %zu\n",
            (unsigned long long)sa.sent, (unsigned long long)sa.received,
            (unsigned long long)sa.own, (unsigned long long)sa.foreign,
            (unsigned long long)sa.duplicate, sa.peers);
    CHECK(sa.sent == 4 && sb.sent == 4 && sa.seq == 4 && sd.sent == 0 && sd.seq == 0);
    CHECK(sa.send_errors == 0);
    /* C and D opened after A and B sent their first beacon */
    CHECK(sa.own >= 4 && sa.foreign >= 4 && sc.foreign >= 6 && sa.malformed == 0);
    CHECK(sa.peers == 1 && sc.peers == 0 && sd.peers == 2);
    CHECK(sa.dispatched == 1 && sd.dispatched == 2);
}

static void test_version_and_refresh(void)
{
    int since = nrecs;
    struct rec r;
    uint32_t seq = stats(&B).seq;
    fdn_discovery_set_version(B.discovery, 7);
    CHECK(stats(&B).seq == seq + 1); /* sent at once */
    run_ms(base, 50);
    CHECK(heard(&A, &B, since, &r) == 1 && r.version == 7 && r.seq == seq + 1);
    /* nothing changes, yet Lua hears of B again within the refresh period (plus a beacon) */
    run_ms(base, FDN_DISCOVERY_REFRESH_MS + 1100);
    CHECK(heard(&A, &B, since, &r) == 2 && r.version == 7);
    CHECK(stats(&B).seq >= seq + 5); /* the schedule went on: one beacon a second */
}

static void test_junk(void)
{
    int fd = raw_sender();
    struct fdn_discovery_stats before = stats(&A);
    uint8_t big[2000], buf[FDN_BEACON_MAX_LEN];
    memset(big, 'x', sizeof big);
    memcpy(big, "FDNB\x01\x00", 6);
    send_raw(fd, big, sizeof big);     /* oversized: starts like a beacon */
    send_raw(fd, big, FDN_BEACON_LEN); /* right length, junk inside: a forged beacon */
    send_raw(fd, "hello", 5);          /* short */
    send_raw(fd, big, 0);              /* empty */
    struct fdn_beacon b = {.key_hash = fdn_beacon_key_hash("default")};
    memset(b.node_id, 0xab, 16);
    fdn_beacon_encode(&b, buf, sizeof buf);
    buf[4] = 2; /* a future version */
    send_raw(fd, buf, FDN_BEACON_LEN);
    buf[4] = 1;
    buf[5] = FDN_BEACON_F_TAGGED; /* tagged: refused while no secret is set */
    send_raw(fd, buf, FDN_BEACON_MAX_LEN);
    run_ms(base, 50);
    struct fdn_discovery_stats after = stats(&A);
    CHECK(after.malformed == before.malformed + 4);
    CHECK(after.foreign >= before.foreign + 1); /* the 'x' key hash (and C's beacons) */
    CHECK(after.untrusted == before.untrusted + 1);
    CHECK(bad_dispatch == 0);
    close(fd);
}

/* A flood of forged node ids fills the table up to its cap and no further; a node pushed out
 * of it is news again when next heard. */
static void forge(int fd, const uint8_t id[16], uint32_t seq)
{
    uint8_t buf[FDN_BEACON_LEN];
    struct fdn_beacon b = {.key_hash = fdn_beacon_key_hash("default"), .seq = seq, .tcp_port = 9};
    memcpy(b.node_id, id, 16);
    fdn_beacon_encode(&b, buf, sizeof buf);
    send_raw(fd, buf, sizeof buf);
}

static void test_flood(void)
{
    int fd = raw_sender();
    struct fdn_node X;
    make_node(&X, base, L, 0x99);
    int since = nrecs;
    forge(fd, X.id, 1);
    forge(fd, X.id, 2); /* nothing new: not dispatched */
    run_ms(base, 20);
    CHECK(heard(&A, &X, since, NULL) == 1);
    for (int i = 0; i < FDN_DISCOVERY_MAX_PEERS + 1000; i++) {
        uint8_t id[16];
        memset(id, 0x77, 16);
        memcpy(id, &i, sizeof i);
        forge(fd, id, 1);
        if (i % 100 == 99)
            run_ms(base, 5);
    }
    run_ms(base, 50);
    struct fdn_discovery_stats sa = stats(&A);
    fprintf(stderr, "flood: A received %llu, peers %zu, evicted %llu\n",
            (unsigned long long)sa.received, sa.peers, (unsigned long long)sa.evicted);
    CHECK(sa.peers == FDN_DISCOVERY_MAX_PEERS && sa.evicted >= 1000);
    forge(fd, X.id, 3); /* X was the oldest: forgotten, so heard as new */
    run_ms(base, 20);
    CHECK(heard(&A, &X, since, NULL) == 2);
    close(fd);
}

static void test_leave(void)
{
    int since = nrecs;
    struct rec r;
    uint32_t seq = stats(&B).seq;
    fdn_discovery_leave(B.discovery);
    fdn_discovery_leave(B.discovery); /* a second call changes nothing */
    run_ms(base, 100);
    CHECK(stats(&B).seq == seq + 3);
    /* (a beacon B sent just before may come first: B was pushed out of the table by the flood,
     * so that one is news too) */
    CHECK(heard(&A, &B, since, &r) >= 1 && r.leaving && r.seq == seq + 1 && r.version == 7);
    CHECK(leavings(&A, &B, since) == 1 && leavings(&D, &B, since) == 1);
    run_ms(base, 1100);
    CHECK(stats(&B).seq == seq + 3); /* nothing after the leaving beacons */
    fdn_discovery_set_version(B.discovery, 8);
    CHECK(stats(&B).seq == seq + 3);
    /* freeing right after leave still sends the leaving beacons that were due */
    fdn_discovery_free(C.discovery);
    CHECK(start(&C, "other", 3334, 0) == 0); /* listens alone in partition "other" */
    since = nrecs;
    uint64_t received = stats(&C).received;
    seq = stats(&A).seq;
    struct fdn_node G;
    make_node(&G, base, L, 0x66);
    CHECK(start(&G, "other", 3335, 1) == 0); /* beacon 1 */
    fdn_discovery_leave(G.discovery);        /* beacon 2 */
    fdn_discovery_free(G.discovery);         /* beacons 3 and 4 */
    run_ms(base, 50);
    CHECK(heard(&C, &G, since, &r) == 2 && r.leaving && r.seq == 2);
    CHECK(stats(&C).received == received + 4 + (stats(&A).seq - seq));
}

/* A node bound to another loopback address sends from it: that is where peers find it. */
static void test_bind_loopback(void)
{
    struct fdn_node H;
    struct rec r;
    int since = nrecs;
    make_node(&H, base, L, 0x11);
    struct fdn_discovery_opts o = {.bind = "127.0.0.5", .tcp_port = 5005, .send = 1};
    CHECK(fdn_discovery_new(&H, &o, &H.discovery) == 0);
    CHECK(stats(&H).interfaces == 1);
    run_ms(base, 50);
    CHECK(heard(&A, &H, since, &r) == 1 && strcmp(r.ip, "127.0.0.5") == 0 && r.port == 5005);
    fdn_discovery_free(H.discovery);
}

/* The binding, with the node's configuration: bind 127.0.0.1, default group and port. */
static void test_lua_binding(void)
{
    int since = nrecs;
    E.cfg.bind = "127.0.0.1";
    E.cfg.key = "default";
    lua_State *LE = luaL_newstate();
    luaL_openlibs(LE);
    E.L = LE;
    int steps = load_steps(LE, steps_path, &E, luaopen_fdn_core_discovery);
    RUN_STEP(LE, steps, "start");
    run_ms(base, 1100); /* E hears the others' beacons (one a second) */
    struct rec r;
    CHECK(heard(&A, &E, since, &r) == 2); /* version 3, then 4 */
    CHECK(r.port == 5555 && r.version == 4 && r.seq == 2 && r.boot == 0x7fffffff);
    CHECK_STR(r.ip, "127.0.0.1");
    RUN_STEP(LE, steps, "finish");
    run_ms(base, 50);
    CHECK(heard(&A, &E, since, &r) == 3 && r.leaving);
    CHECK(E.discovery == NULL);
    fdn_discovery_free(E.discovery); /* after a failure: no dispatch into a closed state */
    E.discovery = NULL;
    lua_close(LE);
}

/* stop() from a Lua handler frees the discovery while it is dispatching. */
static void test_free_in_dispatch(void)
{
    CHECK(start(&F, NULL, 6666, 1) == 0);
    free_on_dispatch = &D;
    run_ms(base, 200);
    CHECK(free_on_dispatch == NULL && D.discovery == NULL);
    fdn_discovery_free(F.discovery);
    F.discovery = NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_discovery PATH/discovery_binding.lua\n");
        return 2;
    }
    steps_path = argv[1];
    if (enter_netns() < 0) {
        printf("skipped: needs root (a private network namespace)\n");
        return 77;
    }
    fdn_log_set_level(getenv("FDN_TEST_DEBUG") ? FDN_LOG_DEBUG : FDN_LOG_ERROR);
    base = event_base_new();
    L = luaL_newstate();
    make_node(&A, base, L, 0xa0);
    make_node(&B, base, L, 0xb0);
    make_node(&C, base, L, 0xcc);
    make_node(&D, base, L, 0xd0);
    make_node(&E, base, L, 0xe0);
    make_node(&F, base, L, 0xf0);

    test_config_errors();
    test_hear_each_other();
    /* a node in a child process: it hears A, A hears it and its leaving */
    pid_t child = fork();
    if (child == 0)
        _exit(child_main());
    int status = 0;
    run_ms(base, 2000);
    CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    int child_heard = 0, child_left = 0;
    for (int i = 0; i < nrecs; i++) {
        if (recs[i].to == &A && recs[i].port == 7777) {
            child_heard++;
            child_left += recs[i].leaving;
        }
    }
    CHECK(child_heard >= 2 && child_left == 1);
    test_version_and_refresh();
    test_junk();
    test_bind_loopback();
    test_lua_binding();
    test_flood();
    test_leave();
    test_free_in_dispatch();
    CHECK(bad_dispatch == 0);

    struct fdn_node *all[] = {&A, &B, &C, &D, &E, &F};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        fdn_discovery_free(all[i]->discovery);
    lua_close(L);
    event_base_free(base);
    return check_summary("test_discovery");
}
