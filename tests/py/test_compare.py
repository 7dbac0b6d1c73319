"""harness/compare.py: two tiny fake runs matched, compared, written; refusals.

Run: /usr/bin/python3 -m pytest -q tests/py/test_compare.py
"""

import csv
import json
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "harness"))
import compare  # noqa: E402

CTX = {"host": "vm", "kernel": "6.18.44", "cpu_model": "AMD EPYC", "cores": 2,
       "git_commit": "a" * 40, "git_dirty": False, "profile": "default",
       "settings": {"duration": 1.0, "repeats": 3}, "limits": {"nofile_hard": 20000},
       "binaries": {"epoll_et": "x1", "io_uring": "y1"}}


def rec(seq, sweep, x, model, status="ok", **derived):
    """A whole record, as the runner writes it (every field of a point)."""
    pt = dict(sweep=sweep, series="all", x=x, model=model, conns=x, active=x, idle=0, rate=0,
              size=64, depth=1, mode="closed", work_us=0, work_every=1, split_every=0,
              server_cpus="0", duration=1.0, warmup=0.25, server_procs=1, client_procs=1,
              src="", server_args=[], repeat=1, repeats=3)
    return dict(seq=seq, time="2026-11-27T04:44:50", point=pt, status=status,
                derived=derived if status == "ok" else {},
                reason="" if status == "ok" else "server died")


def write_run(d, ctx, recs):
    os.makedirs(d)
    with open(os.path.join(d, "context.json"), "w") as f:
        json.dump(ctx, f)
    with open(os.path.join(d, "points.jsonl"), "w") as f:
        for r in recs:
            f.write(json.dumps(r) + "\n")
    return str(d)


def run_a(tmp_path):
    recs = []
    for i, (m, tput, p99) in enumerate([("epoll_et", v, 300 + v / 1e4) for v in (180e3, 182e3, 184e3)]
                                       + [("io_uring", v, 310) for v in (181e3, 183e3, 185e3)]):
        recs.append(rec(i, "active", 1000, m, msgs_per_s=tput, p99_us=p99))
    recs += [rec(10, "active", 10, "epoll_et", msgs_per_s=1e5), rec(11, "idle", 500, "epoll_et",
                                                                    msgs_per_s=1e5)]
    return write_run(tmp_path / "A", CTX, recs)


def run_b(tmp_path):
    recs = []
    for i, (m, tput, p99) in enumerate([("epoll_et", v, 305) for v in (181e3, 183e3, 182e3)]
                                       + [("io_uring", v, 310) for v in (200e3, 202e3, 204e3)]):
        recs.append(rec(i, "active", 1000, m, msgs_per_s=tput, p99_us=p99))
    recs += [rec(10, "active", 10, "epoll_et", "failed"), rec(12, "churn", 10, "epoll_et",
                                                             conns_per_s=9e3)]
    ctx = dict(CTX, kernel="6.19.0", binaries={"epoll_et": "x1", "io_uring": "y2"})
    return write_run(tmp_path / "B", ctx, recs)


def test_match_and_verdicts(tmp_path):
    out = tmp_path / "out"
    d, rows = compare.compare(run_a(tmp_path), run_b(tmp_path), str(out))
    by = {(r["sweep"], r["x"], r["model"]): r for r in rows}
    assert set(by) == {("active", 1000, "epoll_et"), ("active", 1000, "io_uring"),
                       ("active", 10, "epoll_et")}
    io = by[("active", 1000, "io_uring")]
    assert io["msgs_per_s_verdict"] == "better"                  # 183k -> 202k, tight repeats
    assert io["msgs_per_s_ratio"] == pytest.approx(202 / 183)
    assert io["msgs_per_s_ratio_lo"] < 202 / 183 < io["msgs_per_s_ratio_hi"]
    assert io["p99_us_verdict"] == "within noise" and io["p99_us_ratio"] == 1
    assert by[("active", 1000, "epoll_et")]["msgs_per_s_verdict"] == "within noise"
    st = by[("active", 10, "epoll_et")]
    assert (st["status_a"], st["status_b"], st["n_b"]) == ("ok", "failed", 0)
    assert "msgs_per_s_verdict" not in st


def test_files_written(tmp_path):
    out = tmp_path / "out"
    compare.compare(run_a(tmp_path), run_b(tmp_path), str(out))
    with open(out / "compare.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == compare.COLUMNS and len(rows) == 3
    io = next(r for r in rows if r["model"] == "io_uring")
    assert io["msgs_per_s_verdict"] == "better" and float(io["msgs_per_s_b"]) == 202000
    md = (out / "COMPARE.md").read_text()
    assert "3 points measured in both" in md and "1 only in A, 1 only in B" in md
    assert "| kernel | 6.18.44 | 6.19.0 | **differs** |" in md
    assert "| CPU | AMD EPYC | AMD EPYC |  |" in md
    assert "differ: io_uring" in md
    assert "| active | all | 1,000 | io_uring | msgs_per_s | 183,000 | 202,000 | x1.10 [1." in md
    assert "| active | all | 10 | epoll_et | ok | failed |" in md


def test_nothing_in_common_is_one_line(tmp_path, capsys):
    a = write_run(tmp_path / "A", CTX, [rec(1, "active", 10, "epoll_et", msgs_per_s=1.0)])
    b = write_run(tmp_path / "B", CTX, [rec(1, "idle", 10, "epoll_et", msgs_per_s=1.0),
                                        rec(2, "active", 10, "epoll_et", "failed")])
    assert compare.main([a, b, "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nothing in common" in err
    assert not (tmp_path / "out").exists()


def test_not_a_run_folder(tmp_path, capsys):
    assert compare.main([str(tmp_path), str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no points.jsonl" in err


REF = os.path.join(ROOT, "results", "2026-11-27_044450-vm")


@pytest.mark.skipif(not os.path.isfile(os.path.join(REF, "points.jsonl")),
                    reason="the committed reference run is not here")
def test_reference_run_against_itself(tmp_path):
    d, rows = compare.compare(REF, REF, str(tmp_path))
    assert len(rows) > 100
    v = [r[k] for r in rows for k in r if k.endswith("_verdict")]
    assert v and set(v) <= {"within noise", "no interval"}
    assert all(r[k] == 1 for r in rows for k in r if k.endswith("_ratio"))
