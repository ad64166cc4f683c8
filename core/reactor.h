/* reactor.h: the node's event loop: libevent's, polling for a little while after a turn that
 * did work before it sleeps in epoll_wait. Under load the next frame is usually a few
 * microseconds away, and waking a sleeping process (in a VM, a halted vCPU) costs more than
 * that: at one call in flight, polling halves the round trip. The loop polls only after work
 * that came within 2 ms of the previous work (a burst): an idle or lightly used node sleeps at
 * once; a busy one pays at most spin_us of polling per burst. While a worker thread has a job
 * (SQLite, bcrypt) the loop does not poll: on a shared core the polling would take the time the
 * job needs (SQLite GETs pinned to one core went from 10k to 18k requests/s without it). */
#ifndef FDN_REACTOR_H
#define FDN_REACTOR_H

#include <stdint.h>

struct event_base;

/* Runs base until event_base_loopexit/loopbreak (or until it has no events). *turns is a
 * count the callbacks raise when they do work; after it moves, the loop polls (without
 * blocking) until spin_us pass with no more. spin_us 0: event_base_dispatch. */
void fdn_reactor_run(struct event_base *base, int spin_us, const volatile uint64_t *turns);

#endif
