"""sweeps.py - every sweep declared once: its points per profile, the kind
of point that runs them, its report section (tables and charts, in order)
and its charts.

build_points (profiles.py), the runner (which runs each sweep's points with
the kind it names: "echo", "capacity", "dispatch"), the report and CSV
(report.py) and the charts (charts.py, plots/<kind>.gp) read these
declarations; nothing else names a sweep. This is data: a sweep names the
code that runs or draws it and imports none of it. A new sweep is one
Sweep(...) in SWEEPS; a chart of an existing kind is one Chart in a sweep's
report list; a new kind of chart is one plots/<kind>.gp.

Chart kinds (one gnuplot file each):
  lines  one or two panels of lines against x (plots/lines.gp): a panel is a
         column, optionally one series of the sweep; error bars from the
         repeats' _min/_max; failed points as an x on the floor
  bars   stacked bars per model at one x (plots/bars.gp): total and its part
  dots   per model, two series side by side, two columns each (plots/dots.gp)
  stack  per model, one bar at one x stacked from several columns, parts no
         model has left out (plots/stack.gp): calls by name, profile shares
"""

import dataclasses
import os
import re
import typing

import figures
import models

IDLE_ACTIVE = 100           # the idle sweep's fixed active connections
# The service-demand sweeps' offered loads (echoes/s), below what every model
# sustains at their largest N on the reference machine (closed loop,
# results/2026-11-29_122507-vm: sigio and busypoll made ~2,400 echoes/s beside
# 18,900 idle connections, posix_aio ~6,900 at 1,000 active), so their CPU per
# echo is a cost, not a saturated loop's; a model that falls short shows it in
# achieved_ratio.
IDLE_RATE = 2000
DEMAND_RATE = 5000
# The idle sweep's models in the quick and default profiles (the full one runs
# every model): those whose cost the story says grows with idle connections
# (select and poll scan them, SIGIO forces a scan, realtime signals queue per
# descriptor) against those it says does not (epoll, io_uring, a thread each).
IDLE_MODELS = ("select", "poll", "sigio", "rtsig", "epoll_lt", "epoll_et", "io_uring", "threads")
HEAVY_WORK_EVERY = 100      # 1% of messages are heavy (1.17% with loadgen's payload keys)


@dataclasses.dataclass(frozen=True)
class Panel:
    y: str                          # CSV column
    ylabel: str
    series: int = 0                 # 0: every series; k: the sweep's k-th series (1-based)
    logy: bool = False
    yfmt: str = "%.0s%c"
    # When no row has y (the kernel's count: no usable perf), this column of
    # the servers' own count is drawn instead, under own_label ({why}: the
    # rows' syscalls_note, why the kernel's is missing); docs/machines.md.
    own: str = ""
    own_label: str = ""


@dataclasses.dataclass(frozen=True)
class Chart:
    """One chart. Its kind's gnuplot file gets the run's common variables
    (see plots/common.gp), then: for panels, xcol/xlabel/logx/np and per
    panel y<k>/ylabel<k>/series<k>/ptitle<k>/logy<k>/yfmt<k>; for a chart at
    one x (`at`), at_col/at_val and the sweep's first two series as s1/s2;
    and `params` as they are."""
    name: str                       # <name>.png / .svg in the run folder
    kind: str                       # plots/<kind>.gp: lines | bars | dots
    title: str                      # may use {at}, {work_ms}
    main: str = ""                  # the column without which there is nothing to draw
    x: str = "x"                    # panels: the x column
    xlabel: str = ""
    logx: int = 0                   # 0, or the log base of the x axis
    panels: tuple = ()              # one or two Panel
    at: str = ""                    # a column fixed at one value ...
    at_pick: typing.Callable = None  # ... chosen from the sweep's rows
    params: tuple = ()              # (name, value) pairs for the kind's file
    vars: str = ""                  # a kind with variables of its own: charts.VARS[vars]

    def main_col(self):
        return self.main or self.panels[0].y


@dataclasses.dataclass(frozen=True)
class Table:
    col: str                        # CSV column shown, models down, x across
    label: str                      # may use {series}
    xname: str = "x"
    per_series: bool = False        # one table per series of the sweep ...
    only_series: tuple = ()         # ... or of these series only


@dataclasses.dataclass(frozen=True)
class AtTable:
    """Models down, figures across, at one x (the picked value of `at`)."""
    at: str
    at_pick: typing.Callable
    label: str                      # may use {at}
    cols: tuple                     # (heading, column, format: "num" | "pct")


