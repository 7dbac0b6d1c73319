/*
 * common.c - the parts of every echo server that are not its I/O model.
 * See common.h for the contract each function keeps.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <pthread.h>
#include <sched.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

struct config cfg = {
	.addr = "127.0.0.1", .port = 0, .backlog = 4096, .bufsize = 16384,
	.work_every = 1, .stack_kb = 64, .drain = 16,
};
__thread struct stats stats;
static struct totals own_totals;
struct totals *totals = &own_totals;
volatile sig_atomic_t stop;

static int spare_fd = -1;           /* reserved for the EMFILE dance (libuv) */
static uint64_t work_iters_per_us;  /* calibrated once at start */

/* ---- errors ------------------------------------------------------------- */

static void vmsg(int err, const char *fmt, va_list ap)
{
	char line[512];
	int n = snprintf(line, sizeof line, "%s: ", cfg.model ? cfg.model : "echo");
	if (n < 0)
		n = 0;
	vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap); /* NOLINT(clang-analyzer-valist.Uninitialized): every caller va_start()s ap; analyzer false positive */
	if (err)
		fprintf(stderr, "%s: %s\n", line, strerror(err));
	else
		fprintf(stderr, "%s\n", line);
}

void die(const char *fmt, ...)
{
	int err = errno;
	va_list ap;
	va_start(ap, fmt);
	vmsg(err, fmt, ap);
	va_end(ap);
	exit(1);
}

void die_err(int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg(err, fmt, ap);
	va_end(ap);
	exit(1);
}

void warnx_(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg(0, fmt, ap);
	va_end(ap);
}

/* ---- arguments ---------------------------------------------------------- */

static const struct {
	unsigned bit;
	const char *name, *help;
} model_opts[] = {
	{ OPT_STACK_KB, "stack-kb", "thread stack size in KiB (default 64)" },
	{ OPT_AIO_THREADS, "aio-threads", "glibc AIO helper threads (aio_init)" },
	{ OPT_LOOPS, "loops", "event loops, one per CPU by default" },
	{ OPT_WORKERS, "workers", "worker threads" },
	{ OPT_PROCS, "procs", "worker processes" },
	{ OPT_MAX_CONNS, "max-conns", "connection table size (default: from RLIMIT_NOFILE)" },
	{ OPT_DRAIN, "drain", "max reads per readiness event (default 16)" },
};
#define N_MODEL_OPTS (sizeof model_opts / sizeof model_opts[0])

static void usage(FILE *f, unsigned extra)
{
	fprintf(f,
		"usage: echo_%s [--addr A] [--port P] [--backlog N] [--bufsize BYTES]\n"
		"       [--reuseport] [--work-us N] [--work-every K] [--awake]", cfg.model);
	for (size_t i = 0; i < N_MODEL_OPTS; i++)
		if (extra & model_opts[i].bit)
			fprintf(f, " [--%s N]", model_opts[i].name);
	fprintf(f, "\n"
		"  --addr A        IPv4 address to listen on (default 127.0.0.1)\n"
		"  --port P        TCP port, 0 = any free port (default 0)\n"
		"  --backlog N     listen() backlog (default 4096)\n"
		"  --bufsize BYTES read/pending buffer per read (default 16384)\n"
		"  --reuseport     set SO_REUSEPORT to share the port with other servers\n"
		"  --work-us N     spin N microseconds of CPU per message (default 0)\n"
		"  --work-every K  a message is heavy when the key of its first two bytes is a\n"
		"                  multiple of K (about 1 in K for the generator's pseudo-random\n"
		"                  payloads; exact at --depth 1, where one read is one message)\n"
		"                  (default 1)\n"
		"  --awake         keep the CPUs this process may run on from idling: one\n"
		"                  SCHED_IDLE thread per CPU spins, so a wake-up never waits\n"
		"                  for a halted CPU (what idle=poll or a cpu_dma_latency of 0\n"
		"                  do on a machine with idle states); it burns those CPUs and\n"
		"                  its time counts as this process's: for latency, not CPU\n");
	for (size_t i = 0; i < N_MODEL_OPTS; i++)
		if (extra & model_opts[i].bit)
			fprintf(f, "  --%-14s %s\n", model_opts[i].name, model_opts[i].help);
	fprintf(f, "Prints 'READY <port>' when listening; on SIGTERM/SIGINT prints one JSON\n"
		"line of counters and exits 0.\n");
}

