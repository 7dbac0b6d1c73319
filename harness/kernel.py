"""kernel.py - the kernel's view of every bench point, wired into the harness:
the server's system calls counted over exactly one run's measured window
(harness/kcount.py) and, at chosen points, where its CPU goes
(harness/kprofile.py). The glue between runner/bench/report and those two.

Counting is not free: perf's tracepoint fires on every call the server makes,
and each per-name filter adds its own check. So the measured repeats run with
nothing attached, and the count comes from a separate, shorter run of each
closed-loop point (repeat 1; Bench.add_count); every run measures what that
would have cost (context.json kcount.overhead: echoes/s plain and counted).

    w = Window(count=True, profile_dir=None)     # runner.run_point(..., window=w)
    w.attach(pgids)     # after READY: perf attached to every process, counting off
    w.mark()            # loadgen's "measure start": on
    w.stop()            # loadgen's "measure end": off (the count is read here)
    w.finish(rec)       # after the generator: rec["kernel"], rec["profile"]
    w.close()           # whatever happened: no perf left (launch.kill_all too)

The record keeps the kernel's total and calls by name per echo
(rec["kernel"]), the figures go to points.csv: syscalls_per_echo (the
kernel's), sc_<name> per echo for the names of figures.NAMES and "other", and
self_syscalls_per_echo (the server's own SC() count over its whole run, a
cross-check; empty for the models whose calls happen in a library, which
could only show a lower bound). Without a usable perf the columns are
empty and syscalls_note says why: the bench never falls back to strace,
whose ptrace stop on every call would change every figure of the point
(kcount.Wrapped's strace fallback serves the fixed-work gate and tests).
"""

import os
import re
import statistics
import time

import kcount
import kprofile
import models
import procfs
from figures import CALLS, PROFILE_CATEGORIES as PROFILE_CATS, col, prof_col

DEFAULT_PROFILE_POINTS = "active:1000,idle:max"
# The server's own count covers its whole run (warm-up, connects), the
# kernel's the window: a call kind the server misses shows as a kernel excess
# above this per echo (tests/kcount.t checks agreement within 2% exactly).
UNCOUNTED_FLOOR = 0.05


# ---- the window --------------------------------------------------------------

class Window:
    """The kernel's instruments over one point's measured window."""

    def __init__(self, count=True, profile_dir=None, profile_name="profile", why_off=None,
                 size=64):
        self.size = size
        self.count, self.profile_dir, self.profile_name = count, profile_dir, profile_name
        self.why_off = why_off            # counting off: the reason the columns are empty
        self.counter = self.profiler = None
        self.cres = self.pres = None
        self.t_stop = None
        self.exit_note = None

    def attach(self, pgids):
        pids = procfs.group_pids(pgids)
        if self.count:
            self.counter = kcount.Counter(pids)
            self.counter.start()
        if self.profile_dir:
            self.profiler = kprofile.Profiler(pids, self.profile_dir, self.profile_name)
            self.profiler.start()

    def mark(self):
        if self.counter:
            self.counter.mark()
        if self.profiler:
            self.profiler.mark()

    def stop(self):
        """Measure end: the count is read now; the profiler is only disabled
        (its perf script runs in finish(), after the generator)."""
        if self.counter:
            self.cres = self.counter.stop()
        p = self.profiler
        if p and not p.res["why_empty"] and p.ctl is not None and p.t_mark is not None:
            if p.ctl.command("disable", p.child, 10):
                self.t_stop = time.monotonic()
            else:
                self.exit_note = "the server exited inside the window: samples up to its exit"

    def finish(self, rec):
        """The record's fields from the window's results: {"kernel": ...,
        "profile": ...} (rec: the record so far, with server_stats)."""
        out = {}
        echoes = (rec.get("client") or {}).get("echoes")
        if self.count or self.why_off:
            res = self.cres
            if res is None:
                why = self.why_off or ("the window never closed (no measure end from loadgen)"
                                       if self.counter else "not counted")
                res = dict(total=None, by_name=None, why_empty=why, tool=None)
            out["kernel"] = kernel_record(res, echoes, rec.get("server_stats"), self.size)
        if self.profiler:
            prof = self.profiler.stop(echoes)
            if self.t_stop and not prof.get("why_empty"):
                # disabled at measure end: the server's later exit (SIGTERM, after the
                # window) is what perf record's "disable" in stop() ran into
                prof["window_s"] = round(self.t_stop - self.profiler.t_mark, 6)
                if prof.get("note", "").startswith("the server exited inside the window"):
                    del prof["note"]
            elif self.exit_note:
                prof["note"] = self.exit_note
            out["profile"] = profile_record(prof)
        self.close()
        return out

    def close(self):
        for x in (self.counter, self.profiler):
            if x is not None:
                x.close()


