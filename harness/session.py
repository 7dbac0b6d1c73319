"""session.py - one bench run's measuring: every repeat the schedule asks
for (harness/schedule.py), run by its sweep's kind of point, with the
kernel's counted and profiled runs (harness/kbench.py), each record
appended to points.jsonl as it finishes; and the rules that skip points a
run cannot pass (skip_reason, note_result).

    s = Session(run_dir, settings, lim, bindir, topo, kern, progress=prog)
    s.overhead(pts)                           # the counting's cost, once
    schedule.run(pts, settings, s.measure, between, prior)
    s.close()
"""

import os
import time

import capacity
import convergence
import dispatch_point
import profiles
import records
import runner
import schedule
import stats
import sweeps

# The kinds of point a sweep names (sweeps.Sweep.kind), runner.run_point's signature.
KINDS = {"echo": runner.run_point, "capacity": capacity.run_point, "dispatch": dispatch_point.run}


def skip_reason(pt, lim, state):
    """Why a point is not run: the machine or the model cannot reach it, its
    model failed to start twice, the sweep gave it up at a smaller x, or its
    first repeat failed. None: run it."""
    why = profiles.machine_limit(pt, lim) or profiles.model_limit(pt["model"], pt, lim)
    if why:
        return why
    bad = state["start_fail"].get(pt["model"], (0, ""))
    if bad[0] >= 2:
        return f"{pt['model']} failed to start twice ({bad[1]})"
    lim_x = state["limit"].get((pt["sweep"], pt["series"], pt["model"]))
    if lim_x and pt["x"] > lim_x[0]:
        return f"not run: {lim_x[1]} at the smaller {pt['sweep']} point x={lim_x[0]}"
    first = state["failed"].get(pt.key())
    if first and pt["repeat"] > 1:
        return f"not repeated: repeat 1 failed ({first})"
    return None


def note_result(pt, rec, state):
    """Remember what makes later points pointless: a model that does not
    start; in the active, idle and rate sweeps, the first point a model
    failed under load (or, open loop, reached < 90% of the offered rate),
    beyond which the sweep skips it; and such a failed point's repeats. This keeps
    a run from spending its time on points that cannot pass: a prefork at
    10,000 connections takes the generator's whole deadline to fail."""
    started = rec.get("proc", {}).get("ready") is not None or pt["mode"] == "dispatch"  # no server
    if not started and rec["status"] == "failed":
        n, _ = state["start_fail"].get(pt["model"], (0, ""))
        state["start_fail"][pt["model"]] = (n + 1, rec["reason"])
    elif started:
        state["start_fail"].pop(pt["model"], None)
    if pt["repeat"] != 1:
        return
    failed = rec["status"] == "failed" and rec.get("load_failure", True)
    if failed:
        state["failed"][pt.key()] = rec["reason"]
    if sweeps.get(pt["sweep"]).stop_on_failure:
        key = (pt["sweep"], pt["series"], pt["model"])
        ratio = (rec.get("derived") or {}).get("achieved_ratio")
        if failed:
            state["limit"].setdefault(key, (pt["x"], "failed"))
        elif pt["rate"] and ratio is not None and ratio < 0.9:
            state["limit"].setdefault(key, (pt["x"], f"saturated ({ratio:.0%} of the offered rate)"))


class Session:
    """The measuring of one run into run_dir/points.jsonl. recs_before: a
    resumed run's records (their attempts and skip rules count first);
    progress: an object with line(pt) and result(pt, rec, skipped) (the
    CLI's progress lines), or None."""

    def __init__(self, run_dir, settings, lim, bindir, topo, kern, ready_timeout=10.0,
                 stop_timeout=3.0, recs_before=(), progress=None):
        self.lim, self.bindir, self.topo, self.kern = lim, bindir, topo, kern
        self.timeouts = (ready_timeout, stop_timeout)
        self.progress = progress
        self.state = dict(start_fail={}, limit={}, failed={})
        self.attempts = {}
        for r in recs_before:
            if r.status != "skipped":
                note_result(r.point, r, self.state)
            self.attempts[r.point.key()] = self.attempts.get(r.point.key(), 0) + 1
        self.seq = max((r.seq for r in recs_before), default=0)
        self.counts = dict(ok=0, failed=0, skipped=0)
        _, _, self.max_rep, _ = schedule.limits(settings)
        self.f = open(os.path.join(run_dir, "points.jsonl"), "a")

    def run_point(self, pt, window=None, kind="echo"):
        """One run of pt by a kind of point, with the run's settings."""
        return KINDS[kind](pt, self.bindir, self.lim["cpus"], *self.timeouts, topo=self.topo,
                           window=window)

    def measure(self, base_pt, figs):
        """One repeat of a point: its record on disk; the sample, None or DROP
        (schedule.run's measure)."""
        n = self.attempts.get(base_pt.key(), 0) + 1
        self.attempts[base_pt.key()] = n
        pt = base_pt.again(repeat=n, repeats=max(n, self.max_rep))
        self.seq += 1
        if self.progress:
            self.progress.line(pt)
        why = skip_reason(pt, self.lim, self.state)
        base = dict(seq=self.seq, time=time.strftime("%Y-%m-%dT%H:%M:%S"), point=pt)
        if why:
            rec = records.Record(**base, status="skipped", reason=why)
        else:
            kind = sweeps.get(pt.sweep).kind
            m = self.run_point(pt, self.kern.window(pt), kind)
            self.kern.add_profile(pt, m, lambda w: self.run_point(pt, w))
            if kind == "echo" and self.topo.name == "local":
                self.kern.add_count(pt, m, self.run_point)
            rec = records.Record(**base, **m)
        records.append(self.f, rec)
        self.counts[rec["status"]] += 1
        if self.progress:
            self.progress.result(pt, rec, skipped=bool(why))
        if why:
            return stats.DROP
        note_result(pt, rec, self.state)
        return convergence.sample(rec.derived, figs) if rec.status == "ok" else None

    def overhead(self, pts):
        """The counting's cost, once per run: plain and counted runs (this
        machine's processes only: with SERVER_HOST nothing is counted)."""
        if self.topo.name == "local":
            return self.kern.overhead(pts, self.run_point)
        return None

    def close(self):
        self.f.close()
