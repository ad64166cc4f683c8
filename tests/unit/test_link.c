/* test_link.c: end-to-end test of core/link.c (and its Lua bindings lua_link.c, lua_rpc.c) on a
 * real event_base and lua_State, without node.c: stand-ins for the dispatch door record every
 * event. Links, raw sockets and a listener on 127.0.0.1 only; every wait is bounded.
 * `test_link --bench [SECONDS]` measures request/response frames per second instead. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <lauxlib.h>
#include <lualib.h>

#include "frame.h"
#include "link.h"
#include "node.h"
#include "util.h"
#include "check.h"
#include "standins.h"

int luaopen_fdn_core_link(lua_State *L);
int luaopen_fdn_core_rpc(lua_State *L);

#define MAX_FRAME (64 * 1024)
#define MAX_PENDING (256 * 1024)
#define PING_TIMEOUT 600
#define MAX_EVENTS 4096

/* --- stand-ins for node.c (standins.h): the dispatch door records events ----------------- */

struct event_rec {
    int frame; /* 1: "frame", 0: "link" */
    uint64_t link;
    int type, flags;
    uint32_t id;
    char what[16], s[128], detail[128];
    long long port;
    char body[256];
    size_t body_len;
};

static struct fdn_node node;
static struct event_rec events[MAX_EVENTS], recorded; /* the dispatch being recorded */
static int nevents;
static void (*hook)(const struct event_rec *e); /* runs inside the dispatch, after recording */

/* The door of standins.h hands every dispatch here, then calls after_dispatch. */
static void record_dispatch(struct fdn_node *n, int base, int nargs)
{
    lua_State *L = n->L;
    struct event_rec e = {0};
    const char *kind = lua_tostring(L, base);
    e.frame = strcmp(kind, "frame") == 0;
    e.link = (uint64_t)lua_tointeger(L, base + 1);
    if (e.frame) {
        CHECK(nargs == 5);
        e.type = (int)lua_tointeger(L, base + 2);
        e.flags = (int)lua_tointeger(L, base + 3);
        e.id = (uint32_t)lua_tointeger(L, base + 4);
        CHECK(lua_type(L, base + 5) == LUA_TSTRING);
        const char *b = lua_tolstring(L, base + 5, &e.body_len);
        memcpy(e.body, b, e.body_len < sizeof e.body ? e.body_len : sizeof e.body);
    } else {
        CHECK(strcmp(kind, "link") == 0 && nargs >= 3);
        snprintf(e.what, sizeof e.what, "%s", lua_tostring(L, base + 2));
        snprintf(e.s, sizeof e.s, "%s", lua_tostring(L, base + 3));
        if (nargs >= 4 && lua_isinteger(L, base + 4))
            e.port = lua_tointeger(L, base + 4);
        else if (nargs >= 4)
            snprintf(e.detail, sizeof e.detail, "%s", lua_tostring(L, base + 4));
    }
    recorded = e;
}

static void after_dispatch(void)
{
    if (nevents < MAX_EVENTS)
        events[nevents++] = recorded;
    if (hook)
        hook(&recorded);
}

/* --- helpers ----------------------------------------------------------------------------- */

static const struct event_rec *find_link_event(uint64_t link, const char *what)
{
    for (int i = 0; i < nevents; i++)
        if (!events[i].frame && (!link || events[i].link == link) &&
            strcmp(events[i].what, what) == 0)
            return &events[i];
    return NULL;
}

static int count_frames(uint64_t link, int type)
{
    int n = 0;
    for (int i = 0; i < nevents; i++)
        n += events[i].frame && events[i].link == link && (!type || events[i].type == type);
    return n;
}

static uint64_t wait_link;
static const char *wait_what;
static int wait_count;

static int have_link_event(void)
{
    return find_link_event(wait_link, wait_what) != NULL;
}

static int have_frames(void)
{
    return count_frames(wait_link, 0) >= wait_count;
}

static const struct event_rec *await(uint64_t link, const char *what, int ms)
{
    wait_link = link;
    wait_what = what;
    run_until(node.base, have_link_event, ms);
    return find_link_event(link, what);
}

static int await_frames(uint64_t link, int n, int ms)
{
    wait_link = link;
    wait_count = n;
    return run_until(node.base, have_frames, ms);
}

static int raw_connect(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        perror("raw connect");
        exit(2);
    }
    return fd;
}

static void raw_send(int fd, const void *p, size_t n)
{
    CHECK(write(fd, p, n) == (ssize_t)n);
}

static uint64_t all_ids[256];
static int nids;

static void note_id(uint64_t id)
{
    if (nids < 256)
        all_ids[nids++] = id;
}

