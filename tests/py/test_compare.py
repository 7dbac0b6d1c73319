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
import estimate  # noqa: E402
import records  # noqa: E402

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


# 8 runs a point: enough for a median's order-statistic interval (6) and for
# the Mann-Whitney test to reject (4 against 4 and up).
SPREAD = (0.97, 0.985, 0.99, 1.0, 1.0, 1.005, 1.01, 1.03)


def runs(base):
    return [base * f for f in SPREAD]


def run_a(tmp_path):
    recs = []
    for m, tput, p99 in [("epoll_et", runs(180e3), [300.0] * 8),
                         ("io_uring", runs(183e3), [310.0] * 8),
                         ("libev", runs(100e3), runs(400.0))]:
        for t, q in zip(tput, p99):
            recs.append(rec(len(recs), "active", 1000, m, msgs_per_s=t, p99_us=q))
    for v in (1.0e5, 1.01e5, 0.99e5):                         # 3 runs: no interval
        recs.append(rec(len(recs), "active", 100, "epoll_et", msgs_per_s=v))
    recs += [rec(50, "active", 10, "epoll_et", msgs_per_s=1e5), rec(51, "idle", 500, "epoll_et",
                                                                    msgs_per_s=1e5)]
    return write_run(tmp_path / "A", CTX, recs)


def run_b(tmp_path):
    recs = []
    for m, tput, p99 in [("epoll_et", runs(181e3), [300.0] * 8),       # +0.6%: the same
                         ("io_uring", runs(202e3), [310.0] * 8),       # +10%: better
                         ("libev", runs(103e3), runs(412.0))]:         # +3%, separated: same
        for t, q in zip(tput, p99):
            recs.append(rec(len(recs), "active", 1000, m, msgs_per_s=t, p99_us=q))
    for v in (2.0e5, 2.01e5, 1.99e5):                         # twice as fast, but 3 runs
        recs.append(rec(len(recs), "active", 100, "epoll_et", msgs_per_s=v))
    recs += [rec(50, "active", 10, "epoll_et", "failed"), rec(52, "churn", 10, "epoll_et",
                                                             conns_per_s=9e3)]
    ctx = dict(CTX, kernel="6.19.0", binaries={"epoll_et": "x1", "io_uring": "y2"})
    return write_run(tmp_path / "B", ctx, recs)


def test_match_and_verdicts(tmp_path):
    out = tmp_path / "out"
    d, rows = compare.compare(run_a(tmp_path), run_b(tmp_path), str(out))
    by = {(r["sweep"], r["x"], r["model"]): r for r in rows}
    assert set(by) == {("active", 1000, "epoll_et"), ("active", 1000, "io_uring"),
                       ("active", 1000, "libev"), ("active", 100, "epoll_et"),
                       ("active", 10, "epoll_et")}
    io, ep, lv = (by[("active", 1000, m)] for m in ("io_uring", "epoll_et", "libev"))
    few = by[("active", 100, "epoll_et")]
    st = by[("active", 10, "epoll_et")]
    # Every check is evaluated, so a failure names all that broke.
    checks = {
        # the medians (not the means: SPREAD's mean is 0.99875) ...
        "medians": (io["msgs_per_s_a"], io["msgs_per_s_b"]) == (183e3, 202e3),
        # ... each with its order-statistic interval (8 runs: the extremes)
        "median interval": (io["msgs_per_s_a_lo"], io["msgs_per_s_a_hi"])
        == (183e3 * 0.97, 183e3 * 1.03),
        "no median interval under MIN_RUNS": few["msgs_per_s_a_lo"] is None,
        # B/A: the medians' ratio, inside its Hodges-Lehmann interval
        "ratio of the medians": io["msgs_per_s_ratio"] == pytest.approx(202 / 183, rel=1e-12),
        "ratio interval": 1 < io["msgs_per_s_ratio_lo"] < 202 / 183 < io["msgs_per_s_ratio_hi"],
        "10% faster: better": io["msgs_per_s_verdict"] == "better",
        "equal runs: same": io["p99_us_verdict"] == "same" and io["p99_us_ratio"] == 1,
        "0.6% apart: same": ep["msgs_per_s_verdict"] == "same",
        # 3% apart and separated (the interval excludes 1), but under MIN_EFFECT
        "3% faster: same": lv["msgs_per_s_ratio_lo"] > 1 and lv["msgs_per_s_verdict"] == "same",
        "3% slower p99: same": lv["p99_us_ratio_lo"] > 1 and lv["p99_us_verdict"] == "same",
        # 3 runs a side: the test can reject nothing, however far apart
        "3 runs: a ratio": few["msgs_per_s_ratio"] == pytest.approx(2.0),
        "3 runs: no interval": few["msgs_per_s_ratio_lo"] is None
        and few["msgs_per_s_verdict"] == "no interval",
        "status": (st["status_a"], st["status_b"], st["n_b"]) == ("ok", "failed", 0)
        and "msgs_per_s_verdict" not in st,
    }
    assert all(checks.values()), [k for k, ok in checks.items() if not ok]


