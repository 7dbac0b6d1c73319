"""harness/cpuplan.py against made-up CPU lists: 1, 2, 3, 16 and 64 CPUs,
and masks with gaps."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "harness"))
import cpuplan  # noqa: E402
from cpuplan import PlanError, plan  # noqa: E402
from profiles import per_proc_conns, procs_needed  # noqa: E402
import sweeps  # noqa: E402


def test_one_cpu_is_shared():
    p = plan([0])
    assert p.shared and p.server == (0,) and p.client == (0,)
    assert p.loadgen_flags() == ["--threads", "1"]
    assert "share" in cpuplan.describe(p)
    with pytest.raises(PlanError, match="SERVER_CPUS=2: only 1 usable CPU"):
        plan([0], 2)


def test_two_cpus_is_todays_plan():
    p = plan({0, 1})
    assert (p.server, p.client, p.threads, p.procs, p.shared) == ((0,), (1,), 1, 1, False)
    assert cpuplan.describe(p).startswith("CPU plan: server on CPU 0 (SERVER_CPUS=1), "
                                          "generator on 1 CPU 1 (1 thread x 1 process)")
    with pytest.raises(PlanError, match="use at most 1"):
        plan([0, 1], 2)


def test_three_cpus():
    p = plan(range(3))
    assert p.server == (0,) and p.client == (1, 2) and p.threads == 2
    p = plan(range(3), 2)
    assert p.server == (0, 1) and p.client == (2,) and p.threads == 1
    with pytest.raises(PlanError):
        plan(range(3), 3)


def test_sixteen_cpus_default_is_one_plus_fifteen():
    p = plan(range(16))
    assert p.server == (0,) and p.client == tuple(range(1, 16))
    assert (p.threads, p.procs) == (15, 1)
    assert p.loadgen_flags() == ["--threads", "15"]
    r = p.record()
    assert r["server_cpus"] == "0" and r["client_cpus"] == "1-15" and r["usable_cpus"] == "0-15"
    assert "15 threads x 1 process" in cpuplan.describe(p)
    p = plan(range(16), 4)
    assert p.server == (0, 1, 2, 3) and len(p.client) == 12


def test_sixty_four_cpus():
    p = plan(range(64))
    assert len(p.client) == 63 and (p.threads, p.procs) == (63, 1)
    p = plan(range(64), 32)
    assert p.server == tuple(range(32)) and p.client == tuple(range(32, 64))


def test_more_generator_cpus_than_one_process_takes():
    p = plan(range(130))          # 129 generator CPUs, at most LG_MAX_THREADS per process
    assert p.procs == 3 and p.threads * p.procs >= 129
    assert p.threads <= cpuplan.LG_MAX_THREADS


def test_gaps_in_the_mask():
    p = plan({7, 0, 5, 2})
    assert p.usable == (0, 2, 5, 7) and p.server == (0,) and p.client == (2, 5, 7)
    assert p.record()["client_cpus"] == "2,5,7"
    p = plan({0, 2, 5, 7}, 2)
    assert p.server == (0, 2) and p.client == (5, 7)
    assert "CPUs 0,2" in cpuplan.describe(p)
    p = plan([4, 5, 6, 7, 9])
    assert p.server == (4,) and cpuplan.format_cpulist(p.client) == "5-7,9"


def test_processes_follow_the_descriptor_limit():
    nofile = 20000
    one = per_proc_conns(nofile)
    p = plan(range(16), 1, conns=one, nofile=nofile)
    assert p.procs == 1 and p.threads == 15
    p = plan(range(16), 1, conns=100000, nofile=nofile)
    assert p.procs == procs_needed(100000, nofile) and p.threads * p.procs >= 15
    # each process's share + its threads + loadgen's reserve fit the limit
    assert -(-100000 // p.procs) + p.threads + cpuplan.LG_FD_RESERVE <= nofile
    p = plan(range(16), 1, conns=5000, nofile=1024)
    assert p.procs >= 5
    # a thread needs a connection (loadgen: threads x procs <= conns)
    p = plan(range(16), 1, conns=4)
    assert p.threads * p.procs <= 4
    with pytest.raises(PlanError, match="generator process"):
        plan(range(16), 1, conns=100, nofile=40)


def test_cores_values():
    assert sweeps.cores_values(1) == [] and sweeps.cores_values(3) == []
    assert sweeps.cores_values(4) == [1, 2]
    assert sweeps.cores_values(16) == [1, 2, 4, 8]
    assert sweeps.cores_values(24) == [1, 2, 4, 8, 12]
    assert sweeps.cores_values(64) == [1, 2, 4, 8, 16, 32]
    for n in (4, 6, 16, 24, 64, 128):
        for s in sweeps.cores_values(n):
            plan(range(n), s)     # every S leaves the generator at least S CPUs
            assert n - s >= s


def test_cores_skip_reason():
    for n in (1, 2, 3):
        why = sweeps.cores_skip_reason(n)
        assert why.startswith("skip: fewer than 4 CPUs") and f"({n} usable)" in why
    assert sweeps.cores_skip_reason(4) is None


def test_cpulists_and_bad_input():
    assert cpuplan.parse_cpulist("0-3,5,7-8") == (0, 1, 2, 3, 5, 7, 8)
    assert cpuplan.parse_cpulist("3\n") == (3,)
    assert cpuplan.format_cpulist([8, 0, 1, 2, 3, 5, 7]) == "0-3,5,7-8"
    for bad in ("", "x", "3-1", "1-", "-2"):
        with pytest.raises(PlanError):
            cpuplan.parse_cpulist(bad)
    for bad in ("0", "-1", "two", "1.5", ""):
        with pytest.raises(PlanError, match="SERVER_CPUS"):
            plan(range(4), bad)
    with pytest.raises(PlanError, match="no usable CPU"):
        plan([])


def test_lg_limits_come_from_the_header():
    assert cpuplan.LG_MAX_THREADS == 64 and cpuplan.LG_FD_RESERVE == 32
