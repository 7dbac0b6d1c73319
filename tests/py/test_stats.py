"""harness/stats.py: the CSV's interval fields, convergence, interleaved rounds, claims.

Run: /usr/bin/python3 -m pytest -q tests/py/test_stats.py
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "harness"))
import stats  # noqa: E402


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
