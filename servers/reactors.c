/*
 * reactors.c - one edge-triggered epoll loop per CPU, each with its own
 * listening socket in an SO_REUSEPORT group (the nginx / Netty shape).
 *
 * SO_REUSEPORT (Linux 3.9) gives each of N sockets bound to one port its own
 * accept queue; the kernel picks one per new connection by a hash of the
 * 4-tuple, so there is no shared queue, no lock between loops and no
 * thundering herd: a connection belongs to one thread from SYN to close. The
 * hash balances connections, not load, and closing a listener resets the
 * connections queued on it (unless net.ipv4.tcp_migrate_req, 5.14).
 * Connections: EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET, added once, read as in
 * epoll_et.c (stop at a short read unless an EOF or error is pending; at
 * most --drain full reads, then the loop's posted list). Listeners stay
 * level-triggered: a bounded accept batch per event.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include "common.h"

#define MAX_EVENTS 512       /* per epoll_wait; more wait for the next call */
#define ACCEPT_BATCH 64      /* accepts per listener event: LT reports the rest */

struct conn {
	int fd;
	char posted;             /* on its loop's posted list */
	char eof;                /* ET_EOF_EVENTS seen: read on to the EOF or error */
	struct conn *next;       /* posted list link */
	struct outbuf out;       /* bytes the kernel would not take yet */
};

struct loop {
	pthread_t tid;
	int lfd, epfd;
	char *buf;               /* one read buffer per loop */
	struct conn **conns;     /* this loop's connections, indexed by fd */
	struct conn *posted;     /* drain bound hit: ET will not report them again */
};

static struct loop *loops;
/* accept_client()'s EMFILE drain frees one process-wide spare descriptor and
 * accepts into it; another loop's accept4 could take that slot first, and the
 * level-triggered listener would spin. So accepts are serialised. */
static pthread_mutex_t accept_lock = PTHREAD_MUTEX_INITIALIZER;
static int wake_fd;          /* eventfd in every loop's set: stop now, not in 200 ms */

static int stopping(void)
{
	return __atomic_load_n(&stop, __ATOMIC_RELAXED);
}

static void conn_drop(struct loop *l, struct conn *c, int err)
{
	l->conns[c->fd] = NULL;
	conn_end(c->fd, &c->out, err);
	free(c);                /* never posted here: posted ones are served only by the walk */
}

static void on_accept(struct loop *l)
{
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		pthread_mutex_lock(&accept_lock);
		int fd = accept_client(l->lfd, 0);
		pthread_mutex_unlock(&accept_lock);
		if (fd == -1) {
			accept_failed();
			return;
		}
		struct conn *c = calloc(1, sizeof *c);
		if (!c) {
			conn_end(fd, NULL, ENOMEM);
			continue;
		}
		c->fd = fd;
		l->conns[fd] = c;
		/* Once, for the connection's life. ADD reports data already there. */
		struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
					  .data.fd = fd };
		SC(SC_CTL);
		if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) == -1)
			die("epoll_ctl(ADD, fd %d)", fd);
	}
}

/* Any event: flush what is pending, then read and echo until the queue is
 * known empty (EAGAIN, or a short read with no EOF pending), until the kernel
 * refuses output, or until the drain bound. While output is pending nothing
 * is read; the EPOLLOUT edge that follows the drain of the send buffer
 * resumes flushing, then reading. */
static void conn_serve(struct loop *l, struct conn *c)
{
	if (outbuf_pending(&c->out)) {
		int r = flush_pending(c->fd, &c->out);
		if (r == -1)
			return conn_drop(l, c, errno);
		if (r == 0)
			return;                         /* next EPOLLOUT edge */
	}
	for (unsigned i = 0; i < cfg.drain; i++) {
		ssize_t n = echo_some(c->fd, &c->out, l->buf);
		if (n == -1)
			return conn_drop(l, c, errno);     /* errno 0: EOF, all echoed */
		if (n == 0 || read_was_short(n, c->eof))
			return;                         /* queue empty: the next byte is a new edge */
		if (outbuf_pending(&c->out))
			return;                         /* backpressure: stop reading */
	}
	c->posted = 1;                              /* more may be queued: come back */
	c->next = l->posted;
	l->posted = c;
}

