/*
 * loadgen.c - the load generator's main: wrk's shape.
 *
 * cfg + parse (lgargs.c) + usage; main starts T threads (engine.c), each
 * with its own epoll loop, connections and counters; sleeps through the
 * warm-up and the measured window; sets the phase to stop; joins; merges;
 * prints one JSON object on stdout and a summary on stderr.
 *
 * One process can hold ~19,960 sockets here (RLIMIT_NOFILE hard limit
 * 20,000, which nobody can raise), so --procs P forks P workers, each
 * running T threads over its share of the connections. The parent drives
 * them over a pipe each ('W' warm up, 'M' measure, 'E' end), so the measured
 * window starts at once for all, and reads back each worker's struct
 * lg_result (histograms merged bucket-wise, never averaged percentiles).
 *
 * The harness samples the server's /proc at the stderr lines
 * "loadgen: measure start" and "loadgen: measure end" (printed even with
 * --quiet).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "lgargs.h"
#include "pace.h"

static struct lg_cfg cfg;
static volatile sig_atomic_t lg_stop;   /* SIGINT/SIGTERM: end the run early */
static struct lg_result res;            /* big (four histograms): not on the stack */
static struct lg_result part;
static uint64_t proc_echoes[LG_MAX_PROCS];   /* per worker, to show the merge */

static void on_signal(int sig)
{
	(void)sig;
	lg_stop = 1;
}

static double secs(uint64_t ns)
{
	return (double)ns / 1e9;
}

static double cpu_of(const struct timeval *tv)
{
	return (double)tv->tv_sec + (double)tv->tv_usec / 1e6;
}

/* Sleep until deadline (ns) or a signal; progress lines every second.
 * With --count, also until every thread is done (p's eventfd wakes us). */
static void sleep_until(uint64_t deadline, struct lg_proc *p, uint64_t start, int progress)
{
	uint64_t next_report = start + 1000000000ull, last_echoes = 0;
	while (!lg_stop) {
		uint64_t now = lg_now_ns();
		if (now >= deadline || (p && cfg.count && lg_proc_done(p)))
			return;
		if (progress && now >= next_report) {
			if (p) {
				uint64_t e = lg_proc_progress(p);
				fprintf(stderr, "loadgen: %6.1f s  %10.0f echoes/s\n", secs(now - start),
					(double)(e - last_echoes) / 1.0);
				last_echoes = e;
			} else {
				fprintf(stderr, "loadgen: %6.1f s\n", secs(now - start));
			}
			next_report += 1000000000ull;
		}
		uint64_t left = deadline - now;
		if (left > 100000000ull)
			left = 100000000ull;   /* wake 10x a second: lg_stop, progress */
		if (p && cfg.count) {
			struct pollfd pfd = { .fd = p->done_fd, .events = POLLIN };
			struct timespec ts = { 0, (long)left };
			ppoll(&pfd, 1, &ts, NULL);
		} else {
			struct timespec ts = { 0, (long)left };
			nanosleep(&ts, NULL);
		}
	}
}

/* Try one connect to each port first: a refused port is a usage error,
 * caught before anything runs. */
static int probe_ports(char *err, size_t errlen)
{
	for (int i = 0; i < cfg.nports; i++) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			snprintf(err, errlen, "--port: socket(): %s", strerror(errno));
			return -1;
		}
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr = cfg.host,
					  .sin_port = htons(cfg.ports[i]) };
		int r = connect(fd, (struct sockaddr *)&sa, sizeof sa), e = r ? errno : 0;
		if (r && e == EINPROGRESS) {
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };
			r = poll(&pfd, 1, (int)(cfg.connect_timeout_s * 1000));
			socklen_t len = sizeof e;
			if (r == 1)
				getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len);
			else
				e = ETIMEDOUT;
		}
		close(fd);
		if (e) {
			snprintf(err, errlen, "--port: cannot connect to %s:%u: %s", cfg.host_str,
				 cfg.ports[i], strerror(e));
			return -1;
		}
	}
	return 0;
}

/* ---- one process: the threads, driven by sleeping or by the parent --------- */

struct window {
	uint64_t start, end;      /* ns; start 0 = never reached */
	double user, sys;         /* CPU seconds in the window */
	double wait0, wait;       /* run-queue wait (s): at the start, in the window */
};

/* Seconds this process's threads have waited on a run queue, runnable but
 * not running (the kernel's schedstat, field 2 of /proc/self/task/T/
 * schedstat): the time other work took the generator's CPUs. -1 when the
 * kernel does not keep it. Read at the window's edges only. */
