"""From a run's points.jsonl to points.csv, the charts and REPORT.md.

points.csv is tidy: one row per point (its repeats folded into the median,
with _min/_max columns for the spread of the main figures: harness/figures.py),
a header row, empty fields where a figure does not exist. Rows are sorted by
sweep, series, model (the registry's order) and x, so each model's line is
contiguous. The charts and the report's sections are the sweeps' own
declarations (harness/sweeps.py); each chart is drawn by its kind's gnuplot
file (plots/<kind>.gp) with the models' styles from harness/models.py.
"""

import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile

import kernel
import models
import sentences
import schedule
import stats
import sweeps
from figures import MEDIAN, SPREAD
from records import Record

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PLOTS = os.path.join(ROOT, "plots")

# The registry's orders (other modules read them from here too).
MODEL_ORDER = models.names()
SWEEP_ORDER = tuple(sweeps.names())
order_models = models.order

KEY_COLS = ["sweep", "series", "model", "style", "x", "conns", "active", "idle", "rate",
            "size", "work_us", "work_every", "server_procs", "client_procs"]
# Each spread figure: the mean of the ok repeats, its 95% Student-t interval
# (_lo/_hi, stats.ci_fields; empty with one repeat) and the range (_min/_max).
# converged: 1/0 whether the schedule's figures' intervals are within the
# run's target (empty with fewer than 2 ok repeats).
COLUMNS = (KEY_COLS + ["status", "n_ok", "n_runs", "converged"]
           + [c for s in SPREAD for c in (s, s + "_lo", s + "_hi", s + "_min", s + "_max")]
           + MEDIAN + ["client_saturated", "syscalls_note", "reason"])


def style_of(model):
    """The model's style number (1-based display position)."""
    return models.index(model) + 1


def load_records(run_dir):
    """Every whole, valid record of points.jsonl (a torn last line, or a line
    that is not a record, is reported on stderr and left out)."""
    recs = []
    path = os.path.join(run_dir, "points.jsonl")
    with open(path) as f:
        for n, ln in enumerate(f, 1):
            ln = ln.strip()
            if not ln:
                continue
            try:
                recs.append(Record.from_dict(json.loads(ln)))
            except ValueError as e:
                why = "a torn line" if isinstance(e, json.JSONDecodeError) else str(e)
                sys.stderr.write(f"report: ignoring line {n} of {path}: {why}\n")
    return recs


def _num_or_none(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def fold(runs, target=stats.TARGET):
    """One CSV row from the repeats of one point: status, means with their
    95% intervals and spread (SPREAD figures), medians (MEDIAN figures), and
    whether the point converged to +-target."""
    pt = runs[0].point
    row = {k: pt[k] for k in KEY_COLS if k != "style"}
    row["style"] = style_of(pt.model)
    ok = [r for r in runs if r.status == "ok"]
    row["n_ok"], row["n_runs"] = len(ok), len(runs)
    if ok and len(ok) == len(runs):
        row["status"] = "ok"
    elif ok:
        row["status"] = "partial"
    elif any(r.status == "failed" for r in runs):
        row["status"] = "failed"
    else:
        row["status"] = "skipped"
    row["reason"] = " | ".join(dict.fromkeys(r.reason or "" for r in runs if r.status != "ok"))
    for col in SPREAD + MEDIAN:
        vals = [v for v in (r.derived.get(col) for r in ok) if _num_or_none(v)]
        row[col] = statistics.median(vals) if vals else None
        if col in SPREAD:
            row.update(stats.ci_fields(col, vals))
            row[col + "_min"] = min(vals) if vals else None
            row[col + "_max"] = max(vals) if vals else None
    figs = schedule.figures_of(pt)
    smp = [schedule.sample(r.derived, figs) for r in ok]
    row["converged"] = (None if len(ok) < 2 else
                        int(all(stats.converged([x[f] for x in smp], target) for f in figs)))
    sat = [r.derived.get("client_saturated") for r in ok]
    row["client_saturated"] = int(any(sat)) if sat else None
    row["syscalls_note"] = kernel.note_of(runs)     # why the kernel's columns are empty
    return row


def group(recs):
    """{point key: [its records]} in the order first seen."""
    groups = {}
    for r in recs:
        groups.setdefault(r.point.key(), []).append(r)
    return groups


def aggregate(recs, target=stats.TARGET):
    """Fold repeats: one row per point, plus the rows sweeps lend each other."""
    rows = [fold(runs, target) for runs in group(recs).values()]
    for sw in sweeps.SWEEPS:
        if sw.extra_rows:
            rows += sw.extra_rows(rows)
    rows.sort(key=lambda r: (SWEEP_ORDER.index(r["sweep"]) if r["sweep"] in SWEEP_ORDER else 99,
                             r["series"], r["style"], r["model"], r["x"], r["rate"], r["work_us"]))
    return rows


def _fmt(v):
    if v is None:
        return ""
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, float):
        return f"{v:.6g}"
    return v


