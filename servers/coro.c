/*
 * coro.c - green threads: one coroutine per connection, written in blocking
 * style, scheduled by one epoll loop (the Go / Erlang answer to C10K).
 *
 * The kernel sees an ordinary single-threaded edge-triggered epoll server:
 * each connection is added once with EPOLLIN|EPOLLOUT|EPOLLET (as Go's
 * netpoller does) and never touched by epoll_ctl again. A coroutine calls
 * coro_read()/coro_write(); on EAGAIN they park it and switch to the
 * scheduler, which resumes it when epoll_wait reports its fd. A switch is
 * ours alone: no system call, no kernel scheduler, ~20 ns. ET rules still
 * hold: a parked coroutine has seen EAGAIN, so the next state change will
 * queue an edge; a coroutine that was runnable when its edge came reads
 * until EAGAIN anyway. One that never hits EAGAIN yields after cfg.drain
 * reads (the run queue is served after the next epoll_wait(timeout 0)), or
 * it would starve the others: there is no preemption here, unlike Go. The
 * same holds for --work-us: a 1 ms spin stops every connection for 1 ms.
 *
 * Switch: a hand-written x86-64 switch (push the six callee-saved
 * registers, swap rsp, pop, ret). ucontext's swapcontext() is portable but
 * saves and restores the signal mask with an rt_sigprocmask system call on
 * every switch: 275-330 ns vs 15-25 ns for ours (2M switches, a loaded
 * 2-CPU box), and two switches per message = two extra system calls. x86-64 only: elsewhere it does not build.
 *
 * Stacks: STACK_KB per coroutine, mmap'd with a PROT_NONE guard page below,
 * so an overflow is a SIGSEGV, not silent heap corruption (a malloc'd stack
 * is cheaper but unguarded). Only touched pages become resident (~8 KiB per
 * idle connection); each stack is 2 VMAs, so vm.max_map_count (65530)
 * caps us near 32,000 connections. Freed stacks are cached, not unmapped.
 * ASan: every switch is announced with __sanitizer_start_switch_fiber /
 * __sanitizer_finish_switch_fiber, and a reused stack is unpoisoned.
 */
#include <errno.h>
#include <sanitizer/asan_interface.h>   /* no-op macros without ASan */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common.h"

#if defined(__SANITIZE_ADDRESS__)
#define STACK_KB 64          /* ASan frames carry redzones */
#define FIBER_START(save, bottom, size) __sanitizer_start_switch_fiber(save, bottom, size)
#define FIBER_FINISH(save, bottom, size) __sanitizer_finish_switch_fiber(save, bottom, size)
#else
#define STACK_KB 32          /* measured peak use 3.3 KiB: 10x margin */
#define FIBER_START(save, bottom, size) ((void)(save), (void)(bottom), (void)(size))
#define FIBER_FINISH(save, bottom, size) ((void)(save), (void)(bottom), (void)(size))
#endif
#define STACK_SIZE ((size_t)STACK_KB << 10)
#define MAX_EVENTS 1024      /* per epoll_wait */
#define STACK_CACHE 256      /* spare stacks kept for reuse */
#if !defined(__x86_64__)
/* cppcheck-suppress preprocessorErrorDirective */
#error "coro.c has an x86-64 context switch only"
#endif

struct coro {
	void *sp;                /* saved stack pointer while switched out */
	char *stack;             /* lowest usable byte (the guard page is below) */
	int fd;
	int parked;              /* waiting for an epoll event */
	int dead;                /* finished: the scheduler frees it */
	struct coro *next;       /* run queue / stack cache link */
	struct outbuf out;       /* bytes the kernel would not take yet */
};

static struct coro **coros;              /* indexed by fd */
static struct coro *current;
static struct coro *runq_head, *runq_tail;
static struct coro *stack_cache;
static unsigned n_cached;
static char *buf;                        /* shared read buffer: never held across a switch */
static int epfd;
static void *sched_sp;                   /* the scheduler's saved stack pointer */
static const void *sched_bottom;         /* its stack, for ASan: learnt at the first switch */
static size_t sched_size;

