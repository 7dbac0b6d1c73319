"""gate.py - the regression gate's decisions, as pure functions: figures from
repeats, tolerances, verdicts, the comparison with a baseline, and the
reasoning behind the tolerances in words (generated from the baseline's own
figures). No process is started here: harness/regress.py measures, this
decides, harness/regress_out.py writes.
"""

import statistics

REF = "epoll_lt"        # throughput and latency are ratios to this model, same run
# A figure is gated with tol = max(FLOOR, K x (max-min)/median of the baseline's
# repeats): the median of a run's repeats stays inside it unless something changed.
# A figure whose tol would be wider than what it must catch is reported only.
SC_TOL_FLOOR = 0.02    # never tighter than 2%
SC_TOL_K = 3           # 3x the widest swing seen among the baseline's repeats
SC_STEP_FRAC = 0.5     # gated only if tol <= half of one extra syscall per echo (0.5/median)
FUTEX_MIN = 0.05       # futex calls per echo from which a count is the scheduler's too
CG_TOL = 0.02          # the 2% (callgrind's spread is < 0.1% on most models)
CG_TOL_MAX = 0.06      # past 3x the 2% the model's Ir is timing-dependent: info
CG_SC_DET = 0.001      # syscalls/echo under callgrind must repeat to 0.1% for Ir to be gated
VERDICTS = ("ok", "FAIL", "info", "new", "n/a", "better")
# Where syscalls/echo comes from: the kernel's count (harness/kcount.py
# Wrapped: perf stat on raw_syscalls:sys_enter), so an unmarked call counts.
SC_SOURCE = "kernel"
GROWN_MIN = 0.1        # a call named in a failure grew by at least this per echo
# Expected range of n normal samples in standard deviations (d2, from the
# control-chart tables): what "max-min of the repeats" already covers.
RANGE_SD = {2: 1.128, 3: 1.693, 4: 2.059, 5: 2.326, 6: 2.534, 7: 2.704, 8: 2.847,
            9: 2.970, 10: 3.078}


def spread(vals):
    """median, min, max and (max-min)/median of a list."""
    med = statistics.median(vals)
    return dict(values=[round(v, 4) for v in vals], median=med, min=min(vals), max=max(vals),
                spread=(max(vals) - min(vals)) / med if med else 0.0)


def ratio_fig(vals, ref_vals, smaller_better):
    """A model's runs against the reference's median: median ratio and its range."""
    ref = statistics.median(ref_vals)
    if not ref:
        return None
    rs = [v / ref for v in vals]
    return dict(value=statistics.median(rs), lo=min(rs), hi=max(rs),
                ref_spread=(max(ref_vals) - min(ref_vals)) / ref, smaller_better=smaller_better)


def sc_tolerance(fig):
    """A model's syscalls/echo tolerance from its baseline repeats, or None when
    noise could hide one extra system call per echo (or nothing is counted), or
    when the count includes futex calls: how often threads meet on a futex
    depends on the scheduler, not on the code (posix_aio's glibc pool: 9.93 per
    echo in the baseline, 3 repeats within 0.55%, then +0.49 in a fresh-clone
    CI run with nothing changed in the server)."""
    if fig["median"] <= 0 or (fig.get("by_name") or {}).get("futex", 0) >= FUTEX_MIN:
        return None
    tol = max(SC_TOL_FLOOR, SC_TOL_K * fig["spread"])
    return round(tol, 4) if tol <= SC_STEP_FRAC / fig["median"] else None


def cg_tolerance(fig):
    """instr/echo: the issue's 2%, widened to 3x a model's measured spread, or
    None (info) when that passes CG_TOL_MAX or when the model's system calls
    per echo under callgrind varied between the baseline's repeats: then its
    code path, and so its Ir, depends on timing."""
    if (fig.get("syscalls") or {}).get("spread", 0) > CG_SC_DET:
        return None
    tol = max(CG_TOL, SC_TOL_K * fig["spread"])
    return round(tol, 4) if tol <= CG_TOL_MAX else None


def sc_names(by_name_runs, own_runs):
    """A syscalls figure's extras from its repeats: the kernel's calls by name
    (median per echo of each name) and the server's own count (median)."""
    names = sorted({n for r in by_name_runs for n in r})
    by = {n: round(statistics.median([r.get(n, 0.0) for r in by_name_runs]), 4) for n in names}
    return dict(by_name={n: v for n, v in by.items() if v}, own=round(statistics.median(own_runs), 4)
                if own_runs else None)