/* Accepts the next inbound link after `before` events; 0 when none came. */
static uint64_t await_accept(int before)
{
    int64_t end = now_ms() + 2000;
    while (now_ms() < end) {
        for (int i = before; i < nevents; i++)
            if (!events[i].frame && strcmp(events[i].what, "accept") == 0) {
                note_id(events[i].link);
                return events[i].link;
            }
        event_base_loop(node.base, EVLOOP_ONCE);
    }
    return 0;
}

/* Marks a link ready when its HELLO arrives, as the Lua side does. */
static void ready_on_hello(const struct event_rec *e)
{
    if (e->frame && e->type == FDN_FRAME_HELLO)
        CHECK(fdn_links_ready(node.links, e->link) == 0);
}

/* A connected, ready pair: *out outbound, *in inbound. */
static void pair(int port, uint64_t *out, uint64_t *in)
{
    int before = nevents;
    CHECK(fdn_links_connect(node.links, "127.0.0.1", port, out) == 0);
    note_id(*out);
    *in = await_accept(before);
    CHECK(*in != 0);
    CHECK(await(*out, "up", 2000) != NULL);
    hook = ready_on_hello;
    CHECK(fdn_links_send(node.links, *out, FDN_FRAME_HELLO, 0, 0, "{}", 2) == 0);
    CHECK(fdn_links_send(node.links, *in, FDN_FRAME_HELLO, 0, 0, "{}", 2) == 0);
    CHECK(await_frames(*in, 1, 2000));
    CHECK(await_frames(*out, 1, 2000));
    hook = NULL;
    struct fdn_link_info i1, i2;
    CHECK(fdn_links_info(node.links, *out, &i1) == 0 && i1.ready && !i1.inbound);
    CHECK(fdn_links_info(node.links, *in, &i2) == 0 && i2.ready && i2.inbound);
}

/* --- the tests --------------------------------------------------------------------------- */

static void test_frames_and_pings(int port)
{
    uint64_t a, b;
    pair(port, &a, &b);
    CHECK(a != b);
    const struct event_rec *up = find_link_event(a, "up");
    CHECK(up && strcmp(up->s, "127.0.0.1") == 0 && up->port == port);
    const struct event_rec *acc = find_link_event(b, "accept");
    CHECK(acc && strcmp(acc->s, "127.0.0.1") == 0 && acc->port > 0);

    CHECK(fdn_links_send(node.links, a, FDN_FRAME_REQ, 3, 77, "{\"m\":\"get\"}", 11) == 0);
    CHECK(fdn_links_send(node.links, a, FDN_FRAME_SUB, 0, 0xFFFFFFFFu, NULL, 0) == 0);
    CHECK(await_frames(b, 3, 2000)); /* HELLO, REQ, SUB */
    const struct event_rec *e = &events[nevents - 1];
    CHECK(e->link == b && e->type == FDN_FRAME_SUB && e->id == 0xFFFFFFFFu && e->body_len == 0);
    e = &events[nevents - 2];
    CHECK(e->link == b && e->type == FDN_FRAME_REQ && e->flags == 3 && e->id == 77);
    CHECK(e->body_len == 11 && memcmp(e->body, "{\"m\":\"get\"}", 11) == 0);
    CHECK(fdn_links_send(node.links, b, FDN_FRAME_RES, 0, 77, "{\"id\":7}", 8) == 0);
    CHECK(await_frames(a, 2, 2000));
    CHECK(events[nevents - 1].type == FDN_FRAME_RES && events[nevents - 1].id == 77);

    /* idle well past the ping timeout: PING/PONG keep the pair alive, and no PING reaches Lua */
    struct fdn_link_stats s0, s1;
    fdn_links_stats(node.links, &s0);
    int before = nevents;
    run_for(node.base, PING_TIMEOUT * 5 / 2);
    fdn_links_stats(node.links, &s1);
    CHECK(nevents == before);
    CHECK(s1.pings_sent >= s0.pings_sent + 4);
    CHECK(s1.closes[FDN_LINK_R_PING_TIMEOUT] == s0.closes[FDN_LINK_R_PING_TIMEOUT]);
    CHECK(fdn_links_send(node.links, a, FDN_FRAME_REQ, 0, 78, "{}", 2) == 0);
    CHECK(await_frames(b, 4, 2000));

    /* too large to send: refused, nothing queued */
    static char big[MAX_FRAME];
    struct fdn_link_info in;
    CHECK(fdn_links_send(node.links, a, FDN_FRAME_REQ, 0, 1, big, MAX_FRAME - 6) == 0);
    CHECK(fdn_links_info(node.links, a, &in) == 0);
    size_t pending = in.pending;
    CHECK(fdn_links_send(node.links, a, FDN_FRAME_REQ, 0, 1, big, MAX_FRAME - 5) ==
          FDN_LINK_ETOOLARGE);
    CHECK(fdn_links_info(node.links, a, &in) == 0 && in.pending == pending);
    CHECK(fdn_links_send(node.links, a, 0, 0, 1, "", 0) == FDN_LINK_EINVAL);
    CHECK(fdn_links_send(node.links, a, 12, 0, 1, "", 0) == FDN_LINK_EINVAL);
    CHECK(await_frames(b, 5, 2000));
    CHECK(events[nevents - 1].body_len == MAX_FRAME - 6);

    /* a peer that goes silent (the outbound end is frozen by closing it without notice to
     * the other side: here we close a, and b must see EOF, not wait for the ping timeout) */
    CHECK(fdn_links_close(node.links, a, "test", 0) == 0);
    CHECK(fdn_links_close(node.links, a, "again", 0) == FDN_LINK_EGONE);
    CHECK(fdn_links_send(node.links, a, FDN_FRAME_REQ, 0, 1, "", 0) == FDN_LINK_EGONE);
    CHECK(fdn_links_info(node.links, a, &in) == FDN_LINK_EGONE);
    e = await(b, "down", 2000);
    CHECK(e && strcmp(e->s, "eof") == 0);
    CHECK(find_link_event(a, "down") == NULL); /* closed by us: no "down" */
}

