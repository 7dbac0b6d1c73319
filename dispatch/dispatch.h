/*
 * dispatch.h - the dispatch benchmark's core, shared by every mechanism.
 *
 * N slots, each a descriptor that is readable while it holds tokens (an
 * eventfd in semaphore mode: one read takes one token; or a pipe or a
 * socketpair: one byte is one token). A tokens are written at the start;
 * each callback reads ONE token and writes one to the next slot (chain:
 * slot + 1, Provos's test/bench.c) or to a random slot (random: Kerrisk's
 * "one random descriptor ready per operation"), until the run has had its
 * W events. Only that loop is timed; registering the N descriptors with the
 * mechanism is timed apart (setup_ns).
 *
 * A mechanism file (dispatch/<model>.c) defines one `struct mech mech_<name>`
 * per line of the table in mechs.h (its only list of names): setup()
 * registers every slot, run() waits and dispatches until B.done == B.events,
 * calling the core for each readiness it is told of:
 *   exact_ready(slot)  level-triggered or one-shot, one notification per
 *                      token: the read MUST find a token, else the run fails
 *                      (a doubled or spurious wake-up);
 *   drain(slot)        edge-triggered or scanning: read tokens until EAGAIN;
 *                      a notification that finds none is counted (empty).
 * A lost wake-up stalls the loop; the core's watchdog fails the run.
 */
#ifndef DISPATCH_H
#define DISPATCH_H

#include <stdint.h>

#include "mechs.h"

enum fd_kind { KIND_EVENTFD, KIND_PIPE, KIND_SOCKETPAIR, KIND_AUTO };
enum method { METHOD_CHAIN, METHOD_RANDOM };

/* Its name is the table's (mechs.h): main.c pairs them. */
struct mech {
	enum fd_kind kind;       /* default descriptor; KIND_AUTO: signals probe */
	int blocking;            /* reads block (one thread per slot) */
	/* Extra cap on --fds beyond descriptors (threads, AIO slots): the
	 * largest N this machine allows, with why[] saying what limits it. */
	long (*max_slots)(char *why, int len);
	void (*setup)(void);     /* register every slot: timed as setup_ns */
	void (*run)(void);       /* dispatch until B.done == B.events: timed */
	const char *(*backend)(void);  /* what a library chose, or NULL */
};

struct bench {
	int n, active;           /* --fds, --active */
	long events;             /* this run's events (callbacks) */
	enum method method;
	enum fd_kind kind;
	int tok;                 /* bytes per token: 8 (eventfd) or 1 */
	int *rfd, *wfd;          /* per slot: read end, write end (same for eventfd) */
	int *slot_of;            /* read fd -> slot, -1 elsewhere */
	int fd_limit;            /* RLIMIT_NOFILE soft, raised to the hard limit */
	long done;               /* tokens read (callbacks) this run */
	long written;            /* tokens written this run, the seeds included */
	long empty;              /* notifications that found no token (drain) */
	long overflows;          /* rtsig: queue overflows, SIGIO fallbacks */
	uint64_t rng;            /* random method, single-threaded models */
};
extern struct bench B;

/* Read one token from slot; on success write the successor (while the run
 * has writes left) and count the event. 1: a token, 0: EAGAIN. */
int on_ready(int slot);
void exact_ready(int slot);
void drain(int slot);

/* The successor of slot for this method; *rng is the caller's state. */
int next_slot(int slot, uint64_t *rng);
void put_token(int slot);   /* one write, checked */

/* Fatal: exit 1 with the reason (fail) or the failed call and errno (die). */
void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* The first number in a /proc or /sys file, or -1 (a limit the machine sets). */
long read_long(const char *path);

/* Blocks sig in every thread created after this call (signal models). */
void block_signal(int sig);

#define WAIT_MS 1000         /* each wait's timeout: the watchdog judges stalls */

#define MECH_EXTERN(name, server, what) extern const struct mech mech_##name;
DISPATCH_MECHS(MECH_EXTERN)
#undef MECH_EXTERN

#endif
