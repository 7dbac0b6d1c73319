"""The charts (issue 13): small multiples by family, interval columns, the
per-figure row counts plots/lines.gp writes (an empty or all-failed chart is
an error), intervals as bands that never set a panel's scale (one clipped at
the edge has an arrow), and the rate sweep's shares of capacity and knees."""
import csv
import os
import re
import shutil

import pytest

import capacity
import charts
import fold
import models
import profiles
import report
import sweeps
from test_records import a_point, a_record

HAVE_GNUPLOT = shutil.which("gnuplot") is not None


def test_family_vars_put_each_model_in_its_family():
    shown = ["threads", "select", "epoll_et", "io_uring", "pool", "nosuch"]
    v = charts.family_vars(shown)
    fams = [v[f"fam{j}"] for j in range(1, v["nf"] + 1)]
    assert fams == ["threads", "scan", "epoll", "io_uring", "other"]
    idx = [int(x) for x in v["mfam"].split()]
    assert [fams[i - 1] for i in idx] == [models.attr(m, "family", "other") for m in shown]


def test_every_model_looks_different_within_a_panel_and_overall():
    styles = [models.style(models.index(m)) for m in models.names()]
    assert len(set(styles)) == len(styles)
    for f in models.FAMILIES:
        cols = [models.style(models.index(m))[0] for m in models.names(family=f)]
        assert len(set(cols)) == len(cols), f"two {f} models share a colour"


def test_interval_columns_prefer_the_interval():
    lo, hi = charts.interval_cols("msgs_per_s")
    assert (lo, hi) in (("msgs_per_s_lo", "msgs_per_s_hi"), ("msgs_per_s_min", "msgs_per_s_max"))
    assert lo in fold.COLUMNS and hi in fold.COLUMNS
    assert charts.interval_cols("no_such_figure") == ("no_such_figure", "no_such_figure")


def _rows(statuses):
    """CSV rows of the active sweep: two models at three conns each."""
    recs = []
    for m in ("epoll_lt", "select"):
        for i, c in enumerate((10, 100, 1000)):
            st = statuses(m, c)
            recs.append(a_record(seq=len(recs) + 1,
                                 point=a_point().again(model=m, conns=c, active=c, x=c),
                                 status=st, reason="" if st == "ok" else "broken",
                                 derived={"msgs_per_s": 1000.0 * (i + 1), "p50_us": 50.0 + i,
                                          "p99_us": 90.0 + i} if st == "ok" else {}))
    return fold.aggregate(recs)


def _draw(tmp_path, rows, monkeypatch, name="throughput"):
    sw = sweeps.get("active")
    ch = [c for c in sw.charts() if c.name == name][0]
    monkeypatch.setattr(sweeps, "charts", lambda: [(sw, ch)])
    report.write_csv(rows, os.path.join(tmp_path, "points.csv"))
    return charts.plot(str(tmp_path), rows)


@pytest.mark.skipif(not HAVE_GNUPLOT, reason="no gnuplot")
def test_lines_chart_counts_what_it_drew(tmp_path, monkeypatch):
    rows = _rows(lambda m, c: "failed" if (m, c) == ("select", 1000) else "ok")
    made, errors = _draw(tmp_path, rows, monkeypatch)
    assert not errors and sorted(made["throughput"]) == sorted(
        os.path.join(tmp_path, f"throughput.{t}") for t in ("png", "svg"))
    got = charts.chart_rows(os.path.join(tmp_path, "throughput.png.rows"))
    assert got == {(1, "-"): {"epoll_lt": 3, "select": 2}}
    svg = open(os.path.join(tmp_path, "throughput.svg")).read()
    assert "showHypertext" in svg and "select: 2.000k" in svg      # hover: model and value


@pytest.mark.skipif(not HAVE_GNUPLOT, reason="no gnuplot")
def test_an_all_failed_figure_is_an_error(tmp_path, monkeypatch):
    # p50 has rows; p99's figure is forced to a column no row has: nothing drawn.
    rows = _rows(lambda m, c: "ok")
    for r in rows:
        r["p99_us"] = None
    made, errors = _draw(tmp_path, rows, monkeypatch, name="latency")
    assert "latency" not in made
    assert errors == ["latency: no data rows in figure 2 (-) (p50_us, p99_us)"], errors


def _svg_yticks(path):
    """The y tic labels of an SVG chart (right-aligned text), as numbers."""
    svg = open(path).read()
    labels = re.findall(r'text-anchor="end">\s*<text>([^<]*)</text>', svg)
    mult = {"": 1, "k": 1e3, "M": 1e6, "G": 1e9, "m": 1e-3, "u": 1e-6}
    return [float(t[:-1] if t[-1:] in mult and t[-1:] else t) * mult[t[-1:] if t[-1:] in mult else ""]
            for t in labels if t]