def kernel_record(res, echoes, server_stats=None, size=64):
    """What points.jsonl keeps of the count: the window's counts, per echo,
    and which calls the server's own count does not see (by name)."""
    out = {k: res.get(k) for k in ("total", "by_name", "tool", "why_empty", "note", "tasks",
                                   "window_s", "target_exited")}
    out["echoes"] = echoes
    total, by = kcount.per_echo(res, echoes)
    out["per_echo"] = total
    out["by_name_per_echo"] = by
    own = (server_stats or {}).get("syscalls") or {}
    n = ((server_stats or {}).get("bytes_out") or 0) / size
    if by and own.get("total") is not None and n:
        # the server's kinds per echo of its whole run, against the window's names
        kinds = {k: v / n for k, v in own.items() if k != "total" and isinstance(v, (int, float))}
        miss = kcount.uncounted(by, kinds, floor=UNCOUNTED_FLOOR)
        out["uncounted_by_server"] = {k: round(v, 4) for k, v in miss.items()}
    return out


def profile_record(prof):
    """The profile without the bulky parts (the folded stacks are a file)."""
    return {k: v for k, v in prof.items() if k != "folded_lines"}


# ---- derived figures (runner.derive) ---------------------------------------------

def derive(pt, rec):
    """The system-call figures of one run: the kernel's (and by name), the
    server's own as a cross-check (not for library rows), the profile's shares."""
    d = {}
    s = rec.get("server_stats") or {}
    sc = (s.get("syscalls") or {}).get("total")
    own_ok = models.attr(pt["model"], "self_counts", True)
    if own_ok and isinstance(sc, (int, float)) and s.get("bytes_out"):
        d["self_syscalls_per_echo"] = sc / (s["bytes_out"] / pt["size"])   # whole run
    k = rec.get("kernel") or {}
    if k.get("per_echo") is not None:
        d["syscalls_per_echo"] = k["per_echo"]
        by = k.get("by_name_per_echo") or {}
        for n in CALLS:
            d[col(n)] = 0.0
        for n, v in by.items():
            d[col(n if n in CALLS else "other")] += v
    d.update(profile_figures(rec.get("profile")))
    return d


def profile_figures(prof):
    if not prof or prof.get("why_empty"):
        return {}
    d = {prof_col(c): v["share"] for c, v in (prof.get("categories") or {}).items()}
    if prof.get("ns_per_echo") is not None:
        d["prof_ns_per_echo"] = prof["ns_per_echo"]
    return d


# ---- which points get a profile ----------------------------------------------------

def parse_profile_points(spec, known=None):
    """"active:1000,idle:max" -> [("active", 1000), ("idle", "max")]; "none" -> [].
    ValueError naming the bad entry."""
    if spec in (None, "", "default"):
        spec = DEFAULT_PROFILE_POINTS
    if spec == "none":
        return []
    out = []
    for item in spec.split(","):
        sw, _, x = item.strip().partition(":")
        if not sw or not (x == "max" or x.isdigit()):
            raise ValueError(f"'{item}' is not SWEEP:CONNS or SWEEP:max")
        if known is not None and sw not in known:
            raise ValueError(f"'{sw}' is not a sweep ({', '.join(known)})")
        out.append((sw, x if x == "max" else int(x)))
    return out


def profile_targets(pts, spec):
    """The point keys to profile: per (sweep, wanted conns) the planned conns
    nearest to it (or the largest), every model, first repeat, closed loop."""
    want = set()
    for sw, x in spec:
        have = sorted({p["conns"] for p in pts if p["sweep"] == sw and not p["rate"]
                       and not p["work_us"] and p["size"] == 64})
        if not have:
            continue
        c = have[-1] if x == "max" else min(have, key=lambda c: abs(c - x))
        want.add((sw, c))
    return want


def wants_profile(pt, targets):
    return pt["repeat"] == 1 and (pt["sweep"], pt["conns"]) in targets and not pt["rate"] \
        and not pt["work_us"] and pt["size"] == 64


