/*
 * mechs.h - bin/dispatch's mechanisms, declared once (libuv's test-list.h):
 * every list of them is generated from DISPATCH_MECHS, which calls
 * X(name, server) once per mechanism, in the order of `dispatch --list`,
 * --help and the harness's dispatch sweep.
 *
 *   name    --model's value; a dispatch/<file>.c defines `const struct mech
 *           mech_<name>` (a name with no definition fails to link)
 *   server  the echo server (harness/models.py) whose entry in MODELS runs
 *           this mechanism in the sweep: its own name, or the model it is a
 *           variant of
 *
 * harness/dispatch_point.py reads this table as text, so the harness needs
 * no build: one X(name, server) a line. tests/dispatch.t checks that the
 * table, bin/dispatch --list, the harness and the mech_ definitions agree.
 */
#ifndef DISPATCH_MECHS_H
#define DISPATCH_MECHS_H

#define DISPATCH_MECHS(X) \
	X(select, select) \
	X(poll, poll) \
	X(epoll_lt, epoll_lt) \
	X(epoll_et, epoll_et) \
	X(sigio, sigio) \
	X(rtsig, rtsig) \
	X(libaio, libaio) \
	X(io_uring, io_uring) \
	X(io_uring_multishot, io_uring) \
	X(libevent, libevent) \
	X(libev, libev) \
	X(libuv, libuv) \
	X(threads, threads) \
	X(busypoll, busypoll)

#endif
