/*
 * delay_echo.c - an echo server for the load generator's tests: every echo
 * leaves --delay-us N after its bytes arrived, and the whole server can
 * freeze once (--stall-ms M after --stall-after S seconds), or for M ms of
 * every P (--stall-every-ms P, the first after --stall-after S, default P),
 * or corrupt one byte (--corrupt-after N: the byte after the first N
 * echoed). A freeze is a sleep of the one thread: what arrives meanwhile
 * waits in the socket buffers, as behind a stopped process. Each periodic
 * freeze starts P after the previous one was due (not after it ended), so
 * they keep their period; one that could not start in time is skipped and
 * counted (a "stalls N stalls_skipped K" line on stderr at exit).
 *
 * Same contract as the servers (common.h): --port 0, "READY <port>", one
 * JSON line of counters on SIGTERM. One epoll loop; the delay is a FIFO of
 * release marks (the delay is constant, so due times arrive in order) and
 * epoll_pwait2's nanosecond timeout wakes the loop when the head is due.
 * Each connection buffers what it read and may send only released bytes;
 * it stops reading past MAX_BUFFERED (backpressure). What is due is released
 * after every event, not once a batch of events is done: with no delay a
 * request is answered as soon as it is read, in the order read, so after a
 * freeze the first request waits for no later one (the test's fluid model).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define MAX_EVENTS   256
#define MAX_BUFFERED (1u << 20)   /* per connection, then stop reading */

struct conn {
	char *buf;
	size_t cap, off, len;     /* buffered bytes: buf[off .. off+len) */
	size_t released;          /* of those, may be sent now */
	uint32_t gen;             /* bumped on close: stale marks are skipped */
	int eof, reading, writing;
};

struct mark { uint64_t due; int fd; uint32_t gen; size_t n; };

static struct conn *conns;
static struct mark *marks;
static size_t mhead, mlen, mcap;     /* FIFO of marks (ring) */
static int epfd;
static char *rbuf;
static uint64_t delay_ns, stall_ns, stall_at_ns, stall_every_ns, corrupt_after = UINT64_MAX, echoed;
static uint64_t stalls, stalls_skipped;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void arm(int fd, int op)
{
	struct conn *c = &conns[fd];
	struct epoll_event ev = { .events = (c->reading ? EPOLLIN : 0) | (c->writing ? EPOLLOUT : 0),
				  .data.fd = fd };
	SC(SC_CTL);
	if (epoll_ctl(epfd, op, fd, &ev) == -1)
		die("epoll_ctl(fd %d)", fd);
}

static void drop(int fd, int err)
{
	struct conn *c = &conns[fd];
	if (err)
		conn_error(err);
	free(c->buf);
	uint32_t gen = c->gen + 1;
	memset(c, 0, sizeof *c);
	c->gen = gen;
	conn_close_fd(fd);
}

static void push_mark(int fd, size_t n)
{
	if (mlen == mcap) {
		size_t ncap = mcap ? mcap * 2 : 1024;
		struct mark *m = malloc(ncap * sizeof *m);
		if (!m)
			die("malloc(%zu marks)", ncap);
		for (size_t i = 0; i < mlen; i++)
			m[i] = marks[(mhead + i) % mcap];
		free(marks);
		marks = m;
		mcap = ncap;
		mhead = 0;
	}
	marks[(mhead + mlen++) % mcap] = (struct mark){ now_ns() + delay_ns, fd, conns[fd].gen, n };
}

/* Send what is released; close once EOF was seen and all is echoed. */
static void pump(int fd)
{
	struct conn *c = &conns[fd];
	while (c->released) {
		char *p = c->buf + c->off;
		if (echoed + c->released > corrupt_after && corrupt_after != UINT64_MAX) {
			p[corrupt_after - echoed] ^= 0x5a;   /* once */
			corrupt_after = UINT64_MAX;
		}
		ssize_t w = conn_write(fd, p, c->released);
		if (w < 0) {
			if (errno != EAGAIN)
				return drop(fd, errno);
			break;
		}
		c->off += (size_t)w;
		c->len -= (size_t)w;
		c->released -= (size_t)w;
		echoed += (uint64_t)w;
	}
	int want_out = c->released > 0, want_in = !c->eof && c->len < MAX_BUFFERED;
	if (c->eof && !c->len)
		return drop(fd, 0);              /* half-close: all echoed, now close */
	if (want_out != c->writing || want_in != c->reading) {
		c->writing = want_out;
		c->reading = want_in;
		arm(fd, EPOLL_CTL_MOD);
	}
}

static void on_readable(int fd)
{
	struct conn *c = &conns[fd];
	ssize_t n = conn_read(fd, rbuf, cfg.bufsize);
	if (n == 0) {
		c->eof = 1;
		if (!c->len)
			return drop(fd, 0);
		return pump(fd);             /* stop reading; echo the rest first */
	}
	if (n < 0) {
		if (errno != EAGAIN)
			drop(fd, errno);
		return;
	}
	maybe_work(rbuf, (size_t)n);
	if (c->off + c->len + (size_t)n > c->cap) {
		if (c->len)                  /* buf is NULL before the first message: memmove(NULL) is UB */
			memmove(c->buf, c->buf + c->off, c->len);
		c->off = 0;
		if (c->len + (size_t)n > c->cap) {
			size_t cap = (c->len + (size_t)n) * 2;
			char *b = realloc(c->buf, cap);
			if (!b)
				return drop(fd, ENOMEM);
			c->buf = b;
			c->cap = cap;
		}
	}
	memcpy(c->buf + c->off + c->len, rbuf, (size_t)n);
	c->len += (size_t)n;
	push_mark(fd, (size_t)n);
	if (c->len >= MAX_BUFFERED)
		pump(fd);                    /* updates the interest: stop reading */
}

