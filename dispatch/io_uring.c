/*
 * io_uring.c - IORING_OP_POLL_ADD, one-shot (io_uring) and multishot
 * (io_uring_multishot).
 *
 * A one-shot poll request (Linux 5.1) posts one CQE with the revents when
 * the descriptor is ready and is then gone: each event costs a read and a
 * new POLL_ADD, all gathered into the next io_uring_enter(), which also
 * waits. A multishot poll (IORING_POLL_ADD_MULTI, 5.13) stays armed and
 * posts a CQE per wake-up while IORING_CQE_F_MORE is set; wake-ups that
 * come before it runs are merged into one CQE, so it is read until EAGAIN
 * like epoll ET. SINGLE_ISSUER|DEFER_TASKRUN (6.1) runs the poll
 * completions only inside our own io_uring_enter(), in one batch. Setup
 * submits N requests, SQ_ENTRIES per io_uring_enter().
 */
#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <string.h>

#include "dispatch.h"

#define SQ_ENTRIES 4096

static struct io_uring ring;
static int multishot;

static void arm(int slot)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
	if (!sqe) {                 /* SQ full: hand it to the kernel, then retry */
		int r = io_uring_submit(&ring);
		if (r < 0) {
			errno = -r;
			die("io_uring_submit");
		}
		sqe = io_uring_get_sqe(&ring);
	}
	if (multishot)
		io_uring_prep_poll_multishot(sqe, B.rfd[slot], POLLIN);
	else
		io_uring_prep_poll_add(sqe, B.rfd[slot], POLLIN);
	io_uring_sqe_set_data64(sqe, (uint64_t)slot);
}

static void setup_with(int multi)
{
	multishot = multi;
	struct io_uring_params p = {
		.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE,
		/* One CQE per ready slot at most: room for all, so none overflows. */
		.cq_entries = 2 * (unsigned)(B.n > SQ_ENTRIES ? B.n : SQ_ENTRIES),
	};
	int r = io_uring_queue_init_params(SQ_ENTRIES, &ring, &p);
	if (r < 0) {
		errno = -r;
		die("io_uring_queue_init(%d, SINGLE_ISSUER|DEFER_TASKRUN)", SQ_ENTRIES);
	}
	for (int i = 0; i < B.n; i++)
		arm(i);
	if ((r = io_uring_submit(&ring)) < 0) {
		errno = -r;
		die("io_uring_submit");
	}
}

static void run(void)
{
	while (B.done < B.events) {
		struct __kernel_timespec ts = { WAIT_MS / 1000, WAIT_MS % 1000 * 1000000L };
		struct io_uring_cqe *cqe;
		int r = io_uring_submit_and_wait_timeout(&ring, &cqe, 1, &ts, NULL);
		if (r < 0 && r != -ETIME && r != -EINTR) {
			errno = -r;
			die("io_uring_submit_and_wait_timeout");
		}
		unsigned head, seen = 0;
		io_uring_for_each_cqe(&ring, head, cqe) {
			int slot = (int)cqe->user_data;
			seen++;
			if (cqe->res < 0)
				fail("poll on slot %d: %s", slot, strerror(-cqe->res));
			if (!(cqe->res & POLLIN))
				fail("poll on slot %d: revents 0x%x", slot, cqe->res);
			if (!multishot) {
				exact_ready(slot);
				arm(slot);
			} else {
				drain(slot);
				if (!(cqe->flags & IORING_CQE_F_MORE))
					arm(slot);  /* the kernel ended it (CQ overflow, ...) */
			}
		}
		io_uring_cq_advance(&ring, seen);
	}
}

static void setup_one(void) { setup_with(0); }
static void setup_multi(void) { setup_with(1); }

const struct mech mech_io_uring = { .kind = KIND_EVENTFD, .setup = setup_one, .run = run };
const struct mech mech_io_uring_multishot = { .kind = KIND_EVENTFD, .setup = setup_multi,
	.run = run };
