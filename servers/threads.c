/*
 * threads.c - blocking sockets, one detached pthread per connection.
 *
 * No readiness API: each thread sleeps inside read() or send() on its own
 * socket's wait queue, and the kernel's scheduler is the event loop: every
 * message costs a wake-up and a context switch into that connection's
 * thread, and there are as many runnable threads as busy connections.
 * Memory per connection, measured here at 10,000 (64 KiB stacks): ~13 KiB
 * RSS (the touched stack pages, TLS, the read buffer's first page; the rest
 * of the stack is only reserved, with a guard page) plus the kernel's
 * task_struct and 16 KiB kernel stack (KernelStack in /proc/meminfo),
 * unswappable. Each accept costs a clone(), plus mmap()/mprotect() unless
 * glibc's cache of freed stacks has one. Limits that bite first:
 * RLIMIT_NPROC, kernel.threads-max, vm.max_map_count (two mappings per
 * stack), cgroup pids.max: pthread_create() then says EAGAIN, and the
 * connection is closed and counted as an error. Backpressure is free: a
 * thread blocked in send() reads nothing more.
 *
 * Stopping: SIGTERM/SIGINT must interrupt the main thread's accept(), so
 * workers are created with those signals blocked (pthread_attr_setsigmask_np,
 * glibc 2.32: the mask is set before the thread runs, so no window). A signal
 * landing between the `stop` test and accept() would still be lost, so the
 * listener gets SO_RCVTIMEO = STOP_CHECK_MS: accept() then returns EAGAIN at
 * least that often. Accepted sockets inherit that timeout from the listener,
 * so each one clears it (one setsockopt) before its worker blocks in read().
 * The timeout also ends accept_client()'s EMFILE drain, which on a blocking
 * listener would otherwise sleep in accept() until the next connect.
 * Workers are not joined: exit() after the JSON line ends them.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
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
	int fd = (int)(intptr_t)arg;
	char *buf = malloc(cfg.bufsize);    /* heap, not stack: --bufsize may exceed --stack-kb */
	if (!buf) {
		conn_error(ENOMEM);
		conn_close_fd(fd);
		return NULL;
	}
	for (;;) {
		ssize_t n = conn_read(fd, buf, cfg.bufsize);   /* sleeps here */
		if (n == 0)
			break;                      /* EOF: every reply was already written */
		if (n < 0) {
			conn_error(errno);
			break;
		}
		maybe_work(buf, (size_t)n);
		if (writen(fd, buf, (size_t)n) == -1) {   /* sleeps while the client is slow */
			conn_error(errno);
			break;
		}
	}
	free(buf);
	conn_close_fd(fd);
	return NULL;
}

int main(int argc, char **argv)
{
	parse_args(argc, argv, "threads", OPT_STACK_KB);
	setup_process();

	pthread_attr_t attr;
	sigset_t stop_sigs;
	sigemptyset(&stop_sigs);
	sigaddset(&stop_sigs, SIGTERM);
	sigaddset(&stop_sigs, SIGINT);
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
			if (errno == EAGAIN || errno == EINTR)
				continue;                   /* timeout, signal, or EMFILE handled */
			warnx_("accept: %s", strerror(errno));
			back_off();
			continue;
		}
		SC(SC_OTHER);
		if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof none)) {
			conn_error(errno);
			conn_close_fd(fd);
			continue;
		}
		pthread_t tid;
		SC(SC_OTHER);                       /* clone(), plus mmap/mprotect for the stack */
		if ((err = pthread_create(&tid, &attr, serve, (void *)(intptr_t)fd))) {
			conn_error(err);                /* EAGAIN: out of threads or memory */
			conn_close_fd(fd);
			back_off();
		}
	}
	pthread_attr_destroy(&attr);            /* frees the sigmask extension */
	print_stats();
	return 0;
}
