"""dispatch_point.py - the dispatch sweep's point kind (issue 12): one run of
bin/dispatch (the wait mechanism alone, no TCP) instead of a server and the
load generator, and what the report shows of it: the chart's variables
(plots/panels.gp, one panel per series) and the table in Kerrisk's form.

A dispatch point is a records.Point with mode "dispatch": model = the
mechanism (named as the echo servers, plus io_uring_multishot), conns = N
descriptors (slots), active = A tokens in flight, method = chain (Provos)
or random (Kerrisk), writes = W events per timed run. bench.py runs it with
run() in place of runner.run_point (sweeps.Sweep.run); the record keeps the
whole `dispatch --json` object, the command, and the figures of
records.FIGURES it gives (ns_per_event, cpu_ns_per_event, ...; fds = the
slots it really watched).

A mechanism cannot watch every N: the signal models need two descriptors a
slot (a pipe), threads are capped by the task limits. When N is above the
model's limit here (bin/dispatch says so, exit 2, before it creates
anything), the point runs at `--fds max` and says so in its notes; the
chart draws it at the N it ran (the fds column), the Kerrisk table marks it.
"""

import os
import re
import subprocess
import time

import launch
from launch import exit_text

MECHS_H = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                       "dispatch", "mechs.h")


def mechanisms(header=MECHS_H):
    """{mechanism: the echo server whose MODELS entry runs it}, in the order of
    dispatch/mechs.h, the X-macro table bin/dispatch is built from (read as
    text: the harness needs no build; `dispatch --list` prints the same)."""
    with open(header) as f:
        found = re.findall(r"^\s*X\((\w+),\s*(\w+),", f.read(), re.M)
    if not found:
        raise RuntimeError(f"{header}: no X(name, server, what) line")
    return dict(found)


MAX_S = 300               # dispatch --max-s: one timed run longer than this fails
DEADLINE_S = 2 * MAX_S    # the whole process (setup of ~20,000 threads included)
ABOVE_LIMIT = "above this process's limit"      # bin/dispatch's exit-2 line for N > max

# Kerrisk, "The Linux epoll API" (LCA 2006; TLPI 63.4.5): seconds for 100,000
# monitoring operations, one random descriptor ready each time, by N.
KERRISK_N = (10, 100, 1000, 10000)
KERRISK = {"poll": ("0.61", "2.9", "35", "990"), "select": ("0.73", "3.0", "35", "930"),
           "epoll": ("0.41", "0.42", "0.53", "0.66")}         # as printed
KERRISK_AS = {"poll": "poll", "select": "select", "epoll_lt": "epoll"}   # ours -> his row
RATIO_BASE = "epoll_lt"   # his epoll: level-triggered, one descriptor ready per wait

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


# Wall seconds a point takes, for the run's estimate: measured here with
# taskset -c 0 on a loaded machine (CPU time): ~5 us an event for the O(1)
# mechanisms, ~0.1-0.2 us per descriptor scanned (poll 2,200 events at N =
# 10,000: 4.0 s), 10x that for sigio/busypoll (a read per slot), set-up
# ~15 us per descriptor (epoll_ctl) and ~0.3 ms per thread (20,000 threads:
# 6.4 s).
def estimate_s(pt):
    n, a, w = pt["conns"], pt["active"], pt["writes"]
    per_event = 5e-6 + SCAN_WEIGHT.get(pt["model"], 0) * n * 0.15e-6 / a
    setup = n * (3e-4 if pt["model"] == "threads" else 15e-6)
    return 0.05 + setup + 1.1 * w * per_event


def command(pt, bindir, fds=None):
    return [os.path.join(bindir, "dispatch"), "--model", pt["model"],
            "--fds", str(fds or pt["conns"]), "--active", str(pt["active"]),
            "--writes", str(pt["writes"]), "--method", pt["method"], "--repeats", "1",
            "--max-s", str(MAX_S), "--json"]


def _pins(pt, cpus, topo):
    """The server CPU(s) of the plan: dispatch is measured where a server runs."""
    if topo is None or getattr(topo, "name", "") != "local":
        import topology
        topo = topology.Local()
    plan = topo.plan(None)        # the run's plan: the server's first SERVER_CPUS CPUs
    return None if plan.shared or cpus < 2 else set(plan.server)


