/*
 * pool.c - half-sync/half-async: one epoll loop does all the I/O, a fixed
 * pool of worker threads does the per-message work.
 *
 * The loop reads a chunk into a job and queues it (mutex + condvar); a worker
 * runs maybe_work(), lists the job as done and, if the list was empty, writes
 * an eventfd that the loop's epoll_wait watches; the loop sends the echo and
 * re-arms the connection. Per message the kernel does a futex wake of a
 * sleeping worker (none when no worker sleeps), two context switches and an
 * eventfd wake-up that a single loop does not pay; in exchange a long job
 * delays only its own connection. Connections use EPOLLONESHOT (2.6.2): one
 * event disables the fd, ERR/HUP included, until EPOLL_CTL_MOD re-arms it,
 * so the loop never hears of (or closes) a connection with a job in flight.
 * One MOD per message is the price. At most one job per connection.
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
			stats_flush();           /* this worker's counters, before main joins it */
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
		accept_failed();
		return;
	}
	arm(fd, EPOLL_CTL_ADD, EPOLLIN | EPOLLONESHOT);
}

static void on_readable(int fd)
{
	ssize_t n = conn_read(fd, buf, cfg.bufsize);
	if (n == 0)
		return conn_end(fd, &conns[fd].out, 0);         /* EOF: nothing in flight, all echoed */
	if (n < 0) {
		if (errno != EAGAIN)
			return conn_end(fd, &conns[fd].out, errno);
		return arm(fd, EPOLL_CTL_MOD, EPOLLIN | EPOLLONESHOT);
	}
	/* A copy into a job sized to the message: 10,000 connections with a
	 * small message in flight cost 5 MiB, not 160; the copy is cheaper
	 * than the hand-off. */
	struct job *j = job_get((size_t)n);
	if (!j)
		return conn_end(fd, &conns[fd].out, ENOMEM);
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
			conn_end(fd, &conns[fd].out, errno);
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
		return conn_end(fd, &conns[fd].out, errno);
	arm(fd, EPOLL_CTL_MOD, (r == 1 ? EPOLLIN : EPOLLOUT) | EPOLLONESHOT);
}

int main(int argc, char **argv)
{
	parse_args(argc, argv, "pool", OPT_WORKERS);
	setup_process();
	if (!cfg.workers) {     /* CPU-bound work: 2x CPUs lets one run while the loop
				 * preempts another; 4 at least, so a few long jobs
				 * do not hold every worker */
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
	sigset_t old;
	block_stop_signals(&old);       /* workers inherit it: the signals hit the loop */
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
