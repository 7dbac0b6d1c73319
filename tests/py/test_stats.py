"""harness/stats.py: intervals, convergence, verdicts, claims.

Run: /usr/bin/python3 -m pytest -q tests/py/test_stats.py
"""

import math
import os
import random
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "harness"))
import stats  # noqa: E402


def t_cdf(x, df, steps=20000):
    """CDF of Student's t by Simpson's rule on its density (independent of the table)."""
    c = math.exp(math.lgamma((df + 1) / 2) - math.lgamma(df / 2)) / math.sqrt(df * math.pi)

    def pdf(t):
        return c * (1 + t * t / df) ** (-(df + 1) / 2)
    h = x / steps
    s = pdf(0) + pdf(x) + sum((4 if i % 2 else 2) * pdf(i * h) for i in range(1, steps))
    return 0.5 + s * h / 3


@pytest.mark.parametrize("df", sorted(stats.T975))
def test_t_table_is_the_975_quantile(df):
    assert t_cdf(stats.T975[df], df) == pytest.approx(0.975, abs=5e-5)


def test_t_crit_between_rows_errs_wide_and_tends_to_z():
    assert stats.t_crit(35) == stats.T975[30]
    assert stats.t_crit(500) == stats.T975[120]
    assert stats.t_crit(10 ** 6) == stats.Z975
    with pytest.raises(ValueError):
        stats.t_crit(0)


def test_mean_ci_by_hand():
    # 10, 12, 14: mean 12, s = 2, se = 2/sqrt(3) = 1.1547, t(0.975, 2) = 4.3027,
    # half-width 4.3027 x 1.1547 = 4.9683: [7.0317, 16.9683].
    ci = stats.mean_ci([10, 12, 14])
    assert (ci.mean, ci.n, ci.method) == (12, 3, "t")
    assert ci.half == pytest.approx(4.9683, abs=1e-4)
    assert (ci.lo, ci.hi) == (pytest.approx(7.0317, abs=1e-4), pytest.approx(16.9683, abs=1e-4))


def test_mean_ci_edges():
    assert stats.mean_ci([]) is None
    assert stats.mean_ci([None, "x", True]) is None
    one = stats.mean_ci([5, None, float("nan")])
    assert (one.mean, one.lo, one.hi, one.n) == (5, None, None, 1)
    same = stats.mean_ci([3, 3, 3])
    assert (same.lo, same.hi) == (3, 3)


def test_ci_fields_names_the_csv_columns():
    f = stats.ci_fields("msgs_per_s", [10, 12, 14, 11, 13, 15])
    assert set(f) == {"msgs_per_s", "msgs_per_s_lo", "msgs_per_s_hi"}
    assert f["msgs_per_s"] == 12.5 and (f["msgs_per_s_lo"], f["msgs_per_s_hi"]) == (10, 15)
    assert stats.ci_fields("p99_us", [7, 8, 9])["p99_us_lo"] is None      # under MIN_RUNS
    assert stats.ci_fields("p99_us", [7, 8, 9])["p99_us"] == 8


def test_converged():
    assert stats.converged([100, 101, 99, 100, 100, 102, 98])     # [98, 102] around 100
    assert not stats.converged([100, 120] * 4)              # [100, 120] around 110: +-9%
    assert not stats.converged([100] * 5)                   # under MIN_RUNS: no interval
    assert stats.converged([100, 104, 96, 100, 100, 100], target=0.04)
    assert not stats.converged([100, 104, 96, 100, 100, 100], target=0.03)
    assert not stats.converged([100, 100, 100, 100, 100, 130])   # lopsided: judged by the wide side
    assert not stats.converged([0, 1, -1, 0, 0, 0])        # median 0: never within a share of it


def test_verdict_only_when_intervals_separate():
    slow, fast = [100, 101, 99], [120, 121, 119]
    assert stats.verdict(slow, fast, smaller_better=False) == "better"
    assert stats.verdict(fast, slow, smaller_better=False) == "worse"
    assert stats.verdict(slow, fast, smaller_better=True) == "worse"
    # means 100 and 103 differ, but the intervals (+-2.5, +-5.0) overlap
    assert stats.verdict([100, 101, 99], [103, 105, 101], False) == "within noise"
    assert stats.verdict([100], [200, 201], False) == "no interval"
    # repeats that are all equal (whole pages, a fixed offered rate): no noise estimate
    assert stats.verdict([1000.0, 1000.0], [1000.001, 1000.001], False) == "no interval"
    assert stats.verdict([4096, 4096], [8192, 8100], True) == "no interval"


