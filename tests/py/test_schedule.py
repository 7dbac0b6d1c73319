"""harness/schedule.py (+ stats.interleaved_rounds' prior/DROP/first_order):
the order points and repeats run in, convergence, resume; fold.fold's
intervals and converged column.

Run: /usr/bin/python3 -m pytest -q tests/py/test_schedule.py
"""
import itertools

import pytest

import capacity
import convergence
import estimate
import fold
import profiles
import report
import schedule
import stats
from test_records import a_record

MODELS = ["threads", "poll", "epoll_lt", "epoll_et", "io_uring"]


def points(repeats=2, sweeps=("active",)):
    pts, settings = profiles.build_points("default", MODELS, [10, 100, 1000], list(sweeps), 20000,
                                          dict(repeats=repeats))
    return pts, settings


class Fake:
    """measure(): records the calls; per model a value sequence (cycled)."""

    def __init__(self, values=None, drop=()):
        self.calls, self.values, self.drop = [], values or {}, set(drop)
        self.it = {}

    def __call__(self, pt, figs):
        self.calls.append(pt.key())
        if pt.key() in self.drop:
            return stats.DROP
        seq = self.values.get(pt.model, [100.0, 100.0])
        it = self.it.setdefault(pt.key(), itertools.cycle(seq))
        v = next(it)
        return {f: v for f in figs}


def test_first_round_goes_up_x_with_models_shuffled_within_each_x():
    pts, st = points(repeats=1)
    base = schedule.plan(pts)[0][1]
    by = {p.key(): p for p in base}
    order = [by[k] for k in schedule.first_order(base)]
    assert [p.x for p in order] == sorted(p.x for p in order)          # x ascending
    per_x = [[p.model for p in order if p.x == x] for x in (10, 100, 1000)]
    assert all(sorted(m) == sorted(MODELS) for m in per_x)              # every model once
    assert any(m != MODELS for m in per_x)                              # shuffled ...
    assert len({tuple(m) for m in per_x}) > 1                           # ... afresh per x
    assert schedule.first_order(base) == schedule.first_order(base)     # seeded


def test_rounds_interleave_every_point_before_any_repeats_again():
    pts, st = points(repeats=3)
    st.update(max_repeats=3, extra_time=0)
    fake = Fake({m: [100.0, 150.0] for m in MODELS})                   # never converges
    res = schedule.run(pts, st, fake)
    n = len(res)
    assert len(fake.calls) == 3 * n
    rounds = [fake.calls[i * n:(i + 1) * n] for i in range(3)]
    assert all(sorted(r) == sorted(res) for r in rounds)               # one each per round
    assert rounds[1] != rounds[2] and rounds[1] != rounds[0]           # shuffled each round
    assert all(r["stop"] == "max repeats" for r in res.values())


def test_converged_points_are_dropped_and_the_rest_repeat_to_the_cap():
    pts, st = points(repeats=6)
    st.update(max_repeats=9, extra_time=100.0)
    vals = {m: [100.0, 100.5, 99.5] for m in MODELS}
    vals["poll"] = [100.0, 160.0]                                      # +-30%: never within 5%
    fake = Fake(vals)
    res = schedule.run(pts, st, fake)
    for k, r in res.items():
        n = sum(1 for c in fake.calls if c == k)
        if k[2] == "poll":
            assert (r["converged"], r["stop"], n) == (False, "max repeats", 9)
        else:
            assert r["converged"] and n == 6                            # tight after the min
    # after the minimum rounds only poll's points ran
    extra = fake.calls[6 * len(res):]
    assert extra and {k[2] for k in extra} == {"poll"}


def test_time_cap_stops_the_extra_repeats_only():
    pts, st = points(repeats=2)
    st.update(max_repeats=50, extra_time=1e-9)
    fake = Fake({m: [100.0, 160.0] for m in MODELS})
    res = schedule.run(pts, st, fake)
    assert all(len(r["samples"]) >= 2 for r in res.values())           # min repeats always
    assert len(fake.calls) <= 2 * len(res) + 1


