"""stats.py - convergence, interleaved rounds and the claims' sentences,
on harness/estimate.py's distribution-free figures:

  converged(values, 0.05)    is the median's 95% interval within +-5% of it?
  ci_fields(fig, values)     points.csv's <fig>, <fig>_lo, <fig>_hi: the median
                             and its order-statistic interval
  repeat_until_converged     one point: repeat until converged or a cap (Lancet)
  interleaved_rounds         many points: rounds of one run each, in a shuffled
                             order, dropping each point as it converges
  claim / claims             the sentences REPORT.md may print (estimate.compare)

A point's runs are independent draws (a fresh server and fresh connections
each) that on this VM land 4-16% apart and often in clusters: estimate.py's
docstring says why medians with order-statistic intervals, and
tests/py/test_estimate.py shows their coverage on multimodal runs.
"""

import random
import time

import estimate

SEED = 20261127         # fixed: the rounds' shuffles are a property of the run, not of the draw
TARGET = 0.05           # a figure converged: its 95% interval within +-5% of its median

# The figures a comparison or a claim speaks about: unit, smaller is better, and
# the words for "B is better than A" / "B is worse than A".
JUDGED = {
    "msgs_per_s": ("echoes/s", False, "faster than", "slower than"),
    "bytes_per_s": ("B/s", False, "faster than", "slower than"),
    "conns_per_s": ("connections/s", False, "faster than", "slower than"),
    "p50_us": ("us p50", True, "lower in p50 latency than", "higher in p50 latency than"),
    "p99_us": ("us p99", True, "lower in p99 latency than", "higher in p99 latency than"),
    "p999_us": ("us p99.9", True, "lower in p99.9 latency than", "higher in p99.9 latency than"),
    "light_p99_us": ("us light p99", True, "lower in light requests' p99 than",
                     "higher in light requests' p99 than"),
    "cpu_us_per_echo": ("us CPU per echo", True, "cheaper in CPU per echo than",
                        "costlier in CPU per echo than"),
    "syscalls_per_echo": ("syscalls per echo", True, "leaner in system calls per echo than",
                          "heavier in system calls per echo than"),
    "rss_per_conn_b": ("B RSS per connection", True, "smaller in memory per connection than",
                       "larger in memory per connection than"),
}


numbers = estimate.numbers      # the finite numbers of a list (None, bools, NaN dropped)


def converged(values, target=TARGET):
    """True when the median's 95% interval (estimate.median_ci) is within
    +-target of the median: both ends, so a lopsided interval counts by its
    wider side (needs estimate.MIN_RUNS runs)."""
    e = estimate.median_ci(values)
    if e is None or e.lo is None:
        return False
    if e.value == 0:
        return e.lo == e.hi == 0
    return max(e.value - e.lo, e.hi - e.value) <= target * abs(e.value)


def ci_fields(fig, values):
    """The CSV fields of one figure of one point: <fig> (the median of the
    runs), <fig>_lo, <fig>_hi (its distribution-free 95% interval, empty
    below estimate.MIN_RUNS runs)."""
    e = estimate.median_ci(values)
    if e is None:
        return {fig: None, fig + "_lo": None, fig + "_hi": None}
    return {fig: e.value, fig + "_lo": e.lo, fig + "_hi": e.hi}


# ---- self-correcting measurement (Lancet: repeat until the interval is tight) -----

def _figs_converged(samples, figures, target):
    return all(converged([s.get(f) for s in samples], target) for f in figures)


def repeat_until_converged(measure, figures, target=TARGET, min_repeats=2, max_repeats=10,
                           time_cap_s=60.0, clock=time.monotonic):
    """Call measure() -> {figure: value} or None (a failed repeat) until every
    figure in figures has converged, max_repeats calls were made, or time_cap_s
    has passed (checked between calls). Returns a dict: samples (the successful
    repeats), failed (count), converged (bool), stop (why it stopped)."""
    samples, failed, t0 = [], 0, clock()
    while True:
        s = measure()
        if s is None:
            failed += 1
        else:
            samples.append(s)
        done = len(samples) >= min_repeats and _figs_converged(samples, figures, target)
        if done:
            stop = "converged"
        elif len(samples) + failed >= max_repeats:
            stop = "max repeats"
        elif clock() - t0 >= time_cap_s:
            stop = "time cap"
        else:
            continue
        return dict(samples=samples, failed=failed, converged=done, stop=stop)


DROP = "drop"           # measure(key) -> DROP: the point is done without a measurement


