/*
 * sigio.c - signal-driven I/O: O_ASYNC + F_SETOWN, one plain SIGIO for all.
 *
 * With O_ASYNC and an owner, a file with a ->fasync operation (pipes and
 * sockets; not eventfd, see main.c's probe) calls kill_fasync() when data
 * arrives, sending SIGIO. SIGIO is a standard signal: while one is pending
 * the next merge into it, and it names no descriptor. So after each one we
 * read every slot until EAGAIN: N system calls per wake-up, almost all
 * EAGAIN. A write during the scan leaves SIGIO pending, so the next wait
 * returns at once: merged, never lost; such a signal may then find nothing
 * (counted as empty). SIGIO is blocked and taken with sigtimedwait(), so
 * nothing runs in a handler. Owner first, then O_ASYNC.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include "dispatch.h"

static sigset_t set;

static void setup(void)
{
	block_signal(SIGIO);
	sigemptyset(&set);
	sigaddset(&set, SIGIO);
	pid_t self = getpid();
	for (int i = 0; i < B.n; i++)
		if (fcntl(B.rfd[i], F_SETOWN, self) || fcntl(B.rfd[i], F_SETFL, O_NONBLOCK | O_ASYNC))
			die("fcntl(slot %d, fd %d, F_SETOWN/O_ASYNC)", i, B.rfd[i]);
}

static void run(void)
{
	while (B.done < B.events) {
		struct timespec ts = { WAIT_MS / 1000, WAIT_MS % 1000 * 1000000L };
		if (sigtimedwait(&set, NULL, &ts) == -1) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			die("sigtimedwait");
		}
		long before = B.done;
		for (int i = 0; i < B.n; i++)
			while (on_ready(i))
				;
		if (B.done == before)
			B.empty++;
	}
}

const struct mech mech_sigio = { .kind = KIND_AUTO, .setup = setup, .run = run };
