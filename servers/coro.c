/*
 * coro.c - green threads: one coroutine per connection, written in blocking
 * style, scheduled by one epoll loop (the Go / Erlang answer to C10K).
 *
 * The kernel sees a single-threaded edge-triggered epoll server: each
 * connection is added once with EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET (as Go's
 * netpoller does). A coroutine parks on EAGAIN, and after a short read unless
 * an EOF or error is pending (as in epoll_et.c) or its echo had to wait for
 * room (the event that ended the wait may have been the input's only edge);
 * the loop resumes it on its next event. A switch is ours alone: no system
 * call (ucontext's swapcontext would make an rt_sigprocmask per switch). No
 * preemption: a coroutine yields after --drain full reads, and a --work-us
 * spin stalls everyone.
 * Stacks are mmap'd with a PROT_NONE guard page below (an overflow is a
 * SIGSEGV); only touched pages are resident; two VMAs per stack, so
 * vm.max_map_count bounds the connections. x86-64 only (the switch).
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
#define STACK_KB 32          /* ~10x the peak use of serve(): docs/models.md */
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
	char parked;             /* waiting for an epoll event */
	char eof;                /* ET_EOF_EVENTS seen: read on to the EOF or error */
	char dead;               /* finished: the scheduler frees it */
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
 * backpressure. 0 all written at once, 1 all written after parking (any
 * event resumes us, so an input edge may have been spent here), -1 error. */
static int coro_write(struct coro *co, const char *p, size_t n)
{
	int waited = 0;
	if (send_or_keep(co->fd, &co->out, p, n) == -1)
		return -1;
	while (outbuf_pending(&co->out)) {
		co->parked = 1;
		suspend(co);
		waited = 1;
		if (flush_pending(co->fd, &co->out) == -1)
			return -1;
	}
	return waited;
}

/* The whole per-connection program, as a thread-per-connection server
 * would write it. */
static void serve(struct coro *co)
{
	unsigned streak = 0;
	int err = 0;
	for (;;) {
		ssize_t n = coro_read(co, buf, cfg.bufsize);
		if (n <= 0) {
			err = n < 0 ? errno : 0;         /* 0: EOF, all was echoed */
			break;
		}
		maybe_work(buf, (size_t)n);
		int w = coro_write(co, buf, (size_t)n);
		if (w == -1) {
			err = errno;
			break;
		}
		/* A short read: the queue was empty then, and the next byte is an
		 * edge. Unless the write parked: an edge that came meanwhile woke
		 * the write, and no other will come for those bytes: read on. */
		if (w == 0 && read_was_short(n, co->eof)) {
			streak = 0;
			co->parked = 1;
			suspend(co);
		} else if (++streak >= cfg.drain) {      /* fairness: no preemption here */
			streak = 0;
			runq_push(co);
			suspend(co);
		}
	}
	coros[co->fd] = NULL;
	conn_end(co->fd, &co->out, err);
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
	co->parked = co->eof = co->dead = 0;
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
		accept_failed();
		return;
	}
	struct coro *co = coro_new(fd);
	if (!co)
		return conn_end(fd, NULL, ENOMEM);
	coros[fd] = co;
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
				  .data.fd = fd };
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
			if (evs[i].data.fd == lfd) {
				on_accept(lfd);
			} else if (co) {
				co->eof |= (evs[i].events & ET_EOF_EVENTS) != 0;
				if (co->parked) {    /* else runnable already: it will read */
					co->parked = 0;
					runq_push(co);
				}
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