def test_drop_ends_a_point_and_between_runs_before_later_sweeps():
    pts, st = points(repeats=3, sweeps=("active", "churn"))
    st.update(max_repeats=3, extra_time=0)
    base = schedule.plan(pts)
    assert [s for s, _ in base] == ["active", "churn"]
    dropped = base[0][1][0].key()
    fake = Fake(drop={dropped})
    seen = []
    res = schedule.run(pts, st, fake, between=lambda s: seen.append((s, len(fake.calls))))
    assert fake.calls.count(dropped) == 1 and res[dropped]["stop"] == "dropped"
    n_active = len(base[0][1])
    # the first round: every active point once (the dropped one too), then churn
    assert seen == [("churn", n_active)]
    assert [c[0] for c in fake.calls[:n_active]] == ["active"] * n_active


def test_resume_skips_done_points_and_counts_prior_repeats():
    pts, st = points(repeats=2)
    st.update(max_repeats=2, extra_time=0)
    base = schedule.plan(pts)[0][1]
    done2, done1, gone = base[0], base[1], base[2]
    recs = [a_record(point=done2, derived={"msgs_per_s": 100.0, "cpu_us_per_echo": 5.0}),
            a_record(point=done2.again(repeat=2), derived={"msgs_per_s": 100.0,
                                                           "cpu_us_per_echo": 5.0}),
            a_record(point=done1, derived={"msgs_per_s": 100.0, "cpu_us_per_echo": 5.0}),
            a_record(point=gone, status="skipped", reason="not run", derived={})]
    prior = schedule.prior_from(recs)
    assert prior[done2.key()][:2] == ([{"msgs_per_s": 100.0, "cpu_us_per_echo": 5.0}] * 2, 0)
    assert prior[gone.key()][2] is True
    fake = Fake()
    res = schedule.run(pts, st, fake, prior=prior)
    assert done2.key() not in fake.calls and gone.key() not in fake.calls
    assert fake.calls.count(done1.key()) == 1                           # one more, not two
    assert len(res[done1.key()]["samples"]) == 2
    assert all(fake.calls.count(p.key()) == 2 for p in base[3:])


def test_resume_mismatch_names_what_differs():
    old = dict(settings={"duration": 1.0, "repeats": 2}, models=["poll"], sweeps=["active"],
               conns_filter=None, git_commit="a" * 40, git_dirty=False,
               binaries={"poll": "x"}, loadgen_sha256="l", date="then")
    assert schedule.resume_mismatch(old, dict(old, date="now")) == ""
    why = schedule.resume_mismatch(old, dict(old, settings={"duration": 5.0, "repeats": 2}))
    assert why.startswith("settings (duration: 1.0 then, 5.0 now)")
    why = schedule.resume_mismatch(old, dict(old, git_commit="b" * 40, binaries={"poll": "y"}))
    assert "git commit" in why and "server binaries (poll" in why and "settings" not in why


# ---- fold.fold: the mean, its interval, converged -----------------------------

def rec(msgs, cpu=5.0, **pt):
    r = a_record(derived={"msgs_per_s": msgs, "cpu_us_per_echo": cpu})
    r.point = r.point.again(**pt)
    return r


def test_fold_median_interval_and_converged():
    vals = [100.0, 110.0, 300.0, 105.0, 95.0, 102.0]
    row = fold.fold([rec(v, repeat=i) for i, v in enumerate(vals, 1)])
    e = estimate.median_ci(vals)
    assert row["msgs_per_s"] == e.value == 103.5                       # the median, not the mean
    assert (row["msgs_per_s_lo"], row["msgs_per_s_hi"]) == (e.lo, e.hi) == (95.0, 300.0)
    assert (row["msgs_per_s_min"], row["msgs_per_s_max"]) == (95.0, 300.0)
    assert row["converged"] == 0
    tight = fold.fold([rec(v, repeat=i) for i, v in enumerate([100, 100.5, 99.5] * 2, 1)])
    assert tight["converged"] == 1
    assert fold.fold([rec(v, 9.0 if i == 2 else 5.0, repeat=i)
                      for i, v in enumerate([100, 100.5, 99.5] * 2, 1)])["converged"] == 0  # CPU wide
    few = fold.fold([rec(100.0), rec(101.0, repeat=2)])
    assert few["converged"] is None and few["msgs_per_s_lo"] is None
    for c in ("converged", "msgs_per_s_lo", "msgs_per_s_hi", "cpu_us_per_echo_lo"):
        assert c in fold.COLUMNS


# ---- the tests above catch these broken variants (tests of the tests) ---------