@dataclasses.dataclass(frozen=True)
class Custom:
    """A report item of its own form: report.CUSTOM[render](the sweep's CSV
    rows) -> markdown lines."""
    render: str


# A lines chart's marks (plots/lines.gp markcol): circled, the open-loop points
# whose generator failed its own test (gen_limited; REPORT.md's tables: ‡ on
# the latencies). On latency charts only: the lateness is not in a CPU figure.
GEN_MARKS = (("markcol", "gen_limited"),)


@dataclasses.dataclass(frozen=True)
class Sweep:
    name: str
    doc: str
    section: str                    # REPORT.md heading (may use {work_ms})
    profiles: dict                  # profile -> the sweep's parameters
    points: typing.Callable         # (params, models, conns_filter, Machine) -> [point kwargs]
    report: tuple = ()              # Chart / Table / AtTable, in the order shown
    stop_on_failure: bool = False   # a model's larger x is skipped after it failed
    series_title: typing.Callable = str    # series name -> words
    series_key: typing.Callable = str      # order of the series
    duration_key: str = ""          # a params key replacing the profile's duration
    server_cpus: str = "0"          # "all": the server may use every CPU
    split_every: int = 0            # loadgen --work-every (latency by work key)
    extra_rows: typing.Callable = None     # rows -> rows lent from other sweeps
    # The kind of point that runs it: "echo" (a server and bin/loadgen, closed,
    # open or churn by the point's mode: runner.py), "capacity" (a closed-loop
    # probe, then a share of it offered open loop: capacity.py), "dispatch"
    # (bin/dispatch alone, no TCP: dispatch_point.py).
    kind: str = "echo"

    def charts(self):
        return [c for c in self.report if isinstance(c, Chart)]


@dataclasses.dataclass(frozen=True)
class Machine:
    """What a sweep's points may depend on, read from the machine by the
    caller (profiles.machine()) or made up by a test."""
    cpus: int                       # usable CPUs (the cores sweep's S values)
    fds: int                        # connections one process holds (dispatch's N = max)


# ---- helpers the declarations use ------------------------------------------

def _ok(r):
    return r["status"] in ("ok", "partial")


def near_1000(rows, col="cpu_us_per_echo"):
    """The x the CPU bars show: 1,000 connections if measured, else the nearest."""
    have = sorted({r["conns"] for r in rows if _ok(r) and r.get(col) is not None})
    return min(have, key=lambda c: abs(c - 1000)) if have else None


# The stack charts' columns: the kernel's calls by name, the profile's categories.
SC_STACK = (("cols", " ".join(figures.col(n) for n in figures.CALLS)),
            ("labels", " ".join(figures.CALLS)), ("floor", 0.005),
            ("ylabel", "server system calls per echo (the kernel's count)"))
PROF_STACK = (("cols", " ".join(figures.prof_col(c) for c in figures.PROFILE_CATEGORIES)),
              ("labels", " ".join(figures.PROFILE_CATEGORIES)), ("pct", 1),
              ("ylabel", "share of the server's CPU samples"))


def at_near(col, want):
    """An at_pick: the conns nearest `want` ("max": the largest) among the ok rows with col."""
    def pick(rows):
        have = sorted({r["conns"] for r in rows if _ok(r) and r.get(col) is not None})
        if not have:
            return None
        return have[-1] if want == "max" else min(have, key=lambda c: abs(c - want))
    return pick


