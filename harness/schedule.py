"""schedule.py - which point runs next: repeats interleaved across models,
in a shuffled order, until each point's interval is tight or a cap.

A run interleaves all its sweeps: their points share the rounds.

  1. every point gets the profile's `repeats` (min) attempts, in rounds: the
     first round goes sweep by sweep (profiles.SWEEPS order) and up each
     sweep's x (series by series) with the models shuffled within each x, so
     a model that fails at one x is not run at a larger one (bench.py's skip
     rules); every later round is shuffled afresh across all the run's
     points (stats.interleaved_rounds), so drift on the machine hits every
     model and every sweep alike;
  2. points that have not converged (the 95% intervals of the medians of
     the figures harness/convergence.py names for their kind are wider than
     +-target: stats.converged) run again in shuffled rounds, up to
     `max_repeats` runs, within `extra_time` x the run's estimated time
     (estimate_s) for its min runs.

Why across sweeps: this machine's state drifts over minutes, not only from
run to run. In the two default runs of 2026-12-04, which went sweep by
sweep, epoll_et's service demand (5,000 echoes/s over 1,000 connections)
was 23-37 us per echo in the first 90 s of run B's 2.5-minute demand sweep
and 14.6-19.4 us after it; its median was 23.4 us in B against 15.3 us in
A, and 24 of 86 CPU-per-echo figures of the two runs disagreed. With the
rounds spread over the whole run, each point's runs sample the whole run's
stretch of the machine's states, not one sweep's few minutes. Churn shares
the rounds too: run alone after the rest (for its TIME_WAIT sockets, which
measured no effect on later points: docs/method.md), 8 of its 12 rounds in
one 2026-12-05 run fell inside one 50 s slow stretch.

A run of a point is a fresh server and fresh connections; what that set-up
costs is measured in every run (each record's wall_s less its warm-up and
measured seconds) and fitted per model against the connections (setup_fit);
estimate_s plans with the fit from the committed reference run's records
(results/REFERENCE), and REPORT.md shows each run's own.

Every seed is fixed (SEED): the same run plan always runs in the same order.
A resumed run (bench.py --resume) passes the repeats already on disk as
`prior`: they count towards min repeats and convergence, and a point with a
skipped record is done.
"""

import json
import os
import random
import statistics

import capacity
import convergence
import dispatch_point
import estimate
import kbench
import models
import records
import stats
import sweeps as sweep_decl

SEED = stats.SEED


# A run's set-up (server start to READY, connects, the generator's exit and
# teardown, the server's stop, the harness's readings) when no fit is at
# hand: a + b x connections, measured here (setup_fit over the echo records
# of the reference run results/2026-11-29_122507-vm: the median a of the 22
# models other than threads and prefork was 0.198 s and the median b 85 us
# per connection; threads 372 us and prefork 2,646 us per connection, a
# thread or a process each).
SETUP_DEFAULT = (0.20, 85e-6)
_setup = None                 # {model: (a, b)} from the reference run, loaded once


def setup_fit(recs):
    """{model: (a s, b s per connection)}: a least-squares line through each
    model's runs' set-up seconds (wall_s less warm-up and measured seconds)
    against their connections, from the ok echo runs of records (dicts or
    records.Record); a model with one connection count gets b = 0."""
    pts = {}
    for r in recs:
        r = r if isinstance(r, dict) else r.to_dict()
        p, w = r.get("point") or {}, r.get("wall_s")
        if r.get("status") != "ok" or not w or p.get("mode") == "dispatch":
            continue
        pts.setdefault(p["model"], []).append((p["conns"], w - p["warmup"] - p["duration"]))
    out = {}
    for m, xy in pts.items():
        n = len(xy)
        mx = sum(x for x, _ in xy) / n
        my = sum(y for _, y in xy) / n
        sxx = sum((x - mx) ** 2 for x, _ in xy)
        b = sum((x - mx) * (y - my) for x, y in xy) / sxx if sxx else 0.0
        b = max(b, 0.0)
        out[m] = (max(my - b * mx, 0.0), b)
    return out


def setup_s(model, conns):
    """A run's set-up seconds for model at conns connections: the reference
    run's fit (results/REFERENCE) if it has the model, else
    SETUP_DEFAULT."""
    global _setup
    if _setup is None:
        _setup = setup_fit(reference_records())
    a, b = _setup.get(model, SETUP_DEFAULT)
    return a + b * conns


