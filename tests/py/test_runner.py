"""harness/runner.py's pure parts for the gate's fixed-work points (pt.count):
loadgen's flags, and the judging of a run short of its echoes."""
import runner
from test_records import a_point


def test_fixed_work_flags():
    timed = a_point()
    assert "--count" not in runner.loadgen_args(timed, "bin", 1234)
    fixed = timed.again(count=500, conns=1, active=1)
    a = runner.loadgen_args(fixed, "bin", 1234, loadgen="/x/loadgen")
    assert a[0] == "/x/loadgen" and a[a.index("--count") + 1] == "500"
    assert runner.loadgen_args(timed, "bin", 1)[0] == "bin/loadgen"
    # a timed point primes every connection; fixed work and churn do not
    assert "--prime" in runner.loadgen_args(timed, "bin", 1)
    assert "--prime" not in a
    assert "--prime" not in runner.loadgen_args(timed.again(mode="churn"), "bin", 1)


def judged(pt, client, code=0):
    rec = dict(reasons=[])
    runner.judge_client(pt, client, code, rec)
    return rec["reasons"]


def test_a_fixed_work_run_short_of_its_echoes_fails():
    fixed = a_point().again(count=500, conns=2, active=2)
    assert judged(fixed, dict(echoes=1000, connected=2)) == []
    assert judged(fixed, dict(echoes=999, connected=2)) == ["999 of 1000 echoes"]
    # a timed point's echoes are whatever it managed
    assert judged(a_point().again(conns=2, active=2), dict(echoes=999, connected=2)) == []


def test_prefix_wraps_and_signals_the_server_itself():
    w = runner.Prefix(["valgrind", "--tool=callgrind"], skip_prefix="==")
    assert w.argv(["bin/echo_poll", "--port", "0"]) == ["valgrind", "--tool=callgrind",
                                                        "bin/echo_poll", "--port", "0"]
    assert w.target(4242) == 4242 and w.skip_prefix == "=="
