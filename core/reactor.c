/* reactor.c: the event loop that polls before it sleeps (see reactor.h). */
#include "reactor.h"

#include <event2/event.h>

#include "util.h"
#include "worker.h"

static int64_t now_us(void)
{
    return (int64_t)(fdn_now_ns() / 1000u);
}

static int loop_over(struct event_base *base, int r)
{
    return r != 0 || event_base_got_exit(base) || event_base_got_break(base);
}

/* Work that comes this soon after the last work is a burst, worth polling for; sparser work
 * (an idle cluster's beacons and service-table news, a request now and then) sleeps at once. */
#define DENSE_US 2000

void fdn_reactor_run(struct event_base *base, int spin_us, const volatile uint64_t *turns)
{
    if (spin_us <= 0) {
        event_base_dispatch(base);
        return;
    }
    uint64_t seen = *turns;
    int64_t last_work = 0;
    for (;;) {
        if (loop_over(base, event_base_loop(base, EVLOOP_ONCE)))
            return;
        if (*turns == seen)
            continue; /* woken for the C side alone (pings, a link's output): sleep again */
        seen = *turns;
        int64_t now = now_us(), gap = now - last_work;
        last_work = now;
        if (gap > DENSE_US)
            continue;
        int64_t end = now + spin_us;
        while (now_us() < end && !fdn_workers_busy()) {
            if (loop_over(base, event_base_loop(base, EVLOOP_NONBLOCK)))
                return;
            if (*turns != seen) {
                seen = *turns;
                last_work = now_us();
                end = last_work + spin_us;
            }
        }
    }
}
