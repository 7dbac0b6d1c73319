"""harness/records.py: the point record, checked both ways."""
import glob
import json
import os

import pytest

import profiles
from conftest import ROOT
from figures import FIGURES
from records import Point, Record


def a_point():
    return profiles.build_points("quick", ["epoll_lt"], None, ["active"], 20000)[0][0]


def a_record(**kw):
    d = dict(seq=1, time="2026-01-01T00:00:00", point=a_point(), status="ok", reason="",
             derived={"msgs_per_s": 1000.0, "cpu_us_per_echo": 5.5, "client_saturated": False},
             client={"echoes": 10}, server_stats={"syscalls": {"total": 3}}, wall_s=1.5)
    d.update(kw)
    return Record(**d)


def test_round_trip():
    r = a_record()
    back = Record.from_dict(json.loads(r.to_json()))
    assert back == r and isinstance(back.point, Point)
    assert back["point"]["model"] == "epoll_lt" and back.get("nosuch", 7) == 7


def test_skipped_record_needs_only_the_basics():
    r = Record.from_dict(dict(seq=2, time="t", point=a_point().to_dict(), status="skipped",
                              reason="why"))
    assert r.derived == {} and r.client is None


@pytest.mark.parametrize("change,msg", [
    (dict(status="weird"), "status 'weird'"),
    (dict(derived={"msgs_per_sec": 1.0}), "unknown figure(s) msgs_per_sec"),
    (dict(extra_field=1), "unknown field(s) extra_field"),
    (dict(seq="one"), "field seq is str, not int"),
    (dict(point=dict(a_point().to_dict(), conns=True)), "point: field conns is bool"),
])
def test_bad_records_are_refused_by_name(change, msg):
    d = json.loads(a_record().to_json())
    d.update(change)
    with pytest.raises(ValueError) as e:
        Record.from_dict(d)
    assert msg in str(e.value)


def test_missing_field_is_named():
    d = a_point().to_dict()
    del d["conns"]
    with pytest.raises(ValueError, match="missing field conns"):
        Point.from_dict(d)


def test_point_key_ignores_the_repeat():
    p = a_point()
    assert p.key() == p.again(repeat=2).key() and p.key() != p.again(rate=5).key()


def test_committed_runs_read_back():
    runs = glob.glob(os.path.join(ROOT, "results", "*", "points.jsonl"))
    for path in runs:
        with open(path) as f:
            for ln in f:
                Record.from_dict(json.loads(ln))


def test_the_runner_figures_are_declared():
    import runner
    pt = a_point()
    rec = dict(client={"echoes": 100, "echoes_per_s": 100.0, "latency_us": {"p50": 1},
                       "duration_s": 1.0, "client_cpu_s": {"user": 0.1}},
               server_stats={"syscalls": {"total": 300}, "bytes_out": 6400},
               proc={})
    assert set(runner.derive(pt, rec)) <= set(FIGURES)
