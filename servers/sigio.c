/*
 * sigio.c - signal-driven I/O: O_ASYNC + F_SETOWN, one plain SIGIO for all.
 *
 * With O_ASYNC and an owner (F_SETOWN), a socket's wake-ups (data or a FIN
 * arrived, a connection queued, send space freed after a full buffer) call
 * kill_fasync(), which sends SIGIO. SIGIO is a standard signal: while one is
 * pending the next ones merge into it, and it names no fd. So each signal
 * only says "something changed somewhere", and the loop accepts and tries a
 * nonblocking read() on EVERY connection: O(connections) system calls per
 * wake-up, nearly all EAGAIN. SIGIO stays blocked and is taken with
 * sigtimedwait(), so no I/O runs in a handler; a signal raised during a scan
 * stays pending and ends the next wait at once. Set the owner before O_ASYNC,
 * or the first signals go nowhere; bytes that arrive before O_ASYNC raise no
 * signal. Since Linux 1.x (4.2BSD's design).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
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
	int i = conns[fd].idx;
	live[i] = live[--nlive];    /* swap the last one into the hole */
	conns[live[i]].idx = i;
	conns[fd].idx = -1;
	conn_end(fd, &conns[fd].out, err);
}

/* Accept until EAGAIN (or a batch); returns 1 if the batch ran out. */
static int on_accept(int lfd)
{
	for (int k = 0; k < ACCEPT_BATCH; k++) {
		int fd = accept_client(lfd, 0);
		if (fd == -1) {
			accept_failed();
			return 0;
		}
		if (arm_async(fd) == -1) {
			conn_end(fd, NULL, errno);
			continue;
		}
		conns[fd].idx = nlive;
		live[nlive++] = fd;
	}
	return 1;
}

/* Serve one connection: -1 closed, 0 done, 1 bytes may be left (--drain).
 * Reads until EAGAIN, not just until a short read: a segment carrying data
 * and a FIN raises two SIGIOs that merge into one and no band tells them
 * apart, so the read that returns the data leaves the EOF behind with no
 * signal to come for it. The loop also rescans when a wait times out. */
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
	stop_signals(&set);
	sigaddset(&set, SIGIO);
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