class _NoShuffle:
    def __init__(self, seed):
        pass

    def shuffle(self, x):
        pass


def _mean_fields(fig, vals):
    import statistics
    e = estimate.median_ci(vals)
    return {fig: statistics.fmean(vals) if vals else None, fig + "_lo": e and e.lo,
            fig + "_hi": e and e.hi}


BROKEN = {
    "first round in declaration order": (
        lambda mp: mp.setattr(schedule, "first_order", lambda base, seed=0: [p.key() for p in base]),
        test_first_round_goes_up_x_with_models_shuffled_within_each_x),
    "rounds not shuffled": (
        lambda mp: mp.setattr(stats.random, "Random", _NoShuffle),
        test_rounds_interleave_every_point_before_any_repeats_again),
    "nothing converges": (
        lambda mp: mp.setattr(stats, "converged", lambda v, t=0.05: False),
        test_converged_points_are_dropped_and_the_rest_repeat_to_the_cap),
    "resume ignores the records on disk": (
        lambda mp: mp.setattr(schedule, "prior_from", lambda recs: {}),
        test_resume_skips_done_points_and_counts_prior_repeats),
    "resume accepts other settings": (
        lambda mp: mp.setattr(schedule, "RESUME_SAME", [("git commit", "git_commit")]),
        test_resume_mismatch_names_what_differs),
    "fold takes the mean": (
        lambda mp: mp.setattr(stats, "ci_fields", _mean_fields),
        test_fold_median_interval_and_converged),
}


def test_broken_variants_are_caught(monkeypatch):
    for name, (brk, test) in BROKEN.items():
        with monkeypatch.context() as mp:
            brk(mp)
            try:
                test()
            except (AssertionError, KeyError, TypeError):
                continue
        raise AssertionError(f"broken variant not caught: {name}")


# ---- REPORT.md: the confidence section and the claims ------------------------

def _recs(model, vals, x=1000):
    out = []
    for i, v in enumerate(vals, 1):
        r = rec(v, model=model, conns=x, active=x, x=x, repeat=i)
        out.append(r)
    return out


def test_claims_only_where_intervals_separate_and_unconverged_listed():
    recs = (_recs("epoll_et", [100e3, 101e3, 99e3, 100.5e3, 99.5e3, 100.2e3])
            + _recs("io_uring", [120e3, 121e3, 119e3, 120.5e3, 119.5e3, 120.2e3])
            + _recs("poll", [90e3, 110e3, 100e3, 95e3, 105e3, 101e3]))
    rows = fold.aggregate(recs)
    text = "\n".join(report.claims_lines(rows, recs))
    assert "io_uring is faster than epoll_et at 1,000" in text
    assert "poll and epoll_et at 1,000 active connections: no measurable difference" in text
    assert "poll is" not in text
    ctx = dict(settings=dict(repeats=6, max_repeats=9, extra_time=0.35, target=0.05),
               schedule=dict(method="interleaved rounds, shuffled (seed 1); t", figures="f"))
    conf = "\n".join(report.confidence_lines(ctx, rows))
    assert "MEDIAN of a point's ok runs" in conf
    assert "| active | all | poll | 1,000 | 6 |" in conf              # +-10%: not converged
    assert "| active | all | epoll_et |" not in conf


def _medians_only(a, b, smaller_better, **kw):
    """A verdict from the medians alone: no interval, no floor."""
    import statistics
    r = statistics.median(b) / statistics.median(a)
    v = "same" if r == 1 else ("worse" if (r > 1) == smaller_better else "better")
    return dict(ratio=estimate.Est(r, r, r, len(a) + len(b), 0.95), medians=r, p=0.0,
                verdict=v, resolution=0.0)


BROKEN.update({
    "claims ignore the intervals": (
        lambda mp: mp.setattr(estimate, "compare", _medians_only),
        test_claims_only_where_intervals_separate_and_unconverged_listed),
    "every point counts as converged": (
        lambda mp: mp.setattr(stats, "converged", lambda v, t=0.05: True),
        test_claims_only_where_intervals_separate_and_unconverged_listed),
})


