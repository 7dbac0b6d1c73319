/*
 * test_common.c - unit tests of servers/common.c, the code every server shares.
 *
 * parse_args (good values; every error exits 2 naming the flag), the pending
 * output buffer (partial writes kept in order, storage freed, ENOBUFS when a
 * caller breaks the one-read rule), accept_client's EMFILE path (drops what
 * is queued instead of spinning), the per-thread counters and their flush,
 * conn_end, accept_failed, stop_signals, maybe_work, and the JSON line of
 * print_stats. Whatever exits or lowers limits runs in a
 * forked child; its stdout/stderr come back through a pipe.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "payload.h"
#include "tap.h"

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* Read everything from fd until EOF (or 5 s) into out (NUL-terminated). */
static size_t slurp(int fd, char *out, size_t cap)
{
	size_t n = 0;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (n + 1 >= cap || poll(&p, 1, 5000) <= 0)
			break;
		ssize_t r = read(fd, out + n, cap - 1 - n);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	out[n] = '\0';
	return n;
}

/* Run parse_args(argv) in a child with stdout and stderr on pipes.
 * Returns the exit status (or -1 if it did not exit normally). */
static int run_parse(const char *const *argv, unsigned extra, char *out, char *err, size_t cap)
{
	int po[2], pe[2];
	if (pipe(po) || pipe(pe))
		die("pipe");
	fflush(stdout);
	pid_t pid = fork();
	if (pid == -1)
		die("fork");
	if (pid == 0) {
		dup2(po[1], 1);
		dup2(pe[1], 2);
		close(po[0]);
		close(pe[0]);
		int argc = 0;
		while (argv[argc])
			argc++;
		optind = 0;              /* glibc: full getopt re-initialisation */
		parse_args(argc, (char **)argv, "unit", extra);
		fflush(stdout);
		_exit(0);
	}
	close(po[1]);
	close(pe[1]);
	slurp(pe[0], err, cap);      /* parse_args writes little: no pipe deadlock */
	slurp(po[0], out, cap);
	close(po[0]);
	close(pe[0]);
	int st;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_parse_args(void)
{
	/* Good values, in this process. */
	const char *good[] = { "echo", "--addr", "127.0.0.2", "--port", "8080", "--backlog", "128",
			       "--bufsize", "4096", "--reuseport", "--work-us", "15", "--work-every", "3",
			       "--loops", "3", "--drain", "4", NULL };
	optind = 0;
	parse_args(18, (char **)good, "unit", OPT_LOOPS | OPT_DRAIN);
	ok(!strcmp(cfg.addr, "127.0.0.2") && cfg.port == 8080 && cfg.backlog == 128 &&
	   cfg.bufsize == 4096 && cfg.reuseport == 1 && cfg.work_us == 15 && cfg.work_every == 3,
	   "parse_args: common flags parsed");
	ok(cfg.loops == 3 && cfg.drain == 4, "parse_args: model flags parsed when the model asks for them");
	ok(!strcmp(cfg.model, "unit"), "parse_args: cfg.model set");

	/* Every error: exit 2, a message naming the flag, usage on stderr, stdout empty. */
	static const struct {
		const char *argv[4];
		unsigned extra;
		const char *names;
	} bad[] = {
		{ { "echo", "--port", "70000" }, 0, "--port" },
		{ { "echo", "--port", "abc" }, 0, "--port" },
		{ { "echo", "--port", "-1" }, 0, "--port" },
		{ { "echo", "--backlog", "0" }, 0, "--backlog" },
		{ { "echo", "--bufsize", "10" }, 0, "--bufsize" },
		{ { "echo", "--work-us", "1x" }, 0, "--work-us" },
		{ { "echo", "--work-every", "0" }, 0, "--work-every" },
		{ { "echo", "--addr", "1.2.3" }, 0, "--addr" },
		{ { "echo", "--stack-kb", "8" }, OPT_STACK_KB, "--stack-kb" },
		{ { "echo", "--procs", "4" }, 0, "--procs" },          /* not this model's flag */
		{ { "echo", "--workers", "0" }, OPT_WORKERS, "--workers" },
		{ { "echo", "--port" }, 0, "--port" },                 /* value missing */
		{ { "echo", "--nope" }, 0, "--nope" },
		{ { "echo", "stray" }, 0, "stray" },
	};
	static char out[8192], err[8192];
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int rc = run_parse(bad[i].argv, bad[i].extra, out, err, sizeof err);
		char args[128];
		snprintf(args, sizeof args, "%s %s", bad[i].argv[1], bad[i].argv[2] ? bad[i].argv[2] : "");
		const char *first_nl = strchr(err, '\n');
		size_t first_len = first_nl ? (size_t)(first_nl - err) : strlen(err);
		char first[512];
		snprintf(first, sizeof first, "%.*s", (int)(first_len < 500 ? first_len : 500), err);
		if (!ok(rc == 2 && strstr(first, bad[i].names) && strstr(err, "usage:") && !out[0],
			"parse_args '%s': exit 2, message names %s, usage on stderr", args, bad[i].names))
			diag("exit %d; stderr first line: %s; stdout: %.80s", rc, first, out);
	}
	const char *help[] = { "echo", "--help", NULL };
	int rc = run_parse(help, OPT_PROCS, out, err, sizeof out);
	ok(rc == 0 && strstr(out, "usage:") && strstr(out, "--procs") && !err[0],
	   "parse_args --help: exit 0, usage (with the model's flags) on stdout");
}