def _polygons(path, colour, translucent):
    """SVG polygons filled in a colour ("#RRGGBB"): translucent ones are bands
    and boxes, opaque ones arrowheads (bands.gp)."""
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    fill = rf"<polygon fill = 'rgb\(\s*{r},\s*{g},\s*{b}\)'"
    return len(re.findall(fill + (" fill-opacity" if translucent else " points"),
                          open(path).read()))


@pytest.mark.skipif(not HAVE_GNUPLOT, reason="no gnuplot")
def test_intervals_are_bands_that_never_set_the_scale(tmp_path, monkeypatch):
    """epoll_lt's points have intervals, one of them 300 times its figure;
    select's none. The y scale is the figures' (1k..3k), the wide interval is
    clipped at the top with an arrow, and select has its line alone."""
    rows = _rows(lambda m, c: "ok")
    for r in rows:
        r["msgs_per_s_lo"] = r["msgs_per_s_hi"] = None
        if r["model"] == "epoll_lt":
            r["msgs_per_s_lo"], r["msgs_per_s_hi"] = r["msgs_per_s"] * 0.9, r["msgs_per_s"] * 1.1
            if r["x"] == 100:
                r["msgs_per_s_hi"] = 6e5
    made, errors = _draw(tmp_path, rows, monkeypatch)
    assert not errors
    svg = os.path.join(tmp_path, "throughput.svg")
    ticks = _svg_yticks(svg)
    assert ticks and 3000 < max(ticks) < 5000, ticks          # not 600k
    lt, sel = (models.style(models.index(m))[0] for m in ("epoll_lt", "select"))
    assert _polygons(svg, lt, translucent=True) >= 1           # epoll_lt's band
    assert _polygons(svg, lt, translucent=False) == 1          # one arrow: the clipped end
    assert _polygons(svg, sel, translucent=True) == 0          # select: no interval, no band
    assert _polygons(svg, sel, translucent=False) == 0


@pytest.mark.skipif(not HAVE_GNUPLOT, reason="no gnuplot")
def test_a_point_alone_has_a_box(tmp_path, monkeypatch):
    """select's one measured point (its others failed) cannot have a band: its
    interval is a box."""
    rows = _rows(lambda m, c: "failed" if (m, c) in (("select", 100), ("select", 1000)) else "ok")
    for r in rows:
        if r["status"] == "ok":
            r["msgs_per_s_lo"], r["msgs_per_s_hi"] = r["msgs_per_s"] * 0.9, r["msgs_per_s"] * 1.1
    made, errors = _draw(tmp_path, rows, monkeypatch)
    assert not errors
    sel = models.style(models.index("select"))[0]
    assert _polygons(os.path.join(tmp_path, "throughput.svg"), sel, translucent=True) == 1


def test_boxed_points_are_those_a_band_cannot_join():
    def row(m, x, st="ok", y=1.0, lo=0.9):
        ok = st == "ok"
        return dict(sweep="s", series="a", model=m, x=x, status=st, y=y if ok else None,
                    lo=lo if ok else None, hi=1.1 if ok else None)
    sel = [row("m1", 1), row("m1", 2), row("m1", 3, "failed"), row("m1", 4),     # 4: alone
           row("m2", 5),                                                      # alone
           row("m3", 1), row("m3", 3), row("m3", 2),                          # x falls
           row("m4", 1), row("m4", 2, y=None), row("m4", 3),                  # no figure at 2
           row("m5", 1), row("m5", 2, lo=None), row("m5", 3), row("m5", 4)]   # no interval at 2
    assert charts.boxed(sel, "", "x", "y", "lo", "hi") == {
        "m1": [4], "m2": [5], "m3": [1, 3, 2], "m4": [1, 3], "m5": [1]}
    assert charts.boxed(sel, "b", "x", "y", "lo", "hi") == {}        # another series: none drawn
    assert charts.boxed(sel, "", "x", "y", "lo", "hi", xmin=1) == {
        "m1": [2, 4], "m2": [5], "m3": [3, 2], "m4": [3]}
    assert charts.boxed(sel, "", "x", "y", "y", "y") == {}           # no interval columns
    assert charts.box_words({"m2": [5], "m3": [1, 2.5]}, ["m1", "m2", "m3"]) == ", ,5, ,1,2.5,"


def test_bars_and_dots_draw_the_interval_columns():
    rows = _rows(lambda m, c: "ok")
    for r in rows:
        r["cpu_us_per_echo"], r["user_us_per_echo"] = 5.0, 1.0
    sw = sweeps.get("active")
    cpu = [c for c in sw.charts() if c.name == "cpu"][0]
    v = charts.chart_vars(sw, cpu, rows)
    assert (v["total_lo"], v["total_hi"]) == charts.interval_cols("cpu_us_per_echo")
    assert v["total_lo"] == "cpu_us_per_echo_lo"                  # the interval, not the range


