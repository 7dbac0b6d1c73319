/*
 * epoll_et.c - edge-triggered epoll, bounded drains, a "still ready" list.
 *
 * With EPOLLET the kernel reports a socket when its wake-up callback fires
 * (data arrived, send space freed, FIN, RST), then takes it off the ready
 * list: epoll_wait() will NOT report it again for bytes already queued. So a
 * reader must read until EAGAIN before it may wait on that fd again, or the
 * rest sits unread forever (epoll(7)); the same holds for accept(). Like LT
 * epoll, a call costs O(ready), not O(registered). Since Linux 2.5.44.
 *
 * Registration: EPOLLIN|EPOLLOUT|EPOLLET once, at accept, and never an
 * epoll_ctl(MOD) again: an edge-triggered EPOLLOUT is reported only when send
 * space is freed, so it costs nothing while we are not writing, and it is
 * exactly the wake-up a connection with pending output waits for. (With LT,
 * an always-on EPOLLOUT would report every idle socket on every call; that is
 * why epoll_lt switches with MOD.) Events carry the socket's full current
 * mask, so a read event usually shows EPOLLOUT too; it is ignored unless
 * output is pending.
 *
 * Fairness: draining to EAGAIN lets one fast sender starve the rest, so a
 * drain stops after cfg.drain reads (--drain, 16; accepts likewise). A
 * connection stopped by the bound has had no EAGAIN, so no new edge will
 * come for it: it goes on a "still ready" list that the loop serves after
 * the next epoll_wait(), which then uses timeout 0 so the list is not delayed.
 *
 * Backpressure: while output is pending we stop reading but remember that
 * input may remain (c->more); the EPOLLOUT edge that drains the output
 * resumes the reading. Forgetting that is the classic ET hang.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "common.h"

#define MAX_EVENTS 1024      /* per epoll_wait; more just wait for the next call */

struct conn {
	struct outbuf out;      /* bytes the kernel would not take yet */
	unsigned char more;     /* input edge seen, EAGAIN not yet: may hold data */
	unsigned char queued;   /* on the ready list (entry may outlive the conn) */
};

static struct conn *conns;  /* indexed by fd; conns[lfd] is the listener */
static int *ready, *todo;   /* still-ready fds: filling, and being served */
static int nready;
static char *buf;
static int epfd;

static void enqueue(int fd)
{
	if (!conns[fd].queued) {
		conns[fd].queued = 1;
		ready[nready++] = fd;       /* each fd once: fd_limit() slots suffice */
	}
}

static void conn_drop(int fd, int err)
{
	if (err)
		conn_error(err);
	outbuf_free(&conns[fd].out);
	conns[fd].more = 0;             /* a stale list entry then does nothing */
	conn_close_fd(fd);              /* close() also removes fd from the interest list */
}

static void on_accept(int lfd)
{
	for (unsigned k = 0; k < cfg.drain; k++) {
		int fd = accept_client(lfd, 0);
		if (fd == -1) {
			if (errno == EAGAIN)
				return;             /* drained: the next connect is a new edge */
			if (errno != EINTR)
				warnx_("accept: %s", strerror(errno));
			break;                  /* not drained: retry after the next wait */
		}
		conns[fd].more = 0;
		struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLET, .data.fd = fd };
		SC(SC_CTL);
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) == -1)
			die("epoll_ctl(ADD, fd %d)", fd);
		/* ADD polls the socket once: bytes that came before it are reported. */
	}
	enqueue(lfd);
}

static void on_readable(int fd)
{
	struct conn *c = &conns[fd];
	for (unsigned k = 0; k < cfg.drain; k++) {
		if (outbuf_pending(&c->out))
			return;                 /* the EPOLLOUT edge resumes us; more stays set */
		ssize_t n = echo_some(fd, &c->out, buf);
		if (n == -1)
			return conn_drop(fd, errno);    /* errno 0: EOF, all echoed */
		if (n == 0) {
			c->more = 0;            /* drained: the next byte is a new edge */
			return;
		}
	}
	if (!outbuf_pending(&c->out))
		enqueue(fd);                /* hit the bound: finish after the next wait */
}

static void on_event(int fd, uint32_t e)
{
	struct conn *c = &conns[fd];
	if (e & (EPOLLIN | EPOLLERR | EPOLLHUP))
		c->more = 1;                /* read() will return data, EOF or the error */
	if (outbuf_pending(&c->out)) {
		if (!(e & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;                 /* still no room: wait for the EPOLLOUT edge */
		int r = flush_pending(fd, &c->out);
		if (r == -1)
			return conn_drop(fd, errno);
		if (r == 0)
			return;
	}
	if (c->more)
		on_readable(fd);
}

int main(int argc, char **argv)
{
	parse_args(argc, argv, "epoll_et", OPT_DRAIN);
	setup_process();
	int limit = fd_limit();
	conns = calloc((size_t)limit, sizeof *conns);
	ready = calloc((size_t)limit, sizeof *ready);
	todo = calloc((size_t)limit, sizeof *todo);
	buf = malloc(cfg.bufsize);
	if (!conns || !ready || !todo || !buf)
		die("calloc(%d conns)", limit);

	int lfd = listen_socket(0);
	if ((epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		die("epoll_create1");
	struct epoll_event lev = { .events = EPOLLIN | EPOLLET, .data.fd = lfd };
	SC(SC_CTL);
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &lev) == -1)
		die("epoll_ctl(ADD, listener %d)", lfd);
	announce_ready(lfd);

	struct epoll_event evs[MAX_EVENTS];
	while (!stop) {
		SC(SC_WAIT);
		int n = epoll_wait(epfd, evs, MAX_EVENTS, nready ? 0 : STOP_CHECK_MS);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			die("epoll_wait");
		}
		/* Last round's leftovers are served after this round's new edges,
		 * so a connection at the bound queues behind the others. */
		int *t = todo, ntodo = nready;
		todo = ready;
		ready = t;
		nready = 0;
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == lfd)
				on_accept(lfd);
			else
				on_event(fd, evs[i].events);
		}
		for (int i = 0; i < ntodo; i++) {
			int fd = todo[i];
			conns[fd].queued = 0;
			if (fd == lfd)
				on_accept(lfd);
			else if (conns[fd].more && !outbuf_pending(&conns[fd].out))
				on_readable(fd);
		}
	}
	print_stats();
	return 0;
}
