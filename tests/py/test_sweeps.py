"""harness/sweeps.py and profiles.build_points: the points each sweep makes
per profile, and the declarations' consistency with the CSV and plots/."""
import os

import pytest

import charts
import convergence
import fold
import models
import profiles
import report
import session
import sweeps
from conftest import ROOT

MS = ["epoll_lt", "prefork", "threads"]


def pts(profile="default", ms=MS, conns=None, only=None):
    return profiles.build_points(profile, ms, conns, only, 20000)[0]


def test_run_order_is_the_display_order():
    assert list(profiles.SWEEPS) == sweeps.names()


@pytest.mark.parametrize("profile", sorted(profiles.PROFILES))
@pytest.mark.parametrize("sweep", sweeps.names())
def test_every_sweep_declares_every_profile(profile, sweep):
    assert profile in sweeps.get(sweep).profiles


def test_active_default():
    p = pts(only=["active"])
    assert [x.conns for x in p if x.model == "epoll_lt" and x.repeat == 1] == \
        sweeps.get("active").profiles["default"]["conns"]
    assert all(x.active == x.conns and x.idle == 0 and x.mode == "closed" for x in p)


def test_a_jit_runtime_gets_its_warmup():
    p = pts(ms=["epoll_et", "netty"], only=["active", "idle"])
    warm = {(x.model, x.warmup) for x in p}
    assert warm == {("epoll_et", profiles.PROFILES["default"]["warmup"]),
                    ("netty", models.get("netty").warmup_s)}
    assert models.get("netty").warmup_s > profiles.PROFILES["default"]["warmup"]


def test_repeat_major_within_a_sweep():
    p = pts(only=["active"])
    reps = [x.repeat for x in p]
    n = profiles.PROFILES["default"]["repeats"]
    assert reps == sorted(reps) and set(reps) == set(range(1, n + 1))


def test_idle_is_a_fixed_load_over_100_active_among_idle():
    p = pts(only=["idle"])
    assert {(x.conns, x.active, x.idle, x.x) for x in p if x.model == "epoll_lt"} == \
        {(t, 100, t - 100, t - 100) for t in sweeps.get("idle").profiles["default"]["totals"]}
    assert all(x.mode == "demand" and x.rate == sweeps.IDLE_RATE for x in p)


def test_demand_is_a_fixed_load_over_all_active():
    p = pts(only=["demand"])
    assert {(x.conns, x.active, x.idle, x.x) for x in p if x.model == "epoll_lt"} == \
        {(c, c, 0, c) for c in sweeps.get("demand").profiles["default"]["conns"]}
    assert all(x.mode == "demand" and x.rate == sweeps.DEMAND_RATE for x in p)
    assert all(convergence.figures_of(x) == ["cpu_us_per_echo"] for x in p)


def test_rate_series_and_open_loop():
    p = pts("full", only=["rate"])
    assert {x.series for x in p} == {"idle0", "idle10000"}
    assert all(x.mode == "open" and x.rate == x.x for x in p)
    assert {x.conns for x in p if x.series == "idle10000"} == {11000}


def test_heavy_only_heavy_models_all_cpus_own_duration():
    p = pts(only=["heavy"])
    assert {x.model for x in p} == {"threads"}        # epoll_lt and prefork are not heavy
    dur = sweeps.get("heavy").profiles["default"]["duration"]
    assert all(x.server_cpus == "all" and x.split_every == sweeps.HEAVY_WORK_EVERY
               and x.duration == dur for x in p)
    assert {(x.series, x.work_us, x.work_every) for x in p} == {("light", 0, 1),
                                                                ("heavy", 5000, 100)}


def test_churn_and_size():
    p = pts(only=["churn"])
    assert all(x.mode == "churn" and x.idle == 0 for x in p)
    assert pts(only=["size"]) == []                       # no sizes outside the full profile
    f = pts("full", only=["size"])
    assert {x.size for x in f} == {16, 64, 256, 1024, 4096, 16384, 65536}


