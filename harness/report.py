"""From a run's points.jsonl to points.csv, the charts and REPORT.md.

points.csv is tidy: one row per point (its repeats folded into the median,
with _min/_max columns for the spread of the main figures: records.FIGURES),
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

import models
import sweeps
from records import MEDIAN, SPREAD, Record

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PLOTS = os.path.join(ROOT, "plots")

# The registry's orders (other modules read them from here too).
MODEL_ORDER = models.names()
SWEEP_ORDER = tuple(sweeps.names())
order_models = models.order

KEY_COLS = ["sweep", "series", "model", "style", "x", "conns", "active", "idle", "rate",
            "size", "work_us", "work_every", "server_procs", "client_procs"]
COLUMNS = (KEY_COLS + ["status", "n_ok", "n_runs"]
           + [c for s in SPREAD for c in (s, s + "_min", s + "_max")]
           + MEDIAN + ["client_saturated", "reason"])


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


def fold(runs):
    """One CSV row from the repeats of one point: status, medians, spread."""
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
            row[col + "_min"] = min(vals) if vals else None
            row[col + "_max"] = max(vals) if vals else None
    sat = [r.derived.get("client_saturated") for r in ok]
    row["client_saturated"] = int(any(sat)) if sat else None
    return row


def aggregate(recs):
    """Fold repeats: one row per point, plus the rows sweeps lend each other."""
    groups = {}
    for r in recs:
        groups.setdefault(r.point.key(), []).append(r)
    rows = [fold(runs) for runs in groups.values()]
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


def write_csv(rows, path):
    tmp = path + ".tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(COLUMNS)
        for r in rows:
            w.writerow([_fmt(r.get(c)) for c in COLUMNS])
    os.replace(tmp, path)


# ---- charts ----------------------------------------------------------------

def _ok(r):
    return r["status"] in ("ok", "partial")


def _at(item, sel):
    """The x value an AtTable or a bars/dots chart shows, or None."""
    return item.at_pick(sel)


def _words(sw, sel):
    """What a sweep's titles may name."""
    return dict(work_ms=sweeps.work_ms(sel))


def chart_vars(sw, ch, rows):
    """gnuplot variables for one chart, or None when it has nothing to draw."""
    sel = [r for r in rows if r["sweep"] == sw.name]
    v = dict(sweep=sw.name)
    words = _words(sw, sel)
    if ch.kind == "lines":
        series = sweeps.series_of(sw, sel)
        panels = [p for p in ch.panels if p.series <= len(series)]
        v.update(xcol=ch.x, xlabel=ch.xlabel, logx=ch.logx, np=len(panels))
        for k, p in enumerate(panels, 1):
            ser = series[p.series - 1] if p.series else ""
            v.update({f"y{k}": p.y, f"ylabel{k}": p.ylabel, f"series{k}": ser,
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
                made.setdefault(ch.name, []).append(out)
    return made, errors


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
      f"(median; spread min..max in points.csv). Run time {ctx.get('duration_s', '?')} s.\n")
    w("Server pinned to CPU 0 (in the heavy sweep it may use every CPU), bin/loadgen to CPU 1; loopback (127.0.0.1) only. Per-echo CPU and "
      "context switches are /proc deltas over the generator's measured window divided by its "
      "echoes; system calls per echo are the server's counted calls over the whole run divided "
      "by bytes_out / size. RSS counts user space only (socket buffers are kernel memory). "
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
    rows = aggregate(recs)
    write_csv(rows, os.path.join(run_dir, "points.csv"))
    made, errors = ({}, []) if not plots else plot(run_dir, rows)
    for e in errors:
        sys.stderr.write(f"report: {e}\n")
    write_report(run_dir, ctx, rows, recs, made, errors)
    return rows, made, errors
