/*
 * pool.c - half-sync/half-async: one epoll loop does all the I/O, a fixed
 * pool of worker threads does the per-message work.
 *
 * The loop reads a chunk into a job, disarms the connection and puts the
 * job on a bounded queue (mutex + condvar); a worker takes it, runs
 * maybe_work(), puts it on the completion list and, if that list was
 * empty, writes an eventfd that the loop polls; the loop writes the echo
 * and re-arms the connection. What the kernel does per message: a futex
 * wake of a sleeping worker (pthread_cond_signal skips it when none
 * sleeps), a context switch onto the worker, an eventfd write that wakes
 * epoll_wait, a context switch back: two wake-ups and up to 5 system calls
 * a message that a single loop does not pay (counted: 4.6 a message at
 * saturation, 7.4 at 5,000 msg/s, vs epoll_lt's 2.1 and 2.8); in exchange
 * a 1 ms job only delays its own connection, not every other one.
 *
 * Connections use EPOLLONESHOT (Linux 2.6.2): after one event the fd is
 * disabled, ERR/HUP included, until EPOLL_CTL_MOD re-arms it. So while a
 * job is in flight the loop never hears about its connection and cannot
 * close it: the close is naturally deferred until the job comes back (a
 * level-triggered fd left armed would spin on a reset peer meanwhile).
 * One MOD per message (re-arm) is the price. Backpressure: a reply the
 * socket would not take re-arms for EPOLLOUT only; reading resumes once the
 * pending bytes are gone. At most one job per connection is in flight.
 *
 * Workers: --workers N, default max(4, 2 x CPUs). The work is CPU-bound, so
 * more workers than CPUs only time-slice; 2x lets one worker run while
 * another is preempted by the loop thread, and at least 4 keeps a few 1 ms
 * jobs from holding every worker while light messages wait.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common.h"

#define MAX_EVENTS 1024      /* per epoll_wait */
#define QUEUE_CAP 1024       /* queued jobs: at most 1024 x bufsize of queued data */
#define SMALL_JOB 512        /* jobs come in two sizes: 512 bytes or cfg.bufsize */
#define FREE_JOBS 64         /* spares kept per size: memory follows the data in flight */

struct job {
	int fd;
	size_t len, cap;
	struct job *next;
	char data[];             /* cap bytes; len hold a copy of what one read returned */
};

struct conn {
	struct outbuf out;       /* bytes the kernel would not take yet */
};

static struct conn *conns;   /* indexed by fd; touched by the loop thread only */
static int epfd, evfd;

static pthread_mutex_t q_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_nonempty = PTHREAD_COND_INITIALIZER;
static pthread_cond_t q_nonfull = PTHREAD_COND_INITIALIZER;
static struct job *q_head, *q_tail;      /* submitted, FIFO */
static unsigned q_len;
static struct job *done;                 /* completed, any order */
static int quit;                         /* workers exit */
static unsigned idle;                    /* workers asleep in the condvar */

static pthread_t *tids;
static char *buf;                        /* the loop's read buffer */
static struct job *free_jobs[2];         /* [0] small, [1] bufsize; loop thread only */
static unsigned n_free[2];

static void arm(int fd, int op, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.fd = fd };
	SC(SC_CTL);
	if (epoll_ctl(epfd, op, fd, &ev) == -1)
		die("epoll_ctl(%d, fd %d)", op, fd);
}

static void conn_drop(int fd, int err)
{
	if (err)
		conn_error(err);
	outbuf_free(&conns[fd].out);
	conn_close_fd(fd);
}

/* Recycled, not freed: a free per message would also make ASan's quarantine
 * grow RSS by every byte echoed. */
static struct job *job_get(size_t n)
{
	int big = n > SMALL_JOB;
	struct job *j = free_jobs[big];
	if (j) {
		free_jobs[big] = j->next;
		n_free[big]--;
		return j;
	}
	size_t cap = big ? cfg.bufsize : SMALL_JOB;
	if ((j = malloc(sizeof *j + cap)))
		j->cap = cap;
	return j;
}

static void job_put(struct job *j)
{
	int big = j->cap > SMALL_JOB;
	if (n_free[big] >= FREE_JOBS)
		return free(j);
	j->next = free_jobs[big];
	free_jobs[big] = j;
	n_free[big]++;
}

static void *worker(void *arg)
{
	(void)arg;
	for (;;) {
		pthread_mutex_lock(&q_lock);
		while (!q_head && !quit) {
			idle++;
			SC(SC_OTHER);            /* futex wait */
			pthread_cond_wait(&q_nonempty, &q_lock);
			idle--;
		}
		if (quit) {
			pthread_mutex_unlock(&q_lock);
			return NULL;
		}
		struct job *j = q_head;
		if (!(q_head = j->next))
			q_tail = NULL;
		q_len--;
		pthread_cond_signal(&q_nonfull);
		pthread_mutex_unlock(&q_lock);

		maybe_work(j->data, j->len);    /* the point of the pool */

		pthread_mutex_lock(&q_lock);
		int was_empty = !done;
		j->next = done;
		done = j;
		pthread_mutex_unlock(&q_lock);
		if (was_empty) {                 /* else the loop has a wake-up coming */
			uint64_t one = 1;
			SC(SC_OTHER);
			if (write(evfd, &one, sizeof one) == -1 && errno != EAGAIN)
				die("write(eventfd)");
		}
	}
}

