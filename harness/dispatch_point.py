"""dispatch_point.py - the dispatch sweep's point kind (issue 12): one run of
bin/dispatch (the wait mechanism alone, no TCP) instead of a server and the
load generator. What the report shows of it (the chart's variables, the
table in Kerrisk's form) is harness/dispatch_report.py's.

A dispatch point is a records.Point with mode "dispatch": model = the
mechanism (named as the echo servers, plus io_uring_multishot), conns = N
descriptors (slots), active = A tokens in flight, method = chain (Provos)
or random (Kerrisk), writes = W events per timed run (sweeps.writes_for).
The sweep names its kind ("dispatch"), and the bench runs run() in place of
runner.run_point; the record keeps the whole `dispatch --json` object, the
command, and the figures of harness/figures.py it gives (ns_per_event,
cpu_ns_per_event, ...; fds = the slots it really watched).

A mechanism cannot watch every N: the signal models need two descriptors a
slot (a pipe), threads are capped by the task limits. When N is above the
model's limit here (bin/dispatch says so, exit 2, before it creates
anything), the point runs at `--fds max` and says so in its notes; the
chart draws it at the N it ran (the fds column), the Kerrisk table marks it.
"""

import os
import subprocess
import time

import launch
import sweeps
import topology
from launch import exit_text

MAX_S = 300               # dispatch --max-s: one timed run longer than this fails
DEADLINE_S = 2 * MAX_S    # the whole process (setup of ~20,000 threads included)
ABOVE_LIMIT = "above this process's limit"      # bin/dispatch's exit-2 line for N > max


# Wall seconds a point takes, for the run's estimate: measured here with
# taskset -c 0 on a loaded machine (CPU time): ~5 us an event for the O(1)
# mechanisms, ~0.1-0.2 us per descriptor scanned (poll 2,200 events at N =
# 10,000: 4.0 s), 10x that for sigio/busypoll (a read per slot), set-up
# ~15 us per descriptor (epoll_ctl) and ~0.3 ms per thread (20,000 threads:
# 6.4 s).
def estimate_s(pt):
    n, a, w = pt["conns"], pt["active"], pt["writes"]
    per_event = 5e-6 + sweeps.SCAN_WEIGHT.get(pt["model"], 0) * n * 0.15e-6 / a
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
        topo = topology.Local()
    plan = topo.plan(None)        # the run's plan: the server's first SERVER_CPUS CPUs
    return None if plan.shared or cpus < 2 else plan.pin_server()   # real CPUs if declared


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
    """The figures (harness/figures.py) of a dispatch --json object."""
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
