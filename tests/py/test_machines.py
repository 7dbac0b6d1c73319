"""Machines the suite has not run on (docs/machines.md), planned here: a
declared topology (cpuplan.plan(..., real=), topology.Local(declare=N)),
the cores sweep's points at 16, 64 and 128 CPUs through build_points and the
schedule, the check of what a server really got (placement_problems), and
the check that every planned point has its records (records.unaccounted)."""
import cpuplan
import models
import profiles
import schedule
import topology
from records import Point, Record

CORES_MODELS = [m.name for m in models.MODELS if m.cores]


def pt(**kw):
    d = dict(sweep="cores", series="active1000", x=1, model="epoll_et", conns=1000, active=1000,
             idle=0, rate=0, size=64, depth=1, mode="closed", work_us=0, work_every=1,
             split_every=0, server_cpus="1", duration=1.0, warmup=0.25, server_procs=1,
             client_procs=1, src=profiles.SRC_RANGE, server_args=[])
    d.update(kw)
    return Point(**d)


def test_map_real_splits_in_proportion():
    assert cpuplan.map_real(8, 8, (0, 1)) == ((0,), (1,))
    assert cpuplan.map_real(1, 15, (0, 1)) == ((0,), (1,))
    assert cpuplan.map_real(8, 8, range(4)) == ((0, 1), (2, 3))
    assert cpuplan.map_real(1, 127, range(8)) == ((0,), tuple(range(1, 8)))
    # declaring fewer CPUs than there are: one real CPU each, no more
    assert cpuplan.map_real(1, 3, range(16)) == ((0,), (1, 2, 3))
    assert cpuplan.map_real(2, 2, (5,)) == ((5,), (5,))


def test_declared_plan_pins_onto_the_real_cpus():
    p = cpuplan.plan(range(16), 8, conns=1000, real=(0, 1))
    assert p.declared and p.server == tuple(range(8)) and p.client == tuple(range(8, 16))
    assert (p.threads, p.procs) == (8, 1)           # the declared generator CPUs
    assert p.pin_server() == {0} and p.pin_client() == {1}
    assert p.pin_server((p.server[5],)) == {0}
    assert p.cpu_map() == {"server": {"0": "0-7"}, "generator": {"1": "8-15"}}
    r = p.record()
    assert (r["server_cpus"], r["declared_cpus"], r["real_cpus"], r["real_server_cpus"],
            r["real_client_cpus"]) == ("0-7", 16, "0-1", "0", "1")
    assert "DECLARED" in cpuplan.describe(p) and "server's 0-7 on 0" in cpuplan.describe(p)
    # a real plan has none of it
    q = cpuplan.plan(range(16), 8)
    assert not q.declared and q.pin_server() == set(range(8)) and "declared_cpus" not in q.record()


def test_declared_topology_points():
    t = topology.Local(1, usable=(0, 1), nofile=20000, declare=16)
    assert t.usable == tuple(range(16)) and t.context()["declared"] == dict(cpus=16, real_cpus="0-1")
    q = pt(x=8, server_cpus="8", server_procs=8)
    p = t.plan(q)
    assert p.server == tuple(range(8))
    # one --reuseport process per declared server CPU, each on the real server CPU
    assert [topology.server_pins(p, q, i) for i in range(8)] == [{0}] * 8
    assert topology.cpus_args(p, q, 0, ["srv"]) == ["srv"]
    # reactors counts its mask (one real CPU): told its 8 loops
    r = q.again(model="reactors", server_procs=1)
    assert topology.server_pins(p, r, 0) == {0}
    assert topology.cpus_args(p, r, 0, ["srv"]) == ["srv", "--loops", "8"]
    assert topology.cpus_args(p, r, 0, ["srv", "--loops", "3"]) == ["srv", "--loops", "3"]
    a, cpus = t.generator(["lg", "--threads", "1"], q)
    assert cpus == {1} and a[-2:] == ["--threads", "8"]
    rec = t.record(q)
    assert rec["declared_cpus"] == 16 and rec["cpu_map"]["generator"] == {"1": "8-15"}
    # on a real 16-CPU machine reactors is not told: its mask has the 8 CPUs
    real = topology.Local(1, usable=range(16), nofile=20000)
    assert topology.cpus_args(real.plan(r), r, 0, ["srv"]) == ["srv"]


