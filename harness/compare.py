"""compare.py - two runs side by side: the change of every figure, with its interval.

  python3 harness/compare.py A B [--out DIR]      (make compare A=dir B=dir)

A and B are run folders (points.jsonl, context.json). Points are matched by
(sweep, series, x, model); for each matched point and figure, assuming no
shape of the runs (harness/estimate.py): the median of each run's ok
repeats with its distribution-free 95% interval (two order statistics;
none under estimate.MIN_RUNS runs), the change B/A as the ratio of the
medians with the Hodges-Lehmann 95% interval of the ratio (the Mann-Whitney
test inverted on the logarithms; none with too few runs), and
estimate.compare's verdict: better or worse only where that interval
excludes 1 and the medians differ by at least estimate.MIN_EFFECT, else
same, or "no interval". The two contexts are set side by side and what
differs is flagged.

Writes DIR/compare.csv (one row per matched point: for each figure <fig>_a,
_a_lo, _a_hi, <fig>_b, _b_lo, _b_hi, <fig>_ratio, _ratio_lo, _ratio_hi,
<fig>_verdict), the overlay charts (every chart of the sweeps both runs
share, per figure the run's charts show that has a verdict: A solid, B
dashed, each over its interval's band, and a B/A ratio panel with its
interval; plots/compare.gp draws <chart>-<figure>[-<series>].png from the
.dat beside it) and DIR/COMPARE.md, which links them. DIR defaults to
results/compare-<A>-vs-<B>/.

Exit: 0 written, 1 the runs have nothing in common, 2 bad usage (or no scipy).
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import interp  # noqa: E402
interp.ensure()         # a Python with scipy (re-runs under Debian's if need be)
import charts           # noqa: E402
try:
    import estimate     # noqa: E402
except ImportError as e:            # scipy: Debian's python3-scipy (harness/deps.sh)
    sys.stderr.write(f"compare: {e} (harness/estimate.py needs scipy: Debian's python3-scipy, "
                     "harness/deps.sh; run with /usr/bin/python3)\n")
    sys.exit(2)
import models           # noqa: E402
import records          # noqa: E402
import report           # noqa: E402  (write_csv)
import stats            # noqa: E402  (JUDGED: each figure's direction; fmt_num)
import sweeps           # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEY = ("sweep", "series", "x", "model")
FIGS = list(stats.JUDGED)
FIG_COLS = ("a", "a_lo", "a_hi", "b", "b_lo", "b_hi", "ratio", "ratio_lo", "ratio_hi", "verdict")
COLUMNS = list(KEY) + ["status_a", "status_b", "n_a", "n_b"] + [
    f"{f}_{c}" for f in FIGS for c in FIG_COLS]


class Refusal(Exception):
    """A one-line reason not to compare (exit 1)."""


class Usage(Exception):
    """A one-line usage problem (exit 2)."""


def load_run(run_dir):
    """(context, records) of a run folder; Usage if it is not one."""
    if not os.path.isfile(os.path.join(run_dir, "points.jsonl")):
        raise Usage(f"{run_dir} is not a run folder (no points.jsonl)")
    try:
        with open(os.path.join(run_dir, "context.json")) as f:
            ctx = json.load(f)
    except (OSError, ValueError):
        ctx = {}
    return ctx, records.load(run_dir)


def _groups(recs):
    g = {}
    for r in recs:
        p = r.get("point") or {}
        if all(k in p for k in KEY):
            g.setdefault(tuple(p[k] for k in KEY), []).append(r)
    return g


def _status(runs):
    ok = sum(1 for r in runs if r["status"] == "ok")
    if ok == len(runs):
        return "ok"
    if ok:
        return "partial"
    return "failed" if any(r["status"] == "failed" for r in runs) else "skipped"


def _values(runs, fig):
    return estimate.numbers((r.get("derived") or {}).get(fig) for r in runs if r["status"] == "ok")


def _sort_key(row):
    so, mo = sweeps.names(), models.names()
    return (so.index(row["sweep"]) if row["sweep"] in so else len(so), str(row["series"]),
            mo.index(row["model"]) if row["model"] in mo else len(mo), row["model"], row["x"])


def match(recs_a, recs_b):
    """One row per (sweep, series, x, model) measured in both runs (any status),
    with each figure's medians, their intervals, the ratio and the verdict
    where both have values. Returns (rows, only_a, only_b): the last two are
    key counts."""
    ga, gb = _groups(recs_a), _groups(recs_b)
    rows = []
    for key in set(ga) & set(gb):
        ra, rb = ga[key], gb[key]
        row = dict(zip(KEY, key), status_a=_status(ra), status_b=_status(rb),
                   n_a=sum(r["status"] == "ok" for r in ra), n_b=sum(r["status"] == "ok" for r in rb))
        for fig in FIGS:
            va, vb = _values(ra, fig), _values(rb, fig)
            if not va or not vb:
                continue
            row.update(figure_cells(fig, va, vb))
        rows.append(row)
    rows.sort(key=_sort_key)
    return rows, len(set(ga) - set(gb)), len(set(gb) - set(ga))


def figure_cells(fig, va, vb):
    """One figure's cells of a matched point from A's and B's ok runs:
    the medians with their intervals, B/A (the medians' ratio) with the
    Hodges-Lehmann interval, the verdict (estimate.compare)."""
    ea, eb = estimate.median_ci(va), estimate.median_ci(vb)
    c = estimate.compare(va, vb, stats.JUDGED[fig][1])
    q = c["ratio"]
    return {f"{fig}_a": ea.value, f"{fig}_a_lo": ea.lo, f"{fig}_a_hi": ea.hi,
            f"{fig}_b": eb.value, f"{fig}_b_lo": eb.lo, f"{fig}_b_hi": eb.hi,
            f"{fig}_ratio": c["medians"],
            f"{fig}_ratio_lo": q.lo if q else None, f"{fig}_ratio_hi": q.hi if q else None,
            f"{fig}_verdict": c["verdict"] or "no interval"}


def _has_figure(row):
    return any(row.get(f"{f}_verdict") for f in FIGS)


# ---- contexts -------------------------------------------------------------------

def _get(ctx, path):
    v = ctx
    for p in path.split("."):
        if not isinstance(v, dict):
            return None
        v = v.get(p)
    return v


def _show(v):
    if v is None:
        return "-"
    if isinstance(v, (list, dict)):
        return json.dumps(v, sort_keys=True, separators=(",", ":"))
    return str(v)


# (label, context path); loadavg and date differ between any two runs, but a
# reader should see them: they are flagged like the rest.
CONTEXT_FIELDS = [
    ("host", "host"), ("date", "date"), ("kernel", "kernel"), ("kernel build", "kernel_version"),
    ("CPU", "cpu_model"), ("cores", "cores"), ("CPUs usable", "cpus_usable"),
    ("memory MiB", "limits.mem_total_mb"), ("git commit", "git_commit"),
    ("dirty tree", "git_dirty"), ("profile", "profile"), ("argv", "argv"),
    ("fds per process (soft)", "limits.nofile_soft"), ("fds per process (hard)", "limits.nofile_hard"),
    ("ephemeral ports", "limits.ephemeral_ports"), ("somaxconn", "limits.somaxconn"),
    ("tcp_max_syn_backlog", "limits.tcp_max_syn_backlog"), ("tcp_tw_reuse", "limits.tcp_tw_reuse"),
    ("RLIMIT_SIGPENDING", "limits.sigpending"), ("compiler", "compiler"),
    ("build", "compile_command"), ("glibc", "glibc"), ("python", "python"),
    ("gnuplot", "gnuplot"), ("pinning", "pinning"), ("load average at start", "limits.loadavg"),
    ("quiet check", "quiet.action"), ("loadgen sha256", "loadgen_sha256"),
]


def context_diff(ca, cb):
    """[(label, a, b, differs)]: the fixed fields, each setting, and the servers'
    checksums (one line: which models' binaries differ)."""
    out = [(lab, _show(_get(ca, p)), _show(_get(cb, p))) for lab, p in CONTEXT_FIELDS]
    sa, sb = ca.get("settings") or {}, cb.get("settings") or {}
    for k in sorted(set(sa) | set(sb), key=str):
        out.append((f"settings.{k}", _show(sa.get(k)), _show(sb.get(k))))
    ba, bb = ca.get("binaries") or {}, cb.get("binaries") or {}
    diff = [m for m in models.order(set(ba) & set(bb)) if ba[m] != bb[m]]
    rows = [(lab, a, b, a != b) for lab, a, b in out]
    rows.append(("server binaries", f"{len(ba)} models",
                 f"{len(bb)} models; differ: {', '.join(diff) if diff else 'none'}",
                 bool(diff) or len(ba) != len(bb)))
    return rows


# ---- output ---------------------------------------------------------------------

def write_csv(rows, path):
    report.write_csv(rows, path, COLUMNS)


# ---- overlay charts ---------------------------------------------------------

def _chart_figs(ch):
    """(figure, panel series index, logy, ylabel) a chart shows that a
    comparison judges (stats.JUDGED)."""
    if ch.kind == "lines":
        return [(p.y, p.series, p.logy, p.ylabel) for p in ch.panels if p.y in stats.JUDGED]
    params = dict(ch.params)
    cols = [ch.main_col()] + [v for v in params.values() if isinstance(v, str)]
    return [(c, 0, c.endswith("_us"), params.get("ylabel", c))
            for c in dict.fromkeys(cols) if c in stats.JUDGED]


def _xlabel(sw, ch, recs):
    """The chart's x label when its x column is the points' x, else that of
    a chart of the sweep that draws against x."""
    pts = [r.point for r in recs if r.point.sweep == sw.name]
    if ch.kind == "lines" and (ch.x == "x" or all(p.x == p.get(ch.x) for p in pts)):
        return ch.xlabel
    for c in sw.charts():
        if c.kind == "lines" and c.x == "x":
            return c.xlabel
    return ch.xlabel if ch.kind == "lines" and ch.x == "conns" else "x"


def _num(v):
    return "NaN" if v is None or not math.isfinite(v) else f"{v:.6g}"


def overlay_specs(rows, recs):
    """One spec per overlay chart: name, the rows it draws, and its labels."""
    out = []
    for sw, ch in sweeps.charts():
        sel = [r for r in rows if r["sweep"] == sw.name]
        if not sel:
            continue
        series = sorted({r["series"] for r in sel}, key=sw.series_key)
        for fig, pser, logy, ylabel in _chart_figs(ch):
            shown = ([series[pser - 1]] if pser and pser <= len(series)
                     else [] if pser else series)
            for ser in shown:
                name = f"{ch.name}-{fig}" + (f"-{ser}" if len(series) > 1 else "")
                data = [r for r in sel if r["series"] == ser and r.get(f"{fig}_verdict")]
                if not data or any(o["name"] == name for o in out):
                    continue
                title = f"{sw.name}: {ylabel}" + (f", {sw.series_title(ser)}"
                                                  if len(series) > 1 else "")
                out.append(dict(name=name, fig=fig, rows=data, title=title, ylabel=ylabel,
                                xlabel=_xlabel(sw, ch, recs), logy=int(logy),
                                logx=ch.logx if ch.kind == "lines" else 10))
    return out


DAT_COLS = ("a", "a_lo", "a_hi", "b", "b_lo", "b_hi", "ratio", "ratio_lo", "ratio_hi")


def write_dat(spec, path):
    """The chart's data, one gnuplot block per model (NaN where a value or an
    interval is missing); returns (models, rows, boxes): boxes maps a, b and
    ratio to gnuplot's words of the x values whose interval is a box
    (charts.boxed's rule: a band needs two neighbours with intervals)."""
    f_ = spec["fig"]
    ms = models.order({r["model"] for r in spec["rows"]})
    n, boxes = 0, {c: {} for c in ("a", "b", "ratio")}
    with open(path, "w") as f:
        for i, m in enumerate(ms):
            if i:
                f.write("\n\n")
            f.write(f"# {m}: x {' '.join(DAT_COLS)}\n")
            block = sorted((r for r in spec["rows"] if r["model"] == m), key=lambda r: r["x"])
            for r in block:
                f.write(" ".join([str(r["x"])] + [_num(r.get(f"{f_}_{c}")) for c in DAT_COLS])
                        + "\n")
                n += 1
            for c in boxes:
                run = []
                for r in block + [None]:
                    if r is not None and None not in (r.get(f"{f_}_{c}_lo"), r.get(f"{f_}_{c}_hi")):
                        run.append(r)
                        continue
                    charts.out_of_run(boxes[c], run, "x")
                    run = []
    return ms, n, {c: charts.box_words(b, ms) for c, b in boxes.items()}


def _gp(s):
    return "'" + str(s).replace("'", "''") + "'"


def plot_overlays(out_dir, rows, recs):
    """Draw every overlay chart; returns ([(name, title, data rows)], errors)."""
    made, errors = [], []
    with tempfile.TemporaryDirectory(prefix="c10k-compare-") as tmp:
        style = os.path.join(tmp, "style.gp")
        with open(style, "w") as f:
            f.write(models.gnuplot())
        for spec in overlay_specs(rows, recs):
            dat = os.path.join(out_dir, spec["name"] + ".dat")
            png = os.path.join(out_dir, spec["name"] + ".png")
            ms, n, boxes = write_dat(spec, dat)
            q = estimate.numbers(r.get(spec["fig"] + "_ratio") for r in spec["rows"])
            rlo, rhi = min(q + [0.8]) * 0.9, max(q + [1.25]) * 1.1
            v = dict(dat=dat, out=png, plotdir=charts.PLOTS, style=style, models=" ".join(ms),
                     box_a=boxes["a"], box_b=boxes["b"], box_r=boxes["ratio"],
                     title=spec["title"],
                     xlabel=spec["xlabel"], ylabel=spec["ylabel"], logx=spec["logx"],
                     logy=spec["logy"], rlo=rlo, rhi=rhi)
            expr = "; ".join(f"{k}={_gp(x) if isinstance(x, str) else x}" for k, x in v.items())
            try:
                r = subprocess.run(["gnuplot", "-e", expr,
                                    os.path.join(charts.PLOTS, "compare.gp")],
                                   capture_output=True, text=True, timeout=60)
            except (OSError, subprocess.TimeoutExpired) as e:
                errors.append(f"{spec['name']}: {e}")
                continue
            if r.returncode != 0 or not os.path.isfile(png) or not n:
                if os.path.isfile(png):         # gnuplot opens it before it fails
                    os.unlink(png)
                msg = [ln for ln in r.stderr.splitlines() if ln.strip()] or ["no data rows"]
                errors.append(f"{spec['name']}: gnuplot: {' / '.join(msg[-2:]) or r.returncode}")
                continue
            made.append((spec["name"], spec["title"], n))
    return made, errors


def _ratio_cell(row, fig, mark=True):
    r = row.get(f"{fig}_ratio")
    if r is None:
        return ""
    lo, hi = row.get(f"{fig}_ratio_lo"), row.get(f"{fig}_ratio_hi")
    ci = f" [{lo:.2f}, {hi:.2f}]" if lo is not None else ""
    m = {"better": " better", "worse": " WORSE"}.get(row.get(f"{fig}_verdict"), "") if mark else ""
    return f"x{r:.2f}{ci}{m}"


def _run_line(name, d, ctx):
    return (f"- **{name}**: `{d}` ({ctx.get('profile', '?')} profile, {(ctx.get('date') or '?')[:16]}, "
            f"{ctx.get('host', '?')}, commit {(ctx.get('git_commit') or '?')[:12]}"
            f"{' dirty' if ctx.get('git_dirty') else ''}, "
            f"{_get(ctx, 'settings.repeats') or '?'} repeats)")


def write_md(path, a_dir, b_dir, ca, cb, rows, only_a, only_b, charts=(), chart_errors=()):
    L = []
    w = L.append
    w("# c10k-bench comparison: B against A\n")
    w(_run_line("A", a_dir, ca))
    w(_run_line("B", b_dir, cb) + "\n")
    sw = sorted({r["sweep"] for r in rows}, key=lambda s: _sort_key(dict(sweep=s, series="",
                                                                          model="", x=0)))
    w(f"{len(rows)} points measured in both (sweeps {', '.join(sw)}); {only_a} only in A, "
      f"{only_b} only in B.\n")
    w("How to read it: each figure is the median of a point's ok runs in A and in B, assuming "
      "no shape of the runs (harness/estimate.py). B/A is the ratio of the two medians; its 95% "
      "interval holds every ratio r for which the Mann-Whitney test (on the logarithms) does not "
      "reject \"B's runs are A's times r\" at 5%: the Hodges-Lehmann interval, centred on the "
      "median of the ratios of every B run to every A run. It is distribution-free (no normal "
      "shape, clusters allowed) and exact when B's runs are A's scaled by one factor, whatever "
      "their shape. With few runs the test can reject no ratio "
      "(3 runs against 3: p >= 0.1) and there is no interval. The verdict is better or worse "
      "only when the interval excludes 1 and the medians differ by at least "
      f"{estimate.MIN_EFFECT:.0%} (estimate.MIN_EFFECT: two whole runs of the suite move a "
      "point's median by a few percent); otherwise same; no interval when there is none. "
      "compare.csv also holds each median's own 95% interval (two order statistics; none "
      f"under {estimate.MIN_RUNS} runs). Better means more echoes or connections per second, "
      "or less latency, CPU, system calls or memory.\n")
    w("## Contexts\n")
    w("| | A | B | |\n|---|---|---|---|")
    for lab, a, b, d in context_diff(ca, cb):
        cell = (lambda s: f"`{s}`" if len(s) > 40 or lab.startswith(("settings", "build", "argv"))
                else s)
        w(f"| {lab} | {cell(a)} | {cell(b)} | {'**differs**' if d else ''} |")
    w("")
    w("## Summary\n")
    w("| figure | points | better | worse | same | no interval |")
    w("|---|---:|---:|---:|---:|---:|")
    for fig in FIGS:
        v = [r[f"{fig}_verdict"] for r in rows if r.get(f"{fig}_verdict")]
        if v:
            w(f"| {fig} | {len(v)} | {v.count('better')} | {v.count('worse')} | "
              f"{v.count('same')} | {v.count('no interval')} |")
    w("")
    L.extend(agreement_lines(rows))
    w("## Measurable changes\n")
    ch = [(r, f) for r in rows for f in FIGS if r.get(f"{f}_verdict") in ("better", "worse")]
    if not ch:
        w("None: every matched figure is the same (or has no interval).\n")
    else:
        w("| sweep | series | x | model | figure | A | B | B/A [95%] | verdict |")
        w("|---|---|---:|---|---|---:|---:|---|---|")
        for r, f in ch:
            w(f"| {r['sweep']} | {r['series']} | {r['x']:,} | {r['model']} | {f} | "
              f"{stats.fmt_num(r[f + '_a'])} | {stats.fmt_num(r[f + '_b'])} | "
              f"{_ratio_cell(r, f, mark=False)} | {r[f + '_verdict']} |")
        w("")
    st = [r for r in rows if (r["status_a"] == "ok") != (r["status_b"] == "ok")]
    if st:
        w("## Points whose status differs\n")
        w("| sweep | series | x | model | A | B |\n|---|---|---:|---|---|---|")
        for r in st:
            w(f"| {r['sweep']} | {r['series']} | {r['x']:,} | {r['model']} | {r['status_a']} | "
              f"{r['status_b']} |")
        w("")
    w("## Every matched point (B/A [95% interval])\n")
    for s in sw:
        for series in sorted({r["series"] for r in rows if r["sweep"] == s}, key=str):
            sel = [r for r in rows if r["sweep"] == s and r["series"] == series and _has_figure(r)]
            figs = [f for f in FIGS if any(r.get(f"{f}_verdict") for r in sel)]
            if not sel:
                continue
            w(f"### {s}, {series}\n")
            w("| model | x | " + " | ".join(figs) + " |")
            w("|---|---:|" + "---|" * len(figs))
            for r in sel:
                w(f"| {r['model']} | {r['x']:,} | " + " | ".join(_ratio_cell(r, f) for f in figs)
                  + " |")
            w("")
    if charts or chart_errors:
        w("## Charts (A solid, B dashed, each over its 95% interval's band; below: B/A with "
          "its 95% interval)\n")
        for name, title, _ in charts:
            w(f"![{title}]({name}.png)\n")
        for e in chart_errors:
            w(f"- could not draw {e}")
        w("")
    w("Data: compare.csv (one row per matched point); each chart's <chart>.dat beside it.\n")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(L) + "\n")
    os.replace(tmp, path)


# Two runs of the same suite agree on a figure when the two medians' 95%
# intervals overlap and the medians differ by at most AGREE_WITHIN (issue 22:
# two default runs one after the other should agree on 90% of their echoes/s
# and CPU-per-echo figures).
AGREE_FIGS = ("msgs_per_s", "cpu_us_per_echo")
AGREE_WITHIN = 0.10


def agreement(rows, figs=AGREE_FIGS, within=AGREE_WITHIN):
    """{fig: (agreeing, judged, [rows that do not agree])} over the matched
    points whose figure has an interval in both runs."""
    out = {}
    for f in figs:
        judged, bad = 0, []
        for r in rows:
            a, b = r.get(f"{f}_a"), r.get(f"{f}_b")
            lims = [r.get(f"{f}_{k}") for k in ("a_lo", "a_hi", "b_lo", "b_hi")]
            if not a or b is None or any(x is None for x in lims):
                continue
            judged += 1
            overlap = lims[0] <= lims[3] and lims[2] <= lims[1]
            if not (overlap and abs(b / a - 1) <= within):
                bad.append(r)
        out[f] = (judged - len(bad), judged, bad)
    return out


def agreement_lines(rows):
    """## Agreement: how many figures two runs agree on (intervals overlap,
    medians within AGREE_WITHIN), the ones that do not listed."""
    ag = agreement(rows)
    if not any(j for _, j, _ in ag.values()):
        return []
    out = ["## Agreement\n",
           f"Of the figures both runs give an interval for: the two 95% intervals overlap and "
           f"the medians differ by at most {AGREE_WITHIN:.0%}.\n",
           "| figure | agree | of | share |", "|---|---:|---:|---:|"]
    for f, (ok, n, _) in ag.items():
        if n:
            out.append(f"| {f} | {ok} | {n} | {ok / n:.0%} |")
    out.append("")
    bad = [(f, r) for f, (_, _, b) in ag.items() for r in b]
    if bad:
        out += ["Not agreeing:\n", "| sweep | series | x | model | figure | A | B | B/A |",
                "|---|---|---:|---|---|---:|---:|---:|"]
        for f, r in bad:
            out.append(f"| {r['sweep']} | {r['series']} | {r['x']:,} | {r['model']} | {f} | "
                       f"{stats.fmt_num(r[f + '_a'])} | {stats.fmt_num(r[f + '_b'])} | "
                       f"{r[f + '_b'] / r[f + '_a']:.2f} |")
        out.append("")
    return out


def _summary(recs):
    sw = sorted({(r.get("point") or {}).get("sweep") for r in recs} - {None})
    mo = models.order({(r.get("point") or {}).get("model") for r in recs} - {None})
    return f"sweeps {','.join(sw) or '-'}, models {','.join(mo) or '-'}"


def default_name(a_dir, b_dir):
    """compare-<A>-vs-<B>: the output folder's name."""
    return (f"compare-{os.path.basename(os.path.realpath(a_dir))}"
            f"-vs-{os.path.basename(os.path.realpath(b_dir))}")


def compare(a_dir, b_dir, out_dir=None, plots=True):
    """Match, write compare.csv, the charts and COMPARE.md; returns (out_dir, rows).
    Raises Usage (not a run folder) or Refusal (nothing in common)."""
    ca, ra = load_run(a_dir)
    cb, rb = load_run(b_dir)
    rows, only_a, only_b = match(ra, rb)
    if not any(_has_figure(r) for r in rows):
        raise Refusal(f"{a_dir} and {b_dir} have nothing in common: no (sweep, series, x, "
                      f"model) has ok repeats in both (A: {_summary(ra)}; B: {_summary(rb)})")
    if out_dir is None:
        out_dir = os.path.join(ROOT, "results", default_name(a_dir, b_dir))
    os.makedirs(out_dir, exist_ok=True)
    write_csv(rows, os.path.join(out_dir, "compare.csv"))
    charts, errors = plot_overlays(out_dir, rows, ra + rb) if plots else ([], [])
    for e in errors:
        sys.stderr.write(f"compare: chart {e}\n")
    write_md(os.path.join(out_dir, "COMPARE.md"), a_dir, b_dir, ca, cb, rows, only_a, only_b,
             charts, errors)
    return out_dir, rows


def main(argv):
    ap = argparse.ArgumentParser(prog="compare.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("a", metavar="A", help="the first run folder (the baseline)")
    ap.add_argument("b", metavar="B", help="the second run folder")
    ap.add_argument("--out", metavar="DIR", help="output folder (default results/compare-A-vs-B)")
    ap.add_argument("--no-plots", action="store_true", help="skip the overlay charts")
    a = ap.parse_args(argv)
    try:
        out, rows = compare(a.a, a.b, a.out, plots=not a.no_plots)
    except Usage as e:
        sys.stderr.write(f"compare: {e}\n")
        return 2
    except Refusal as e:
        sys.stderr.write(f"compare: {e}\n")
        return 1
    except OSError as e:
        sys.stderr.write(f"compare: {e}\n")
        return 2
    n = sum(1 for r in rows for f in FIGS if r.get(f"{f}_verdict") in ("better", "worse"))
    sys.stderr.write(f"compare: {len(rows)} matched points, {n} measurable change(s); "
                     f"{os.path.join(out, 'COMPARE.md')}\n")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
