/*
 * test_lgargs.c - argument parsing: defaults, every flag, and the error
 * message naming the flag for bad values and impossible combinations.
 */
#include <string.h>

#include "lgargs.h"
#include "pace.h"
#include "tap.h"

static struct lg_cfg c;
static char err[512];

static const char *run(const char *line)
{
	static char buf[1024];
	char *argv[64];
	int argc = 0;
	argv[argc++] = "loadgen";
	strncpy(buf, line, sizeof buf - 1);
	for (char *s = NULL, *t = strtok_r(buf, " ", &s); t; t = strtok_r(NULL, " ", &s))
		argv[argc++] = t;
	return lg_parse(argc, argv, &c, err, sizeof err);
}

/* bad input: an error naming `flag` */
static void bad(const char *line, const char *flag)
{
	const char *e = run(line);
	ok(e && strstr(e, flag), "'%s' -> error naming %s%s%s", line, flag, e ? ": " : "", e ? e : "(none)");
}

int main(void)
{
	ok(run("--port 8080") == NULL, "minimal");
	is(c.conns, 1, "default conns");
	is(c.size, 64, "default size");
	is(c.depth, 1, "default depth");
	is(c.threads, 1, "default threads");
	is(c.procs, 1, "default procs");
	ok(c.duration_s == 10, "default duration 10 s");
	ok(c.connect_timeout_s == 5 && c.timeout_s == 10, "default timeouts");
	is(c.mode, LG_CLOSED, "closed loop by default");
	is(c.active, 1, "active defaults to conns");
	ok(c.count == 0, "no --count by default: a timed run");

	ok(run("--port 1,2,3 --conns 100 --active 10 --idle-ping 0.5 --size 128 --depth 4 --duration 2.5 "
	       "--warmup 1 --threads 2 --procs 2 --src 127.0.0.2-127.0.0.5,127.0.0.9 --connect-timeout 3 "
	       "--timeout 4 --json --quiet --hgrm /tmp/x") == NULL, "everything: %s", err);
	is(c.nports, 3, "3 ports");
	is(c.ports[2], 3, "third port");
	is(c.nsrcs, 5, "src range + one");
	is(c.active, 10, "--active");
	ok(c.idle_ping_s == 0.5 && c.duration_s == 2.5 && c.warmup_s == 1, "seconds");
	ok(c.json && c.quiet && c.hgrm && !strcmp(c.hgrm, "/tmp/x"), "switches");
	ok(run("--port=9 --rate=1000 --conns=5") == NULL && c.mode == LG_OPEN && c.rate == 1000, "--flag=value, open loop");
	ok(run("--port 9 --churn --conns 5") == NULL && c.mode == LG_CHURN, "churn");
	ok(run("--help") == NULL && c.help, "--help");
	ok(run("--port 9 --count 5000 --conns 4 --depth 2") == NULL && c.count == 5000 && c.mode == LG_CLOSED,
	   "--count 5000, closed loop");
	ok(run("--port 9 --count=10 --rate 100 --duration 30") == NULL && c.count == 10 && c.mode == LG_OPEN
	   && c.duration_s == 30, "--count with --rate and a --duration cap");
	ok(strstr(lg_usage, "--count N") != NULL, "usage text names --count");

	bad("", "--port");
	bad("--port 0", "--port");
	bad("--port 70000", "--port");
	bad("--port 80,x", "--port");
	bad("--port 80 --bogus", "--bogus");
	bad("--port 80 --conns", "--conns");
	bad("--port 80 --conns 0", "--conns");
	bad("--port 80 --conns -5", "--conns");
	bad("--port 80 --size 0", "--size");
	bad("--port 80 --size 1k", "--size");
	bad("--port 80 --conns 5 --active 6", "--active");
	bad("--port 80 --rate 100 --churn", "--rate");
	bad("--port 80 --churn --active 1", "--active");
	bad("--port 80 --churn --idle-ping 1", "--idle-ping");
	bad("--port 80 --rate 0", "--rate");
	bad("--port 80 --conns 5 --active 0 --rate 10", "--rate");
	bad("--port 80 --duration 0", "--duration");
	bad("--port 80 --duration 3601", "--duration");
	bad("--port 80 --duration abc", "--duration");
	bad("--port 80 --warmup -1", "--warmup");
	bad("--port 80 --depth 0", "--depth");
	bad("--port 80 --threads 0", "--threads");
	bad("--port 80 --threads 4 --conns 2", "--threads");
	bad("--port 80 --procs 100", "--procs");
	bad("--port 80 --host 10.0.0.1", "--host");
	bad("--port 80 --host nope", "--host");
	bad("--port 80 --src 10.0.0.1", "--src");
	bad("--port 80 --src 127.0.0.9-127.0.0.2", "--src");
	bad("--port 80 --conns 30000", "--src");
	bad("--port 80 --json=1", "--json");
	bad("--port 80 --count 0", "--count");
	bad("--port 80 --count -1", "--count");
	bad("--port 80 --count 1e3", "--count");
	bad("--port 80 --count", "--count");
	bad("--port 80 --count 10 --churn", "--count");
	bad("--port 80 --count 10 --warmup 1", "--count");
	bad("--port 80 --count 10 --conns 5 --active 0", "--count");
	ok(run("--port 80") == NULL && c.work_every == 0, "--work-every off by default");
	ok(run("--port 9 --work-every 100") == NULL && c.work_every == 100 && c.mode == LG_CLOSED,
	   "--work-every 100, closed loop");
	ok(run("--port 9 --work-every=4 --rate 1000 --depth 1") == NULL && c.work_every == 4 && c.mode == LG_OPEN,
	   "--work-every 4, open loop");
	bad("--port 80 --work-every 0", "--work-every");
	bad("--port 80 --work-every -3", "--work-every");
	bad("--port 80 --work-every 4294967296", "--work-every");
	bad("--port 80 --work-every x", "--work-every");
	bad("--port 80 --work-every", "--work-every");
	bad("--port 80 --churn --work-every 4", "--work-every");
	ok(strstr(lg_usage, "--work-every") && strstr(lg_usage, "exact at --depth 1"),
	   "usage documents --work-every, exact at --depth 1");
	bad("--port 80 extra", "extra");
	ok(run("--port 80 --host 10.0.0.1 --allow-remote") == NULL, "--allow-remote lets a remote host through");
	bad("--port 80 --host 198.18.0.1", "--allow-host 198.18.0.1");
	ok(run("--port 80 --host 198.18.0.1 --allow-host 198.18.0.1") == NULL && c.allow_host_str,
	   "--allow-host lets exactly the named server through");
	bad("--port 80 --host 198.18.0.2 --allow-host 198.18.0.1", "--allow-host address 198.18.0.1");
	ok(run("--port 80 --allow-host 198.18.0.1") == NULL, "--allow-host with a loopback --host");
	ok(run("--port 80 --host 198.18.0.1 --allow-host 198.18.0.1 --src 198.19.0.1-198.19.0.4") == NULL,
	   "--allow-host: the generator's own non-loopback --src addresses");
	bad("--port 80 --src 198.19.0.1", "--src");
	bad("--port 80 --allow-host nowhere", "--allow-host");
	ok(run("--port 80 --json --buckets") == NULL && c.buckets, "--buckets with --json");
	bad("--port 80 --buckets", "--buckets");
	ok(run("--port 80 --conns 30000 --src 127.0.0.2-127.0.0.3") == NULL, "two sources: 30,000 conns fit");

	/* descriptors: one process holds limit - reserve sockets */
	run("--port 80 --conns 19000");
	ok(lg_check_fds(&c, 20000, err, sizeof err) == NULL, "19,000 conns fit in 20,000 fds");
	run("--port 80 --conns 50000 --src 127.0.0.2-127.0.0.3");
	const char *e = lg_check_fds(&c, 20000, err, sizeof err);
	ok(e && strstr(e, "--procs 3"), "50,000 conns: says --procs 3: %s", e ? e : "(none)");
	run("--port 80 --conns 50000 --procs 3 --src 127.0.0.2-127.0.0.3");
	ok(lg_check_fds(&c, 20000, err, sizeof err) == NULL, "--procs 3 makes 50,000 fit");
	/* open-loop pacing */
	ok(run("--port 9 --rate 100") == NULL && c.arrivals == PACE_UNIFORM && c.seed == 1 && !c.wake_on_reply &&
	   c.slack_ns > 0 && c.spin_auto, "open loop: uniform arrivals, seed 1, replies do not wake, the spin "
	   "threshold measured, by default");
	ok(run("--port 9 --rate 100 --arrivals poisson --seed 7 --batch-us 50 --early-us 3 --spin-us 5 "
	       "--slack-ns 2000 --wake-on-reply") == NULL && c.arrivals == PACE_POISSON && c.seed == 7 &&
	   c.batch_us == 50 && c.early_us == 3 && c.spin_us == 5 && !c.spin_auto && c.slack_ns == 2000 &&
	   c.wake_on_reply,
	   "every pacing flag");
	bad("--port 9 --rate 100 --early-us x", "--early-us");
	bad("--port 9 --rate 100 --arrivals bursty", "--arrivals");
	bad("--port 9 --rate 100 --batch-us -1", "--batch-us");
	bad("--port 9 --rate 100 --spin-us 100001", "--spin-us");
	bad("--port 9 --rate 100 --slack-ns 0", "--slack-ns");
	bad("--port 9 --rate 100 --seed x", "--seed");
	bad("--port 9 --arrivals poisson", "--arrivals: only with --rate");
	bad("--port 9 --batch-us 10", "--batch-us: only with --rate");
	bad("--port 9 --churn --wake-on-reply", "--wake-on-reply: only with --rate");
	return done_testing();
}
