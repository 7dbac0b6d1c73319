/*
 * posix_aio.c - POSIX AIO (glibc aio_read/aio_write), completion by signal.
 *
 * No kernel asynchronous socket I/O is behind this API: glibc's POSIX AIO is
 * a user-space thread pool (rt/aio_misc.c). aio_read() queues the request and
 * wakes (futex) or clone()s a helper thread that makes an ordinary BLOCKING
 * call (pread, which fails with ESPIPE on a socket, then read) and notifies
 * us with getpid, getuid and rt_sigqueueinfo. An idle connection's helper
 * sleeps in read(), so every idle connection pins a thread (a kernel task and
 * a pid); at glibc's default cap of 20 the 21st idle connection starves:
 * --aio-threads (aio_init) sets the cap, default the fd limit. The sockets
 * stay blocking (nonblocking, the helper's read would "complete" with EAGAIN).
 * glibc signals the PROCESS (no SIGEV_THREAD_ID), so while the main thread is
 * busy the kernel's complete_signal() looks through every thread for one that
 * does not block it: O(threads) per completion. POSIX.1b; glibc since 2.1.
 */
#include <aio.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define AIO_IDLE_S 10          /* a helper with no work exits after this long */

struct conn {
	struct aiocb cb;       /* the one request in flight: a read or a write */
	int writing;           /* cb is a write of buf[off, len) */
	size_t off, len;
	char buf[];            /* cfg.bufsize */
};

static struct conn **conns; /* indexed by fd; touched only by the main thread */
static int sig_aio, lfd;

static void conn_drop(int fd, int err)
{
	free(conns[fd]);
	conns[fd] = NULL;
	conn_end(fd, NULL, err);
}

static void submit(int fd, int write, size_t off, size_t len)
{
	struct conn *c = conns[fd];
	memset(&c->cb, 0, sizeof c->cb);
	c->cb.aio_fildes = fd;
	c->cb.aio_buf = c->buf + off;
	c->cb.aio_nbytes = len - off;
	c->cb.aio_sigevent.sigev_notify = SIGEV_SIGNAL;
	c->cb.aio_sigevent.sigev_signo = sig_aio;
	c->cb.aio_sigevent.sigev_value.sival_int = fd;
	c->writing = write;
	c->off = off;
	c->len = len;
	SC(SC_SUBMIT);
	if ((write ? aio_write(&c->cb) : aio_read(&c->cb)) == -1)
		conn_drop(fd, errno);   /* EAGAIN: no helper could be started */
}

/* SIGIO from the listener (merged if several): accept until EAGAIN. */
static void on_accept(void)
{
	int fd;
	while ((fd = accept_client(lfd, 1)) != -1) {   /* a BLOCKING socket */
		if (!(conns[fd] = malloc(sizeof *conns[fd] + cfg.bufsize))) {
			conn_end(fd, NULL, ENOMEM);
			continue;
		}
		submit(fd, 0, 0, cfg.bufsize);
	}
	accept_failed();
}

static void on_complete(int fd)
{
	struct conn *c = fd >= 0 ? conns[fd] : NULL;
	if (!c)
		return;
	int err = aio_error(&c->cb);
	if (err == EINPROGRESS)
		return;                 /* not ours yet; cannot happen with one request */
	ssize_t n = aio_return(&c->cb);
	/* The helper's calls besides read/write (strace -f): pread/pwrite failing
	 * with ESPIPE, then getpid, getuid and rt_sigqueueinfo for the signal.
	 * Its futex() waits and wakes (~6 per request at low load) are not counted. */
	for (int k = 0; k < 4; k++)
		SC(SC_OTHER);
	if (!c->writing) {
		SC(SC_READ);
		if (n <= 0)             /* EOF, all echoed: writes complete before reads */
			return conn_drop(fd, n < 0 ? err : 0);
		STAT_ADD(bytes_in, n);
		STAT_ADD(messages, 1);
		maybe_work(c->buf, (size_t)n);
		return submit(fd, 1, 0, (size_t)n);
	}
	SC(SC_WRITE);
	if (n < 0)
		return conn_drop(fd, err);
	STAT_ADD(bytes_out, n);
	if (c->off + (size_t)n < c->len)
		submit(fd, 1, c->off + (size_t)n, c->len);   /* short write: the rest */
	else
		submit(fd, 0, 0, cfg.bufsize);
}

