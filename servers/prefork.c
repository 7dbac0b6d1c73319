/*
 * prefork.c - Apache's prefork MPM: a fixed set of processes, each blocked
 * in accept() on one shared listener, serving one connection at a time with
 * blocking read()/write() until EOF.
 *
 * The kernel: children sleeping in accept() on one socket wait as exclusive
 * waiters, so a new connection wakes ONE of them (wake-one accept, Linux
 * 2.4; the thundering herd is left to select/poll/epoll on a shared
 * listener, fixed by EPOLLEXCLUSIVE in 4.5). A blocking read() parks the
 * process until data comes: every message is a wake-up and a context
 * switch, and a process is tied up for a connection's whole life.
 *
 * The limit, honestly: concurrency is --procs. With 1,000 connections open
 * and 32 processes, 968 clients sit in the accept queue (their handshake is
 * done, so connect() succeeded) and get no reply until a process is free; a
 * client that waits for its echo while holding the connection open waits
 * forever. A client that never reads blocks its process in write() for
 * good: that is this model's backpressure. Default --procs 32: a child
 * costs ~100 KiB (PSS 76 KiB measured, plus kernel stack and page tables),
 * ~3 MiB in all (Apache's MaxRequestWorkers is 256); raise it for tests
 * that hold many connections at once (a process and a pid each).
 *
 * Counters: after fork() each child's `stats` is private, so children add
 * theirs into a MAP_SHARED anonymous struct stats (mapped before fork())
 * after every connection and when they stop; the parent adds that to its
 * own and prints one JSON line. The parent blocks SIGTERM, SIGINT and
 * SIGCHLD and sleeps in sigwaitinfo(): SIGCHLD = a child died (replaced,
 * counted in errors); SIGTERM = signal the children, reap them (SIGKILL
 * after STOP_GRACE_MS), print. PR_SET_PDEATHSIG: no orphan keeps the port.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
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
#define N_COUNTERS (sizeof(struct stats) / sizeof(uint64_t))
#define I_CUR (offsetof(struct stats, cur_conns) / sizeof(uint64_t))
#define I_PEAK (offsetof(struct stats, peak_conns) / sizeof(uint64_t))

static struct stats *shared;     /* MAP_SHARED: every child adds into it */
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

/* Move this child's counters into the shared ones (cur/peak are kept there). */
static void flush_counters(void)
{
	uint64_t *mine = (uint64_t *)&stats, *all = (uint64_t *)shared;
	for (size_t i = 0; i < N_COUNTERS; i++) {
		uint64_t v = __atomic_exchange_n(&mine[i], 0, __ATOMIC_RELAXED);
		if (v && i != I_CUR && i != I_PEAK)
			__atomic_fetch_add(&all[i], v, __ATOMIC_RELAXED);
	}
}

static void child_exit(void)
{
	if (conn_fd >= 0) {          /* the kernel closes it at _exit */
		conn_closed();
		__atomic_fetch_sub(&shared->cur_conns, 1, __ATOMIC_RELAXED);
	}
	flush_counters();
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
		int fd = accept_client(lfd, 1);          /* sleeps; one waiter is woken */
		if (fd == -1) {
			if (errno != EAGAIN && errno != EINTR)
				die("accept");
			continue;
		}
		crit_enter();
		conn_fd = fd;
		uint64_t cur = __atomic_add_fetch(&shared->cur_conns, 1, __ATOMIC_RELAXED);
		uint64_t peak = __atomic_load_n(&shared->peak_conns, __ATOMIC_RELAXED);
		while (cur > peak && !__atomic_compare_exchange_n(&shared->peak_conns, &peak, cur,
					1, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
			;
		crit_leave();
		for (;;) {
			ssize_t n = conn_read(fd, buf, cfg.bufsize);   /* sleeps until data */
			if (n <= 0) {
				if (n < 0)
					conn_error(errno);
				break;                   /* EOF: everything was echoed */
			}
			maybe_work(buf, (size_t)n);
			if (writen(fd, buf, (size_t)n) == -1) {   /* sleeps while the peer lags */
				conn_error(errno);
				break;
			}
		}
		crit_enter();
		conn_close_fd(fd);
		conn_fd = -1;
		__atomic_fetch_sub(&shared->cur_conns, 1, __ATOMIC_RELAXED);
		flush_counters();
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
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, &orig_mask);   /* taken by sigwaitinfo below */
	if (!cfg.procs)
		cfg.procs = DEFAULT_PROCS;
	parent = getpid();

	shared = mmap(NULL, sizeof *shared, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	kids = calloc(cfg.procs, sizeof *kids);
	born = calloc(cfg.procs, sizeof *born);
	if (shared == MAP_FAILED || !kids || !born)
		die("mmap/calloc(%u children)", cfg.procs);
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

	uint64_t *mine = (uint64_t *)&stats, *all = (uint64_t *)shared;
	for (size_t i = 0; i < N_COUNTERS; i++)
		mine[i] = (i == I_CUR || i == I_PEAK) ? all[i] : mine[i] + all[i];
	print_stats();
	return 0;
}