/* ---- pending output ------------------------------------------------------- */

static unsigned char pat(uint64_t i) { return (unsigned char)(i * 131 + (i >> 9)); }

static void test_outbuf(void)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		die("socketpair");
	set_nonblock(sv[0]);
	int small = 4096;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
	cfg.bufsize = 4096;
	memset(&stats, 0, sizeof stats);

	struct outbuf ob = { 0 };
	char chunk[4096];
	uint64_t handed = 0;
	int rounds = 0, rc = 0;
	/* Hand over "reads" until the peer (which does not read) stalls us. */
	while (!outbuf_pending(&ob) && rounds < 10000) {
		size_t n = 1000 + (size_t)(rounds % 7) * 400;     /* uneven sizes: short writes mid-chunk */
		for (size_t i = 0; i < n; i++)
			chunk[i] = (char)pat(handed + i);
		rc = send_or_keep(sv[0], &ob, chunk, n);
		if (rc)
			break;
		handed += n;
		rounds++;
	}
	ok(rc == 0 && outbuf_pending(&ob), "send_or_keep: a stalled peer leaves a partial write kept (after %d writes)", rounds);
	ok(ob.data != NULL && ob.len - ob.off <= cfg.bufsize, "send_or_keep: at most one read (bufsize) is kept");
	uint32_t kept = ob.len - ob.off;

	/* Breaking the one-read rule: another full read while output is pending. */
	for (size_t i = 0; i < sizeof chunk; i++)
		chunk[i] = 'X';
	errno = 0;
	rc = send_or_keep(sv[0], &ob, chunk, sizeof chunk);
	ok(rc == -1 && errno == ENOBUFS, "send_or_keep: ENOBUFS when a caller reads again while output is pending");
	ok(ob.len - ob.off == kept, "send_or_keep: the refused data did not touch what was kept");
	ok(flush_pending(sv[0], &ob) == 0, "flush_pending: returns 0 while the peer still does not read");

	/* The peer reads: flush until drained and compare every byte. */
	uint64_t got = 0, wrong = 0;
	int drained = 0;
	double end = now_us() + 5e6;
	while (now_us() < end) {
		unsigned char rb[65536];
		ssize_t r = recv(sv[1], rb, sizeof rb, MSG_DONTWAIT);
		for (ssize_t i = 0; i < r; i++)
			if (rb[i] != pat(got + (uint64_t)i))
				wrong++;
		if (r > 0)
			got += (uint64_t)r;
		if (!drained) {
			int f = flush_pending(sv[0], &ob);
			if (f == -1)
				break;
			drained = f == 1;
		}
		if (drained && got >= handed)
			break;
	}
	ok(drained && got == handed && wrong == 0,
	   "flush_pending: everything handed over arrives, nothing lost or reordered (%llu bytes)",
	   (unsigned long long)handed);
	if (got != handed || wrong)
		diag("got %llu of %llu bytes, %llu wrong", (unsigned long long)got,
		     (unsigned long long)handed, (unsigned long long)wrong);
	ok(ob.data == NULL && ob.off == 0 && ob.len == 0, "flush_pending: storage freed after the drain");
	is(stats.bytes_out, handed, "conn_write counted bytes_out");

	/* An idle connection: nothing kept, nothing allocated. */
	rc = send_or_keep(sv[0], &ob, "hi", 2);
	ok(rc == 0 && !outbuf_pending(&ob) && ob.data == NULL, "send_or_keep: a write that fits allocates nothing");
	recv(sv[1], chunk, sizeof chunk, MSG_DONTWAIT);

	/* Peer gone: EPIPE (MSG_NOSIGNAL: no SIGPIPE kills us). */
	close(sv[1]);
	errno = 0;
	rc = send_or_keep(sv[0], &ob, "hi", 2);
	ok(rc == -1 && errno == EPIPE, "send_or_keep: a closed peer gives -1/EPIPE, no SIGPIPE");
	outbuf_free(&ob);
	close(sv[0]);
}