def test_ratio_is_of_the_medians_not_hodges_lehmann():
    """B/A is what a reader sees (median B / median A); the Hodges-Lehmann
    estimate (the median of every pair's ratio) only places the interval."""
    a = [100.0, 101, 102, 103, 104, 105, 106, 107]
    b = [100.0, 100, 100, 100, 200, 200, 200, 200]
    cells = compare.figure_cells("msgs_per_s", a, b)
    hl = estimate.ratio_ci(a, b).value
    assert hl != pytest.approx(150 / 103.5, rel=0.01)         # the case tells them apart
    assert cells["msgs_per_s_ratio"] == pytest.approx(150 / 103.5, rel=1e-12)


def test_verdict_direction_follows_the_figure(tmp_path):
    # p99 10% lower in B: better; 10% higher: worse (smaller is better)
    a = [rec(i, "active", 1000, "epoll_et", p99_us=v) for i, v in enumerate(runs(300.0))]
    for k, want in ((0.9, "better"), (1.1, "worse")):
        b = [rec(i, "active", 1000, "epoll_et", p99_us=v) for i, v in enumerate(runs(300.0 * k))]
        rows, _, _ = compare.match([records.Record.from_dict(r) for r in a],
                                   [records.Record.from_dict(r) for r in b])
        assert rows[0]["p99_us_verdict"] == want, (k, rows[0])


def test_files_written(tmp_path):
    out = tmp_path / "out"
    compare.compare(run_a(tmp_path), run_b(tmp_path), str(out))
    with open(out / "compare.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == compare.COLUMNS and len(rows) == 5
    io = next(r for r in rows if r["model"] == "io_uring")
    assert io["msgs_per_s_verdict"] == "better" and float(io["msgs_per_s_b"]) == 202000
    few = next(r for r in rows if r["x"] == "100")
    assert few["msgs_per_s_verdict"] == "no interval" and few["msgs_per_s_ratio_lo"] == ""
    md = (out / "COMPARE.md").read_text()
    assert "5 points measured in both" in md and "1 only in A, 1 only in B" in md
    assert "Hodges-Lehmann" in md and "Mann-Whitney" in md and "at least 5%" in md
    assert "Fieller" not in md and "Student" not in md
    assert "| kernel | 6.18.44 | 6.19.0 | **differs** |" in md
    assert "| CPU | AMD EPYC | AMD EPYC |  |" in md
    assert "differ: io_uring" in md
    assert "| figure | points | better | worse | same | no interval |" in md
    assert "| msgs_per_s | 4 | 1 | 0 | 2 | 1 |" in md
    assert "| active | all | 1,000 | io_uring | msgs_per_s | 183,000 | 202,000 | x1.10 [1." in md
    assert "| epoll_et | 100 | x2.00 |" in md                 # a ratio without an interval
    assert "| active | all | 10 | epoll_et | ok | failed |" in md
    assert (out / "throughput-msgs_per_s.png").is_file()


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
    assert v and set(v) <= {"same", "no interval"}
    q = [r[k] for r in rows for k in r if k.endswith("_ratio") and r[k] is not None]
    assert len(q) > 100 and all(x == 1 for x in q)      # (none where A's median is 0)


def test_agreement_counts_overlap_and_the_medians_within_ten_percent():
    def row(a, b, a_lo, a_hi, b_lo, b_hi, fig="msgs_per_s"):
        return {"sweep": "active", "series": "all", "x": 1000, "model": "m",
                f"{fig}_a": a, f"{fig}_b": b, f"{fig}_a_lo": a_lo, f"{fig}_a_hi": a_hi,
                f"{fig}_b_lo": b_lo, f"{fig}_b_hi": b_hi}
    rows = [row(100, 105, 90, 110, 95, 115),        # overlap, 5%: agree
            row(100, 112, 90, 110, 100, 125),       # overlap, 12%: not
            row(100, 103, 95, 100, 101, 106),       # 3% apart but the intervals do not meet
            row(100, 100, None, None, 95, 105),     # no interval in A: not judged
            row(5.0, 5.2, 4.8, 5.3, 5.0, 5.5, fig="cpu_us_per_echo")]
    ag = compare.agreement(rows)
    assert ag["msgs_per_s"][:2] == (1, 3) and ag["cpu_us_per_echo"][:2] == (1, 1)
    assert [r["msgs_per_s_b"] for r in ag["msgs_per_s"][2]] == [112, 103]
    text = "\n".join(compare.agreement_lines(rows))
    assert "| msgs_per_s | 1 | 3 | 33% |" in text and "| cpu_us_per_echo | 1 | 1 | 100% |" in text
