"""overrides.py (bench.py --set / --server-args) and sentences.py (REPORT.md's
placement sentence, computed from the records)."""
import pytest

import overrides
import profiles
import sentences


def test_set_replaces_one_parameter_keeping_its_type():
    got = overrides.parse_sets(["size.sizes=16,4096", "heavy.duration=0.5", "idle.totals=40"],
                               "quick")
    assert got == {"size": {"sizes": [16, 4096]}, "heavy": {"duration": 0.5},
                   "idle": {"totals": [40]}}


@pytest.mark.parametrize("bad, words", [
    ("size.nope=1", "no parameter 'nope'"), ("nosweep.conns=1", "no sweep 'nosweep'"),
    ("size.sizes=abc", "'abc' is not a number"), ("size", "SWEEP.KEY=VALUE"),
    ("size.sizes=-4", "negative")])
def test_set_refuses_bad_entries_naming_them(bad, words):
    with pytest.raises(overrides.BadOverride) as e:
        overrides.parse_sets([bad], "quick")
    assert words in str(e.value) and bad in str(e.value)


def test_server_args_only_for_the_runs_models():
    assert overrides.parse_server_args(["pool=--workers 3", "pool=--bufsize 4096"],
                                       ["pool"]) == {"pool": ["--workers", "3", "--bufsize", "4096"]}
    with pytest.raises(overrides.BadOverride, match="'zz' is not one of"):
        overrides.parse_server_args(["zz=--x"], ["pool"])


def test_points_carry_the_overrides():
    pts, settings = profiles.build_points(
        "quick", ["epoll_lt", "pool"], sweeps=["size"], nofile=20000,
        overrides=dict(sets={"size": {"sizes": [16, 4096], "active": 10}},
                       server_extra={"pool": ["--workers", "3"]}))
    assert sorted({p["size"] for p in pts}) == [16, 4096]
    assert all(p["conns"] == 10 for p in pts)
    assert all(p["server_args"][-2:] == ["--workers", "3"] for p in pts if p["model"] == "pool")
    assert all("--workers" not in p["server_args"] for p in pts if p["model"] == "epoll_lt")


def rec(sweep, srv, cli="1", net="loopback", status="ok"):
    return dict(status=status, point=dict(sweep=sweep),
                topology=dict(server_cpus=srv, client_cpus=cli, net=net))


def test_placement_from_the_records():
    assert sentences.placement([rec("active", "0"), rec("idle", "0")]) == \
        "Server on CPU 0, generator on CPU 1, loopback (127.0.0.1)."
    s = sentences.placement([rec("active", "0"), rec("heavy", "0-1")])
    assert s == ("Server on CPU 0, generator on CPU 1, loopback (127.0.0.1) (active); "
                 "server on CPUs 0-1, generator on CPU 1, loopback (127.0.0.1) (heavy).")
    assert "veth" in sentences.placement([rec("active", "0-3", "4-7", "veth")])
    # skipped points ran nowhere; records without a placement claim nothing
    assert sentences.placement([rec("active", "5", status="skipped")]) == ""
    assert sentences.placement([dict(status="ok", point=dict(sweep="active"))]) == ""