/* Save the System V callee-saved registers on this stack, store rsp in
 * *save_sp, load load_sp, pop the other context's registers, return into it.
 * The caller-saved registers are dead across any call anyway. */
void c10k_coro_switch(void **save_sp, void *load_sp);
__asm__(".text\n.globl c10k_coro_switch\n.type c10k_coro_switch, @function\n"
	"c10k_coro_switch:\n"
	"\tpushq %rbp\n\tpushq %rbx\n\tpushq %r12\n\tpushq %r13\n\tpushq %r14\n\tpushq %r15\n"
	"\tmovq %rsp, (%rdi)\n\tmovq %rsi, %rsp\n"
	"\tpopq %r15\n\tpopq %r14\n\tpopq %r13\n\tpopq %r12\n\tpopq %rbx\n\tpopq %rbp\n"
	"\tret\n.size c10k_coro_switch, .-c10k_coro_switch\n");

/* Switch, telling ASan which stack we land on. A dying coroutine passes
 * NULL for the fake-stack save: it never comes back. */
static void switch_to(void **save, void *load, const void *bottom, size_t size, int dying)
{
	void *fake = NULL;
	FIBER_START(dying ? NULL : &fake, bottom, size);
	c10k_coro_switch(save, load);
	FIBER_FINISH(fake, NULL, NULL);
}

/* Scheduler -> coroutine co; returns when co parks, yields or ends. */
static void resume(struct coro *co)
{
	current = co;
	switch_to(&sched_sp, co->sp, co->stack, STACK_SIZE, 0);
	current = NULL;
}

/* Coroutine -> scheduler; returns when the scheduler resumes us. */
static void suspend(struct coro *co)
{
	switch_to(&co->sp, sched_sp, sched_bottom, sched_size, co->dead);
}

static void runq_push(struct coro *co)
{
	co->next = NULL;
	if (runq_tail)
		runq_tail->next = co;
	else
		runq_head = co;
	runq_tail = co;
}

/* Blocking-style read: parks on EAGAIN. >0 bytes, 0 EOF, -1 error. */
static ssize_t coro_read(struct coro *co, void *p, size_t n)
{
	for (;;) {
		ssize_t r = conn_read(co->fd, p, n);
		if (r >= 0 || errno != EAGAIN)
			return r;
		co->parked = 1;
		suspend(co);
	}
}

/* Blocking-style write: what the socket refuses is copied to co->out (buf is
 * shared), then we park until it drains. Not reading meanwhile is the
 * backpressure. 0 all written, -1 error. */
static int coro_write(struct coro *co, const char *p, size_t n)
{
	if (send_or_keep(co->fd, &co->out, p, n) == -1)
		return -1;
	while (outbuf_pending(&co->out)) {
		co->parked = 1;
		suspend(co);
		if (flush_pending(co->fd, &co->out) == -1)
			return -1;
	}
	return 0;
}

/* The whole per-connection program, as a thread-per-connection server
 * would write it. */
static void serve(struct coro *co)
{
	unsigned streak = 0;
	for (;;) {
		ssize_t n = coro_read(co, buf, cfg.bufsize);
		if (n <= 0) {
			if (n < 0)
				conn_error(errno);
			break;                           /* EOF: all was echoed */
		}
		maybe_work(buf, (size_t)n);
		if (coro_write(co, buf, (size_t)n) == -1) {
			conn_error(errno);
			break;
		}
		if (++streak >= cfg.drain) {             /* fairness: no preemption here */
			streak = 0;
			runq_push(co);
			suspend(co);
		}
	}
	outbuf_free(&co->out);
	coros[co->fd] = NULL;
	conn_close_fd(co->fd);                           /* also leaves the epoll set */
}

static void coro_entry(void)
{
	FIBER_FINISH(NULL, &sched_bottom, &sched_size);   /* first arrival */
	struct coro *co = current;
	serve(co);
	co->dead = 1;
	suspend(co);                                     /* never returns */
	abort();
}