def profile_name(pt):
    return f"{pt['sweep']}-{pt['conns']}-{pt['model']}"


def write_profile_text(prof, path):
    """The top kernel and user functions, one file per profiled point."""
    with open(path, "w") as f:
        f.write("\n".join(kprofile.table(prof, n=kprofile.TOP)) + "\n")


# ---- preflight and the counting overhead ---------------------------------------------

def status():
    """(usable for counting, usable for profiles, preflight lines, why not)."""
    st = kcount.perf_status()
    lines = kcount.describe_status(st)
    why = None if st["usable"] else "; ".join(
        f"{p['piece']}: {p['detail']}" for p in st["pieces"] if not p["ok"])
    return st["usable"], st["profile"] and st["usable"], lines, why


def overhead(run, pt, rounds=2):
    """The counting's cost on one point: run(pt, counted) -> record dict,
    alternated plain / counted `rounds` times in this run. Echoes/s of each,
    and the ratio of the medians."""
    plain, counted, errors = [], [], []
    for _ in range(rounds):
        for on, lst in ((False, plain), (True, counted)):
            r = run(pt, on)
            v = (r.get("derived") or {}).get("msgs_per_s")
            if r.get("status") == "ok" and v:
                lst.append(v)
            else:
                errors.append(r.get("reason") or "no figure")
    out = dict(model=pt["model"], sweep=pt["sweep"], conns=pt["conns"],
               duration=pt["duration"], plain=plain, counted=counted, errors=errors)
    if plain and counted:
        out["ratio"] = statistics.median(counted) / statistics.median(plain)
    return out


# ---- REPORT.md sections ---------------------------------------------------------------

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
        L.append(f"No kernel count in this run: {kc.get('why') or 'not measured'}. The "
                 "system-call columns are empty (syscalls_note in points.csv says why).\n")
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
        profs.setdefault((pt["sweep"], pt["conns"], pt["active"]), {})[pt["model"]] = p
    pk = ctx.get("kprofile") or {}
    if not profs:
        if pk.get("why"):
            return [f"No CPU profiles in this run: {pk['why']}.\n"]
        return []
    L = []
    for (sw, conns, active), by in sorted(profs.items()):
        idle = conns - active
        what = f"{active:,} active" + (f" + {idle:,} idle" if idle else "") + " connections"
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
                     + " | ".join(f"{c[k]['share']:.0%}" for k in PROFILE_CATS)
                     + f" | {_fn_list(p.get('top_kernel') or [])} | "
                     f"{_fn_list(p.get('top_user') or [], 2)} |")
        L.append("")
    return L


_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


def safe(name):
    return _SAFE.sub("_", name)


def profile_dir(run_dir):
    d = os.path.join(run_dir, "profiles")
    os.makedirs(d, exist_ok=True)
    return d


# ---- the charts' declarations (harness/sweeps.py) -----------------------------------

SC_STACK = (("cols", " ".join(col(n) for n in CALLS)), ("labels", " ".join(CALLS)),
            ("floor", 0.005), ("ylabel", "server system calls per echo (the kernel's count)"))
PROF_STACK = (("cols", " ".join(prof_col(c) for c in PROFILE_CATS)),
              ("labels", " ".join(PROFILE_CATS)), ("pct", 1),
              ("ylabel", "share of the server's CPU samples"))


def at_near(col, want):
    """An at_pick: the conns nearest `want` ("max": the largest) among the ok rows with col."""
    def pick(rows):
        have = sorted({r["conns"] for r in rows if r["status"] in ("ok", "partial")
                       and r.get(col) is not None})
        if not have:
            return None
        return have[-1] if want == "max" else min(have, key=lambda c: abs(c - want))
    return pick


# ---- the bench's use of all this (harness/bench.py) -----------------------------------

COUNT_RUN_S = 0.5           # a point's counted run: measured seconds ...
COUNT_WARMUP_S = 0.1        # ... after this warm-up (its own connects come first)
REF_MODEL = "epoll_lt"      # the counting overhead is measured on it when it runs
OVERHEAD_S = 2.0            # ... in runs of at most this many measured seconds