def _once(args, pins):
    """(exit code, stdout, stderr) of one bin/dispatch, or (None, "", why)."""
    c = launch.Child(args, cpus=pins, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        return c.communicate(DEADLINE_S)
    except subprocess.TimeoutExpired:
        return None, "", f"no result within {DEADLINE_S} s (killed)"
    finally:
        c.kill()


def _last(err):
    lines = [ln for ln in err.splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def derive(d):
    """records.FIGURES from a dispatch --json object."""
    return {k: d.get(k) for k in ("ns_per_event", "cpu_ns_per_event", "events_per_s",
                                  "syscalls_per_event", "setup_ns_per_fd")} | {"fds": d.get("fds")}


def run(pt, bindir, cpus, ready_timeout=None, stop_timeout=None, window=None, topo=None, **_):
    """Measure one dispatch point: a dict for records.Record (never raises
    for a failed run; leaves no process)."""
    t0 = time.monotonic()
    rec = dict(status="ok", reason="", derived={}, notes=[], load_failure=False)
    exe = os.path.join(bindir, "dispatch")
    if not os.access(exe, os.X_OK):
        rec.update(status="failed", reason=f"{exe} is not built (make dispatch)", load_failure=True)
        return rec
    if topo is not None and getattr(topo, "name", "") != "local":
        rec["notes"].append("ran on this machine: bin/dispatch does not run on SERVER_HOST")
    pins = _pins(pt, cpus, topo)
    args = command(pt, bindir)
    code, out, err = _once(args, pins)
    if code == 2 and ABOVE_LIMIT in err:
        why = _last(err).split(": --fds ", 1)[-1]
        args = command(pt, bindir, "max")
        code, out, err = _once(args, pins)
        rec["notes"].append(f"ran at --fds max: {why}")
    rec["dispatch_cmd"] = args
    d, _why = launch.parse_json(out)
    if code == 0 and d is not None:
        rec["dispatch"] = d
        rec["derived"] = derive(d)
        if d.get("syscalls_per_event") is None:
            rec["notes"].append(f"system calls not counted: {d.get('syscalls_why')}")
    else:
        last = _last(err).removeprefix("dispatch: ")
        what = {1: "a check failed", 2: "refused its arguments"}.get(code, exit_text(code)) \
            if code is not None else err
        rec.update(status="failed", load_failure=True,
                   reason=f"dispatch {what}" + (f": {last}" if last and code is not None else "")
                   + ("" if code != 0 else ": no JSON"))
        rec["dispatch_stderr"] = err.splitlines()[-12:]
    rec["wall_s"] = round(time.monotonic() - t0, 3)
    return rec


# ---- the report ------------------------------------------------------------------

def _ok(r):
    return r["status"] in ("ok", "partial")


def _s100k(r):
    """Seconds for 100,000 events (wall clock), from the CSV's ns_per_event."""
    v = r.get("ns_per_event") if r is not None and _ok(r) else None
    return None if v is None else v * 1e5 / 1e9


def fmt_s(v):
    """3 significant digits, thousands with commas: 0.512, 7.24, 77.6, 991, 1,230."""
    if v is None:
        return "-"
    return f"{v:,.0f}" if abs(v) >= 999.5 else f"{v:.3g}"


def _cell(r, v):
    if r is None:
        return ""
    if r["status"] == "failed":
        return "FAIL"
    if r["status"] == "skipped":
        return "skip"
    s = fmt_s(v)
    if r.get("fds") is not None and int(r["fds"]) != r["x"]:
        s += " †"
    return s + ("*" if r["status"] == "partial" else "")


def kerrisk_lines(sel, series="random"):
    """REPORT.md lines: the random series as Kerrisk's table (seconds for
    100,000 operations at each N, his figures beside), and the ratios
    poll/epoll and select/epoll at each N, ours and his."""
    import models
    rows = [r for r in sel if r["series"] == series]
    if not rows:
        return []
    ns = sorted({r["x"] for r in rows})
    idx = {(r["model"], r["x"]): r for r in rows}
    top = ns[-1]
    his = {n: KERRISK_N.index(n) for n in ns if n in KERRISK_N}
    out = ["Kerrisk's table, measured here: seconds for 100,000 operations (wall clock of the "
           "dispatch loop: ns per event x 100,000), one random descriptor of N made ready per "
           "operation (`--method random --active 1`), pinned to the server's CPU; his figures "
           "(LCA 2006, TLPI 63.4.5) beside. Fewer events for the O(N) mechanisms at large N, "
           "scaled to 100,000 (the record's `writes`).\n",
           "| model | " + " | ".join(f"N = {n:,}" for n in ns) + f" | CPU s at {top:,} | "
           f"system calls per event at {ns[0]:,} / {top:,} | Kerrisk 2006 (s) at "
           + " / ".join(f"{n:,}" for n in his) + " |",
           "|---|" + "---:|" * (len(ns) + 2) + "---|"]
    marked = []
    for m in models.order({r["model"] for r in rows}):
        cells = [_cell(idx.get((m, n)), _s100k(idx.get((m, n)))) for n in ns]
        rt = idx.get((m, top))
        cpu = rt.get("cpu_ns_per_event") * 1e-4 if rt and _ok(rt) and \
            rt.get("cpu_ns_per_event") is not None else None
        sc = [idx.get((m, n)) for n in (ns[0], top)]
        scs = " / ".join(f"{r['syscalls_per_event']:,.1f}" if r and _ok(r) and
                         r.get("syscalls_per_event") is not None else "-" for r in sc)
        k = KERRISK.get(KERRISK_AS.get(m, ""))
        out.append(f"| {m} | " + " | ".join(cells) + f" | {fmt_s(cpu)} | {scs} | "
                   + (" / ".join(k[i] for i in his.values()) if k else "") + " |")
        marked += [(m, r) for r in (idx.get((m, n)) for n in ns)
                   if r and _ok(r) and r.get("fds") is not None and int(r["fds"]) != r["x"]]
    out.append("")
    for m, r in marked:
        out.append(f"† {m} at N = {r['x']:,}: ran at {int(r['fds']):,} descriptors, the most it "
                   "can watch here (`max_fds_why` in points.jsonl).\n")
    if RATIO_BASE in {r["model"] for r in rows}:
        out += [f"The ratios at each N (ours: against `{RATIO_BASE}`; his: against his epoll):\n",
                "| ratio | " + " | ".join(f"N = {n:,}" for n in ns) + " |",
                "|---|" + "---:|" * len(ns)]
        for m in ("poll", "select"):
            if not any(r["model"] == m for r in rows):
                continue
            here = []
            for n in ns:
                a, b = _s100k(idx.get((m, n))), _s100k(idx.get((RATIO_BASE, n)))
                here.append(fmt_s(a / b) if a is not None and b else "-")
            out.append(f"| {m} / {RATIO_BASE}, here | " + " | ".join(here) + " |")
            out.append(f"| {m} / epoll, Kerrisk 2006 | " + " | ".join(
                fmt_s(float(KERRISK[m][his[n]]) / float(KERRISK["epoll"][his[n]])) if n in his
                else ""
                for n in ns) + " |")
        out.append("")
    return out


def chart_vars(sw, ch, rows):
    """plots/panels.gp's variables: one panel per series of the sweep (in its
    order, at most 4), or None when no point has the chart's figure."""
    import models
    import sweeps
    sel = [r for r in rows if r["sweep"] == sw.name]
    if not any(_ok(r) and r.get(ch.main_col()) is not None for r in sel):
        return None
    series = sweeps.series_of(sw, sel)[:4]
    p = ch.panels[0]
    # Error bars: the repeats' range. (A 95% interval of 2 repeats is +-12.7
    # standard errors: below zero, off a log axis.)
    have = set(rows[0]) if rows else set()
    lo, hi = (p.y + "_min", p.y + "_max") if p.y + "_min" in have else (p.y, p.y)
    v = dict(sweep=sw.name, xcol=ch.x, xfail="x", xlabel=ch.xlabel, logx=ch.logx,
             y=p.y, ylo=lo, yhi=hi, ylabel=p.ylabel, logy=int(p.logy), yfmt=p.yfmt,
             np=len(series), title=ch.title)
    for k, s in enumerate(series, 1):
        v[f"series{k}"] = s
        v[f"ptitle{k}"] = sw.series_title(s)
        v[f"y{k}"] = p.y          # (report.plot's chart checks read figure k's column)
    v["models"] = " ".join(models.order({r["model"] for r in sel}))
    v["fails"] = int(any(r["status"] == "failed" for r in sel))
    v.update(ch.params)
    return v
