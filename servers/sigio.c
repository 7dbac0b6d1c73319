/*
 * sigio.c - signal-driven I/O: O_ASYNC + F_SETOWN, one plain SIGIO for all.
 *
 * With O_ASYNC set and an owner given by F_SETOWN, a socket's wake-up
 * callbacks (data or a FIN arrived, a connection queued on the listener,
 * send space freed after a send hit a full buffer) call kill_fasync(), which
 * sends SIGIO to the owner. SIGIO is a standard signal: while one is pending
 * the next ones merge into it, and its siginfo names no fd. So a signal only
 * says "something changed somewhere": after each one the loop accepts until
 * EAGAIN and tries a nonblocking read() on EVERY connection. That is
 * O(connections) system calls per wake-up: at 10,000 connections, 10,000
 * reads (almost all EAGAIN) to find the one socket that woke us.
 *
 * SIGIO stays blocked and is taken synchronously with sigtimedwait(), so no
 * I/O runs in a signal handler (only async-signal-safe calls may, and they
 * would race with the loop). A SIGIO raised during a scan stays pending and
 * ends the next wait at once: merged, never lost. But the signal is
 * edge-like, sent when data ARRIVES, so each connection is read until
 * EAGAIN (bounded by --drain; past the bound the loop rescans at once): a
 * short read is no proof of an empty socket, since a FIN that came with the
 * data merged its signal into the data's. As a safety net the loop also
 * rescans when the wait times out (STOP_CHECK_MS): 5 reads per idle
 * connection per second, 50,000 EAGAINs a second at 10,000 idle connections.
 *
 * Traps: set the owner (F_SETOWN) before O_ASYNC or the first signals go
 * nowhere; bytes that arrive between accept() and O_ASYNC raise no signal,
 * so a fresh connection is read in the same scan. SIGTERM/SIGINT are in the
 * same wait set. Available since Linux 1.x (4.2BSD's design).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define ACCEPT_BATCH 256     /* per scan; the rest waits one rescan, not a signal */

struct conn {
	struct outbuf out;      /* bytes the kernel would not take yet */
	int idx;                /* position in live[]; -1 = not open */
};

static struct conn *conns;  /* indexed by fd */
static int *live;           /* open connection fds, unordered: the scan list */
static int nlive;
static char *buf;           /* one read buffer for all connections */
static pid_t self;

/* Owner first, then O_ASYNC: from here on the socket signals us. */
static int arm_async(int fd)
{
	SC(SC_CTL);
	if (fcntl(fd, F_SETOWN, self) == -1)
		return -1;
	SC(SC_CTL);
	return fcntl(fd, F_SETFL, O_NONBLOCK | O_ASYNC);
}

static void conn_drop(int fd, int err)
{
	if (err)
		conn_error(err);
	outbuf_free(&conns[fd].out);
	int i = conns[fd].idx;
	live[i] = live[--nlive];    /* swap the last one into the hole */
	conns[live[i]].idx = i;
	conns[fd].idx = -1;
	conn_close_fd(fd);          /* close() also drops the fasync entry */
}

/* Accept until EAGAIN (or a batch); returns 1 if the batch ran out. */
static int on_accept(int lfd)
{
	for (int k = 0; k < ACCEPT_BATCH; k++) {
		int fd = accept_client(lfd, 0);
		if (fd == -1) {
			if (errno != EAGAIN && errno != EINTR)
				warnx_("accept: %s", strerror(errno));
			return 0;
		}
		if (arm_async(fd) == -1) {
			conn_error(errno);
			conn_close_fd(fd);
			continue;
		}
		conns[fd].idx = nlive;
		live[nlive++] = fd;
	}
	return 1;
}

/* Serve one connection: -1 closed, 0 done, 1 bytes may be left (--drain).
 * Reads until EAGAIN, not just until a short read: a segment carrying data
 * and a FIN raises two SIGIOs that merge into one, and the read that returns
 * the data leaves the EOF behind with no signal to come for it. */
static int service(int fd)
{
	struct conn *c = &conns[fd];
	if (outbuf_pending(&c->out)) {
		int r = flush_pending(fd, &c->out);
		if (r == -1)
			return conn_drop(fd, errno), -1;
		if (r == 0)
			return 0;           /* still full: a POLL_OUT SIGIO will come */
	}                               /* drained: read what queued meanwhile */
	for (unsigned i = 0; i < cfg.drain; i++) {
		ssize_t n = echo_some(fd, &c->out, buf);
		if (n == -1)
			return conn_drop(fd, errno), -1;    /* errno 0: EOF, nothing pending */
		if (n == 0)
			return 0;
		if (outbuf_pending(&c->out))
			return 0;           /* backpressure: no reads until drained */
	}
	return 1;                       /* bound hit: rescan without sleeping */
}

/* Try every connection once; returns 1 if some may have bytes left. */
static int scan(void)
{
	int more = 0;
	for (int i = 0; i < nlive;) {
		int r = service(live[i]);
		if (r == -1)
			continue;           /* live[i] is now another connection */
		more |= r;
		i++;
	}
	return more;
}

int main(int argc, char **argv)
{
	parse_args(argc, argv, "sigio", OPT_DRAIN);
	setup_process();
	int limit = fd_limit();
	conns = calloc((size_t)limit, sizeof *conns);
	live = calloc((size_t)limit, sizeof *live);
	buf = malloc(cfg.bufsize);
	if (!conns || !live || !buf)
		die("calloc(%d conns)", limit);
	for (int i = 0; i < limit; i++)
		conns[i].idx = -1;
	self = getpid();

	/* Blocked before any socket can signal: taken only by sigtimedwait. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGIO);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (sigprocmask(SIG_BLOCK, &set, NULL))
		die("sigprocmask");

	int lfd = listen_socket(0);
	if (arm_async(lfd) == -1)
		die("fcntl(listener %d, F_SETOWN/O_ASYNC)", lfd);
	announce_ready(lfd);

	int more = 0;
	while (!stop) {
		struct timespec ts = { 0, more ? 0 : STOP_CHECK_MS * 1000000L };
		siginfo_t si;
		SC(SC_SIGWAIT);
		int sig = sigtimedwait(&set, &si, &ts);
		if (sig == SIGTERM || sig == SIGINT)
			break;
		if (sig == -1 && errno != EAGAIN && errno != EINTR)
			die("sigtimedwait");
		/* SIGIO or a timeout: either way, look at everything. */
		more = on_accept(lfd);
		more |= scan();
	}
	print_stats();
	return 0;
}