static double run_wait_s(void)
{
	DIR *d = opendir("/proc/self/task");
	if (!d)
		return -1.0;
	double sum = 0.0;
	int seen = 0;
	for (struct dirent *e; (e = readdir(d)) != NULL; ) {
		char path[64];
		unsigned long long run, wait;
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "/proc/self/task/%.20s/schedstat", e->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;   /* the thread ended meanwhile */
		if (fscanf(f, "%llu %llu", &run, &wait) == 2) {
			sum += (double)wait / 1e9;
			seen = 1;
		}
		fclose(f);
	}
	closedir(d);
	return seen ? sum : -1.0;
}

/* t0: the open-loop schedule's origin, 0 = keep the warm-up's */
static void mark_start(struct window *w, struct rusage *ru, int print, uint64_t t0)
{
	getrusage(RUSAGE_SELF, ru);
	w->wait0 = run_wait_s();
	w->start = lg_now_ns();
	lg_set_phase(LG_PH_MEASURE, t0);
	if (print)
		fprintf(stderr, "loadgen: measure start\n");
}

static void mark_end(struct window *w, const struct rusage *ru0, int print)
{
	struct rusage ru1;
	lg_set_phase(LG_PH_STOP, 0);
	w->end = lg_now_ns();
	if (print)
		fprintf(stderr, "loadgen: measure end\n");
	getrusage(RUSAGE_SELF, &ru1);
	w->user = cpu_of(&ru1.ru_utime) - cpu_of(&ru0->ru_utime);
	w->sys = cpu_of(&ru1.ru_stime) - cpu_of(&ru0->ru_stime);
	double wait1 = run_wait_s();
	w->wait = w->wait0 >= 0 && wait1 >= w->wait0 ? wait1 - w->wait0 : -1.0;
}

/* --hold: after "measure end", wait for a line or EOF on stdin (whoever
 * reads the server then says it is done), at most --hold's seconds. */
