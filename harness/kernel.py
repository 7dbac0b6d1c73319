"""kernel.py - the kernel's view of one run of a point: the server's system
calls counted over exactly the measured window (harness/kcount.py) and,
when asked, where its CPU goes (harness/kprofile.py); what the record keeps
of them and the figures derived from them. When a bench run asks for them
is harness/kbench.py's; their REPORT.md sections are harness/kernel_report.py's.

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

import time

import kcount
import kprofile
import models
import procfs
from figures import CALLS, col, prof_col

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


# ---- preflight and the counting overhead ---------------------------------------------


# ---- REPORT.md sections ---------------------------------------------------------------


# ---- the charts' declarations (harness/sweeps.py) -----------------------------------


# ---- the bench's use of all this (harness/bench.py) -----------------------------------