/* A handler that blocks the reactor longer than the ping timeout (here: between two loop
 * iterations, as a long Lua timer would) loses no link: silence while we stalled proves
 * nothing about the peer. */
static void test_stall(int port)
{
    uint64_t a, b;
    pair(port, &a, &b);
    run_for(node.base, PING_TIMEOUT / 2);
    usleep(PING_TIMEOUT * 3 / 2 * 1000);
    run_for(node.base, PING_TIMEOUT / 2);
    CHECK(find_link_event(a, "down") == NULL && find_link_event(b, "down") == NULL);
    CHECK(fdn_links_close(node.links, a, NULL, 0) == 0);
    CHECK(fdn_links_close(node.links, b, NULL, 0) == 0);
}

static void test_silent_peer(int port)
{
    int before = nevents;
    int fd = raw_connect(port);
    uint64_t id = await_accept(before);
    int64_t t0 = now_ms();
    const struct event_rec *e = await(id, "down", 2000);
    CHECK(e && strcmp(e->s, "handshake timeout") == 0);
    CHECK(now_ms() - t0 >= 200);
    close(fd);
}

/* A peer that never pings: the ping timeout closes it even though it is ready. */
static void test_ping_timeout(int port)
{
    int before = nevents;
    int fd = raw_connect(port);
    uint64_t id = await_accept(before);
    CHECK(fdn_links_ready(node.links, id) == 0);
    const struct event_rec *e = await(id, "down", 2000);
    CHECK(e && strcmp(e->s, "ping timeout") == 0);
    close(fd);
}

static void test_bad_input(int port, const uint8_t *bytes, size_t n, const char *reason)
{
    int before = nevents;
    struct fdn_link_stats s0, s1;
    fdn_links_stats(node.links, &s0);
    int fd = raw_connect(port);
    uint64_t id = await_accept(before);
    raw_send(fd, bytes, n);
    const struct event_rec *e = await(id, "down", 2000);
    CHECK(e && strcmp(e->s, reason) == 0);
    if (!e || strcmp(e->s, reason) != 0)
        fprintf(stderr, "  expected %s, got %s\n", reason, e ? e->s : "nothing");
    fdn_links_stats(node.links, &s1);
    CHECK(s1.protocol_errors == s0.protocol_errors + 1);
    CHECK(count_frames(id, 0) == 0);
    close(fd);
}

static void test_protocol_errors(int port)
{
    uint8_t b[32];
    fdn_frame_header(b, FDN_FRAME_HELLO, 0, 1, MAX_FRAME - 5); /* length = max_frame + 1 */
    test_bad_input(port, b, FDN_FRAME_HEADER, "frame too large");
    fdn_frame_header(b, FDN_FRAME_HELLO, 0, 1, 0);
    b[4] = 42;
    test_bad_input(port, b, FDN_FRAME_HEADER, "unknown frame type");
    memcpy(b, "\0\0\0\2xx", 6);
    test_bad_input(port, b, 6, "frame too short");
    fdn_frame_header(b, FDN_FRAME_REQ, 0, 1, 2); /* before the handshake */
    memcpy(b + FDN_FRAME_HEADER, "{}", 2);
    test_bad_input(port, b, FDN_FRAME_HEADER + 2, "protocol error");
    /* a good HELLO and then garbage: the HELLO reaches Lua first */
    int before = nevents;
    int fd = raw_connect(port);
    uint64_t id = await_accept(before);
    fdn_frame_header(b, FDN_FRAME_HELLO, 0, 1, 2);
    memcpy(b + FDN_FRAME_HEADER, "{}", 2);
    memcpy(b + 12, "\xff\xff\xff\xff\x01\0", 6);
    raw_send(fd, b, 18);
    const struct event_rec *e = await(id, "down", 2000);
    CHECK(e && strcmp(e->s, "frame too large") == 0);
    CHECK(count_frames(id, FDN_FRAME_HELLO) == 1);
    close(fd);
}

