/* test_link.c: end-to-end test of core/link.c (and its Lua bindings lua_link.c, lua_rpc.c) on a
 * real event_base and lua_State, without node.c: stand-ins for the dispatch door record every
 * event. Links, raw sockets and a listener on 127.0.0.1 only; every wait is bounded. The
 * bindings' checks are Lua steps in tests/unit/link_binding.lua, whose path is the first
 * argument.
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

/* --- the Lua side: link_binding.lua's steps, called one at a time ---------------------- */

static const char *steps_path;
static int steps = LUA_NOREF;

/* Runs the step `name` with no arguments; 1 when it did not raise. */
static int lua_ok(const char *name)
{
    int ok = call_step(node.L, steps, name, 0);
    lua_settop(node.L, 0);
    return ok;
}

/* Runs the loop until the step `name` returns true; 0 when it did not within ms (or raised). */
static int await_lua(const char *name, int ms)
{
    int64_t end = now_ms() + ms;
    for (;;) {
        if (!CHECK(call_step(node.L, steps, name, 0)))
            return 0;
        int ok = lua_toboolean(node.L, -1);
        lua_settop(node.L, 0);
        if (ok)
            return 1;
        if (now_ms() >= end)
            return 0;
        event_base_loop(node.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    }
}

/* The Lua binding, driven from Lua code. */
static void test_lua(int port)
{
    lua_State *L = node.L;
    steps = load_steps(L, steps_path, &node, luaopen_fdn_core_link);
    CHECK(steps != LUA_NOREF);
    lua_pushinteger(L, port);
    int before = nevents;
    if (!call_step(L, steps, "binding", 1)) {
        CHECK(0);
        return;
    }
    uint64_t id = (uint64_t)lua_tointeger(L, -1);
    lua_pop(L, 1);
    uint64_t in = await_accept(before);
    CHECK(await_frames(in, 1, 2000));
    CHECK_STR(events[nevents - 1].body, "{\"lua\":true}");
    lua_pushinteger(L, (lua_Integer)id);
    CHECK(call_step(L, steps, "finish", 1));
    lua_settop(L, 0);
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

/* The fast door's traffic: each step of link_binding.lua, then the one that says the frame it
 * sent came in (NULL: it sent none). */
static const char *const door_steps[][2] = {
    /* REQ: [path, method, id, data, params]; params keep only their JSON fields */
    {"request_get", "req_in"},
    {"got_get_request_create", "req_in"},
    {"got_create_send_no_list", "req_in"},
    {"got_no_list", NULL},
    /* RES: the decoded value, nil for an empty body, err for a malformed one */
    {"reply_value", "res_in"},
    {"got_value_reply_empty", "res_in"},
    {"got_empty_reply_malformed", "res10_in"},
    {"got_malformed", NULL},
    /* EVT: one body for the whole set; links that are gone leave it */
    {"publish", "evt_in"},
    {"got_evt", NULL},
};

/* The fast door: rpc.handle's handlers get the bodies decoded (a REQ/EVT list unpacked into
 * its fields, null as nil), and request/reply/publish encode them. Last: once a handler is
 * set, every frame of these links goes through the door. */
static void test_fast_door(void)
{
    if (!node.links)
        node.links = fdn_links_new(&node);
    int port;
    CHECK(fdn_links_listen(node.links, "127.0.0.1", 0, &port) == 0);
    push_binding(node.L, &node, luaopen_fdn_core_rpc);
    lua_call(node.L, 0, 1); /* the module */
    CHECK(call_step(node.L, steps, "rpc_binding", 1));
    lua_settop(node.L, 0);
    CHECK(lua_ok("handlers"));
    int before = nevents;
    uint64_t out, in;
    CHECK(fdn_links_connect(node.links, "127.0.0.1", port, &out) == 0);
    in = await_accept(before);
    CHECK(in != 0 && await(out, "up", 2000) != NULL);
    CHECK(fdn_links_send(node.links, out, FDN_FRAME_HELLO, 0, 0, "{}", 2) == 0);
    CHECK(fdn_links_send(node.links, in, FDN_FRAME_HELLO, 0, 0, "{}", 2) == 0);
    CHECK(await_lua("hellos_in", 2000));
    /* not a check of its own: without it every step below fails */
    lua_pushinteger(node.L, (lua_Integer)out);
    lua_pushinteger(node.L, (lua_Integer)in);
    call_step(node.L, steps, "pair", 2);
    lua_settop(node.L, 0);

    for (size_t i = 0; i < sizeof door_steps / sizeof door_steps[0]; i++) {
        const char *step = door_steps[i][0], *until = door_steps[i][1];
        check_at(lua_ok(step), __FILE__, __LINE__, step);
        if (until)
            check_at(await_lua(until, 2000), __FILE__, __LINE__, until);
    }
    CHECK(call_errors == 0); /* the checks above raised nothing */
    /* a handler that raises loses no frame: those after it in the same read are handled */
    CHECK(lua_ok("raising_handler"));
    int errors_before = call_errors;
    for (uint32_t rid = 1; rid <= 3; rid++) /* queued together: one write, one read */
        CHECK(fdn_links_send(node.links, in, FDN_FRAME_SUB, 0, rid, NULL, 0) == 0);
    CHECK(await_lua("two_subs_in", 2000)); /* 3 in the same turn, not at the next read */
    CHECK(lua_ok("got_three_subs"));
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
    if (argc < 2) {
        fprintf(stderr, "usage: test_link PATH/link_binding.lua | test_link --bench [SECONDS]\n");
        return 2;
    }
    steps_path = argv[1];
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

    if (strcmp(argv[1], "--bench") == 0) {
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