def test_fieller_reduces_to_b_interval_over_a_constant_a():
    b = [10, 12, 14]
    lo, hi = stats.ratio_fieller_ci([5, 5, 5], b)
    ci = stats.mean_ci(b)
    assert (lo, hi) == (pytest.approx(ci.lo / 5), pytest.approx(ci.hi / 5))


def test_fieller_by_hand():
    # A 100, 102, 98: mean 100, va = 4/3; B 150, 153, 147: mean 150, vb = 3.
    # R = 1.5; Welch df of vb + R^2 va = (3 + 3)^2 / (9/2 + 9/2) = 4, t = 2.7764.
    # den = 100^2 - t^2 va = 9989.72; root = sqrt(t^2 (vb den + va 150^2)) = 679.90;
    # (15000 -+ 679.90) / 9989.72 = 1.43348 .. 1.56960.
    lo, hi = stats.ratio_fieller_ci([100, 102, 98], [150, 153, 147])
    assert (lo, hi) == (pytest.approx(1.43348, abs=1e-5), pytest.approx(1.56960, abs=1e-5))
    t2 = 2.7764 ** 2                 # each end solves (mb - R ma)^2 = t^2 (vb + R^2 va)
    for r in (lo, hi):
        assert (150 - r * 100) ** 2 == pytest.approx(t2 * (3 + r * r * 4 / 3))


def test_ratio_ci():
    r, lo, hi = stats.ratio_ci([100, 102, 98], [150, 153, 147])
    assert r == pytest.approx(1.5) and lo < 1.5 < hi and hi - lo < 0.2
    assert stats.ratio_ci([100, 110], [100, 110])[1] < 1 < stats.ratio_ci([100, 110], [100, 110])[2]
    assert stats.ratio_ci([1, -1, 0.5], [3, 3, 3])[1:] == (None, None)   # A's interval reaches 0
    assert stats.ratio_ci([100], [120, 121])[1:] == (None, None)
    assert stats.ratio_ci([], [1]) is None and stats.ratio_ci([0, 0], [1, 2]) is None


def test_bootstrap_enumerates_small_samples():
    # [1, 3]: the 4 ordered resamples average 1, 2, 2, 3; percentiles 2.5% and
    # 97.5% by linear interpolation: 1 + 0.075 = 1.075 and 2 + 0.925 = 2.925.
    assert stats.bootstrap_ci([1, 3]) == (pytest.approx(1.075), pytest.approx(2.925))
    v = [5, 7, 9, 4, 8, 6]                              # 6^6 > 2000: drawn, seeded
    assert stats.bootstrap_ci(v) == stats.bootstrap_ci(v)
    lo, hi = stats.bootstrap_ci(v)
    assert 4 < lo < 6.5 < hi < 9
    assert stats.bootstrap_ci([1]) is None
    lo, hi = stats.ratio_bootstrap_ci([100, 102, 98], [150, 153, 147])
    assert lo < 1.5 < hi
    assert stats.ratio_bootstrap_ci([0, 1], [1, 2]) is None


def test_coverage_small_simulation():
    """A small version of the simulation quoted in stats.py: with 3 normal
    repeats the t-interval covers ~95%, the bootstrap far less (seeded: no flake)."""
    rng = random.Random(7)
    t_hits = boot_hits = 0
    trials = 400
    for _ in range(trials):
        v = [rng.gauss(100, 10) for _ in range(3)]
        ci = stats.mean_ci(v)
        t_hits += ci.lo <= 100 <= ci.hi
        lo, hi = stats.bootstrap_ci(v)
        boot_hits += lo <= 100 <= hi
    assert 0.92 <= t_hits / trials <= 0.98
    assert boot_hits / trials < 0.80


class FakeClock:
    def __init__(self, step):
        self.t, self.step = 0.0, step

    def __call__(self):
        self.t += self.step
        return self.t