def middle_rate(rows):
    have = sorted({r["rate"] for r in rows if _ok(r)})
    return 1000 if 1000 in have else (have[len(have) // 2] if have else None)


def active_of(rows):
    """The active connections of a sweep's rows, for titles (computed, not a
    default: --set may change them)."""
    a = sorted({r["active"] for r in rows if r.get("active")})
    return "/".join(f"{x:,}" for x in a) if a else "?"


def title_words(rows):
    """What a sweep's titles and section heading may name ({active}, {work_ms},
    {rate})."""
    return dict(work_ms=work_ms(rows), active=active_of(rows), rate=rate_of(rows))


def rate_of(rows):
    """The offered rates (echoes/s) of a sweep's rows, for titles."""
    r = sorted({r["rate"] for r in rows if r.get("rate")})
    return "/".join(f"{x:,}" for x in r) if r else "?"


def work_ms(rows):
    """The heavy requests' CPU cost in ms (the runs' --work-us), for titles."""
    w = sorted({r["work_us"] for r in rows if r["work_us"]})
    return "/".join(f"{x / 1000:g}" for x in w) if w else "?"


def _keep(conns_filter, c):
    return conns_filter is None or c in conns_filter


def _idle_zero(rows):
    """100 active + 0 idle is the active sweep's 100-connection point: lend it
    to the idle sweep as its x = 0 (the curve's start) unless it has one."""
    idle_series = {r["series"] for r in rows if r["sweep"] == "idle"}
    if not idle_series or any(r["sweep"] == "idle" and r["idle"] == 0 for r in rows):
        return []
    return [dict(r, sweep="idle", series=sorted(idle_series)[0], x=0) for r in rows
            if r["sweep"] == "active" and r["conns"] == IDLE_ACTIVE and r["size"] == 64
            and not r["work_us"]]


def _idle_series(s):
    n = s[4:]
    return "no idle connections" if n == "0" else f"with {n} idle connections"


def _idle_key(s):
    return int(s[4:]) if s[4:].isdigit() else 0


# ---- points per sweep: (params, models, conns_filter, Machine) -> point kwargs --

def _pts_active(p, ms, cf, mach):
    return [dict(series="all", x=c, model=m, conns=c, active=c)
            for c in (sorted(cf) if cf else p["conns"]) for m in ms]


def _pts_idle(p, ms, cf, mach):
    """A fixed offered load over `active` connections beside N idle ones: the
    server's CPU per echo against N (mode "demand": open loop, its CPU read
    at the window's edges); `models` (optional) keeps a profile's to those."""
    return [dict(series=f"active{p['active']}", x=t - p["active"], model=m, conns=t,
                 active=p["active"], rate=p["rate"], mode="demand")
            for t in (sorted(cf) if cf else p["totals"]) if t >= p["active"]
            for m in ms if m in p.get("models", ms)]


def _pts_demand(p, ms, cf, mach):
    """A fixed offered load spread over N connections, every one active: the
    server's CPU per echo against N (netperf's service demand)."""
    return [dict(series=f"rate{p['rate']}", x=c, model=m, conns=c, active=c, rate=p["rate"],
                 mode="demand")
            for c in (sorted(cf) if cf else p["conns"]) for m in ms]


def _pts_rate(p, ms, cf, mach):
    """x = rate = the offered share of the model's capacity in percent (the
    real rate is set when the point runs: harness/capacity.py); the idle
    count is min(declared, what one process's descriptors allow)."""
    out = []
    for i in sorted({min(i, mach.fds - p["active"]) for i in p["idle"]}):
        if _keep(cf, p["active"] + i):
            out += [dict(series=f"idle{i}", x=s, model=m, conns=p["active"] + i,
                         active=p["active"], rate=s, mode="open")
                    for m in ms if m in p.get("models", ms) for s in p["shares"]]
    return out


def _pts_churn(p, ms, cf, mach):
    return [dict(series="all", x=c, model=m, conns=c, active=c, mode="churn")
            for c in p["conns"] if _keep(cf, c) for m in ms]


def _pts_size(p, ms, cf, mach):
    c = p["active"]
    return [dict(series="all", x=s, model=m, conns=c, active=c, size=s)
            for s in p["sizes"] if _keep(cf, c) for m in ms]


def _pts_heavy(p, ms, cf, mach):
    c = p["conns"]
    return [dict(series="heavy" if w else "light", x=r, model=m, conns=c, active=c, rate=r,
                 work_us=w)
            for m in ms if m in models.names(heavy=True) and _keep(cf, c)
            for r in p["rates"] for w in p["work"]]


MIN_CORES_CPUS = 4        # the cores sweep needs S = 1 and 2 with as many for the generator


def cores_values(ncpus):
    """The cores sweep's S values: 1, 2, 4, ... up to half the usable CPUs,
    and half itself; [] below MIN_CORES_CPUS."""
    if ncpus < MIN_CORES_CPUS:
        return []
    half = ncpus // 2
    out, s = [], 1
    while s <= half:
        out.append(s)
        s *= 2
    if out[-1] != half:
        out.append(half)
    return out


def cores_skip_reason(ncpus):
    """Why the cores sweep cannot run on `ncpus` usable CPUs, or None."""
    if ncpus < MIN_CORES_CPUS:
        return (f"skip: fewer than {MIN_CORES_CPUS} CPUs ({ncpus} usable): the cores sweep "
                "needs S = 1 and 2 server CPUs with as many left for the generator")
    return None


def _pts_cores(p, ms, cf, mach):
    """The cores sweep (issue 14): each model that can use several CPUs
    (models.Model.cores) at S = 1, 2, 4, ... up to half the usable CPUs
    (cores_values; none below 4 CPUs), the generator on the rest;
    "reuseport" models run S processes, one per CPU."""
    out = []
    for c in p["conns"]:
        if not _keep(cf, c):
            continue
        for m in ms:
            how = models.attr(m, "cores")
            for s in cores_values(mach.cpus) if how else ():
                kw = dict(series=f"active{c}", x=s, model=m, conns=c, active=c,
                          server_cpus=str(s))
                if how == "reuseport":
                    kw["server_procs"] = s
                out.append(kw)
    return out


def _cores_series(s):
    return f"{int(s[6:]):,} active connections"


def _cores_key(s):
    return int(s[6:]) if s[6:].isdigit() else 0


MECHS_H = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                       "dispatch", "mechs.h")


def dispatch_mechanisms(header=MECHS_H):
    """bin/dispatch's mechanisms: {mechanism: the echo server whose MODELS
    entry runs it}, in the order of dispatch/mechs.h, the X-macro table
    bin/dispatch is built from (read as text, when the dispatch sweep's
    points are made: the harness needs no build; `dispatch --list` prints
    the same)."""
    with open(header) as f:
        found = re.findall(r"^\s*X\((\w+),\s*(\w+),", f.read(), re.M)
    if not found:
        raise RuntimeError(f"{header}: no X(name, server, what) line")
    return dict(found)


# Mechanisms whose every wait costs O(N): the events of a point are capped so
# that events x slots / active stays under the profile's scan_budget, times
# this weight (a sigio or busypoll event reads every slot: ~10x a poll slot).
SCAN_WEIGHT = {"select": 1, "poll": 1, "sigio": 10, "busypoll": 10}


MIN_WRITES = 50           # the fewest events a capped point times (each a full scan)


def writes_for(model, n, active, writes, scan_budget):
    """Events per timed run: `writes`, fewer for the O(N) mechanisms at large
    N (never fewer than MIN_WRITES or the tokens in flight: each seed token
    is an event)."""
    w = SCAN_WEIGHT.get(model)
    if w and scan_budget:
        writes = min(writes, max(MIN_WRITES, int(scan_budget * active / (n * w))))
    return max(writes, active, 1)


def _pts_dispatch(p, ms, cf, mach):
    # bin/dispatch's mechanisms and the echo server whose MODELS entry runs each (mechs.h)
    mechs = [d for d, server in dispatch_mechanisms().items()
             if server in ms and (not p["models"] or d in p["models"])]
    out = []
    for d in mechs:
        runs = [("random", n, 1, p["random_writes"]) for n in p["random_fds"]]
        runs += [("chain", n or mach.fds, a, p["chain_writes"])
                 for a in (p["threads_active"] if d == "threads" else p["chain_active"])
                 for n in p["chain_fds"]]
        for method, n, a, w in runs:
            if a <= n and _keep(cf, n):
                out.append(dict(series="random" if method == "random" else f"chain{a}", x=n,
                                model=d, conns=n, active=a, mode="dispatch", method=method,
                                writes=writes_for(d, n, a, w, p["scan_budget"])))
    return out


def _dispatch_title(s):
    return ("random (Kerrisk): 1 active" if s == "random"
            else f"chain (Provos): {int(s[5:]):,} active")


_ACTIVE_X = dict(x="conns", xlabel="active connections", logx=10)

SWEEPS = (
    Sweep(
        "active", "closed loop, every connection active: throughput against conns",
        "Active connections (closed loop, 64 B, one message in flight each)",
        profiles=dict(quick=dict(conns=[1000]),
                      default=dict(conns=[1000, 10000]),
                      full=dict(conns=[1, 10, 100, 1000, 2000, 5000, 10000, 15000, 19000,
                                       50000, 100000])),
        points=_pts_active, stop_on_failure=True,
        report=(
            Chart("throughput", "lines",
                  "Throughput against active connections (closed loop, 64 B, depth 1)",
                  panels=(Panel("msgs_per_s", "echoes per second"),), **_ACTIVE_X),
            Chart("latency", "lines", "Latency against active connections (closed loop)",
                  panels=(Panel("p50_us", "p50 latency (us)", logy=True),
                          Panel("p99_us", "p99 latency (us)", logy=True)), **_ACTIVE_X),
            Table("msgs_per_s", "Echoes per second", xname="conns"),
            Table("p99_us", "p99 latency (us)", xname="conns"),
            Chart("cpu", "bars",
                  "Server CPU per echo at {at} active connections: user (solid) + system (hatched)",
                  main="cpu_us_per_echo", at="conns",
                  at_pick=near_1000,
                  params=(("total", "cpu_us_per_echo"), ("part", "user_us_per_echo"),
                          ("part_label", "user"), ("rest_label", "system"),
                          ("ylabel", "server CPU microseconds per echo"))),
            Chart("syscalls", "lines", "System calls and context switches per echo",
                  panels=(Panel("syscalls_per_echo", "server system calls per echo", logy=True,
                                own="self_syscalls_per_echo",
                                own_label="server system calls per echo: the servers' own "
                                          "count; {why}"),
                          Panel("csw_per_echo", "server context switches per echo", logy=True)),
                  **_ACTIVE_X),
            Chart("syscalls_by_call", "stack",
                  "System calls per echo by call at {at} active connections (the kernel's count)",
                  main="syscalls_per_echo", at="conns",
                  at_pick=at_near("syscalls_per_echo", 1000), params=SC_STACK),
            Chart("profile_active", "stack",
                  "Where the server's CPU goes at {at} active connections (perf cpu-clock samples)",
                  main="prof_wait", at="conns", at_pick=at_near("prof_wait", 1000),
                  params=PROF_STACK),
            AtTable("conns", near_1000, "Per echo at {at} active connections",
                    (("CPU us", "cpu_us_per_echo", "num"), ("user us", "user_us_per_echo", "num"),
                     ("sys us", "sys_us_per_echo", "num"), ("syscalls", "syscalls_per_echo", "num"),
                     ("ctx switches", "csw_per_echo", "num"),
                     ("server CPU", "server_cpu_util", "pct"), ("RSS KiB", "rss_kb", "num"),
                     ("threads", "threads", "num"))),
        )),
    Sweep(
        "demand", "service demand: the server's CPU per echo at a fixed offered load (open loop) "
        "spread over N connections, all active (x = conns)",
        "Service demand: server CPU per echo at {rate} echoes/s over N active connections",
        profiles=dict(quick=dict(rate=DEMAND_RATE, conns=[]),
                      # default: at 1,000 (the claims' point); the 10,000 of the
                      # active sweep and the idle sweep's carry the cost of a run
                      # past the default's 30 minutes
                      default=dict(rate=DEMAND_RATE, conns=[1000]),
                      full=dict(rate=DEMAND_RATE, conns=[10, 100, 1000, 5000, 10000, 19000])),
        points=_pts_demand, stop_on_failure=True,
        report=(
            Chart("demand", "lines", "Server CPU per echo at a fixed {rate} echoes/s, against "
                  "the connections sharing it (all active)", **_ACTIVE_X,
                  panels=(Panel("cpu_us_per_echo", "server CPU microseconds per echo",
                                logy=True, yfmt="%g"),
                          Panel("p99_us", "p99 latency (us)", logy=True))),
            Table("cpu_us_per_echo", "Server CPU us per echo", xname="conns"),
            Table("achieved_ratio", "achieved / offered echoes/s", xname="conns"),
            Table("p99_us", "p99 latency (us)", xname="conns"),
        )),
    Sweep(
        "idle", "the C10K curve as cost: a fixed offered load over 100 active connections "
        "beside N idle ones, the server's CPU per echo against N (x = idle)",
        "Idle connections: server CPU per echo at {rate} echoes/s over {active} active + N idle",
        # quick and default: IDLE_MODELS, so that they fit their 5 and 30 minutes
        profiles=dict(quick=dict(active=IDLE_ACTIVE, rate=IDLE_RATE, totals=[100, 5000],
                                 models=IDLE_MODELS),
                      default=dict(active=IDLE_ACTIVE, rate=IDLE_RATE, totals=[100, 10000],
                                   models=IDLE_MODELS),
                      full=dict(active=IDLE_ACTIVE, rate=IDLE_RATE,
                                totals=[100, 1000, 2000, 5000, 10000, 15000, 19000])),
        points=_pts_idle, stop_on_failure=True, extra_rows=_idle_zero,
        report=(
            Chart("idle", "lines", "The C10K curve as cost: server CPU per echo at {rate} "
                  "echoes/s over {active} active connections, against the idle ones beside them",
                  x="idle", xlabel="idle connections",
                  panels=(Panel("cpu_us_per_echo", "server CPU microseconds per echo",
                                logy=True, yfmt="%g"),
                          Panel("p99_us", "p99 latency (us)", logy=True))),
            Chart("rss", "lines",
                  "Server memory per connection: (VmRSS loaded - VmRSS at READY) / connections",
                  x="conns", logx=10,
                  xlabel="connections (the title's active ones, the rest idle)",
                  panels=(Panel("rss_per_conn_b", "bytes of RSS per connection (user space only)",
                                yfmt="%g"),)),
            Chart("syscalls_idle", "stack",
                  "System calls per echo by call at {at} connections, 100 of them active "
                  "(the kernel's count)",
                  main="syscalls_per_echo", at="conns",
                  at_pick=at_near("syscalls_per_echo", "max"), params=SC_STACK),
            Chart("profile_idle", "stack",
                  "Where the server's CPU goes at {at} connections, 100 of them active "
                  "(perf cpu-clock samples)",
                  main="prof_wait", at="conns", at_pick=at_near("prof_wait", "max"),
                  params=PROF_STACK),
            Table("cpu_us_per_echo", "Server CPU us per echo", xname="idle"),
            Table("achieved_ratio", "achieved / offered echoes/s", xname="idle"),
            Table("p99_us", "p99 latency (us)", xname="idle"),
            Table("rss_per_conn_b", "RSS bytes per connection", xname="idle"),
        )),
    Sweep(
        "rate", "open loop to saturation: a closed-loop probe measures each model's capacity "
        "at the point's connections, then 10-110% of it is offered (x = rate = the share in "
        "percent), with and without 10,000 idle connections; a model's higher shares are "
        "skipped once it reached under 90% of one",
        "Latency against offered load, to saturation (open loop)",
        # max_s: a point's cap (its duration is 100,000 echoes / rate, at least 1 s)
        profiles=dict(quick=dict(active=1000, idle=[0], shares=[], max_s=0.5),
                      # default: a scan (poll), readiness (epoll_et), completions
                      # (io_uring) and a thread per connection, from 10% to 90% of each
                      # one's capacity; each run lasts max_s (under capacity.MIN_S, which
                      # it caps) and a point's p99 is the median of its runs' p99s.
                      default=dict(active=1000, idle=[0], shares=[10, 50, 90], max_s=0.5,
                                   models=["poll", "epoll_et", "io_uring", "threads"]),
                      full=dict(active=1000, idle=[0, 10000],
                                shares=[10, 25, 50, 75, 90, 100, 110], max_s=20.0)),
        points=_pts_rate, stop_on_failure=True, series_title=_idle_series, series_key=_idle_key,
        duration_key="max_s", kind="capacity",
        report=(
            Chart("rate", "lines", "p99 latency against offered load, % of each model's "
                  "capacity (circled: the generator's)",
                  xlabel="offered load (% of capacity)",
                  panels=(Panel("p99_us", "p99 latency (us)", series=1, logy=True),
                          Panel("p99_us", "p99 latency (us)", series=2, logy=True)),
                  params=GEN_MARKS),
            Chart("rate_tail", "lines", "p50 and p99.9 against offered load, no idle "
                  "connections (circled: the generator's)",
                  xlabel="offered load (% of capacity)",
                  panels=(Panel("p50_us", "p50 latency (us)", series=1, logy=True),
                          Panel("p999_us", "p99.9 latency (us)", series=1, logy=True)),
                  params=GEN_MARKS),
            Chart("rate_abs", "lines", "p99 latency against achieved load (echoes/s)",
                  x="msgs_per_s", xlabel="achieved echoes/s",
                  panels=(Panel("p99_us", "p99 latency (us)", series=1, logy=True),
                          Panel("p99_us", "p99 latency (us)", series=2, logy=True))),
            Custom("rate_knees"),
            Custom("rate_generator"),
            Table("p99_us", "p99 latency (us), {series}", xname="% of capacity",
                  per_series=True),
            Table("late_p99_us", "the generator's lateness p99 (us), {series}",
                  xname="% of capacity", per_series=True),
            Table("server_p99_us", "p99 latency less the generator's lateness (us), {series}",
                  xname="% of capacity", per_series=True),
            Table("client_cpu_us_per_echo", "the generator's CPU per echo (us), {series}",
                  xname="% of capacity", per_series=True),
            Table("p999_us", "p99.9 latency (us), {series}", xname="% of capacity",
                  per_series=True),
            Table("msgs_per_s", "achieved echoes/s, {series}", xname="% of capacity",
                  per_series=True),
            Table("achieved_ratio", "achieved / offered, {series}", xname="% of capacity",
                  per_series=True),
        )),
    Sweep(
        "churn", "connect, one echo, close (x = concurrent connectors)",
        "Connection churn",
        profiles=dict(quick=dict(conns=[]), default=dict(conns=[100]),
                      full=dict(conns=[1, 10, 100, 1000])),
        points=_pts_churn,
        report=(
            Chart("churn", "lines", "Connection churn: connect, one echo, close",
                  x="conns", logx=10, xlabel="concurrent connectors",
                  panels=(Panel("conns_per_s", "connections per second"),)),
            Table("conns_per_s", "Connections per second", xname="connectors"),
        )),
    Sweep(
        "size", "message size (full profile only; x = size)", "Message size ({active} active)",
        profiles=dict(quick=dict(active=100, sizes=[]), default=dict(active=100, sizes=[]),
                      full=dict(active=100, sizes=[16, 64, 256, 1024, 4096, 16384, 65536])),
        points=_pts_size,
        report=(
            Chart("size", "lines", "Echoes per second against message size ({active} active)",
                  x="size", logx=2, xlabel="message size (bytes)",
                  panels=(Panel("msgs_per_s", "echoes per second", logy=True),)),
            Table("bytes_per_s", "Bytes per second", xname="size"),
        )),
    Sweep(
        "heavy", "a fixed open-loop load of light requests, 1% of them heavy (the servers' "
        "--work-us 5000 --work-every 100), beside a light-only baseline: the event loop's "
        "weak point",
        "Heavy requests (1% of messages cost {work_ms} ms of server CPU; the server may use "
        "every CPU)",
        profiles=dict(quick=dict(rates=[1000], work=[], conns=100, duration=1.0),
                      default=dict(rates=[1000], work=[0, 5000], conns=100, duration=1.0),
                      full=dict(rates=[500, 1000, 2000], work=[0, 5000], conns=100,
                                duration=10.0)),
        points=_pts_heavy, duration_key="duration", server_cpus="all",
        split_every=HEAVY_WORK_EVERY,
        series_title=lambda s: "1% heavy load" if s == "heavy" else "light-only load",
        series_key=lambda s: s == "heavy",
        report=(
            Chart("heavy", "dots",
                  "Light requests' p50 and p99 at {at} echoes/s, alone and beside 1% heavy "
                  "ones ({work_ms} ms of CPU each)",
                  main="light_p50_us", at="rate",
                  at_pick=middle_rate,
                  params=(("c1", "light_p50_us"), ("c2", "light_p99_us"),
                          ("c1_label", "light p50"), ("c2_label", "light p99"),
                          ("s1_label", "no heavy load"), ("s2_label", "1% heavy"),
                          ("ylabel", "light request latency (us)"))),
            # loadgen --work-every splits by the server's key: the light
            # requests' latency is what a single loop hurts.
            Table("light_p50_us", "light requests' p50 (us), {series}", xname="rate",
                  per_series=True),
            Table("light_p99_us", "light requests' p99 (us), {series}", xname="rate",
                  per_series=True),
            # (without --work-us nothing is heavy: no heavy p50 in the light-only series)
            Table("heavy_p50_us", "heavy requests' p50 (us), {series}", xname="rate",
                  per_series=True, only_series=("heavy",)),
        )),
    Sweep(
        "dispatch", "the wait mechanism alone, no TCP (bin/dispatch, issue 12): ns per event "
        "against N descriptors; Provos's chain at 1, 100, 1,000 tokens in flight and Kerrisk's "
        "one random descriptor ready (x = N)",
        "The mechanism alone: dispatch cost per event (bin/dispatch, no TCP)",
        # N = 0: as many as one process holds (Machine.fds; a mechanism that
        # watches fewer runs at its own max). Events per timed run:
        # *_writes, capped for the O(N) mechanisms so that events x N / active
        # stays under scan_budget (writes_for). One timed run per
        # process (the profile's repeats give the spread), after bin/dispatch's
        # own warm-up of a tenth (where it counts the system calls). `threads`
        # runs the chain at threads_active only: creating ~20,000 threads takes
        # ~6 s a point here (dispatch_point.estimate_s), and its curve is the
        # wake-up cost against the thread count.
        profiles=dict(
            quick=dict(models=["select", "poll", "epoll_lt", "io_uring"], random_fds=[10, 1000],
                       random_writes=10000, chain_fds=[1000], chain_active=[100],
                       threads_active=[100], chain_writes=10000, scan_budget=5000000),
            default=dict(models=[], random_fds=[100, 10000], random_writes=50000,
                         chain_fds=[1000], chain_active=[100],
                         threads_active=[1], chain_writes=10000, scan_budget=3000000),
            full=dict(models=[], random_fds=[10, 100, 1000, 10000, 0], random_writes=100000,
                      chain_fds=[10, 100, 1000, 5000, 10000, 0], chain_active=[1, 10, 100, 1000],
                      threads_active=[1, 10, 100, 1000], chain_writes=100000,
                      scan_budget=100000000)),
        points=_pts_dispatch, kind="dispatch",
        series_title=_dispatch_title,
        series_key=lambda s: (s == "random", int(s[5:]) if s.startswith("chain") else 0),
        report=(
            Chart("dispatch", "panels",
                  "Dispatch cost per event against the descriptors watched (bin/dispatch, "
                  "no TCP; log-log)",
                  main="ns_per_event", x="fds", xlabel="descriptors watched (N)", logx=10,
                  panels=(Panel("ns_per_event", "ns per event (wall clock)", logy=True,
                                yfmt="%g"),),
                  vars="dispatch"),
            Custom("kerrisk"),
            Table("ns_per_event", "ns per event, {series}", xname="N", per_series=True),
            Table("cpu_ns_per_event", "CPU ns per event, {series}", xname="N",
                  per_series=True),
            Table("syscalls_per_event", "system calls per event (kernel-counted), {series}",
                  xname="N", per_series=True),
            Table("setup_ns_per_fd", "set-up ns per descriptor, {series}", xname="N",
                  per_series=True),
        )),
)
_CORES = Sweep(
    "cores", "the models that can use several CPUs at S = 1, 2, 4, ... server CPUs (up to half "
    "the usable ones; the generator on the rest), 1,000 and 10,000 active; needs 4 CPUs",
    "Server CPUs (the cores sweep: S CPUs for the server, the rest for the generator)",
    profiles=dict(quick=dict(conns=[1000]), default=dict(conns=[1000, 10000]),
                  full=dict(conns=[1000, 10000])),
    points=_pts_cores, series_title=_cores_series, series_key=_cores_key,
    report=(
        Chart("cores", "scaling",
              "Echoes per second against server CPUs; dashed: ideal linear scaling from the "
              "smallest S", main="msgs_per_s", xlabel="server CPUs (S)", vars="scaling",
              params=(("y", "msgs_per_s"), ("ylabel", "echoes per second"),
                      ("ideal", "linear"))),
        Chart("cores_cpu", "scaling",
              "Server CPU per echo against server CPUs; dashed: the smallest S's (ideal: flat)",
              main="cpu_us_per_echo", xlabel="server CPUs (S)", vars="scaling",
              params=(("y", "cpu_us_per_echo"), ("ylabel", "server CPU microseconds per echo"),
                      ("ideal", "flat"))),
        Table("msgs_per_s", "Echoes per second, {series}", xname="S", per_series=True),
        Table("cpu_us_per_echo", "Server CPU us per echo, {series}", xname="S",
              per_series=True),
        Table("client_cpu_util", "Generator CPU use (1.0 = one CPU), {series}", xname="S",
              per_series=True),
    ))
SWEEPS = SWEEPS[:1] + (_CORES,) + SWEEPS[1:]
_BY_NAME = {s.name: s for s in SWEEPS}
# The heavy sweep's server may use every CPU (server_cpus="all"): a pool or a
# thread per connection can only keep light requests fast if its other threads
# run beside the one doing the heavy work. Its work is 5 ms, not 1 ms: measured
# here (kernel 6.18, 2 CPUs, 1,000 msg/s), a 1 ms spin is never preempted
# (EEVDF lets a task run out its base slice, 0.75 ms x (1 + log2 CPUs)), so
# every model's light p99 was ~0.6-0.9 ms; with 5 ms the light p99 was
# epoll_et 4.2 ms, pool 1.9 ms, threads 0.7 ms: the shape the sweep is for.
# It runs longer (its own duration): at 1,000 msg/s a 1 s run has ~12 heavy
# requests, too few for a stable p99.


def get(name):
    return _BY_NAME[name]


def names():
    """Display order (the report's), which is also the first round's order."""
    return [s.name for s in SWEEPS]


def series_of(sweep, rows):
    """The sweep's series present in rows, in its order."""
    return sorted({r["series"] for r in rows if r["sweep"] == sweep.name}, key=sweep.series_key)


def charts():
    """(sweep, chart) for every chart, in report order."""
    return [(s, c) for s in SWEEPS for c in s.charts()]
