/*
 * libuv.c - libuv 1.x: a uv_poll_t handle per descriptor.
 *
 * uv_poll_init() checks the descriptor by adding it to the loop's epoll set
 * and removing it again, and sets O_NONBLOCK (a fcntl); uv_poll_start()
 * queues the watcher, registered (epoll_ctl) at the loop's next iteration,
 * which setup runs nonblocking. uv_run(UV_RUN_ONCE) waits once and runs the
 * callbacks: epoll LT underneath, one token per callback.
 */
#include <stdint.h>
#include <stdlib.h>
#include <uv.h>

#include "dispatch.h"

static uv_loop_t loop;
static uv_poll_t *handles;

static void on_read(uv_poll_t *h, int status, int events)
{
	(void)events;
	if (status < 0)
		fail("uv_poll on slot %d: %s", (int)(h - handles), uv_strerror(status));
	exact_ready((int)(h - handles));
}

static void setup(void)
{
	int r = uv_loop_init(&loop);
	if (r)
		fail("uv_loop_init: %s", uv_strerror(r));
	if (!(handles = calloc((size_t)B.n, sizeof *handles)))
		die("calloc(%d handles)", B.n);
	for (int i = 0; i < B.n; i++)
		if ((r = uv_poll_init(&loop, &handles[i], B.rfd[i])) ||
		    (r = uv_poll_start(&handles[i], UV_READABLE, on_read)))
			fail("uv_poll_init/start(slot %d, fd %d): %s", i, B.rfd[i], uv_strerror(r));
	uv_run(&loop, UV_RUN_NOWAIT);
}

static void run(void)
{
	while (B.done < B.events)
		uv_run(&loop, UV_RUN_ONCE);
}

static const char *backend(void) { return "epoll"; }

const struct mech mech_libuv = { .kind = KIND_EVENTFD,
	.setup = setup, .run = run, .backend = backend };
