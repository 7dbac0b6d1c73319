"""Profiles: which points a run measures, and how long that takes.

A *point* is one measured configuration: a sweep (what varies), a series
(a fixed parameter inside the sweep: 10,000 idle or none, heavy work or
none), a model, and the load (conns, active, idle, rate, size, ...). Every
point is measured `repeats` times; the CSV keeps the median and the spread.

Sweeps:
  active  closed loop, every connection active: throughput against conns
  idle    100 active + N idle: the classic C10K curve (x = idle)
  rate    open loop at fixed offered rates (x = rate), with and without
          10,000 idle connections; steps above a model's saturation are
          skipped (recorded as such) once it reached only 90% of a rate
  churn   connect, one echo, close (x = concurrent connectors)
  size    message size (full profile only; x = size)
  heavy   a fixed open-loop load of light requests, 1% of them heavy
          (servers' --work-us 1000 --work-every 100), with a light-only
          baseline: the event loop's weak point
"""

import math

# One process can hold RLIMIT_NOFILE (hard 20,000 here) descriptors; keep a
# margin for the listener, epoll fd, stdio and the EMFILE spare.
FD_MARGIN = 64
# With SO_REUSEPORT the kernel hashes each connection to one listener, so
# the split is binomial, not exact: aim below the per-process limit.
CONNS_PER_EXTRA_PROC = 16000
# 127.0.0.2 .. 127.0.0.9: eight source addresses -> 8 x ~28,000 ports.
SRC_RANGE = "127.0.0.2-127.0.0.9"
SRC_COUNT = 8
HEAVY_MODELS = ("epoll_et", "reactors", "pool", "coro", "threads")
# Execution order: churn last, its TIME_WAIT sockets slow every later connect.
SWEEPS = ("active", "idle", "rate", "size", "heavy", "churn")

PROFILES = {
    # CI: one repeat, few points; all models in well under 5 minutes.
    "quick": dict(
        duration=1.0, warmup=0.25, repeats=1, max_server_procs=1,
        active=[10, 1000], idle=[5000], rate_active=1000, rate_idle=[0],
        rates=[20000], churn=[10], sizes=[], size_active=100,
        heavy_rate=1000, heavy_work=[5000], heavy_conns=100, heavy_duration=2.0,
    ),
    # `make bench`: the reference results; must fit 30 minutes here.
    "default": dict(
        duration=1.0, warmup=0.25, repeats=2, max_server_procs=1,
        active=[1, 10, 100, 1000, 5000, 10000, 19000],
        idle=[1000, 5000, 10000, 19000],
        rate_active=1000, rate_idle=[0, 10000],
        rates=[10000, 40000, 80000],
        churn=[10, 100], sizes=[], size_active=100,
        heavy_rate=1000, heavy_work=[0, 5000], heavy_conns=100, heavy_duration=4.0,
    ),
    # Everything, five repeats, past one process's limits with several
    # server processes (--reuseport) and generator processes (--procs).
    "full": dict(
        duration=5.0, warmup=1.0, repeats=5, max_server_procs=8,
        active=[1, 10, 100, 1000, 2000, 5000, 10000, 15000, 19000, 50000, 100000],
        idle=[100, 1000, 2000, 5000, 10000, 15000, 19000],
        rate_active=1000, rate_idle=[0, 10000],
        rates=[5000, 10000, 20000, 40000, 60000, 80000, 120000, 160000, 240000],
        churn=[1, 10, 100, 1000], sizes=[16, 64, 256, 1024, 4096, 16384, 65536],
        size_active=100,
        heavy_rate=[500, 1000, 2000], heavy_work=[0, 5000], heavy_conns=100,
        heavy_duration=10.0,
    ),
}

IDLE_ACTIVE = 100           # the idle sweep's fixed active connections
HEAVY_WORK_EVERY = 100      # 1% of messages are heavy (1.17% with loadgen's payload keys)
# The heavy sweep's server may use every CPU (server_cpus="all"): a pool or a
# thread per connection can only keep light requests fast if its other threads
# run beside the one doing the heavy work. Its work is 5 ms, not 1 ms: measured
# here (kernel 6.18, 2 CPUs, 1,000 msg/s), a 1 ms spin is never preempted
# (EEVDF lets a task run out its base slice, 0.75 ms x (1 + log2 CPUs)), so
# every model's light p99 was ~0.6-0.9 ms; with 5 ms the light p99 was
# epoll_et 4.2 ms, pool 1.9 ms, threads 0.7 ms: the shape the sweep is for.
# It runs longer (heavy_duration): at 1,000 msg/s a 1 s run has ~12 heavy
# requests, too few for a stable p99.


def per_proc_conns(nofile):
    """Connections one process (server or generator) can hold."""
    return max(1, nofile - FD_MARGIN)


def procs_needed(conns, nofile):
    """Server (or generator) processes a point with `conns` connections needs."""
    if conns <= per_proc_conns(nofile):
        return 1
    return math.ceil(conns / CONNS_PER_EXTRA_PROC)


def model_args(model, pt):
    """Model-specific server flags for a point (recorded with the point).

    prefork serves one connection per process: give it a process per
    connection up to 2,000 (fork cost and memory); beyond that the rest wait
    in the backlog and the point shows it (timeouts)."""
    if model == "prefork":
        per = math.ceil(pt["conns"] / pt["server_procs"])
        return ["--procs", str(min(max(per, 32), 2000))]
    return []