static void test_slow_consumer(int port)
{
    int before = nevents;
    int fd = raw_connect(port); /* never reads */
    uint64_t id = await_accept(before);
    CHECK(fdn_links_ready(node.links, id) == 0);
    static char body[60000];
    size_t max_seen = 0;
    int r = 0, sends = 0;
    for (; sends < 4000 && r == 0; sends++) {
        struct fdn_link_info in;
        r = fdn_links_send(node.links, id, FDN_FRAME_EVT, 0, (uint32_t)sends, body, sizeof body);
        if (r != 0)
            break;
        if (fdn_links_info(node.links, id, &in) == 0 && in.pending > max_seen)
            max_seen = in.pending;
        event_base_loop(node.base, EVLOOP_NONBLOCK);
    }
    CHECK(r == FDN_LINK_ESLOW);
    CHECK(max_seen <= MAX_PENDING);
    CHECK(fdn_links_send(node.links, id, FDN_FRAME_EVT, 0, 0, "", 0) == FDN_LINK_EGONE);
    CHECK(find_link_event(id, "down") == NULL); /* not from inside the call */
    const struct event_rec *e = await(id, "down", 1000);
    CHECK(e && strcmp(e->s, "slow consumer") == 0);
    close(fd);
}

static void test_flush_close(int port)
{
    uint64_t a, b;
    pair(port, &a, &b);
    static char body[50000];
    for (int i = 0; i < 4; i++) { /* 200 kB: under max_pending */
        memset(body, 'a' + i, sizeof body);
        CHECK(fdn_links_send(node.links, a, FDN_FRAME_EVT, 0, (uint32_t)i, body, sizeof body) == 0);
    }
    CHECK(fdn_links_send(node.links, a, FDN_FRAME_BYE, 0, 0, "{}", 2) == 0);
    CHECK(fdn_links_close(node.links, a, "bye", 1) == 0);
    CHECK(fdn_links_send(node.links, a, FDN_FRAME_REQ, 0, 0, "", 0) == FDN_LINK_EGONE);
    const struct event_rec *e = await(b, "down", 3000);
    CHECK(e && strcmp(e->s, "eof") == 0);
    CHECK(count_frames(b, FDN_FRAME_EVT) == 4);
    CHECK(count_frames(b, FDN_FRAME_BYE) == 1);
    CHECK(events[nevents - 2].frame && events[nevents - 2].type == FDN_FRAME_BYE);
    CHECK(events[nevents - 3].body[0] == 'a' + 3 && events[nevents - 3].body_len == sizeof body);
    run_for(node.base, 50);
    CHECK(find_link_event(a, "down") == NULL);
}

static uint64_t close_target;

static void close_on_frame(const struct event_rec *e)
{
    if (e->frame && e->link == close_target)
        CHECK(fdn_links_close(node.links, e->link, "from dispatch", 0) == 0);
}

/* Lua closing the link from inside a frame's dispatch: the rest of the input is dropped. */
static void test_close_in_dispatch(int port)
{
    uint64_t a, b;
    pair(port, &a, &b);
    for (uint32_t i = 0; i < 5; i++)
        CHECK(fdn_links_send(node.links, a, FDN_FRAME_EVT, 0, i, "{}", 2) == 0);
    close_target = b;
    hook = close_on_frame;
    const struct event_rec *e = await(a, "down", 2000);
    hook = NULL;
    CHECK(e && strcmp(e->s, "eof") == 0);
    CHECK(count_frames(b, FDN_FRAME_EVT) == 1);
    CHECK(find_link_event(b, "down") == NULL);
}

