"""harness/estimate.py: the intervals cover the truth at their stated rate on
synthetic multimodal runs, and the verdicts claim what the data support.

The runs are drawn as this VM's runs look: each lands near one of a few
levels (clusters), with a few percent of jitter. The truth is known: the
population median of the mixture (found numerically from its cdf), and for
two models, the ratio by which one's runs are scaled.
"""
import math

import numpy as np
import pytest
from scipy import optimize, stats as sps

import estimate

TRIALS = 600            # per case; the coverage's standard error is ~0.009 at 0.95
RNG_SEED = 20261204

# Mixtures: (weights, centres as fractions of the scale, relative sd)
SHAPES = {
    "two clusters": ((0.7, 0.3), (1.0, 0.8), 0.03),
    "three clusters": ((0.5, 0.3, 0.2), (1.0, 0.9, 0.7), 0.02),
    "one wide": ((1.0,), (1.0,), 0.12),
    "skewed tail": ((0.85, 0.15), (1.0, 0.55), 0.05),
}


def draw(rng, shape, n, scale=100_000.0):
    w, c, sd = SHAPES[shape]
    k = rng.choice(len(w), size=n, p=w)
    return list(scale * np.asarray(c)[k] * (1 + sd * rng.standard_normal(n)))


def true_median(shape, scale=100_000.0):
    w, c, sd = SHAPES[shape]

    def cdf(x):
        return sum(wi * sps.norm.cdf(x, loc=scale * ci, scale=scale * ci * sd)
                   for wi, ci in zip(w, c))
    return optimize.brentq(lambda x: cdf(x) - 0.5, 0.1 * scale, 2 * scale, xtol=1e-6)


def floor_of(p):
    """The lowest coverage a correct p-interval shows in TRIALS trials (3 standard errors)."""
    return p - 3 * math.sqrt(p * (1 - p) / TRIALS)


def test_order_ranks():
    assert estimate.order_ranks(5) is None                      # 93.75% at most
    k, cov = estimate.order_ranks(6)
    assert k == 1 and abs(cov - (1 - 2 / 64)) < 1e-12           # [x(1), x(6)]: 96.9%
    k, cov = estimate.order_ranks(20)
    assert k == 6 and cov >= 0.95 and estimate.order_ranks(20, 0.5)[1] >= 0.5


def test_median_ci_small_and_odd_inputs():
    assert estimate.median_ci([]) is None
    e = estimate.median_ci([3.0, None, "x", 1.0, 2.0])
    assert e.value == 2.0 and e.lo is None and e.n == 3
    e = estimate.median_ci([5.0, 1.0, 4.0, 2.0, 3.0, 6.0])
    assert (e.lo, e.hi) == (1.0, 6.0) and e.value == 3.5
    assert estimate.half_width(e) == pytest.approx(2.5 / 3.5)


@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.parametrize("n", [6, 10, 20])
def test_median_interval_covers_at_its_stated_rate(shape, n):
    rng = np.random.default_rng(RNG_SEED + n)
    truth = true_median(shape)
    hits, covs = 0, set()
    for _ in range(TRIALS):
        e = estimate.median_ci(draw(rng, shape, n))
        covs.add(round(e.coverage, 6))
        hits += e.lo <= truth <= e.hi
    (cov,) = covs
    assert cov >= estimate.CONF
    assert hits / TRIALS >= floor_of(cov), (shape, n, hits / TRIALS, cov)


@pytest.mark.parametrize("shape", ["two clusters", "one wide", "skewed tail"])
@pytest.mark.parametrize("ratio", [1.0, 1.25])
def test_ratio_interval_covers_a_scale_shift(shape, ratio):
    rng = np.random.default_rng(RNG_SEED + int(ratio * 100))
    hits = 0
    for _ in range(TRIALS // 2):
        a = draw(rng, shape, 10)
        b = [x * ratio for x in draw(rng, shape, 10)]
        r = estimate.ratio_ci(a, b)
        hits += r.lo <= ratio <= r.hi
    assert hits / (TRIALS // 2) >= estimate.CONF - 3 * math.sqrt(0.95 * 0.05 / (TRIALS // 2)), \
        (shape, ratio, hits)


def test_ratio_ci_edges():
    assert estimate.ratio_ci([], [1.0]) is None
    assert estimate.ratio_ci([1.0, 2.0], [2.0, 4.0]).lo is None       # too few runs
    r = estimate.ratio_ci([3.0] * 6, [3.0] * 6)                      # counts that never vary
    assert (r.value, r.lo, r.hi) == (1.0, 1.0, 1.0)
    r = estimate.ratio_ci([1.0, 1.1, 0.9, 1.05, 0.95, 1.02], [2.0, 2.2, 1.8, 2.1, 1.9, 2.04])
    assert r.lo < 2.0 < r.hi and r.value == pytest.approx(2.0, rel=0.03)


def test_too_few_runs_for_the_test_give_no_interval():
    """3 runs against 3 (or 4): even every B above every A has a Mann-Whitney
    p of 0.1 (0.057), so the test rejects no ratio: no interval, no claim."""
    a, b = [1.0, 1.01, 1.02], [2.0, 2.01, 2.02]
    for aa in (a, a + [1.03]):
        assert estimate.ratio_ci(aa, b).lo is None
        assert estimate.compare(aa, b, False)["verdict"] is None
    a4, b4 = a + [1.03], b + [2.03]                 # 4 against 4: p = 2/70 = 0.029
    r = estimate.ratio_ci(a4, b4)
    assert r.lo is not None and r.lo > 1 and estimate.compare(a4, b4, False)["verdict"] == "better"


def test_verdicts_find_25_percent_and_never_claim_under_the_floor():
    """At 12 runs a side and 10% spread: a 25% difference is always found;
    no claim is ever made where the medians differ by less than MIN_EFFECT;
    equal models are rarely called different."""
    rng = np.random.default_rng(RNG_SEED)
    found = claimed_equal = 0
    for _ in range(200):
        a = draw(rng, "one wide", 12)
        far = estimate.compare(a, [x * 0.75 for x in draw(rng, "one wide", 12)], False)
        found += far["verdict"] == "worse"
        for k in (0.97, 1.0, 1.03):
            c = estimate.compare(a, [x * k for x in draw(rng, "one wide", 12)], False)
            assert c["verdict"] == "same" or abs(c["medians"] - 1) >= estimate.MIN_EFFECT
            claimed_equal += k == 1.0 and c["verdict"] != "same"
    assert found >= 196 and claimed_equal <= 10, (found, claimed_equal)


def test_compare_direction_and_resolution():
    a = [100.0, 102.0, 98.0, 101.0, 99.0, 100.5, 99.5, 100.2]
    cheaper = estimate.compare(a, [x * 0.7 for x in a], smaller_better=True)
    assert cheaper["verdict"] == "better" and cheaper["p"] < 0.01
    slower = estimate.compare(a, [x * 0.7 for x in a], smaller_better=False)
    assert slower["verdict"] == "worse" and 0 < slower["resolution"] < 0.05
    assert estimate.compare(a[:2], a[:2], False)["verdict"] is None


def test_planning_formulas_agree_with_each_other():
    assert estimate.expected_half(5, 0.1) is None
    h = estimate.expected_half(20, 0.10)
    assert 0.05 < h < 0.06                       # 1.96 x 1.2533 x 0.10 / sqrt(20) = 0.0549
    assert estimate.runs_for(h, 0.10) == 20