static void *loop_run(void *arg)
{
	struct loop *l = arg;
	struct epoll_event evs[MAX_EVENTS];
	while (!stopping()) {
		SC(SC_WAIT);
		int n = epoll_wait(l->epfd, evs, MAX_EVENTS, l->posted ? 0 : STOP_CHECK_MS);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			die("epoll_wait");
		}
		/* Take the posted list first: conn_serve may post again. */
		struct conn *p = l->posted;
		l->posted = NULL;
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			struct conn *c = l->conns[fd];
			if (fd == l->lfd) {
				on_accept(l);
			} else if (c) {
				c->eof |= (evs[i].events & ET_EOF_EVENTS) != 0;
				if (!c->posted)             /* posted: served just below */
					conn_serve(l, c);
			}
		}
		while (p) {
			struct conn *c = p;
			p = c->next;
			c->posted = 0;
			conn_serve(l, c);
		}
	}
	stats_flush();          /* this loop's counters, before main joins it */
	return NULL;
}

static unsigned cpus_allowed(void)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	if (sched_getaffinity(0, sizeof set, &set) == -1)
		return 1;
	int n = CPU_COUNT(&set);
	return n > 0 ? (unsigned)n : 1;
}

int main(int argc, char **argv)
{
	parse_args(argc, argv, "reactors", OPT_LOOPS | OPT_DRAIN);
	setup_process();
	block_stop_signals(NULL);   /* before any thread: only sigwaitinfo takes them */
	if (!cfg.loops)
		cfg.loops = cpus_allowed();

	loops = calloc(cfg.loops, sizeof *loops);
	if (!loops || (wake_fd = eventfd(0, EFD_CLOEXEC)) == -1)
		die("calloc(%u loops)/eventfd", cfg.loops);
	cfg.reuseport = 1;
	for (unsigned i = 0; i < cfg.loops; i++) {
		struct loop *l = &loops[i];
		l->lfd = listen_socket(0);
		if (i == 0 && cfg.port == 0) {      /* the rest join the port it got */
			struct sockaddr_in sa = { 0 };
			socklen_t len = sizeof sa;
			if (getsockname(l->lfd, (struct sockaddr *)&sa, &len) == -1)
				die("getsockname");
			cfg.port = ntohs(sa.sin_port);
		}
		if ((l->epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
			die("epoll_create1");
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = l->lfd };
		struct epoll_event wev = { .events = EPOLLIN, .data.fd = wake_fd };
		SC(SC_CTL);
		SC(SC_CTL);
		if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->lfd, &ev) == -1 ||
		    epoll_ctl(l->epfd, EPOLL_CTL_ADD, wake_fd, &wev) == -1)
			die("epoll_ctl(ADD, listener %d)", l->lfd);
		l->buf = malloc(cfg.bufsize);
		l->conns = calloc((size_t)fd_limit(), sizeof(struct conn *));
		if (!l->buf || !l->conns)
			die("malloc(%zu)/calloc(%d)", cfg.bufsize, fd_limit());
	}
	for (unsigned i = 0; i < cfg.loops; i++) {
		int err = pthread_create(&loops[i].tid, NULL, loop_run, &loops[i]);
		if (err)
			die_err(err, "pthread_create(loop %u)", i);
	}
	announce_ready(loops[0].lfd);

	sigset_t set;
	stop_signals(&set);
	while (!stopping()) {
		SC(SC_SIGWAIT);
		if (sigwaitinfo(&set, NULL) > 0)
			__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	}
	uint64_t one = 1;               /* level-triggered, never read: wakes every loop */
	SC(SC_OTHER);
	if (write(wake_fd, &one, sizeof one) == -1)
		warnx_("write(eventfd): %s", strerror(errno));
	for (unsigned i = 0; i < cfg.loops; i++)
		pthread_join(loops[i].tid, NULL);
	print_stats();
	return 0;
}
