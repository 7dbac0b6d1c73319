/*
 * lgargs.h - the load generator's settings and their parser.
 *
 * lg_parse() is a pure function (no exit, no printing, no globals), so the
 * unit tests can feed it argv vectors and check the error string, which
 * always names the offending flag.
 */
#ifndef LG_ARGS_H
#define LG_ARGS_H

#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#define LG_MAX_PORTS       64
#define LG_MAX_SRCS        256
#define LG_MAX_DURATION_S  3600.0     /* hard cap on any run */
#define LG_MAX_WARMUP_S    600.0
#define LG_MAX_THREADS     64
#define LG_MAX_PROCS       64
#define LG_MAX_DEPTH       1024
#define LG_MAX_SIZE        (16u << 20)
#define LG_FD_RESERVE      32         /* stdio, pipes, epoll fds, slack */
#define LG_EPHEMERAL_PORTS 28232      /* 32768..60999 per (src, dst, dport) */
#define LG_MAX_PACE_US     100000     /* --batch-us, --early-us, --spin-us: at most 100 ms */

enum lg_mode { LG_CLOSED, LG_OPEN, LG_CHURN };

struct lg_cfg {
	struct in_addr host;          /* --host, default 127.0.0.1 */
	const char *host_str;
	uint16_t ports[LG_MAX_PORTS]; /* --port a,b,c: connections spread over */
	int nports;
	struct in_addr srcs[LG_MAX_SRCS]; /* --src: source addresses, 0 = kernel picks */
	int nsrcs;
	uint32_t conns;               /* --conns N (default 1) */
	uint32_t active;              /* --active K (default conns) */
	int active_set;
	uint32_t size;                /* --size BYTES (default 64) */
	uint32_t depth;               /* --depth D (default 1) */
	uint64_t rate;                /* --rate R msgs/s in total, 0 = closed loop */
	uint64_t count;               /* --count N echoes per active connection, 0 = none */
	double duration_s;            /* --duration S (default 10; the cap with --count) */
	double warmup_s;              /* --warmup S (default 0) */
	double idle_ping_s;           /* --idle-ping S (0 = idle conns stay silent) */
	double connect_timeout_s;     /* --connect-timeout S (default 5) */
	double timeout_s;             /* --timeout S (default 10) */
	int threads, procs;           /* --threads T, --procs P (default 1, 1) */
	enum lg_mode mode;
	int json, quiet, allow_remote, help;
	int buckets;                  /* --buckets: raw histogram in the JSON */
	struct in_addr allow_host;    /* --allow-host A: the one non-loopback target */
	const char *allow_host_str;   /* NULL = none */
	const char *hgrm;             /* --hgrm FILE */
	uint32_t work_every;          /* --work-every K: light/heavy split, 0 = off */
	/* open-loop pacing (--rate); defaults in lgargs.c, measured in docs/open-loop.md */
	int arrivals;                 /* --arrivals uniform|poisson: enum pace_kind */
	uint64_t seed;                /* --seed N: Poisson variates (default 1) */
	uint32_t batch_us;            /* --batch-us G: at most one wake-up per G us */
	uint32_t early_us;            /* --early-us X: wake X us early, spin to the due time */
	uint32_t spin_us;             /* --spin-us T: spin, not sleep, when due within T us */
	int spin_auto;                /* no --spin-us: T = a sleep's CPU cost, measured */
	uint32_t slack_ns;            /* --slack-ns N: the threads' timer slack */
	int wake_on_reply;            /* --wake-on-reply: replies wake the thread */
	int prime;                    /* --prime: one echo on every connection before the warm-up */
	double hold_s;                /* --hold S: after the window, connections stay open (0 = no) */
};

/* Parse argv[1..argc-1] into c (defaults first). Returns NULL on success,
 * else a one-line message naming the flag (static or in err[errlen]).
 * Checks everything that needs no system state; see lg_check_fds. */
const char *lg_parse(int argc, char **argv, struct lg_cfg *c, char *err, size_t errlen);

/* Descriptors one process needs, and the check against a limit: NULL, or
 * the message saying how many --procs are needed. */
uint64_t lg_fds_needed(const struct lg_cfg *c);
const char *lg_check_fds(const struct lg_cfg *c, uint64_t limit, char *err, size_t errlen);

/* Usage text. */
extern const char lg_usage[];

#endif
