/*
 * common.h - everything an echo server needs that is NOT its I/O model.
 *
 * Each servers/<model>.c keeps its own loop and its model's system calls in
 * view; this header gives it the rest, written once:
 *   - the contract (flags, READY line, JSON counters on SIGTERM/SIGINT),
 *   - the listening socket and accept() with EMFILE handling,
 *   - counted read()/write() wrappers for nonblocking sockets, the
 *     pending-output buffer that turns partial writes into backpressure, and
 *     the end of a connection,
 *   - the optional per-message CPU work (--work-us/--work-every).
 *
 * Counters are per thread (plain adds, no shared cache line on the hot
 * path), added into the process total when a thread ends (stats_flush) or
 * read where they stand at exit (stats_register).
 */
#ifndef C10K_COMMON_H
#define C10K_COMMON_H

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/types.h>

/* ---- configuration ------------------------------------------------------ */

/* Model-specific flags a server may accept (bitmask for parse_args). */
enum {
	OPT_STACK_KB    = 1u << 0, /* --stack-kb N     thread stack size (threads) */
	OPT_AIO_THREADS = 1u << 1, /* --aio-threads N  glibc AIO helper threads */
	OPT_LOOPS       = 1u << 2, /* --loops N        event loops (reactors) */
	OPT_WORKERS     = 1u << 3, /* --workers N      worker threads (pool) */
	OPT_PROCS       = 1u << 4, /* --procs N        processes (prefork) */
	OPT_MAX_CONNS   = 1u << 5, /* --max-conns N    fixed tables (io_uring, libaio, aio) */
	OPT_DRAIN       = 1u << 6, /* --drain N        max reads per ET event (epoll_et) */
};

struct config {
	const char *model;     /* "epoll_lt", ... : the JSON "model" field */
	const char *addr;      /* --addr, default 127.0.0.1 */
	int port;              /* --port, 0 = kernel picks */
	int backlog;           /* --backlog, default 4096 */
	size_t bufsize;        /* --bufsize, default 16384 */
	int reuseport;         /* --reuseport: join an SO_REUSEPORT group */
	int awake;             /* --awake: keep this process's CPUs from idling */
	unsigned work_us;      /* --work-us: CPU spin per message, default 0 */
	unsigned work_every;   /* --work-every: every K-th message works, default 1 */
	/* model-specific, valid only when the model asked for them */
	unsigned stack_kb;     /* default 64 */
	unsigned aio_threads;  /* default 0 = model decides */
	unsigned loops;        /* default 0 = CPUs we may run on */
	unsigned workers;      /* default 0 = model decides */
	unsigned procs;        /* default 0 = model decides */
	unsigned max_conns;    /* default 0 = derive from RLIMIT_NOFILE */
	unsigned drain;        /* default 16 */
};
extern struct config cfg;

/* Parse argv into cfg. `extra` is the OPT_* mask of model flags this server
 * accepts; anything else prints usage and exits 2. --help exits 0. */
void parse_args(int argc, char **argv, const char *model, unsigned extra);

/* ---- counters ----------------------------------------------------------- */

/* System-call kinds counted per model; "total" is their sum. */
enum sc_kind {
	SC_ACCEPT, SC_READ, SC_WRITE, SC_CLOSE, SC_WAIT, SC_CTL,
	SC_SUBMIT, SC_SIGWAIT, SC_OTHER, SC_KINDS
};

/* One thread's counters. Only that thread writes them, with plain adds: no
 * locked instruction and no cache line shared between threads per echo. */
struct stats {
	uint64_t accepted, closed;
	uint64_t bytes_in, bytes_out, messages;
	uint64_t errors;      /* per-connection failures of any kind */
	uint64_t resets;      /* ECONNRESET / EPIPE seen (also in errors) */
	uint64_t emfile;      /* accepts dropped for lack of descriptors */
	uint64_t overflows;   /* rtsig queue overflows; -ENOBUFS re-arms; ... */
	uint64_t sc[SC_KINDS];
};
extern __thread struct stats stats __attribute__((tls_model("local-exec")));

#define STAT_ADD(field, n) (stats.field += (uint64_t)(n))
#define SC(kind) (stats.sc[kind]++)

/* The process's totals: what ended threads flushed, and the open-connection
 * gauge (atomics, touched once per accept and close). prefork points this at
 * MAP_SHARED memory before fork(), so its children add into the parent's. */
