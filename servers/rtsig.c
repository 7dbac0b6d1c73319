/*
 * rtsig.c - realtime-signal I/O: F_SETSIG + O_ASYNC + F_SETOWN_EX.
 *
 * F_SETSIG replaces SIGIO with a realtime signal: realtime signals queue
 * instead of merging, and each siginfo names the socket (si_fd) and its poll
 * bits (si_band). sigtimedwait() takes one per call: one system call per
 * event, never a scan (Linux 2.4's answer to C10K, before epoll). The signal
 * is an edge: queued when bytes or a FIN ARRIVE, so a POLL_IN is read until a
 * short read or EAGAIN (--drain bounds it; a FIN raises its own signal).
 * The trap: the queue is bounded by RLIMIT_SIGPENDING (per user). When it is
 * full the kernel queues a plain SIGIO instead (send_sigio_to_task), which is
 * dequeued first (lower number); then every queued event is suspect, so the
 * queue is discarded and every connection poll()ed once (stats.overflows).
 * Stale signals (queued before their fd was closed or reused) are normal.
 * Three fcntl() per connection. F_SETSIG since 2.2, F_SETOWN_EX since 2.6.32.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define ACCEPT_BATCH 256     /* per listener event; the rest on the next pass */

struct conn {
	struct outbuf out;      /* bytes the kernel would not take yet */
	char open;              /* 0: stale signals for this fd are ignored */
	char queued;            /* on the ready list */
};

static struct conn *conns;  /* indexed by fd */
static int *ready, nready;  /* fds that may still have bytes (drain bound hit) */
static struct pollfd *pfds; /* overflow recovery: one poll() of everything */
static char *buf;
static int limit, sig_rt, accept_more;

static int arm_rtsig(int fd)
{
	struct f_owner_ex own = { .type = F_OWNER_TID, .pid = gettid() };
	SC(SC_CTL);
	if (fcntl(fd, F_SETSIG, sig_rt) == -1)
		return -1;
	SC(SC_CTL);
	if (fcntl(fd, F_SETOWN_EX, &own) == -1)
		return -1;
	SC(SC_CTL);                 /* last: signals start flowing now */
	return fcntl(fd, F_SETFL, O_NONBLOCK | O_ASYNC);
}

static void queue_ready(int fd)
{
	if (!conns[fd].queued) {
		conns[fd].queued = 1;
		ready[nready++] = fd;
	}
}

static void conn_drop(int fd, int err)
{
	conns[fd].open = 0;         /* a ready-list entry stays: it checks open */
	conn_end(fd, &conns[fd].out, err);
}

static void on_accept(int lfd)
{
	accept_more = 0;
	for (int k = 0; k < ACCEPT_BATCH; k++) {
		int fd = accept_client(lfd, 0);
		if (fd == -1) {
			accept_failed();
			return;
		}
		if (arm_rtsig(fd) == -1) {
			conn_end(fd, NULL, errno);
			continue;
		}
		conns[fd].open = 1;
		queue_ready(fd);        /* bytes that beat O_ASYNC raised no signal */
	}
	accept_more = 1;
}

/* fresh: a POLL_IN signal was just taken, so anything arriving after this
 * read signals again and a short read may end the turn. Otherwise (new
 * connection, drained reply, ready list) the signals for what is waiting,
 * a FIN among them, may be spent already: read until EAGAIN or EOF. */
static void on_readable(int fd, int fresh)
{
	struct conn *c = &conns[fd];
	for (unsigned i = 0; i < cfg.drain; i++) {
		ssize_t n = echo_some(fd, &c->out, buf);
		if (n == -1)
			return conn_drop(fd, errno);    /* errno 0: EOF, nothing pending */
		if (n == 0)
			return;
		if (outbuf_pending(&c->out))
			return;     /* backpressure: POLL_OUT resumes us */
		if (read_was_short(n, !fresh))
			return;     /* drained: new bytes or a FIN will signal */
	}
	queue_ready(fd);            /* bound hit: others get a turn first */
}

