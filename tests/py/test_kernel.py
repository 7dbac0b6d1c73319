"""harness/kernel.py, kbench.py, kernel_report.py: the kernel's count and
profile wired into the harness:
figures by call name, the self-count cross-check (never for library rows),
empty columns with the reason, which points get a profile, the REPORT
sections, the gate's naming of the grown calls, and the stack chart kind."""
import os
import shutil

import pytest

import charts
import figures
import fold
import gate
import kbench
import kernel
import kernel_report
import models
import records
import report
import sweeps

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def pt(**kw):
    base = dict(sweep="active", series="all", x=1000, model="epoll_lt", conns=1000, active=1000,
                idle=0, rate=0, size=64, depth=1, mode="closed", work_us=0, work_every=0,
                split_every=0, server_cpus="0", duration=1.0, warmup=0.5, server_procs=1,
                client_procs=1, src="", server_args=[], repeat=1, repeats=1)
    base.update(kw)
    return records.Point(**base)


KRES = dict(total=3000, by_name={"read": 1000, "sendto": 1000, "epoll_wait": 900, "getdents64": 50,
                                 "other": 50}, tool="perf", why_empty=None)
STATS = dict(bytes_out=64 * 2000, syscalls=dict(total=6000, read=2000, write=2000, wait=2000))


def test_figures_by_name_kernel_total_and_self_count():
    rec = dict(kernel=kernel.kernel_record(KRES, 1000, STATS), server_stats=STATS)
    d = kernel.derive(pt(), rec)
    assert d["syscalls_per_echo"] == 3.0                    # the kernel's, not the server's
    assert d["sc_read"] == 1.0 and d["sc_sendto"] == 1.0 and d["sc_epoll_wait"] == 0.9
    assert d["sc_other"] == 0.1 and d["sc_write"] == 0.0     # unnamed calls fold into other
    assert d["self_syscalls_per_echo"] == 3.0               # 6000 calls / 2000 echoes, whole run
    assert set(d) <= set(figures.FIGURES)                   # every figure is declared
    assert all(figures.col(n) in fold.COLUMNS for n in figures.CALLS)


def test_library_row_has_no_self_count_and_names_what_it_misses():
    stats = dict(bytes_out=64 * 1000, syscalls=dict(total=1000, read=0, write=0, wait=1000))
    k = kernel.kernel_record(dict(total=4000, by_name={"read": 1000, "write": 1000,
                                                       "epoll_wait": 1000, "epoll_ctl": 1000},
                                  tool="perf"), 1000, stats)
    d = kernel.derive(pt(model="libuv"), dict(kernel=k, server_stats=stats))
    assert "self_syscalls_per_echo" not in d and d["syscalls_per_echo"] == 4.0
    assert set(k["uncounted_by_server"]) == {"read", "write", "epoll_ctl"}


def test_empty_count_gives_empty_columns_and_the_reason():
    w = kernel.Window(count=False, why_off="perf cannot count here: perf installed: no")
    out = w.finish(dict(client=dict(echoes=10), server_stats=STATS))
    assert out["kernel"]["per_echo"] is None and "perf installed" in out["kernel"]["why_empty"]
    d = kernel.derive(pt(), dict(out, server_stats=STATS))
    assert "syscalls_per_echo" not in d and "sc_read" not in d
    r = records.Record(seq=1, time="t", point=pt(), status="ok", reason="", derived=d, **out)
    assert fold.note_of([r]) == out["kernel"]["why_empty"]
    assert fold.fold([r])["syscalls_note"] == out["kernel"]["why_empty"]


def test_no_window_no_kernel_record():
    w = kernel.Window(count=False)
    assert w.finish(dict(client=None)) == {}


