"""report.py - a run folder's points.jsonl made into points.csv, the charts,
REPORT.md and FINDINGS.md (make_all; harness/findings.py writes the last). The rows are harness/fold.py's, the charts
harness/charts.py's; this writes the CSV (a header row, empty fields where a
figure does not exist) and REPORT.md: the sweeps' sections as they declare
them (harness/sweeps.py: charts, tables, items of their own form), the
confidence section, the claims the intervals support, the kernel's view
(harness/kernel_report.py), and the failed and skipped points.
"""

import csv
import json
import os
import sys

import charts
import convergence
import dispatch_report
import estimate
import findings
import fold
import kernel_report
import models
import records
import schedule
import sentences
import stats
import sweeps


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
    columns = columns or fold.COLUMNS
    tmp = path + ".tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(columns)
        for r in rows:
            w.writerow([_fmt(r.get(c)) for c in columns])
    os.replace(tmp, path)


# ---- charts ----------------------------------------------------------------


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
    return (v + _res(r, col) + (GEN_MARK if gen_marked(r, col) else "")
            + ("*" if r["status"] == "partial" else ""))


# A latency of an open-loop point whose runs' send process failed its test
# (loadgen's verdict "generator": docs/open-loop.md); the rate charts circle
# it. Only latencies: the generator's lateness is in them, not in the
# server's CPU per echo.
GEN_MARK = " ‡"


def gen_marked(r, col):
    """Does this cell carry GEN_MARK: a latency figure of a gen_limited point."""
    return bool(r.get("gen_limited")) and str(r.get("gen_limited")) != "0" and is_latency(col)


def is_latency(col):
    """A latency column of points.csv (p50_us, light_p99_us, max_us, ...), not
    the generator's own (late_*, server_*) or a connect time."""
    return (col.endswith("_us") and not col.startswith(("late_", "server_", "connect_"))
            and not col.endswith("per_echo"))


def _res(r, col):
    """ " ±7%": half the figure's 95% interval over its median (its resolution),
    or "" without an interval."""
    lo, hi, v = r.get(col + "_lo"), r.get(col + "_hi"), r.get(col)
    if lo is None or hi is None or not v:
        return ""
    return f" ±{(hi - lo) / 2 / abs(v):.0%}"


def pivot(sel, col, xname="x"):
    """A markdown table of one sweep's rows: models down, x across."""
    if not sel:
        return ""
    xs = sorted({r["x"] for r in sel})
    idx = {(r["model"], r["x"]): r for r in sel}
    out = [f"| model \\ {xname} | " + " | ".join(f"{x:,}" for x in xs) + " |",
           "|---|" + "---:|" * len(xs)]
    for m in models.order({r["model"] for r in sel}):
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
    return any(r.get(col) is not None or not fold.measured(r) for r in sel)


def at_table(t, sel):
    at = t.at_pick(sel)
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
        out += CUSTOM[first.render](sel)
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