static struct coro *coro_new(int fd)
{
	struct coro *co = stack_cache;
	if (co) {
		stack_cache = co->next;
		n_cached--;
		ASAN_UNPOISON_MEMORY_REGION(co->stack, STACK_SIZE);   /* frames that never returned */
	} else {
		size_t page = (size_t)sysconf(_SC_PAGESIZE);
		SC(SC_OTHER);
		char *m = mmap(NULL, STACK_SIZE + page, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
		if (m == MAP_FAILED)
			return NULL;
		SC(SC_OTHER);
		if (mprotect(m, page, PROT_NONE) == -1)   /* the guard page */
			die("mprotect(guard)");
		if (!(co = malloc(sizeof *co))) {
			munmap(m, STACK_SIZE + page);
			return NULL;
		}
		co->stack = m + page;
	}
	memset(&co->out, 0, sizeof co->out);
	co->fd = fd;
	co->parked = co->dead = 0;
	/* A frame that c10k_coro_switch pops into coro_entry, which then sees
	 * rsp % 16 == 8 as after a call; its return address is 0 (never used). */
	uintptr_t *sp = (uintptr_t *)(co->stack + STACK_SIZE);
	*--sp = 0;
	*--sp = (uintptr_t)coro_entry;
	for (int i = 0; i < 6; i++)
		*--sp = 0;                                   /* rbp rbx r12-r15 */
	co->sp = sp;
	return co;
}

static void coro_free(struct coro *co)
{
	if (n_cached < STACK_CACHE) {
		co->next = stack_cache;
		stack_cache = co;
		n_cached++;
		return;
	}
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	ASAN_UNPOISON_MEMORY_REGION(co->stack, STACK_SIZE);
	SC(SC_OTHER);
	munmap(co->stack - page, STACK_SIZE + page);
	free(co);
}

static void on_accept(int lfd)
{
	int fd = accept_client(lfd, 0);      /* one per event: LT reports it again */
	if (fd == -1) {
		if (errno != EAGAIN && errno != EINTR)
			warnx_("accept: %s", strerror(errno));
		return;
	}
	struct coro *co = coro_new(fd);
	if (!co) {
		conn_error(ENOMEM);
		return conn_close_fd(fd);
	}
	coros[fd] = co;
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLET, .data.fd = fd };
	SC(SC_CTL);
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) == -1)
		die("epoll_ctl(ADD, fd %d)", fd);
	runq_push(co);                       /* first run: read until EAGAIN, park */
}

int main(int argc, char **argv)
{
	parse_args(argc, argv, "coro", OPT_DRAIN);
	setup_process();
	buf = malloc(cfg.bufsize);
	coros = calloc((size_t)fd_limit(), sizeof(struct coro *));
	if (!buf || !coros)
		die("malloc(%zu)/calloc(%d)", cfg.bufsize, fd_limit());

	int lfd = listen_socket(0);
	if ((epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		die("epoll_create1");
	struct epoll_event lev = { .events = EPOLLIN, .data.fd = lfd };
	SC(SC_CTL);
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &lev) == -1)
		die("epoll_ctl(ADD, listener)");
	announce_ready(lfd);

	struct epoll_event evs[MAX_EVENTS];
	while (!stop) {
		SC(SC_WAIT);
		int n = epoll_wait(epfd, evs, MAX_EVENTS, runq_head ? 0 : STOP_CHECK_MS);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			die("epoll_wait");
		}
		for (int i = 0; i < n; i++) {
			struct coro *co = coros[evs[i].data.fd];
			if (evs[i].data.fd == lfd)
				on_accept(lfd);
			else if (co && co->parked) { /* else runnable already: it will read */
				co->parked = 0;
				runq_push(co);
			}
		}
		/* Run what is runnable now; what it re-queues waits for the next pass. */
		struct coro *tail = runq_tail;
		while (runq_head) {
			struct coro *co = runq_head;
			if (!(runq_head = co->next))
				runq_tail = NULL;
			int last = co == tail;
			resume(co);
			if (co->dead)
				coro_free(co);
			if (last)
				break;
		}
	}
	print_stats();
	return 0;
}
