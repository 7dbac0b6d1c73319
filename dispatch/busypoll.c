/*
 * busypoll.c - no wait at all: nonblocking read() on every slot in turn.
 *
 * One system call per descriptor per pass, ready or not: O(N) per event
 * when the ready slot is random, O(1) on the chain (the next ready slot is
 * the next one read). It never sleeps, so it burns its CPU even when idle.
 */
#include "dispatch.h"

static void setup(void) { }

static void run(void)
{
	while (B.done < B.events)
		for (int i = 0; i < B.n; i++)
			while (on_ready(i))
				;
}

const struct mech mech_busypoll = { .kind = KIND_EVENTFD, .setup = setup, .run = run };