def calls_grown(now, base):
    """The calls whose count per echo grew by GROWN_MIN or more: "fcntl +1.00"."""
    now, base = now.get("by_name") or {}, base.get("by_name") or {}
    grown = sorted(((n, now.get(n, 0) - base.get(n, 0)) for n in set(now) | set(base)),
                   key=lambda x: -x[1])
    return ", ".join(f"{n} {d:+.2f}/echo" for n, d in grown if d >= GROWN_MIN)


def verdict(change, tol):
    """A gated figure (smaller is better): FAIL above +tol, better below -tol,
    ok inside; info when it has no tolerance (too noisy to gate)."""
    if tol is None:
        return "info"
    return "FAIL" if change > tol else "better" if change < -tol else "ok"


def gated_row(now, base, digits, ch_digits, tolerance):
    """(baseline, now, change, verdict) of one gated figure against its
    baseline. The tolerance is this code's rule applied to the baseline's
    repeats (tolerance(base): sc_tolerance or cg_tolerance), never a number
    stored with an older baseline: a change of the rule takes effect at once."""
    ch = now["median"] / base["median"] - 1 if base["median"] else 0.0
    tol = tolerance(base)
    tol_s = f" (±{tol * 100:.1f}%)" if tol else " (noisy)"
    return (f"{base['median']:.{digits}f}", f"{now['median']:.{digits}f}",
            f"{ch * 100:+.{ch_digits}f}%{tol_s}", verdict(ch, tol))


def compare(figs, base, models_sel, built, order):
    """Rows (model, figure, baseline, now, change, verdict), the failures
    ("model: figure") and notes, for a run's figures against a baseline."""
    rows, fails, notes = [], [], []
    bm = base["models"]

    def row(m, fig, b, n, ch, v):
        rows.append((m, fig, b, n, ch, v))
        if v == "FAIL":
            fails.append(f"{m}: {fig}")

    for m in order(set(bm) | set(figs)):
        if m not in figs:
            if m in bm and (models_sel is None or m in models_sel) and m not in built:
                row(m, "model", "present", "missing", "", "FAIL")
            continue
        f, b = figs[m], bm.get(m)
        if b is None:
            sc = f.get("syscalls")
            row(m, "syscalls/echo", "-", f"{sc['median']:.3f}" if sc else "failed", "", "new")
            if f["verify_errors"]:
                row(m, "echo errors", "-", str(f["verify_errors"]), "", "FAIL")
            continue
        # status: echo errors always fail; a point that passed before and fails now
        if f["verify_errors"]:
            row(m, "echo errors", "0", str(f["verify_errors"]), "", "FAIL")
        for pt, ok in f["points"].items():
            was = b.get("points", {}).get(pt)
            if not ok:
                why = next((e for e in f["errors"] if e.startswith(pt)), "failed")
                row(m, f"{pt} point", "ok" if was else "failed" if was is False else "-",
                    "failed", "", "FAIL" if was else "info")
                notes.append(f"{m}: {why}")
        sc, bsc = f.get("syscalls"), b.get("syscalls")
        if sc and bsc and sc.get("source") != bsc.get("source"):
            rows.append((m, "syscalls/echo", f"{bsc['median']:.3f}", f"{sc['median']:.3f}", "",
                         "info"))
            notes.append(f"{m}: syscalls/echo: the baseline counted "
                         f"{bsc.get('source') or 'the server itself'}, this run "
                         f"{sc.get('source') or 'the server itself'}: not compared (make baseline)")
        elif sc and bsc:
            r = gated_row(sc, bsc, 3, 1, sc_tolerance)
            grown = calls_grown(sc, bsc) if r[3] == "FAIL" else ""
            rows.append((m, "syscalls/echo", *r))
            if r[3] == "FAIL":
                fails.append(f"{m}: syscalls/echo" + (f" ({grown})" if grown else ""))
        cg, bcg = f.get("callgrind"), b.get("callgrind")
        has_b = bool(bcg and bcg.get("median"))
        if cg and cg.get("unsupported"):
            row(m, "instr/echo", f"{bcg['median']:.1f}" if has_b else "n/a", "n/a", "",
                "FAIL" if has_b else "n/a")
            notes.append(f"{m}: instr/echo n/a: {cg['why']}")
        elif cg and cg.get("median") and has_b:
            row(m, "instr/echo", *gated_row(cg, bcg, 1, 2, cg_tolerance))
        elif cg and cg.get("median"):
            row(m, "instr/echo", "n/a", f"{cg['median']:.1f}", "", "new")
        # reported only
        for key, name in (("tput_ratio", f"msgs/s / {REF}"), ("p50_ratio", f"p50 / {REF}"),
                          ("p99_ratio", f"p99 / {REF}")):
            r, br = f.get(key), b.get(key)
            if r:
                bs = f"{br['value']:.2f}" if br else "-"
                ch = f"{(r['value'] / br['value'] - 1) * 100:+.0f}%" if br and br["value"] else ""
                row(m, name, bs, f"{r['value']:.2f} ({r['lo']:.2f}-{r['hi']:.2f})", ch, "info")
        if "syscalls_10" in f:
            bs = f"{b['syscalls_10']:.3f}" if "syscalls_10" in b else "-"
            row(m, "syscalls/echo 10c", bs, f"{f['syscalls_10']:.3f}", "", "info")
    return rows, fails, notes


