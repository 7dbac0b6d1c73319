/*
 * libev.c - libev's ev_io watchers on its epoll backend; we do the I/O.
 *
 * libev only tells us when a descriptor is ready: the read(), send() and
 * accept4() are ours (conn_read/conn_write/accept_client count them), so the
 * row measures the library's loop, not a buffering layer. Underneath, on
 * Linux, ev_run() is: prepare watchers, fd_reify() (apply the fd change list),
 * one epoll_wait() (level-triggered), queue the ready watchers, call them.
 *
 * Why ev_default_loop(EVBACKEND_EPOLL | EVFLAG_NOENV): left to itself libev
 * picks from its recommended backends and obeys $LIBEV_FLAGS, so the row
 * could silently become select() (FD_SETSIZE 1024 caps it), poll() (O(n) per
 * wait) or, in 4.33, the Linux AIO / io_uring backends if someone enables
 * them. Naming epoll makes this row libev-over-epoll, comparable to epoll_lt.
 *
 * What libev adds over raw epoll:
 *   - The fd change list: ev_io_stop/ev_io_set/ev_io_start only record the
 *     new mask; fd_reify() calls epoll_ctl() once per changed fd before the
 *     next wait, and skips it when the mask the kernel has is unchanged.
 *     So switching a connection EV_READ -> EV_WRITE -> EV_READ costs the same
 *     two EPOLL_CTL_MODs as epoll_lt, one loop iteration later.
 *   - libev never calls EPOLL_CTL_DEL: close() removes the fd from the kernel
 *     set; a reused fd number gets MOD, ENOENT, then ADD. It keeps a
 *     generation counter per fd to drop events that belong to an earlier
 *     owner of the number (the epoll "dup'd fd" trap).
 *   - One indirect call per ready watcher, a pending queue, and ev_now()
 *     time updates (clock_gettime via the vDSO: no system call).
 * Counters: read/write/accept/close are exact (our calls); "wait" counts
 * loop iterations from an ev_prepare watcher, and libev makes exactly one
 * epoll_wait per iteration. "ctl" stays 0: libev decides when to call
 * epoll_ctl and gives no hook for it. strace -c -f, 50 ping-pong
 * connections of 64 B: 2.05 system calls per echo (read, send, a shared
 * epoll_wait, no epoll_ctl while no write is short), the same as epoll_lt.
 * SIGTERM/SIGINT: an ev_signal watcher (libev's own handler writes to an
 * eventfd the loop polls) breaks the loop at once. Needs libev >= 4.0.
 */
#include <errno.h>
#include <ev.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

struct conn {
	ev_io w;                /* watching EV_READ, or EV_WRITE while out is pending */
	struct outbuf out;      /* bytes the kernel would not take yet */
};

static struct conn *conns;  /* indexed by fd, as UNP's client[] */
static char *buf;           /* one read buffer for all connections */

static void on_conn(struct ev_loop *loop, ev_io *w, int revents);

/* Stop, retarget, restart: libev only records the change here. */
static void watch(struct ev_loop *loop, int fd, int events)
{
	ev_io *w = &conns[fd].w;
	ev_io_stop(loop, w);
	ev_io_set(w, fd, events);
	ev_io_start(loop, w);
}

static void conn_drop(struct ev_loop *loop, int fd, int err)
{
	if (err)
		conn_error(err);
	ev_io_stop(loop, &conns[fd].w);   /* before close: the number may be reused */
	outbuf_free(&conns[fd].out);
	conn_close_fd(fd);
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)revents;
	int fd = accept_client(w->fd, 0);   /* one per event: LT reports it again */
	if (fd == -1) {
		if (errno != EAGAIN && errno != EINTR)
			warnx_("accept: %s", strerror(errno));
		return;
	}
	ev_io_init(&conns[fd].w, on_conn, fd, EV_READ);
	ev_io_start(loop, &conns[fd].w);
}

static void on_readable(struct ev_loop *loop, int fd)
{
	if (echo_some(fd, &conns[fd].out, buf) == -1)
		return conn_drop(loop, fd, errno);  /* errno 0: EOF, all echoed */
	if (outbuf_pending(&conns[fd].out))
		watch(loop, fd, EV_WRITE);          /* stop reading until drained */
}

static void on_writable(struct ev_loop *loop, int fd)
{
	int r = flush_pending(fd, &conns[fd].out);
	if (r == -1)
		return conn_drop(loop, fd, errno);
	if (r == 1)
		watch(loop, fd, EV_READ);
}

static void on_conn(struct ev_loop *loop, ev_io *w, int revents)
{
	if (revents & EV_ERROR)             /* libev could not watch this fd */
		return conn_drop(loop, w->fd, EBADF);
	if (outbuf_pending(&conns[w->fd].out))
		on_writable(loop, w->fd);
	else
		on_readable(loop, w->fd);
}

static void on_prepare(struct ev_loop *loop, ev_prepare *w, int revents)
{
	(void)loop; (void)w; (void)revents;
	SC(SC_WAIT);                        /* ev_run calls epoll_wait right after */
}

static void on_stop_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)loop; (void)w; (void)revents;
	stop = 1;                           /* ends the EVRUN_ONCE loop in main */
}

int main(int argc, char **argv)
{
	parse_args(argc, argv, "libev", 0);
	setup_process();
	conns = calloc((size_t)fd_limit(), sizeof *conns);
	buf = malloc(cfg.bufsize);
	if (!conns || !buf)
		die("calloc(%d conns)", fd_limit());

	struct ev_loop *loop = ev_default_loop(EVBACKEND_EPOLL | EVFLAG_NOENV);
	if (!loop)
		die("ev_default_loop(EVBACKEND_EPOLL): libev built without epoll?");

	/* libev's handlers replace setup_process()'s for these two signals. */
	ev_signal sigterm, sigint;
	ev_signal_init(&sigterm, on_stop_signal, SIGTERM);
	ev_signal_init(&sigint, on_stop_signal, SIGINT);
	ev_signal_start(loop, &sigterm);
	ev_signal_start(loop, &sigint);
	ev_prepare prep;
	ev_prepare_init(&prep, on_prepare);
	ev_prepare_start(loop, &prep);

	int lfd = listen_socket(0);
	ev_io lw;
	ev_io_init(&lw, on_accept, lfd, EV_READ);
	ev_io_start(loop, &lw);
	announce_ready(lfd);

	/* The loop: each EVRUN_ONCE is one fd_reify + epoll_wait + dispatch.
	 * `stop` is also set by setup_process()'s handler if a signal came
	 * before ev_signal_start replaced it. */
	while (!stop)
		ev_run(loop, EVRUN_ONCE);
	print_stats();
	return 0;
}
