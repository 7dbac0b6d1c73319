/*
 * threads.c - blocking sockets, one detached pthread per connection.
 *
 * No readiness API: each thread sleeps inside read() or send() on its own
 * socket's wait queue, and the kernel's scheduler is the event loop: every
 * message costs a wake-up and a context switch into that connection's thread.
 * Per connection: a clone() (plus mmap/mprotect unless glibc's stack cache
 * has one), the touched pages of its stack and a kernel task with its own
 * unswappable kernel stack. RLIMIT_NPROC, kernel.threads-max, pid_max,
 * vm.max_map_count (two mappings per stack) and cgroup pids.max bite first:
 * pthread_create() then says EAGAIN and the connection is closed. A thread
 * blocked in send() reads nothing more: backpressure is free.
 * SIGTERM must interrupt the main thread's accept(): workers start with it
 * blocked (pthread_attr_setsigmask_np, glibc 2.32), and the listener has
 * SO_RCVTIMEO = STOP_CHECK_MS so a signal just before accept() is not lost.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define BACKOFF_MS 10   /* after a failed accept/thread: shed load, do not spin */

static void back_off(void)
{
	struct timespec ts = { 0, BACKOFF_MS * 1000000L };
	nanosleep(&ts, NULL);
}

static void *serve(void *arg)
{
	int fd = (int)(intptr_t)arg, err = 0;
	stats_register();                   /* its own counters; printed even if it still runs */
	char *buf = malloc(cfg.bufsize);    /* heap, not stack: --bufsize may exceed --stack-kb */
	if (!buf)
		err = ENOMEM;
	while (buf) {
		ssize_t n = conn_read(fd, buf, cfg.bufsize);   /* sleeps here */
		if (n <= 0) {
			err = n < 0 ? errno : 0;    /* 0: EOF, every reply was already written */
			break;
		}
		maybe_work(buf, (size_t)n);
		if (writen(fd, buf, (size_t)n) == -1) {   /* sleeps while the client is slow */
			err = errno;
			break;
		}
	}
	free(buf);
	conn_end(fd, NULL, err);
	stats_flush();                      /* into the process total, off the list */
	return NULL;
}

int main(int argc, char **argv)
{
	parse_args(argc, argv, "threads", OPT_STACK_KB);
	setup_process();

	pthread_attr_t attr;
	sigset_t stop_sigs;
	stop_signals(&stop_sigs);
	int err;
	if ((err = pthread_attr_init(&attr)) ||
	    (err = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED)) ||
	    (err = pthread_attr_setstacksize(&attr, (size_t)cfg.stack_kb * 1024)) ||
	    (err = pthread_attr_setsigmask_np(&attr, &stop_sigs)))
		die_err(err, "pthread_attr (stack %u KiB)", cfg.stack_kb);

	int lfd = listen_socket(1);
	struct timeval tmo = { 0, STOP_CHECK_MS * 1000 }, none = { 0, 0 };
	SC(SC_OTHER);
	if (setsockopt(lfd, SOL_SOCKET, SO_RCVTIMEO, &tmo, sizeof tmo))
		die("setsockopt(SO_RCVTIMEO, %d ms)", STOP_CHECK_MS);
	announce_ready(lfd);

	while (!stop) {
		int fd = accept_client(lfd, 1);     /* sleeps here; EINTR on SIGTERM */
		if (fd == -1) {
			if (accept_failed())            /* not a timeout, signal or EMFILE */
				back_off();
			continue;
		}
		SC(SC_OTHER);                       /* accepted sockets inherit the timeout */
		if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof none)) {
			conn_end(fd, NULL, errno);
			continue;
		}
		pthread_t tid;
		SC(SC_OTHER);                       /* clone(), plus mmap/mprotect for the stack */
		if ((err = pthread_create(&tid, &attr, serve, (void *)(intptr_t)fd))) {
			conn_end(fd, NULL, err);        /* EAGAIN: out of threads or memory */
			back_off();
		}
	}
	pthread_attr_destroy(&attr);            /* frees the sigmask extension */
	print_stats();                          /* workers are not joined: exit() ends them */
	return 0;
}