def test_conns_filter_replaces_active_and_idle_and_filters_the_rest():
    p = pts("full", conns=[1000, 11000])
    by = {}
    for x in p:
        by.setdefault(x.sweep, set()).add(x.conns)
    assert by["active"] == {1000, 11000} and by["idle"] == {1000, 11000}
    assert by["demand"] == {1000, 11000}
    assert by["rate"] == {1000, 11000} and "heavy" not in by
    assert by["churn"] == {1000} and by["dispatch"] == {1000}          # theirs that match


def test_model_flags_from_the_registry():
    p = pts(only=["active"])
    pf = {x.conns: x.server_args for x in pts(conns=[1, 1000], only=["active"]) if x.model == "prefork"}
    assert pf[1] == ["--procs", "32"] and pf[1000] == ["--procs", "1000"]
    assert all(x.server_args == [] for x in p if x.model == "epoll_lt")
    assert all(x.server_args == [] for x in pts(ms=["fake_server"], only=["active"]))


def test_points_past_one_process_get_several():
    p = pts("full", only=["active"])
    big = [x for x in p if x.conns == 100000]
    assert big and all(x.server_procs == x.client_procs == 7 for x in big)


def test_overrides_and_settings():
    p, settings = profiles.build_points("quick", MS, None, ["active", "heavy"], 20000,
                                        dict(duration=0.5, repeats=None,
                                             sets={"heavy": {"work": [5000]}}))
    assert settings["duration"] == 0.5
    assert settings["repeats"] == profiles.PROFILES["quick"]["repeats"]     # None: the profile's
    assert set(settings["sweeps"]) == {"active", "heavy"}
    assert {x.duration for x in p if x.sweep == "active"} == {0.5}
    assert {x.duration for x in p if x.sweep == "heavy"} == \
        {sweeps.get("heavy").profiles["quick"]["duration"]}                  # its own, kept


def test_declarations_name_real_columns_and_chart_kinds():
    cols = set(fold.COLUMNS)
    for sw in sweeps.SWEEPS:
        for it in sw.report:
            if isinstance(it, sweeps.Chart):
                assert os.path.isfile(os.path.join(ROOT, "plots", f"{it.kind}.gp")), it.name
                used = [p.y for p in it.panels] + ([it.x] if it.panels else [])
                used += [it.at] if it.at else []
                used += [v for k, v in it.params if k in ("total", "part", "c1", "c2")]
                used += [c for k, v in it.params if k == "cols" for c in v.split()]   # stack
                assert set(used) <= cols, (it.name, set(used) - cols)
                assert it.main_col() in cols
                assert not it.vars or it.vars in charts.VARS, (it.name, it.vars)
            elif isinstance(it, sweeps.Table):
                assert it.col in cols
            elif isinstance(it, sweeps.Custom):         # renders from the CSV rows itself
                assert it.render in report.CUSTOM
            else:
                assert {c for _, c, _ in it.cols} <= cols
    names = [c.name for _, c in sweeps.charts()]
    assert len(names) == len(set(names))


def test_every_sweep_names_a_kind_of_point_that_exists():
    kinds = {sw.name: sw.kind for sw in sweeps.SWEEPS}
    assert set(kinds.values()) <= set(session.KINDS), kinds
    assert kinds["rate"] == "capacity" and kinds["dispatch"] == "dispatch"
    assert kinds["active"] == "echo"


def test_thread_per_connection_limit_from_the_registry():
    pt = pts(only=["active"])[-1]
    lim = dict(threads_max=2000, pid_max=2000, tasks_now=0)
    big = pt.again(conns=5000)
    assert "5000 connections need as many threads" in profiles.model_limit("threads", big, lim)
    assert profiles.model_limit("epoll_lt", big, lim) is None
    assert models.names(thread_per_conn=True) == ["threads"]


def test_rate_models_param_narrows_the_sweep():
    """A profile's rate `models` list keeps only those models; without it, every model."""
    want = set(sweeps.get("rate").profiles["default"]["models"])
    every = models.names()
    assert {x.model for x in pts(ms=every, only=["rate"])} == want
    assert want < set(every)
    assert {x.model for x in pts("full", ms=every, only=["rate"])} == set(every)
