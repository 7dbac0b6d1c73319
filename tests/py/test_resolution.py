"""Issue 22's rule for claims, on runs whose truth is known: two models a
quarter apart are told apart from as many runs as a default point gets, even
when the runs are bimodal as this VM's are, and models less than 5% apart are
never called different however many runs there are (findings.judge, the one
call into the claims machinery). Whether a real run meets the bar is a
measurement, not a test: docs/method.md gives the reference runs' figures.
"""
import random

import pytest

import findings

RUNS = 13           # the ok runs a default point at 1,000 connections had (10, up to 16)


def bimodal(rng, centre, n, cv=0.08, low=0.6, share_low=0.4):
    """n runs around centre, a share of them in a lower mode (low x centre)."""
    return [rng.gauss(centre * (low if rng.random() < share_low else 1), centre * cv)
            for _ in range(n)]


@pytest.mark.parametrize("seed", range(20))
def test_a_quarter_apart_is_claimed(seed):
    rng = random.Random(seed)
    a = [rng.gauss(100, 8) for _ in range(RUNS)]
    b = [rng.gauss(75, 6) for _ in range(RUNS)]
    assert findings.judge("msgs_per_s", a, b) == "worse"
    assert findings.judge("cpu_us_per_echo", a, [x * 1.7 for x in a]) == "worse"


def power(n, draws=200):
    """Of `draws` draws of n runs each, how many tell a model a quarter lower
    apart, when both have this VM's two modes (40% of runs at 0.6)."""
    hits = 0
    for seed in range(draws):
        rng = random.Random(seed)
        a, b = bimodal(rng, 100, n), [0.75 * x for x in bimodal(rng, 100, n)]
        hits += findings.judge("msgs_per_s", a, b) == "worse"
    return hits


def test_bimodal_runs_need_more_of_them():
    """With both models bimodal, a quarter apart is told apart in 118 of 200
    draws of 13 runs and 193 of 200 of 40 (measured with this function): the
    modes, not the method, are why a default run misses some such pairs."""
    few, many = power(RUNS), power(40)
    assert 0.4 * 200 <= few <= 0.8 * 200 and many >= 0.95 * 200, (few, many)


@pytest.mark.parametrize("n", [6, 13, 100, 1000])
def test_under_five_percent_is_never_claimed(n):
    rng = random.Random(n)
    a = [rng.gauss(100, 1) for _ in range(n)]
    b = [x * 1.04 for x in a]                      # 4% apart, intervals far from 1 with many runs
    assert findings.judge("msgs_per_s", a, b) == "same"
    assert findings.judge("cpu_us_per_echo", a, b) == "same"