/* ---- conn_read / conn_write / writen ------------------------------------------ */

static void test_read_write(void)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		die("socketpair");
	memset(&stats, 0, sizeof stats);
	ok(writen(sv[0], "hello", 5) == 5, "writen: returns n");
	char b[16];
	set_nonblock(sv[1]);
	ok(conn_read(sv[1], b, sizeof b) == 5 && !memcmp(b, "hello", 5), "conn_read: reads the bytes");
	errno = 0;
	ok(conn_read(sv[1], b, sizeof b) == -1 && errno == EAGAIN, "conn_read: -1/EAGAIN when empty");
	close(sv[0]);
	ok(conn_read(sv[1], b, sizeof b) == 0, "conn_read: 0 at EOF");
	ok(stats.bytes_in == 5 && stats.messages == 1 && stats.bytes_out == 5,
	   "counters: bytes_in, messages, bytes_out");
	ok(stats.sc[SC_READ] == 3 && stats.sc[SC_WRITE] == 1, "counters: one read/write syscall counted per call");
	close(sv[1]);
}

/* ---- accept_client under EMFILE --------------------------------------------------- */

struct emfile_result {
	int accepted_ok, expect, first_errno_eagain, again_eagain;
	uint64_t emfile1, accept_calls1, emfile2, accept_calls2;
	double us1;
};

