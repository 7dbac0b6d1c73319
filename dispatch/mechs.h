/*
 * mechs.h - bin/dispatch's mechanisms, declared once (libuv's test-list.h):
 * every list of them is generated from DISPATCH_MECHS, which calls
 * X(name, server, what) once per mechanism, in the order of `dispatch
 * --list`, --help and the harness's dispatch sweep.
 *
 *   name    --model's value; a dispatch/<file>.c defines `const struct mech
 *           mech_<name>` (a name with no definition fails to link)
 *   server  the echo server (harness/models.py) whose entry in MODELS runs
 *           this mechanism in the sweep: its own name, or the model it is a
 *           variant of
 *   what    one line for --list; the kernel facts are in the file's header
 *
 * harness/dispatch_point.py reads this table as text, so the harness needs
 * no build: one X(name, server, "what") a line. tests/dispatch.t checks
 * that the table, `dispatch --list`, the harness and the mech_ definitions
 * agree.
 */
#ifndef DISPATCH_MECHS_H
#define DISPATCH_MECHS_H

#define DISPATCH_MECHS(X) \
	X(select,             select,   "select() on bitmaps past FD_SETSIZE: O(N) a wait") \
	X(poll,               poll,     "poll() over every descriptor: O(N) a wait") \
	X(epoll_lt,           epoll_lt, "epoll, level-triggered: O(ready), one read an event") \
	X(epoll_et,           epoll_et, "epoll, edge-triggered: a ready slot read until EAGAIN") \
	X(sigio,              sigio,    "O_ASYNC: one merged SIGIO, then a read of every slot") \
	X(rtsig,              rtsig,    "F_SETSIG: a queued realtime signal a token") \
	X(libaio,             libaio,   "kernel AIO: one-shot IOCB_CMD_POLL, io_getevents()") \
	X(io_uring,           io_uring, "io_uring: one-shot POLL_ADD, re-armed each event") \
	X(io_uring_multishot, io_uring, "io_uring: multishot POLL_ADD, read until EAGAIN") \
	X(libevent,           libevent, "libevent 2.1: a persistent EV_READ event a descriptor") \
	X(libev,              libev,    "libev 4: an ev_io watcher a descriptor") \
	X(libuv,              libuv,    "libuv 1.x: a uv_poll_t handle a descriptor") \
	X(threads,            threads,  "a thread blocked in read() a descriptor: no wait call") \
	X(busypoll,           busypoll, "nonblocking read() of every slot in turn, never sleeps")

#endif