static __attribute__((noreturn, format(printf, 2, 3))) void bad_arg(unsigned extra, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg(0, fmt, ap);
	va_end(ap);
	usage(stderr, extra);
	exit(2);
}

static unsigned long parse_num(unsigned extra, const char *flag, const char *s,
			       unsigned long min, unsigned long max)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < min || v > max)
		bad_arg(extra, "--%s: '%s' is not a whole number from %lu to %lu", flag, s, min, max);
	return v;
}

void parse_args(int argc, char **argv, const char *model, unsigned extra)
{
	enum { O_ADDR = 256, O_PORT, O_BACKLOG, O_BUFSIZE, O_REUSEPORT, O_WORK_US,
	       O_WORK_EVERY, O_AWAKE, O_HELP, O_MODEL };
	struct option opts[9 + N_MODEL_OPTS + 2];
	int n = 0;
	opts[n++] = (struct option){ "addr", required_argument, NULL, O_ADDR };
	opts[n++] = (struct option){ "port", required_argument, NULL, O_PORT };
	opts[n++] = (struct option){ "backlog", required_argument, NULL, O_BACKLOG };
	opts[n++] = (struct option){ "bufsize", required_argument, NULL, O_BUFSIZE };
	opts[n++] = (struct option){ "reuseport", no_argument, NULL, O_REUSEPORT };
	opts[n++] = (struct option){ "work-us", required_argument, NULL, O_WORK_US };
	opts[n++] = (struct option){ "work-every", required_argument, NULL, O_WORK_EVERY };
	opts[n++] = (struct option){ "awake", no_argument, NULL, O_AWAKE };
	opts[n++] = (struct option){ "help", no_argument, NULL, O_HELP };
	for (size_t i = 0; i < N_MODEL_OPTS; i++)
		if (extra & model_opts[i].bit)
			opts[n++] = (struct option){ model_opts[i].name, required_argument,
						     NULL, O_MODEL + (int)i };
	opts[n] = (struct option){ 0, 0, 0, 0 };

	cfg.model = model;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case O_ADDR: {
			struct in_addr a;
			if (inet_pton(AF_INET, optarg, &a) != 1)
				bad_arg(extra, "--addr: '%s' is not an IPv4 address", optarg);
			cfg.addr = optarg;
			break;
		}
		case O_PORT: cfg.port = (int)parse_num(extra, "port", optarg, 0, 65535); break;
		case O_BACKLOG: cfg.backlog = (int)parse_num(extra, "backlog", optarg, 1, INT_MAX); break;
		case O_BUFSIZE:
			cfg.bufsize = parse_num(extra, "bufsize", optarg, 64, 64u << 20);
			break;
		case O_REUSEPORT: cfg.reuseport = 1; break;
		case O_AWAKE: cfg.awake = 1; break;
		case O_WORK_US: cfg.work_us = (unsigned)parse_num(extra, "work-us", optarg, 0, 10000000); break;
		case O_WORK_EVERY: cfg.work_every = (unsigned)parse_num(extra, "work-every", optarg, 1, UINT_MAX); break;
		case O_HELP: usage(stdout, extra); exit(0);
		case '?':
			if (optopt)
				bad_arg(extra, "unknown or incomplete option '%s'", argv[optind - 1]);
			bad_arg(extra, "unknown option '%s'", argv[optind - 1]);
		case ':':
			bad_arg(extra, "option '%s' needs a value", argv[optind - 1]);
		default: {
			size_t i = (size_t)(c - O_MODEL);
			unsigned v = (unsigned)parse_num(extra, model_opts[i].name, optarg, 1, 1000000);
			switch (model_opts[i].bit) {
			case OPT_STACK_KB:
				if (v < 16)
					bad_arg(extra, "--stack-kb: %u is below the 16 KiB minimum (PTHREAD_STACK_MIN)", v);
				cfg.stack_kb = v; break;
			case OPT_AIO_THREADS: cfg.aio_threads = v; break;
			case OPT_LOOPS: cfg.loops = v; break;
			case OPT_WORKERS: cfg.workers = v; break;
			case OPT_PROCS: cfg.procs = v; break;
			case OPT_MAX_CONNS: cfg.max_conns = v; break;
			case OPT_DRAIN: cfg.drain = v; break;
			}
		}
		}
	}
	if (optind < argc)
		bad_arg(extra, "unexpected argument '%s'", argv[optind]);
}

