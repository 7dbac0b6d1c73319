"""kernel_report.py - REPORT.md's sections of the kernel's view: how the
system calls were counted and what counting cost, the calls by name at the
active sweep's point nearest 1,000 connections, and where an echo's time
goes at each profiled point (harness/kernel.py's records, harness/kbench.py's
context).
"""

import statistics

import models
from figures import CALLS, PROFILE_CATEGORIES, col

def _f(v, digits=2):
    return "-" if v is None else f"{v:.{digits}f}"


def report_lines(ctx, rows, recs, order):
    """The REPORT.md sections of the kernel's view: how it counted, the
    counting's overhead, calls by name at the active sweep's ~1,000, and
    where an echo's time goes at each profiled point."""
    L = ["## The kernel's view: system calls by name and where the time goes\n"]
    kc = ctx.get("kcount") or {}
    if kc.get("usable"):
        L.append("System calls are the kernel's count (perf stat on the raw_syscalls:sys_enter "
                 "tracepoint, one filtered copy per call name) of every thread and process of "
                 "the server, over exactly the generator's measured window, divided by its "
                 "echoes. The servers' own SC() counts (whole run) are kept as the "
                 "`self_syscalls_per_echo` column of points.csv, a cross-check; the library "
                 "rows (" + ", ".join(models.names(self_counts=False)) + ") have none.\n")
    else:
        L.append(f"No kernel count in this run ({kc.get('why') or 'not measured'}): not "
                 "measured here: the kernel's count of the servers' system calls, in total and "
                 "by name (points.csv's syscall columns are empty and its syscalls_note says "
                 "why; no chart of the calls by name). The syscalls chart and the table below "
                 "show the servers' own count instead (`self_syscalls_per_echo`: the SC() marks "
                 "over the whole run, not the measured window), labelled so; the library rows ("
                 + ", ".join(models.names(self_counts=False)) + ") have none: their calls "
                 "happen in a library.\n")
        L += own_table(rows, order)
    ov = kc.get("overhead")
    if ov and ov.get("ratio"):
        L.append(f"Counting overhead, measured in this run on {ov['model']} at {ov['conns']:,} "
                 f"connections ({ov['sweep']} sweep), alternating plain and counted runs: "
                 f"{statistics.median(ov['plain']):,.0f} echoes/s plain, "
                 f"{statistics.median(ov['counted']):,.0f} counted: "
                 f"{(ov['ratio'] - 1) * 100:+.1f}% (runs: plain "
                 + ", ".join(f"{x:,.0f}" for x in ov["plain"]) + "; counted "
                 + ", ".join(f"{x:,.0f}" for x in ov["counted"]) + ").\n")
    elif ov:
        L.append(f"Counting overhead: not measured ({'; '.join(ov.get('errors') or []) or '?'}).\n")
    L += calls_table(rows, order)
    L += profile_tables(ctx, recs, order)
    return L


def calls_table(rows, order):
    """Models down, the call names any model made across, at the active
    sweep's point nearest 1,000 connections: the kernel's count per echo."""
    sel = [r for r in rows if r["sweep"] == "active" and r["status"] in ("ok", "partial")]
    have = sorted({r["conns"] for r in sel if r.get("syscalls_per_echo") is not None})
    if not have:
        return []
    at = min(have, key=lambda c: abs(c - 1000))
    sel = {r["model"]: r for r in sel if r["conns"] == at}
    names = [n for n in CALLS if any((r.get(col(n)) or 0) >= 0.005 for r in sel.values())]
    L = [f"System calls per echo by call at {at:,} active connections (the kernel's count; "
         "`own` = the server's own count, the cross-check):\n",
         "| model | total | " + " | ".join(names) + " | own |",
         "|---|---:|" + "---:|" * len(names) + "---:|"]
    for m in order(sel):
        r = sel[m]
        L.append(f"| {m} | {_f(r.get('syscalls_per_echo'))} | "
                 + " | ".join(_f(r.get(col(n))) if (r.get(col(n)) or 0) >= 0.005 else ""
                              for n in names)
                 + f" | {_f(r.get('self_syscalls_per_echo'))} |")
    return L + [""]


def own_table(rows, order):
    """Without the kernel's count: the servers' own count per echo at the
    active sweep's point nearest 1,000 connections, and who has none."""
    sel = [r for r in rows if r["sweep"] == "active" and r["status"] in ("ok", "partial")]
    have = sorted({r["conns"] for r in sel})
    if not have:
        return []
    at = min(have, key=lambda c: abs(c - 1000))
    sel = {r["model"]: r for r in sel if r["conns"] == at}
    L = [f"System calls per echo at {at:,} active connections: the servers' own count (the "
         "kernel's was not available):\n", "| model | own count |", "|---|---:|"]
    for m in order(sel):
        v = sel[m].get("self_syscalls_per_echo")
        L.append(f"| {m} | {_f(v) if v is not None else 'not measured here'} |")
    return L + [""]


def _fn_list(fs, n=3):
    return ", ".join(f"`{x['function']}` {x['share']:.0%}" for x in fs[:n])


def profile_tables(ctx, recs, order):
    """"Where an echo's time goes": per profiled point, per model."""
    profs = {}
    for r in recs:
        p = r.get("profile")
        if p is None:
            continue
        pt = r["point"]
        s = str(pt["server_cpus"])          # the cores sweep: one table per S
        profs.setdefault((pt["sweep"], pt["conns"], pt["active"], s if s.isdigit() else ""),
                         {})[pt["model"]] = p
    pk = ctx.get("kprofile") or {}
    if not profs:
        if pk.get("why"):
            return [f"No CPU profiles in this run: {pk['why']}.\n"]
        return []
    L = []
    for (sw, conns, active, s), by in sorted(profs.items(), key=lambda kv: (
            kv[0][:3], int(kv[0][3] or 0))):
        idle = conns - active
        what = f"{active:,} active" + (f" + {idle:,} idle" if idle else "") + " connections" \
            + (f", S = {s} server CPUs" if s and s != "0" else "")
        L += [f"Where an echo's time goes at {what} (perf record -e cpu-clock -g over the "
              "measured window of a separate run of the point; share of the server's samples "
              "by the first known frame from the leaf: wait = the readiness/completion "
              "mechanism, tcp = TCP/IP, sockets and copies, user = the server's code and its "
              "libraries, other = syscall entry/exit, scheduler, memory; top functions by self "
              "time; folded stacks in profiles/):\n",
              "| model | ns/echo | wait | tcp | user | other | top kernel functions | top user |",
              "|---|---:|---:|---:|---:|---:|---|---|"]
        for m in order(by):
            p = by[m]
            if p.get("why_empty"):
                L.append(f"| {m} | - | | | | | no profile: {p['why_empty']} | |")
                continue
            c = p["categories"]
            L.append(f"| {m} | {_f(p.get('ns_per_echo'), 0)} | "
                     + " | ".join(f"{c[k]['share']:.0%}" for k in PROFILE_CATEGORIES)
                     + f" | {_fn_list(p.get('top_kernel') or [])} | "
                     f"{_fn_list(p.get('top_user') or [], 2)} |")
        L.append("")
    return L
