/* link_live.c: the links' liveness: the periodic sweep (the connect, handshake, flush and ping
 * deadlines, pings, a paused listener) and the pairs of links to one peer that share it
 * (fdn_links_pair; the rules are in link.h). */
#include <time.h>

#include <event2/listener.h>

#include "frame.h"
#include "link_int.h"
#include "util.h"

void fdn_link_unpair(struct link *l)
{
    if (l->mate)
        l->mate->mate = NULL;
    l->mate = NULL;
}

int fdn_links_pair(struct fdn_links *ls, uint64_t a, uint64_t b, int lead)
{
    struct link *la = fdn_link_find(ls, a), *lb = fdn_link_find(ls, b);
    if (!la || !lb)
        return FDN_LINK_EGONE;
    if (la == lb)
        return FDN_LINK_EINVAL;
    if (la->mate != lb) {
        fdn_link_unpair(la);
        fdn_link_unpair(lb);
        la->mate = lb;
        lb->mate = la;
    }
    la->lead = lb->lead = lead != 0;
    return 0;
}

/* What the reactor noticed since the last sweep (a frame in, one out) becomes times. */
static void settle(struct link *l, int64_t now)
{
    if (l->heard) {
        l->last_heard = now;
        l->heard = 0;
        l->ping_wait = 0;
    }
    if (l->sent) {
        l->last_sent = now;
        l->sent = 0;
    }
}

/* l's mate when it counts: open and ready (one still connecting proves nothing), settled. */
static struct link *live_mate(struct link *l, int64_t now)
{
    struct link *m = l->mate;
    if (!m || m->state != S_OPEN || !m->ready)
        return NULL;
    settle(m, now);
    return m;
}

/* At least ms passed since `since`, as the sweeps count it: they come at wall-clock multiples of
 * tick_ms but read the monotonic clock, a millisecond or so off either way, so a sweep that
 * lands a hair short of ms still counts (without that, a leader's ping due at one sweep slipped
 * to the next now and then, the very sweep the follower's came due at, and both pinged). */
static int elapsed(const struct fdn_links *ls, int64_t now, int64_t since, int64_t ms)
{
    return now - since + ls->tick_ms / 2 >= ms;
}

static void ping(struct fdn_links *ls, struct link *l, int64_t now)
{
    ls->st.pings_sent++;
    if (!l->ping_wait)
        l->ping_wait = now;
    if (fdn_link_queue(l, FDN_FRAME_PING, 0, ++l->ping_id, NULL, 0) == 0) {
        l->last_sent = now;
        l->sent = 0;
    }
}

/* An open, ready link: lost, pinged, or left alone. */
static void tick_live(struct fdn_links *ls, struct link *l, int64_t now)
{
    struct link *m = live_mate(l, now);
    int64_t heard = l->last_heard, sent = l->last_sent;
    if (m) {
        heard = heard > m->last_heard ? heard : m->last_heard;
        sent = sent > m->last_sent ? sent : m->last_sent;
    }
    if (now - heard >= ls->ping_timeout) {
        fdn_link_fail(l, FDN_LINK_R_PING_TIMEOUT, NULL); /* (its mate, as silent, goes too) */
    } else if (l->ping_wait && now - l->ping_wait >= ls->ping_timeout) {
        fdn_link_fail(l, FDN_LINK_R_PING_TIMEOUT, NULL); /* this link alone went mute */
    } else if (!m) {
        if (elapsed(ls, now, sent, ls->ping_interval))
            ping(ls, l, now);
    } else {
        /* the pair's ping, on the link heard from less recently, so that both get exercised;
         * the follower's two sweeps later than the leader's: its PONG to the leader's PING
         * counts as sent only at the sweep after, and must come first. And a probe of a link
         * not heard for a whole ping timeout while its mate keeps the pair busy. */
        int due =
            elapsed(ls, now, sent, ls->ping_interval + (l->lead ? 0 : 2 * ls->tick_ms)) &&
            (l->last_heard < m->last_heard || (l->last_heard == m->last_heard && l->id < m->id));
        int probe = elapsed(ls, now, l->last_sent, ls->ping_interval) &&
                    now - l->last_heard >= ls->ping_timeout;
        if (due || probe)
            ping(ls, l, now);
    }
}

static void tick_one(struct fdn_links *ls, struct link *l, int64_t now)
{
    settle(l, now);
    if (l->state == S_CONNECTING) {
        if (now >= l->deadline)
            fdn_link_fail(l, FDN_LINK_R_CONNECT_TIMEOUT, NULL);
    } else if (l->state != S_OPEN) {
        if (now >= l->deadline)
            fdn_link_free(l);
    } else if (!l->ready) {
        if (now >= l->deadline)
            fdn_link_fail(l, FDN_LINK_R_HANDSHAKE_TIMEOUT, NULL);
    } else {
        tick_live(ls, l, now);
    }
}

/* The sweep runs at wall-clock multiples of tick_ms, on every node alike: the pings and pongs
 * of all of a node's links then come in a few bursts a second, each one wake-up, instead of one
 * wake-up per link spread over the second (at 100 nodes, 200 links each: ~400 wake-ups/s). */
void fdn_links_arm_tick(struct fdn_links *ls)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t wall = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    int wait = ls->tick_ms - (int)(wall % ls->tick_ms);
    if (wait < ls->tick_ms / 4) /* woken a little early (a coarse clock): the next one */
        wait += ls->tick_ms;
    struct timeval tv = {wait / 1000, (wait % 1000) * 1000};
    event_add(ls->tick, &tv);
}

void fdn_links_tick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct fdn_links *ls = arg;
    (void)fd;
    (void)what;
    fdn_links_arm_tick(ls);
    int64_t now = fdn_now_ms();
    /* the reactor itself stalled (a long Lua handler): what peers sent meanwhile is still
     * unread, so their silence proves nothing; count it from now */
    int stalled = now - ls->last_tick > ls->ping_timeout / 2;
    ls->last_tick = now;
    if (ls->accept_resume && now >= ls->accept_resume) {
        ls->accept_resume = 0;
        if (ls->listener)
            evconnlistener_enable(ls->listener);
    }
    if (stalled)
        for (struct link *l = ls->all; l; l = l->next)
            l->heard = 1;
    for (struct link *l = ls->all, *next; l; l = next) {
        next = l->next; /* nothing here calls Lua, and only l can go (a mate is not freed) */
        tick_one(ls, l, now);
    }
}