def _judged(r):
    """The figures a CSV row's point converges on (the CSV has no mode: the
    dispatch and churn sweeps' points have theirs, any other is closed or,
    with a rate, open loop)."""
    mode = r["sweep"] if r["sweep"] in ("dispatch", "churn") else "closed"
    return convergence.figures_of(dict(mode=mode, rate=r.get("rate")))


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
    target = fold.run_target(ctx)
    st = ctx.get("settings") or {}
    sch = ctx.get("schedule") or {}
    pts = [r for r in rows if r["status"] in ("ok", "partial") and r.get("converged") is not None]
    one = [r for r in rows if r["status"] in ("ok", "partial") and r.get("converged") is None]
    bad = [r for r in pts if r["converged"] == 0]
    out = ["## Confidence\n",
           "Each main figure (the points.csv columns with _lo/_hi: echoes/s, p50/p99, CPU and "
           "system calls per echo, ...) is the MEDIAN of a point's ok runs, each run a fresh "
           "server with fresh connections, with its distribution-free 95% interval: two order "
           "statistics whose ranks come from the binomial distribution, which hold the true "
           "median at least 95% of the time whatever the runs' shape (harness/estimate.py; "
           f"none below {estimate.MIN_RUNS} runs; points.csv: <figure>_lo/<figure>_hi; the "
           "charts' bands). The tables print it as the median ± half that interval in percent: "
           "the figure's resolution, about the smallest difference to another figure of the "
           "same precision that this run could show. "
           + (f"Runs went in {sch['method'].split(';')[0]}, so drift hits every model "
              f"alike; a point had at least {st.get('repeats', '?')} runs and ran again "
              f"(up to {st.get('max_repeats')}, within {st.get('extra_time', 0):g} x "
              f"the run's estimated time) until the intervals of {sch.get('figures')} were "
              f"within +-{target:.0%} of the median.\n"
              if sch.get("method") and st.get("max_repeats") else
              f"Each point had {st.get('repeats', '?')} runs, one after another (this "
              f"run predates the interleaved, run-until-converged schedule); converged: "
              f"within +-{target:.0%}.\n")]
    if not pts and not one:
        return out
    if one:
        out.append(f"{len(one)} point(s) have fewer than {estimate.MIN_RUNS} ok runs: "
                   "no interval.\n")
    if not bad:
        out.append(f"Every point with {estimate.MIN_RUNS}+ runs converged ({len(pts)}).\n"
                   if pts else "")
    else:
        out += [f"Points that did not converge to +-{target:.0%} ({len(bad)} of {len(pts)}), "
                "with the figures each is judged on (harness/convergence.py) and ± half their "
                "95% interval:\n",
                "| sweep | series | model | x | runs | judged on |",
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


def setup_lines(recs):
    """## Set-up cost per run: each model's runs' set-up seconds (wall time less
    warm-up and measured seconds: server start, connects, teardown, stop)
    fitted against their connections (schedule.setup_fit), the basis of the
    time estimate and of how short a run can be."""
    fit = schedule.setup_fit(recs)
    if not fit:
        return []
    xs = sorted({r["point"]["conns"] for r in recs if r["status"] == "ok"
                 and r["point"]["mode"] != "dispatch"})
    show = [x for x in (100, 1000, 10000, 19000) if xs and xs[0] <= x <= xs[-1]] or xs[:1]
    out = ["## Set-up cost per run\n",
           "Every run is a fresh server with fresh connections. Its set-up (wall time less "
           "warm-up and measured seconds: the server's start, the connects, the generator's "
           "exit and teardown, the server's stop, the harness's readings), fitted per model as "
           "a + b x connections over this run's ok runs (harness/schedule.py setup_fit; the "
           "time estimate uses the reference run's fit):\n",
           "| model | a (s) | b (us per connection) | " + " | ".join(f"at {x:,}" for x in show)
           + " |", "|---|---:|---:|" + "---:|" * len(show)]
    for m in models.order(set(fit)):
        a, b = fit[m]
        out.append(f"| {m} | {a:.3f} | {b * 1e6:.0f} | "
                   + " | ".join(f"{a + b * x:.2f} s" for x in show) + " |")
    return out + [""]


# Claims REPORT.md makes: (sweep, figure, which x) against REF (else the
# first model measured); the x: "near1000" or "max" of the sweep's x.
CLAIM_REF = "epoll_et"
CLAIMS = (("active", "msgs_per_s", "near1000"), ("demand", "cpu_us_per_echo", "near1000"),
          ("active", "cpu_us_per_echo", "near1000"), ("active", "msgs_per_s", "max"),
          ("idle", "cpu_us_per_echo", "max"), ("churn", "conns_per_s", "max"))


def claims_lines(rows, recs):
    """## What the intervals support: stats.claims sentences, every model
    against the reference model, only where the data are."""
    groups = fold.group(recs)
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
        ms = models.order(set(per))
        ref = CLAIM_REF if CLAIM_REF in per else ms[0]
        where = f"{x:,} {sweeps.get(sweep).charts()[0].xlabel or 'x'}" if sweeps.get(sweep).charts() \
            else f"x = {x:,}"
        rates = sorted({r["rate"] for r in sel if r["x"] == x and r.get("rate")})
        if rates and all(r["mode"] == "demand" for g in groups.values() for r in [g[0].point]
                         if g[0].point.sweep == sweep):
            where += f", {'/'.join(f'{v:,}' for v in rates)} echoes/s offered"
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
             "Generated from the data (harness/stats.py, harness/estimate.py): a model is called "
             "faster, slower, cheaper or costlier than another only where the 95% interval of "
             "the ratio of the two (Hodges-Lehmann, the Mann-Whitney test inverted: "
             "distribution-free) excludes 1 and their medians differ by at least "
             f"{estimate.MIN_EFFECT:.0%}; otherwise the sentence says \"no measurable "
             "difference\". Each sentence gives the ratio's interval and its resolution (half "
             "its width): the smallest difference these runs could have shown.\n"]
            + out)


