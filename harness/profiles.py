"""profiles.py - which points a run measures (build_points), and what a
point needs of the machine.

A *point* is one measured configuration: a sweep (what varies), a series
(a fixed parameter inside the sweep: 10,000 idle or none, heavy work or
none), a model, and the load (conns, active, idle, rate, size, ...). Every
point is measured at least `repeats` times (harness/schedule.py says how
many more); points.csv folds a point's repeats as harness/figures.py
declares for each figure.

A profile sets the run-wide settings here; each sweep's points per profile
are declared with the sweep in harness/sweeps.py (`python3 harness/bench.py
--help` lists the sweeps). How long a point takes is schedule.estimate_s's.
"""

import math
import os
import resource

import models
import overrides as overrides_
import sweeps as sweep_decl
from records import Point

# One process can hold RLIMIT_NOFILE descriptors; keep a margin for the
# listener, epoll fd, stdio and the EMFILE spare.
FD_MARGIN = 64
# With SO_REUSEPORT the kernel hashes each connection to one listener, so
# the split is binomial, not exact: aim below the per-process limit.
CONNS_PER_EXTRA_PROC = 16000
# 127.0.0.2 .. 127.0.0.9: eight source addresses -> 8 x ~28,000 ports.
SRC_RANGE = "127.0.0.2-127.0.0.9"
SRC_COUNT = 8
# The sweeps, in display order: the order of a run's first round too (harness/schedule.py).
SWEEPS = tuple(sweep_decl.names())

# Runs (harness/schedule.py): a point is `repeats` independent short runs (a
# fresh server and fresh connections each), interleaved across models in a
# shuffled order; the points that have not converged to +-target
# (harness/convergence.py) run again, up to max_repeats, within extra_time x
# the run's estimated time. Precision comes from the number of runs, not
# their length: runs land apart by the machine's state at the time, not by
# how long they measure (harness/noise.py measures it: docs/method.md), so a
# run measures 0.2 s after a 0.1 s warm-up and the time goes to more runs;
# `bench.py --dry-run` prints what each sweep's figures should resolve to.
PROFILES = {
    # A first look: every model at few points, the fewest runs that give a
    # 95% interval (estimate.MIN_RUNS).
    "quick": dict(duration=0.2, warmup=0.1, repeats=6, max_server_procs=1,
                  target=0.05, max_repeats=6, extra_time=0.0),
    # `make bench`: the reference results (--dry-run prints the estimate).
    "default": dict(duration=0.2, warmup=0.1, repeats=10, max_server_procs=1,
                    target=0.05, max_repeats=16, extra_time=0.1),
    # Everything, past one process's limits with several server processes
    # (--reuseport) and generator processes (--procs).
    "full": dict(duration=0.5, warmup=0.2, repeats=20, max_server_procs=8,
                 target=0.05, max_repeats=40, extra_time=1.0),
}


def per_proc_conns(nofile):
    """Connections one process (server or generator) can hold."""
    return max(1, nofile - FD_MARGIN)


def procs_needed(conns, nofile):
    """Server (or generator) processes a point with `conns` connections needs."""
    if conns <= per_proc_conns(nofile):
        return 1
    return math.ceil(conns / min(CONNS_PER_EXTRA_PROC, per_proc_conns(nofile)))


def machine(cpus=None):
    """What the sweeps' points may depend on, from this process: its usable
    CPUs (or `cpus`, a declared topology's: bench.py --declare-cpus), and the
    descriptors one process of the suite holds (RLIMIT_NOFILE's hard limit
    less FD_MARGIN)."""
    return sweep_decl.Machine(
        cpus=cpus or len(os.sched_getaffinity(0)),
        fds=per_proc_conns(min(resource.getrlimit(resource.RLIMIT_NOFILE)[1], 1 << 20)))


def build_points(profile, models_, conns_filter=None, sweeps=None, nofile=20000,
                 overrides=None, mach=None):
    """All points of a run, one per planned repeat: sweep by sweep (SWEEPS
    order), and within a sweep repeat-major (every point once before any
    twice); the order they run in is harness/schedule.py's (its rounds mix
    the sweeps). mach: the sweeps.Machine the points are for (default: this
    one). Returns (points, settings)."""
    mach = mach or machine()
    p = dict(PROFILES[profile])
    p.update({k: v for k, v in (overrides or {}).items() if v is not None})
    chosen = [s for s in SWEEPS if s in (sweeps or SWEEPS)]
    # --set (harness/overrides.py) replaces single parameters of a sweep.
    p["sweeps"] = {s: overrides_.sweep_params(sweep_decl.get(s).profiles[profile], s,
                                              p.get("sets")) for s in chosen}
    extra_args = p.pop("server_extra", None) or {}      # --server-args MODEL=FLAGS
    base = []
    for name in chosen:
        sw = sweep_decl.get(name)
        sp = p["sweeps"][name]
        for kw in sw.points(sp, models_, conns_filter, mach):
            mode = kw.pop("mode", None) or ("open" if kw.get("rate") else "closed")
            work_us = kw.pop("work_us", 0)
            conns, procs = kw["conns"], procs_needed(kw["conns"], nofile)
            # a sweep may set them (cores: S --reuseport processes on S CPUs)
            sprocs = max(procs, kw.pop("server_procs", procs))
            server_cpus = kw.pop("server_cpus", sw.server_cpus)
            m = kw["model"]
            base.append(Point(
                sweep=name, idle=conns - kw["active"] if mode != "churn" else 0,
                rate=kw.pop("rate", 0), size=kw.pop("size", 64), depth=1, mode=mode,
                work_us=work_us, work_every=sweep_decl.HEAVY_WORK_EVERY if work_us else 1,
                split_every=sw.split_every, server_cpus=server_cpus,
                duration=sp[sw.duration_key] if sw.duration_key else p["duration"],
                warmup=max(p["warmup"], models.attr(m, "warmup_s", 0.0)),  # a JIT warms
                server_procs=sprocs, client_procs=procs,
                # Always several source addresses: with one, connect() searches the
                # ephemeral ports one by one, and with the TIME_WAIT sockets of
                # earlier points (up to tcp_max_tw_buckets) 19,000 connects took 33 s
                # here instead of 0.7 s (IP_BIND_ADDRESS_NO_PORT picks per 4-tuple).
                src=SRC_RANGE,
                server_args=(models.get(m).bench_args(conns, sprocs) if models.attr(m, "name")
                             else []) + extra_args.get(m, []),
                **kw))
    pts = [b.again(repeat=rep + 1, repeats=p["repeats"])
           for name in chosen for rep in range(p["repeats"]) for b in base if b.sweep == name]
    return pts, p


def model_limit(model, pt, limits):
    """Reason a model cannot run this point on this machine, or None.
    (select runs past FD_SETSIZE with its own bitmaps; prefork's backlog and
    posix_aio's thread limit are measured, not assumed: they fail as data.)"""
    if model in models.names(thread_per_conn=True):
        cap = min(limits.get("threads_max", 1 << 30), limits.get("pid_max", 1 << 30))
        cap -= limits.get("tasks_now", 0) + 500
        if pt["conns"] > cap:
            return (f"{model}: {pt['conns']} connections need as many threads; "
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
