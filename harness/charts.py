"""charts.py - points.csv's rows drawn as the sweeps declare their charts
(harness/sweeps.py): each chart by its kind's gnuplot file (plots/<kind>.gp)
with the models' styles from harness/models.py, as PNG and SVG; a chart
with nothing to draw is left out, one that drew no data row is an error.
A figure's interval (<fig>_lo/_hi, else _min/_max: interval_cols) is drawn
as plots/bands.gp draws them: a band under the line (a box where a band
cannot be drawn: boxed), never setting the scale, clipped at the panel's
edge with an arrow; none where the CSV has no interval.
"""

import csv
import os
import subprocess
import tempfile

import dispatch_report
import models
import sweeps
from fold import COLUMNS, measured

PLOTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "plots")


def chart_vars(sw, ch, rows):
    """gnuplot variables for one chart, or None when it has nothing to draw."""
    # a kind with its own variables (sweeps.Chart.vars), or the generic ones
    v = VARS[ch.vars](sw, ch, rows) if ch.vars else _generic_vars(sw, ch, rows)
    if v is not None and ch.kind in ("lines", "panels", "scaling"):
        sel = [r for r in rows if r["sweep"] == sw.name]
        for k in range(1, v["np"] + 1):         # box<k>: per model, in `models` order
            box = boxed(sel, v[f"series{k}"], v["xcol"], v.get(f"y{k}", v.get("y")),
                        v.get(f"ylo{k}", v.get("ylo")), v.get(f"yhi{k}", v.get("yhi")),
                        v.get("xmin"))
            v[f"box{k}"] = box_words(box, v["models"].split())
    return v


def _generic_vars(sw, ch, rows):
    sel = [r for r in rows if r["sweep"] == sw.name]
    v = dict(sweep=sw.name)
    words = sweeps.title_words(sel)
    if ch.kind == "lines":
        series = sweeps.series_of(sw, sel)
        panels = [p for p in ch.panels if p.series <= len(series)]
        v.update(xcol=ch.x, xlabel=ch.xlabel, logx=ch.logx, np=len(panels))
        for k, p in enumerate(panels, 1):
            ser = series[p.series - 1] if p.series else ""
            y, ylabel = own_instead(p, sel)
            lo, hi = interval_cols(y)
            v.update({f"y{k}": y, f"ylo{k}": lo, f"yhi{k}": hi,
                      f"ylabel{k}": ylabel, f"series{k}": ser,
                      f"ptitle{k}": sw.series_title(ser) if ser else "",
                      f"logy{k}": int(p.logy), f"yfmt{k}": p.yfmt})
        shown = [r for r in sel if not panels[0].series or r["series"] in series[:2]]
    else:
        at = ch.at_pick(sel)          # the x a bars/dots/stack chart shows
        if at is None:
            return None
        words["at"] = at
        shown = [r for r in sel if r[ch.at] == at]
        s = sweeps.series_of(sw, sel)
        s = (s + s)[:2] if s else ["", ""]
        v.update(at_col=ch.at, at_val=at, s1=s[0], s2=s[1])
    v.update(ch.params)
    main = v.get("y1", ch.main_col()) if ch.kind == "lines" and not ch.main else ch.main_col()
    if not any(measured(r) and r.get(main) is not None for r in shown):
        return None
    v["title"] = ch.title.format(**words)
    v["models"] = " ".join(models.order({r["model"] for r in shown}))
    v["fails"] = int(any(r["status"] == "failed" for r in shown))
    if ch.kind == "lines":
        v.update(family_vars(v["models"].split()))
    else:                   # a column the kind draws (total, c1, ...): its interval's columns
        for name, col in ch.params:
            if isinstance(col, str) and col in COLUMNS and interval_cols(col) != (col, col):
                v[f"{name}_lo"], v[f"{name}_hi"] = interval_cols(col)
    return v