static void test_emfile(void)
{
	enum { CLIENTS = 20, MORE = 5 };
	cfg.port = 0;
	cfg.addr = "127.0.0.1";
	cfg.backlog = 64;
	cfg.reuseport = 0;
	int lfd = listen_socket(0);
	struct sockaddr_in sa;
	socklen_t sl = sizeof sa;
	getsockname(lfd, (struct sockaddr *)&sa, &sl);
	int res[2], go[2];
	if (pipe(res) || pipe(go))
		die("pipe");
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		struct emfile_result r = { 0 };
		close(res[0]);
		close(go[1]);
		/* A descriptor table with room for the spare fd and a few
		 * connections: the free slots below the limit, holes included. */
		int top = 0, open_fds = 0;
		for (int fd = 3; fd < 1024; fd++)   /* drop what prove or a shell left open */
			if (fd != lfd && fd != res[1] && fd != go[0])
				close(fd);
		for (int fd = 0; fd < 1024; fd++)
			if (fcntl(fd, F_GETFD) != -1) {
				top = fd;
				open_fds++;
			}
		int limit = top + 1 + 4;
		struct rlimit rl = { (rlim_t)limit, (rlim_t)limit };
		if (setrlimit(RLIMIT_NOFILE, &rl))
			_exit(3);
		r.expect = limit - open_fds - 1;     /* minus the spare fd */
		setup_process();                 /* reserves the spare fd at `lowest` */
		memset(&stats, 0, sizeof stats);
		char c;
		if (read(go[0], &c, 1) != 1)
			_exit(4);
		double t0 = now_us();
		int n = 0;
		while (accept_client(lfd, 0) >= 0)
			n++;
		r.first_errno_eagain = errno == EAGAIN;
		r.us1 = now_us() - t0;
		r.accepted_ok = n;
		r.emfile1 = stats.emfile;
		r.accept_calls1 = stats.sc[SC_ACCEPT];
		errno = 0;
		r.again_eagain = accept_client(lfd, 0) == -1 && errno == EAGAIN;
		if (write(res[1], "1", 1) != 1)      /* round one done */
			_exit(5);
		/* Second round, still full: the spare fd must have been re-reserved. */
		if (read(go[0], &c, 1) != 1)
			_exit(4);
		uint64_t calls = stats.sc[SC_ACCEPT];
		while (accept_client(lfd, 0) >= 0)
			r.accepted_ok += 100;        /* must not happen: the table is full */
		r.emfile2 = stats.emfile - r.emfile1;
		r.accept_calls2 = stats.sc[SC_ACCEPT] - calls;
		if (write(res[1], &r, sizeof r) != (ssize_t)sizeof r)
			_exit(5);
		_exit(0);
	}
	close(res[1]);
	close(go[0]);
	int cl[CLIENTS + MORE];
	for (int i = 0; i < CLIENTS + MORE; i++)
		cl[i] = -1;
	char mark = 0;
	for (int i = 0; i < CLIENTS + MORE; i++) {
		if (i == CLIENTS) {
			/* round one done before more connections queue up */
			struct pollfd p = { .fd = res[0], .events = POLLIN };
			if (poll(&p, 1, 5000) != 1 || read(res[0], &mark, 1) != 1)
				break;
		}
		cl[i] = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(cl[i], (struct sockaddr *)&sa, sizeof sa))
			die("connect %d", i);   /* the backlog takes them: accept is not needed */
		if ((i == CLIENTS - 1 || i == CLIENTS + MORE - 1) && write(go[1], "g", 1) != 1)
			die("write");
	}
	struct emfile_result r = { 0 };
	struct pollfd p = { .fd = res[0], .events = POLLIN };
	int got = poll(&p, 1, 5000) == 1 && read(res[0], &r, sizeof r) == (ssize_t)sizeof r;
	int st = 0;
	waitpid(pid, &st, 0);
	if (!ok(got, "accept_client EMFILE: child reported (exit status %d)", WEXITSTATUS(st))) {
		close(lfd);
		return;
	}
	ok(r.accepted_ok == r.expect && r.expect > 0,
	   "accept_client EMFILE: accepts until the table is full (%d of %d)", r.accepted_ok, r.expect);
	ok(r.first_errno_eagain, "accept_client EMFILE: returns -1 with errno EAGAIN");
	is(r.emfile1, CLIENTS - r.expect, "accept_client EMFILE: the queued connections were dropped and counted");
	ok(r.accept_calls1 <= CLIENTS + 3,
	   "accept_client EMFILE: no spin (%llu accept calls for %d clients, %.0f us)",
	   (unsigned long long)r.accept_calls1, CLIENTS, r.us1);
	ok(r.again_eagain, "accept_client: -1/EAGAIN with nothing queued");
	is(r.emfile2, MORE, "accept_client EMFILE: second round dropped too (spare fd re-reserved)");
	ok(r.accept_calls2 <= MORE + 3, "accept_client EMFILE: second round does not spin (%llu calls)",
	   (unsigned long long)r.accept_calls2);
	/* The dropped clients see the server close: EOF (or a reset). */
	int eofs = 0;
	for (int i = 0; i < CLIENTS + MORE; i++) {
		struct pollfd q = { .fd = cl[i], .events = POLLIN };
		char c;
		if (cl[i] < 0)
			continue;
		if (poll(&q, 1, 1000) == 1 && read(cl[i], &c, 1) <= 0)
			eofs++;
		close(cl[i]);
	}
	is(eofs, CLIENTS + MORE, "accept_client EMFILE: every client sees its connection closed");
	close(lfd);
	close(res[0]);
	close(go[1]);
}