def write_csv(rows, path, columns=None):
    """rows as CSV (report's COLUMNS unless given), written whole or not at all."""
    columns = columns or COLUMNS
    tmp = path + ".tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(columns)
        for r in rows:
            w.writerow([_fmt(r.get(c)) for c in columns])
    os.replace(tmp, path)


# ---- charts ----------------------------------------------------------------

def _ok(r):
    return r["status"] in ("ok", "partial")


def _at(item, sel):
    """The x value an AtTable or a bars/dots chart shows, or None."""
    return item.at_pick(sel)


def _words(sw, sel):
    """What a sweep's titles may name."""
    return dict(work_ms=sweeps.work_ms(sel), active=sweeps.active_of(sel))


def chart_vars(sw, ch, rows):
    """gnuplot variables for one chart, or None when it has nothing to draw."""
    if ch.vars:                   # a kind with its own variables (sweeps.Chart.vars)
        return ch.vars(sw, ch, rows)
    sel = [r for r in rows if r["sweep"] == sw.name]
    v = dict(sweep=sw.name)
    words = _words(sw, sel)
    if ch.kind == "lines":
        series = sweeps.series_of(sw, sel)
        panels = [p for p in ch.panels if p.series <= len(series)]
        v.update(xcol=ch.x, xlabel=ch.xlabel, logx=ch.logx, np=len(panels))
        for k, p in enumerate(panels, 1):
            ser = series[p.series - 1] if p.series else ""
            lo, hi = interval_cols(p.y)
            v.update({f"y{k}": p.y, f"ylo{k}": lo, f"yhi{k}": hi,
                      f"ylabel{k}": p.ylabel, f"series{k}": ser,
                      f"ptitle{k}": sw.series_title(ser) if ser else "",
                      f"logy{k}": int(p.logy), f"yfmt{k}": p.yfmt})
        shown = [r for r in sel if not panels[0].series or r["series"] in series[:2]]
    else:
        at = _at(ch, sel)
        if at is None:
            return None
        words["at"] = at
        shown = [r for r in sel if r[ch.at] == at]
        s = sweeps.series_of(sw, sel)
        s = (s + s)[:2] if s else ["", ""]
        v.update(at_col=ch.at, at_val=at, s1=s[0], s2=s[1])
    v.update(ch.params)
    if not any(_ok(r) and r.get(ch.main_col()) is not None for r in shown):
        return None
    v["title"] = ch.title.format(**words)
    v["models"] = " ".join(order_models({r["model"] for r in shown}))
    v["fails"] = int(any(r["status"] == "failed" for r in shown))
    if ch.kind == "lines":
        v.update(family_vars(v["models"].split()))
    return v


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
               and _ok(r) and r.get(v[f"y{k}"]) is not None for r in rows)


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


# ---- REPORT.md -------------------------------------------------------------

def _num(v, unit=""):
    if v is None:
        return "-"
    if abs(v) >= 100 or float(v).is_integer():
        s = f"{v:,.0f}"
    elif abs(v) >= 10:
        s = f"{v:.1f}"
    else:
        s = f"{v:.2f}"
    return s + unit


