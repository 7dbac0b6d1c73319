"""estimate.py - what a point's independent runs say, assuming no shape.

A point is measured as many short independent runs (a fresh server and fresh
connections each). On the project's VM each run lands in its own place: runs
of one point spread 4-16% (coefficient of variation) whatever their length,
and often in clusters, so neither a normal shape nor a mean describes them.
Everything here assumes only that a point's runs are independent draws of one
distribution (benchstat's practice; Maricq et al., OSDI 2018):

  median_ci(v)       the median and its distribution-free 95% interval: two
                     order statistics whose ranks come from the binomial(n, 1/2)
                     distribution (scipy.stats.binom). It covers the true
                     median with probability >= its stated coverage for ANY
                     continuous distribution (multimodal included), at any n;
                     n >= MIN_RUNS, below that no 95% interval exists.
  ratio_ci(a, b)     b / a as the Hodges-Lehmann estimate on logarithms (the
                     median of every log(b_j / a_i)) and its 95% interval by
                     inverting the Mann-Whitney test (scipy.stats.mannwhitneyu):
                     exact when b's runs are a's scaled by a constant (the same
                     shape), whatever that shape is.
  compare(a, b, ..)  a verdict for "b against a": better or worse only where
                     the ratio's interval excludes 1 AND the medians differ by
                     at least MIN_EFFECT, else "same".
  half_width(ci)     an interval's half width relative to its estimate: the
                     figure's resolution.
  expected_half(n)   the half width n runs should give at a given spread, to
                     plan a run before it is taken.

tests/py/test_estimate.py draws synthetic multimodal runs and checks that the
intervals cover the truth at their stated rate.
"""

import math
import statistics
from collections import namedtuple

import scipy  # scipy.stats (loaded on first use), not harness/stats.py

CONF = 0.95
MIN_RUNS = 6            # the fewest runs with a 95% median interval (n=6: 96.9%)
# The smallest difference a claim may state. Two runs of the whole suite
# taken one after the other move a point's median by a few percent (the
# machine's state between runs); a difference under this is not claimed even
# when the runs of one session separate.
MIN_EFFECT = 0.05

Est = namedtuple("Est", "value lo hi n coverage")
Est.__doc__ = """An estimate and its interval: lo/hi/coverage None when n < MIN_RUNS."""


def numbers(values):
    """The finite numbers of values (None, bools, NaN and strings dropped)."""
    return [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)
            and math.isfinite(v)]


def order_ranks(n, conf=CONF):
    """(k, coverage): the interval [x_(k), x_(n-k+1)] (1-based order
    statistics) holds the median with probability coverage >= conf; None
    when n is too small for conf."""
    alpha = 1 - conf
    k = int(scipy.stats.binom.ppf(alpha / 2, n, 0.5))     # the smallest k with cdf(k) >= alpha/2
    if k < 1:
        return None
    cov = 1 - 2 * scipy.stats.binom.cdf(k - 1, n, 0.5)
    return k, float(cov)


def median_ci(values, conf=CONF):
    """The median of values and its distribution-free interval (Est), or None
    without values."""
    v = sorted(numbers(values))
    if not v:
        return None
    med = statistics.median(v)
    r = order_ranks(len(v), conf)
    if r is None:
        return Est(med, None, None, len(v), None)
    k, cov = r
    return Est(med, v[k - 1], v[len(v) - k], len(v), cov)


def half_width(est):
    """The interval's half width relative to the estimate (0.05 = +-5%), or None."""
    if est is None or est.lo is None or not est.value:
        return None
    return (est.hi - est.lo) / 2 / abs(est.value)


def expected_half(n, cv, conf=CONF):
    """The relative half width n runs should give at a coefficient of
    variation cv: the median's large-sample standard error, 1.2533 cv / sqrt(n)
    for a normal shape (sqrt(pi/2)), times the normal quantile. A plan, not a
    promise: clustered runs can do better or worse."""
    if n < MIN_RUNS:
        return None
    return float(scipy.stats.norm.ppf(0.5 + conf / 2)) * math.sqrt(math.pi / 2) * cv / math.sqrt(n)


def runs_for(half, cv, conf=CONF):
    """The runs expected_half needs for a relative half width `half`."""
    z = float(scipy.stats.norm.ppf(0.5 + conf / 2))
    return max(MIN_RUNS, math.ceil((z * math.sqrt(math.pi / 2) * cv / half) ** 2 - 1e-9))


