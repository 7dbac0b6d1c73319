/*
 * rtsig.c - realtime signals: F_SETSIG + F_SETOWN_EX + O_ASYNC.
 *
 * F_SETSIG replaces SIGIO with a realtime signal, and realtime signals
 * queue instead of merging, each with a siginfo naming the descriptor
 * (si_fd). A pipe calls kill_fasync() on EVERY write, so each token queues
 * exactly one signal: one sigtimedwait() per event, one token read per
 * signal, no scan (Linux 2.4's answer to C10K, before epoll). Three fcntl()
 * per descriptor to register.
 *
 * The trap: the queue is bounded (RLIMIT_SIGPENDING, per user). When it is
 * full the kernel drops the event and queues a plain SIGIO instead. Then
 * every queued event is suspect: we count the overflow, discard the queue
 * (SIG_IGN on a blocked signal drops its pending instances), poll() every
 * descriptor once and read what is there. From then on a signal may find
 * its token already taken, so empty ones are counted, no longer fatal.
 * Run with `prlimit --sigpending=N` and --active > N to see it.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "dispatch.h"

static sigset_t set;
static int sig_rt, overflowed;
static struct pollfd *pfds;

static void setup(void)
{
	sig_rt = SIGRTMIN + 1;      /* glibc keeps the first ones for itself */
	block_signal(sig_rt);
	block_signal(SIGIO);        /* the kernel's "queue overflowed" */
	sigemptyset(&set);
	sigaddset(&set, sig_rt);
	sigaddset(&set, SIGIO);
	if (!(pfds = calloc((size_t)B.n, sizeof *pfds)))
		die("calloc(%d pollfds)", B.n);
	struct f_owner_ex own = { .type = F_OWNER_TID, .pid = gettid() };
	for (int i = 0; i < B.n; i++) {
		int fd = B.rfd[i];
		pfds[i] = (struct pollfd){ .fd = fd, .events = POLLIN };
		if (fcntl(fd, F_SETSIG, sig_rt) || fcntl(fd, F_SETOWN_EX, &own) ||
		    fcntl(fd, F_SETFL, O_NONBLOCK | O_ASYNC))
			die("fcntl(slot %d, fd %d, F_SETSIG/F_SETOWN_EX/O_ASYNC)", i, fd);
	}
}

static void on_overflow(void)
{
	B.overflows++;
	overflowed = 1;
	signal(sig_rt, SIG_IGN);    /* drops every queued instance ... */
	signal(sig_rt, SIG_DFL);    /* ... still blocked: only sigtimedwait takes it */
	int n = poll(pfds, (nfds_t)B.n, 0);
	if (n == -1)
		die("poll(%d fds)", B.n);
	for (int i = 0; i < B.n && n > 0; i++)
		if (pfds[i].revents) {
			n--;
			drain(i);
		}
}

static void run(void)
{
	while (B.done < B.events) {
		struct timespec ts = { WAIT_MS / 1000, WAIT_MS % 1000 * 1000000L };
		siginfo_t si;
		int sig = sigtimedwait(&set, &si, &ts);
		if (sig == -1) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			die("sigtimedwait");
		}
		if (sig == SIGIO) {
			on_overflow();
			continue;
		}
		if (si.si_fd < 0 || si.si_fd >= B.fd_limit || B.slot_of[si.si_fd] < 0)
			fail("signal for fd %d, not one of ours", si.si_fd);
		int slot = B.slot_of[si.si_fd];
		if (!overflowed)
			exact_ready(slot);
		else if (!on_ready(slot))
			B.empty++;          /* its token went in the overflow's poll() */
	}
}

const struct mech mech_rtsig = { .kind = KIND_AUTO, .setup = setup, .run = run };