/* ---- counters ----------------------------------------------------------------------- */

#define THREADS 4
#define ROUNDS 20000

/* A thread of a threaded model: counts in its own block, flushes as it ends. */
static void *open_close(void *arg)
{
	(void)arg;
	for (int i = 0; i < ROUNDS; i++) {
		conn_opened();
		STAT_ADD(bytes_in, 3);
		SC(SC_READ);
		conn_closed();
	}
	stats_flush();
	return NULL;
}

static void reset_counters(void)
{
	memset(&stats, 0, sizeof stats);
	memset(totals, 0, sizeof *totals);
}

static void test_counters(void)
{
	reset_counters();
	conn_opened(); conn_opened(); conn_opened();
	conn_closed();
	conn_opened(); conn_opened();
	ok(stats.accepted == 5 && stats.closed == 1 && totals->cur_conns == 4 && totals->peak_conns == 4,
	   "conn_opened/closed: accepted 5, closed 1, current 4, peak 4");
	conn_closed(); conn_closed(); conn_closed();
	conn_opened();
	ok(totals->peak_conns == 4 && totals->cur_conns == 2, "conn_opened: peak keeps its maximum");

	reset_counters();
	pthread_t t[THREADS];
	for (int i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, open_close, NULL);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	ok(stats.accepted == 0 && stats.bytes_in == 0,
	   "per-thread counters: other threads' counts do not touch this thread's");
	ok(totals->sum.accepted == THREADS * ROUNDS && totals->sum.closed == THREADS * ROUNDS &&
	   totals->sum.bytes_in == 3ull * THREADS * ROUNDS && totals->sum.sc[SC_READ] == THREADS * ROUNDS &&
	   totals->cur_conns == 0 && totals->peak_conns >= 1 && totals->peak_conns <= THREADS,
	   "stats_flush from %d threads: totals exact, 1 <= peak <= %d (peak %llu)", THREADS,
	   THREADS, (unsigned long long)totals->peak_conns);
	STAT_ADD(bytes_in, 5);
	stats_flush();
	ok(stats.bytes_in == 0 && totals->sum.bytes_in == 3ull * THREADS * ROUNDS + 5,
	   "stats_flush: adds this thread's counters to the total and zeroes them");

	reset_counters();
	conn_error(ECONNRESET);
	conn_error(EPIPE);
	conn_error(ETIMEDOUT);
	ok(stats.errors == 3 && stats.resets == 2, "conn_error: ECONNRESET and EPIPE are resets, all are errors");

	/* conn_end: counts the error, frees the pending output, closes the fd. */
	reset_counters();
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		die("socketpair");
	struct outbuf ob = { .data = malloc(16), .off = 0, .len = 4 };
	conn_opened();
	conn_end(sv[0], &ob, ECONNRESET);
	ok(stats.errors == 1 && stats.resets == 1 && stats.closed == 1 && totals->cur_conns == 0 &&
	   ob.data == NULL && !outbuf_pending(&ob) && fcntl(sv[0], F_GETFD) == -1 && errno == EBADF,
	   "conn_end: error counted, output freed, fd closed, gauge down");
	conn_opened();
	conn_end(sv[1], NULL, 0);
	ok(stats.errors == 1 && stats.closed == 2 && fcntl(sv[1], F_GETFD) == -1,
	   "conn_end: err 0 (EOF) is not an error; NULL output is fine");
}

/* ---- accept_failed, stop_signals ---------------------------------------------------- */

