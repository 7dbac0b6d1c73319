/*
 * libaio.c - kernel AIO (io_submit/io_getevents) with IOCB_CMD_POLL.
 *
 * IOCB_CMD_POLL (Linux 4.18) is a one-shot readiness request: it completes
 * with the revents mask in res when the descriptor is ready (at once if it
 * already is) and must be submitted again after each event. Setup submits N
 * of them; each event costs its io_getevents() share, a read, and the
 * re-arm, gathered into one io_submit() per loop turn. io_setup(nr) takes
 * nr from fs.aio-max-nr (system-wide), so the slots it leaves cap --fds.
 */
#include <errno.h>
#include <libaio.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"

#define MAX_EVENTS 1024      /* per io_getevents */
#define SUBMIT_BATCH 4096    /* iocbs per io_submit at setup */

static io_context_t ctx;
static struct iocb *cbs;      /* cbs[slot] */
static struct iocb **subq;    /* to re-arm at the top of the next turn */
static int nsub;

static long max_slots(char *why, int len)
{
	long max = read_long("/proc/sys/fs/aio-max-nr"), used = read_long("/proc/sys/fs/aio-nr");
	if (max < 0 || used < 0)
		return 1L << 30;            /* unknown: io_setup() will tell */
	snprintf(why, (size_t)len, "fs.aio-max-nr %ld, of which %ld in use: one AIO slot per descriptor",
		 max, used);
	return max - used;
}

static void submit(struct iocb **q, int n)
{
	while (n > 0) {
		int r = io_submit(ctx, n, q);
		if (r == -EINTR || r == -EAGAIN)
			continue;
		if (r < 0) {
			errno = -r;
			die("io_submit(%d iocbs)", n);
		}
		q += r;
		n -= r;
	}
}

static void arm(int slot)
{
	io_prep_poll(&cbs[slot], B.rfd[slot], POLLIN);
	cbs[slot].data = (void *)(intptr_t)slot;
	subq[nsub++] = &cbs[slot];
}

static void setup(void)
{
	int r = io_setup(B.n, &ctx);
	if (r < 0) {
		errno = -r;
		die("io_setup(%d)", B.n);
	}
	cbs = calloc((size_t)B.n, sizeof *cbs);
	subq = calloc((size_t)B.n, sizeof(struct iocb *));
	if (!cbs || !subq)
		die("calloc(%d iocbs)", B.n);
	for (int i = 0; i < B.n; i++) {
		arm(i);
		if (nsub == SUBMIT_BATCH || i == B.n - 1) {
			submit(subq, nsub);
			nsub = 0;
		}
	}
}

static void run(void)
{
	struct io_event evs[MAX_EVENTS];
	while (B.done < B.events) {
		submit(subq, nsub);
		nsub = 0;
		struct timespec ts = { WAIT_MS / 1000, WAIT_MS % 1000 * 1000000L };
		int n = io_getevents(ctx, 1, MAX_EVENTS, evs, &ts);
		if (n == -EINTR)
			continue;
		if (n < 0) {
			errno = -n;
			die("io_getevents");
		}
		for (int i = 0; i < n; i++) {
			int slot = (int)(intptr_t)evs[i].data;
			long res = (long)evs[i].res;
			if (res < 0)
				fail("IOCB_CMD_POLL on slot %d: %s", slot, strerror((int)-res));
			if (!(res & POLLIN))
				fail("IOCB_CMD_POLL on slot %d: revents 0x%lx", slot, res);
			exact_ready(slot);
			arm(slot);
		}
	}
}

const struct mech mech_libaio = { .kind = KIND_EVENTFD,
	.max_slots = max_slots, .setup = setup, .run = run };