/* Release every mark due by now, oldest first. */
static void release_due(uint64_t now)
{
	while (mlen && marks[mhead].due <= now) {
		struct mark m = marks[mhead];
		mhead = (mhead + 1) % mcap;
		mlen--;
		if (conns[m.fd].gen == m.gen && conns[m.fd].buf) {
			conns[m.fd].released += m.n;
			pump(m.fd);
		}
	}
}

static uint64_t arg_u64(const char *flag, const char *v, uint64_t max)
{
	char *end;
	errno = 0;
	unsigned long long x = strtoull(v ? v : "", &end, 10);
	if (!v || !*v || *v == '-' || *end || errno || x > max) {
		fprintf(stderr, "delay_echo: %s: '%s' is not a whole number from 0 to %llu\n",
			flag, v ? v : "", (unsigned long long)max);
		exit(2);
	}
	return x;
}

int main(int argc, char **argv)
{
	/* take our own flags out, hand the rest to the shared parser */
	char **rest = calloc((size_t)argc + 1, sizeof *rest);
	int nrest = 0;
	double stall_after_s = -1;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--delay-us")) {
			delay_ns = arg_u64(a, v, 10000000) * 1000; i++;
		} else if (!strcmp(a, "--stall-ms")) {
			stall_ns = arg_u64(a, v, 60000) * 1000000; i++;
		} else if (!strcmp(a, "--stall-after")) {
			stall_after_s = (double)arg_u64(a, v, 3600); i++;
		} else if (!strcmp(a, "--stall-every-ms")) {
			stall_every_ns = arg_u64(a, v, 3600000) * 1000000; i++;
		} else if (!strcmp(a, "--corrupt-after")) {
			corrupt_after = arg_u64(a, v, UINT64_MAX - 1); i++;
		} else {
			rest[nrest++] = argv[i];
		}
	}
	if (!strcmp(argv[argc - 1 > 0 ? argc - 1 : 0], "--help"))
		fprintf(stderr, "delay_echo also takes --delay-us N --stall-ms M --stall-after S "
			"--stall-every-ms P --corrupt-after N\n");
	if (stall_every_ns && (!stall_ns || stall_ns >= stall_every_ns)) {
		fprintf(stderr, "delay_echo: --stall-every-ms: needs --stall-ms shorter than the period\n");
		exit(2);
	}
	parse_args(nrest, rest, "delay_echo", 0);
	free(rest);   /* cfg keeps the strings (argv's), not this array */
	setup_process();
	prctl(PR_SET_TIMERSLACK, 1000UL);   /* 1 us, not 50 us: the delay is the point */
	conns = calloc((size_t)fd_limit(), sizeof *conns);
	rbuf = malloc(cfg.bufsize);
	if (!conns || !rbuf)
		die("calloc(%d conns)", fd_limit());

	int lfd = listen_socket(0);
	if ((epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		die("epoll_create1");
	struct epoll_event lev = { .events = EPOLLIN, .data.fd = lfd };
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &lev))
		die("epoll_ctl(listen)");
	announce_ready(lfd);
	uint64_t start = now_ns();
	stall_at_ns = UINT64_MAX;
	if (stall_ns && stall_after_s >= 0)
		stall_at_ns = start + (uint64_t)(stall_after_s * 1e9);
	else if (stall_ns && stall_every_ns)
		stall_at_ns = start + stall_every_ns;

	struct epoll_event evs[MAX_EVENTS];
	while (!stop) {
		uint64_t now = now_ns(), wake = now + (uint64_t)STOP_CHECK_MS * 1000000;
		if (mlen && marks[mhead].due < wake)
			wake = marks[mhead].due;
		if (stall_at_ns < wake)
			wake = stall_at_ns;
		struct timespec ts = { 0, 0 };
		if (wake > now)
			ts = (struct timespec){ (time_t)((wake - now) / 1000000000), (long)((wake - now) % 1000000000) };
		SC(SC_WAIT);
		int n = epoll_pwait2(epfd, evs, MAX_EVENTS, &ts, NULL);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			die("epoll_pwait2");
		}
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == lfd) {
				int cfd = accept_client(lfd, 0);
				if (cfd >= 0) {
					conns[cfd].reading = 1;
					arm(cfd, EPOLL_CTL_ADD);
				}
			} else if (!conns[fd].reading && !conns[fd].writing && !conns[fd].buf) {
				continue;   /* closed by a release earlier in this batch */
			} else if (conns[fd].writing && (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
				pump(fd);
			} else if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
				on_readable(fd);
			}
			if (mlen)
				release_due(now_ns());
		}
		now = now_ns();
		if (now >= stall_at_ns) {            /* the whole server freezes */
			struct timespec st = { (time_t)(stall_ns / 1000000000), (long)(stall_ns % 1000000000) };
			while (nanosleep(&st, &st) == -1 && errno == EINTR && !stop)
				;
			stalls++;
			now = now_ns();
			if (!stall_every_ns) {
				stall_at_ns = UINT64_MAX;
			} else {
				stall_at_ns += stall_every_ns;   /* the period, not the end: no drift */
				for (int i = 0; stall_at_ns <= now && i < 1000000; i++) {
					stall_at_ns += stall_every_ns;
					stalls_skipped++;
				}
			}
		}
		release_due(now);
	}
	fprintf(stderr, "delay_echo: stalls %llu stalls_skipped %llu\n", (unsigned long long)stalls,
		(unsigned long long)stalls_skipped);
	print_stats();
	return 0;
}