def justification(doc):
    """The tolerances, argued from a baseline's own figures: a list of lines
    (every figure in them is computed from doc, the baseline's regress.json)."""
    mach, st, bm = doc["machine"], doc["settings"], doc["models"]
    repeats, cg_repeats = doc["repeats"], doc["cg_repeats"]
    sc_n, cg_n = st["sc_n"], st["cg_n"]
    scs = {m: e["syscalls"] for m, e in bm.items() if e.get("syscalls")}
    gated = {m: v for m, v in scs.items() if sc_tolerance(v)}
    kernel_src = any(v.get("source") == SC_SOURCE for v in scs.values())
    cgs = {m: e["callgrind"] for m, e in bm.items() if (e.get("callgrind") or {}).get("median")}
    L = [f"Measured on {mach['host']} ({mach['cpu_model']}, {mach['cores']} cores, kernel "
         f"{mach['kernel']}) at load average {mach['loadavg'][0]:g}, commit "
         f"{(mach['commit'] or '?')[:12]}{' (dirty)' if mach['dirty'] else ''}, {mach['date']}.",
         "",
         f"syscalls/echo: {repeats} repeats per model, round-robin over the models (fresh servers, "
         f"{sc_n[0]} and {sc_n[1]} echoes on 1 connection at depth 1, "
         + ("the delta of the kernel's count of every call the server makes, marked with SC() "
            "or not: perf stat on raw_syscalls:sys_enter from the server's exec to its exit). "
            "A run compares the median of its repeats with the baseline's median; a failure "
            "names the calls that grew." if kernel_src else
            "the delta of the servers' own counters). A run compares the median of its repeats "
            "with the baseline's median.")]
    sd = (f": the full range of {repeats} repeats already spans about {RANGE_SD[repeats]:.1f} "
          "standard deviations, so 3 ranges is far outside what noise does to a median"
          if repeats in RANGE_SD else "")
    L.append(f"- Tolerance per model = max({SC_TOL_FLOOR * 100:g}%, {SC_TOL_K} x (max-min)/median "
             f"of its baseline repeats){sd}.")
    L.append(f"- A model is gated only if that tolerance is at most half of one extra system call per "
             f"echo ({SC_STEP_FRAC:g}/median), so the regression the gate exists for (one more call "
             "per echo) always lands outside it; otherwise the figure is reported (info).")
    if gated:
        worst = max(gated, key=lambda m: gated[m]["spread"])
        busiest = max(gated, key=lambda m: gated[m]["median"])
        L.append(f"- {len(gated)} of {len(scs)} models are gated. Widest spread among them: "
                 f"{gated[worst]['spread'] * 100:.2f}% ({worst}, tolerance "
                 f"{sc_tolerance(gated[worst]) * 100:.1f}%). Smallest step to catch: +1 call is "
                 f"+{100 / gated[busiest]['median']:.1f}% on {busiest} "
                 f"({gated[busiest]['median']:.2f}/echo), tolerance "
                 f"{sc_tolerance(gated[busiest]) * 100:.1f}%.")
    for m, f in sorted(scs.items()):
        if m in gated:
            continue
        if f["median"] <= 0:
            L.append(f"- {m}: its server counts no system calls per echo (the library does the I/O), "
                     "so this figure cannot see a regression: info; instr/echo still gates it.")
        elif (f.get("by_name") or {}).get("futex", 0) >= FUTEX_MIN:
            L.append(f"- {m}: {f['by_name']['futex']:.2f} of its {f['median']:.2f} calls per echo "
                     "are futex calls, whose number is how often its threads met, set by the "
                     "scheduler rather than the code, however close its repeats (spread "
                     f"{f['spread'] * 100:.1f}% here): info.")
        else:
            L.append(f"- {m}: spread {f['spread'] * 100:.1f}% ({f['min']:.2f}..{f['max']:.2f}/echo): "
                     "the count depends on timing (spins, extra reads or wake-ups that a faster or "
                     "slower peer avoids), so noise could hide one extra call: info.")
    L.append("")
    if cgs:
        g = {m: v for m, v in cgs.items() if cg_tolerance(v)}
        det = [m for m, v in g.items() if v["spread"] < 0.001]
        probe = doc.get("probe")
        L.append(f"instructions/echo (callgrind, user space only, the server under valgrind, loadgen "
                 f"native, {cg_n[0]} and {cg_n[1]} echoes, 1 connection, depth 1): {cg_repeats} "
                 f"repeats per model. {len(det)} models repeat to better than 0.1%: "
                 f"{', '.join(sorted(det))}. Tolerance = the issue's {CG_TOL * 100:g}%, widened to "
                 f"{SC_TOL_K} x a model's spread when that is larger. Reported only (info): a model "
                 f"whose spread passes {CG_TOL_MAX * 100:g}%, or whose own syscalls/echo in the same "
                 f"callgrind runs varied by more than {CG_SC_DET * 100:g}% between repeats: its code "
                 "path (extra EAGAIN reads, merged signals, wake-ups) depends on timing, and one "
                 "sample of a run can land anywhere in that range."
                 + (probe_sentence(probe, bm) if probe else ""))
        for m, v in sorted(g.items()):
            if v["spread"] >= 0.001:
                L.append(f"- {m}: spread {v['spread'] * 100:.2f}%, tolerance "
                         f"{cg_tolerance(v) * 100:.1f}%.")
        for m, v in sorted(cgs.items()):
            if m not in g:
                vs = v.get("syscalls") or {}
                L.append(f"- {m}: instr/echo {v['min']:.0f}..{v['max']:.0f} (spread "
                         f"{v['spread'] * 100:.2f}%), syscalls/echo under callgrind "
                         f"{vs.get('min', 0):.3f}..{vs.get('max', 0):.3f}: timing-dependent path: info.")
    for m, e in sorted(bm.items()):
        if (e.get("callgrind") or {}).get("unsupported"):
            L.append(f"- {m}: {e['callgrind']['why']}: n/a")
    L.append("")
    tp = st["tput"]
    ref = (bm.get(REF) or {}).get("msgs_per_s")
    L.append(f"throughput/latency: ratios to {REF} measured in the same run ({tp['runs']} hyperfine "
             f"runs of {tp['conns']} connections x {tp['count']} echoes each, after {tp['warmup']} "
             "warm-up run); reported only (info), with the range of the runs"
             + (f": {REF}'s own echoes/s in this baseline spread {ref['spread'] * 100:.0f}% "
                f"({ref['min']:,.0f}..{ref['max']:,.0f})." if ref else "."))
    return L


def probe_sentence(probe, bm):
    """The self-test build's cost, from the baseline's own probe measurement."""
    base = (bm.get(probe["model"]) or {}).get("callgrind") or {}
    if not base.get("median") or not probe.get("instr_per_echo"):
        return ""
    x = probe["instr_per_echo"]
    return (f" The self-test build ({probe['bin']}, one extra system call per echo) measured "
            f"{x:.1f} instr/echo on {probe['model']} against {base['median']:.1f} here: "
            f"{(x / base['median'] - 1) * 100:+.1f}%, outside the tolerance.")