static void test_accept_failed(void)
{
	int pe[2];
	if (pipe(pe))
		die("pipe");
	fflush(stderr);
	int saved = dup(2);
	dup2(pe[1], 2);
	errno = EAGAIN;
	int r_again = accept_failed();
	errno = EINTR;
	int r_intr = accept_failed();
	errno = ENOTSOCK;
	int r_real = accept_failed();
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	close(pe[1]);
	static char err[1024];
	slurp(pe[0], err, sizeof err);
	close(pe[0]);
	ok(r_again == 0 && r_intr == 0, "accept_failed: EAGAIN and EINTR are not failures, no warning");
	ok(r_real == 1 && strstr(err, "accept: ") && strstr(err, strerror(ENOTSOCK)) &&
	   !strchr(strchr(err, '\n') + 1, '\n'),
	   "accept_failed: another errno warns once, naming it");

	sigset_t set, old, now;
	stop_signals(&set);
	ok(sigismember(&set, SIGTERM) == 1 && sigismember(&set, SIGINT) == 1 &&
	   sigismember(&set, SIGPIPE) == 0, "stop_signals: SIGTERM and SIGINT, nothing else");
	block_stop_signals(&old);
	pthread_sigmask(SIG_SETMASK, NULL, &now);
	ok(sigismember(&now, SIGTERM) == 1 && sigismember(&now, SIGINT) == 1 && sigismember(&old, SIGTERM) == 0,
	   "block_stop_signals: blocks both, returns the mask before");
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* ---- maybe_work ----------------------------------------------------------------------- */

/* Time of one maybe_work() call on a message whose key is `key`, us. */
static double time_work(unsigned key)
{
	unsigned char msg[4] = { (unsigned char)key, (unsigned char)(key >> 8), 0x5a, 0xa5 };
	double best = 1e18;
	for (int i = 0; i < 3; i++) {        /* best of 3: preemption only adds */
		double t0 = now_us();
		maybe_work(msg, sizeof msg);
		double t = now_us() - t0;
		if (t < best)
			best = t;
	}
	return best;
}

static void test_work(void)
{
	enum { WORK_US = 2000 };

	/* the key: first two bytes little-endian; one byte for a 1-byte message */
	unsigned char m[3] = { 0x34, 0x12, 0xff };
	ok(work_key(m, 3) == 0x1234 && work_key(m, 2) == 0x1234 && work_key(m, 1) == 0x34,
	   "work_key: first two bytes little-endian, one byte when n == 1");
	/* the load generator's copy (clients/payload.h) agrees on its own payloads */
	int agree = 1;
	for (uint32_t id = 0; id < 600 && agree; id += 7)
		for (uint64_t off = 0; off < 5000 && agree; off += 61) {
			uint8_t b[2];
			payload_fill(b, id, off, 2);
			agree = payload_work_key(id, off, 2) == work_key(b, 2) &&
				payload_work_key(id, off, 1) == work_key(b, 1);
		}
	ok(agree, "payload_work_key (clients/payload.h) == work_key (servers/common.h)");

	cfg.work_us = WORK_US;
	cfg.work_every = 1;
	setup_process();                     /* calibrates the spin */
	/* Lower bounds only for the heavy: a noisy machine makes them longer, never shorter. */
	double t = time_work(12345);
	ok(t >= 0.5 * WORK_US, "maybe_work --work-every 1: every message is heavy (%.0f us >= %d)", t, WORK_US / 2);
	cfg.work_every = 4;
	t = time_work(4 * 1000);
	ok(t >= 0.5 * WORK_US, "maybe_work --work-every 4: key 4000 is heavy (%.0f us >= %d)", t, WORK_US / 2);
	t = time_work(4 * 1000 + 1);
	ok(t < 0.5 * WORK_US, "maybe_work --work-every 4: key 4001 is light (%.0f us < %d)", t, WORK_US / 2);
	t = time_work(0x0302);             /* 770 = 4 * 192 + 2: bytes 02 03 */
	ok(t < 0.5 * WORK_US, "maybe_work --work-every 4: key 0x0302 is light (%.0f us)", t);
	unsigned char one = 8;
	double t0 = now_us();
	maybe_work(&one, 1);
	t = now_us() - t0;
	ok(t >= 0.5 * WORK_US, "maybe_work --work-every 4: 1-byte message 8 is heavy (%.0f us)", t);
	cfg.work_us = 0;
	cfg.work_every = 1;
	t = time_work(0);
	ok(t < 0.5 * WORK_US, "maybe_work --work-us 0: no-op (%.0f us)", t);
}

/* ---- print_stats ----------------------------------------------------------------------- */

static void test_print_stats(void)
{
	int po[2];
	if (pipe(po))
		die("pipe");
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(po[1], 1);
		close(po[0]);
		reset_counters();
		cfg.model = "unit";
		/* Split between this thread and the flushed total: print adds them. */
		stats.accepted = 7; stats.closed = 6; totals->peak_conns = 3;
		stats.bytes_in = 1234567890000ull; totals->sum.bytes_in = 123;
		stats.bytes_out = 1234567890123ull;
		stats.messages = 11; stats.errors = 2; stats.resets = 1; totals->sum.emfile = 9;
		for (int i = 0; i < SC_KINDS; i++)
			stats.sc[i] = (uint64_t)(i + 1) * 10 - (uint64_t)i;   /* + i in the total */
		for (int i = 0; i < SC_KINDS; i++)
			totals->sum.sc[i] = (uint64_t)i;                      /* total 450 */
		print_stats();
		_exit(0);
	}
	close(po[1]);
	static char out[4096];
	size_t n = slurp(po[0], out, sizeof out);
	close(po[0]);
	waitpid(pid, NULL, 0);
	ok(n > 2 && out[0] == '{' && out[n - 1] == '\n' && out[n - 2] == '}' && !memchr(out, '\n', n - 1),
	   "print_stats: exactly one line holding one {...} object");
	static const char *want[] = {
		"\"model\":\"unit\"", "\"accepted\":7,", "\"closed\":6,", "\"peak_conns\":3,",
		"\"bytes_in\":1234567890123,", "\"bytes_out\":1234567890123,", "\"messages\":11,",
		"\"errors\":2,", "\"resets\":1,", "\"emfile\":9,", "\"syscalls\":{\"accept\":10,",
		"\"other\":90,", "\"total\":450}}",
	};
	int missing = 0;
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
		if (!strstr(out, want[i])) {
			diag("missing %s in %s", want[i], out);
			missing++;
		}
	ok(!missing, "print_stats: every counter (this thread's + the flushed total), syscalls by kind and their total");
	int depth = 0, bad = 0;
	for (size_t i = 0; i < n; i++) {
		depth += out[i] == '{';
		depth -= out[i] == '}';
		bad |= depth < 0;
	}
	ok(!bad && depth == 0, "print_stats: braces balance");
}

