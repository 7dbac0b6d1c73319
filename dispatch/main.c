/*
 * main.c - bin/dispatch: the cost of the wait mechanism alone, no TCP.
 *
 *   dispatch --model M --fds N --active A --writes W [--method chain|random]
 *            [--repeats R] [--warmup E] [--json]
 *   dispatch --list       the mechanisms (mechs.h): name, server, what
 *
 * See dispatch.h for the chain. Per run: the loop's wall time (A seed writes
 * plus W callbacks, each a read and, while writes remain, one write), CPU
 * user/system from getrusage (every thread). System calls are counted by the
 * kernel (perf_event_open on the raw_syscalls:sys_enter tracepoint, inherited
 * by threads created later), in the warm-up pass only: an enabled syscall
 * tracepoint sends every system call through the slow entry path, so it
 * must not be on while we time. Checked each run: W callbacks for W writes,
 * then one poll() of every descriptor finds none still readable (a write
 * with no callback); a notification with no token fails an exact model; a
 * loop with no event for --lost-ms fails (a lost wake-up): exit 1 with the
 * reason. Usage errors exit 2 naming the flag.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <linux/perf_event.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "dispatch.h"

#define FD_RESERVE 16        /* stdio, epoll/ring/AIO fds, perf, libraries' own */
#define MAX_REPEATS 1000
#define WATCH_MS 100         /* watchdog tick */

/* The mechanisms, from their one table (mechs.h). */
static const struct {
	const char *name, *server, *what;
	const struct mech *mech;
} mechs[] = {
#define MECH_ENTRY(name, server, what) { #name, #server, what, &mech_##name },
	DISPATCH_MECHS(MECH_ENTRY)
#undef MECH_ENTRY
};
#define NMECHS ((int)(sizeof mechs / sizeof mechs[0]))
#define MECH_NAME(name, server, what) " " #name
static const char *const mech_names = DISPATCH_MECHS(MECH_NAME) + 1;   /* "select poll ..." */
#undef MECH_NAME
static const char *const kind_names[] = { "eventfd", "pipe", "socketpair", "auto" };

enum inject { INJECT_NONE, INJECT_LOSE, INJECT_DOUBLE, INJECT_SPURIOUS };

struct bench B;
static const struct mech *M;
static const char *model;    /* M's name, once --model is checked */
static struct {
	long writes, warmup;     /* --writes, --warmup (-1: default) */
	int repeats, json, lost_ms, max_s;
	uint64_t seed;
	enum inject inject;
} opt = { .writes = 100000, .warmup = -1, .repeats = 3, .lost_ms = 3000, .max_s = 600,
	  .seed = 12345 };
static int inject_armed;     /* only in the first timed run */
static int running;          /* watchdog: a run is in progress */
static int64_t run_start_ns;
static char kind_why[160], max_why[200], sys_why[200];
static int perf_fd = -1;

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* "dispatch: <model>: <message>[: <strerror(err)>]" on stderr. */
static void vmsg(int err, const char *fmt, va_list ap)
{
	fprintf(stderr, "dispatch: ");
	if (model)
		fprintf(stderr, "%s: ", model);
	vfprintf(stderr, fmt, ap); /* NOLINT(clang-analyzer-valist.Uninitialized): every caller va_start()s ap */
	if (err)
		fprintf(stderr, ": %s", strerror(err));
	fputc('\n', stderr);
}

void fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg(0, fmt, ap);
	va_end(ap);
	exit(1);
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

/* Usage errors: one line naming the flag, exit 2. M is not set yet. */
static void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	model = NULL;
	vmsg(0, fmt, ap);
	va_end(ap);
	exit(2);
}

long read_long(const char *path)
{
	long v = -1;
	FILE *f = fopen(path, "r");
	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

void block_signal(int sig)
{
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, sig);
	if (pthread_sigmask(SIG_BLOCK, &s, NULL))
		die("pthread_sigmask");
}

/* ---- the chain ------------------------------------------------------------- */

int next_slot(int slot, uint64_t *rng)
{
	if (B.method == METHOD_CHAIN)
		return slot + 1 == B.n ? 0 : slot + 1;
	*rng ^= *rng >> 12;                 /* xorshift64* */
	*rng ^= *rng << 25;
	*rng ^= *rng >> 27;
	return (int)(((*rng * 2685821657736338717ULL) >> 32) * (uint64_t)B.n >> 32);
}