struct totals {
	struct stats sum;
	uint64_t cur_conns, peak_conns;
};
extern struct totals *totals;

/* Add this thread's counters into totals->sum (atomic adds) and zero them.
 * Every thread but the one that calls print_stats() calls it once as it
 * ends, before it is joined (prefork's children: after each connection). */
void stats_flush(void);
/* For a thread that may still run when print_stats() is called (threads.c's
 * detached workers): list its counters so print_stats() adds them as they
 * are then; its stats_flush() takes them off the list. */
void stats_register(void);

/* Bookkeeping for one accepted / one closed connection (updates peak). */
void conn_opened(void);
void conn_closed(void);
/* Record a per-connection error (errno value); ECONNRESET/EPIPE count as resets. */
void conn_error(int err);

/* ---- lifecycle ---------------------------------------------------------- */

/* Set by SIGTERM/SIGINT. The handler is installed without SA_RESTART, so a
 * blocked wait returns EINTR; loops must also wake at least every
 * STOP_CHECK_MS so a signal landing just before the wait is not missed.
 * (io_uring.c blocks both and takes them as a completion instead, from a
 * signalfd polled in its ring, and sets stop itself.) */
extern volatile sig_atomic_t stop;
#define STOP_CHECK_MS 200

/* SIGTERM/SIGINT -> stop, SIGPIPE ignored, RLIMIT_NOFILE soft raised to hard. */
void setup_process(void);
/* *set = { SIGTERM, SIGINT }; a model adds its own signals to it. */
void stop_signals(sigset_t *set);
/* Block SIGTERM and SIGINT in the calling thread (threads it creates inherit
 * the mask, so only the thread that waits for them takes them); the mask
 * before goes to *old unless old is NULL. */
void block_stop_signals(sigset_t *old);
/* Print "READY <port>\n" on stdout and flush. */
void announce_ready(int lfd);
/* Print the one JSON object of counters on stdout (called once, at exit):
 * totals->sum plus the calling thread's own counters. */
void print_stats(void);

/* ---- sockets ------------------------------------------------------------ */

/* socket/bind/listen per cfg; nonblocking unless blocking != 0. */
int listen_socket(int blocking);
int set_nonblock(int fd);

/* Accept one connection (accept4 with SOCK_NONBLOCK unless blocking).
 * Returns the fd, or -1 with errno: EAGAIN (nothing pending), EINTR, or a
 * fatal error. ECONNABORTED/EPROTO are retried. On EMFILE/ENFILE it frees a
 * reserved descriptor, accepts and closes pending connections until EAGAIN
 * (so level-triggered waits do not spin), counts them in stats.emfile,
 * re-reserves the descriptor, and returns -1 with errno EAGAIN. */
int accept_client(int lfd, int blocking);
/* After accept_client() returned -1: 0 when errno is EAGAIN (nothing queued,
 * or the EMFILE drain ran) or EINTR; otherwise warns "accept: <error>" and
 * returns 1 (the caller ends this batch and backs off if it must). */
int accept_failed(void);

/* Counted read() on a socket: retries EINTR, adds bytes_in and messages.
 * Returns >0 bytes, 0 at EOF, -1 with errno (EAGAIN or a real error). */
ssize_t conn_read(int fd, void *buf, size_t n);
/* Counted write() (MSG_NOSIGNAL send): retries EINTR, adds bytes_out. */
ssize_t conn_write(int fd, const void *buf, size_t n);
/* Counted close(); never retried (POSIX leaves the fd state unspecified). */
void conn_close_fd(int fd);

/* Blocking models: write all n bytes (UNP's writen). -1 on error. */
ssize_t writen(int fd, const void *buf, size_t n);

/* Pending output of one nonblocking connection. Empty and unallocated on an
 * idle connection, so it costs 16 bytes; the storage (cfg.bufsize) exists
 * only while the kernel refused part of a reply. */
struct outbuf {
	char *data;
	uint32_t off, len;
};
/* Write n bytes now; keep what the socket would not take in ob.
 * Returns 0 (all sent or kept: check outbuf_pending), -1 on error (errno). */