def _cell(r, col):
    if r is None:
        return ""
    if r["status"] == "failed":
        return "FAIL"
    if r["status"] == "skipped":
        return "skip"
    v = _num(r.get(col))
    return v + ("*" if r["status"] == "partial" else "")


def pivot(sel, col, xname="x"):
    """A markdown table of one sweep's rows: models down, x across."""
    if not sel:
        return ""
    xs = sorted({r["x"] for r in sel})
    idx = {(r["model"], r["x"]): r for r in sel}
    out = [f"| model \\ {xname} | " + " | ".join(f"{x:,}" for x in xs) + " |",
           "|---|" + "---:|" * len(xs)]
    for m in order_models({r["model"] for r in sel}):
        out.append(f"| {m} | " + " | ".join(_cell(idx.get((m, x)), col) for x in xs) + " |")
    return "\n".join(out) + "\n"


def _blocks(items):
    """The report items in runs: consecutive per-series tables form one block
    (shown series by series), every other item is a block of its own."""
    out = []
    for it in items:
        if isinstance(it, sweeps.Table) and it.per_series and out and \
                isinstance(out[-1][0], sweeps.Table) and out[-1][0].per_series:
            out[-1].append(it)
        else:
            out.append([it])
    return out


def _has_figure(sel, col):
    """False only when every point is fine and none has the figure: a table
    or chart of nothing (a failed point still shows, as FAIL)."""
    return any(r.get(col) is not None or not _ok(r) for r in sel)


def at_table(t, sel):
    at = _at(t, sel)
    if at is None:
        return []
    out = [f"{t.label.format(at=f'{at:,}')}:\n",
           "| model | " + " | ".join(h for h, _, _ in t.cols) + " |",
           "|---|" + "---:|" * len(t.cols)]
    for r in sel:
        if r[t.at] != at:
            continue
        cells = []
        for _, col, fmt in t.cols:
            if fmt == "pct":
                v = r.get(col)
                cells.append("-" if v is None or r["status"] == "failed" else f"{v:.0%}")
            else:
                cells.append(_cell(r, col))
        out.append(f"| {r['model']} | " + " | ".join(cells) + " |")
    return out + [""]


def section_items(sw, block, sel, made):
    """Markdown lines for one block of a sweep's report items."""
    out = []
    first = block[0]
    if isinstance(first, sweeps.Chart):
        if first.name in made:
            out.append(f"![{first.name}]({first.name}.png)\n")
    elif isinstance(first, sweeps.AtTable):
        out += at_table(first, sel)
    elif isinstance(first, sweeps.Custom):
        out += first.render(sel)
    elif first.per_series:
        for s in sweeps.series_of(sw, sel):
            ss = [r for r in sel if r["series"] == s]
            for t in block:
                if _has_figure(ss, t.col) and (not t.only_series or s in t.only_series):
                    out += [f"{t.label.format(series=sw.series_title(s))}:\n",
                            pivot(ss, t.col, t.xname)]
    elif _has_figure(sel, first.col):
        out += [f"{first.label}:\n", pivot(sel, first.col, first.xname)]
    return out


# ---- confidence and claims (REPORT.md) ------------------------------------

def run_target(ctx):
    return float((ctx.get("settings") or {}).get("target") or stats.TARGET)


def _judged(r):
    """The figures a CSV row's point converges on (its mode from its sweep and rate)."""
    mode = r["sweep"] if r["sweep"] in ("dispatch", "churn") else (
        "open" if r.get("rate") else "closed")
    return schedule.figures_of(dict(mode=mode, rate=r.get("rate")))


def _half_pct(r, col):
    if r.get(col + "_lo") is None or not r.get(col):
        return "-"
    return f"+-{(r[col + '_hi'] - r[col + '_lo']) / 2 / abs(r[col]):.1%}"


