/*
 * libevent.c - libevent 2.1: a persistent EV_READ event per descriptor.
 *
 * event_add() registers with the backend at once (epoll_ctl on Linux, no
 * changelist by default); event_base_loop(EVLOOP_ONCE) waits once and runs
 * the callbacks of what was ready: epoll LT underneath, so one token per
 * callback. This is Provos's own benchmark's shape (test/bench.c).
 * Linked before libev, which exports a libevent emulation under the same
 * symbol names: the first library in the link order wins them.
 */
#include <event2/event.h>
#include <stdint.h>
#include <stdlib.h>

#include "dispatch.h"

static struct event_base *base;

static void on_read(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	exact_ready((int)(intptr_t)arg);
}

static void setup(void)
{
	if (!(base = event_base_new()))
		fail("event_base_new failed");
	for (int i = 0; i < B.n; i++) {
		struct event *ev = event_new(base, B.rfd[i], EV_READ | EV_PERSIST, on_read,
					     (void *)(intptr_t)i);
		if (!ev || event_add(ev, NULL))
			fail("event_new/event_add(slot %d, fd %d) failed", i, B.rfd[i]);
	}
	event_base_loop(base, EVLOOP_NONBLOCK);
}

static void run(void)
{
	while (B.done < B.events)
		if (event_base_loop(base, EVLOOP_ONCE) == -1)
			fail("event_base_loop failed");
}

static const char *backend(void) { return event_base_get_method(base); }

const struct mech mech_libevent = { .kind = KIND_EVENTFD,
	.setup = setup, .run = run, .backend = backend };