static int inject_now(enum inject what)
{
	if (!inject_armed || opt.inject != what)
		return 0;
	long at = what == INJECT_SPURIOUS ? B.done : B.written;
	if (at < B.events / 2)
		return 0;
	inject_armed = 0;
	return 1;
}

void put_token(int slot)
{
	static const uint64_t one = 1;  /* eventfd adds it; a pipe takes its first byte */
	if (inject_now(INJECT_LOSE))
		return;                     /* counted as written, never written */
	for (int k = inject_now(INJECT_DOUBLE) ? 2 : 1; k > 0; k--) {
		ssize_t r;
		do
			r = write(B.wfd[slot], &one, (size_t)B.tok);
		while (r == -1 && errno == EINTR);
		if (r == -1)
			die("write(slot %d, fd %d)", slot, B.wfd[slot]);
		if (r != B.tok)
			fail("write(slot %d, fd %d) took %zd bytes, not %d", slot, B.wfd[slot], r, B.tok);
	}
}

int on_ready(int slot)
{
	uint64_t v;
	ssize_t r;
	do
		r = read(B.rfd[slot], &v, (size_t)B.tok);
	while (r == -1 && errno == EINTR);
	if (r != B.tok) {
		if (r == -1 && errno == EAGAIN)
			return 0;
		if (r == -1)
			die("read(slot %d, fd %d)", slot, B.rfd[slot]);
		fail("read(slot %d, fd %d) returned %zd bytes, not %d", slot, B.rfd[slot], r, B.tok);
	}
	if (B.written < B.events) {
		B.written++;
		put_token(next_slot(slot, &B.rng));
	}
	__atomic_store_n(&B.done, B.done + 1, __ATOMIC_RELAXED);  /* the watchdog reads it */
	return 1;
}

void exact_ready(int slot)
{
	if (!on_ready(slot))
		fail("slot %d (fd %d) was reported ready but held no token: "
		     "a doubled or spurious wake-up (event %ld of %ld)",
		     slot, B.rfd[slot], B.done + 1, B.events);
	if (inject_now(INJECT_SPURIOUS))
		exact_ready(slot);          /* as if the mechanism told us twice */
}

void drain(int slot)
{
	if (!on_ready(slot)) {
		B.empty++;                  /* edge/scan models: allowed, reported */
		return;
	}
	while (on_ready(slot))
		;                           /* at most the tokens written: bounded by W */
}

/* ---- limits and descriptors ------------------------------------------------ */

static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl))
		die("getrlimit(RLIMIT_NOFILE)");
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl))
			die("setrlimit(RLIMIT_NOFILE, %llu)", (unsigned long long)rl.rlim_max);
	}
	B.fd_limit = rl.rlim_cur > INT_MAX ? INT_MAX : (int)rl.rlim_cur;
}

/* Does an eventfd raise SIGIO with O_ASYNC? Only files with a ->fasync
 * operation do (pipes, sockets, ttys); fcntl() accepts O_ASYNC on the
 * others and simply never signals. So ask the kernel, once. */
static int eventfd_signals(void)
{
	sigset_t s, old;
	sigemptyset(&s);
	sigaddset(&s, SIGIO);
	pthread_sigmask(SIG_BLOCK, &s, &old);
	int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), got = 0;
	if (fd == -1)
		die("eventfd");
	static const uint64_t one = 1;
	if (fcntl(fd, F_SETOWN, getpid()) == 0 &&
	    fcntl(fd, F_SETFL, O_NONBLOCK | O_ASYNC) == 0 &&
	    write(fd, &one, sizeof one) == (ssize_t)sizeof one) {
		struct timespec zero = { 0, 0 };
		got = sigtimedwait(&s, NULL, &zero) == SIGIO;
	}
	close(fd);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return got;
}

