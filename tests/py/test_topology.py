"""The cores sweep's points against made-up CPU counts (sweeps._pts_cores,
profiles.build_points) and harness/topology.py's pure parts: the CPU plan a
point runs with, the server's pins, the generator's flags, the load split
over client hosts."""
import cpuplan
import models
import profiles
import sweeps
import topology
from records import Point

CORES = dict(conns=[1000, 10000])
MS = ["epoll_lt", "epoll_et", "io_uring", "reactors", "threads", "pool", "prefork"]


def machine(ncpus):
    """This machine's sweeps.Machine with ncpus usable CPUs."""
    return sweeps.Machine(cpus=ncpus, fds=profiles.machine().fds)


def cores_pts(ncpus, ms=MS, cf=None):
    return sweeps._pts_cores(CORES, ms, cf, machine(ncpus))


def test_no_cores_points_below_4_cpus():
    for n in (1, 2, 3):
        assert cores_pts(n) == []
        assert "fewer than 4 CPUs" in sweeps.cores_skip_reason(n)
    assert sweeps.cores_skip_reason(4) is None


def test_cores_points_s_values_and_models():
    for n, want in ((4, [1, 2]), (6, [1, 2, 3]), (16, [1, 2, 4, 8]), (64, [1, 2, 4, 8, 16, 32])):
        pts = cores_pts(n)
        assert sorted({p["x"] for p in pts}) == want
        assert all(p["server_cpus"] == str(p["x"]) for p in pts)
        # only the models that can use several CPUs; epoll_lt is not one
        assert {p["model"] for p in pts} == {"epoll_et", "io_uring", "reactors", "threads",
                                             "pool", "prefork"}
        assert len(pts) == 6 * len(want) * 2
        assert {p["series"] for p in pts} == {"active1000", "active10000"}


def test_reuseport_models_run_one_process_per_cpu():
    for p in cores_pts(16):
        if models.get(p["model"]).cores == "reuseport":
            assert p["server_procs"] == p["x"]
        else:
            assert "server_procs" not in p


def test_conns_filter_keeps_one_series():
    pts = cores_pts(16, cf=[1000])
    assert {p["conns"] for p in pts} == {1000}


def test_build_points_carries_s_and_procs():
    pts, _ = profiles.build_points("quick", ["epoll_et", "reactors"], None, ["cores"], 20000,
                                   mach=machine(16))
    et = [p for p in pts if p.model == "epoll_et" and p.repeat == 1]
    assert sorted(p.server_procs for p in et) == [1, 2, 4, 8]
    assert all(p.server_cpus == str(p.x) for p in pts)
    assert all(p.server_procs == 1 for p in pts if p.model == "reactors")


def pt(**kw):
    d = dict(sweep="active", series="all", x=10, model="epoll_lt", conns=10, active=10, idle=0,
             rate=0, size=64, depth=1, mode="closed", work_us=0, work_every=1, split_every=0,
             server_cpus="0", duration=1.0, warmup=0.25, server_procs=1, client_procs=1,
             src=profiles.SRC_RANGE, server_args=[])
    d.update(kw)
    return Point(**d)


def test_two_cpus_is_todays_plan():
    t = topology.Local(1, usable=(0, 1), nofile=20000)
    p = t.plan(pt())
    assert (p.server, p.client, p.threads, p.procs) == ((0,), (1,), 1, 1)
    assert topology.server_pins(p, pt(), 0) == {0}
    assert topology.server_pins(p, pt(server_cpus="all"), 0) is None
    rec = t.record(pt())
    assert rec["server_cpus"] == "0" and rec["client_cpus"] == "1" and rec["net"] == "loopback"


def test_sixteen_cpus_one_plus_fifteen():
    t = topology.Local(1, usable=range(16), nofile=20000)
    p = t.plan(pt(conns=1000, active=1000))
    assert p.server == (0,) and p.client == tuple(range(1, 16)) and p.threads == 15


def test_cores_point_plan_and_pins():
    t = topology.Local(1, usable=range(16), nofile=20000)
    q = pt(sweep="cores", server_cpus="4", server_procs=4, conns=1000, active=1000)
    p = t.plan(q)
    assert p.server == (0, 1, 2, 3) and p.client == tuple(range(4, 16))
    # one --reuseport process per server CPU, each on its own
    assert [topology.server_pins(p, q, i) for i in range(4)] == [{0}, {1}, {2}, {3}]
    # a threaded model gets the S CPUs together
    assert topology.server_pins(p, q.again(server_procs=1), 0) == {0, 1, 2, 3}


def test_set_flag_and_share():
    a = ["lg", "--procs", "2", "--conns", "10", "--json"]
    assert topology.set_flag(a, "--procs") == ["lg", "--conns", "10", "--json"]
    assert topology.set_flag(a, "--conns", 5) == ["lg", "--procs", "2", "--json", "--conns", "5"]
    assert [topology.share(10, 3, i) for i in range(3)] == [4, 3, 3]
    assert sum(topology.share(10001, 7, i) for i in range(7)) == 10001


def test_bad_net_and_hosts_without_clients():
    import pytest
    with pytest.raises(topology.TopologyError, match="NET: 'wifi'"):
        topology.Local(1, net="wifi", usable=(0, 1))
    with pytest.raises(topology.TopologyError, match="go together"):
        topology.make(server_host="u@h", client_hosts=None)
    with pytest.raises(cpuplan.PlanError, match="SERVER_CPUS=2: only 2 usable"):
        topology.Local(2, usable=(0, 1))