def build_points(profile, models, conns_filter=None, sweeps=None, nofile=20000,
                 overrides=None):
    """All points of a run, in execution order: sweep by sweep (in SWEEPS
    order), and within a sweep repeat-major (every point once before any
    twice), so an interrupted run still has whole sweeps."""
    p = dict(PROFILES[profile])
    p.update({k: v for k, v in (overrides or {}).items() if v is not None})
    sweeps = [s for s in SWEEPS if s in (sweeps or SWEEPS)]
    base = []

    def add(sweep, series, x, model, conns, active, rate=0, size=64, mode=None,
            work_us=0):
        pt = dict(sweep=sweep, series=series, x=x, model=model, conns=conns,
                  active=active, idle=conns - active if mode != "churn" else 0,
                  rate=rate, size=size, depth=1,
                  mode=mode or ("open" if rate else "closed"),
                  work_us=work_us, work_every=HEAVY_WORK_EVERY if work_us else 1,
                  # loadgen --work-every: split latency into light and heavy by the
                  # server's key rule (the light-only series too, for the same keys)
                  split_every=HEAVY_WORK_EVERY if sweep == "heavy" else 0,
                  server_cpus="all" if sweep == "heavy" else "0",
                  duration=p.get("heavy_duration", p["duration"]) if sweep == "heavy"
                  else p["duration"], warmup=p["warmup"])
        pt["server_procs"] = procs_needed(conns, nofile)
        pt["client_procs"] = procs_needed(conns, nofile)
        # Always several source addresses: with one, connect() searches the
        # ephemeral ports one by one, and with the TIME_WAIT sockets of
        # earlier points (up to tcp_max_tw_buckets) 19,000 connects took 33 s
        # here instead of 0.7 s (IP_BIND_ADDRESS_NO_PORT picks per 4-tuple).
        pt["src"] = SRC_RANGE
        pt["server_args"] = model_args(model, pt)
        base.append(pt)

    def keep(conns):
        return conns_filter is None or conns in conns_filter

    for sweep in sweeps:
        if sweep == "active":
            for c in (sorted(conns_filter) if conns_filter else p["active"]):
                for m in models:
                    add("active", "all", c, m, c, c)
        elif sweep == "idle":
            totals = sorted(conns_filter) if conns_filter else p["idle"]
            for t in totals:
                if t < IDLE_ACTIVE:
                    continue
                for m in models:
                    add("idle", "active100", t - IDLE_ACTIVE, m, t, IDLE_ACTIVE)
        elif sweep == "rate":
            for idle in p["rate_idle"]:
                c = p["rate_active"] + idle
                if not keep(c):
                    continue
                for m in models:
                    for r in p["rates"]:
                        add("rate", f"idle{idle}", r, m, c, p["rate_active"], rate=r)
        elif sweep == "churn":
            for c in p["churn"]:
                if not keep(c):
                    continue
                for m in models:
                    add("churn", "all", c, m, c, c, mode="churn")
        elif sweep == "size":
            c = p["size_active"]
            if not keep(c):
                continue
            for s in p["sizes"]:
                for m in models:
                    add("size", "all", s, m, c, c, size=s)
        elif sweep == "heavy":
            c = p["heavy_conns"]
            if not keep(c):
                continue
            rates = p["heavy_rate"] if isinstance(p["heavy_rate"], list) else [p["heavy_rate"]]
            for m in models:
                if m not in HEAVY_MODELS:
                    continue
                for r in rates:
                    for w in p["heavy_work"]:
                        add("heavy", "heavy" if w else "light", r, m, c, c, rate=r,
                            work_us=w)
    pts = []
    for sweep in sweeps:
        for rep in range(p["repeats"]):
            for b in base:
                if b["sweep"] == sweep:
                    pts.append(dict(b, repeat=rep + 1, repeats=p["repeats"]))
    return pts, p


def estimate_s(pt):
    """Wall seconds a point takes: start/stop, connect + teardown (~25,000
    connections/s each way here, measured), warm-up and measurement."""
    s = 0.4 + pt["warmup"] + pt["duration"] + pt["conns"] / 12000.0
    s += 0.15 * (pt["server_procs"] - 1)
    if pt["model"] == "prefork":
        s += 0.0005 * pt["conns"]          # fork per process
    return s


def model_limit(model, pt, limits):
    """Reason a model cannot run this point on this machine, or None.
    (select runs past FD_SETSIZE with its own bitmaps; prefork's backlog and
    posix_aio's thread limit are measured, not assumed: they fail as data.)"""
    if model == "threads":
        cap = min(limits.get("threads_max", 1 << 30), limits.get("pid_max", 1 << 30))
        cap -= limits.get("tasks_now", 0) + 500
        if pt["conns"] > cap:
            return (f"threads: {pt['conns']} connections need as many threads; "
                    f"pid_max/threads-max leave {cap}")
    return None


def machine_limit(pt, limits):
    """Reason the machine cannot reach a point at all, or None."""
    nofile = limits["nofile_hard"]
    per = per_proc_conns(nofile)
    if pt["server_procs"] * per < pt["conns"] or pt["client_procs"] * per < pt["conns"]:
        return f"{pt['conns']} connections exceed {pt['server_procs']} process(es) x {per} fds"
    ports = limits["ephemeral_ports"] * (SRC_COUNT if pt["src"] else 1)
    if pt["mode"] != "churn" and pt["conns"] > ports:
        return f"{pt['conns']} connections exceed {ports} ephemeral ports"
    return None
