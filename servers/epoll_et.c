/*
 * epoll_et.c - edge-triggered epoll, bounded drains, a "still ready" list.
 *
 * With EPOLLET the kernel reports a socket when its wake-up callback fires
 * (data, send space after a full buffer, FIN, RST) and then forgets it:
 * bytes already queued raise no new event (epoll(7)). So a reader stops only
 * when it knows the queue is empty: at EAGAIN, or after a short read (any
 * byte that arrives later raises a new edge), unless EPOLLRDHUP, EPOLLHUP or
 * EPOLLERR says an EOF or error is waiting, which raises no edge of its own.
 * A drain stops after --drain full reads so one sender cannot starve the
 * rest; such a connection goes on a "still ready" list served after the next
 * epoll_wait (timeout 0). Registered once, EPOLLIN|EPOLLOUT|EPOLLRDHUP|
 * EPOLLET: an ET EPOLLOUT fires only when send space frees after a full
 * buffer, exactly what pending output waits for, so no epoll_ctl per echo.
 * O(ready) like LT epoll. EPOLLRDHUP since Linux 2.6.17.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "common.h"

#define MAX_EVENTS 1024      /* per epoll_wait; more just wait for the next call */

struct conn {
	struct outbuf out;      /* bytes the kernel would not take yet */
	unsigned char more;     /* input edge seen, queue not known empty: may hold data */
	unsigned char eof;      /* ET_EOF_EVENTS seen: read on to the EOF or error */
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
	conns[fd].more = conns[fd].eof = 0;   /* a stale list entry then does nothing */
	conn_end(fd, &conns[fd].out, err);
}

static void on_accept(int lfd)
{
	for (unsigned k = 0; k < cfg.drain; k++) {
		int fd = accept_client(lfd, 0);
		if (fd == -1) {
			if (errno == EAGAIN)
				return;             /* drained: the next connect is a new edge */
			accept_failed();
			break;                  /* not drained: retry after the next wait */
		}
		conns[fd].more = conns[fd].eof = 0;
		struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
					  .data.fd = fd };
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
		if (n == 0 || read_was_short(n, c->eof)) {
			c->more = 0;            /* EAGAIN or a short read: the next byte is a new edge */
			return;
		}
	}
	if (!outbuf_pending(&c->out))
		enqueue(fd);                /* hit the bound: finish after the next wait */
}

/* Backpressure: while output is pending nothing is read, but `more` keeps
 * what the input edges said; the EPOLLOUT edge that drains the output
 * resumes the reading (forgetting that is the classic ET hang). */
static void on_event(int fd, uint32_t e)
{
	struct conn *c = &conns[fd];
	if (e & (EPOLLIN | ET_EOF_EVENTS))
		c->more = 1;                /* read() will return data, EOF or the error */
	if (e & ET_EOF_EVENTS)
		c->eof = 1;                 /* no edge will come for it: read to the end */
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