DEFAULT_CV = 0.10      # a run's spread when the reference run has none to offer (issue 22's
#                       measurement: 4-9% on a quiet 2-CPU VM, 8-16% on a 16-CPU one)


def run_spread(recs):
    """{(sweep, figure): median coefficient of variation of a point's runs}
    over the points of records (dicts) with 3+ ok runs: how far apart one
    point's independent runs land, per sweep and convergence figure."""
    by = {}
    for r in recs:
        if r.get("status") != "ok":
            continue
        p = r["point"]
        key = (p["sweep"], p["series"], p["model"], p["conns"], p["active"], p["rate"],
               p["size"], p["work_us"], p["x"])
        by.setdefault(key, []).append(r)
    cvs = {}
    for runs in by.values():
        p = runs[0]["point"]
        for f in convergence.figures_of(p):
            v = stats.numbers((x.get("derived") or {}).get(f) for x in runs)
            if len(v) >= 3 and statistics.fmean(v):
                cvs.setdefault((p["sweep"], f), []).append(
                    statistics.stdev(v) / abs(statistics.fmean(v)))
    return {k: statistics.median(v) for k, v in cvs.items()}


def precision_lines(pts, settings, recs=None):
    """What each sweep's figures should resolve to: the expected half width of
    a median's 95% interval at the profile's runs (estimate.expected_half),
    at the spread the reference run's runs showed (run_spread; DEFAULT_CV
    where it has none), and the runs the target would need."""
    _, mn, mx, _ = limits(settings)
    target = float(settings.get("target") or stats.TARGET)
    spread = run_spread(recs or [])
    out = []
    for sweep, base in plan(pts):
        figs = sorted({f for p in base for f in convergence.figures_of(p)})
        bits = []
        for f in figs:
            cv = spread.get((sweep, f))
            h = estimate.expected_half(mn, cv if cv is not None else DEFAULT_CV)
            need = estimate.runs_for(target, cv if cv is not None else DEFAULT_CV)
            bits.append(f"{f} " + (f"±{h:.1%}" if h is not None else "no interval")
                        + f" at {mn} runs (spread {cv if cv is not None else DEFAULT_CV:.0%}"
                        + ("" if cv is not None else ", assumed") + f"; ±{target:.0%} needs "
                        f"{need}{'' if need <= mx else ', more than the ' + str(mx) + ' allowed'})")
        out.append(f"precision: {sweep}: " + "; ".join(bits))
    return out


def reference_records():
    """The committed reference run's records (dicts, results/REFERENCE names
    the run), or [] without one."""
    try:
        path = os.path.join(records.RESULTS, records.reference_name(), "points.jsonl")
        with open(path) as f:
            return [json.loads(ln) for ln in f if ln.strip()]
    except (OSError, ValueError):
        return []


def estimate_s(pt):
    """Wall seconds a point's run takes: its set-up (setup_s: start, connects,
    teardown, stop, measured), warm-up and measurement, and a rate point's
    probe (capacity.py) the same way; for repeat 1, the
    same again for the shorter kernel-counted run."""
    if pt["mode"] == "dispatch":          # bin/dispatch, no server (dispatch_point.py)
        return dispatch_point.estimate_s(pt)

    def one(warmup, duration):
        return setup_s(pt["model"], pt["conns"]) + warmup + duration
    s = one(pt["warmup"], pt["duration"])
    if sweep_decl.get(pt["sweep"]).kind == "capacity":     # its closed-loop probe, every run
        s += one(pt["warmup"], capacity.probe_s(pt))
    if pt["repeat"] == 1:                      # kbench.Bench.add_count's counted run
        s += one(max(min(pt["warmup"], kbench.COUNT_WARMUP_S),
                     models.attr(pt["model"], "warmup_s", 0.0)),
                 min(pt["duration"], kbench.COUNT_RUN_S))
    return s


def plan(pts):
    """[(sweep, [base points])] in run order: each point once (its first
    repeat), whatever repeats build_points expanded."""
    out, seen = [], set()
    for p in pts:
        if p.key() in seen:
            continue
        seen.add(p.key())
        if not out or out[-1][0] != p.sweep:
            out.append((p.sweep, []))
        out[-1][1].append(p)
    return out