static void on_accept(int lfd)
{
	int fd = accept_client(lfd, 0);      /* one per event: LT reports it again */
	if (fd == -1) {
		if (errno != EAGAIN && errno != EINTR)
			warnx_("accept: %s", strerror(errno));
		return;
	}
	arm(fd, EPOLL_CTL_ADD, EPOLLIN | EPOLLONESHOT);
}

static void on_readable(int fd)
{
	ssize_t n = conn_read(fd, buf, cfg.bufsize);
	if (n == 0)
		return conn_drop(fd, 0);         /* EOF: nothing in flight, all echoed */
	if (n < 0) {
		if (errno != EAGAIN)
			return conn_drop(fd, errno);
		return arm(fd, EPOLL_CTL_MOD, EPOLLIN | EPOLLONESHOT);
	}
	/* A copy into a job sized to the message: 10,000 connections with a
	 * small message in flight cost 5 MiB, not 160; the copy is cheaper
	 * than the hand-off. */
	struct job *j = job_get((size_t)n);
	if (!j)
		return conn_drop(fd, ENOMEM);
	memcpy(j->data, buf, (size_t)n);
	j->fd = fd;
	j->len = (size_t)n;
	j->next = NULL;
	pthread_mutex_lock(&q_lock);
	while (q_len >= QUEUE_CAP)           /* workers always progress: short wait */
		pthread_cond_wait(&q_nonfull, &q_lock);
	if (q_tail)
		q_tail->next = j;
	else
		q_head = j;
	q_tail = j;
	q_len++;
	if (idle) {
		SC(SC_OTHER);                    /* futex wake; glibc skips it with no sleeper */
		pthread_cond_signal(&q_nonempty);
	}
	pthread_mutex_unlock(&q_lock);
	/* fd stays disarmed (ONESHOT) until the job returns */
}

static void on_done(void)
{
	uint64_t cnt;
	SC(SC_OTHER);                        /* read before taking the list: no lost wake-up */
	if (read(evfd, &cnt, sizeof cnt) == -1 && errno != EAGAIN)
		die("read(eventfd)");
	pthread_mutex_lock(&q_lock);
	struct job *j = done;
	done = NULL;
	pthread_mutex_unlock(&q_lock);
	while (j) {
		struct job *next = j->next;
		int fd = j->fd;
		if (send_or_keep(fd, &conns[fd].out, j->data, j->len) == -1)
			conn_drop(fd, errno);
		else if (outbuf_pending(&conns[fd].out))
			arm(fd, EPOLL_CTL_MOD, EPOLLOUT | EPOLLONESHOT);  /* stop reading */
		else
			arm(fd, EPOLL_CTL_MOD, EPOLLIN | EPOLLONESHOT);
		job_put(j);
		j = next;
	}
}

static void on_writable(int fd)
{
	int r = flush_pending(fd, &conns[fd].out);
	if (r == -1)
		return conn_drop(fd, errno);
	arm(fd, EPOLL_CTL_MOD, (r == 1 ? EPOLLIN : EPOLLOUT) | EPOLLONESHOT);
}

int main(int argc, char **argv)
{
	parse_args(argc, argv, "pool", OPT_WORKERS);
	setup_process();
	if (!cfg.workers) {
		cpu_set_t set;
		CPU_ZERO(&set);
		int cpus = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
		cfg.workers = cpus * 2 > 4 ? (unsigned)cpus * 2 : 4;
	}
	conns = calloc((size_t)fd_limit(), sizeof *conns);
	buf = malloc(cfg.bufsize);
	if (!conns || !buf)
		die("calloc(%d conns)", fd_limit());

	int lfd = listen_socket(0);
	if ((epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		die("epoll_create1");
	if ((evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1)
		die("eventfd");
	arm(lfd, EPOLL_CTL_ADD, EPOLLIN);
	arm(evfd, EPOLL_CTL_ADD, EPOLLIN);

	tids = calloc(cfg.workers, sizeof *tids);
	if (!tids)
		die("calloc(%u workers)", cfg.workers);
	sigset_t old, set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, &old);     /* workers inherit: signals hit the loop */
	for (unsigned i = 0; i < cfg.workers; i++) {
		int err = pthread_create(&tids[i], NULL, worker, NULL);
		if (err)
			die_err(err, "pthread_create(worker %u)", i);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	announce_ready(lfd);

	struct epoll_event evs[MAX_EVENTS];
	while (!stop) {
		SC(SC_WAIT);
		int n = epoll_wait(epfd, evs, MAX_EVENTS, STOP_CHECK_MS);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			die("epoll_wait");
		}
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == lfd)
				on_accept(lfd);
			else if (fd == evfd)
				on_done();
			else if (outbuf_pending(&conns[fd].out))
				on_writable(fd);             /* EPOLLOUT, or ERR/HUP: send() says which */
			else
				on_readable(fd);             /* read() reports the error or EOF */
		}
	}
	pthread_mutex_lock(&q_lock);
	quit = 1;
	pthread_cond_broadcast(&q_nonempty);
	pthread_mutex_unlock(&q_lock);
	for (unsigned i = 0; i < cfg.workers; i++)
		pthread_join(tids[i], NULL);
	print_stats();
	return 0;
}