/* fresh: band comes from a signal just taken (not from the overflow poll). */
static void on_event(int fd, long band, int fresh)
{
	if (fd < 0 || fd >= limit || !conns[fd].open)
		return;                 /* stale: queued before the fd was closed */
	if (outbuf_pending(&conns[fd].out)) {
		int r = flush_pending(fd, &conns[fd].out);
		if (r == -1)
			return conn_drop(fd, errno);
		if (r == 0)
			return;             /* still full: wait for POLL_OUT */
		return on_readable(fd, 0);  /* signals taken meanwhile were not acted on */
	}
	if (!(band & ~(long)(POLLOUT | POLLWRNORM | POLLWRBAND)))
		return;                 /* only "writable", and nothing to write */
	on_readable(fd, fresh);
}

static void run_ready(void)
{
	int n = nready;             /* entries added meanwhile wait for the next pass */
	for (int i = 0; i < n; i++) {
		int fd = ready[i];
		conns[fd].queued = 0;
		if (conns[fd].open && !outbuf_pending(&conns[fd].out))
			on_readable(fd, 0);
	}
	nready -= n;
	memmove(ready, ready + n, (size_t)nready * sizeof *ready);
}

static void on_overflow(int lfd)
{
	STAT_ADD(overflows, 1);
	SC(SC_OTHER);               /* discard every queued event ... */
	signal(sig_rt, SIG_IGN);
	SC(SC_OTHER);
	signal(sig_rt, SIG_DFL);    /* ... blocked, so still only sigtimedwait takes it */
	int n = 0;
	pfds[n++] = (struct pollfd){ .fd = lfd, .events = POLLIN };
	for (int fd = 0; fd < limit; fd++)
		if (conns[fd].open)
			pfds[n++] = (struct pollfd){ .fd = fd, .events =
				outbuf_pending(&conns[fd].out) ? POLLOUT : POLLIN };
	SC(SC_WAIT);
	if (poll(pfds, (nfds_t)n, 0) == -1)
		die("poll(%d fds)", n);
	for (int i = 1; i < n; i++)
		if (pfds[i].revents)
			on_event(pfds[i].fd, pfds[i].revents, 0);  /* events were lost */
	if (pfds[0].revents)
		on_accept(lfd);
}

int main(int argc, char **argv)
{
	parse_args(argc, argv, "rtsig", OPT_DRAIN);
	setup_process();
	limit = fd_limit();
	conns = calloc((size_t)limit, sizeof *conns);
	ready = calloc(2 * (size_t)limit, sizeof *ready);   /* stale + live entries */
	pfds = calloc((size_t)limit + 1, sizeof *pfds);
	buf = malloc(cfg.bufsize);
	if (!conns || !ready || !pfds || !buf)
		die("calloc(%d conns)", limit);
	sig_rt = SIGRTMIN;          /* already past the realtime signals glibc keeps */

	sigset_t set;
	stop_signals(&set);
	sigaddset(&set, sig_rt);
	sigaddset(&set, SIGIO);     /* the kernel's "queue overflowed" */
	if (sigprocmask(SIG_BLOCK, &set, NULL))
		die("sigprocmask");

	int lfd = listen_socket(0);
	if (arm_rtsig(lfd) == -1)
		die("fcntl(listener %d, F_SETSIG/F_SETOWN_EX/O_ASYNC)", lfd);
	announce_ready(lfd);

	while (!stop) {
		int busy = nready || accept_more;
		struct timespec ts = { 0, busy ? 0 : STOP_CHECK_MS * 1000000L };
		siginfo_t si;
		SC(SC_SIGWAIT);
		int sig = sigtimedwait(&set, &si, &ts);
		if (sig == SIGTERM || sig == SIGINT)
			break;
		if (sig == -1) {
			if (errno != EAGAIN && errno != EINTR)
				die("sigtimedwait");
		} else if (sig == SIGIO) {
			on_overflow(lfd);
		} else if (si.si_fd == lfd) {
			on_accept(lfd);
		} else {
			on_event(si.si_fd, si.si_band, 1);
		}
		if (accept_more)
			on_accept(lfd);     /* a batch ran out: the listener signals no more */
		if (nready)
			run_ready();
	}
	print_stats();
	return 0;
}
