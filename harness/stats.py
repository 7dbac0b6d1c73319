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

The Student-t, bootstrap and Fieller functions below the line are kept only
for harness/compare.py until it moves to estimate.ratio_ci.
"""

import itertools
import math
import random
import statistics
import time
from collections import namedtuple

import estimate

CONF = 0.95
BOOT_REPS = 2000        # bootstrap resamples (drawn only when n^n exceeds this)
BOOT_SEED = 20261127    # fixed: an interval is a property of the data, not of the draw
TARGET = 0.05           # a figure converged: its 95% interval within +-5% of its median

# Two-sided 95% Student-t critical values t(0.975, df), the standard table's;
# tests/py/test_stats.py checks each one by integrating the t density. Between
# rows the next smaller df is used: its value is larger, so the interval errs wide.
T975 = {1: 12.7062, 2: 4.3027, 3: 3.1824, 4: 2.7764, 5: 2.5706, 6: 2.4469, 7: 2.3646,
        8: 2.3060, 9: 2.2622, 10: 2.2281, 11: 2.2010, 12: 2.1788, 13: 2.1604, 14: 2.1448,
        15: 2.1314, 16: 2.1199, 17: 2.1098, 18: 2.1009, 19: 2.0930, 20: 2.0860, 21: 2.0796,
        22: 2.0739, 23: 2.0687, 24: 2.0639, 25: 2.0595, 26: 2.0555, 27: 2.0518, 28: 2.0484,
        29: 2.0452, 30: 2.0423, 40: 2.0211, 60: 2.0003, 120: 1.9799}
Z975 = 1.9600           # df -> infinity

Interval = namedtuple("Interval", "mean lo hi n half method")
Interval.__doc__ = """A mean and its 95% interval; lo/hi/half are None when n < 2."""

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


def t_crit(df):
    """t(0.975, df) from the table; the next smaller tabulated df between rows."""
    if df < 1:
        raise ValueError(f"t_crit: df {df} < 1")
    if df in T975:
        return T975[df]
    if df > max(T975):
        return Z975 if df > 1000 else T975[120]
    return T975[max(d for d in T975 if d < df)]


def mean_ci(values):
    """Student-t 95% interval of the mean: mean +- t(0.975, n-1) * s / sqrt(n)."""
    v = numbers(values)
    if not v:
        return None
    m = statistics.fmean(v)
    if len(v) < 2:
        return Interval(m, None, None, 1, None, "n=1")
    half = t_crit(len(v) - 1) * statistics.stdev(v) / math.sqrt(len(v))
    return Interval(m, m - half, m + half, len(v), half, "t")


def _quantile(sorted_v, q):
    """Linear interpolation between order statistics (numpy's default)."""
    pos = q * (len(sorted_v) - 1)
    i = int(math.floor(pos))
    j = min(i + 1, len(sorted_v) - 1)
    return sorted_v[i] + (sorted_v[j] - sorted_v[i]) * (pos - i)


def _resample_means(v, rng, reps):
    """Bootstrap means of v: every ordered resample when there are at most reps
    of them (n^n: 4 for n=2, 27 for 3, 256 for 4; exact, no draw), else reps draws."""
    n = len(v)
    if n ** n <= reps:
        return [sum(c) / n for c in itertools.product(v, repeat=n)]
    return [sum(rng.choices(v, k=n)) / n for _ in range(reps)]


def bootstrap_ci(values, reps=BOOT_REPS, seed=BOOT_SEED):
    """Percentile bootstrap 95% interval of the mean: (lo, hi), or None if n < 2."""
    v = numbers(values)
    if len(v) < 2:
        return None
    est = sorted(_resample_means(v, random.Random(seed), reps))
    return _quantile(est, (1 - CONF) / 2), _quantile(est, (1 + CONF) / 2)


def ratio_bootstrap_ci(a_vals, b_vals, reps=BOOT_REPS, seed=BOOT_SEED):
    """Percentile bootstrap 95% interval of mean(b) / mean(a), each run's repeats
    resampled on their own: (lo, hi), or None (n < 2, or a resample of a could
    average to 0)."""
    a, b = numbers(a_vals), numbers(b_vals)
    if len(a) < 2 or len(b) < 2 or min(a) <= 0 <= max(a):
        return None
    rng = random.Random(seed)
    ma, mb = _resample_means(a, rng, reps), _resample_means(b, rng, reps)
    if len(ma) * len(mb) <= 100 * reps:         # both exact (or small): every pair
        est = [y / x for x in ma for y in mb]
    else:
        est = [rng.choice(mb) / rng.choice(ma) for _ in range(reps)]
    est.sort()
    return _quantile(est, (1 - CONF) / 2), _quantile(est, (1 + CONF) / 2)


def ratio_fieller_ci(a_vals, b_vals):
    """Fieller's 95% interval of mean(b) / mean(a) for independent normal means:
    the R with (mb - R ma)^2 <= t^2 (vb + R^2 va), va = sa^2/na, vb = sb^2/nb,
    t = t(0.975, df) with the Welch-Satterthwaite df of vb + R^2 va at the
    point ratio R (rounded down: errs wide). (lo, hi); None when n < 2;
    (-inf, inf) when A's own interval reaches 0 (the ratio is unbounded)."""
    a, b = numbers(a_vals), numbers(b_vals)
    if len(a) < 2 or len(b) < 2:
        return None
    ma, mb = statistics.fmean(a), statistics.fmean(b)
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    r = mb / ma if ma else 0.0
    ua, ub = r * r * va, vb
    if ua + ub == 0:
        return r, r
    df = (ua + ub) ** 2 / (ua * ua / (len(a) - 1) + ub * ub / (len(b) - 1))
    t2 = t_crit(max(1, int(df))) ** 2
    den = ma * ma - t2 * va
    if den <= 0:
        return -math.inf, math.inf
    root = math.sqrt(t2 * (vb * den + va * mb * mb))
    return (ma * mb - root) / den, (ma * mb + root) / den


def ratio_ci(a_vals, b_vals):
    """mean(b) / mean(a) and its 95% interval, Fieller's: (ratio, lo, hi);
    lo/hi None when there is none (a run with one repeat, or A's interval
    reaching 0); None when the ratio does not exist."""
    a, b = numbers(a_vals), numbers(b_vals)
    if not a or not b or statistics.fmean(a) == 0:
        return None
    ratio = statistics.fmean(b) / statistics.fmean(a)
    ci = ratio_fieller_ci(a, b)
    if ci is None or not all(math.isfinite(x) for x in ci):
        return ratio, None, None
    return ratio, ci[0], ci[1]


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


def verdict(a_vals, b_vals, smaller_better):
    """B against A: "better" or "worse" only when the two 95% t-intervals do not
    overlap; "within noise" when they do; "no interval" when a run has < 2 repeats,
    or repeats that are all equal: a quantised figure (RSS in whole pages, the
    offered rate of an open-loop point) has no spread to estimate the noise
    from, and two such runs 0.001 apart would otherwise "separate"."""
    a, b = mean_ci(a_vals), mean_ci(b_vals)
    if a is None or b is None or a.half is None or b.half is None:
        return "no interval"
    if a.half == 0 or b.half == 0:
        return "within noise" if a.mean == b.mean else "no interval"
    if b.hi < a.lo:
        return "better" if smaller_better else "worse"
    if b.lo > a.hi:
        return "worse" if smaller_better else "better"
    return "within noise"


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
                       time_cap_s=None, seed=BOOT_SEED, clock=time.monotonic, prior=None,
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
    Returns {key: result} as repeat_until_converged does."""
    res = {k: dict(samples=[], failed=0, converged=False, stop="") for k in keys}
    todo = list(keys)

    def settle(k):
        """Stop point k once it converged or used its repeats."""
        r = res[k]
        if len(r["samples"]) >= min_repeats and _figs_converged(r["samples"], figures, target):
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
