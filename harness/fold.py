"""fold.py - a run's records folded into points.csv's rows: one row per point
(its repeats folded as harness/figures.py declares for each figure), the
rows sweeps lend each other, sorted by sweep, series, model (the registry's
order) and x, so each model's line is contiguous; whether each point
converged (harness/convergence.py's rule); why its kernel columns are empty.
Pure functions of the records: the report, the charts and the comparison
read the rows.
"""

import statistics

import convergence
import estimate
import models
import stats
import sweeps
from figures import ANY, MEDIAN, SPREAD

KEY_COLS = ["sweep", "series", "model", "style", "x", "conns", "active", "idle", "rate",
            "size", "work_us", "work_every", "server_procs", "client_procs"]


# Each spread figure: the median of the ok runs, its distribution-free 95%
# interval (_lo/_hi: two order statistics, stats.ci_fields / estimate.median_ci;
# empty below estimate.MIN_RUNS runs) and the range (_min/_max).
# converged: 1/0 whether the intervals of the figures a point converges on
# (convergence.figures_of) are within the run's target (empty below MIN_RUNS ok runs).
COLUMNS = (KEY_COLS + ["status", "n_ok", "n_runs", "converged"]
           + [c for s in SPREAD for c in (s, s + "_lo", s + "_hi", s + "_min", s + "_max")]
           + MEDIAN + ANY + ["syscalls_note", "reason"])


def measured(row):
    """A row with figures: its point's status is ok or partial (some repeats failed)."""
    return row["status"] in ("ok", "partial")


def style_of(model):
    """The model's style number (1-based display position)."""
    return models.index(model) + 1


def _num_or_none(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def fold(runs, target=stats.TARGET):
    """One CSV row from the runs of one point: status, medians with their
    95% intervals and range (SPREAD figures), medians (MEDIAN figures), and
    whether the point converged to +-target."""
    pt = runs[0].point
    row = {k: pt[k] for k in KEY_COLS if k != "style"}
    row["style"] = style_of(pt.model)
    ok = [r for r in runs if r.status == "ok"]
    row["n_ok"], row["n_runs"] = len(ok), len(runs)
    if ok and len(ok) == len(runs):
        row["status"] = "ok"
    elif ok:
        row["status"] = "partial"
    elif any(r.status == "failed" for r in runs):
        row["status"] = "failed"
    else:
        row["status"] = "skipped"
    row["reason"] = " | ".join(dict.fromkeys(r.reason or "" for r in runs if r.status != "ok"))
    for col in SPREAD + MEDIAN:
        vals = [v for v in (r.derived.get(col) for r in ok) if _num_or_none(v)]
        row[col] = statistics.median(vals) if vals else None
        if col in SPREAD:
            row.update(stats.ci_fields(col, vals))
            row[col + "_min"] = min(vals) if vals else None
            row[col + "_max"] = max(vals) if vals else None
    figs = convergence.figures_of(pt)
    smp = [convergence.sample(r.derived, figs) for r in ok]
    row["converged"] = (None if len(ok) < estimate.MIN_RUNS else
                        int(all(stats.converged([x[f] for x in smp], target) for f in figs)))
    for col in ANY:             # 1 when any ok run says so (client_saturated, gen_limited)
        flags = [r.derived.get(col) for r in ok if r.derived.get(col) is not None]
        row[col] = int(any(flags)) if flags else None
    row["syscalls_note"] = note_of(runs)     # why the kernel's columns are empty
    return row


def group(recs):
    """{point key: [its records]} in the order first seen."""
    groups = {}
    for r in recs:
        groups.setdefault(r.point.key(), []).append(r)
    return groups


def aggregate(recs, target=stats.TARGET):
    """Fold repeats: one row per point, plus the rows sweeps lend each other."""
    rows = [fold(runs, target) for runs in group(recs).values()]
    for sw in sweeps.SWEEPS:
        if sw.extra_rows:
            rows += sw.extra_rows(rows)
    order = sweeps.names()
    rows.sort(key=lambda r: (order.index(r["sweep"]) if r["sweep"] in order else 99,
                             r["series"], r["style"], r["model"], r["x"], r["rate"], r["work_us"]))
    return rows


def run_target(ctx):
    return float((ctx.get("settings") or {}).get("target") or stats.TARGET)


def note_of(runs):
    """points.csv's syscalls_note: why the kernel columns are empty (or the
    tool's caveat), from a point's runs."""
    notes = []
    for r in runs:
        k = r.get("kernel") or {}
        n = k.get("why_empty") or k.get("note")
        if n:
            notes.append(n)
    return " | ".join(dict.fromkeys(notes))
