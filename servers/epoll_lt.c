/*
 * epoll_lt.c - level-triggered epoll, one read per readiness event.
 *
 * The kernel keeps an interest list (a red-black tree, changed only by
 * epoll_ctl) and a ready list filled by the sockets' wake-up callbacks, so
 * epoll_wait() costs O(ready), not O(registered): idle connections cost
 * nothing per call. Level-triggered: after each epoll_wait the kernel polls
 * a reported socket again and keeps it on the ready list while it is still
 * readable, so one read per event loses nothing. Since Linux 2.5.44.
 *
 * Backpressure: when a reply does not fit in the socket buffer, the rest is
 * kept and the interest switches from EPOLLIN to EPOLLOUT (EPOLL_CTL_MOD):
 * nothing more is read until the client takes what it was sent.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "common.h"

#define MAX_EVENTS 1024      /* per epoll_wait; more just wait for the next call */

struct conn {
	struct outbuf out;      /* bytes the kernel would not take yet */
};

static struct conn *conns;  /* indexed by fd, as UNP's client[] */
static char *buf;           /* one read buffer for all connections */
static int epfd;

static void arm(int fd, int op, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.fd = fd };
	SC(SC_CTL);
	if (epoll_ctl(epfd, op, fd, &ev) == -1)
		die("epoll_ctl(%d, fd %d)", op, fd);
}

static void on_accept(int lfd)
{
	int fd = accept_client(lfd, 0);   /* one per event: LT reports it again */
	if (fd == -1) {
		accept_failed();
		return;
	}
	arm(fd, EPOLL_CTL_ADD, EPOLLIN);
}

static void on_readable(int fd)
{
	if (echo_some(fd, &conns[fd].out, buf) == -1)
		return conn_end(fd, &conns[fd].out, errno);  /* errno 0: EOF, all echoed */
	if (outbuf_pending(&conns[fd].out))
		arm(fd, EPOLL_CTL_MOD, EPOLLOUT);   /* stop reading until drained */
}

static void on_writable(int fd)
{
	int r = flush_pending(fd, &conns[fd].out);
	if (r == -1)
		return conn_end(fd, &conns[fd].out, errno);
	if (r == 1)
		arm(fd, EPOLL_CTL_MOD, EPOLLIN);
}

int main(int argc, char **argv)
{
	parse_args(argc, argv, "epoll_lt", 0);
	setup_process();
	conns = calloc((size_t)fd_limit(), sizeof *conns);
	buf = malloc(cfg.bufsize);
	if (!conns || !buf)
		die("calloc(%d conns)", fd_limit());

	int lfd = listen_socket(0);
	if ((epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		die("epoll_create1");
	arm(lfd, EPOLL_CTL_ADD, EPOLLIN);
	announce_ready(lfd);

	struct epoll_event evs[MAX_EVENTS];
	while (!stop) {
		SC(SC_WAIT);
		int n = epoll_wait(epfd, evs, MAX_EVENTS, STOP_CHECK_MS);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			die("epoll_wait");
		}
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			uint32_t e = evs[i].events;
			if (fd == lfd)
				on_accept(lfd);
			else if (outbuf_pending(&conns[fd].out))
				on_writable(fd);            /* EPOLLOUT, or ERR/HUP: send() says which */
			else if (e & (EPOLLIN | EPOLLERR | EPOLLHUP))
				on_readable(fd);            /* read() reports the error or EOF */
		}
	}
	print_stats();
	return 0;
}