def interleaved_rounds(keys, measure, figures, target=TARGET, min_repeats=2, max_repeats=10,
                       time_cap_s=None, seed=SEED, clock=time.monotonic, prior=None,
                       first_order=None):
    """Repeats interleaved across points: each round measures every point that
    is not yet done once, in an order shuffled afresh (seeded: seed + round), so
    drift on the machine hits every model alike. A point is done when its
    figures converged (after min_repeats) or it had max_repeats attempts; the
    whole loop stops at time_cap_s (checked between measurements).
    measure(key) -> {figure: value}, None (a failed repeat) or DROP (done, not
    measured: stop "dropped"). prior: {key: (samples, failed)} already measured
    (a resumed run): they count first. first_order: the first round's order
    instead of a shuffle (a caller's own, e.g. shuffled within each x).
    figures: the figures every point converges on, or {key: figures} (points
    of several sweeps interleaved, each with its own).
    Returns {key: result} as repeat_until_converged does."""
    res = {k: dict(samples=[], failed=0, converged=False, stop="") for k in keys}
    todo = list(keys)
    figs_of = figures.get if isinstance(figures, dict) else (lambda k: figures)

    def settle(k):
        """Stop point k once it converged or used its repeats."""
        r = res[k]
        if len(r["samples"]) >= min_repeats and _figs_converged(r["samples"], figs_of(k), target):
            r.update(converged=True, stop="converged")
            todo.remove(k)
        elif len(r["samples"]) + r["failed"] >= max_repeats:
            r["stop"] = "max repeats"
            todo.remove(k)

    for k, (samples, failed) in (prior or {}).items():
        if k not in res:
            continue
        res[k]["samples"], res[k]["failed"] = list(samples), failed
        settle(k)
    t0, rnd = clock(), 0
    while todo:
        order = list(todo)
        if rnd == 0 and first_order is not None:
            order = [k for k in first_order if k in todo]
        else:
            random.Random(seed + rnd).shuffle(order)
        for k in order:
            if time_cap_s is not None and clock() - t0 >= time_cap_s:
                for kk in todo:
                    res[kk]["stop"] = "time cap"
                return res
            if k not in todo:
                continue
            s = measure(k)
            r = res[k]
            if s is DROP:
                r["stop"] = "dropped"
                todo.remove(k)
                continue
            if s is None:
                r["failed"] += 1
            else:
                r["samples"].append(s)
            settle(k)
        rnd += 1
    return res


# ---- claims ---------------------------------------------------------------------

def fmt_num(v):
    """1,234 / 12.3 / 1.23: the report's number style."""
    if v is None:
        return "-"
    if abs(v) >= 100 or float(v).is_integer():
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def claim(fig, where, model_a, a_vals, model_b, b_vals):
    """One sentence on model_b against model_a for figure fig at `where`
    (e.g. "1,000 active"): a comparison only where estimate.compare finds
    one (the ratio's interval excludes 1 and the medians differ by at least
    estimate.MIN_EFFECT), else "no measurable difference", with the
    resolution: the smallest difference these runs could have shown. None
    when either has no value."""
    unit, smaller, better_w, worse_w = JUDGED[fig]
    a, b = estimate.median_ci(a_vals), estimate.median_ci(b_vals)
    if a is None or b is None:
        return None
    c = estimate.compare(a_vals, b_vals, smaller)
    figs = f"{fmt_num(b.value)} vs {fmt_num(a.value)} {unit} (medians of {b.n} and {a.n} runs"
    r = c["ratio"]
    if c["verdict"] is None:
        return (f"{model_b} and {model_a} at {where}: no measurable difference in {unit}, "
                f"too few runs for an interval: {figs})")
    ratio = (f"; {model_b}/{model_a} {r.value:.2f}, 95% interval {r.lo:.2f}-{r.hi:.2f}, "
             f"resolution ±{c['resolution']:.0%})")
    if c["verdict"] in ("better", "worse"):
        w = better_w if c["verdict"] == "better" else worse_w
        return f"{model_b} is {w} {model_a} at {where}: {figs}{ratio}"
    return f"{model_b} and {model_a} at {where}: no measurable difference in {unit}: {figs}{ratio}"


def claims(fig, where, per_model, ref=None, pairs=None):
    """Sentences for pairs of models: every (a, b) of pairs, or else every model
    against ref. per_model: {model: [values of the runs]}."""
    if pairs is None:
        if ref is None:
            raise ValueError("claims: give ref or pairs")
        pairs = [(ref, m) for m in per_model if m != ref]
    out = []
    for a, b in pairs:
        if a in per_model and b in per_model:
            s = claim(fig, where, a, per_model[a], b, per_model[b])
            if s:
                out.append(s)
    return out
