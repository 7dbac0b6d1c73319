"""harness/fold.py and report.py: folding repeats into CSV rows, the rows sweeps lend each
other, the tables, reading points.jsonl."""
import json

import fold
import records
import report
from test_records import a_point, a_record


def rec(status, msgs=None, **pt):
    p = a_point().again(**pt)
    d = {"msgs_per_s": msgs} if msgs is not None else {}
    return a_record(point=p, status=status, derived=d,
                    reason="" if status == "ok" else f"{status} because")


def test_fold_median_and_spread():
    row = fold.fold([rec("ok", 100.0), rec("ok", 300.0, repeat=2), rec("ok", 200.0, repeat=3)])
    assert (row["msgs_per_s"], row["msgs_per_s_min"], row["msgs_per_s_max"]) == (200.0, 100.0, 300.0)
    assert row["status"] == "ok" and (row["n_ok"], row["n_runs"]) == (3, 3)
    assert row["style"] == fold.style_of("epoll_lt")


def test_fold_status_and_reasons():
    part = fold.fold([rec("ok", 100.0), rec("failed", repeat=2)])
    assert part["status"] == "partial" and part["msgs_per_s"] == 100.0
    assert part["reason"] == "failed because"
    assert fold.fold([rec("failed"), rec("skipped", repeat=2)])["status"] == "failed"
    sk = fold.fold([rec("skipped")])
    assert sk["status"] == "skipped" and sk["msgs_per_s"] is None


def test_failed_repeats_never_enter_the_median():
    bad = rec("failed")
    bad.derived["msgs_per_s"] = 1e9
    assert fold.fold([rec("ok", 10.0), bad])["msgs_per_s_max"] == 10.0


def test_aggregate_groups_by_point_and_lends_idle_zero():
    recs = [rec("ok", 100.0, conns=100, active=100, x=100),
            rec("ok", 300.0, conns=100, active=100, x=100, repeat=2),
            rec("ok", 50.0, sweep="idle", series="active100", conns=1100, active=100,
                idle=1000, x=1000)]
    rows = fold.aggregate(recs)
    assert [(r["sweep"], r["x"]) for r in rows] == [("active", 100), ("idle", 0), ("idle", 1000)]
    assert rows[1]["msgs_per_s"] == 200.0 and rows[1]["series"] == "active100"


def test_pivot_cells():
    ten = dict(conns=10, active=10, x=10)
    rows = fold.aggregate([rec("ok", 1234.0, **ten), rec("failed", conns=1000, active=1000, x=1000),
                             rec("ok", 5.5, model="poll", **ten)])
    t = report.pivot([r for r in rows if r["sweep"] == "active"], "msgs_per_s", "conns")
    assert t.splitlines() == ["| model \\ conns | 10 | 1,000 |", "|---|---:|---:|",
                              "| poll | 5.50 |  |", "| epoll_lt | 1,234 | FAIL |"]


def test_load_records_skips_torn_and_invalid_lines(tmp_path, capsys):
    good = a_record().to_json()
    bad = json.loads(good)
    bad["status"] = "weird"
    (tmp_path / "points.jsonl").write_text(good + "\n" + json.dumps(bad) + "\n" + good[:40])
    recs = records.load(str(tmp_path))
    assert len(recs) == 1
    err = capsys.readouterr().err
    assert "line 2" in err and "status 'weird'" in err and "line 3" in err and "torn" in err


def test_the_convergence_table_names_what_each_point_is_judged_on():
    row = dict(sweep="active", rate=0)
    assert report._judged(row) == ["msgs_per_s", "cpu_us_per_echo"]
    assert report._judged(dict(row, sweep="rate", rate=10)) == ["p50_us"]
    assert report._judged(dict(row, sweep="heavy", rate=1000)) == ["p50_us"]
    assert report._judged(dict(row, sweep="churn")) == ["conns_per_s", "cpu_us_per_echo"]
    assert report._judged(dict(row, sweep="dispatch")) == ["ns_per_event"]