def boxed(sel, ser, xcol, y, lo, hi, xmin=None):
    """{model: [x]}: the points of a lines chart's figure whose interval
    (columns lo, hi) is a box, not a band. gnuplot draws a model's rows in
    the CSV's order, and its band breaks at every row it does not draw or
    that has no interval (too few runs: the line goes on alone there). A
    band needs a stretch of two points or more with x rising: a point with
    an interval alone in its stretch, and every point of a stretch whose x
    does not rise (an x that is itself measured, as achieved echoes per
    second), gets a box. sel: the sweep's rows in the CSV's order."""
    if lo == hi:                                # no interval columns
        return {}

    def banded(r):
        return ((not ser or r["series"] == ser) and measured(r) and r.get(y) is not None
                and r.get(xcol) is not None and (xmin is None or r[xcol] > xmin)
                and r.get(lo) is not None and r.get(hi) is not None)
    out, run = {}, []
    for r in sel + [None]:
        if r is not None and banded(r) and (not run or run[-1]["model"] == r["model"]):
            run.append(r)
            continue
        out_of_run(out, run, xcol)
        run = [r] if r is not None and banded(r) else []
    return out


def out_of_run(out, run, xcol):
    """A stretch of points with intervals: all boxed when it cannot be a band."""
    xs = [q[xcol] for q in run]
    if len(xs) == 1 or any(b <= a for a, b in zip(xs, xs[1:])):
        out.setdefault(run[0]["model"], []).extend(xs)


def box_words(box, ms):
    """gnuplot's box<k>: per model of ms, its boxed x values as ",x,x," ("," for none)."""
    return " ".join("," + "".join(f"{x:g}," for x in box.get(m, ())) for m in ms)


def own_instead(p, sel):
    """(column, label) a panel draws: its own, or, when no row has it and the
    panel names the servers' own count (Panel.own), that count, labelled
    with why the kernel's is missing (the rows' syscalls_note)."""
    if not p.own or any(measured(r) and r.get(p.y) is not None for r in sel) \
            or not any(measured(r) and r.get(p.own) is not None for r in sel):
        return p.y, p.ylabel
    why = next((r["syscalls_note"] for r in sel if r.get("syscalls_note")
                and r.get(p.own) is not None), "the kernel's count was not available")
    return p.own, p.own_label.format(why=why)


def scaling_vars(sw, ch, rows):
    """plots/scaling.gp's variables: per series (panel) k, each model's
    first measured point (x0<k>, y0<k>, in `models` order), from which the
    ideal line is drawn (params ideal: linear = y0 x S / S0, flat = y0)."""
    sel = [r for r in rows if r["sweep"] == sw.name]
    par = dict(ch.params)
    y = par["y"]
    ok = [r for r in sel if measured(r) and r.get(y) is not None]
    if not ok:
        return None
    series = sweeps.series_of(sw, sel)[:2]
    ms = models.order({r["model"] for r in sel})
    v = dict(sweep=sw.name, xcol=ch.x, xlabel=ch.xlabel, np=len(series), title=ch.title,
             models=" ".join(ms), fails=int(any(r["status"] == "failed" for r in sel)))
    v.update(par)
    v["ylo"], v["yhi"] = interval_cols(y)
    for k, ser in enumerate(series, 1):
        first = {}
        for r in sorted(ok, key=lambda r: r["x"]):
            if r["series"] == ser:
                first.setdefault(r["model"], (r["x"], r[y]))
        v[f"series{k}"], v[f"ptitle{k}"] = ser, sw.series_title(ser)
        v[f"y{k}"] = y            # (charts.plot's chart checks read figure k's column)


        v[f"series{k}"], v[f"ptitle{k}"], v[f"y{k}"] = ser, sw.series_title(ser), y
        v[f"x0{k}"] = " ".join(f"{first.get(m, (0, 0))[0]:g}" for m in ms)
        v[f"y0{k}"] = " ".join(f"{first.get(m, (0, 0))[1]:g}" for m in ms)
    return v


# The chart kinds with variables of their own, by the name a sweep's Chart gives.
VARS = {"scaling": scaling_vars, "dispatch": dispatch_report.chart_vars}


def interval_cols(col):
    """A figure's interval columns: its interval (<col>_lo/_hi) when the CSV
    has them, else its spread (_min/_max), else the figure itself (no
    interval: the line alone). A row with the columns empty (too few runs)
    has no interval either."""
    for lo, hi in (("_lo", "_hi"), ("_min", "_max")):
        if col + lo in COLUMNS and col + hi in COLUMNS:
            return col + lo, col + hi
    return col, col


