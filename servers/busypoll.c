/*
 * busypoll.c - no readiness API at all: try everything, over and over.
 *
 * The loop never sleeps. Each pass calls accept() on the nonblocking
 * listener and read() (or, with output pending, send()) on every live
 * connection; the kernel answers EAGAIN for nearly all of them. No wait
 * queue and no wake-up, so no scheduler latency; the price is a whole core
 * burnt BY DESIGN, even with no clients, and a full kernel entry and exit per
 * connection per pass (dearer with Spectre/Meltdown mitigations), so a pass
 * and the latency grow with the connection count. At EMFILE accept() fails
 * before it looks at the queue, so each pass goes through accept_client()'s
 * spare-descriptor drain: slower, still correct. Backpressure: a connection
 * with pending output is only sent to until it drains. Any kernel.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "common.h"

#define ACCEPT_BATCH 64     /* accepts per pass, so a connect storm cannot stall the echoes */

struct conn {
	struct outbuf out;      /* bytes the kernel would not take yet */
	int idx;                /* this fd's slot in live[] */
};

static struct conn *conns;  /* indexed by fd */
static int *live;           /* compact list of open connections */
static int nlive;
static char *buf;           /* one read buffer for all connections */

static void conn_drop(int fd, int err)
{
	int i = conns[fd].idx;
	live[i] = live[--nlive];            /* swap-remove; a no-op for the last */
	conns[live[i]].idx = i;
	conn_end(fd, &conns[fd].out, err);
}

static void on_accept(int lfd)
{
	for (int k = 0; k < ACCEPT_BATCH; k++) {
		int fd = accept_client(lfd, 0);
		if (fd == -1) {
			accept_failed();
			return;
		}
		conns[fd].idx = nlive;
		live[nlive++] = fd;
	}
}

static void on_readable(int fd)
{
	/* 0 (EAGAIN) is the usual answer; errno 0 with -1 is EOF, all echoed. */
	if (echo_some(fd, &conns[fd].out, buf) == -1)
		conn_drop(fd, errno);
}

static void on_writable(int fd)
{
	if (flush_pending(fd, &conns[fd].out) == -1)
		conn_drop(fd, errno);
}

int main(int argc, char **argv)
{
	parse_args(argc, argv, "busypoll", 0);
	setup_process();
	int limit = fd_limit();
	conns = calloc((size_t)limit, sizeof *conns);
	live = calloc((size_t)limit, sizeof *live);
	buf = malloc(cfg.bufsize);
	if (!conns || !live || !buf)
		die("calloc(%d conns)", limit);

	int lfd = listen_socket(0);
	announce_ready(lfd);

	/* No wait: the pass itself is the model. stop is checked every pass. */
	while (!stop) {
		on_accept(lfd);
		/* Backwards, so the entry swapped into a closed slot was already tried. */
		for (int i = nlive - 1; i >= 0; i--) {
			int fd = live[i];
			if (outbuf_pending(&conns[fd].out))
				on_writable(fd);
			else
				on_readable(fd);
		}
	}
	print_stats();
	return 0;
}