RATE_KNEE_P99_US = 1000     # the rate sweep's knee: the highest load with p99 under this


def rate_knees(rows):
    """REPORT.md lines: per series and model, the knee (the highest offered
    share of capacity whose p99 stays under RATE_KNEE_P99_US)."""
    sw = sweeps.get("rate")
    out = [f"Knee: the highest offered load (share of the model's capacity, from a "
           f"closed-loop probe before each run) with p99 under {RATE_KNEE_P99_US:,} us; `-` = none.\n"]
    for ser in sweeps.series_of(sw, rows):
        sel = [r for r in rows if r["series"] == ser]
        out += [f"{sw.series_title(ser)}:\n", "| model | knee | echoes/s there | p99 there (us) |"
                " p99.9 there (us) |", "|---|---:|---:|---:|---:|"]
        for m in models.order({r["model"] for r in sel}):
            under = [r for r in sel if r["model"] == m and fold.measured(r) and r.get("p99_us") is not None
                     and r["p99_us"] < RATE_KNEE_P99_US]
            k = max(under, key=lambda r: r["x"]) if under else None
            if k is None:
                out.append(f"| {m} | - | | | |")
            else:
                f = [f"{k.get(c):,.0f}" if k.get(c) is not None else "-"
                     for c in ("msgs_per_s", "p99_us", "p999_us")]
                out.append(f"| {m} | {k['x']}% | " + " | ".join(f) + " |")
        out.append("")
    return out


# The pacing's cost the open loop is held to (issue 23): at the lowest offered
# share, the generator's CPU per echo at most this many times its CPU per echo
# in the closed-loop probe at saturation taken just before the same run.
GEN_X_CLOSED_TARGET = 2.5


def rate_generator(rows):
    """REPORT.md lines: the generator's side of every rate point (its CPU per
    echo against the closed-loop probe's, its lateness, the send-process test)
    and, at each model's lowest share, whether the pacing's cost is within
    GEN_X_CLOSED_TARGET."""
    sw = sweeps.get("rate")
    out = ["The generator at each offered load (docs/open-loop.md): its CPU per echo, that over "
           "its CPU per echo in the closed-loop probe at saturation taken just before each run (x closed: "
           "what pacing costs), how late it sent (actual send - due), the send-process test (W1 of "
           f"the gaps as sent against as due, in mean gaps) and whether its runs failed that test "
           f"(then its latencies are marked {GEN_MARK.strip()}).\n"]
    f = lambda v, fmt: "-" if v is None else format(v, fmt)   # noqa: E731
    lows = []
    for ser in sweeps.series_of(sw, rows):
        sel = [r for r in rows if r["series"] == ser and fold.measured(r)]
        out += [f"{sw.series_title(ser)}:\n",
                "| model | % of capacity | generator CPU/echo (us) | x closed | lateness p50 (us) "
                "| lateness p99 (us) | W1 (gaps) | the generator's? |",
                "|---|---:|---:|---:|---:|---:|---:|---|"]
        for m in models.order({r["model"] for r in sel}):
            mine = sorted((r for r in sel if r["model"] == m), key=lambda r: r["x"])
            for r in mine:
                out.append(f"| {m} | {r['x']}% | {f(r.get('client_cpu_us_per_echo'), '.1f')} | "
                           f"{f(r.get('gen_cpu_x_closed'), '.2f')} | {f(r.get('late_p50_us'), ',.1f')} | "
                           f"{f(r.get('late_p99_us'), ',.1f')} | {f(r.get('send_w1'), '.2f')} | "
                           f"{'yes' if gen_marked(r, 'p99_us') else 'no'} |")
            if mine and mine[0].get("gen_cpu_x_closed") is not None:
                lows.append((m, mine[0]["x"], mine[0]["gen_cpu_x_closed"]))
        out.append("")
    if lows:
        within = [m for m, _, x in lows if x <= GEN_X_CLOSED_TARGET]
        out.append("At each model's lowest share, the generator's CPU per echo was "
                   + ", ".join(f"{x:.2f}x ({m}, {s}%)" for m, s, x in lows)
                   + f" its closed-loop figure: within {GEN_X_CLOSED_TARGET:g}x for "
                   f"{len(within)} of {len(lows)}.\n")
    return out