_P_OF_U = {}            # (len(x), len(y), U) -> p: without ties p depends on U alone


def _mwu_p(x, y):
    """Two-sided Mann-Whitney p of x against y (scipy chooses exact or the
    normal approximation); cached by U when there are no ties."""
    u = sum(1 for xi in x for yi in y if xi > yi)
    tied = len(set(x) | set(y)) < len(x) + len(y)
    key = (len(x), len(y), u)
    if tied or key not in _P_OF_U:
        p = float(scipy.stats.mannwhitneyu(x, y, alternative="two-sided").pvalue)
        if tied:
            return p
        _P_OF_U[key] = p
    return _P_OF_U[key]


def ratio_ci(a_vals, b_vals, conf=CONF):
    """b / a: the Hodges-Lehmann estimate on logarithms (the median of every
    log(b_j / a_i)) and its interval by inverting the Mann-Whitney test: the
    shifts it does not reject (Est; coverage conf, exact under a scale
    shift). None when either side has no positive values; no interval with
    fewer than 3 runs a side."""
    a = [math.log(x) for x in numbers(a_vals) if x > 0]
    b = [math.log(x) for x in numbers(b_vals) if x > 0]
    if not a or not b:
        return None
    d = sorted(y - x for y in b for x in a)      # log(b_j / a_i), every pair
    hl = math.exp(statistics.median(d))
    n_all = len(a) + len(b)
    if min(len(a), len(b)) < 3:
        return Est(hl, None, None, n_all, None)
    alpha = 1 - conf
    # A shift past every pairwise difference gives the test its most extreme
    # U. When even that is not rejected (3 runs against 3: p = 0.1), the test
    # rejects no shift at all: the interval is unbounded, so there is none.
    if _mwu_p([y - (d[-1] + 1.0) for y in b], a) >= alpha:
        return Est(hl, None, None, n_all, None)
    if d[0] == d[-1]:                            # every pair the same ratio
        return Est(hl, hl, hl, n_all, conf)

    def accepted(j):
        """Is a shift inside the gap (d[j-1], d[j]) accepted by the test?
        The test statistic is constant inside a gap."""
        if d[j - 1] == d[j]:
            return None
        mid = (d[j - 1] + d[j]) / 2
        return _mwu_p([y - mid for y in b], a) >= alpha

    gaps = [j for j in range(1, len(d)) if d[j - 1] != d[j]]
    centre = min(range(len(gaps)), key=lambda i: abs(gaps[i] - len(d) / 2))
    if not accepted(gaps[centre]):
        return Est(hl, None, None, n_all, None)
    lo, hi = 0, centre                       # first accepted gap: p rises towards the centre
    while lo < hi:
        m = (lo + hi) // 2
        lo, hi = (lo, m) if accepted(gaps[m]) else (m + 1, hi)
    first = gaps[lo]
    lo, hi = centre, len(gaps) - 1           # last accepted gap
    while lo < hi:
        m = (lo + hi + 1) // 2
        lo, hi = (m, hi) if accepted(gaps[m]) else (lo, m - 1)
    last = gaps[lo]
    return Est(hl, math.exp(d[first - 1]), math.exp(d[last]), n_all, conf)


def compare(a_vals, b_vals, smaller_better, conf=CONF, min_effect=MIN_EFFECT):
    """b against a: dict(ratio=Est of b/a (Hodges-Lehmann and its interval),
    medians= median(b) / median(a), the figures a reader sees, p= Mann-Whitney
    p, verdict= "better" | "worse" | "same" | None (too few runs),
    resolution= the ratio interval's half width). A difference is claimed
    only when the interval excludes 1 and the medians differ by at least
    min_effect."""
    r = ratio_ci(a_vals, b_vals, conf)
    a, b = numbers(a_vals), numbers(b_vals)
    med = statistics.median(b) / statistics.median(a) if a and b and statistics.median(a) else None
    if r is None or r.lo is None or med is None:
        return dict(ratio=r, medians=med, p=None, verdict=None, resolution=None)
    p = _mwu_p(b, a) if len(set(a + b)) > 1 else 1.0
    verdict = "same"
    if (r.lo > 1 or r.hi < 1) and abs(med - 1) >= min_effect:
        verdict = "worse" if (med > 1) == smaller_better else "better"
    return dict(ratio=r, medians=med, p=p, verdict=verdict,
                resolution=(r.hi - r.lo) / 2 / r.value)