class Bench:
    """Preflight, a Window per point, the profile runs, the overhead, for bench.py."""

    def __init__(self, spec, pts, run_dir):
        self.usable, self.profile_ok, self.lines, self.why = status()
        self.spec = spec or DEFAULT_PROFILE_POINTS
        self.targets = profile_targets(pts, parse_profile_points(self.spec))
        self.run_dir = run_dir
        self.ctx = dict(usable=self.usable, why=self.why, status=self.lines)
        self.pctx = dict(points=self.spec, targets=sorted(f"{s}:{c}" for s, c in self.targets),
                         why=None if self.profile_ok else
                         (self.why or "kernel symbols hidden (kptr_restrict)"))

    def preflight(self, out):
        for ln in self.lines:
            out.write(f"preflight: {ln}\n")
        if not self.usable:
            out.write(f"preflight: kernel system-call counts: skipped ({self.why}); the "
                      "syscall columns stay empty with that reason\n")
        if self.targets and not self.profile_ok:
            out.write(f"preflight: CPU profiles: skipped ({self.pctx['why']})\n")
        elif self.targets:
            out.write("preflight: CPU profiles at " + ", ".join(self.pctx["targets"])
                      + " (a second run of each of those points)\n")

    def window(self, pt):
        """The measured repeats run with nothing attached: perf's tracepoint
        fires on every call the server makes (per-name filters each add their
        own check), which cost the server a large share of its echoes here
        (context.json "overhead" measures it in every run). The count comes
        from a separate run of the point instead (add_count)."""
        return None

    def add_count(self, pt, m, run):
        """For repeat 1 of a point that went well: run it again, shorter, with
        the kernel counting over its window (run(point, window) -> record
        dict), and keep that count and its figures in m. The counted run's
        throughput and CPU are not used."""
        if m.get("status") != "ok" or pt["repeat"] != 1:
            return
        if not self.usable:
            k = dict(why_empty=f"perf cannot count here: {self.why}")
        else:
            # A JIT runtime keeps its own warm-up (models.py warmup_s): cold,
            # its calls per echo mix in start-up work (netty: "other" 0.35
            # to 11.79 per echo from point to point in the 2026-11-29 run).
            cpt = pt.again(duration=min(pt["duration"], COUNT_RUN_S),
                           warmup=max(min(pt["warmup"], COUNT_WARMUP_S),
                                      models.attr(pt["model"], "warmup_s", 0.0)))
            r = run(cpt, Window(count=True, size=pt["size"]))
            k = r.get("kernel") or dict(
                why_empty=f"the counted run failed: {r.get('reason') or r.get('status')}")
            if r.get("status") != "ok" and not k.get("why_empty"):
                k = dict(k, note=f"the counted run failed: {r.get('reason')}")
            k["run"] = dict(duration=cpt["duration"], warmup=cpt["warmup"],
                            status=r.get("status"))
        m["kernel"] = k
        m.setdefault("derived", {}).update(derive(pt, m))

    def add_profile(self, pt, m, run):
        """For a chosen point that went well: run it again under the profiler
        (run(window) -> record dict) and keep the profile in m."""
        if not (self.profile_ok and m.get("status") == "ok" and wants_profile(pt, self.targets)):
            return
        name = safe(profile_name(pt))
        w = Window(count=False, profile_dir=profile_dir(self.run_dir), profile_name=name,
                   size=pt["size"])
        r = run(w)
        prof = r.get("profile") or dict(why_empty="no profile")
        if r.get("status") != "ok" and not prof.get("why_empty"):
            prof["note"] = f"the profile run failed: {r.get('reason')}"
        if not prof.get("why_empty"):
            write_profile_text(prof, os.path.join(profile_dir(self.run_dir), name + ".txt"))
        m["profile"] = prof
        m.setdefault("derived", {}).update(profile_figures(prof))

    def overhead(self, pts, run):
        """run(pt, window or None) -> record dict; measured once per bench run."""
        if not self.usable:
            return None
        act = [p for p in pts if p["sweep"] == "active" and p["repeat"] == 1]
        cand = [p for p in act if p["model"] == REF_MODEL] or act or \
            [p for p in pts if p["mode"] != "dispatch"]      # (a dispatch point runs no server)
        if not cand:
            return None
        pt = min(cand, key=lambda p: abs(p["conns"] - 1000))
        pt = pt.again(duration=min(pt["duration"], OVERHEAD_S), warmup=min(pt["warmup"], 0.5))
        self.ctx["overhead"] = overhead(
            lambda p, on: run(p, Window(count=True, size=p["size"]) if on else None), pt)
        return self.ctx["overhead"]

    def context(self):
        return dict(kcount=self.ctx, kprofile=self.pctx)
