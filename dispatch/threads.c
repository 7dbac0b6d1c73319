/*
 * threads.c - one thread per descriptor, each blocked in read().
 *
 * No readiness API: the scheduler is the event loop. A write wakes the one
 * thread sleeping on that eventfd's wait queue; it runs after a context
 * switch, reads its token and writes the next, waking the next thread. So
 * an event costs a wake-up and a switch, and the question is whether that
 * grows with the number of (sleeping) threads: the scheduler's run queue
 * holds only runnable ones. The counters are shared, so updated atomically;
 * the written count is bumped before the done count, so when done reaches
 * the run's events every thread has made its last write decision.
 *
 * Limits: each thread is a task (kernel stack, task_struct) counted against
 * kernel.pid_max and kernel.threads-max (system-wide, shared with everything
 * else on the machine), the cgroup's pids.max, and two mappings of
 * vm.max_map_count (stack and guard page): --fds is capped below them.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "dispatch.h"

#define STACK_BYTES (64 << 10)
#define TASKS_KEPT 1000      /* tasks left for the rest of the machine */

static int done_fd;          /* the thread with the last event wakes main */

/* Tasks (threads) alive on the machine: /proc/loadavg's "running/total". */
static long tasks_now(void)
{
	long run, total = -1;
	FILE *f = fopen("/proc/loadavg", "r");
	if (f) {
		if (fscanf(f, "%*s %*s %*s %ld/%ld", &run, &total) != 2)
			total = -1;
		fclose(f);
	}
	return total;
}

/* The cgroup v2 pids.max minus pids.current, or -1 if none applies. */
static long cgroup_pids_left(void)
{
	char path[512], line[400];
	long left = -1;
	FILE *f = fopen("/proc/self/cgroup", "r");
	if (!f)
		return -1;
	if (fgets(line, sizeof line, f) && !strncmp(line, "0::", 3)) {
		line[strcspn(line, "\n")] = 0;
		snprintf(path, sizeof path, "/sys/fs/cgroup%s/pids.max", line + 3);
		long max = read_long(path);
		snprintf(path, sizeof path, "/sys/fs/cgroup%s/pids.current", line + 3);
		long cur = read_long(path);
		if (max >= 0 && cur >= 0)   /* "max" does not parse: no limit */
			left = max - cur;
	}
	fclose(f);
	return left;
}

static long max_slots(char *why, int len)
{
	long tasks = tasks_now(), best = 1L << 30;
	struct { const char *name; long left; } lim[] = {
		{ "kernel.pid_max", read_long("/proc/sys/kernel/pid_max") - tasks },
		{ "kernel.threads-max", read_long("/proc/sys/kernel/threads-max") - tasks },
		{ "vm.max_map_count / 2", read_long("/proc/sys/vm/max_map_count") / 2 },
		{ "cgroup pids.max", cgroup_pids_left() },
	};
	for (unsigned i = 0; i < sizeof lim / sizeof lim[0]; i++) {
		if (lim[i].left < 0 || tasks < 0)
			continue;
		long n = lim[i].left - TASKS_KEPT;
		if (n < best) {
			best = n;
			snprintf(why, (size_t)len, "one thread per descriptor: %s leaves %ld tasks "
				 "(%ld running), %d kept for the rest of the machine",
				 lim[i].name, lim[i].left, tasks, TASKS_KEPT);
		}
	}
	return best;
}

static void *worker(void *arg)
{
	static const uint64_t one = 1;
	int slot = (int)(intptr_t)arg;
	uint64_t rng = B.rng ^ ((uint64_t)(slot + 1) * 0x9E3779B97F4A7C15ULL), v;
	for (;;) {
		ssize_t r = read(B.rfd[slot], &v, (size_t)B.tok);   /* sleeps here */
		if (r == -1 && errno == EINTR)
			continue;
		if (r != B.tok)
			die("read(slot %d, fd %d)", slot, B.rfd[slot]);
		long events = __atomic_load_n(&B.events, __ATOMIC_ACQUIRE);
		if (__atomic_fetch_add(&B.written, 1, __ATOMIC_ACQ_REL) < events)
			put_token(next_slot(slot, &rng));
		if (__atomic_add_fetch(&B.done, 1, __ATOMIC_ACQ_REL) == events &&
		    write(done_fd, &one, sizeof one) != (ssize_t)sizeof one)
			die("write(done eventfd)");
	}
	return NULL;
}

static void setup(void)
{
	if ((done_fd = eventfd(0, EFD_CLOEXEC)) == -1)
		die("eventfd");
	pthread_attr_t at;
	sigset_t all;
	sigfillset(&all);
	pthread_attr_init(&at);
	pthread_attr_setstacksize(&at, STACK_BYTES);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	pthread_attr_setsigmask_np(&at, &all);  /* signals stay with main (glibc 2.32) */
	for (int i = 0; i < B.n; i++) {
		pthread_t t;
		int e = pthread_create(&t, &at, worker, (void *)(intptr_t)i);
		if (e) {
			char why[200] = "";
			max_slots(why, sizeof why);
			errno = e;
			die("pthread_create (thread %d of %d; %s)", i + 1, B.n, why);
		}
	}
	pthread_attr_destroy(&at);
}

static void run(void)
{
	uint64_t v;
	while (__atomic_load_n(&B.done, __ATOMIC_ACQUIRE) < B.events)
		if (read(done_fd, &v, sizeof v) == -1 && errno != EINTR)
			die("read(done eventfd)");
}

const struct mech mech_threads = { .kind = KIND_EVENTFD, .blocking = 1,
	.max_slots = max_slots, .setup = setup, .run = run };
