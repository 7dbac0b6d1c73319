"""dispatch_report.py - what the report shows of the dispatch sweep
(harness/dispatch_point.py's points): the chart's variables (plots/panels.gp,
one panel per series) and, for the random series, Kerrisk's table with his
figures beside ours.
"""

import models
import sweeps
from fold import measured

# Kerrisk, "The Linux epoll API" (LCA 2006; TLPI 63.4.5): seconds for 100,000
# monitoring operations, one random descriptor ready each time, by N.
KERRISK_N = (10, 100, 1000, 10000)


KERRISK = {"poll": ("0.61", "2.9", "35", "990"), "select": ("0.73", "3.0", "35", "930"),
           "epoll": ("0.41", "0.42", "0.53", "0.66")}         # as printed


KERRISK_AS = {"poll": "poll", "select": "select", "epoll_lt": "epoll"}   # ours -> his row


RATIO_BASE = "epoll_lt"   # his epoll: level-triggered, one descriptor ready per wait


def _s100k(r):
    """Seconds for 100,000 events (wall clock), from the CSV's ns_per_event."""
    v = r.get("ns_per_event") if r is not None and measured(r) else None
    return None if v is None else v * 1e5 / 1e9


def fmt_s(v):
    """3 significant digits, thousands with commas: 0.512, 7.24, 77.6, 991, 1,230."""
    if v is None:
        return "-"
    return f"{v:,.0f}" if abs(v) >= 999.5 else f"{v:.3g}"


def _cell(r, v):
    if r is None:
        return ""
    if r["status"] == "failed":
        return "FAIL"
    if r["status"] == "skipped":
        return "skip"
    s = fmt_s(v)
    if r.get("fds") is not None and int(r["fds"]) != r["x"]:
        s += " †"
    return s + ("*" if r["status"] == "partial" else "")


def kerrisk_lines(sel, series="random"):
    """REPORT.md lines: the random series as Kerrisk's table (seconds for
    100,000 operations at each N, his figures beside), and the ratios
    poll/epoll and select/epoll at each N, ours and his."""
    rows = [r for r in sel if r["series"] == series]
    if not rows:
        return []
    ns = sorted({r["x"] for r in rows})
    idx = {(r["model"], r["x"]): r for r in rows}
    top = ns[-1]
    his = {n: KERRISK_N.index(n) for n in ns if n in KERRISK_N}
    out = ["Kerrisk's table, measured here: seconds for 100,000 operations (wall clock of the "
           "dispatch loop: ns per event x 100,000), one random descriptor of N made ready per "
           "operation (`--method random --active 1`), pinned to the server's CPU; his figures "
           "(LCA 2006, TLPI 63.4.5) beside. Fewer events for the O(N) mechanisms at large N, "
           "scaled to 100,000 (the record's `writes`).\n",
           "| model | " + " | ".join(f"N = {n:,}" for n in ns) + f" | CPU s at {top:,} | "
           f"system calls per event at {ns[0]:,} / {top:,} | Kerrisk 2006 (s) at "
           + " / ".join(f"{n:,}" for n in his) + " |",
           "|---|" + "---:|" * (len(ns) + 2) + "---|"]
    marked = []
    for m in models.order({r["model"] for r in rows}):
        cells = [_cell(idx.get((m, n)), _s100k(idx.get((m, n)))) for n in ns]
        rt = idx.get((m, top))
        cpu = rt.get("cpu_ns_per_event") * 1e-4 if rt and measured(rt) and \
            rt.get("cpu_ns_per_event") is not None else None
        sc = [idx.get((m, n)) for n in (ns[0], top)]
        scs = " / ".join(f"{r['syscalls_per_event']:,.1f}" if r and measured(r) and
                         r.get("syscalls_per_event") is not None else "-" for r in sc)
        k = KERRISK.get(KERRISK_AS.get(m, ""))
        out.append(f"| {m} | " + " | ".join(cells) + f" | {fmt_s(cpu)} | {scs} | "
                   + (" / ".join(k[i] for i in his.values()) if k else "") + " |")
        marked += [(m, r) for r in (idx.get((m, n)) for n in ns)
                   if r and measured(r) and r.get("fds") is not None and int(r["fds"]) != r["x"]]
    out.append("")
    for m, r in marked:
        out.append(f"† {m} at N = {r['x']:,}: ran at {int(r['fds']):,} descriptors, the most it "
                   "can watch here (`max_fds_why` in points.jsonl).\n")
    if RATIO_BASE in {r["model"] for r in rows}:
        out += [f"The ratios at each N (ours: against `{RATIO_BASE}`; his: against his epoll):\n",
                "| ratio | " + " | ".join(f"N = {n:,}" for n in ns) + " |",
                "|---|" + "---:|" * len(ns)]
        for m in ("poll", "select"):
            if not any(r["model"] == m for r in rows):
                continue
            here = []
            for n in ns:
                a, b = _s100k(idx.get((m, n))), _s100k(idx.get((RATIO_BASE, n)))
                here.append(fmt_s(a / b) if a is not None and b else "-")
            out.append(f"| {m} / {RATIO_BASE}, here | " + " | ".join(here) + " |")
            out.append(f"| {m} / epoll, Kerrisk 2006 | " + " | ".join(
                fmt_s(float(KERRISK[m][his[n]]) / float(KERRISK["epoll"][his[n]])) if n in his
                else ""
                for n in ns) + " |")
        out.append("")
    return out


def chart_vars(sw, ch, rows):
    """plots/panels.gp's variables: one panel per series of the sweep (in its
    order, at most 4), or None when no point has the chart's figure."""
    sel = [r for r in rows if r["sweep"] == sw.name]
    if not any(measured(r) and r.get(ch.main_col()) is not None for r in sel):
        return None
    series = sweeps.series_of(sw, sel)[:4]
    p = ch.panels[0]
    # Error bars: the repeats' range. (A 95% interval of 2 repeats is +-12.7
    # standard errors: below zero, off a log axis.)
    have = set(rows[0]) if rows else set()
    lo, hi = (p.y + "_min", p.y + "_max") if p.y + "_min" in have else (p.y, p.y)
    v = dict(sweep=sw.name, xcol=ch.x, xfail="x", xlabel=ch.xlabel, logx=ch.logx,
             y=p.y, ylo=lo, yhi=hi, ylabel=p.ylabel, logy=int(p.logy), yfmt=p.yfmt,
             np=len(series), title=ch.title)
    for k, s in enumerate(series, 1):
        v[f"series{k}"] = s
        v[f"ptitle{k}"] = sw.series_title(s)
        v[f"y{k}"] = p.y          # (charts.plot's chart checks read figure k's column)
    v["models"] = " ".join(models.order({r["model"] for r in sel}))
    v["fails"] = int(any(r["status"] == "failed" for r in sel))
    v.update(ch.params)
    return v