def _quiet_text(q):
    last = q.get("last") or {}
    load = " ".join(f"{x:g}" for x in last.get("loadavg") or [])
    busy, steal = last.get("busy"), last.get("steal")
    return (f"{q.get('action')} (load {load}, busy {busy:.0%}, steal {steal:.0%}"
            f"{', waited ' + format(q.get('waited_s'), 'g') + ' s' if q.get('waited_s') else ''})"
            if busy is not None and steal is not None else str(q.get("action")))


def confidence_lines(ctx, rows):
    """## Confidence: how the intervals were made, the points that did not
    converge, and the quiet-machine readings."""
    target = run_target(ctx)
    st = ctx.get("settings") or {}
    sch = ctx.get("schedule") or {}
    pts = [r for r in rows if r["status"] in ("ok", "partial") and r.get("converged") is not None]
    one = [r for r in rows if r["status"] in ("ok", "partial") and r.get("converged") is None]
    bad = [r for r in pts if r["converged"] == 0]
    out = ["## Confidence\n",
           "Each main figure (the points.csv columns with _lo/_hi: echoes/s, p50/p99, CPU and system calls per echo, ...) is the mean of a point's ok repeats with its "
           "95% interval: Student-t 95% of the mean, mean +- t(0.975, n-1) s / sqrt(n) "
           "(points.csv: <figure>_lo/<figure>_hi; the charts' error bars). "
           + (f"Repeats ran in {sch['method'].split(';')[0]}, so drift hits every model "
              f"alike; a point had at least {st.get('repeats', '?')} repeats and repeated "
              f"further (up to {st.get('max_repeats')}, within {st.get('extra_time', 0):g} x "
              f"the sweep's estimated time) until the intervals of {sch.get('figures')} were "
              f"within +-{target:.0%} of the mean.\n"
              if sch.get("method") and st.get("max_repeats") else
              f"Each point had {st.get('repeats', '?')} repeats, run one after another (this "
              f"run predates the interleaved, repeat-until-converged schedule); converged: "
              f"within +-{target:.0%}.\n")]
    if not pts and not one:
        return out
    if one:
        out.append(f"{len(one)} point(s) have a single ok repeat: no interval.\n")
    if not bad:
        out.append(f"Every point with 2+ repeats converged ({len(pts)}).\n" if pts else "")
    else:
        out += [f"Points that did not converge to +-{target:.0%} ({len(bad)} of {len(pts)}), "
                "with the figures each is judged on (schedule.figures_of) and ± half their "
                "95% interval:\n",
                "| sweep | series | model | x | repeats | judged on |",
                "|---|---|---|---:|---:|---|"]
        for r in bad:
            out.append(f"| {r['sweep']} | {r['series']} | {r['model']} | {r['x']:,} | "
                       f"{r['n_ok']} | " + ", ".join(f"{f} {_half_pct(r, f)}" for f in _judged(r))
                       + " |")
        out.append("")
    q = ctx.get("quiet")
    if q:
        out.append(f"Quiet machine (harness/quiet.py, STRICT={int(bool(q.get('strict')))}): "
                   f"preflight {_quiet_text(q)}"
                   + "".join(f"; before {b.get('before', '?')}: {_quiet_text(b)}"
                             for b in ctx.get("quiet_between") or []) + ".\n")
    return out


# Claims REPORT.md makes: (sweep, figure, which x) against REF (else the
# first model measured); the x: "near1000" or "max" of the sweep's x.
CLAIM_REF = "epoll_et"
CLAIMS = (("active", "msgs_per_s", "near1000"), ("active", "cpu_us_per_echo", "near1000"),
          ("active", "msgs_per_s", "max"), ("idle", "msgs_per_s", "max"),
          ("churn", "conns_per_s", "max"))