/* ---- counters ----------------------------------------------------------- */

void conn_opened(void)
{
	stats.accepted++;
	uint64_t cur = __atomic_add_fetch(&totals->cur_conns, 1, __ATOMIC_RELAXED);
	uint64_t peak = __atomic_load_n(&totals->peak_conns, __ATOMIC_RELAXED);
	while (cur > peak &&
	       !__atomic_compare_exchange_n(&totals->peak_conns, &peak, cur, 1,
					    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

void conn_closed(void)
{
	stats.closed++;
	__atomic_sub_fetch(&totals->cur_conns, 1, __ATOMIC_RELAXED);
}

void conn_error(int err)
{
	stats.errors++;
	if (err == ECONNRESET || err == EPIPE)
		stats.resets++;
}

/* struct stats is all uint64_t: walk it as an array. */
#define N_STATS (sizeof(struct stats) / sizeof(uint64_t))

/* Threads listed by stats_register(), linked through their own TLS node.
 * The lock makes a flush (add + unlist) atomic for print_stats(), so no
 * thread is counted twice or not at all. */
struct listed {
	struct stats *s;
	struct listed *prev, *next;
};
static __thread struct listed me;
static struct listed *listed;
static pthread_mutex_t listed_lock = PTHREAD_MUTEX_INITIALIZER;

void stats_register(void)
{
	pthread_mutex_lock(&listed_lock);
	me = (struct listed){ .s = &stats, .next = listed };
	if (listed)
		listed->prev = &me;
	listed = &me;
	pthread_mutex_unlock(&listed_lock);
}

void stats_flush(void)
{
	uint64_t *mine = (uint64_t *)&stats, *sum = (uint64_t *)&totals->sum;
	int lock = me.s != NULL;        /* listed: print_stats() may be reading us */
	if (lock)
		pthread_mutex_lock(&listed_lock);
	for (size_t i = 0; i < N_STATS; i++) {
		if (mine[i])
			__atomic_fetch_add(&sum[i], mine[i], __ATOMIC_RELAXED);
		mine[i] = 0;
	}
	if (lock) {
		if (me.prev)
			me.prev->next = me.next;
		else
			listed = me.next;
		if (me.next)
			me.next->prev = me.prev;
		me.s = NULL;
		pthread_mutex_unlock(&listed_lock);
	}
}

/* The counters of listed threads that are still running, as they are now.
 * Their owners write them without atomics (that is the point), so this read
 * races with a worker caught mid-echo: it may count that echo's read and not
 * yet its write, as any snapshot of a running server would. Exact for a
 * worker blocked in read(). Not instrumented, so TSan does not flag it. */
__attribute__((no_sanitize("thread")))
static void add_listed(struct stats *into)
{
	uint64_t *all = (uint64_t *)into;
	for (const struct listed *l = listed; l; l = l->next)
		for (size_t i = 0; i < N_STATS; i++)
			all[i] += ((const uint64_t *)l->s)[i];
}

static const char *const sc_names[SC_KINDS] = {
	"accept", "read", "write", "close", "wait", "ctl", "submit", "sigwait", "other"
};

void print_stats(void)
{
	struct stats s = stats;             /* this thread's, plus what ended threads flushed */
	uint64_t *all = (uint64_t *)&s, *sum = (uint64_t *)&totals->sum;
	pthread_mutex_lock(&listed_lock);
	for (size_t i = 0; i < N_STATS; i++)
		all[i] += __atomic_load_n(&sum[i], __ATOMIC_RELAXED);
	add_listed(&s);                     /* and the listed threads still running */
	pthread_mutex_unlock(&listed_lock);
	uint64_t total = 0;
	for (int i = 0; i < SC_KINDS; i++)
		total += s.sc[i];
	char line[1024];
	int n = snprintf(line, sizeof line,
		"{\"model\":\"%s\",\"accepted\":%llu,\"closed\":%llu,\"peak_conns\":%llu,"
		"\"bytes_in\":%llu,\"bytes_out\":%llu,\"messages\":%llu,\"errors\":%llu,"
		"\"resets\":%llu,\"emfile\":%llu,\"overflows\":%llu,\"syscalls\":{",
		cfg.model, (unsigned long long)s.accepted, (unsigned long long)s.closed,
		(unsigned long long)__atomic_load_n(&totals->peak_conns, __ATOMIC_RELAXED),
		(unsigned long long)s.bytes_in, (unsigned long long)s.bytes_out,
		(unsigned long long)s.messages, (unsigned long long)s.errors,
		(unsigned long long)s.resets, (unsigned long long)s.emfile,
		(unsigned long long)s.overflows);
	for (int i = 0; i < SC_KINDS; i++)
		n += snprintf(line + n, sizeof line - (size_t)n, "\"%s\":%llu,", sc_names[i],
			      (unsigned long long)s.sc[i]);
	snprintf(line + n, sizeof line - (size_t)n, "\"total\":%llu}}\n", (unsigned long long)total);
	fputs(line, stdout);
	fflush(stdout);
}

/* ---- lifecycle ---------------------------------------------------------- */

static void on_stop(int sig)
{
	(void)sig;
	stop = 1;
}

static uint64_t work_sink;   /* published result: keeps the spin from being optimised away */

/* The work: a dependent chain of 64-bit multiply-adds (an LCG), n steps. */
static __attribute__((noinline)) uint64_t spin(uint64_t n, uint64_t x)
{
	for (uint64_t i = 0; i < n; i++)
		x = x * 6364136223846793005ull + 1442695040888963407ull;
	return x;
}

static void calibrate_work(void)
{
	/* Time the same loop maybe_work() runs; best of 5 against preemption. */
	const uint64_t N = 1u << 20;
	double us = 1e18;
	for (int r = 0; r < 5; r++) {
		struct timespec a, b;
		clock_gettime(CLOCK_MONOTONIC, &a);
		__atomic_store_n(&work_sink, spin(N, r), __ATOMIC_RELAXED);
		clock_gettime(CLOCK_MONOTONIC, &b);
		double t = (double)(b.tv_sec - a.tv_sec) * 1e6 + (double)(b.tv_nsec - a.tv_nsec) / 1e3;
		if (t < us)
			us = t;
	}
	work_iters_per_us = us > 0 ? (uint64_t)((double)N / us) : 1000;
	if (work_iters_per_us == 0)
		work_iters_per_us = 1;
}

/* --awake: a thread at SCHED_IDLE runs only when nothing else wants its
 * CPU, so that CPU never enters the idle loop (no halt, no exit from an
 * idle state: on this suite's VM a halted vCPU goes back to the host). It
 * takes no signals (the main thread's) and ends with the process. */
static void *awake_spin(void *arg)
{
	(void)arg;
	struct sched_param sp = { 0 };
	if (sched_setscheduler(0, SCHED_IDLE, &sp))   /* 0: this thread */
		return NULL;
	while (!stop)
		;
	return NULL;
}

static void start_awake(void)
{
	cpu_set_t allowed;
	if (sched_getaffinity(0, sizeof allowed, &allowed))
		die("sched_getaffinity");
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (int c = 0; c < CPU_SETSIZE; c++) {
		if (!CPU_ISSET(c, &allowed))
			continue;
		pthread_attr_t a;
		pthread_t tid;
		cpu_set_t one;
		CPU_ZERO(&one);
		CPU_SET(c, &one);
		pthread_attr_init(&a);
		pthread_attr_setaffinity_np(&a, sizeof one, &one);
		pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
		int err = pthread_create(&tid, &a, awake_spin, NULL);
		pthread_attr_destroy(&a);
		if (err) {
			errno = err;
			die("pthread_create(--awake spinner for CPU %d)", c);
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

void setup_process(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_stop;        /* no SA_RESTART: blocked waits see EINTR */
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL) || sigaction(SIGINT, &sa, NULL))
		die("sigaction(SIGTERM/SIGINT)");
	signal(SIGPIPE, SIG_IGN);       /* a write to a reset peer returns EPIPE instead */

	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;  /* past the hard limit needs CAP_SYS_RESOURCE, up to fs.nr_open */
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (cfg.work_us)
		calibrate_work();
	if (cfg.awake)
		start_awake();
}

void stop_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
}

void block_stop_signals(sigset_t *old)
{
	sigset_t set;
	stop_signals(&set);
	pthread_sigmask(SIG_BLOCK, &set, old);
}

int fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 1u << 24)
		return 1 << 20;
	return (int)rl.rlim_cur;
}

void announce_ready(int lfd)
{
	struct sockaddr_in sa = { 0 };
	socklen_t len = sizeof sa;
	if (getsockname(lfd, (struct sockaddr *)&sa, &len) != 0)
		die("getsockname(%d)", lfd);
	printf("READY %d\n", ntohs(sa.sin_port));
	fflush(stdout);
}

/* ---- sockets ------------------------------------------------------------ */

int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	return fl == -1 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

int listen_socket(int blocking)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (blocking ? 0 : SOCK_NONBLOCK), 0);
	if (fd == -1)
		die("socket(AF_INET, SOCK_STREAM)");
	int one = 1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one))
		die("setsockopt(SO_REUSEADDR)");
	if (cfg.reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one))
		die("setsockopt(SO_REUSEPORT)");
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)cfg.port) };
	inet_pton(AF_INET, cfg.addr, &sa.sin_addr);   /* validated in parse_args */
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa))
		die("bind(%s:%d)", cfg.addr, cfg.port);
	/* The kernel caps the backlog at net.core.somaxconn (4096 by default). */
	if (listen(fd, cfg.backlog))
		die("listen(backlog %d)", cfg.backlog);
	return fd;
}

