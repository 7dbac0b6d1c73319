/*
 * epoll.c - epoll, level- and edge-triggered (epoll_lt, epoll_et).
 *
 * epoll_ctl(ADD) hangs one callback on the descriptor's wait queue, once:
 * that is the registration cost setup_ns measures (N system calls). A wake-up
 * moves the item onto the ready list, and epoll_wait() only walks that list,
 * so a wait costs O(ready), not O(N). It re-polls each item before reporting
 * it, so an item whose token is already gone is not reported. LT puts a
 * still-ready item back on the list after reporting it; ET does not, so an
 * ET item is read until EAGAIN (a second token written before we read gives
 * no second event). Linux 2.5.44 (2002).
 */
#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "dispatch.h"

#define MAX_EVENTS 1024      /* per epoll_wait; more stay on the ready list */

static int epfd;

static void setup_with(uint32_t flags)
{
	if ((epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		die("epoll_create1");
	for (int i = 0; i < B.n; i++) {
		struct epoll_event ev = { .events = EPOLLIN | flags, .data.u32 = (uint32_t)i };
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, B.rfd[i], &ev))
			die("epoll_ctl(ADD, slot %d, fd %d)", i, B.rfd[i]);
	}
}

static void run_with(int et)
{
	struct epoll_event evs[MAX_EVENTS];
	while (B.done < B.events) {
		int n = epoll_wait(epfd, evs, MAX_EVENTS, WAIT_MS);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			die("epoll_wait");
		}
		for (int i = 0; i < n; i++) {
			if (evs[i].events != EPOLLIN)
				fail("epoll: slot %u events 0x%x", evs[i].data.u32, evs[i].events);
			if (et)
				drain((int)evs[i].data.u32);
			else
				exact_ready((int)evs[i].data.u32);
		}
	}
}

static void setup_lt(void) { setup_with(0); }
static void setup_et(void) { setup_with(EPOLLET); }
static void run_lt(void) { run_with(0); }
static void run_et(void) { run_with(1); }

const struct mech mech_epoll_lt = { .kind = KIND_EVENTFD, .setup = setup_lt, .run = run_lt };
const struct mech mech_epoll_et = { .kind = KIND_EVENTFD, .setup = setup_et, .run = run_et };