def test_placement_problems():
    t = topology.Local(1, usable=(0, 1), nofile=20000, declare=16)
    q = pt(x=4, server_cpus="4", server_procs=4)
    p = t.plan(q)
    one = dict(procs=1, threads=1, cpus=["0"])
    assert topology.placement_problems(p, q, [one] * 4) == []
    assert "3 server processes running, not 4" in topology.placement_problems(p, q, [one] * 3)
    bad = topology.placement_problems(p, q, [one] * 3 + [dict(one, cpus=["0-1"])])
    assert bad == ["server 4: tasks on CPUs 0-1, not the plan's 0"]
    r = q.again(model="reactors", server_procs=1)
    assert topology.placement_problems(p, r, [dict(one, threads=5)]) == []
    assert "2 threads for 4 CPUs" in topology.placement_problems(p, r, [dict(one, threads=2)])[0]
    # an unpinned sweep (heavy: server_cpus all) checks no CPU list
    assert topology.placement_problems(p, pt(server_cpus="all"), [dict(one, cpus=["0-1"])]) == []


def plan_for(n, profile="default"):
    pts, _ = profiles.build_points(profile, CORES_MODELS, None, ["cores"], 20000,
                                   mach=profiles.machine(n))
    return pts


def test_cores_sweep_planned_at_16_64_and_128_cpus():
    for n, want in ((16, [1, 2, 4, 8]), (64, [1, 2, 4, 8, 16, 32]),
                    (128, [1, 2, 4, 8, 16, 32, 64])):
        pts = plan_for(n)
        base = [p for _, b in schedule.plan(pts) for p in b]
        # every (model, S, conns) is its own point: the schedule keeps them all
        runs = profiles.PROFILES["default"]["repeats"]
        assert len(base) == len(CORES_MODELS) * len(want) * 2 == len(pts) // runs
        assert {(p.model, p.x) for p in base} == {(m, s) for m in CORES_MODELS for s in want}
        t = topology.Local(1, usable=(0, 1), nofile=20000, declare=n)
        for p in base:
            plan = t.plan(p)
            assert len(plan.server) == p.x == int(p.server_cpus)
            assert plan.threads <= cpuplan.LG_MAX_THREADS and plan.procs <= cpuplan.LG_MAX_PROCS
            assert plan.threads * plan.procs >= min(len(plan.client), p.conns)
            assert plan.pin_server() == {0} and plan.pin_client() == {1}
    # the generator on 127 declared CPUs: two processes (64 threads each at most)
    p = topology.Local(1, usable=(0, 1), nofile=20000, declare=128).plan(plan_for(128)[0])
    assert (p.threads, p.procs) == (64, 2)


def rec(p, status="ok", seq=1):
    return Record(seq=seq, time="t", point=p, status=status, reason="")


def test_unaccounted_planned_points():
    import records
    pts = [p for p in plan_for(16, "quick") if p.repeat == 1]      # one repeat each
    pts = [p.again(repeats=1) for p in pts]
    assert records.unaccounted(pts, [rec(p) for p in pts]) == []
    # the old key (no x, no server_cpus) merged S = 1, 2, 4, 8: records for S = 1 only
    s1 = [p for p in pts if p.x == 1]
    lost = records.unaccounted(pts, [rec(p) for p in s1])
    assert len(lost) == len(pts) - len(s1) and all(p.x > 1 and n == 1 and k == 0
                                                   for p, n, k in lost)
    # a skipped record accounts for its point; a second planned repeat needs a record
    two = [p.again(repeat=r, repeats=2) for p in pts[:1] for r in (1, 2)]
    assert records.unaccounted(two, [rec(two[0], "skipped")]) == []
    assert records.unaccounted(two, [rec(two[0], "failed")]) == [(two[0], 2, 1)]
    assert pts[0].key() != pts[0].again(x=2, server_cpus="2").key()


def test_dispatch_runs_on_the_real_server_cpus():
    import dispatch_point
    t = topology.Local(4, usable=(0, 1), nofile=20000, declare=16)
    d = pt(sweep="dispatch", mode="dispatch", server_cpus="0")
    assert dispatch_point._pins(d, 2, t) == {0}          # declared 0-3, really CPU 0
    assert dispatch_point._pins(d, 2, topology.Local(1, usable=(0, 1), nofile=20000)) == {0}


def test_declared_is_for_this_machine():
    import pytest
    with pytest.raises(topology.TopologyError, match="DECLARE_CPUS is for this machine"):
        topology.make(server_host="u@h", client_hosts=["u@c"], declare=16)
    with pytest.raises(cpuplan.PlanError, match="DECLARE_CPUS: 'lots'"):
        topology.Local(1, usable=(0, 1), declare="lots")
    with pytest.raises(cpuplan.PlanError, match="SERVER_CPUS=16: only 16 usable"):
        topology.Local(16, usable=(0, 1), declare=16)