static void test_connect_failures(void)
{
    /* a closed port */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof a;
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    CHECK(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
    CHECK(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    close(fd);
    uint64_t id;
    CHECK(fdn_links_connect(node.links, "127.0.0.1", ntohs(a.sin_port), &id) == 0);
    note_id(id);
    CHECK(find_link_event(id, "down") == NULL);
    const struct event_rec *e = await(id, "down", 2000);
    CHECK(e && strcmp(e->s, "connect failed") == 0 && strstr(e->detail, "refused"));
    if (e)
        printf("closed port: down \"%s\" (%s)\n", e->s, e->detail);

    /* bad addresses fail at once */
    CHECK(fdn_links_connect(node.links, "not-an-ip", 80, &id) == FDN_LINK_EINVAL);
    CHECK(fdn_links_connect(node.links, "127.0.0.1", 0, &id) == FDN_LINK_EINVAL);
    CHECK(fdn_links_connect(node.links, "127.0.0.1", 70000, &id) == FDN_LINK_EINVAL);

    /* a listener whose accept queue is full drops our SYN: the connect deadline fires */
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    a.sin_port = 0;
    CHECK(bind(ls, (struct sockaddr *)&a, sizeof a) == 0 && listen(ls, 0) == 0);
    len = sizeof a;
    CHECK(getsockname(ls, (struct sockaddr *)&a, &len) == 0);
    int fill[4], nfill = 0;
    for (int i = 0; i < 4; i++) {
        fill[nfill] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        connect(fill[nfill], (struct sockaddr *)&a, sizeof a);
        nfill++;
    }
    CHECK(fdn_links_connect(node.links, "127.0.0.1", ntohs(a.sin_port), &id) == 0);
    note_id(id);
    e = await(id, "down", 2000);
    CHECK(e && strcmp(e->s, "connect timeout") == 0);
    if (e && strcmp(e->s, "connect timeout") != 0)
        printf("full backlog: down \"%s\"\n", e->s);
    for (int i = 0; i < nfill; i++)
        close(fill[i]);
    close(ls);
}

static void test_ids(void)
{
    for (int i = 0; i < nids; i++)
        for (int j = i + 1; j < nids; j++)
            CHECK(all_ids[i] != all_ids[j]);
    /* every link id dispatched, across the whole run, is unique per accept/connect */
    for (int i = 0; i < nevents; i++) {
        if (events[i].frame || strcmp(events[i].what, "accept") != 0)
            continue;
        for (int j = i + 1; j < nevents; j++)
            CHECK(events[j].frame || strcmp(events[j].what, "accept") != 0 ||
                  events[j].link != events[i].link);
    }
    uint64_t max = 0, id;
    for (int i = 0; i < nids; i++)
        max = all_ids[i] > max ? all_ids[i] : max;
    CHECK(fdn_links_connect(node.links, "127.0.0.1", 1, &id) == 0);
    CHECK(id > max);
    CHECK(fdn_links_close(node.links, id, NULL, 0) == 0);
    CHECK(nids > 10);
}

/* The Lua binding, driven from Lua code. */
static void test_lua(int port)
{
    lua_State *L = node.L;
    open_binding(L, &node, luaopen_fdn_core_link, "link");
    const char *chunk =
        "local port = ...\n"
        "assert(link.TYPES.HELLO == 1 and link.TYPES.PEERS == 11 and link.TYPES.BYE == 10)\n"
        "local p, err = link.listen('127.0.0.1', port)\n"
        "assert(p == nil and err == 'invalid address', err)\n" /* already listening */
        "assert(select(2, link.connect('nope', 1)) == 'invalid address')\n"
        "assert(not pcall(link.send, 1, 99, 0, 0, ''))\n"
        "assert(not pcall(link.send, 1, 1, 256, 0, ''))\n"
        "assert(not pcall(link.send, 1, 1, 0, 2^32, ''))\n"
        "assert(select(2, link.send(999999, 1, 0, 0, '')) == 'gone')\n"
        "assert(select(2, link.ready(999999)) == 'gone')\n"
        "assert(select(2, link.close(999999)) == 'gone')\n"
        "local none, why = link.info(999999)\n"
        "assert(none == nil and why == 'gone')\n"
        "none, why = link.pending(999999)\n"
        "assert(none == nil and why == 'gone')\n"
        "local id = assert(link.connect('127.0.0.1', port))\n"
        "assert(link.send(id, link.TYPES.HELLO, 0, 0, '{\"lua\":true}'))\n"
        "local i = link.info(id)\n"
        "assert(i.ip == '127.0.0.1' and i.port == port and i.inbound == false)\n"
        "assert(select(2, link.send(id, 3, 0, 0, string.rep('x', 70000))) == 'too large')\n"
        "return id\n";
    CHECK(luaL_loadstring(L, chunk) == LUA_OK);
    lua_pushinteger(L, port);
    int before = nevents;
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
        fprintf(stderr, "lua: %s\n", lua_tostring(L, -1));
        CHECK(0);
        lua_pop(L, 1);
        return;
    }
    uint64_t id = (uint64_t)lua_tointeger(L, -1);
    lua_pop(L, 1);
    uint64_t in = await_accept(before);
    CHECK(await_frames(in, 1, 2000));
    CHECK_STR(events[nevents - 1].body, "{\"lua\":true}");
    lua_pushinteger(L, (lua_Integer)id);
    lua_setglobal(L, "ID");
    CHECK(luaL_dostring(L, "local s = link.stats()\n"
                           "assert(s.links >= 2 and s.frames_in > 0 and s.frames_out > 0)\n"
                           "assert(s.closes['slow consumer'] == 1 and s.protocol_errors >= 5)\n"
                           "assert(link.ready(ID) and link.info(ID).ready)\n"
                           "assert(link.close(ID, 'done', true))\n"
                           "assert(link.info(ID) == nil)\n"
                           "link.stop_listening()\n") == LUA_OK);
    if (lua_gettop(L)) {
        fprintf(stderr, "lua: %s\n", lua_tostring(L, -1));
        lua_settop(L, 0);
    }
    const struct event_rec *e = await(in, "down", 2000);
    CHECK(e && strcmp(e->s, "eof") == 0);
}

static void free_in_dispatch(const struct event_rec *e)
{
    if (e->frame) {
        fdn_links_free(node.links);
        node.links = NULL;
    }
}

/* Freeing everything from inside a dispatch, with more frames and links pending. */
static void test_free_in_dispatch(void)
{
    int port;
    CHECK(fdn_links_listen(node.links, "127.0.0.1", 0, &port) == 0);
    uint64_t a, b;
    pair(port, &a, &b);
    for (uint32_t i = 0; i < 5; i++)
        CHECK(fdn_links_send(node.links, a, FDN_FRAME_EVT, 0, i, "{}", 2) == 0);
    hook = free_in_dispatch;
    int64_t end = now_ms() + 2000;
    while (node.links && now_ms() < end)
        event_base_loop(node.base, EVLOOP_ONCE);
    hook = NULL;
    CHECK(node.links == NULL);
    run_for(node.base, 50); /* nothing of the links may fire any more */
}

/* Runs the loop until the Lua expression is true; 0 when it did not become true in ms. */
static int await_lua(const char *expr, int ms)
{
    char chunk[256];
    snprintf(chunk, sizeof chunk, "return %s", expr);
    int64_t end = now_ms() + ms;
    for (;;) {
        CHECK(luaL_dostring(node.L, chunk) == LUA_OK);
        int ok = lua_toboolean(node.L, -1);
        lua_settop(node.L, 0);
        if (ok)
            return 1;
        if (now_ms() >= end)
            return 0;
        event_base_loop(node.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    }
}

static int lua_ok(const char *chunk)
{
    if (luaL_dostring(node.L, chunk) == LUA_OK)
        return 1;
    fprintf(stderr, "lua: %s\n", lua_tostring(node.L, -1));
    lua_settop(node.L, 0);
    return 0;
}

/* The fast door: rpc.handle's handlers get the bodies decoded (a REQ/EVT list unpacked into
 * its fields, null as nil), and request/reply/publish encode them. Last: once a handler is
 * set, every frame of these links goes through the door. */
static void test_fast_door(void)
{
    if (!node.links)
        node.links = fdn_links_new(&node);
    int port;
    CHECK(fdn_links_listen(node.links, "127.0.0.1", 0, &port) == 0);
    open_binding(node.L, &node, luaopen_fdn_core_rpc, "rpc");
    CHECK(lua_ok("T = link.TYPES\n"
                 "got = { hello = 0 }\n"
                 "local L = rpc.LAYOUTS\n"
                 "assert(table.concat(L.REQ, ' ') == 'path method id data params')\n"
                 "assert(table.concat(L.EVT, ' ') == 'path event data meta')\n"
                 "assert(not pcall(rpc.handle, 99, print))\n"
                 "assert(not pcall(rpc.handle, T.REQ, print, 5))\n" /* counts come from LAYOUTS */
                 "assert(not pcall(rpc.handle, T.RES, print, 'fields'))\n" /* RES has none */
                 "assert(not pcall(rpc.handle, T.REQ, print, 'bogus'))\n"
                 "assert(not pcall(rpc.handle, T.REQ, 'nope'))\n"
                 "rpc.handle(T.HELLO, function(lid, t, flags, rid, body)\n"
                 "  assert(t == T.HELLO and body == '{}')\n"
                 "  got.hello = got.hello + 1\n"
                 "  link.ready(lid)\n"
                 "end)\n"
                 "rpc.handle(T.REQ, function(...) got.req = table.pack(...) end, 'fields')\n"
                 "rpc.handle(T.RES, function(...) got.res = table.pack(...) end, 'value')\n"
                 "rpc.handle(T.EVT, function(...) got.evt = table.pack(...) end, 'fields')\n"));
    int before = nevents;
    uint64_t out, in;
    CHECK(fdn_links_connect(node.links, "127.0.0.1", port, &out) == 0);
    in = await_accept(before);
    CHECK(in != 0 && await(out, "up", 2000) != NULL);
    CHECK(fdn_links_send(node.links, out, FDN_FRAME_HELLO, 0, 0, "{}", 2) == 0);
    CHECK(fdn_links_send(node.links, in, FDN_FRAME_HELLO, 0, 0, "{}", 2) == 0);
    CHECK(await_lua("got.hello == 2", 2000));
    lua_pushinteger(node.L, (lua_Integer)out);
    lua_setglobal(node.L, "OUT");
    lua_pushinteger(node.L, (lua_Integer)in);
    lua_setglobal(node.L, "IN");

    /* REQ: [path, method, id, data, params]; params keep only their JSON fields */
    CHECK(lua_ok("assert(rpc.request(OUT, 7, 'echo', 'get', 42, nil,\n"
                 "  { user = { id = 1 }, fn = print, out = io.stdout, [1] = 'x' }))"));
    CHECK(await_lua("got.req ~= nil", 2000));
    CHECK(lua_ok(
        "local r = got.req\n"
        "assert(r.n == 7 and r[1] == IN and r[2] == 7 and r[3] == 'echo' and r[4] == 'get')\n"
        "assert(r[5] == 42 and r[6] == nil and r[7].user.id == 1)\n"
        "assert(r[7].fn == nil and r[7].out == nil and r[7][1] == nil)\n"
        "got.req = nil\n"
        "assert(rpc.request(OUT, 8, 'echo', 'create', nil, { a = 1 }))\n"));
    CHECK(await_lua("got.req ~= nil", 2000));
    CHECK(lua_ok("local r = got.req\n"
                 "assert(r[2] == 8 and r[5] == nil and r[6].a == 1 and r[7] == nil)\n"
                 "local ok, err, why = rpc.request(OUT, 9, 'echo', 'create', nil, { f = print })\n"
                 "assert(ok == nil and err == 'not json' and type(why) == 'string', why)\n"
                 "assert(select(2, rpc.request(999999, 9, 'p', 'get')) == 'gone')\n"
                 "local no, big, size = rpc.request(OUT, 9, 'p', 'get', nil, ('x'):rep(70000))\n"
                 "assert(no == nil and big == 'too large' and size > 70000, size)\n"
                 "assert(not pcall(rpc.request, OUT, 9, nil, 'get'))\n"
                 "got.req = nil\n"
                 "assert(link.send(OUT, T.REQ, 0, 10, '{\"not\":\"a list\"}'))\n"));
    CHECK(await_lua("got.req ~= nil", 2000));
    CHECK(lua_ok("local r = got.req\n"
                 "assert(r[2] == 10 and r[3] == nil and r[4] == nil and r[7] == nil)\n"));

    /* RES: the decoded value, nil for an empty body, err for a malformed one */
    CHECK(lua_ok("assert(rpc.reply(IN, T.RES, 7, { id = 42, text = 'hi' }))"));
    CHECK(await_lua("got.res ~= nil", 2000));
    CHECK(lua_ok("local r = got.res\n"
                 "assert(r[1] == OUT and r[2] == 7 and r[3].text == 'hi' and r[4] == nil)\n"
                 "got.res = nil\n"
                 "assert(rpc.reply(IN, T.RES, 8))\n"));
    CHECK(await_lua("got.res ~= nil", 2000));
    CHECK(lua_ok("local r = got.res\n"
                 "assert(r.n == 2 and r[2] == 8)\n"
                 "got.res = nil\n"
                 "assert(rpc.reply(IN, T.RES, 9))\n"
                 "assert(link.send(IN, T.RES, 0, 10, '{bad'))\n"
                 "local ok, err = rpc.reply(IN, T.RES, 11, { f = print })\n"
                 "assert(ok == nil and err == 'not json')\n"));
    CHECK(await_lua("got.res ~= nil and got.res[2] == 10", 2000));
    CHECK(lua_ok("local r = got.res\n"
                 "assert(r[3] == nil and type(r[4]) == 'string' and r[4]:find('at 2'), r[4])\n"));

    /* EVT: one body for the whole set; links that are gone leave it */
    CHECK(
        lua_ok("set = { [IN] = true, [999999] = true }\n"
               "assert(rpc.publish(set, 'echo', 'created', { seq = 1 }) == 1)\n"
               "assert(set[IN] and set[999999] == nil)\n"
               "assert(select(2, rpc.publish(set, 'echo', 'x', { f = print })) == 'not json')\n"));
    CHECK(await_lua("got.evt ~= nil", 2000));
    CHECK(lua_ok("local r = got.evt\n"
                 "assert(r[1] == OUT and r[2] == 0 and r[3] == 'echo' and r[4] == 'created')\n"
                 "assert(r[5].seq == 1 and r[6] == nil)\n"));

    CHECK(call_errors == 0); /* the checks above raised nothing */
    /* a handler that raises loses no frame: those after it in the same read are handled */
    CHECK(lua_ok("subs = {}\n"
                 "rpc.handle(T.SUB, function(lid, t, flags, rid)\n"
                 "  subs[#subs + 1] = rid\n"
                 "  if rid == 2 then error('handler bug') end\n"
                 "end)\n"));
    int errors_before = call_errors;
    for (uint32_t rid = 1; rid <= 3; rid++) /* queued together: one write, one read */
        CHECK(fdn_links_send(node.links, in, FDN_FRAME_SUB, 0, rid, NULL, 0) == 0);
    CHECK(await_lua("#subs >= 2", 2000)); /* 3 in the same turn, not at the next read */
    CHECK(lua_ok("assert(#subs == 3 and subs[1] == 1 and subs[2] == 2 and subs[3] == 3)"));
    CHECK(call_errors == errors_before + 1);
    CHECK(fdn_links_close(node.links, out, NULL, 0) == 0);
    CHECK(fdn_links_close(node.links, in, NULL, 0) == 0);
}

/* --- benchmark: request/response over one pair, 64 in flight ----------------------------- */

static uint64_t bench_a, bench_b;
static long long bench_done;

static void bench_hook(const struct event_rec *e)
{
    static const char req[] = "{\"method\":\"get\",\"path\":\"echo\",\"id\":7}";
    static const char res[] = "{\"id\":7,\"text\":\"hello\"}";
    nevents = 0;
    if (e->link == bench_b)
        fdn_links_send(node.links, bench_b, FDN_FRAME_RES, 0, e->id, res, sizeof res - 1);
    else if (e->link == bench_a) {
        bench_done++;
        fdn_links_send(node.links, bench_a, FDN_FRAME_REQ, 0, e->id, req, sizeof req - 1);
    }
}

static void bench(int port, double seconds)
{
    pair(port, &bench_a, &bench_b);
    for (uint32_t i = 0; i < 64; i++)
        fdn_links_send(node.links, bench_a, FDN_FRAME_REQ, 0, i, "{\"id\":7}", 8);
    hook = bench_hook;
    int64_t t0 = now_ms(), end = t0 + (int64_t)(seconds * 1000);
    while (now_ms() < end)
        event_base_loop(node.base, EVLOOP_ONCE);
    double s = (double)(now_ms() - t0) / 1000;
    printf("{\"bench\":\"link\",\"concurrency\":64,\"calls\":%lld,\"seconds\":%.2f,"
           "\"calls_per_s\":%.0f,\"frames_per_s\":%.0f}\n",
           bench_done, s, bench_done / s, 2 * bench_done / s);
    hook = NULL;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    fdn_log_set_level(getenv("FDN_TEST_VERBOSE") ? FDN_LOG_DEBUG : FDN_LOG_ERROR + 1);
    node.cfg.max_frame = MAX_FRAME;
    node.cfg.max_pending = MAX_PENDING;
    node.cfg.ping_timeout_ms = PING_TIMEOUT;
    node.base = event_base_new();
    node.L = luaL_newstate();
    luaL_openlibs(node.L);
    node.links = fdn_links_new(&node);
    fdn_links_set_deadlines(node.links, 300, 300);
    int port = 0;
    CHECK(fdn_links_listen(node.links, "127.0.0.1", 0, &port) == 0 && port > 0);
    CHECK(fdn_links_listen(node.links, "127.0.0.1", 0, &port) == FDN_LINK_EINVAL);

    if (argc > 1 && strcmp(argv[1], "--bench") == 0) {
        bench(port, argc > 2 ? atof(argv[2]) : 3.0);
    } else {
        int64_t t0 = now_ms(), t = t0;
#define TIMED(call)                                                                                \
    do {                                                                                           \
        call;                                                                                      \
        if (getenv("FDN_TEST_VERBOSE"))                                                            \
            printf("%-32s %5lld ms\n", #call, (long long)(now_ms() - t));                          \
        t = now_ms();                                                                              \
    } while (0)
        TIMED(test_frames_and_pings(port));
        TIMED(test_stall(port));
        TIMED(test_silent_peer(port));
        TIMED(test_ping_timeout(port));
        TIMED(test_protocol_errors(port));
        TIMED(test_slow_consumer(port));
        TIMED(test_flush_close(port));
        TIMED(test_close_in_dispatch(port));
        TIMED(test_connect_failures());
        TIMED(test_ids());
        TIMED(test_lua(port));
        TIMED(test_free_in_dispatch());
        TIMED(test_fast_door());
        printf("link tests took %lld ms\n", (long long)(now_ms() - t0));
    }
    fdn_links_free(node.links);
    lua_close(node.L);
    event_base_free(node.base);
    return check_summary("test_link");
}
