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

void fdn_reactor_run(struct event_base *base, int spin_us, const volatile uint64_t *turns)
{
    if (spin_us <= 0) {
        event_base_dispatch(base);
        return;
    }
    for (;;) {
        uint64_t seen = *turns;
        int64_t end = now_us() + spin_us;
        while (now_us() < end && !fdn_workers_busy()) {
            if (loop_over(base, event_base_loop(base, EVLOOP_NONBLOCK)))
                return;
            if (*turns != seen) {
                seen = *turns;
                end = now_us() + spin_us;
            }
        }
        if (loop_over(base, event_base_loop(base, EVLOOP_ONCE)))
            return;
    }
}