int send_or_keep(int fd, struct outbuf *ob, const char *p, size_t n);
/* Write what ob holds. Returns 1 drained, 0 still pending, -1 error (errno). */
int flush_pending(int fd, struct outbuf *ob);
static inline int outbuf_pending(const struct outbuf *ob) { return ob->len > ob->off; }
void outbuf_free(struct outbuf *ob);

/* The end of a connection: count err unless 0 (0 = EOF, all echoed), free
 * the pending output (ob may be NULL), close the fd. close() also takes the
 * fd out of every epoll interest list and fasync list. A model's own tables
 * (fd sets, ready lists) are its own business, before this call. */
void conn_end(int fd, struct outbuf *ob, int err);

/* ---- per-message work (the event loop's weak point) --------------------- */

/* The key that makes a message heavy: its first two bytes, little-endian
 * (one byte when n == 1). The load generator uses the same definition
 * (clients/) so it knows which replies were heavy. */
static inline unsigned work_key(const void *msg, size_t n)
{
	const unsigned char *b = msg;
	return n >= 2 ? (unsigned)(b[0] | b[1] << 8) : n == 1 ? b[0] : 0;
}

/* Called once per received message (a read that returned data), with the
 * bytes read. Spins cfg.work_us of calibrated arithmetic when
 * work_key(msg, n) % cfg.work_every == 0; costs one branch when --work-us
 * is 0. Stateless, so thread-safe. */
void maybe_work(const void *msg, size_t n);

/* One echo step of a nonblocking connection: read up to cfg.bufsize into
 * buf, do the message's work, send it, keep in ob what the socket would not
 * take. Returns the bytes read (> 0: check outbuf_pending before reading
 * again), 0 when the socket had nothing (EAGAIN), or -1 when the connection
 * is done: errno is 0 at EOF (everything was echoed), else the error.
 * Inline: it is every readiness server's hot path (an out-of-line call cost
 * ~18 user-space instructions per echo under callgrind, +10% on epoll_lt). */
static inline ssize_t echo_some(int fd, struct outbuf *ob, char *buf)
{
	ssize_t n = conn_read(fd, buf, cfg.bufsize);
	if (n == 0) {
		errno = 0;              /* EOF: the peer is done and all was echoed */
		return -1;
	}
	if (n < 0)
		return errno == EAGAIN ? 0 : -1;
	maybe_work(buf, (size_t)n);
	return send_or_keep(fd, ob, buf, (size_t)n) == -1 ? -1 : n;
}

/* Edge-triggered readers (epoll_et, reactors, coro; rtsig's signals are
 * edges too). After a read returned n > 0, may the reader stop and wait for
 * the next edge? Yes after a short read (n < cfg.bufsize): it found the
 * receive queue empty, so any byte that arrives later raises a new edge and
 * the read that would return EAGAIN is not needed (nginx's ngx_unix_recv).
 * Not when end of stream or an error is pending (eof: EPOLLRDHUP, EPOLLHUP or
 * EPOLLERR seen, see ET_EOF_EVENTS): a FIN that came with the last data raises
 * no later edge, so read on to the EOF or the error. A full read keeps the
 * caller's bounded drain. ET_BROKEN=1 or 2 (EXTRA_CFLAGS=-DET_BROKEN=1 and
 * a BIN of its own) builds the two classic mistakes: tests/conformance.py
 * --only et must fail on both. */
#define ET_EOF_EVENTS (EPOLLRDHUP | EPOLLHUP | EPOLLERR)
static inline int read_was_short(ssize_t n, int eof)
{
#if defined(ET_BROKEN) && ET_BROKEN == 1   /* test of the tests: ignores the EOF hint */
	(void)eof;
	return (size_t)n < cfg.bufsize;
#elif defined(ET_BROKEN) && ET_BROKEN == 2 /* test of the tests: any read ends the drain */
	(void)n;
	(void)eof;
	return 1;
#else
	return (size_t)n < cfg.bufsize && !eof;
#endif
}

/* ---- errors ------------------------------------------------------------- */

/* Print "<model>: <formatted>: strerror(errno)" and exit 1. */
void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
/* Same with an explicit errno value (for -errno returns of io_uring/libaio). */
void die_err(int err, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));
/* Print "<model>: <formatted>" on stderr, no exit. */
void warnx_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Descriptor table size the fd-indexed models should allocate. */
int fd_limit(void);

#endif