/* Out of descriptors. A level-triggered wait would report the listener ready
 * forever (libev's ev.pod: the 100% CPU spin), so free the reserved fd, accept
 * and drop what is queued, then reserve it again. The dropped clients see a
 * close. The swaps keep the reservation itself race-free; threaded callers
 * that accept on several listeners (reactors) still serialise their accepts,
 * or another thread's accept4 can take the freed slot first. */
static void drop_pending(int lfd, int blocking)
{
	int spare = __atomic_exchange_n(&spare_fd, -1, __ATOMIC_ACQ_REL);
	if (spare >= 0)
		close(spare);
	for (;;) {
		/* A blocking listener would sleep in accept4 once the queue is
		 * empty: ask poll() first (SOCK_NONBLOCK is for the new socket,
		 * not for the accept call). */
		struct pollfd pfd = { .fd = lfd, .events = POLLIN };
		if (blocking && poll(&pfd, 1, 0) != 1)
			break;
		SC(SC_ACCEPT);
		int d = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
		if (d < 0)
			break;
		close(d);
		STAT_ADD(emfile, 1);
	}
	int fresh = open("/dev/null", O_RDONLY | O_CLOEXEC), none = -1;
	if (fresh >= 0 && !__atomic_compare_exchange_n(&spare_fd, &none, fresh, 0,
						     __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		close(fresh);   /* another thread re-reserved first */
	if (blocking) {
		/* Nothing queued could be dropped (e.g. a blocking listener
		 * raced): back off instead of spinning on EMFILE. */
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
}

int accept_client(int lfd, int blocking)
{
	for (;;) {
		SC(SC_ACCEPT);
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | (blocking ? 0 : SOCK_NONBLOCK));
		if (fd >= 0) {
			int one = 1;   /* echo replies are small: do not wait for Nagle */
			SC(SC_OTHER);
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
			conn_opened();
			return fd;
		}
		switch (errno) {
		case ECONNABORTED: case EPROTO:
			continue;          /* the peer gave up while queued: try the next */
		case EMFILE: case ENFILE:
			drop_pending(lfd, blocking);
			errno = EAGAIN;
			return -1;
		default:
			return -1;     /* EAGAIN, EINTR, or fatal: caller decides */
		}
	}
}

int accept_failed(void)
{
	if (errno == EAGAIN || errno == EINTR)
		return 0;
	warnx_("accept: %s", strerror(errno));
	return 1;
}

/* EINTR retries, out of line: in one loop with the first call, GCC keeps the
 * counters' TLS offset in a register, more pushes and pops on every call. */
static __attribute__((noinline, cold)) ssize_t retry_read(int fd, void *buf, size_t n)
{
	ssize_t r;
	do {
		SC(SC_READ);
		r = read(fd, buf, n);
	} while (r == -1 && errno == EINTR);
	return r;
}

static __attribute__((noinline, cold)) ssize_t retry_send(int fd, const void *buf, size_t n)
{
	ssize_t w;
	do {
		SC(SC_WRITE);
		w = send(fd, buf, n, MSG_NOSIGNAL);
	} while (w == -1 && errno == EINTR);
	return w;
}

ssize_t conn_read(int fd, void *buf, size_t n)
{
	SC(SC_READ);
	ssize_t r = read(fd, buf, n);
	if (r == -1 && errno == EINTR)
		r = retry_read(fd, buf, n);
	if (r > 0) {
		STAT_ADD(bytes_in, r);
		STAT_ADD(messages, 1);
#ifdef EXTRA_SYSCALL
		/* Self test of the regression gate and tests/kcount.t: one deliberate
		 * extra system call per echo that no SC() marks: only the kernel's
		 * count sees it. */
		(void)fcntl(fd, F_GETFL);
#endif
	}
	return r;
}

ssize_t conn_write(int fd, const void *buf, size_t n)
{
	SC(SC_WRITE);
	ssize_t w = send(fd, buf, n, MSG_NOSIGNAL);
	if (w == -1 && errno == EINTR)
		w = retry_send(fd, buf, n);
	if (w > 0)
		STAT_ADD(bytes_out, w);
	return w;
}

void conn_close_fd(int fd)
{
	SC(SC_CLOSE);
	close(fd);
	conn_closed();
}

ssize_t writen(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	size_t left = n;
	while (left > 0) {
		ssize_t w = conn_write(fd, p, left);
		if (w <= 0)
			return -1;   /* EINTR already retried inside conn_write */
		left -= (size_t)w;
		p += w;
	}
	return (ssize_t)n;
}

int send_or_keep(int fd, struct outbuf *ob, const char *p, size_t n)
{
	ssize_t w = conn_write(fd, p, n);
	if (w == -1) {
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
		w = 0;
	}
	if ((size_t)w == n)
		return 0;
	/* Short write: keep the rest. The caller stops reading this connection
	 * until it drains, so at most one read's worth (cfg.bufsize) is kept. */
	if (!ob->data && !(ob->data = malloc(cfg.bufsize)))
		return errno = ENOMEM, -1;
	size_t rest = n - (size_t)w;
	if (ob->len - ob->off + rest > cfg.bufsize)
		return errno = ENOBUFS, -1;   /* caller broke the one-read rule */
	if (ob->off) {
		memmove(ob->data, ob->data + ob->off, ob->len - ob->off);
		ob->len -= ob->off;
		ob->off = 0;
	}
	memcpy(ob->data + ob->len, p + w, rest);
	ob->len += (uint32_t)rest;
	return 0;
}

int flush_pending(int fd, struct outbuf *ob)
{
	while (ob->off < ob->len) {
		ssize_t w = conn_write(fd, ob->data + ob->off, ob->len - ob->off);
		if (w == -1)
			return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
		ob->off += (uint32_t)w;
	}
	/* Drained: give the storage back, so idle connections stay small. */
	outbuf_free(ob);
	return 1;
}

void outbuf_free(struct outbuf *ob)
{
	free(ob->data);
	ob->data = NULL;
	ob->off = ob->len = 0;
}

void conn_end(int fd, struct outbuf *ob, int err)
{
	if (err)
		conn_error(err);
	if (ob)
		outbuf_free(ob);
	conn_close_fd(fd);
}

/* ---- per-message work --------------------------------------------------- */

void maybe_work(const void *msg, size_t n)
{
	if (!cfg.work_us || n == 0)
		return;
	unsigned k = work_key(msg, n);
	if (k % cfg.work_every)
		return;
	__atomic_store_n(&work_sink, spin(work_iters_per_us * cfg.work_us, k), __ATOMIC_RELAXED);
}

#if defined(__SANITIZE_THREAD__)
/* TSan sleeps 1 s at exit by default, which would break the 1 s stop promise. */
const char *__tsan_default_options(void);
const char *__tsan_default_options(void) { return "atexit_sleep_ms=0"; }
#endif