int main(int argc, char **argv)
{
	parse_args(argc, argv, "posix_aio", OPT_AIO_THREADS);
	setup_process();
	int limit = fd_limit();
	if (!(conns = calloc((size_t)limit, sizeof(struct conn *))))
		die("calloc(%d conns)", limit);
	sig_aio = SIGRTMIN;         /* already past the realtime signals glibc keeps */

	/* Must precede the first aio_read(): later calls change nothing. */
	unsigned n = cfg.aio_threads ? cfg.aio_threads : (unsigned)limit;
	struct aioinit ai = { .aio_threads = (int)n, .aio_num = (int)n,
			      .aio_idle_time = AIO_IDLE_S };
#ifdef __SANITIZE_THREAD__
	/* A helper that finds more queued work clone()s the next helper itself,
	 * unseen by TSan, whose allocator then crashes in the new thread
	 * (llvm-project issue 109742). With no idle time, helpers exit when
	 * done and only this thread ever starts one: a clone() per request. */
	ai.aio_idle_time = -1;
#endif
	aio_init(&ai);

	/* Completion: SIGEV_SIGNAL, a realtime signal whose value is the fd,
	 * taken by sigtimedwait() here (aio_suspend() would take the list of every
	 * request in flight per call). The realtime queue (RLIMIT_SIGPENDING) must
	 * hold one per connection: one request in flight per connection bounds
	 * it, and glibc ignores a failed send. Blocked before any helper exists
	 * (they block everything anyway): only this thread takes them. */
	sigset_t set;
	stop_signals(&set);
	sigaddset(&set, sig_aio);
	sigaddset(&set, SIGIO);
	if (pthread_sigmask(SIG_BLOCK, &set, NULL))
		die("pthread_sigmask");

	/* The listener is nonblocking and raises plain SIGIO per queued
	 * connection (O_ASYNC, as in sigio.c): one queue to wait on. */
	lfd = listen_socket(0);
	SC(SC_CTL);
	if (fcntl(lfd, F_SETOWN, getpid()) == -1)
		die("fcntl(listener %d, F_SETOWN)", lfd);
	SC(SC_CTL);
	if (fcntl(lfd, F_SETFL, O_NONBLOCK | O_ASYNC) == -1)
		die("fcntl(listener %d, O_ASYNC)", lfd);
	announce_ready(lfd);

	while (!stop) {
		struct timespec ts = { 0, STOP_CHECK_MS * 1000000L };
		siginfo_t si;
		SC(SC_SIGWAIT);
		int sig = sigtimedwait(&set, &si, &ts);
		if (sig == SIGTERM || sig == SIGINT)
			break;
		if (sig == -1) {
			if (errno != EAGAIN && errno != EINTR)
				die("sigtimedwait");
		} else if (sig == SIGIO) {
			on_accept();
		} else if (si.si_code == SI_ASYNCIO) {
			on_complete(si.si_value.sival_int);
		}
	}
	/* SIGTERM outranks realtime signals: count the completions already queued. */
	sigset_t done;
	sigemptyset(&done);
	sigaddset(&done, sig_aio);
	struct timespec zero = { 0, 0 };
	siginfo_t si;
	for (int k = 0; k < limit && sigtimedwait(&done, &si, &zero) == sig_aio; k++) {
		SC(SC_SIGWAIT);
		on_complete(si.si_value.sival_int);
	}
	print_stats();
	return 0;               /* exit() ends the helpers blocked in read() */
}
