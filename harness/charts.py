"""charts.py - points.csv's rows drawn as the sweeps declare their charts
(harness/sweeps.py): each chart by its kind's gnuplot file (plots/<kind>.gp)
with the models' styles from harness/models.py, as PNG and SVG; a chart
with nothing to draw is left out, one that drew no data row is an error.
"""

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
    if ch.vars:                   # a kind with its own variables (sweeps.Chart.vars)
        return VARS[ch.vars](sw, ch, rows)
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
    return v


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
    for k, ser in enumerate(series, 1):
        first = {}
        for r in sorted(ok, key=lambda r: r["x"]):
            if r["series"] == ser:
                first.setdefault(r["model"], (r["x"], r[y]))
        v[f"series{k}"], v[f"ptitle{k}"], v[f"y{k}"] = ser, sw.series_title(ser), y
        v[f"x0{k}"] = " ".join(f"{first.get(m, (0, 0))[0]:g}" for m in ms)
        v[f"y0{k}"] = " ".join(f"{first.get(m, (0, 0))[1]:g}" for m in ms)
    return v


# The chart kinds with variables of their own, by the name a sweep's Chart gives.
VARS = {"scaling": scaling_vars, "dispatch": dispatch_report.chart_vars}


def interval_cols(col):
    """A figure's error-bar columns: its interval (<col>_lo/_hi) when the CSV
    has one, else its spread (_min/_max), else the figure itself (no bar)."""
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
            for term in ("png", "svg"):
                vars_ = dict(csv=csv_path, outdir=run_dir, chart=ch.name, term=term,
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