def test_each_kind_of_point_converges_on_what_it_measures():
    pts, _ = points(sweeps=("active", "rate", "churn", "dispatch"))
    figs = {p.mode: convergence.figures_of(p) for p in pts}
    assert figs["closed"] == ["msgs_per_s", "cpu_us_per_echo"]
    assert figs["open"] == ["p50_us"]
    assert figs["churn"] == ["conns_per_s", "cpu_us_per_echo"]
    # a dispatch point has no echoes and no server: its own figure decides
    assert figs["dispatch"] == ["ns_per_event"]


def test_setup_fit_recovers_a_line_per_model():
    def r(model, conns, setup, status="ok"):
        return dict(status=status, wall_s=0.1 + 0.3 + setup,
                    point=dict(model=model, conns=conns, warmup=0.1, duration=0.3, mode="closed"))
    recs = ([r("epoll_et", c, 0.2 + 50e-6 * c) for c in (100, 1000, 10000, 19000)]
            + [r("threads", c, 0.1 + 400e-6 * c) for c in (100, 1000)]
            + [r("poll", 1000, 0.5), r("poll", 1000, 9.0, status="failed")]
            + [dict(status="ok", wall_s=5.0, point=dict(model="x", conns=10, warmup=0,
                                                         duration=1, mode="dispatch"))])
    f = schedule.setup_fit(recs)
    assert set(f) == {"epoll_et", "threads", "poll"}          # ok echo runs only
    assert f["epoll_et"] == (pytest.approx(0.2), pytest.approx(50e-6))
    assert f["threads"] == (pytest.approx(0.1), pytest.approx(400e-6))
    assert f["poll"] == (pytest.approx(0.5), 0.0)             # one connection count: b = 0


def test_sweeps_share_their_rounds_after_the_first_churn_included():
    pts, st = points(repeats=3, sweeps=("active", "demand", "churn"))
    st.update(max_repeats=3, extra_time=0)
    fake = Fake({m: [100.0, 150.0] for m in MODELS})                   # never converges
    seen = []
    res = schedule.run(pts, st, fake, between=lambda s: seen.append((s, len(fake.calls))))
    n = len(res)
    assert {k[0] for k in res} == {"active", "demand", "churn"}
    assert len(fake.calls) == 3 * n
    rounds = [fake.calls[i * n:(i + 1) * n] for i in range(3)]
    assert all(sorted(r) == sorted(res) for r in rounds)               # one each per round
    sweep_runs = [[k[0] for k in r] for r in rounds]
    # the first round goes sweep by sweep; later ones mix the sweeps, churn among them
    order = ["active", "demand", "churn"]
    assert sweep_runs[0] == sorted(sweep_runs[0], key=order.index)
    for later in sweep_runs[1:]:
        switches = sum(a != b for a, b in zip(later, later[1:]))
        assert switches > 3, later
        assert any(s != "churn" for s in later[later.index("churn"):]), later   # not last
    n_active = sum(1 for k in res if k[0] == "active")
    n_demand = sum(1 for k in res if k[0] == "demand")
    # between() before each sweep's first run, once, all within round 1
    assert seen == [("demand", n_active), ("churn", n_active + n_demand)]


def test_each_sweep_converges_on_its_own_figures():
    pts, st = points(repeats=estimate.MIN_RUNS, sweeps=("active", "demand"))
    st.update(max_repeats=estimate.MIN_RUNS + 3, extra_time=100.0)
    got = {}

    def measure(pt, figs):
        got.setdefault(pt.sweep, set()).add(tuple(figs))
        return {f: 100.0 for f in figs}
    res = schedule.run(pts, st, measure)
    # every point converged at the minimum on its own figures (it gives no other)
    assert {(r["stop"], len(r["samples"])) for r in res.values()} == {("converged", estimate.MIN_RUNS)}
    base = dict(schedule.plan(pts))
    assert got == {s: {tuple(convergence.figures_of(base[s][0]))} for s in ("active", "demand")}
    assert got["active"] != got["demand"]


def test_a_rate_points_estimate_holds_its_probe():
    pts, _ = profiles.build_points("default", ["epoll_et"], None, ["rate"], 20000)
    p = next(p for p in pts if p.repeat == 2)
    closed = p.again(sweep="active", mode="closed")
    assert schedule.estimate_s(p) - schedule.estimate_s(closed) == pytest.approx(
        p.warmup + capacity.probe_s(p) + schedule.setup_s(p.model, p.conns))
