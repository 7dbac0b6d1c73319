"""The open loop's account of itself through the harness (issue 23): loadgen's
lateness, send-process verdict and CPU reach Record.derived (runner.derive),
fold into points.csv (gen_limited: any run), merge across generator hosts
(merge.merge_clients), mark REPORT.md's latencies (report.GEN_MARK, checked by
tests/lib/reportcheck.py) and give the rate sweep's generator table
(report.rate_generator), with the pacing's cost against the closed-loop probe
(capacity.run_point: gen_cpu_x_closed)."""
import capacity
import fold
import merge
import report
import runner
from test_records import a_point, a_record


def open_client(verdict="ok", reasons=(), late_p99=12.0, echoes=1000, cpu=0.02):
    return {"echoes": echoes, "echoes_per_s": 1000.0, "duration_s": 1.0,
            "latency_us": {"p50": 50, "p99": 90}, "client_cpu_s": {"user": cpu / 2, "sys": cpu / 2},
            "lateness_us": {"p50": 3.5, "p99": late_p99, "max": 40.0, "count": echoes},
            "server_latency_us": {"p50": 46, "p99": 80},
            "send_process": {"w1_gaps": 0.04, "verdict": verdict, "reasons": list(reasons)}}


def test_derive_reads_the_generator_side():
    d = runner.derive(a_point().again(rate=1000), dict(client=open_client(), proc={}))
    assert (d["late_p50_us"], d["late_p99_us"], d["late_max_us"]) == (3.5, 12.0, 40.0)
    assert (d["server_p50_us"], d["server_p99_us"], d["send_w1"]) == (46, 80, 0.04)
    assert d["client_cpu_us_per_echo"] == 20.0 and d["gen_limited"] is False
    g = runner.derive(a_point().again(rate=1000),
                      dict(client=open_client("generator", ["late"]), proc={}))
    assert g["gen_limited"] is True
    # too few sends to judge ("unknown"), and the closed loop: no verdict at all
    u = runner.derive(a_point().again(rate=1000), dict(client=open_client("unknown"), proc={}))
    closed = dict(open_client(), send_process=None, lateness_us=None)
    assert "gen_limited" not in u
    assert "gen_limited" not in runner.derive(a_point(), dict(client=closed, proc={}))


def test_gen_limited_folds_as_any_run():
    def r(flag, rep):
        return a_record(point=a_point().again(rate=1000, repeat=rep),
                        derived={"msgs_per_s": 1000.0, "gen_limited": flag})
    assert fold.fold([r(False, 1), r(True, 2), r(False, 3)])["gen_limited"] == 1
    assert fold.fold([r(False, 1), r(False, 2)])["gen_limited"] == 0
    assert fold.fold([a_record(derived={"msgs_per_s": 1.0})])["gen_limited"] is None
    assert "gen_limited" in fold.COLUMNS and "late_p99_us" in fold.COLUMNS


def test_merged_generators_are_the_generator_s_when_any_one_is():
    a, b = open_client(), open_client("generator", ["arrivals"])
    b["send_process"]["w1_gaps"] = 0.4
    m = merge.merge_clients({"h1": a, "h2": b})
    assert m["send_process"]["verdict"] == "generator"
    assert m["send_process"]["reasons"] == ["arrivals"] and m["send_process"]["w1_gaps"] == 0.4
    assert merge.merge_clients({"h1": a, "h2": open_client()})["send_process"]["verdict"] == "ok"
    assert merge.merge_clients({"h1": a})["lateness_us"] == a["lateness_us"]


def test_a_generator_limited_latency_is_marked_and_nothing_else():
    row = dict(status="ok", p99_us=120.0, light_p99_us=90.0, cpu_us_per_echo=20.0,
               msgs_per_s=1000.0, late_p99_us=30.0, gen_limited=1)
    assert report._cell(row, "p99_us").endswith(report.GEN_MARK)
    assert report._cell(row, "light_p99_us").endswith(report.GEN_MARK)
    for col in ("cpu_us_per_echo", "msgs_per_s", "late_p99_us"):
        assert report.GEN_MARK not in report._cell(row, col), col
    for flag in (0, "0", None, ""):         # points.csv's empty or 0, as read back
        assert report.GEN_MARK not in report._cell(dict(row, gen_limited=flag), "p99_us")


def test_the_pacing_cost_is_against_the_closed_loop_probe(monkeypatch):
    calls = []

    def fake_run_point(pt, *a, **kw):
        calls.append(pt.mode)
        per_echo = 8.0 if pt.mode == "closed" else 20.0
        return dict(status="ok", derived={"msgs_per_s": 50000.0,
                                          "client_cpu_us_per_echo": per_echo})
    monkeypatch.setattr(runner, "run_point", fake_run_point)
    pt = a_point().again(sweep="rate", x=10, rate=10, mode="open", duration=0.5)
    m = capacity.run_point(pt, "bin", [0])
    assert calls == ["closed", "open"]
    assert m["derived"]["gen_cpu_x_closed"] == 2.5
    assert m["proc"]["capacity"]["client_cpu_us_per_echo"] == 8.0


def test_the_rate_generator_table_says_how_many_are_within_target():
    def row(m, x, xc, gen=0):
        return dict(sweep="rate", series="idle0", model=m, x=x, status="ok", gen_limited=gen,
                    client_cpu_us_per_echo=xc * 8, gen_cpu_x_closed=xc, late_p50_us=3.0,
                    late_p99_us=30.0, send_w1=0.05)
    rows = [row("epoll_et", 10, 2.0), row("epoll_et", 50, 1.5), row("poll", 10, 3.0, gen=1)]
    text = "\n".join(report.rate_generator(rows))
    assert "| poll | 10% | 24.0 | 3.00 |" in text and "| yes |" in text
    assert "2.00x (epoll_et, 10%)" in text and "3.00x (poll, 10%)" in text
    assert f"within {report.GEN_X_CLOSED_TARGET:g}x for 1 of 2" in text