def claims_lines(rows, recs):
    """## What the intervals support: stats.claims sentences, every model
    against the reference model, only where the data are."""
    groups = group(recs)
    out, done = [], set()
    for sweep, fig, pick in CLAIMS:
        sel = [r for r in rows if r["sweep"] == sweep and r["status"] in ("ok", "partial")
               and r.get(fig) is not None]
        if not sel:
            continue
        ser = sorted({r["series"] for r in sel})[0]
        sel = [r for r in sel if r["series"] == ser]
        xs = sorted({r["x"] for r in sel})
        x = min(xs, key=lambda v: abs(v - 1000)) if pick == "near1000" else xs[-1]
        if (sweep, fig, x) in done:
            continue
        done.add((sweep, fig, x))
        per = {}
        for r in sel:
            if r["x"] != x:
                continue
            runs = [g for g in groups.values()
                    if g[0].point.sweep == sweep and g[0].point.series == ser
                    and g[0].point.x == x and g[0].point.model == r["model"]]
            vals = stats.numbers(q.derived.get(fig) for g in runs for q in g if q.status == "ok")
            if vals:
                per[r["model"]] = vals
        if len(per) < 2:
            continue
        ms = order_models(set(per))
        ref = CLAIM_REF if CLAIM_REF in per else ms[0]
        where = f"{x:,} {sweeps.get(sweep).charts()[0].xlabel or 'x'}" if sweeps.get(sweep).charts() \
            else f"x = {x:,}"
        said = stats.claims(fig, where, {m: per[m] for m in ms}, ref=ref)
        sep = [c for c in said if "no measurable difference" not in c]
        out.append(f"### {stats.JUDGED[fig][0]} at {where}, against {ref}\n")
        out += [f"- {c}" for c in sep]
        same = [c for c in said if c not in sep]
        if same:
            out += ["", f"<details><summary>{len(same)} of {len(said)} models against {ref}: "
                    "no measurable difference</summary>\n"] + [f"- {c}" for c in same] \
                + ["", "</details>"]
        out.append("")
    if not out:
        return []
    return (["## What the intervals support\n",
             "Generated from the data (harness/stats.py): a model is called faster, slower, "
             "cheaper or costlier than another only where the two 95% Student-t intervals of "
             "the mean do not overlap; otherwise the sentence says \"no measurable difference\".\n"]
            + out)