def test_profile_points():
    assert kbench.parse_profile_points("default") == [("active", 1000), ("idle", "max")]
    assert kbench.parse_profile_points("none") == []
    with pytest.raises(ValueError, match="idle:lots"):
        kbench.parse_profile_points("idle:lots")
    pts = [pt(conns=c, x=c, active=c) for c in (10, 900, 5000)] + \
          [pt(sweep="idle", conns=c, active=100, x=c - 100) for c in (1000, 19000)] + \
          [pt(sweep="rate", conns=1000, rate=10000)]
    t = kbench.profile_targets(pts, kbench.parse_profile_points("default"))
    assert t == {("active", 900), ("idle", 19000)}
    assert kbench.wants_profile(pts[1], t) and not kbench.wants_profile(pts[0], t)
    assert not kbench.wants_profile(pts[1].again(repeat=2), t)


PROF = dict(why_empty=None, samples=100, ns=10 ** 6, echoes=100, ns_per_echo=10000.0,
            categories={"wait": dict(share=0.5, ns_per_echo=5000.0),
                        "tcp": dict(share=0.3, ns_per_echo=3000.0),
                        "user": dict(share=0.1, ns_per_echo=1000.0),
                        "other": dict(share=0.1, ns_per_echo=1000.0)},
            top_kernel=[dict(function="sock_poll", samples=40, share=0.4, ns_per_echo=4000.0)],
            top_user=[dict(function="main", samples=5, share=0.05, ns_per_echo=500.0)])


def test_report_sections_calls_by_name_and_where_the_time_goes():
    k = kernel.kernel_record(KRES, 1000, STATS)
    recs = []
    for i, m in enumerate(("poll", "epoll_lt"), 1):
        d = kernel.derive(pt(model=m), dict(kernel=k, server_stats=STATS, profile=PROF))
        recs.append(records.Record(seq=i, time="t", point=pt(model=m), status="ok", reason="",
                                   derived=d, kernel=k, profile=PROF))
    rows = fold.aggregate(recs)
    assert rows[0]["prof_wait"] == 0.5
    ctx = dict(kcount=dict(usable=True, overhead=dict(model="epoll_lt", sweep="active",
                                                     conns=1000, plain=[100.0, 110.0],
                                                     counted=[90.0, 95.0], ratio=92.5 / 105)))
    text = "\n".join(kernel_report.report_lines(ctx, rows, recs, models.order))
    assert "| poll | 3.00 | 1.00 |" in text and "epoll_wait" in text and "getdents64" not in text
    assert "Where an echo's time goes at 1,000 active connections" in text
    assert "`sock_poll` 40%" in text and "| 50% | 30% | 10% | 10% |" in text
    assert "-11.9%" in text                                 # 92.5 against 105 echoes/s
    text = "\n".join(kernel_report.report_lines(dict(kcount=dict(usable=False, why="no perf")), rows,
                                         recs[:0], models.order))
    assert "No kernel count in this run (no perf): not measured here" in text
    assert "the servers' own count (the kernel's was not available)" in text


def test_overhead_alternates_plain_and_counted():
    seen = []

    def run(p, on):
        seen.append(on)
        return dict(status="ok", derived=dict(msgs_per_s=80.0 if on else 100.0))
    ov = kbench.overhead(run, pt())
    assert seen == [False, True, False, True] and ov["ratio"] == 0.8


def test_gate_names_the_calls_that_grew():
    def fig(v, by):
        return dict(gate.spread([v] * 3), source=gate.SC_SOURCE, by_name=by, tolerance=0.02)
    base = dict(models=dict(epoll_lt=dict(points=dict(syscalls=True),
                                          syscalls=fig(3.0, {"read": 1.0, "sendto": 1.0,
                                                             "epoll_wait": 1.0}))))
    now = dict(epoll_lt=dict(points=dict(syscalls=True), errors=[], verify_errors=0,
                             syscalls=fig(4.0, {"read": 1.0, "sendto": 1.0, "epoll_wait": 1.0,
                                                "fcntl": 1.0})))
    _, fails, _ = gate.compare(now, base, None, ["epoll_lt"], lambda ms: sorted(ms))
    assert fails == ["epoll_lt: syscalls/echo (fcntl +1.00/echo)"]
    # a baseline of the servers' own counts is not compared with the kernel's
    del base["models"]["epoll_lt"]["syscalls"]["source"]
    rows, fails, notes = gate.compare(now, base, None, ["epoll_lt"], lambda ms: sorted(ms))
    assert not fails and any("make baseline" in n for n in notes)


