/*
 * libev.c - libev's ev_io watchers on its epoll backend; we do the I/O.
 *
 * libev only says when a descriptor is ready: read(), send() and accept4()
 * are ours, so the row measures the library's loop, not a buffering layer.
 * On Linux one ev_run(EVRUN_ONCE) is: prepare watchers, fd_reify() (one
 * epoll_ctl per fd whose mask changed since the last wait, none if it did
 * not), one level-triggered epoll_wait(), then a callback per ready watcher.
 * EVBACKEND_EPOLL|EVFLAG_NOENV: left to itself libev picks a backend and
 * obeys $LIBEV_FLAGS (select, poll, or 4.33's linuxaio/io_uring). libev never
 * calls EPOLL_CTL_DEL (close() does it) and keeps a generation per fd against
 * events of an earlier owner of the number. Counters: read/write/accept/close
 * are ours; "wait" counts loop iterations (one epoll_wait each) from an
 * ev_prepare watcher; "ctl" stays 0: libev has no hook around epoll_ctl.
 * Needs libev >= 4.0.
 */
#include <errno.h>
#include <ev.h>
#include <stdlib.h>
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
	ev_io_stop(loop, &conns[fd].w);   /* before close: the number may be reused */
	conn_end(fd, &conns[fd].out, err);
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)revents;
	int fd = accept_client(w->fd, 0);   /* one per event: LT reports it again */
	if (fd == -1) {
		accept_failed();
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