def write_report(run_dir, ctx, rows, recs, made, plot_errors):
    L = []
    w = L.append
    lim = ctx.get("limits", {})
    counts = {s: sum(1 for r in recs if r["status"] == s) for s in ("ok", "failed", "skipped")}
    w(f"# c10k-bench: {ctx.get('profile')} profile, {ctx.get('date', '')[:10]}, {ctx.get('host')}\n")
    if ctx.get("interrupted"):
        w("**This run was interrupted: only the points below were measured.**\n")
    w(f"{len(recs)} point runs: {counts['ok']} ok, {counts['failed']} failed, "
      f"{counts['skipped']} skipped; {len(rows)} points after folding repeats "
      f"(mean with its 95% interval, see Confidence; spread min..max in points.csv). "
      f"Run time {ctx.get('duration_s', '?')} s.\n")
    # where things ran: from the records (harness/sentences.py), not a literal
    w((sentences.placement(recs) + " " if recs else "") + "Per-echo CPU and "
      "context switches are /proc deltas over the generator's measured window divided by its "
      "echoes; system calls per echo are the kernel's count of the server's calls over the "
      "same window (see \"The kernel's view\" below). RSS counts user space only (socket buffers are kernel memory). "
      "In the tables: FAIL = failed (reasons at the end), skip = not run (reason at the end), "
      "* = some repeats failed.\n")
    w("## Context\n")
    w("| | |\n|---|---|")
    git = (ctx.get("git_commit") or "?")[:12] + (" (dirty tree)" if ctx.get("git_dirty") else "")
    for k, v in [("kernel", ctx.get("kernel")), ("CPU", f"{ctx.get('cpu_model')}, {ctx.get('cores')} cores"),
                 ("compiler", " ".join(ctx.get("compiler") or [])),
                 ("build", " ".join(ctx.get("compile_command") or [])),
                 ("git", git),
                 ("fds per process", f"{lim.get('nofile_soft')} / {lim.get('nofile_hard')}"),
                 ("ephemeral ports", f"{lim.get('ephemeral_lo')}-{lim.get('ephemeral_hi')}"),
                 ("somaxconn / syn backlog", f"{lim.get('somaxconn')} / {lim.get('tcp_max_syn_backlog')}"),
                 ("pid_max / threads-max", f"{lim.get('pid_max')} / {lim.get('threads_max')}"),
                 ("aio-max-nr", lim.get("aio_max_nr")), ("RLIMIT_SIGPENDING", lim.get("sigpending")),
                 ("memory", f"{lim.get('mem_total_mb')} MiB"),
                 ("load average at start", " ".join(str(x) for x in lim.get("loadavg", []))),
                 ("settings", json.dumps(ctx.get("settings"))),
                 ("models", " ".join(ctx.get("models") or [])),
                 ("not built", " ".join(ctx.get("not_built") or []) or "-")]:
        w(f"| {k} | `{v}` |" if k in ("build", "settings") else f"| {k} | {v} |")
    w("")

    for sw in sweeps.SWEEPS:
        sel = [r for r in rows if r["sweep"] == sw.name]
        if sel:
            w(f"## {sw.section.format(**_words(sw, sel))}\n")
            for block in _blocks(sw.report):
                L.extend(section_items(sw, block, sel, made))
    L.extend(confidence_lines(ctx, rows))       # interval method, not converged, quiet
    L.extend(claims_lines(rows, recs))          # what the intervals support
    L.extend(kernel.report_lines(ctx, rows, recs, order_models))   # calls by name, profiles
    bad = [r for r in recs if r["status"] != "ok"]
    w("## Failed and skipped points\n")
    if not bad:
        w("None.\n")
    else:
        w("| # | status | sweep | series | model | conns | active | rate | size | work | rep | reason |")
        w("|---:|---|---|---|---|---:|---:|---:|---:|---:|---:|---|")
        for r in bad:
            p = r["point"]
            reason = (r.get("reason") or "").replace("|", "\\|")
            w(f"| {r.get('seq')} | {r['status']} | {p['sweep']} | {p['series']} | {p['model']} | "
              f"{p['conns']} | {p['active']} | {p['rate']} | {p['size']} | {p['work_us']} | "
              f"{p['repeat']} | {reason} |")
        w("")
    notes = [r for r in recs if r.get("notes")]
    if notes:
        w("## Notes (points kept, but worth knowing)\n")
        seen = {}
        for r in notes:
            for n in r["notes"]:
                seen.setdefault((r["point"]["model"], n.split(":")[0]), []).append((r, n))
        for (m, _), lst in seen.items():
            r, n = lst[0]
            p = r["point"]
            w(f"- {m}: {n} ({len(lst)} point run(s), e.g. #{r.get('seq')} {p['sweep']} "
              f"conns={p['conns']})")
        w("")
    if plot_errors:
        w("## Charts that could not be drawn\n")
        for e in plot_errors:
            w(f"- {e}")
        w("")
    w("Files: points.jsonl (one record per measured point run), points.csv (one row per point), "
      "context.json, *.png and *.svg.\n")
    tmp = os.path.join(run_dir, "REPORT.md.tmp")
    with open(tmp, "w") as f:
        f.write("\n".join(L) + "\n")
    os.replace(tmp, os.path.join(run_dir, "REPORT.md"))


def make_all(run_dir, plots=True):
    """CSV, charts (unless plots=False), REPORT.md for a run folder."""
    recs = load_records(run_dir)
    try:
        with open(os.path.join(run_dir, "context.json")) as f:
            ctx = json.load(f)
    except (OSError, ValueError):
        ctx = {}
    rows = aggregate(recs, run_target(ctx))
    write_csv(rows, os.path.join(run_dir, "points.csv"))
    made, errors = ({}, []) if not plots else plot(run_dir, rows)
    for e in errors:
        sys.stderr.write(f"report: {e}\n")
    write_report(run_dir, ctx, rows, recs, made, errors)
    return rows, made, errors