def test_stack_chart_declared_and_drawn(tmp_path):
    declared = {c.name: c for _, c in sweeps.charts()}
    for name in ("syscalls_by_call", "profile_active", "syscalls_idle", "profile_idle"):
        assert declared[name].kind == "stack"
    if not shutil.which("gnuplot"):
        pytest.skip("gnuplot is not installed")
    k = kernel.kernel_record(KRES, 1000, STATS)
    recs = [records.Record(seq=1, time="t", point=pt(model=m), status="ok", reason="",
                           derived=kernel.derive(pt(model=m), dict(kernel=k, server_stats=STATS)),
                           kernel=k) for m in ("poll", "epoll_lt")]
    rows = fold.aggregate(recs)
    report.write_csv(rows, str(tmp_path / "points.csv"))
    made, errors = charts.plot(str(tmp_path), rows)
    assert "syscalls_by_call" in made and not [e for e in errors if "syscalls_by_call" in e]
    assert os.path.getsize(tmp_path / "syscalls_by_call.png") > 1000


def test_profile_points_name_a_known_sweep():
    with pytest.raises(ValueError, match="'foo' is not a sweep"):
        kbench.parse_profile_points("foo:1000", sweeps.names())
    assert kbench.parse_profile_points("idle:19000", sweeps.names()) == [("idle", 19000)]


def test_measured_runs_carry_no_counter_and_repeat_one_gets_a_counted_run():
    """The measured repeats run with nothing attached (perf's per-call cost
    would move their figures); repeat 1 of an ok point gets a separate, shorter
    counted run whose count and figures are kept, repeat 2 and failed points none."""
    b = kbench.Bench.__new__(kbench.Bench)
    b.usable, b.why = True, None
    assert b.window(pt()) is None
    calls = []

    def run(p, w):
        calls.append((p["duration"], p["warmup"], w.count))
        return dict(status="ok", kernel=kernel.kernel_record(KRES, 1000, STATS))
    m = dict(status="ok", derived=dict(msgs_per_s=1.0), server_stats=STATS)
    b.add_count(pt(), m, run)
    assert calls == [(kbench.COUNT_RUN_S, kbench.COUNT_WARMUP_S, True)]
    assert m["kernel"]["run"]["status"] == "ok" and m["derived"]["syscalls_per_echo"] == 3.0
    assert m["derived"]["msgs_per_s"] == 1.0           # the counted run's throughput is not used
    for p, mm in ((pt(repeat=2), dict(status="ok")), (pt(), dict(status="failed"))):
        b.add_count(p, mm, run)
        assert "kernel" not in mm
    assert len(calls) == 1
    # a JIT runtime's counted run keeps its warm-up (models.py warmup_s)
    b.add_count(pt(model="netty", warmup=2.0), dict(m), run)
    assert calls[-1] == (kbench.COUNT_RUN_S, models.get("netty").warmup_s, True)
    del calls[1:]
    b.usable, b.why = False, "no perf"
    mm = dict(status="ok")
    b.add_count(pt(), mm, run)
    assert "no perf" in mm["kernel"]["why_empty"] and len(calls) == 1


def test_profiles_of_the_cores_sweep_are_one_per_s():
    """--profile-points cores:1000 profiles every S: one file and one table each."""
    a, b = (pt(sweep="cores", x=s, server_cpus=str(s)) for s in (1, 2))
    assert kbench.profile_name(a) == "cores-1000-epoll_lt-S1" != kbench.profile_name(b)
    assert kbench.profile_name(pt()) == "active-1000-epoll_lt"        # SERVER_CPUS: "0"
    recs = [records.Record(seq=i, time="t", point=p, status="ok", reason="", profile=PROF)
            for i, p in enumerate((a, b), 1)]
    text = "\n".join(kernel_report.profile_tables({}, recs, models.order))
    assert "1,000 active connections, S = 1 server CPUs" in text
    assert "1,000 active connections, S = 2 server CPUs" in text