static void choose_kind(enum fd_kind asked)
{
	int signals = M->kind == KIND_AUTO;
	if (signals) {
		int ok = eventfd_signals();
		if (asked == KIND_EVENTFD && !ok)
			usage_error("--fd-kind eventfd: an eventfd raises no SIGIO on this kernel "
				    "(no ->fasync), so %s cannot use it", model);
		if (asked == KIND_AUTO)
			asked = ok ? KIND_EVENTFD : KIND_PIPE;
		snprintf(kind_why, sizeof kind_why, "%s", ok ? "eventfd raises SIGIO here" :
			 "an eventfd raises no SIGIO with O_ASYNC (no ->fasync); a pipe signals on every write");
	} else if (asked == KIND_AUTO) {
		asked = M->kind;
		snprintf(kind_why, sizeof kind_why, "the model's default");
	} else {
		snprintf(kind_why, sizeof kind_why, "--fd-kind");
	}
	B.kind = asked;
	B.tok = B.kind == KIND_EVENTFD ? 8 : 1;
}

static int max_fds(void)
{
	int per = B.kind == KIND_EVENTFD ? 1 : 2;
	long n = (B.fd_limit - FD_RESERVE) / per;
	snprintf(max_why, sizeof max_why, "RLIMIT_NOFILE %d less %d kept back, %d descriptor%s per %s slot",
		 B.fd_limit, FD_RESERVE, per, per > 1 ? "s" : "", kind_names[B.kind]);
	if (M->max_slots) {
		char why[160] = "";
		long m = M->max_slots(why, sizeof why);
		if (m < n) {
			n = m;
			snprintf(max_why, sizeof max_why, "%s", why);
		}
	}
	return n < 0 ? 0 : (int)n;
}

static void make_slots(void)
{
	int nb = M->blocking ? 0 : 1;
	B.rfd = calloc((size_t)B.n, sizeof *B.rfd);
	B.wfd = calloc((size_t)B.n, sizeof *B.wfd);
	B.slot_of = malloc((size_t)B.fd_limit * sizeof *B.slot_of);
	if (!B.rfd || !B.wfd || !B.slot_of)
		die("malloc(%d slots)", B.n);
	memset(B.slot_of, 0xff, (size_t)B.fd_limit * sizeof *B.slot_of);   /* -1 */
	for (int i = 0; i < B.n; i++) {
		int p[2];
		switch (B.kind) {
		case KIND_EVENTFD:
			p[0] = p[1] = eventfd(0, EFD_SEMAPHORE | EFD_CLOEXEC | (nb ? EFD_NONBLOCK : 0));
			if (p[0] == -1)
				die("eventfd (slot %d)", i);
			break;
		case KIND_PIPE:
			if (pipe2(p, O_CLOEXEC | (nb ? O_NONBLOCK : 0)))
				die("pipe2 (slot %d)", i);
			break;
		default:
			if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | (nb ? SOCK_NONBLOCK : 0), 0, p))
				die("socketpair (slot %d)", i);
			break;
		}
		if (p[0] >= B.fd_limit)
			fail("fd %d is past RLIMIT_NOFILE %d", p[0], B.fd_limit);
		B.rfd[i] = p[0];
		B.wfd[i] = p[1];
		B.slot_of[p[0]] = i;
	}
}

/* ---- counters: system calls, CPU ------------------------------------------- */

