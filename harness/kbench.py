"""kbench.py - the kernel's view in a bench run (harness/bench.py): the perf
preflight, which points get a CPU profile (--profile-points), each point's
counted run, the profile runs, and what counting costs.

Counting is not free: perf's tracepoint fires on every call the server makes,
and each per-name filter adds its own check. So the measured repeats run with
nothing attached, and the count comes from a separate, shorter run of each
closed-loop point (repeat 1; Bench.add_count); every run measures what that
would have cost (context.json kcount.overhead: echoes/s plain and counted).
"""

import os
import re
import statistics

import kcount
import kprofile
import models
from kernel import Window, derive, profile_figures

# ---- which points get a profile ----------------------------------------------------

DEFAULT_PROFILE_POINTS = "active:1000,idle:max"


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
    """The profile's file name; a point with its own S (the cores sweep) has it
    too, or S = 1, 2, 4, ... would write one file."""
    s = str(pt["server_cpus"])
    return f"{pt['sweep']}-{pt['conns']}-{pt['model']}" + (f"-S{s}" if s.isdigit() and s != "0"
                                                           else "")


def write_profile_text(prof, path):
    """The top kernel and user functions, one file per profiled point."""
    with open(path, "w") as f:
        f.write("\n".join(kprofile.table(prof, n=kprofile.TOP)) + "\n")


# ---- preflight and the counting overhead ---------------------------------------------

def status():
    """(usable for counting, usable for profiles, preflight lines, why no
    count, why no profile): one line per piece, then, when something is
    missing, what it costs this run, said once (costs)."""
    st = kcount.perf_status()
    why = None if st["usable"] else (kcount.missing(st, "count") or "perf cannot count")
    prof = st["profile"] and st["usable"]
    pwhy = None if prof else (kcount.missing(st, "profile") or why)
    return (st["usable"], prof, kcount.describe_status(st) + costs(why, kcount.missing(st, "names")),
            why, pwhy)


def costs(why, names_why=None):
    """What the missing pieces cost a bench run's count, one line."""
    out = []
    if why:
        out.append(
            f"not measured here: the kernel's count of the servers' system calls ({why}): "
            "syscalls_per_echo and the calls by name stay empty (points.csv's syscalls_note "
            "says why); the syscalls chart and REPORT.md show the servers' own count "
            "instead (self_syscalls_per_echo: the SC() marks, over the whole run), labelled so, "
            "and none for " + ", ".join(models.names(self_counts=False))
            + " (their calls happen in a library)")
    elif names_why:
        out.append(f"not measured here: the calls by name ({names_why}): the kernel's total only")
    return out


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


_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


def safe(name):
    return _SAFE.sub("_", name)


def profile_dir(run_dir):
    d = os.path.join(run_dir, "profiles")
    os.makedirs(d, exist_ok=True)
    return d


# ---- the bench's use of all this (harness/bench.py) -----------------------------------

COUNT_RUN_S = 0.5           # a point's counted run: measured seconds ...


COUNT_WARMUP_S = 0.1        # ... after this warm-up (its own connects come first)


REF_MODEL = "epoll_lt"      # the counting overhead is measured on it when it runs


OVERHEAD_S = 2.0            # ... in runs of at most this many measured seconds


class Bench:
    """Preflight, a Window per point, the profile runs, the overhead, for bench.py."""

    def __init__(self, spec, pts, run_dir):
        self.usable, self.profile_ok, self.lines, self.why, pwhy = status()
        self.spec = spec or DEFAULT_PROFILE_POINTS
        self.targets = profile_targets(pts, parse_profile_points(self.spec))
        self.run_dir = run_dir
        self.ctx = dict(usable=self.usable, why=self.why, status=self.lines)
        self.pctx = dict(points=self.spec, targets=sorted(f"{s}:{c}" for s, c in self.targets),
                         why=pwhy)

    def preflight(self, out):
        for ln in self.lines:
            out.write(f"preflight: {ln}\n")
        if self.targets and not self.profile_ok:
            out.write(f"preflight: not measured here: CPU profiles ({self.pctx['why']}): no "
                      "profile charts or tables\n")
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
            k = dict(why_empty=f"the kernel's count was not available: {self.why}"
                     + ("" if models.attr(pt["model"], "self_counts", True) else
                        "; no own count either: its calls happen in a library"))
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
