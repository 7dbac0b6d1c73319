/*
 * libev.c - libev 4: an ev_io watcher per descriptor.
 *
 * ev_io_start() only records the change; the loop applies it (epoll_ctl) at
 * its next iteration, so setup runs one nonblocking iteration to make the
 * registration part of setup_ns. ev_run(EVRUN_ONCE) waits once and invokes
 * the pending watchers: epoll LT underneath, one token per callback.
 */
#include <ev.h>
#include <stdint.h>
#include <stdlib.h>

#include "dispatch.h"

static struct ev_loop *loop;
static ev_io *watchers;

static void on_read(struct ev_loop *l, ev_io *w, int revents)
{
	(void)l;
	(void)revents;
	exact_ready((int)(w - watchers));
}

static void setup(void)
{
	if (!(loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOENV)))
		fail("ev_loop_new failed");
	if (!(watchers = calloc((size_t)B.n, sizeof *watchers)))
		die("calloc(%d watchers)", B.n);
	for (int i = 0; i < B.n; i++) {
		ev_io_init(&watchers[i], on_read, B.rfd[i], EV_READ);
		ev_io_start(loop, &watchers[i]);
	}
	ev_run(loop, EVRUN_NOWAIT);
}

static void run(void)
{
	while (B.done < B.events)
		ev_run(loop, EVRUN_ONCE);
}

static const char *backend(void)
{
	switch (ev_backend(loop)) {
	case EVBACKEND_EPOLL: return "epoll";
	case EVBACKEND_LINUXAIO: return "linuxaio";
	case EVBACKEND_IOURING: return "iouring";
	case EVBACKEND_POLL: return "poll";
	case EVBACKEND_SELECT: return "select";
	default: return "other";
	}
}

const struct mech mech_libev = { .kind = KIND_EVENTFD,
	.setup = setup, .run = run, .backend = backend };