def first_order(base, seed=SEED):
    """The first round's keys: series in declared order, x ascending, the
    models shuffled (seeded) within each (series, x)."""
    series = list(dict.fromkeys(p.series for p in base))
    groups = {}
    for p in base:
        groups.setdefault((series.index(p.series), p.x), []).append(p.key())
    rng = random.Random(seed)
    out = []
    for g in sorted(groups):
        keys = groups[g]
        rng.shuffle(keys)
        out += keys
    return out


def limits(settings):
    """(target, min repeats, max repeats, extra_time) of a run's settings."""
    mn = max(1, int(settings.get("repeats", 1)))
    return (float(settings.get("target", stats.TARGET)), mn,
            max(mn, int(settings.get("max_repeats", mn))), float(settings.get("extra_time", 0.0)))


def run(pts, settings, measure, between=None, prior=None, cost=None):
    """Run the points of every sweep in shared rounds. measure(point, figures) -> stats
    sample, None (failed) or stats.DROP (skipped); between(sweep) before the
    first run of every sweep but the first; prior: {key: (samples, failed,
    done)} from disk. Returns {key: result} (stats.interleaved_rounds'
    results)."""
    target, mn, mx, extra = limits(settings)
    cost = cost or estimate_s
    prior = prior or {}
    started = set()

    def measure_key(k):
        p = by_key[k]
        if p.sweep not in started:
            if started and between:
                between(p.sweep)
            started.add(p.sweep)
        return measure(p, figs[k])

    by_key, figs, order = {}, {}, []
    for _, base in plan(pts):
        by_key.update((p.key(), p) for p in base)
        f = convergence.figures_of(base[0])
        figs.update((p.key(), f) for p in base)
        order += first_order(base)
    keys = [k for k in order if not (k in prior and prior[k][2])]
    pr = {k: prior[k][:2] for k in keys if k in prior}
    res = stats.interleaved_rounds(
        keys, measure_key, figs, target, min_repeats=mn,
        max_repeats=mn, prior=pr, first_order=keys, seed=SEED)
    again = [k for k in keys if res[k]["stop"] == "max repeats" and not res[k]["failed"]]
    cap = extra * mn * sum(cost(by_key[k]) for k in keys)
    if mx > mn and again and cap > 0:
        res.update(stats.interleaved_rounds(
            again, measure_key, figs, target, min_repeats=mn,
            max_repeats=mx, time_cap_s=cap,
            prior={k: (res[k]["samples"], res[k]["failed"]) for k in again},
            seed=SEED + 1000))
    return res


def prior_from(recs):
    """{key: (samples, failed, done)} from a run's records: the repeats already
    measured; done when one of its records is skipped (its sweep gave it up)."""
    out = {}
    for r in recs:
        k = r.point.key()
        samples, failed, done = out.get(k, ([], 0, False))
        if r.status == "ok":
            samples = samples + [convergence.sample(r.derived, convergence.figures_of(r.point))]
        elif r.status == "failed":
            failed += 1
        else:
            done = True
        out[k] = (samples, failed, done)
    return out


# What a resumed run must share with the interrupted one: (label, context key).
RESUME_SAME = [("settings", "settings"), ("models", "models"), ("sweeps", "sweeps"),
               ("CONNS", "conns_filter"), ("git commit", "git_commit"),
               ("dirty tree", "git_dirty"), ("server binaries", "binaries"),
               ("loadgen", "loadgen_sha256")]


def _norm(v):
    return json.loads(json.dumps(v, sort_keys=True, default=str))


def _short(v):
    s = json.dumps(v, sort_keys=True, default=str) if not isinstance(v, str) else v
    return s if len(s) <= 40 else s[:37] + "..."


def resume_mismatch(old, new):
    """'' when the new run context may continue the old one, else one line
    naming what differs (the first differing item of each field)."""
    why = []
    for label, key in RESUME_SAME:
        a, b = _norm(old.get(key)), _norm(new.get(key))
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            ks = [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
            why.append(f"{label} ({', '.join(ks[:4])}: {_short(a.get(ks[0]))} then, "
                       f"{_short(b.get(ks[0]))} now)")
        else:
            why.append(f"{label} ({_short(a)} then, {_short(b)} now)")
    return "; ".join(why)
