/*
 * poll.c - poll() over a compact pollfd array, one read per readiness.
 *
 * Every call copies the whole array into the kernel (8 bytes per fd); the
 * kernel calls each socket's ->poll(), hooking itself onto every wait queue,
 * sleeps until one fires or the timeout passes, then walks the array again
 * to unhook and copy revents back: O(registered fds) per call, idle ones
 * included. No FD_SETSIZE: nfds is capped only by RLIMIT_NOFILE (EINVAL
 * above it). Level-triggered, so one read per event loses nothing;
 * POLLERR/POLLHUP are always reported. Since Linux 2.1.23. Backpressure: a
 * connection with pending output asks for POLLOUT instead of POLLIN. Close
 * swaps the last entry into the hole, and dispatch walks the array
 * backwards, so the swapped entry has already been handled this round.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include "common.h"

/* Accepts per wake-up. One per event (as epoll_lt) would make a burst of
 * N connects cost N poll() calls of O(N) each; 64 amortises that. */
#define ACCEPT_BATCH 64

struct conn {
	struct outbuf out;      /* bytes the kernel would not take yet */
	int idx;                /* this fd's slot in pfds[] */
};

static struct conn *conns;  /* indexed by fd */
static struct pollfd *pfds; /* compact: pfds[0] is the listener */
static nfds_t npfds;
static char *buf;           /* one read buffer for all connections */

static void watch(int fd)
{
	conns[fd].idx = (int)npfds;
	pfds[npfds++] = (struct pollfd){ .fd = fd, .events = POLLIN, .revents = 0 };
}

static void conn_drop(int fd, int err)
{
	int i = conns[fd].idx;
	pfds[i] = pfds[--npfds];            /* swap-remove; a no-op for the last */
	conns[pfds[i].fd].idx = i;
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
		watch(fd);
	}
}

static void on_readable(int fd)
{
	if (echo_some(fd, &conns[fd].out, buf) == -1)
		return conn_drop(fd, errno);        /* errno 0: EOF, all echoed */
	if (outbuf_pending(&conns[fd].out))
		pfds[conns[fd].idx].events = POLLOUT;   /* stop reading until drained */
}

static void on_writable(int fd)
{
	int r = flush_pending(fd, &conns[fd].out);
	if (r == -1)
		return conn_drop(fd, errno);
	if (r == 1)
		pfds[conns[fd].idx].events = POLLIN;
}

int main(int argc, char **argv)
{
	parse_args(argc, argv, "poll", 0);
	setup_process();
	int limit = fd_limit();
	conns = calloc((size_t)limit, sizeof *conns);
	pfds = calloc((size_t)limit, sizeof *pfds);
	buf = malloc(cfg.bufsize);
	if (!conns || !pfds || !buf)
		die("calloc(%d conns)", limit);

	int lfd = listen_socket(0);
	watch(lfd);
	announce_ready(lfd);

	while (!stop) {
		SC(SC_WAIT);
		int n = poll(pfds, npfds, STOP_CHECK_MS);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			die("poll(%lu fds)", (unsigned long)npfds);
		}
		/* The listener first: new entries land at the end with revents 0,
		 * so the backward walk below never mistakes them for ready. */
		if (pfds[0].revents) {
			n--;
			on_accept(lfd);
		}
		for (long i = (long)npfds - 1; i >= 1 && n > 0; i--) {
			short e = pfds[i].revents;
			if (!e)
				continue;
			n--;
			int fd = pfds[i].fd;
			if (outbuf_pending(&conns[fd].out))
				on_writable(fd);            /* POLLOUT, or ERR/HUP: send() says which */
			else
				on_readable(fd);            /* POLLIN/ERR/HUP/NVAL: read() tells */
		}
	}
	print_stats();
	return 0;
}
