/*
 * lgargs.c - parsing and checking the load generator's flags.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lgargs.h"
#include "pace.h"

/* Open-loop pacing defaults, chosen by measurement (docs/open-loop.md). */
#define LG_DEF_BATCH_US  0
#define LG_DEF_EARLY_US  0
#define LG_DEF_SLACK_NS  1000

const char lg_usage[] =
"usage: loadgen --port P[,P2...] [options]\n"
"  --host A             server IPv4 address (default 127.0.0.1; loopback only\n"
"                       unless --allow-host A or --allow-remote)\n"
"  --port P[,P...]      server port(s); connections are spread over them\n"
"  --conns N            connections (default 1)\n"
"  --active K           only K of them send; the rest connect and stay open\n"
"  --idle-ping S        idle connections send one message every S seconds\n"
"  --size BYTES         message size (default 64)\n"
"  --depth D            messages in flight per active connection (default 1)\n"
"  --rate R             open loop: R messages/s in total, latency measured from\n"
"                       the intended send time (default: closed loop)\n"
"  --arrivals KIND      open loop: uniform (default: sends evenly spaced, 1/R\n"
"                       apart) or poisson (each active connection an independent\n"
"                       Poisson process: exponential gaps of mean 1/R in total)\n"
"  --seed N             --arrivals poisson: the variates' seed (default 1)\n"
"  --batch-us G         open loop: wake at most once every G us and send all that\n"
"                       is due (fewer wake-ups, sends up to G us late)\n"
"  --early-us X         open loop: wake X us before a send is due and spin to it\n"
"  --spin-us T          open loop: spin instead of sleeping when the next send is\n"
"                       due within T us (default: the CPU time one sleep and\n"
"                       wake-up costs this thread, measured before the run)\n"
"  --slack-ns N         open loop: the threads' timer slack (default 1000)\n"
"  --wake-on-reply      open loop: a reply wakes the thread (default: replies wait\n"
"                       for the next send's wake-up; their latency is the kernel's\n"
"                       receive timestamp, so waiting does not change it)\n"
"  --churn              connect, one echo, close, repeat (--conns at a time)\n"
"  --prime              before the warm-up, one echo on every connection, idle\n"
"                       ones too, so the server has accepted and served each one\n"
"                       (a thread per connection: created) before anything is\n"
"                       measured; one lost counts as a timeout or unexpected close\n"
"  --hold S             after the window, keep every connection open and silent\n"
"                       until a line or EOF on stdin, at most S seconds, then\n"
"                       close: whoever reads the server at \"measure end\" reads\n"
"                       it before the closes (default 0: close at once)\n"
"  --duration S         measured seconds (default 10, at most 3600)\n"
"  --count N            fixed work: each active connection stops after N echoes;\n"
"                       the run ends when all are done (--duration is then a cap:\n"
"                       reaching it counts the unfinished connections as timeouts)\n"
"  --warmup S           seconds of load before measuring (default 0)\n"
"  --threads T          threads per process, one epoll loop each (default 1)\n"
"  --procs P            worker processes (needed past ~19,960 conns)\n"
"  --src A[-B][,C...]   loopback source addresses to spread connections over\n"
"  --connect-timeout S  (default 5)\n"
"  --timeout S          no reply within S seconds counts as an error (default 10)\n"
"  --work-every K       split latency into light and heavy requests as the server\n"
"                       does with --work-every K: heavy when the key of a\n"
"                       message's first two bytes is a multiple of K (about 1 in\n"
"                       K); exact at --depth 1, where one server read is one\n"
"                       message (default 0 = off; not with --churn)\n"
"  --hgrm FILE          write the latency distribution in HdrHistogram's form\n"
"  --json               one JSON object on stdout (summary always on stderr)\n"
"  --buckets            add the raw latency histogram to --json (\"latency_hist\":\n"
"                       its non-empty buckets as [lowest, highest, count] us), so\n"
"                       several generators' histograms can be merged bucket by bucket;\n"
"                       open loop: also \"lateness_hist\" (ns) and \"gap_hist\" (the\n"
"                       gaps between sends, as sent and as due, in unit_ns)\n"
"Open loop JSON: \"lateness_us\" (how late the generator sent each message after\n"
"  it was due, or after the reply that freed its --depth slot: p50..max, mean,\n"
"  count, held = sends that waited for such a reply), \"server_latency_us\"\n"
"  (latency less each message's lateness) and \"send_process\" (the achieved\n"
"  gaps between sends against the intended ones: w1_gaps, the Wasserstein\n"
"  distance in mean gaps, with its limit; the generator's share of p50 and p99;\n"
"  \"verdict\": \"ok\" or \"generator\" with \"reasons\"). See docs/open-loop.md.\n"
"  --quiet              no progress lines\n"
"  --allow-host A       allow exactly this one non-loopback server address as --host\n"
"                       (and non-loopback --src: they are this generator's own\n"
"                       addresses); reported in the output\n"
"  --allow-remote       allow any non-loopback addresses\n"
"Exit: 0 ok, 1 verification errors/unexpected closes/timeouts, 2 bad usage.\n";