def test_sweep_rows_keeps_one_sweep_in_order(tmp_path):
    src, out = os.path.join(tmp_path, "p.csv"), os.path.join(tmp_path, "s.csv")
    with open(src, "w") as f:
        f.write('sweep,x,reason\nactive,1,\nidle,2,"a, b"\nactive,3,"x\ny"\n')
    charts.sweep_rows(src, "active", out)
    with open(out) as f:
        assert list(csv.reader(f)) == [["sweep", "x", "reason"], ["active", "1", ""],
                                       ["active", "3", "x\ny"]]


def test_empty_figures_reads_the_counts(tmp_path):
    p = os.path.join(tmp_path, "x.png.rows")
    with open(p, "w") as f:
        f.write("1\t-\tepoll_lt\t3\n1\t-\tselect\t0\n2\tidle0\tepoll_lt\t0\n2\tidle0\tselect\t0\n")
    assert charts.empty_figures(p) == ["figure 2 (idle0)"]
    assert charts.empty_figures(os.path.join(tmp_path, "none.rows")) == []


def test_offered_rate_and_duration():
    rate, dur = capacity.offered(50, 200_000, 20.0)
    assert rate == 100_000 and dur == capacity.MIN_S          # 10^5 echoes in 1 s
    rate, dur = capacity.offered(10, 50_000, 20.0)
    assert rate == 5000 and dur == 20.0                       # 10^5 / 5,000 = 20 s
    assert capacity.offered(10, 50_000, 2.0)[1] == 2.0        # capped: a short point


def test_rate_points_are_shares_of_capacity():
    p = dict(active=1000, idle=[0, 10000], shares=[10, 100, 110])
    pts = sweeps.get("rate").points(p, ["epoll_et"], None, profiles.machine())
    assert sorted({q["x"] for q in pts}) == [10, 100, 110]
    assert all(q["rate"] == q["x"] and q["mode"] == "open" for q in pts)
    idle = sorted({q["conns"] - q["active"] for q in pts})
    assert idle == [0, min(10000, profiles.machine().fds - 1000)]


def test_knee_is_the_highest_share_under_the_bound():
    b = report.RATE_KNEE_P99_US
    rows = [dict(sweep="rate", series="idle0", model="epoll_et", x=x, status="ok",
                 p99_us=p99, p999_us=p99 * 2, msgs_per_s=x * 1000.0)
            for x, p99 in ((10, b / 10), (50, b / 2), (90, b * 3), (75, b - 1))]
    rows.append(dict(sweep="rate", series="idle0", model="select", x=10, status="ok",
                     p99_us=b * 2, p999_us=b * 5, msgs_per_s=1.0))
    out = "\n".join(report.rate_knees(rows))
    assert "| epoll_et | 75% | 75,000 |" in out and "| select | - |" in out


def test_capacity_probe_every_run_then_its_share(monkeypatch):
    calls, caps = [], iter([20000.0, 40000.0])

    def fake(pt, bindir, cpus, rt, st, **kw):
        calls.append((pt.mode, pt.rate, pt.duration, kw.get("window")))
        if pt.mode == "closed":
            return dict(status="ok", derived={"msgs_per_s": next(caps)}, client_cmd=["lg"])
        return dict(status="ok", derived={}, client={"echoes": int(pt.rate * pt.duration)})
    monkeypatch.setattr(capacity.runner, "run_point", fake)
    base = a_point().again(sweep="rate", series="idle0", mode="open", duration=6.0)
    m1 = capacity.run_point(base.again(x=50, rate=50), "bin", 2, window="w")
    m2 = capacity.run_point(base.again(x=50, rate=50, repeat=2), "bin", 2, window="w")
    assert [c[0] for c in calls] == ["closed", "open", "closed", "open"]   # a probe a run
    assert calls[0][2] == capacity.MIN_S                              # the probe's length
    assert calls[0][3] is None and calls[1][3] == "w"                 # the probe is not counted
    # 10^5 / rate, capped at the declared duration; each run its own probe's share
    assert calls[1][1:3] == (10000, 6.0) and calls[3][1:3] == (20000, 5.0)
    assert m1["proc"]["capacity"]["msgs_per_s"] == 20000.0
    assert m2["proc"]["offered"] == dict(share=50, rate=20000, duration=5.0)
    assert any(n.startswith("short:") for n in m1["notes"])           # 60,000 < 10^5 echoes
    assert not m2.get("notes")                                        # 100,000 echoes


def test_a_failed_probe_fails_the_point(monkeypatch):
    monkeypatch.setattr(capacity.runner, "run_point",
                        lambda pt, *a, **kw: dict(status="failed", reason="no READY", derived={}))
    m = capacity.run_point(a_point().again(sweep="rate", x=10, rate=10, mode="open"), "bin", 2)
    assert m["status"] == "failed" and "capacity probe failed: no READY" in m["reason"]