# The report items of their own form, by the name a sweep's Custom gives.
CUSTOM = {"rate_knees": rate_knees, "rate_generator": rate_generator,
          "kerrisk": dispatch_report.kerrisk_lines}


def write_report(run_dir, ctx, rows, recs, made, plot_errors):
    L = []
    w = L.append
    lim = ctx.get("limits", {})
    counts = {s: sum(1 for r in recs if r["status"] == s) for s in ("ok", "failed", "skipped")}
    w(f"# c10k-bench: {ctx.get('profile')} profile, {ctx.get('date', '')[:10]}, {ctx.get('host')}\n")
    if ctx.get("interrupted"):
        w("**This run was interrupted: only the points below were measured.**\n")
    if sentences.declared(ctx, recs):
        w(sentences.declared(ctx, recs) + "\n")
    if ctx.get("unaccounted"):        # bench.py: planned points no record accounts for
        w(f"**{len(ctx['unaccounted'])} planned point(s) have no record (a harness bug; the "
          "run exited 1):** " + "; ".join(ctx["unaccounted"][:20])
          + (" ..." if len(ctx["unaccounted"]) > 20 else "") + "\n")
    w(f"{len(recs)} point runs: {counts['ok']} ok, {counts['failed']} failed, "
      f"{counts['skipped']} skipped; {len(rows)} points after folding repeats "
      f"(the median of its runs with its 95% interval, see Confidence; min..max in points.csv). "
      f"Run time {ctx.get('duration_s', '?')} s.\n")
    # where things ran: from the records (harness/sentences.py), not a literal
    kc = ctx.get("kcount") or {}
    w((sentences.placement(recs) + " " if recs else "") + "Per-echo CPU and "
      "context switches are /proc deltas over the generator's measured window divided by its "
      "echoes; system calls per echo are "
      + ("the kernel's count of the server's calls over the same window"
         if kc.get("usable", True) else
         f"not measured here by the kernel ({kc.get('why')}): the servers' own count stands in, "
         "labelled so")
      + " (see \"The kernel's view\" below). RSS counts user space only (socket buffers are kernel memory). "
      "In the tables: FAIL = failed (reasons at the end), skip = not run (reason at the end), "
      "* = some runs failed; ±n% = the figure's resolution (half its 95% interval); "
      f"{GEN_MARK.strip()} = a latency of an open-loop point whose generator failed its own test "
      "(late, off its schedule or CPU bound: docs/open-loop.md), so it is the generator's as "
      "much as the server's; the rate charts circle it.\n")
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
            w(f"## {sw.section.format(**sweeps.title_words(sel))}\n")
            for block in _blocks(sw.report):
                L.extend(section_items(sw, block, sel, made))
    L.extend(confidence_lines(ctx, rows))       # interval method, not converged, quiet
    L.extend(setup_lines(recs))                 # what a run's set-up cost (the plan's basis)
    L.extend(claims_lines(rows, recs))          # what the intervals support
    L.extend(kernel_report.report_lines(ctx, rows, recs, models.order))   # calls by name, profiles
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
    """CSV, charts (unless plots=False), REPORT.md, FINDINGS.md for a run folder."""
    recs = records.load(run_dir)
    try:
        with open(os.path.join(run_dir, "context.json")) as f:
            ctx = json.load(f)
    except (OSError, ValueError):
        ctx = {}
    rows = fold.aggregate(recs, fold.run_target(ctx))
    write_csv(rows, os.path.join(run_dir, "points.csv"))
    made, errors = ({}, []) if not plots else charts.plot(run_dir, rows)
    for e in errors:
        sys.stderr.write(f"report: {e}\n")
    write_report(run_dir, ctx, rows, recs, made, errors)
    findings.write(run_dir, recs)
    return rows, made, errors
