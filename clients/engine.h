/*
 * engine.h - the load generator's threads: each owns an epoll loop, a slice
 * of the connections, its counters and its histograms (no sharing, no
 * atomics on the hot path), and follows a phase set by its process's main
 * thread: connect -> warm-up -> measure -> stop.
 */
#ifndef LG_ENGINE_H
#define LG_ENGINE_H

#include <pthread.h>
#include <stdint.h>

#include "hist.h"
#include "lgargs.h"
#include "pace.h"

enum lg_phase { LG_PH_CONNECT, LG_PH_WARMUP, LG_PH_MEASURE, LG_PH_STOP };

#define LG_REASONS 160   /* connect failure counts: [0] timeout, [e] errno e */

/* Everything a run measures; merged across threads and processes by
 * adding (histograms bucket-wise). Plain data: goes through a pipe as is. */
struct lg_result {
	uint64_t conns, connected, connect_errors;
	uint64_t connect_reasons[LG_REASONS];
	uint64_t echoes, bytes, idle_echoes, churn_conns;
	uint64_t verify_errors, unexpected_closes, timeouts, open_missed;
	uint64_t unfinished;                   /* --count: connections not done at the cap */
	uint64_t fair_n, fair_min, fair_max;   /* per active connection echoes */
	double fair_sum, fair_sumsq;
	double cpu_user, cpu_sys;              /* seconds, measured window */
	double cpu_wait;                       /* seconds runnable but not running (-1: unknown) */
	/* open loop: each measured send of an active connection */
	uint64_t sends;                        /* sends recorded in late */
	uint64_t held;                         /* of them, due while --depth were in flight */
	uint64_t gap_unit_ns;                  /* unit of gap_sent and gap_due (same everywhere) */
	uint64_t spin_ns_sum, spin_threads;    /* the spin thresholds the threads used */
	uint64_t spin_ns;                      /* time spent spinning to a send (measured window) */
	struct hist late;                      /* the generator's lateness, ns (see engine.c) */
	struct hist srv_lat;                   /* lat less that message's lateness, us */
	struct hist gap_sent, gap_due;         /* gaps between a thread's sends: as sent, as due */
	struct hist lat;                       /* echo latency, us */
	struct hist conn_lat;                  /* churn connect latency, us */
	struct hist light_lat, heavy_lat;      /* --work-every: lat split by work key */
};

/* The open loop's send-process test (docs/open-loop.md): a run is the
 * generator's, not the server's, when
 *   arrivals   the gaps between its sends as sent differ from the gaps as
 *              due (both per thread, held sends left out) by more than
 *              LG_W1_LIMIT mean gaps (Wasserstein-1 distance / mean gap
 *              due: how far, on average, each gap was moved); or
 *   late       the generator's own lateness makes more than
 *              LG_SHARE_LIMIT of the latency p50 or p99 (1 - p of latency
 *              less lateness / p of latency); or
 *   saturated  the generator's CPU was 90% busy or more, not counting the
 *              time it chose to spin to a send (loadgen.c).
 * Fewer than LG_VERDICT_MIN measured sends: no verdict ("unknown"). */
#define LG_W1_LIMIT      0.25
#define LG_SHARE_LIMIT   0.10
#define LG_VERDICT_MIN   100
enum { LG_WHY_ARRIVALS = 1, LG_WHY_LATE = 2, LG_WHY_SATURATED = 4 };
struct lg_verdict {
	double gap_us;             /* mean gap between a thread's sends, as due */
	double w1_gaps;            /* -1 without gaps */
	double share_p50, share_p99;
	int known;                 /* enough sends for a verdict */
	int why;                   /* LG_WHY_* bits; 0 = ok */
};
void lg_result_verdict(const struct lg_result *r, int saturated, struct lg_verdict *v);

void lg_result_init(struct lg_result *r);
void lg_result_merge(struct lg_result *dst, const struct lg_result *src);
/* Jain's fairness index (sum x)^2 / (n sum x^2): 1 = perfectly even. */
double lg_result_jain(const struct lg_result *r);

struct lg_conn;

struct lg_thread {
	const struct lg_cfg *cfg;
	pthread_t tid;
	int epfd;
	uint32_t first, count;          /* global connection ids [first, first+count) */
	uint32_t connect_cap;           /* connects in flight at most */
	struct lg_conn *conns;
	uint64_t *ring;                 /* count x depth send times */
	uint32_t *ring_late;            /* count x depth lateness (ns), open loop */
	struct pace_heap_ent *heap_act; /* Poisson walk over the active slots */
	uint64_t last_send, last_due;   /* open loop: previous send (ns), previous due time */
	uint64_t rt_off;                /* CLOCK_REALTIME - CLOCK_MONOTONIC (ns), per wake */
	struct lg_conn **act_conns, **idle_conns;
	uint32_t *act_slots, *idle_slots;
	uint32_t nact, nidle;
	struct pace pace_act, pace_idle;
	uint8_t *sbuf, *rbuf;
	int draining;                   /* run over: nothing new is sent */
	int priming;                    /* --prime: a loss counts (before the warm-up) */
	int ready;                      /* connect phase over (atomic) */
	uint32_t left;                  /* --count: active connections not yet done */
	int done_fd;                    /* --count: eventfd, +1 when left reaches 0 */
	int done_sent;                  /* --count: done_fd written */
	uint64_t progress;              /* echoes so far (atomic, for progress lines) */
	struct lg_result res;
};

/* One process's share of the run. */
struct lg_proc {
	const struct lg_cfg *cfg;
	int nthreads;
	struct lg_thread *threads;
	int done_fd;                    /* --count: eventfd the threads signal, else -1 */
	int ndone;                      /* threads that signalled it */
};

/* Phase and the shared schedule origin (ns), set by the process's main. */
void lg_set_phase(enum lg_phase ph, uint64_t t0);
enum lg_phase lg_get_phase(void);
uint64_t lg_now_ns(void);
/* --hold: the threads keep their connections open after the run until this
 * is called (or --hold's seconds pass). */
void lg_release(void);

/* Slots of the open-loop schedule: connection id -> active or idle. */
int lg_is_active(const struct lg_cfg *c, uint32_t id);
uint32_t lg_slot(const struct lg_cfg *c, uint32_t id);

/* Start the threads for connections [first, first+count); 0 or -1 (errno).
 * conns_total is the run's total (for pacing), connect_cap the in-flight
 * connects each thread may have. */
int lg_proc_start(struct lg_proc *p, const struct lg_cfg *c, uint32_t first, uint32_t count);
/* 1 when every thread finished its connect phase. */
int lg_proc_connected(const struct lg_proc *p);
/* --count: 1 when every thread's connections are done (reads done_fd,
 * which the caller may poll for POLLIN); always 0 without --count. */
int lg_proc_done(struct lg_proc *p);
/* Echoes so far (progress lines). */
uint64_t lg_proc_progress(const struct lg_proc *p);
/* After LG_PH_STOP: join, merge into r (r initialised by the caller). */
void lg_proc_finish(struct lg_proc *p, struct lg_result *r);

#endif
