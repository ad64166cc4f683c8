/* bev_write.h: one way to write a loop turn's output (links, the gateway's answers): straight
 * to the socket when the bufferevent has nothing queued before it, so that its write event is
 * armed only for what the socket does not take. */
#ifndef FDN_BEV_WRITE_H
#define FDN_BEV_WRITE_H

#include <event2/buffer.h>
#include <event2/bufferevent.h>

/* Moves src out through bev: written to the socket now (at most max bytes; -1: all) when bev's
 * output is empty and direct is set, and what is left appended to bev's output, whose write
 * event sends it (and meets any error). 1 when src all went to the socket now. */
static inline int fdn_bev_write_through(struct bufferevent *bev, struct evbuffer *src,
                                        ev_ssize_t max, int direct)
{
    struct evbuffer *out = bufferevent_get_output(bev);
    if (direct && evbuffer_get_length(out) == 0)
        evbuffer_write_atmost(src, bufferevent_getfd(bev), max);
    if (evbuffer_get_length(src) == 0)
        return 1;
    evbuffer_add_buffer(out, src);
    return 0;
}

#endif