static void hold_for_stdin(void)
{
	if (cfg.hold_s <= 0)
		return;
	uint64_t end = lg_now_ns() + (uint64_t)(cfg.hold_s * 1e9);
	char buf[256];
	for (;;) {
		uint64_t now = lg_now_ns();
		if (now >= end || lg_stop)
			return;
		struct pollfd pfd = { .fd = 0, .events = POLLIN };
		int r = poll(&pfd, 1, (int)((end - now) / 1000000) + 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return;
		ssize_t n = read(0, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || memchr(buf, '\n', (size_t)n))
			return;
	}
}

static int run_single(struct window *w)
{
	struct lg_proc p;
	if (lg_proc_start(&p, &cfg, 0, cfg.conns)) {
		fprintf(stderr, "loadgen: starting threads: %s\n", strerror(errno));
		lg_set_phase(LG_PH_STOP, 0);
		lg_proc_finish(&p, &res);
		return -1;
	}
	while (!lg_stop && !lg_proc_connected(&p)) {
		struct timespec ts = { 0, 5000000 };
		nanosleep(&ts, NULL);
	}
	struct rusage ru0;
	uint64_t t = lg_now_ns();
	/* --count: no warm-up phase at all (lgargs refuses --warmup), so every
	 * echo of the fixed work is sent and counted inside the measured window */
	if (!cfg.count) {
		lg_set_phase(LG_PH_WARMUP, t);
		sleep_until(t + (uint64_t)(cfg.warmup_s * 1e9), NULL, t, 0);
	}
	if (!lg_stop) {
		mark_start(w, &ru0, 1, cfg.count ? lg_now_ns() : 0);
		int progress = !cfg.quiet && cfg.duration_s > 5;
		sleep_until(w->start + (uint64_t)(cfg.duration_s * 1e9), &p, w->start, progress);
		mark_end(w, &ru0, 1);
		hold_for_stdin();
	}
	lg_set_phase(LG_PH_STOP, 0);
	lg_release();
	lg_proc_finish(&p, &res);
	res.cpu_user = w->user;
	res.cpu_sys = w->sys;
	res.cpu_wait = w->wait;
	return 0;
}

static int write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int read_all(int fd, void *buf, size_t n)
{
	char *p = buf;
	while (n) {
		ssize_t r = read(fd, p, n);
		if (r < 0 && errno == EINTR && !lg_stop)
			continue;
		if (r < 0 && errno == EINTR)
			continue;   /* keep reading the result even after SIGINT */
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* A worker process: its threads over [first, first+count), commands on ctl. */
static void worker(int ctl, int out, uint32_t first, uint32_t count)
{
	signal(SIGINT, SIG_IGN);    /* the parent relays a Ctrl-C as 'E' */
	signal(SIGTERM, SIG_IGN);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	struct lg_proc p;
	struct window w = { 0 };
	struct rusage ru0;
	int started = lg_proc_start(&p, &cfg, first, count) == 0;
	int ended = !started;
	while (!ended && !lg_proc_connected(&p)) {
		struct pollfd pfd = { .fd = ctl, .events = POLLIN };
		if (poll(&pfd, 1, 5) == 1)
			ended = 1;      /* 'E' or EOF before we were ready */
	}
	if (!ended)
		write_all(out, "R", 1);
	/* --count: one 'D' goes up when this worker's connections are done, or
	 * at 'E' if they never were, so the parent reads exactly one before the
	 * result */
	int d_sent = !cfg.count;
	while (!ended) {
		char cmd;
		struct pollfd pfd[2] = { { .fd = ctl, .events = POLLIN },
					 { .fd = d_sent ? -1 : p.done_fd, .events = POLLIN } };
		if (poll(pfd, 2, -1) < 0)
			continue;   /* EINTR */
		if (!d_sent && w.start && lg_proc_done(&p)) {
			mark_end(&w, &ru0, 0);   /* the window ends when the work does */
			write_all(out, "D", 1);
			d_sent = 1;
		}
		if (!(pfd[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		ssize_t r = read(ctl, &cmd, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 || cmd == 'E') {
			if (w.start && !w.end)
				mark_end(&w, &ru0, 0);
			ended = 1;
			/* --hold: the parent's second 'E' (or EOF) releases the
			 * connections; the threads wait at most --hold's seconds */
			if (r > 0 && cfg.hold_s > 0 && w.start) {
				struct pollfd h = { .fd = ctl, .events = POLLIN };
				if (poll(&h, 1, (int)(cfg.hold_s * 1000) + 1) == 1)
					(void)!read(ctl, &cmd, 1);
			}
		} else if (cmd == 'W') {
			lg_set_phase(LG_PH_WARMUP, lg_now_ns());
		} else if (cmd == 'M') {
			mark_start(&w, &ru0, 0, cfg.count ? lg_now_ns() : 0);
		}
	}
	if (!d_sent)
		write_all(out, "D", 1);
	lg_set_phase(LG_PH_STOP, 0);
	lg_release();
	lg_result_init(&res);
	lg_proc_finish(&p, &res);
	res.cpu_user = w.user;
	res.cpu_sys = w.sys;
	res.cpu_wait = w.wait;
	write_all(out, &res, sizeof res);
	_exit(started ? 0 : 1);
}

static void send_all(const int *ctl, int n, char cmd)
{
	for (int i = 0; i < n; i++)
		if (ctl[i] >= 0)
			write_all(ctl[i], &cmd, 1);
}

/* --count: wait for one 'D' from each worker, the deadline or a signal. */
static void wait_workers_done(const int *out, int np, int *got_d, uint64_t deadline)
{
	int left = np;
	while (left && !lg_stop) {
		uint64_t now = lg_now_ns();
		if (now >= deadline)
			return;
		struct pollfd pfd[LG_MAX_PROCS];
		for (int i = 0; i < np; i++)
			pfd[i] = (struct pollfd){ .fd = got_d[i] ? -1 : out[i], .events = POLLIN };
		uint64_t wait_ns = deadline - now;
		struct timespec ts = { (time_t)(wait_ns / 1000000000ull), (long)(wait_ns % 1000000000ull) };
		if (ppoll(pfd, (nfds_t)np, &ts, NULL) <= 0)
			continue;   /* EINTR (lg_stop) or the deadline */
		for (int i = 0; i < np; i++) {
			char d;
			if (got_d[i] || !pfd[i].revents)
				continue;
			/* 'D', or EOF from a dead worker: its missing result says so below */
			(void)read_all(out[i], &d, 1);
			got_d[i] = 1;
			left--;
		}
	}
}

static int run_procs(struct window *w)
{
	int np = cfg.procs, ctl[LG_MAX_PROCS], out[LG_MAX_PROCS], fail = 0;
	pid_t pid[LG_MAX_PROCS];
	for (int i = 0; i < np; i++)
		ctl[i] = out[i] = -1;
	fflush(NULL);
	for (int i = 0; i < np; i++) {
		int a[2], b[2];
		if (pipe2(a, O_CLOEXEC) || pipe2(b, O_CLOEXEC)) {
			fprintf(stderr, "loadgen: pipe: %s\n", strerror(errno));
			np = i;
			fail = 1;
			break;
		}
		uint32_t first = (uint32_t)((uint64_t)cfg.conns * (uint64_t)i / (uint64_t)cfg.procs);
		uint32_t last = (uint32_t)((uint64_t)cfg.conns * (uint64_t)(i + 1) / (uint64_t)cfg.procs);
		pid[i] = fork();
		if (pid[i] == 0) {
			for (int j = 0; j < i; j++) {   /* other workers' pipes: not ours */
				close(ctl[j]);
				close(out[j]);
			}
			close(a[1]);
			close(b[0]);
			worker(a[0], b[1], first, last - first);
		}
		close(a[0]);
		close(b[1]);
		ctl[i] = a[1];
		out[i] = b[0];
		if (pid[i] < 0) {
			fprintf(stderr, "loadgen: fork: %s\n", strerror(errno));
			close(ctl[i]);
			close(out[i]);
			np = i;
			fail = 1;
			break;
		}
	}
	/* wait until every worker is connected: one 'R' each */
	for (int i = 0; i < np && !fail && !lg_stop; ) {
		struct pollfd pfd = { .fd = out[i], .events = POLLIN };
		int r = poll(&pfd, 1, 100);
		if (r == 1) {
			char c;
			if (read(out[i], &c, 1) != 1 || c != 'R') {
				fprintf(stderr, "loadgen: worker %d died while connecting\n", i);
				fail = 1;
			}
			i++;
		}
	}
	int got_d[LG_MAX_PROCS] = { 0 };
	if (!fail && !lg_stop) {
		uint64_t t = lg_now_ns();
		if (!cfg.count) {
			send_all(ctl, np, 'W');
			sleep_until(t + (uint64_t)(cfg.warmup_s * 1e9), NULL, t, 0);
		}
		if (!lg_stop) {
			send_all(ctl, np, 'M');
			w->start = lg_now_ns();
			fprintf(stderr, "loadgen: measure start\n");
			int progress = !cfg.quiet && cfg.duration_s > 5;
			uint64_t deadline = w->start + (uint64_t)(cfg.duration_s * 1e9);
			if (cfg.count)
				wait_workers_done(out, np, got_d, deadline);
			else
				sleep_until(deadline, NULL, w->start, progress);
			send_all(ctl, np, 'E');
			w->end = lg_now_ns();
			fprintf(stderr, "loadgen: measure end\n");
			hold_for_stdin();
		}
	}
	send_all(ctl, np, 'E');
	for (int i = 0; i < np; i++) {
		char d;
		if (cfg.count && !got_d[i] && read_all(out[i], &d, 1) == 0 && d != 'D')
			fprintf(stderr, "loadgen: worker %d: unexpected '%c'\n", i, d);
		if (read_all(out[i], &part, sizeof part) == 0) {
			lg_result_merge(&res, &part);
			proc_echoes[i] = part.echoes;
		} else {
			fprintf(stderr, "loadgen: worker %d sent no result\n", i);
			fail = 1;
		}
		close(ctl[i]);
		close(out[i]);
		while (waitpid(pid[i], NULL, 0) < 0 && errno == EINTR)
			;
	}
	return fail ? -1 : 0;
}

/* ---- output ---------------------------------------------------------------------- */

static const char *mode_name(void)
{
	return cfg.mode == LG_OPEN ? "open" : cfg.mode == LG_CHURN ? "churn" : "closed";
}

static int usable_cpus(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof set, &set) == 0)
		return CPU_COUNT(&set);
	return (int)sysconf(_SC_NPROCESSORS_ONLN);
}

/* "name":{p50..count}, for the light/heavy split of --work-every. */
static void print_hist_json(const char *name, const struct hist *h)
{
	printf("\"%s\":{\"p50\":%llu,\"p90\":%llu,\"p99\":%llu,\"p999\":%llu,\"p9999\":%llu,"
	       "\"max\":%llu,\"mean\":%.1f,\"count\":%llu},", name,
	       (unsigned long long)hist_percentile(h, 50), (unsigned long long)hist_percentile(h, 90),
	       (unsigned long long)hist_percentile(h, 99), (unsigned long long)hist_percentile(h, 99.9),
	       (unsigned long long)hist_percentile(h, 99.99), (unsigned long long)(h->total ? h->max : 0),
	       hist_mean(h), (unsigned long long)h->total);
}

static void print_summary_hist(const char *name, const struct hist *h)
{
	fprintf(stderr, "  %s us: p50 %llu  p90 %llu  p99 %llu  p99.9 %llu  max %llu  mean %.1f  (%llu)\n",
		name, (unsigned long long)hist_percentile(h, 50), (unsigned long long)hist_percentile(h, 90),
		(unsigned long long)hist_percentile(h, 99), (unsigned long long)hist_percentile(h, 99.9),
		(unsigned long long)(h->total ? h->max : 0), hist_mean(h), (unsigned long long)h->total);
}

/* "latency_hist": the raw histogram, non-empty buckets only, each as
 * [lowest, highest equivalent value, count] in us, so a controller can add
 * several generators' counts bucket by bucket without knowing the layout
 * (harness/hosts.py merge_hists). The open loop's other histograms go out
 * the same way (name, and the members before "total" in head). */
static void print_hist_buckets(const char *name, const char *head, const struct hist *h)
{
	printf("\"%s\":{%s\"total\":%llu,\"sum\":%llu,\"min\":%llu,\"max\":%llu,"
	       "\"over\":%llu,\"buckets\":[", name, head, (unsigned long long)h->total,
	       (unsigned long long)h->sum, (unsigned long long)(h->total ? h->min : 0),
	       (unsigned long long)(h->total ? h->max : 0), (unsigned long long)h->over);
	const char *sep = "";
	for (unsigned i = 0; i < HIST_LEN; i++) {
		if (!h->counts[i])
			continue;
		uint64_t lo = hist_value_at(i);
		printf("%s[%llu,%llu,%llu]", sep, (unsigned long long)lo,
		       (unsigned long long)hist_highest_equiv(lo), (unsigned long long)h->counts[i]);
		sep = ",";
	}
	printf("]},");
}

static const char *const why_names[] = { "arrivals", "late", "saturated" };

static const char *verdict_name(const struct lg_verdict *v)
{
	return !v->known ? "unknown" : v->why ? "generator" : "ok";
}

/* The open loop's lateness, the latency less it, the send-process test. */
static void print_open_json(int saturated)
{
	const struct hist *l = &res.late;
	struct lg_verdict v;
	lg_result_verdict(&res, saturated, &v);
	printf("\"lateness_us\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f,"
	       "\"mean\":%.3f,\"count\":%llu,\"held\":%llu,\"over_range\":%llu},",
	       (double)hist_percentile(l, 50) / 1e3, (double)hist_percentile(l, 90) / 1e3,
	       (double)hist_percentile(l, 99) / 1e3, (double)hist_percentile(l, 99.9) / 1e3,
	       (double)(l->total ? l->max : 0) / 1e3, hist_mean(l) / 1e3, (unsigned long long)res.sends,
	       (unsigned long long)res.held, (unsigned long long)l->over);
	print_hist_json("server_latency_us", &res.srv_lat);
	printf("\"send_process\":{\"arrivals\":\"%s\",\"gap_us\":%.3f,\"w1_gaps\":%.4f,\"w1_limit\":%g,"
	       "\"late_share_p50\":%.4f,\"late_share_p99\":%.4f,\"late_share_limit\":%g,"
	       "\"verdict\":\"%s\",\"reasons\":[",
	       cfg.arrivals == PACE_POISSON ? "poisson" : "uniform", v.gap_us, v.w1_gaps, LG_W1_LIMIT,
	       v.share_p50, v.share_p99, LG_SHARE_LIMIT, verdict_name(&v));
	const char *sep = "";
	for (int i = 0; i < 3; i++)
		if (v.known && v.why & (1 << i)) {
			printf("%s\"%s\"", sep, why_names[i]);
			sep = ",";
		}
	printf("],\"batch_us\":%u,\"early_us\":%u,\"spin_us\":%.3f,\"spin_auto\":%s,\"slack_ns\":%u,"
	       "\"wake_on_reply\":%s},", cfg.batch_us, cfg.early_us,
	       res.spin_threads ? (double)res.spin_ns_sum / (double)res.spin_threads / 1e3 : 0.0,
	       cfg.spin_auto ? "true" : "false", cfg.slack_ns, cfg.wake_on_reply ? "true" : "false");
	if (cfg.buckets) {
		char head[64];
		print_hist_buckets("lateness_hist", "\"unit\":\"ns\",", l);
		snprintf(head, sizeof head, "\"unit_ns\":%llu,", (unsigned long long)res.gap_unit_ns);
		print_hist_buckets("gap_sent_hist", head, &res.gap_sent);
		print_hist_buckets("gap_due_hist", head, &res.gap_due);
	}
}

static void print_json(double dur, int saturated, int interrupted)
{
	const struct hist *h = &res.lat;
	printf("{\"conns\":%u,\"connected\":%llu,\"connect_errors\":%llu,\"connect_error_reasons\":{",
	       cfg.conns, (unsigned long long)res.connected, (unsigned long long)res.connect_errors);
	const char *sep = "";
	for (int i = 0; i < LG_REASONS; i++) {
		if (!res.connect_reasons[i])
			continue;
		const char *name = i ? strerrorname_np(i) : "timeout";
		printf("%s\"%s\":%llu", sep, name ? name : "unknown", (unsigned long long)res.connect_reasons[i]);
		sep = ",";
	}
	printf("},\"active\":%u,\"size\":%u,\"mode\":\"%s\",\"depth\":%u,\"rate\":%llu,"
	       "\"threads\":%d,\"procs\":%d,\"ports\":%d,\"srcs\":%d,\"idle_ping_s\":%g,",
	       cfg.mode == LG_CHURN ? cfg.conns : cfg.active, cfg.size, mode_name(), cfg.depth,
	       (unsigned long long)cfg.rate, cfg.threads, cfg.procs, cfg.nports, cfg.nsrcs, cfg.idle_ping_s);
	printf("\"duration_s\":%.6f,\"warmup_s\":%g,\"echoes\":%llu,\"echoes_per_s\":%.1f,"
	       "\"bytes_per_s\":%.1f,\"idle_echoes\":%llu,",
	       dur, cfg.warmup_s, (unsigned long long)res.echoes,
	       dur > 0 ? (double)res.echoes / dur : 0.0, dur > 0 ? (double)res.bytes / dur : 0.0,
	       (unsigned long long)res.idle_echoes);
	printf("\"verify_errors\":%llu,\"unexpected_closes\":%llu,\"timeouts\":%llu,\"open_missed\":%llu,",
	       (unsigned long long)res.verify_errors, (unsigned long long)res.unexpected_closes,
	       (unsigned long long)res.timeouts, (unsigned long long)res.open_missed);
	printf("\"count\":%llu,\"unfinished\":%llu,", (unsigned long long)cfg.count,
	       (unsigned long long)res.unfinished);
	printf("\"latency_us\":{\"p50\":%llu,\"p90\":%llu,\"p99\":%llu,\"p999\":%llu,\"p9999\":%llu,"
	       "\"max\":%llu,\"mean\":%.1f,\"count\":%llu,\"over_range\":%llu},",
	       (unsigned long long)hist_percentile(h, 50), (unsigned long long)hist_percentile(h, 90),
	       (unsigned long long)hist_percentile(h, 99), (unsigned long long)hist_percentile(h, 99.9),
	       (unsigned long long)hist_percentile(h, 99.99), (unsigned long long)(h->total ? h->max : 0),
	       hist_mean(h), (unsigned long long)h->total, (unsigned long long)h->over);
	if (cfg.work_every) {
		print_hist_json("light_latency_us", &res.light_lat);
		print_hist_json("heavy_latency_us", &res.heavy_lat);
	}
	if (cfg.buckets)
		print_hist_buckets("latency_hist", "", h);
	if (cfg.mode == LG_OPEN)
		print_open_json(saturated);
	printf("\"host\":\"%s\",\"allowed_host\":", cfg.host_str);
	if (cfg.allow_host_str)
		printf("\"%s\",", cfg.allow_host_str);
	else
		printf("null,");
	printf("\"fairness\":{\"min\":%llu,\"max\":%llu,\"jain\":%.4f},",
	       (unsigned long long)(res.fair_n ? res.fair_min : 0), (unsigned long long)res.fair_max,
	       lg_result_jain(&res));
	double cpu = res.cpu_user + res.cpu_sys;
	printf("\"client_cpu_s\":{\"user\":%.3f,\"sys\":%.3f},\"client_cpu_us_per_echo\":%.3f,"
	       "\"client_wait_s\":%.4f,\"client_spin_s\":%.4f,\"client_saturated\":%s,\"interrupted\":%s",
	       res.cpu_user, res.cpu_sys, res.echoes ? cpu * 1e6 / (double)res.echoes : 0.0, res.cpu_wait,
	       (double)res.spin_ns / 1e9,
	       saturated ? "true" : "false", interrupted ? "true" : "false");
	if (cfg.procs > 1) {
		printf(",\"proc_echoes\":[");
		for (int i = 0; i < cfg.procs; i++)
			printf("%s%llu", i ? "," : "", (unsigned long long)proc_echoes[i]);
		printf("]");
	}
	if (cfg.mode == LG_CHURN) {
		const struct hist *c = &res.conn_lat;
		printf(",\"conns_per_s\":%.1f,\"connect_latency_us\":{\"p50\":%llu,\"p99\":%llu,"
		       "\"max\":%llu,\"mean\":%.1f}",
		       dur > 0 ? (double)res.churn_conns / dur : 0.0,
		       (unsigned long long)hist_percentile(c, 50), (unsigned long long)hist_percentile(c, 99),
		       (unsigned long long)(c->total ? c->max : 0), hist_mean(c));
	}
	printf("}\n");
	fflush(stdout);
}

static void print_open_summary(int saturated)
{
	const struct hist *l = &res.late;
	struct lg_verdict v;
	lg_result_verdict(&res, saturated, &v);
	fprintf(stderr, "  lateness us: p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  mean %.1f  "
		"(%llu sends, %llu held by --depth)\n", (double)hist_percentile(l, 50) / 1e3,
		(double)hist_percentile(l, 90) / 1e3, (double)hist_percentile(l, 99) / 1e3,
		(double)hist_percentile(l, 99.9) / 1e3, (double)(l->total ? l->max : 0) / 1e3,
		hist_mean(l) / 1e3, (unsigned long long)res.sends, (unsigned long long)res.held);
	print_summary_hist("less lateness", &res.srv_lat);
	fprintf(stderr, "  send process: %s, gaps %.1f us, W1 %.3f gaps (limit %g), lateness %.0f%% of p50, "
		"%.0f%% of p99 (limit %.0f%%): %s", cfg.arrivals == PACE_POISSON ? "poisson" : "uniform",
		v.gap_us, v.w1_gaps, LG_W1_LIMIT, v.share_p50 * 100, v.share_p99 * 100, LG_SHARE_LIMIT * 100,
		!v.known ? "unknown (too few sends)" : v.why ? "GENERATOR:" : "ok");
	for (int i = 0; i < 3; i++)
		if (v.known && v.why & (1 << i))
			fprintf(stderr, " %s", why_names[i]);
	fprintf(stderr, "\n");
}

static void print_summary(double dur, int saturated, int interrupted)
{
	const struct hist *h = &res.lat;
	fprintf(stderr, "loadgen: %s loop, %u conns (%llu connected, %u active), %u B x depth %u, "
		"%d thread(s) x %d proc(s), %.2f s%s\n", mode_name(), cfg.conns,
		(unsigned long long)res.connected, cfg.mode == LG_CHURN ? cfg.conns : cfg.active,
		cfg.size, cfg.depth, cfg.threads, cfg.procs, dur, interrupted ? " (interrupted)" : "");
	if (cfg.allow_host_str)
		fprintf(stderr, "  target %s (--allow-host %s: the one non-loopback address allowed)\n",
			cfg.host_str, cfg.allow_host_str);
	fprintf(stderr, "  echoes %llu  %.0f/s  %.2f MB/s\n", (unsigned long long)res.echoes,
		dur > 0 ? (double)res.echoes / dur : 0.0, dur > 0 ? (double)res.bytes / dur / 1e6 : 0.0);
	fprintf(stderr, "  latency us: p50 %llu  p90 %llu  p99 %llu  p99.9 %llu  p99.99 %llu  max %llu  mean %.1f\n",
		(unsigned long long)hist_percentile(h, 50), (unsigned long long)hist_percentile(h, 90),
		(unsigned long long)hist_percentile(h, 99), (unsigned long long)hist_percentile(h, 99.9),
		(unsigned long long)hist_percentile(h, 99.99), (unsigned long long)(h->total ? h->max : 0),
		hist_mean(h));
	if (cfg.work_every) {
		print_summary_hist("light", &res.light_lat);
		print_summary_hist("heavy", &res.heavy_lat);
	}
	if (cfg.mode == LG_OPEN)
		print_open_summary(saturated);
	if (cfg.mode == LG_CHURN)
		fprintf(stderr, "  churn: %.0f conns/s, connect us p50 %llu p99 %llu\n",
			dur > 0 ? (double)res.churn_conns / dur : 0.0,
			(unsigned long long)hist_percentile(&res.conn_lat, 50),
			(unsigned long long)hist_percentile(&res.conn_lat, 99));
	else
		fprintf(stderr, "  fairness: min %llu max %llu jain %.4f\n",
			(unsigned long long)(res.fair_n ? res.fair_min : 0), (unsigned long long)res.fair_max,
			lg_result_jain(&res));
	fprintf(stderr, "  client cpu: user %.2f s sys %.2f s (%.3f s of it spinning to sends), waited %.3f s "
		"for a CPU%s\n", res.cpu_user, res.cpu_sys, (double)res.spin_ns / 1e9, res.cpu_wait,
		saturated ? "  SATURATED: the generator, not the server, may be the limit" : "");
	if (res.connect_errors)
		fprintf(stderr, "  WARNING: %llu connects failed\n", (unsigned long long)res.connect_errors);
	if (res.unfinished)
		fprintf(stderr, "  TIMEOUT: --count %llu: %llu connection(s) not done within the --duration "
			"cap of %g s\n", (unsigned long long)cfg.count, (unsigned long long)res.unfinished,
			cfg.duration_s);
	if (res.verify_errors || res.unexpected_closes || res.timeouts)
		fprintf(stderr, "  ERRORS: verify %llu, unexpected closes %llu, timeouts %llu\n",
			(unsigned long long)res.verify_errors, (unsigned long long)res.unexpected_closes,
			(unsigned long long)res.timeouts);
	if (res.open_missed)
		fprintf(stderr, "  WARNING: %llu scheduled sends dropped (over %s owed per connection)\n",
			(unsigned long long)res.open_missed, "100000");
}

int main(int argc, char **argv)
{
	char err[512];
	const char *e = lg_parse(argc, argv, &cfg, err, sizeof err);
	if (e) {
		fprintf(stderr, "loadgen: %s\n", e);
		return 2;
	}
	if (cfg.help) {
		fputs(lg_usage, stdout);
		return 0;
	}
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;   /* 20,000 here; nobody can go past the hard limit */
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	getrlimit(RLIMIT_NOFILE, &rl);
	if ((e = lg_check_fds(&cfg, rl.rlim_cur, err, sizeof err))) {
		fprintf(stderr, "loadgen: %s\n", e);
		return 2;
	}
	FILE *hgrm = NULL;
	if (cfg.hgrm && !(hgrm = fopen(cfg.hgrm, "w"))) {
		fprintf(stderr, "loadgen: --hgrm: cannot write %s: %s\n", cfg.hgrm, strerror(errno));
		return 2;
	}
	if (probe_ports(err, sizeof err)) {
		fprintf(stderr, "loadgen: %s\n", err);
		if (hgrm)
			fclose(hgrm);
		return 2;
	}

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;   /* no SA_RESTART: sleeps and reads see EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	lg_result_init(&res);
	struct window w = { 0 };
	int rc = cfg.procs > 1 ? run_procs(&w) : run_single(&w);
	double dur = w.start && w.end > w.start ? secs(w.end - w.start) : 0.0;
	double cpu = res.cpu_user + res.cpu_sys;
	int lanes = cfg.threads * cfg.procs, ncpu = usable_cpus();
	if (lanes > ncpu)
		lanes = ncpu;
	/* spinning to a send is chosen, not forced: it does not make the generator the limit */
	int saturated = dur > 0 && cpu - (double)res.spin_ns / 1e9 >= 0.9 * dur * lanes;
	int interrupted = lg_stop != 0;
	if (!interrupted)
		res.timeouts += res.unfinished;   /* --count hit the --duration cap: an error */

	if (cfg.json)
		print_json(dur, saturated, interrupted);
	print_summary(dur, saturated, interrupted);
	if (hgrm) {
		if (hist_write_hgrm(&res.lat, hgrm, 1000.0) || fclose(hgrm))
			fprintf(stderr, "loadgen: --hgrm: writing %s failed\n", cfg.hgrm);
	}
	if (rc)
		return 1;
	return res.verify_errors || res.unexpected_closes || res.timeouts ? 1 : 0;
}
