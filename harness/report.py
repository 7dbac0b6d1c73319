"""From a run's points.jsonl to points.csv, the charts and REPORT.md.

points.csv is tidy: one row per point (its repeats folded into the median,
with _min/_max columns for the spread of the main figures), a header row,
empty fields where a figure does not exist. Rows are sorted by sweep,
series, model (MODEL_ORDER) and x, so each model's line is contiguous.
"""

import csv
import glob
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PLOTS = os.path.join(ROOT, "plots")

# The fixed order, which is also the style table of plots/style.gp.
MODEL_ORDER = ("threads busypoll select poll epoll_lt epoll_et sigio rtsig posix_aio "
               "libaio io_uring libevent libev libuv reactors pool coro prefork node java").split()
SWEEP_ORDER = ("active", "idle", "rate", "churn", "size", "heavy")

KEY_COLS = ["sweep", "series", "model", "style", "x", "conns", "active", "idle", "rate",
            "size", "work_us", "work_every", "server_procs", "client_procs"]
SPREAD = ["msgs_per_s", "p50_us", "p99_us", "light_p50_us", "light_p99_us", "conns_per_s", "cpu_us_per_echo",
          "user_us_per_echo", "sys_us_per_echo", "syscalls_per_echo", "csw_per_echo",
          "rss_per_conn_b"]
MEDIAN = ["bytes_per_s", "p90_us", "p999_us", "p9999_us", "max_us", "mean_us",
          "heavy_p50_us", "heavy_p99_us",
          "connect_p50_us", "connect_p99_us", "achieved_ratio", "vcsw_per_echo",
          "ivcsw_per_echo", "server_cpu_util", "client_cpu_util", "fairness_jain",
          "rss_kb", "hwm_kb", "threads", "fds"]
COLUMNS = (KEY_COLS + ["status", "n_ok", "n_runs"]
           + [c for s in SPREAD for c in (s, s + "_min", s + "_max")]
           + MEDIAN + ["client_saturated", "reason"])


def order_models(models):
    models = list(models)
    known = [m for m in MODEL_ORDER if m in models]
    return known + sorted(m for m in models if m not in MODEL_ORDER)


def style_of(model):
    return MODEL_ORDER.index(model) + 1 if model in MODEL_ORDER else len(MODEL_ORDER) + 1


def source_models(root):
    return order_models(os.path.basename(p)[:-2] for p in glob.glob(os.path.join(root, "servers", "*.c"))
                        if not p.endswith("/common.c"))


def load_records(run_dir):
    """Every whole JSON line of points.jsonl (a torn last line is ignored)."""
    recs = []
    with open(os.path.join(run_dir, "points.jsonl")) as f:
        for ln in f:
            ln = ln.strip()
            if not ln:
                continue
            try:
                recs.append(json.loads(ln))
            except ValueError:
                sys.stderr.write(f"report: ignoring a torn line in {run_dir}/points.jsonl\n")
    return recs


def _key(pt):
    return (pt["sweep"], pt["series"], pt["model"], pt["conns"], pt["active"], pt["rate"],
            pt["size"], pt["work_us"])


def aggregate(recs):
    """Fold repeats: one row per point."""
    groups = {}
    for r in recs:
        groups.setdefault(_key(r["point"]), []).append(r)
    rows = []
    for runs in groups.values():
        pt = runs[0]["point"]
        row = {k: pt.get(k) for k in KEY_COLS if k != "style"}
        row["style"] = style_of(pt["model"])
        ok = [r for r in runs if r["status"] == "ok"]
        failed = [r for r in runs if r["status"] == "failed"]
        row["n_ok"], row["n_runs"] = len(ok), len(runs)
        if ok and len(ok) == len(runs):
            row["status"] = "ok"
        elif ok:
            row["status"] = "partial"
        elif failed:
            row["status"] = "failed"
        else:
            row["status"] = "skipped"
        row["reason"] = " | ".join(dict.fromkeys(r.get("reason") or "" for r in runs
                                                 if r["status"] != "ok"))
        use = ok
        for col in SPREAD + MEDIAN:
            vals = [r["derived"].get(col) for r in use if r.get("derived")]
            vals = [v for v in vals if isinstance(v, (int, float)) and not isinstance(v, bool)]
            row[col] = statistics.median(vals) if vals else None
            if col in SPREAD:
                row[col + "_min"] = min(vals) if vals else None
                row[col + "_max"] = max(vals) if vals else None
        sat = [r["derived"].get("client_saturated") for r in use if r.get("derived")]
        row["client_saturated"] = int(any(sat)) if sat else None
        rows.append(row)
    # 100 active + 0 idle is the active sweep's 100-connection point: lend it
    # to the idle sweep as its x = 0 (the curve's start) unless it has one.
    idle_series = {r["series"] for r in rows if r["sweep"] == "idle"}
    has_zero = any(r["sweep"] == "idle" and r["idle"] == 0 for r in rows)
    for r in list(rows):
        if (idle_series and not has_zero and r["sweep"] == "active" and r["conns"] == 100
                and r["size"] == 64 and not r["work_us"]):
            rows.append(dict(r, sweep="idle", series=sorted(idle_series)[0], x=0))
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