def test_repeat_until_converged_stops_when_tight():
    seq = iter([{"x": v} for v in [100, 130] + [100, 101, 99] * 10])
    res = stats.repeat_until_converged(lambda: next(seq), ["x"], max_repeats=20,
                                       time_cap_s=1e9, clock=FakeClock(1))
    assert res["converged"] and res["stop"] == "converged"
    assert stats.converged([s["x"] for s in res["samples"]])
    assert not stats.converged([s["x"] for s in res["samples"][:-1]])   # not one call late
    steady = iter([{"x": 100}] * 20)
    res = stats.repeat_until_converged(lambda: next(steady), ["x"], min_repeats=8)
    assert len(res["samples"]) == 8                    # converged at 6, but 8 asked for


def test_repeat_until_converged_caps_and_failures():
    noisy = iter([{"x": v} for v in (100, 200) * 50])
    res = stats.repeat_until_converged(lambda: next(noisy), ["x"], max_repeats=6,
                                       time_cap_s=1e9, clock=FakeClock(1))
    assert (res["converged"], res["stop"], len(res["samples"])) == (False, "max repeats", 6)
    noisy = iter([{"x": v} for v in (100, 200) * 50])
    res = stats.repeat_until_converged(lambda: next(noisy), ["x"], max_repeats=50,
                                       time_cap_s=5, clock=FakeClock(1))
    assert res["stop"] == "time cap" and len(res["samples"]) < 10
    res = stats.repeat_until_converged(lambda: None, ["x"], max_repeats=4, clock=FakeClock(1))
    assert (res["failed"], res["samples"], res["stop"]) == (4, [], "max repeats")


def test_interleaved_rounds_shuffle_and_drop_converged():
    calls = []
    vals = {"tight": iter([100, 100.5, 99.5] * 10), "loose": iter([100, 150] * 10),
            "c": iter([50, 50.2, 49.8] * 10), "d": iter([10, 10.1, 9.9] * 10)}

    def measure(k):
        calls.append(k)
        return {"x": next(vals[k])}
    res = stats.interleaved_rounds(list(vals), measure, ["x"], min_repeats=6, max_repeats=9)
    assert res["tight"]["converged"] and len(res["tight"]["samples"]) == 6
    assert not res["loose"]["converged"] and res["loose"]["stop"] == "max repeats"
    assert len(res["loose"]["samples"]) == 9
    rounds = [calls[i:i + 4] for i in range(0, 24, 4)]    # 4 points in the first 6 rounds
    assert all(sorted(r) == sorted(vals) for r in rounds)  # one run of each per round
    assert len({tuple(r) for r in rounds}) > 1             # and not always the same order
    assert calls[24:] == ["loose"] * 3                     # the converged ones dropped


def test_interleaved_rounds_time_cap():
    res = stats.interleaved_rounds(["a", "b"], lambda k: {"x": 1 if k == "a" else 2}, ["x"],
                                   time_cap_s=3, clock=FakeClock(1))
    assert all(r["stop"] in ("time cap", "converged") for r in res.values())
    assert sum(len(r["samples"]) for r in res.values()) <= 3


def test_claims_only_where_intervals_separate():
    per = {"epoll_et": [182000, 183000, 181000, 182500, 181500, 182200],
           "io_uring": [194000, 195000, 193000, 194500, 193500, 194200],
           "epoll_lt": [180000, 190000, 185000, 181000, 189000, 183000],
           "poll": [185000, 186000, 184000, 185500, 184500, 185200]}
    s = stats.claims("msgs_per_s", "1,000 active", per, ref="epoll_et")
    assert s[0].startswith("io_uring is faster than epoll_et at 1,000 active: 194,100 vs "
                           "182,100 echoes/s (medians of 6 and 6 runs; io_uring/epoll_et 1.07")
    assert s[1].startswith("epoll_lt and epoll_et at 1,000 active: no measurable difference")
    # poll's runs all lie above epoll_et's, by 1.6%: separate, but under estimate.MIN_EFFECT
    assert s[2].startswith("poll and epoll_et at 1,000 active: no measurable difference")
    c = stats.claim("p99_us", "100 active", "a", [300, 310, 290, 305, 295, 300],
                    "b", [500, 510, 490, 505, 495, 500])
    assert c.startswith("b is higher in p99 latency than a")
    c = stats.claim("msgs_per_s", "x", "a", [1], "b", [2])
    assert "no measurable difference" in c and "too few runs" in c
    assert stats.claim("msgs_per_s", "x", "a", [], "b", [2]) is None
    with pytest.raises(ValueError):
        stats.claims("msgs_per_s", "x", per)