static void open_syscall_counter(void)
{
	static const char *const ids[] = {
		"/sys/kernel/tracing/events/raw_syscalls/sys_enter/id",
		"/sys/kernel/debug/tracing/events/raw_syscalls/sys_enter/id",
	};
	long long id = -1;
	/* A fresh boot has no tracefs mounted (perf mounts it on first use):
	 * as root, mount it as perf would, then look again. */
	for (int pass = 0; pass < 2 && id < 0; pass++) {
		if (pass == 1 && (geteuid() != 0 || mount("nodev", "/sys/kernel/tracing", "tracefs", 0, NULL)))
			break;
		for (int i = 0; i < 2 && id < 0; i++) {
			FILE *f = fopen(ids[i], "r");
			if (f) {
				if (fscanf(f, "%lld", &id) != 1)
					id = -1;
				fclose(f);
			}
		}
	}
	if (id < 0) {
		snprintf(sys_why, sizeof sys_why, "cannot read %s: %s", ids[0], strerror(errno));
		return;
	}
	struct perf_event_attr a = {
		.type = PERF_TYPE_TRACEPOINT, .size = sizeof a, .config = (uint64_t)id,
		.disabled = 1, .inherit = 1,    /* threads created from now on count too */
	};
	perf_fd = (int)syscall(SYS_perf_event_open, &a, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
	if (perf_fd == -1)
		snprintf(sys_why, sizeof sys_why, "perf_event_open(raw_syscalls:sys_enter): %s",
			 strerror(errno));
}

static uint64_t read_counter(void)
{
	uint64_t v = 0;
	if (read(perf_fd, &v, sizeof v) != (ssize_t)sizeof v)
		die("read(perf counter)");
	return v;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double tv_s(struct timeval tv) { return (double)tv.tv_sec + tv.tv_usec / 1e6; }

/* ---- watchdog: a lost wake-up stalls the loop ------------------------------ */

static void *watchdog(void *arg)
{
	(void)arg;
	long last = -1;
	int64_t since = 0;
	for (;;) {
		struct timespec ts = { 0, WATCH_MS * 1000000L };
		nanosleep(&ts, NULL);
		if (!__atomic_load_n(&running, __ATOMIC_ACQUIRE)) {
			last = -1;
			continue;
		}
		long d = __atomic_load_n(&B.done, __ATOMIC_RELAXED);
		int64_t t = now_ns();
		if (d != last) {
			last = d;
			since = t;
		} else if (t - since > (int64_t)opt.lost_ms * 1000000) {
			fprintf(stderr, "dispatch: %s: no event for %d ms with %ld of %ld events done: "
				"a wake-up was lost (--lost-ms)\n", model, opt.lost_ms, d, B.events);
			_exit(1);
		}
		if (t - run_start_ns > (int64_t)opt.max_s * 1000000000) {
			fprintf(stderr, "dispatch: %s: run longer than --max-s %d (%ld of %ld events): "
				"use fewer --writes\n", model, opt.max_s, d, B.events);
			_exit(1);
		}
	}
	return NULL;
}

static void start_watchdog(void)
{
	sigset_t all, old;
	sigfillset(&all);               /* process signals (SIGIO) go to the loop's thread */
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_t t;
	pthread_attr_t at;
	pthread_attr_init(&at);
	pthread_attr_setstacksize(&at, 64 << 10);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	int e = pthread_create(&t, &at, watchdog, NULL);
	pthread_attr_destroy(&at);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e) {
		errno = e;
		die("pthread_create(watchdog)");
	}
}

/* ---- one run ----------------------------------------------------------------- */

struct sample { double ns_per_event, user_s, sys_s; };

static void check_drained(void)
{
	static struct pollfd *p;
	if (!p && !(p = calloc((size_t)B.n, sizeof *p)))
		die("calloc(%d pollfds)", B.n);
	for (int i = 0; i < B.n; i++)
		p[i] = (struct pollfd){ .fd = B.rfd[i], .events = POLLIN };
	int n = poll(p, (nfds_t)B.n, 0);
	if (n == -1)
		die("poll(%d fds)", B.n);
	for (int i = 0; n > 0 && i < B.n; i++)
		if (p[i].revents)
			fail("slot %d (fd %d) still holds a token after the run: "
			     "a write got no callback (revents 0x%x)", i, B.rfd[i], p[i].revents);
}

static struct sample run_once(long events, int count_syscalls, double *syscalls)
{
	struct rusage r0, r1;
	B.events = events;
	B.done = 0;
	B.written = B.active;           /* before the first write: threads read it */
	uint64_t c0 = 0;
	if (count_syscalls) {
		c0 = read_counter();
		if (ioctl(perf_fd, PERF_EVENT_IOC_ENABLE, 0))
			die("ioctl(PERF_EVENT_IOC_ENABLE)");
	}
	getrusage(RUSAGE_SELF, &r0);
	run_start_ns = now_ns();
	__atomic_store_n(&running, 1, __ATOMIC_RELEASE);
	int64_t t0 = now_ns();
	for (int i = 0; i < B.active; i++)
		put_token(B.method == METHOD_CHAIN ? (int)((long)i * B.n / B.active)
						  : next_slot(0, &B.rng));
	M->run();
	int64_t t1 = now_ns();
	__atomic_store_n(&running, 0, __ATOMIC_RELEASE);
	getrusage(RUSAGE_SELF, &r1);
	if (count_syscalls) {
		if (ioctl(perf_fd, PERF_EVENT_IOC_DISABLE, 0))
			die("ioctl(PERF_EVENT_IOC_DISABLE)");
		/* -1: the DISABLE ioctl itself entered while counting */
		*syscalls = (double)(read_counter() - c0 - 1) / (double)events;
	}
	long done = __atomic_load_n(&B.done, __ATOMIC_ACQUIRE);
	if (done != events)
		fail("%ld callbacks for %ld writes", done, events);
	check_drained();
	return (struct sample){
		.ns_per_event = (double)(t1 - t0) / (double)events,
		.user_s = tv_s(r1.ru_utime) - tv_s(r0.ru_utime),
		.sys_s = tv_s(r1.ru_stime) - tv_s(r0.ru_stime),
	};
}

/* ---- arguments --------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
"usage: dispatch --model M --fds N|max [--active A] [--writes W] [options]\n"
"       dispatch --list\n"
"  --model M        the mechanism: %s\n"
"  --list           the mechanisms, one a line: the name, the echo server whose\n"
"                   MODELS entry runs it in the harness's sweep, what it does\n"
"  --fds N|max      descriptors watched (max: this process's limit for the model)\n"
"  --active A       tokens in flight, 1..N (default 1)\n"
"  --writes W       events per run, >= A (default 100000)\n"
"  --method chain|random  successor: next slot (Provos) or a random one (Kerrisk)\n"
"  --repeats R      timed runs (default 3): median, min, max\n"
"  --warmup E       untimed events first, where system calls are counted\n"
"                   (default max(A, W/10); 0: no warm-up, no count)\n"
"  --fd-kind K      eventfd, pipe or socketpair (default: the model's)\n"
"  --seed S         random method's seed (default 12345)\n"
"  --lost-ms T      no event for T ms fails the run (default 3000)\n"
"  --max-s T        a run longer than T s fails (default 600)\n"
"  --json           one JSON object on stdout\n"
"  --inject X       test the checks: lose, double or spurious (one, mid-run)\n",
		mech_names);
}

static long parse_num(const char *flag, const char *s, long lo, long hi)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end)
		usage_error("%s %s: not a number", flag, s);
	if (v < lo || v > hi) {
		if (hi >= INT_MAX)
			usage_error("%s %s: must be at least %ld", flag, s, lo);
		usage_error("%s %s: must be %ld..%ld", flag, s, lo, hi);
	}
	return v;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "model", 1, 0, 'm' }, { "fds", 1, 0, 'n' }, { "active", 1, 0, 'a' },
		{ "writes", 1, 0, 'w' }, { "method", 1, 0, 'M' }, { "repeats", 1, 0, 'r' },
		{ "warmup", 1, 0, 'W' }, { "fd-kind", 1, 0, 'k' }, { "seed", 1, 0, 's' },
		{ "lost-ms", 1, 0, 'l' }, { "max-s", 1, 0, 'x' }, { "json", 0, 0, 'j' },
		{ "inject", 1, 0, 'i' }, { "list", 0, 0, 'L' }, { "help", 0, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	const char *asked = NULL, *fds = NULL, *active = "1";
	enum fd_kind kind = KIND_AUTO;
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", lo, NULL)) != -1) {
		switch (c) {
		case 'm': asked = optarg; break;
		case 'n': fds = optarg; break;
		case 'a': active = optarg; break;
		case 'w': opt.writes = parse_num("--writes", optarg, 1, LONG_MAX / 4); break;
		case 'r': opt.repeats = (int)parse_num("--repeats", optarg, 1, MAX_REPEATS); break;
		case 'W': opt.warmup = parse_num("--warmup", optarg, 0, LONG_MAX / 4); break;
		case 's': opt.seed = (uint64_t)parse_num("--seed", optarg, 1, LONG_MAX); break;
		case 'l': opt.lost_ms = (int)parse_num("--lost-ms", optarg, 10, 3600000); break;
		case 'x': opt.max_s = (int)parse_num("--max-s", optarg, 1, 86400); break;
		case 'j': opt.json = 1; break;
		case 'M':
			if (!strcmp(optarg, "chain"))
				B.method = METHOD_CHAIN;
			else if (!strcmp(optarg, "random"))
				B.method = METHOD_RANDOM;
			else
				usage_error("--method %s: must be chain or random", optarg);
			break;
		case 'k':
			for (kind = KIND_EVENTFD; kind < KIND_AUTO; kind++)
				if (!strcmp(optarg, kind_names[kind]))
					break;
			if (kind == KIND_AUTO)
				usage_error("--fd-kind %s: must be eventfd, pipe or socketpair", optarg);
			break;
		case 'i':
			if (!strcmp(optarg, "lose"))
				opt.inject = INJECT_LOSE;
			else if (!strcmp(optarg, "double"))
				opt.inject = INJECT_DOUBLE;
			else if (!strcmp(optarg, "spurious"))
				opt.inject = INJECT_SPURIOUS;
			else
				usage_error("--inject %s: must be lose, double or spurious", optarg);
			break;
		case 'h': usage(stdout); return 0;
		case 'L':
			for (int i = 0; i < NMECHS; i++)
				printf("%-18s %-9s %s\n", mechs[i].name, mechs[i].server,
				       mechs[i].what);
			return 0;
		case ':': usage_error("%s needs a value", argv[optind - 1]);
		default: usage_error("unknown option %s", argv[optind - 1]);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument %s", argv[optind]);
	if (!asked)
		usage_error("--model is required");
	for (int i = 0; i < NMECHS; i++)
		if (!strcmp(asked, mechs[i].name)) {
			M = mechs[i].mech;
			model = mechs[i].name;
		}
	if (!M)
		usage_error("--model %s: unknown (%s)", asked, mech_names);
	if (!fds)
		usage_error("--fds is required");

	raise_nofile();
	choose_kind(kind);
	int limit = max_fds();
	B.n = !strcmp(fds, "max") ? limit : (int)parse_num("--fds", fds, 1, INT_MAX);
	if (B.n > limit)
		usage_error("--fds %d: above this process's limit of %d for %s: %s",
			    B.n, limit, model, max_why);
	if (B.n < 1)
		usage_error("--fds max: this machine allows no slot for %s: %s", model, max_why);
	B.active = (int)parse_num("--active", active, 1, INT_MAX);
	if (B.active > B.n)
		usage_error("--active %d: more than --fds %d", B.active, B.n);
	if (opt.writes < B.active)
		usage_error("--writes %ld: fewer than --active %d (each seed token is an event)",
			    opt.writes, B.active);
	if (opt.warmup < 0)
		opt.warmup = opt.writes / 10 > B.active ? opt.writes / 10 : B.active;
	if (opt.warmup > 0 && opt.warmup < B.active)
		usage_error("--warmup %ld: fewer than --active %d (0 for none)", opt.warmup, B.active);
	B.rng = opt.seed;

	make_slots();
	start_watchdog();               /* before the counter: its sleeps are not ours */
	open_syscall_counter();
	int64_t s0 = now_ns();
	M->setup();
	int64_t setup_ns = now_ns() - s0;

	double syscalls = -1;
	if (opt.warmup > 0) {
		run_once(opt.warmup, perf_fd != -1, &syscalls);
	} else if (perf_fd != -1) {
		snprintf(sys_why, sizeof sys_why, "counted in the warm-up pass only, and --warmup is 0");
	}
	struct sample s[MAX_REPEATS];
	inject_armed = opt.inject != INJECT_NONE;
	for (int r = 0; r < opt.repeats; r++)
		s[r] = run_once(opt.writes, 0, NULL);

	/* Medians: sort each column on its own. */
	double ns[MAX_REPEATS] = { 0 }, us[MAX_REPEATS] = { 0 }, sy[MAX_REPEATS] = { 0 },
	       cpu[MAX_REPEATS] = { 0 };
	int R = opt.repeats;
	for (int r = 0; r < R; r++) {
		ns[r] = s[r].ns_per_event;
		us[r] = s[r].user_s;
		sy[r] = s[r].sys_s;
		cpu[r] = (s[r].user_s + s[r].sys_s) * 1e9 / (double)opt.writes;
	}
	for (double *col[] = { ns, us, sy, cpu }, **p = col; p < col + 4; p++)
		qsort(*p, (size_t)R, sizeof **p, cmp);
#define MED(a) (R % 2 ? (a)[R / 2] : ((a)[R / 2 - 1] + (a)[R / 2]) / 2)
	double med = MED(ns);
	const char *backend = M->backend ? M->backend() : model;
	cpu_set_t cs;
	int cpus = sched_getaffinity(0, sizeof cs, &cs) ? -1 : CPU_COUNT(&cs);
	struct utsname u;
	uname(&u);

	if (!opt.json) {
		printf("%s (%s), %s, %d %s slots, %d active, %ld events x %d runs\n",
		       model, backend, B.method == METHOD_CHAIN ? "chain" : "random", B.n,
		       kind_names[B.kind], B.active, opt.writes, R);
		printf("  %.0f ns/event (min %.0f, max %.0f), %.0f events/s, %.3f s per 100,000\n",
		       med, ns[0], ns[R - 1], 1e9 / med, med * 1e5 / 1e9);
		printf("  setup %.3f ms (%.0f ns/fd), cpu user %.3f s sys %.3f s per run, %.0f cpu ns/event\n",
		       setup_ns / 1e6, (double)setup_ns / B.n, MED(us), MED(sy), MED(cpu));
		if (syscalls >= 0)
			printf("  %.2f system calls/event\n", syscalls);
		else
			printf("  system calls: not counted (%s)\n", sys_why);
		if (B.empty || M == &mech_rtsig)
			printf("  %ld empty wake-ups, %ld queue overflows\n", B.empty, B.overflows);
		return 0;
	}
	printf("{\"model\":\"%s\",\"backend\":\"%s\",\"method\":\"%s\",\"fds\":%d,\"active\":%d,"
	       "\"writes\":%ld,\"repeats\":%d,\"warmup_events\":%ld,\"seed\":%llu,"
	       "\"fd_kind\":\"%s\",\"fd_kind_why\":\"%s\",\"fds_per_slot\":%d,\"fd_limit\":%d,"
	       "\"max_fds\":%d,\"max_fds_why\":\"%s\","
	       "\"ns_per_event\":%.1f,\"ns_per_event_min\":%.1f,\"ns_per_event_max\":%.1f,"
	       "\"events_per_s\":%.0f,\"s_per_100k_events\":%.6f,"
	       "\"setup_ns\":%lld,\"setup_ns_per_fd\":%.1f,\"cpu_user_s\":%.6f,\"cpu_sys_s\":%.6f,"
	       "\"cpu_ns_per_event\":%.1f,",
	       model, backend, B.method == METHOD_CHAIN ? "chain" : "random", B.n, B.active,
	       opt.writes, R, opt.warmup, (unsigned long long)opt.seed,
	       kind_names[B.kind], kind_why, B.kind == KIND_EVENTFD ? 1 : 2, B.fd_limit,
	       limit, max_why, med, ns[0], ns[R - 1], 1e9 / med, med * 1e5 / 1e9,
	       (long long)setup_ns, (double)setup_ns / B.n, MED(us), MED(sy), MED(cpu));
	if (syscalls >= 0)
		printf("\"syscalls_per_event\":%.4f,\"syscalls_why\":null,", syscalls);
	else
		printf("\"syscalls_per_event\":null,\"syscalls_why\":\"%s\",", sys_why);
	printf("\"empty_wakeups\":%ld,", B.empty);
	if (M == &mech_rtsig)
		printf("\"sigqueue_overflows\":%ld,", B.overflows);
	else
		printf("\"sigqueue_overflows\":null,");
	printf("\"cpus\":%d,\"kernel\":\"%s\",\"runs\":[", cpus, u.release);
	for (int r = 0; r < R; r++)
		printf("%s{\"ns_per_event\":%.1f,\"cpu_user_s\":%.6f,\"cpu_sys_s\":%.6f}",
		       r ? "," : "", s[r].ns_per_event, s[r].user_s, s[r].sys_s);
	printf("]}\n");
	return 0;
}