CHARTS = [
    # name, sweep, title for the report
    ("throughput", "active", "Throughput against active connections"),
    ("latency", "active", "p50 and p99 latency against active connections"),
    ("idle", "idle", "Idle connections: the C10K curve"),
    ("rate", "rate", "Latency against offered load"),
    ("cpu", "active", "CPU per echo, user and system"),
    ("syscalls", "active", "System calls and context switches per echo"),
    ("rss", "idle", "Memory per connection"),
    ("churn", "churn", "Connection churn"),
    ("size", "size", "Message size"),
    ("heavy", "heavy", "Heavy requests: the event loop's weak point"),
]


def _ok(r):
    return r["status"] in ("ok", "partial")


def ref_conns(rows):
    """The active-sweep point the CPU bars show: 1,000 if measured, else the
    nearest measured count."""
    have = sorted({r["conns"] for r in rows if r["sweep"] == "active" and _ok(r)
                   and r.get("cpu_us_per_echo") is not None})
    if not have:
        return None
    return min(have, key=lambda c: abs(c - 1000))


def heavy_rate(rows):
    have = sorted({r["rate"] for r in rows if r["sweep"] == "heavy" and _ok(r)})
    return 1000 if 1000 in have else (have[len(have) // 2] if have else None)


def heavy_work_ms(rows):
    """The heavy requests' CPU cost in ms (the runs' --work-us), for titles."""
    w = sorted({r["work_us"] for r in rows if r["sweep"] == "heavy" and r["work_us"]})
    return "/".join(f"{x / 1000:g}" for x in w) if w else "?"


def chart_params(name, sweep, rows):
    """gnuplot variables for one chart, or None when it has nothing to draw."""
    sel = [r for r in rows if r["sweep"] == sweep]
    p = {}
    if name == "cpu":
        rc = ref_conns(rows)
        if rc is None:
            return None
        p["ref_conns"] = rc
        sel = [r for r in sel if r["conns"] == rc]
    if name == "heavy":
        hr = heavy_rate(rows)
        if hr is None:
            return None
        p["heavy_rate"] = hr
        p["heavy_ms"] = heavy_work_ms(rows)
        sel = [r for r in sel if r["rate"] == hr]
    if name == "rate":
        series = sorted({r["series"] for r in sel}, key=lambda s: int(s[4:]) if s[4:].isdigit() else 0)
        p["rate_series"] = " ".join(series[:2])
    col = {"throughput": "msgs_per_s", "latency": "p99_us", "idle": "msgs_per_s",
           "rate": "p99_us", "cpu": "cpu_us_per_echo", "syscalls": "syscalls_per_echo",
           "rss": "rss_per_conn_b", "churn": "conns_per_s", "size": "msgs_per_s",
           "heavy": "light_p99_us"}[name]
    if not any(_ok(r) and r.get(col) is not None for r in sel):
        return None
    p["models"] = " ".join(order_models({r["model"] for r in sel}))
    p["fails"] = int(any(r["status"] == "failed" for r in sel))
    return p


def _gp_str(s):
    return "'" + str(s).replace("'", "''") + "'"


def plot(run_dir, rows):
    """Draw every chart with data as PNG and SVG; returns {name: files}."""
    made, errors = {}, []
    csv_path = os.path.join(run_dir, "points.csv")
    for name, sweep, _ in CHARTS:
        p = chart_params(name, sweep, rows)
        if p is None:
            continue
        for term in ("png", "svg"):
            vars_ = dict(csv=csv_path, outdir=run_dir, chart=name, term=term, plotdir=PLOTS, **p)
            expr = "; ".join(f"{k}={_gp_str(v) if isinstance(v, str) else v}" for k, v in vars_.items())
            try:
                r = subprocess.run(["gnuplot", "-e", expr, os.path.join(PLOTS, "bench.gp")],
                                   capture_output=True, text=True, timeout=60)
            except (OSError, subprocess.TimeoutExpired) as e:
                errors.append(f"{name}.{term}: {e}")
                continue
            out = os.path.join(run_dir, f"{name}.{term}")
            if r.returncode != 0 or not os.path.isfile(out):
                msg = [ln for ln in r.stderr.splitlines() if ln.strip() and "warning" not in ln.lower()]
                errors.append(f"{name}.{term}: gnuplot: {' / '.join(msg[-3:]) or r.returncode}")
                continue
            made.setdefault(name, []).append(out)
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


def pivot(rows, sweep, col, series=None, xname="x", extra=None):
    """A markdown table: models down, the sweep's x across."""
    sel = [r for r in rows if r["sweep"] == sweep and (series is None or r["series"] == series)
           and (extra is None or extra(r))]
    if not sel:
        return ""
    xs = sorted({r["x"] for r in sel})
    models = order_models({r["model"] for r in sel})
    idx = {(r["model"], r["x"]): r for r in sel}
    out = [f"| model \\ {xname} | " + " | ".join(f"{x:,}" for x in xs) + " |",
           "|---|" + "---:|" * len(xs)]
    for m in models:
        out.append(f"| {m} | " + " | ".join(_cell(idx.get((m, x)), col) for x in xs) + " |")
    return "\n".join(out) + "\n"


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

    def charts(*names):
        for n in names:
            if n in made:
                w(f"![{n}]({n}.png)\n")

    if any(r["sweep"] == "active" for r in rows):
        w("## Active connections (closed loop, 64 B, one message in flight each)\n")
        charts("throughput", "latency")
        w("Echoes per second:\n")
        w(pivot(rows, "active", "msgs_per_s", xname="conns"))
        w("p99 latency (us):\n")
        w(pivot(rows, "active", "p99_us", xname="conns"))
        charts("cpu", "syscalls")
        rc = ref_conns(rows)
        if rc is not None:
            w(f"Per echo at {rc:,} active connections:\n")
            w("| model | CPU us | user us | sys us | syscalls | ctx switches | server CPU | RSS KiB | threads |")
            w("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
            for r in rows:
                if r["sweep"] == "active" and r["conns"] == rc:
                    util = r.get("server_cpu_util")
                    w(f"| {r['model']} | " + " | ".join([
                        _cell(r, "cpu_us_per_echo"), _cell(r, "user_us_per_echo"),
                        _cell(r, "sys_us_per_echo"), _cell(r, "syscalls_per_echo"),
                        _cell(r, "csw_per_echo"),
                        "-" if util is None or r["status"] == "failed" else f"{util:.0%}",
                        _cell(r, "rss_kb"), _cell(r, "threads")]) + " |")
            w("")
    if any(r["sweep"] == "idle" for r in rows):
        w("## Idle connections (100 active + N idle)\n")
        charts("idle", "rss")
        w("Echoes per second:\n")
        w(pivot(rows, "idle", "msgs_per_s", xname="idle"))
        w("p99 latency (us):\n")
        w(pivot(rows, "idle", "p99_us", xname="idle"))
        w("RSS bytes per connection:\n")
        w(pivot(rows, "idle", "rss_per_conn_b", xname="idle"))
    if any(r["sweep"] == "rate" for r in rows):
        w("## Offered load (open loop)\n")
        charts("rate")
        for s in sorted({r["series"] for r in rows if r["sweep"] == "rate"},
                        key=lambda s: int(s[4:]) if s[4:].isdigit() else 0):
            w(f"p99 latency (us), {s}:\n")
            w(pivot(rows, "rate", "p99_us", series=s, xname="rate"))
            w(f"achieved / offered, {s}:\n")
            w(pivot(rows, "rate", "achieved_ratio", series=s, xname="rate"))
    if any(r["sweep"] == "churn" for r in rows):
        w("## Connection churn\n")
        charts("churn")
        w("Connections per second:\n")
        w(pivot(rows, "churn", "conns_per_s", xname="connectors"))
    if any(r["sweep"] == "size" for r in rows):
        w("## Message size (100 active)\n")
        charts("size")
        w("Bytes per second:\n")
        w(pivot(rows, "size", "bytes_per_s", xname="size"))
    if any(r["sweep"] == "heavy" for r in rows):
        w(f"## Heavy requests (1% of messages cost {heavy_work_ms(rows)} ms of server CPU; "
          "the server may use every CPU)\n")
        charts("heavy")
        # loadgen --work-every splits by the server's key: the light requests'
        # latency is what a single loop hurts (they queue behind a heavy one).
        for s, title in (("light", "light-only load"), ("heavy", "1% heavy load")):
            for col, what in (("light_p50_us", "light requests' p50"),
                              ("light_p99_us", "light requests' p99"),
                              ("heavy_p50_us", "heavy requests' p50")):
                if s == "light" and col == "heavy_p50_us":
                    continue        # nothing is heavy without --work-us
                t = pivot(rows, "heavy", col, series=s, xname="rate")
                if t:
                    w(f"{what} (us), {title}:\n")
                    w(t)
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