#define FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); return err; } while (0)

static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	if (!s || !*s || *s == '-' || *s == '+')
		return -1;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int parse_secs(const char *s, double min, double max, double *out)
{
	char *end;
	if (!s || !*s || *s == '-' || *s == '+')
		return -1;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || *end || !isfinite(v) || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int is_loopback(struct in_addr a)
{
	return (ntohl(a.s_addr) >> 24) == 127;
}

static const char *parse_ports(struct lg_cfg *c, char *s, char *err, size_t errlen)
{
	c->nports = 0;
	for (char *save = NULL, *tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		uint64_t v;
		if (parse_u64(tok, 1, 65535, &v))
			FAIL("--port: '%s' is not a port from 1 to 65535", tok);
		if (c->nports == LG_MAX_PORTS)
			FAIL("--port: at most %d ports", LG_MAX_PORTS);
		c->ports[c->nports++] = (uint16_t)v;
	}
	if (!c->nports)
		FAIL("--port: no port given");
	return NULL;
}

static const char *parse_srcs(struct lg_cfg *c, char *s, char *err, size_t errlen)
{
	c->nsrcs = 0;
	for (char *save = NULL, *tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *dash = strchr(tok, '-');
		struct in_addr a, b;
		if (dash)
			*dash = '\0';
		if (inet_pton(AF_INET, tok, &a) != 1)
			FAIL("--src: '%s' is not an IPv4 address", tok);
		b = a;
		if (dash && inet_pton(AF_INET, dash + 1, &b) != 1)
			FAIL("--src: '%s' is not an IPv4 address", dash + 1);
		uint32_t lo = ntohl(a.s_addr), hi = ntohl(b.s_addr);
		if (hi < lo)
			FAIL("--src: range %s-%s runs backwards", tok, dash + 1);
		for (uint64_t x = lo; x <= hi; x++) {
			if (c->nsrcs == LG_MAX_SRCS)
				FAIL("--src: at most %d source addresses", LG_MAX_SRCS);
			c->srcs[c->nsrcs++].s_addr = htonl((uint32_t)x);
		}
	}
	if (!c->nsrcs)
		FAIL("--src: no address given");
	return NULL;
}

const char *lg_parse(int argc, char **argv, struct lg_cfg *c, char *err, size_t errlen)
{
	static char portbuf[1024], srcbuf[1024];
	memset(c, 0, sizeof *c);
	inet_pton(AF_INET, "127.0.0.1", &c->host);
	c->host_str = "127.0.0.1";
	c->conns = 1;
	c->size = 64;
	c->depth = 1;
	c->duration_s = 10;
	c->connect_timeout_s = 5;
	c->timeout_s = 10;
	c->threads = c->procs = 1;
	c->arrivals = PACE_UNIFORM;
	c->seed = 1;
	c->batch_us = LG_DEF_BATCH_US;
	c->early_us = LG_DEF_EARLY_US;
	c->spin_auto = 1;
	c->slack_ns = LG_DEF_SLACK_NS;
	int churn = 0, depth_set = 0;
	const char *pace_flag = NULL;   /* an open-loop-only flag, named if there is no --rate */

	for (int i = 1; i < argc; i++) {
		char *a = argv[i], *val = NULL;
		if (strncmp(a, "--", 2) != 0)
			FAIL("unexpected argument '%s' (flags start with --)", a);
		char name[64];
		const char *eq = strchr(a, '=');
		size_t len = eq ? (size_t)(eq - a) : strlen(a);
		if (len >= sizeof name)
			FAIL("unknown flag '%.40s...'", a);
		memcpy(name, a, len);
		name[len] = '\0';
		/* flags without a value */
		static const char *const bools[] = { "--json", "--quiet", "--churn", "--allow-remote", "--buckets",
							 "--wake-on-reply", "--prime", "--help" };
		int isbool = 0;
		for (size_t b = 0; b < sizeof bools / sizeof bools[0]; b++)
			isbool |= !strcmp(name, bools[b]);
		if (isbool) {
			if (eq)
				FAIL("%s takes no value", name);
			if (!strcmp(name, "--json")) c->json = 1;
			else if (!strcmp(name, "--quiet")) c->quiet = 1;
			else if (!strcmp(name, "--churn")) churn = 1;
			else if (!strcmp(name, "--allow-remote")) c->allow_remote = 1;
			else if (!strcmp(name, "--buckets")) c->buckets = 1;
			else if (!strcmp(name, "--prime")) c->prime = 1;
			else if (!strcmp(name, "--wake-on-reply")) {
				c->wake_on_reply = 1;
				pace_flag = "--wake-on-reply";
			} else c->help = 1;
			continue;
		}
		static const char *const valued[] = {
			"--host", "--port", "--conns", "--size", "--duration", "--warmup", "--active",
			"--idle-ping", "--depth", "--rate", "--count", "--threads", "--procs", "--src",
			"--connect-timeout", "--timeout", "--hgrm", "--work-every", "--allow-host",
			"--arrivals", "--seed", "--batch-us", "--early-us", "--spin-us", "--slack-ns",
			"--hold" };
		int known = 0;
		for (size_t b = 0; b < sizeof valued / sizeof valued[0]; b++)
			known |= !strcmp(name, valued[b]);
		if (!known)
			FAIL("unknown flag '%s'", name);
		if (eq)
			val = (char *)eq + 1;
		else if (i + 1 < argc)
			val = argv[++i];
		else
			FAIL("%s needs a value", name);

		uint64_t u;
		const char *e;
		if (!strcmp(name, "--host")) {
			if (inet_pton(AF_INET, val, &c->host) != 1)
				FAIL("--host: '%s' is not an IPv4 address", val);
			c->host_str = val;
		} else if (!strcmp(name, "--allow-host")) {
			if (inet_pton(AF_INET, val, &c->allow_host) != 1)
				FAIL("--allow-host: '%s' is not an IPv4 address", val);
			c->allow_host_str = val;
		} else if (!strcmp(name, "--port")) {
			snprintf(portbuf, sizeof portbuf, "%s", val);
			if ((e = parse_ports(c, portbuf, err, errlen)))
				return e;
		} else if (!strcmp(name, "--src")) {
			snprintf(srcbuf, sizeof srcbuf, "%s", val);
			if ((e = parse_srcs(c, srcbuf, err, errlen)))
				return e;
		} else if (!strcmp(name, "--conns")) {
			if (parse_u64(val, 1, 10000000, &u))
				FAIL("--conns: '%s' is not a whole number from 1 to 10000000", val);
			c->conns = (uint32_t)u;
		} else if (!strcmp(name, "--active")) {
			if (parse_u64(val, 0, 10000000, &u))
				FAIL("--active: '%s' is not a whole number from 0 to 10000000", val);
			c->active = (uint32_t)u;
			c->active_set = 1;
		} else if (!strcmp(name, "--size")) {
			if (parse_u64(val, 1, LG_MAX_SIZE, &u))
				FAIL("--size: '%s' is not a byte count from 1 to %u", val, LG_MAX_SIZE);
			c->size = (uint32_t)u;
		} else if (!strcmp(name, "--depth")) {
			if (parse_u64(val, 1, LG_MAX_DEPTH, &u))
				FAIL("--depth: '%s' is not a whole number from 1 to %d", val, LG_MAX_DEPTH);
			c->depth = (uint32_t)u;
			depth_set = 1;
		} else if (!strcmp(name, "--rate")) {
			if (parse_u64(val, 1, 100000000, &u))
				FAIL("--rate: '%s' is not a whole number of messages/s from 1 to 100000000", val);
			c->rate = u;
		} else if (!strcmp(name, "--count")) {
			if (parse_u64(val, 1, 1000000000000ull, &u))
				FAIL("--count: '%s' is not a whole number of echoes from 1 to 10^12", val);
			c->count = u;
		} else if (!strcmp(name, "--threads")) {
			if (parse_u64(val, 1, LG_MAX_THREADS, &u))
				FAIL("--threads: '%s' is not a whole number from 1 to %d", val, LG_MAX_THREADS);
			c->threads = (int)u;
		} else if (!strcmp(name, "--procs")) {
			if (parse_u64(val, 1, LG_MAX_PROCS, &u))
				FAIL("--procs: '%s' is not a whole number from 1 to %d", val, LG_MAX_PROCS);
			c->procs = (int)u;
		} else if (!strcmp(name, "--duration")) {
			if (parse_secs(val, 0.001, LG_MAX_DURATION_S, &c->duration_s))
				FAIL("--duration: '%s' is not a number of seconds from 0.001 to %.0f", val, LG_MAX_DURATION_S);
		} else if (!strcmp(name, "--warmup")) {
			if (parse_secs(val, 0, LG_MAX_WARMUP_S, &c->warmup_s))
				FAIL("--warmup: '%s' is not a number of seconds from 0 to %.0f", val, LG_MAX_WARMUP_S);
		} else if (!strcmp(name, "--idle-ping")) {
			if (parse_secs(val, 0.001, LG_MAX_DURATION_S, &c->idle_ping_s))
				FAIL("--idle-ping: '%s' is not a number of seconds from 0.001 to %.0f", val, LG_MAX_DURATION_S);
		} else if (!strcmp(name, "--hold")) {
			if (parse_secs(val, 0.001, 60, &c->hold_s))
				FAIL("--hold: '%s' is not a number of seconds from 0.001 to 60", val);
		} else if (!strcmp(name, "--connect-timeout")) {
			if (parse_secs(val, 0.001, 600, &c->connect_timeout_s))
				FAIL("--connect-timeout: '%s' is not a number of seconds from 0.001 to 600", val);
		} else if (!strcmp(name, "--timeout")) {
			if (parse_secs(val, 0.001, 600, &c->timeout_s))
				FAIL("--timeout: '%s' is not a number of seconds from 0.001 to 600", val);
		} else if (!strcmp(name, "--hgrm")) {
			if (!*val)
				FAIL("--hgrm: empty file name");
			c->hgrm = val;
		} else if (!strcmp(name, "--work-every")) {
			if (parse_u64(val, 1, UINT32_MAX, &u))
				FAIL("--work-every: '%s' is not a whole number from 1 to %u", val, UINT32_MAX);
			c->work_every = (uint32_t)u;
		} else if (!strcmp(name, "--arrivals")) {
			if (!strcmp(val, "uniform"))
				c->arrivals = PACE_UNIFORM;
			else if (!strcmp(val, "poisson"))
				c->arrivals = PACE_POISSON;
			else
				FAIL("--arrivals: '%s' is not uniform or poisson", val);
			pace_flag = "--arrivals";
		} else if (!strcmp(name, "--seed")) {
			if (parse_u64(val, 0, UINT64_MAX, &u))
				FAIL("--seed: '%s' is not a whole number from 0 to %llu", val,
				     (unsigned long long)UINT64_MAX);
			c->seed = u;
			pace_flag = "--seed";
		} else if (!strcmp(name, "--batch-us")) {
			if (parse_u64(val, 0, LG_MAX_PACE_US, &u))
				FAIL("--batch-us: '%s' is not a whole number of microseconds from 0 to %d", val,
				     LG_MAX_PACE_US);
			c->batch_us = (uint32_t)u;
			pace_flag = "--batch-us";
		} else if (!strcmp(name, "--early-us")) {
			if (parse_u64(val, 0, LG_MAX_PACE_US, &u))
				FAIL("--early-us: '%s' is not a whole number of microseconds from 0 to %d", val,
				     LG_MAX_PACE_US);
			c->early_us = (uint32_t)u;
			pace_flag = "--early-us";
		} else if (!strcmp(name, "--spin-us")) {
			if (parse_u64(val, 0, LG_MAX_PACE_US, &u))
				FAIL("--spin-us: '%s' is not a whole number of microseconds from 0 to %d", val,
				     LG_MAX_PACE_US);
			c->spin_us = (uint32_t)u;
			c->spin_auto = 0;
			pace_flag = "--spin-us";
		} else if (!strcmp(name, "--slack-ns")) {
			if (parse_u64(val, 1, 1000000000, &u))
				FAIL("--slack-ns: '%s' is not a whole number of nanoseconds from 1 to 1000000000", val);
			c->slack_ns = (uint32_t)u;
			pace_flag = "--slack-ns";
		}
	}
	if (c->help)
		return NULL;

	/* combinations */
	if (!c->nports)
		FAIL("--port: required (the server's port)");
	/* Loopback only, unless the one server address named by --allow-host
	 * (what the harness passes for SERVER_HOST / NET=veth) or --allow-remote. */
	int allowed = c->allow_host_str && c->host.s_addr == c->allow_host.s_addr;
	if (c->allow_host_str && !c->allow_remote && !is_loopback(c->host) && !allowed)
		FAIL("--host: %s is not a loopback address and not the --allow-host address %s",
		     c->host_str, c->allow_host_str);
	if (!c->allow_remote && !allowed && !is_loopback(c->host))
		FAIL("--host: %s is not a loopback address (127.0.0.0/8); add --allow-host %s to target it",
		     c->host_str, c->host_str);
	for (int s = 0; s < c->nsrcs; s++)
		if (!c->allow_remote && !allowed && !is_loopback(c->srcs[s]))
			FAIL("--src: %s is not a loopback address; add --allow-host with the server's address",
			     inet_ntoa(c->srcs[s]));
	if (c->buckets && !c->json)
		FAIL("--buckets: needs --json (the buckets are part of the JSON object)");
	if (churn) {
		c->mode = LG_CHURN;
		if (c->rate)
			FAIL("--rate: cannot be combined with --churn");
		if (c->active_set)
			FAIL("--active: cannot be combined with --churn (every slot churns)");
		if (c->idle_ping_s > 0)
			FAIL("--idle-ping: cannot be combined with --churn");
		if (depth_set && c->depth != 1)
			FAIL("--depth: --churn sends exactly one message per connection");
		if (c->count)
			FAIL("--count: cannot be combined with --churn");
		if (c->work_every)
			FAIL("--work-every: cannot be combined with --churn");
		if (c->prime)
			FAIL("--prime: cannot be combined with --churn (its connections come and go)");
		if (c->hold_s > 0)
			FAIL("--hold: cannot be combined with --churn (its connections come and go)");
	} else {
		c->mode = c->rate ? LG_OPEN : LG_CLOSED;
	}
	if (pace_flag && c->mode != LG_OPEN)
		FAIL("%s: only with --rate (the open loop)", pace_flag);
	if (!c->active_set)
		c->active = c->conns;
	if (c->active > c->conns)
		FAIL("--active: %u is more than --conns %u", c->active, c->conns);
	if (c->count && c->warmup_s > 0)
		FAIL("--count: cannot be combined with --warmup (fixed work is measured whole)");
	if (c->count && c->prime)
		FAIL("--count: cannot be combined with --prime (fixed work is measured whole)");
	if (c->count && c->active == 0)
		FAIL("--count: needs at least one --active connection");
	if (c->mode == LG_OPEN && c->active == 0)
		FAIL("--rate: needs at least one --active connection");
	if ((uint64_t)c->threads * (uint64_t)c->procs > c->conns)
		FAIL("--threads: %d threads x %d procs is more than --conns %u", c->threads, c->procs, c->conns);
	if ((uint64_t)c->size * c->depth > (64u << 20))
		FAIL("--depth: %u x --size %u bytes in flight per connection is over 64 MiB", c->depth, c->size);
	if ((uint64_t)c->conns * c->depth > (64u << 20))
		FAIL("--depth: %u x --conns %u in-flight timestamps is too many", c->depth, c->conns);
	/* one (source address, server address, server port) tuple has only
	 * 28,232 ephemeral ports (32768-60999) */
	uint64_t tuples = (uint64_t)(c->nsrcs ? c->nsrcs : 1) * (uint64_t)c->nports;
	if (c->mode != LG_CHURN && (c->conns + tuples - 1) / tuples > LG_EPHEMERAL_PORTS)
		FAIL("--src: %u conns over %llu source/port pairs exceed %d ephemeral ports per pair; "
		     "add source addresses (e.g. --src 127.0.0.2-127.0.0.9) or ports",
		     c->conns, (unsigned long long)tuples, LG_EPHEMERAL_PORTS);
	return NULL;
}

uint64_t lg_fds_needed(const struct lg_cfg *c)
{
	uint64_t per_proc = ((uint64_t)c->conns + (uint64_t)c->procs - 1) / (uint64_t)c->procs;
	return per_proc + (uint64_t)c->threads + LG_FD_RESERVE;
}

const char *lg_check_fds(const struct lg_cfg *c, uint64_t limit, char *err, size_t errlen)
{
	if (lg_fds_needed(c) <= limit)
		return NULL;
	if (limit <= (uint64_t)c->threads + LG_FD_RESERVE)
		FAIL("--conns: descriptor limit %llu is too low", (unsigned long long)limit);
	uint64_t room = limit - (uint64_t)c->threads - LG_FD_RESERVE;
	uint64_t procs = (c->conns + room - 1) / room;
	FAIL("--conns: %u connections need %llu descriptors per process, the limit is %llu: "
	     "use --procs %llu (or more)", c->conns, (unsigned long long)lg_fds_needed(c),
	     (unsigned long long)limit, (unsigned long long)procs);
}
