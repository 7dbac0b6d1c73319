/*
 * poll.c - poll() over an array of every descriptor.
 *
 * Each call copies in all N pollfds, calls ->poll() on each (adding us to
 * its wait queue), sleeps, removes itself from all N queues, and copies the
 * revents back: O(N) per wait whatever is ready, then O(N) here to find the
 * ready ones. Nothing is registered: setup is filling the array.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>

#include "dispatch.h"

static struct pollfd *pfds;   /* pfds[slot] */

static void setup(void)
{
	if (!(pfds = calloc((size_t)B.n, sizeof *pfds)))
		die("calloc(%d pollfds)", B.n);
	for (int i = 0; i < B.n; i++)
		pfds[i] = (struct pollfd){ .fd = B.rfd[i], .events = POLLIN };
}

static void run(void)
{
	while (B.done < B.events) {
		int n = poll(pfds, (nfds_t)B.n, WAIT_MS);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			die("poll(%d fds)", B.n);
		}
		for (int i = 0; i < B.n && n > 0; i++) {
			if (!pfds[i].revents)
				continue;
			n--;
			if (pfds[i].revents != POLLIN)
				fail("poll: slot %d revents 0x%x", i, pfds[i].revents);
			exact_ready(i);
		}
	}
}

const struct mech mech_poll = { .kind = KIND_EVENTFD, .setup = setup, .run = run };
