/*
 * busypoll.c - no readiness API at all: try everything, over and over.
 *
 * The loop never sleeps. Each pass calls accept() on the nonblocking
 * listener and read() (or, with output pending, send()) on every live
 * connection; the kernel answers EAGAIN for nearly all of them. There is no
 * wait queue and no wake-up, so no scheduler latency: data is picked up
 * within one pass. The price: THIS SERVER BURNS A WHOLE CORE BY DESIGN, even
 * with no clients, and every pass costs one system call per connection
 * (a read() that says EAGAIN takes ~0.28 us of CPU here), so at 10,000
 * connections a pass takes ~3 ms and latency grows with the connection
 * count. It is the baseline that shows what every readiness API saves.
 * Works on any kernel; the cost rises with Spectre/Meltdown mitigations
 * (every EAGAIN is a full kernel entry and exit).
 *
 * Trap: at EMFILE, accept() fails before even looking at the queue, so each
 * pass goes through accept_client()'s spare-descriptor dance (close, accept,
 * open): slower, but still correct and no crash.
 *
 * Backpressure: a connection with pending output is only sent to, never read
 * from, until it drains. Live fds are kept in a compact array (swap-remove
 * on close) so a pass touches only open descriptors.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
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
	if (err)
		conn_error(err);
	int i = conns[fd].idx;
	live[i] = live[--nlive];            /* swap-remove; a no-op for the last */
	conns[live[i]].idx = i;
	outbuf_free(&conns[fd].out);
	conn_close_fd(fd);
}

static void on_accept(int lfd)
{
	for (int k = 0; k < ACCEPT_BATCH; k++) {
		int fd = accept_client(lfd, 0);
		if (fd == -1) {
			if (errno != EAGAIN && errno != EINTR)
				warnx_("accept: %s", strerror(errno));
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