def family_vars(shown):
    """The small multiples' panels: the families of the shown models, in the
    registry's order (fam<j>), and each shown model's panel number (mfam)."""
    fams = [f for f in models.FAMILIES if any(models.attr(m, "family", "other") == f
                                              for m in shown)]
    if any(models.attr(m, "family", "other") not in fams for m in shown):
        fams.append("other")
    v = {f"fam{j}": f for j, f in enumerate(fams, 1)}
    v.update(nf=len(fams), mfam=" ".join(str(fams.index(models.attr(m, "family", "other")) + 1)
                                         for m in shown))
    return v


def _gp_str(s):
    return "'" + str(s).replace("'", "''") + "'"


def plot(run_dir, rows):
    """Draw every chart with data as PNG and SVG; returns ({name: files}, errors)."""
    made, errors = {}, []
    csv_path = os.path.join(run_dir, "points.csv")
    with tempfile.TemporaryDirectory(prefix="c10k-plot-") as tmp:
        style = os.path.join(tmp, "style.gp")
        with open(style, "w") as f:
            f.write(models.gnuplot())
        for sw, ch in sweeps.charts():
            v = chart_vars(sw, ch, rows)
            if v is None:
                continue
            empty = [f"figure {k} ({v[f'series{k}'] or '-'})" for k in range(1, v.get("np", 0) + 1)
                     if not _figure_data(v, k, rows)]
            if empty:
                errors.append(f"{ch.name}: no data rows in {', '.join(empty)} "
                              f"({', '.join(v[f'y{k}'] for k in range(1, v['np'] + 1))})")
                continue
            data = os.path.join(tmp, f"{sw.name}.csv")
            if not os.path.isfile(data):
                sweep_rows(csv_path, sw.name, data)
            for term in ("png", "svg"):
                vars_ = dict(csv=data, outdir=run_dir, chart=ch.name, term=term,
                             plotdir=PLOTS, style=style, **v)
                expr = "; ".join(f"{k}={_gp_str(x) if isinstance(x, str) else x}"
                                 for k, x in vars_.items())
                try:
                    r = subprocess.run(["gnuplot", "-e", expr,
                                        os.path.join(PLOTS, f"{ch.kind}.gp")],
                                       capture_output=True, text=True, timeout=60)
                except (OSError, subprocess.TimeoutExpired) as e:
                    errors.append(f"{ch.name}.{term}: {e}")
                    continue
                out = os.path.join(run_dir, f"{ch.name}.{term}")
                if r.returncode != 0 or not os.path.isfile(out):
                    msg = [ln for ln in r.stderr.splitlines()
                           if ln.strip() and "warning" not in ln.lower()]
                    errors.append(f"{ch.name}.{term}: gnuplot: {' / '.join(msg[-3:]) or r.returncode}")
                    continue
                empty = empty_figures(out + ".rows")
                if empty:
                    errors.append(f"{ch.name}.{term}: drew no data rows in {', '.join(empty)}")
                    continue
                made.setdefault(ch.name, []).append(out)
    return made, errors


def sweep_rows(csv_path, sweep, out):
    """points.csv's header and one sweep's rows, in their order: what a chart
    of that sweep reads (gnuplot walks every row once per model and layer)."""
    with open(csv_path, newline="") as f, open(out, "w", newline="") as g:
        r, w = csv.reader(f), csv.writer(g, lineterminator="\n")
        head = next(r)
        w.writerow(head)
        col = head.index("sweep")
        w.writerows(row for row in r if row[col] == sweep)


def _figure_data(v, k, rows):
    """Whether a lines chart's figure k has a point to draw in the CSV rows."""
    return any(r["sweep"] == v["sweep"] and (not v[f"series{k}"] or r["series"] == v[f"series{k}"])
               and measured(r) and r.get(v[f"y{k}"]) is not None for r in rows)


def chart_rows(path):
    """What a lines chart drew (plots/lines.gp writes <chart>.<term>.rows):
    {(figure, series): {model: data rows}}; {} when the file is missing."""
    out = {}
    try:
        with open(path) as f:
            for ln in f:
                k, ser, m, n = ln.rstrip("\n").split("\t")
                out.setdefault((int(k), ser), {})[m] = int(n)
    except (OSError, ValueError):
        return {}
    return out


def empty_figures(path):
    """The figures of a chart that drew nothing ("figure k (series)"): an
    empty or all-failed chart. [] for a chart kind that writes no .rows."""
    return [f"figure {k} ({ser})" for (k, ser), per in sorted(chart_rows(path).items())
            if not sum(per.values())]