/* A detached-style worker: listed, counting, still running at print time. */
static int gate[2], go_on[2];
static void *listed_worker(void *arg)
{
	(void)arg;
	stats_register();
	STAT_ADD(bytes_in, 100);
	SC(SC_READ);
	char c = 'r';
	if (write(gate[1], &c, 1) != 1 || read(go_on[0], &c, 1) != 1)
		return NULL;
	stats_flush();
	return NULL;
}

static void test_listed(void)
{
	int po[2];
	if (pipe(po) || pipe(gate) || pipe(go_on))
		die("pipe");
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(po[1], 1);
		close(po[0]);
		reset_counters();
		cfg.model = "unit";
		pthread_t t;
		char c;
		pthread_create(&t, NULL, listed_worker, NULL);
		if (read(gate[0], &c, 1) != 1)
			_exit(3);
		print_stats();               /* the worker is listed, not flushed */
		if (write(go_on[1], &c, 1) != 1)
			_exit(3);
		pthread_join(t, NULL);
		print_stats();               /* flushed and unlisted: counted once */
		_exit(0);
	}
	close(po[1]);
	static char out[4096];
	slurp(po[0], out, sizeof out);
	close(po[0]);
	waitpid(pid, NULL, 0);
	char *second = strchr(out, '\n');
	int two = second && second[1] == '{';
	if (two)
		*second++ = '\0';           /* out: the first line only */
	ok(two && strstr(out, "\"bytes_in\":100,") && strstr(second, "\"bytes_in\":100,") &&
	   strstr(out, "\"read\":1,") && strstr(second, "\"read\":1,"),
	   "stats_register: a running listed thread is printed, and once after its flush");
	if (!two)
		diag("output: %s", out);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	test_parse_args();
	test_outbuf();
	test_read_write();
	test_emfile();
	test_counters();
	test_accept_failed();
	test_work();
	test_print_stats();
	test_listed();
	return done_testing();
}
