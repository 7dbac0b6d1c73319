/*
 * prefork.c - Apache's prefork MPM: a fixed set of processes, each blocked
 * in accept() on one shared listener, serving one connection at a time with
 * blocking read()/write() until EOF.
 *
 * Processes sleeping in accept() on one socket wait as exclusive waiters, so
 * a new connection wakes ONE of them (wake-one accept, Linux 2.4; epoll on a
 * shared listener needs EPOLLEXCLUSIVE, 4.5). A blocking read() parks the
 * process until data comes: every message is a wake-up and a context switch,
 * and a process is tied to a connection for its whole life. So concurrency
 * is --procs: further clients complete their handshake (the kernel does it)
 * and wait in the accept queue, unanswered, until a process is free. A
 * client that never reads blocks its process in write(): the backpressure.
 * Each process is a task, a pid and its own page tables.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define DEFAULT_PROCS 32
#define STOP_GRACE_MS 700        /* SIGTERM -> SIGKILL for children; total stop < 1 s */
#define RESPAWN_MIN_MS 100       /* a child dying younger than this: back off */
static pid_t *kids;
static struct timespec *born;
static pid_t parent;
static sigset_t orig_mask;
static int conn_fd = -1;         /* child: the connection being served */
static volatile sig_atomic_t crit, term_pending;

static long ms_since(const struct timespec *t)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t->tv_sec) * 1000 + (now.tv_nsec - t->tv_nsec) / 1000000;
}

/* ---- child ------------------------------------------------------------------ */

/* Counters: `totals` is MAP_SHARED (main maps it before any fork), so a
 * child's conn_opened()/conn_closed() move the shared gauge, and its own
 * counters are added in with stats_flush() after every connection and when
 * it stops. The parent prints the sum. */
static void child_exit(void)
{
	if (conn_fd >= 0)            /* the kernel closes it at _exit */
		conn_closed();
	stats_flush();
	_exit(0);
}

/* SIGTERM: stop where we are (blocked in accept, read or write) unless we
 * are moving counters; then the end of that section exits. */
static void child_on_term(int sig)
{
	(void)sig;
	if (crit)
		term_pending = 1;
	else
		child_exit();
}

static void crit_enter(void) { crit = 1; __atomic_signal_fence(__ATOMIC_SEQ_CST); }
static void crit_leave(void)
{
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	crit = 0;
	if (term_pending)
		child_exit();
}

static __attribute__((noreturn)) void child_main(int lfd)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)     /* the parent died before prctl */
		_exit(0);
	memset(&stats, 0, sizeof stats);      /* the parent's counts are its own */
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (null >= 0) {             /* stdout is the parent's: never hold it open */
		dup2(null, STDOUT_FILENO);
		close(null);
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = child_on_term;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGINT, SIG_IGN);     /* ^C reaches the group: the parent decides */
	signal(SIGCHLD, SIG_DFL);
	sigprocmask(SIG_SETMASK, &orig_mask, NULL);

	char *buf = malloc(cfg.bufsize);
	if (!buf)
		die("malloc(%zu)", cfg.bufsize);
	for (;;) {
		crit_enter();                            /* conn_opened moves the shared gauge */
		int fd = accept_client(lfd, 1);          /* sleeps; one waiter is woken */
		conn_fd = fd;
		crit_leave();
		if (fd == -1) {
			if (errno != EAGAIN && errno != EINTR)
				die("accept");
			continue;
		}
		int err = 0;
		for (;;) {
			ssize_t n = conn_read(fd, buf, cfg.bufsize);   /* sleeps until data */
			if (n <= 0) {
				err = n < 0 ? errno : 0;         /* 0: EOF, everything was echoed */
				break;
			}
			maybe_work(buf, (size_t)n);
			if (writen(fd, buf, (size_t)n) == -1) {   /* sleeps while the peer lags */
				err = errno;
				break;
			}
		}
		crit_enter();
		conn_end(fd, NULL, err);
		conn_fd = -1;
		stats_flush();
		crit_leave();
	}
}

/* ---- parent ----------------------------------------------------------------- */

static void spawn(unsigned i, int lfd)
{
	SC(SC_OTHER);
	pid_t pid = fork();
	if (pid == -1)
		die("fork(child %u)", i);
	if (pid == 0)
		child_main(lfd);
	kids[i] = pid;
	clock_gettime(CLOCK_MONOTONIC, &born[i]);
}

/* Collect exited children; while running, replace each one. Returns how
 * many are still alive. */
static unsigned reap(int lfd, int replace)
{
	int st;
	pid_t pid;
	for (;;) {
		SC(SC_OTHER);
		if ((pid = waitpid(-1, &st, WNOHANG)) <= 0)
			break;
		for (unsigned i = 0; i < cfg.procs; i++) {
			if (kids[i] != pid)
				continue;
			kids[i] = 0;
			if (!replace)
				break;
			STAT_ADD(errors, 1);
			warnx_("child %d died (%s %d), replaced", (int)pid,
			       WIFSIGNALED(st) ? "signal" : "exit",
			       WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
			if (ms_since(&born[i]) < RESPAWN_MIN_MS) {   /* no fork storm */
				struct timespec ts = { 0, RESPAWN_MIN_MS * 1000000L };
				nanosleep(&ts, NULL);
			}
			spawn(i, lfd);
			break;
		}
	}
	unsigned live = 0;
	for (unsigned i = 0; i < cfg.procs; i++)
		live += kids[i] > 0;
	return live;
}

static void stop_children(int lfd)
{
	for (unsigned i = 0; i < cfg.procs; i++)
		if (kids[i] > 0)
			kill(kids[i], SIGTERM);
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	while (reap(lfd, 0) > 0) {
		long left = STOP_GRACE_MS - ms_since(&t0);
		if (left <= 0) {                 /* stuck: SIGKILL, counters since their last flush are lost */
			for (unsigned i = 0; i < cfg.procs; i++)
				if (kids[i] > 0)
					kill(kids[i], SIGKILL);
			while (waitpid(-1, NULL, 0) > 0)
				;
			return;
		}
		struct timespec ts = { left / 1000, (left % 1000) * 1000000L };
		SC(SC_SIGWAIT);
		sigtimedwait(&chld, NULL, &ts);
	}
}

int main(int argc, char **argv)
{
	parse_args(argc, argv, "prefork", OPT_PROCS);
	setup_process();
	sigset_t set;
	stop_signals(&set);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, &orig_mask);   /* taken by sigwaitinfo below */
	if (!cfg.procs)
		cfg.procs = DEFAULT_PROCS;
	parent = getpid();

	struct totals *shared = mmap(NULL, sizeof *shared, PROT_READ | PROT_WRITE,
				     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	kids = calloc(cfg.procs, sizeof *kids);
	born = calloc(cfg.procs, sizeof *born);
	if (shared == MAP_FAILED || !kids || !born)
		die("mmap/calloc(%u children)", cfg.procs);
	totals = shared;                            /* before fork: children add into it */
	int lfd = listen_socket(1);                 /* blocking: children sleep in accept */
	for (unsigned i = 0; i < cfg.procs; i++)
		spawn(i, lfd);
	announce_ready(lfd);

	while (!stop) {
		SC(SC_SIGWAIT);
		int sig = sigwaitinfo(&set, NULL);
		if (sig == SIGCHLD)
			reap(lfd, 1);
		else if (sig == SIGTERM || sig == SIGINT)
			stop = 1;
	}
	stop_children(lfd);
	print_stats();
	return 0;
}
