#!/usr/bin/env python3
"""A tiny bench run carries the kernel's view (TAP, under prove).

bench.py on epoll_lt and libuv, the active sweep at 100 connections, 1 s:
every point's points.csv row has the kernel's system calls per echo and
its calls by name (libuv's read/write/epoll_ctl that its own counter cannot
see), libuv has no self-count figure, the profiled points have a profile
table in REPORT.md and a folded-stacks file, the counting overhead is in
context.json. Without perf (a PATH of links to every program but perf: a
real absence) the same run, charts drawn, is a reduced path, not a broken
one: the points are ok, the kernel's columns empty with the reason, the
preflight says once what is missing and what it costs, the syscalls chart
draws the servers' own count labelled so (none for libuv, a library row),
REPORT.md says what is not measured here. Needs bin/ built.
"""
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from c10k import TAP, ROOT  # noqa: E402
sys.path.insert(0, os.path.join(ROOT, "harness"))
import charts  # noqa: E402
import kcount  # noqa: E402

BIN = os.path.join(ROOT, "bin")
for m in ("loadgen", "echo_epoll_lt", "echo_libuv"):
    if not os.access(os.path.join(BIN, m), os.X_OK):
        TAP.skip_all(f"bin/{m} is not built (run make)")
t = TAP()
tmp = tempfile.mkdtemp(prefix="kernel-t-")


def bench(out, env=None, plots=False):
    cmd = [sys.executable, os.path.join(ROOT, "harness", "bench.py"), "--profile", "quick",
           "--models", "epoll_lt,libuv", "--sweeps", "active", "--conns", "100",
           "--duration", "1", "--warmup", "0.3", "--profile-points", "active:100",
           "--out", out] + ([] if plots else ["--no-plots"])
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    run = os.path.join(out, "latest")
    rows = {}
    try:
        with open(os.path.join(run, "points.csv")) as f:
            rows = {r["model"]: r for r in csv.DictReader(f)}
    except OSError:
        pass
    return p, run, rows


def num(r, k):
    try:
        return float(r.get(k) or "")
    except ValueError:
        return None


try:
    st = kcount.perf_status()
    if not st["usable"]:
        t.skip("kernel columns filled", "perf cannot count here: " + kcount.missing(st, "count"))
    else:
        p, run, rows = bench(os.path.join(tmp, "with"))
        ep, uv = rows.get("epoll_lt", {}), rows.get("libuv", {})
        t.ok(p.returncode == 0 and ep.get("status") == "ok" and uv.get("status") == "ok",
             "a tiny bench run finishes with both points ok", p.stderr[-1500:])
        t.ok((num(ep, "syscalls_per_echo") or 0) > 1 and (num(ep, "sc_read") or 0) > 0.5
             and (num(ep, "sc_sendto") or 0) > 0.5,
             "epoll_lt: the kernel's syscalls/echo and its read and sendto by name", ep)
        t.ok((num(uv, "syscalls_per_echo") or 0) > 2 and (num(uv, "sc_epoll_ctl") or 0) > 0.5
             and uv.get("self_syscalls_per_echo") == "",
             "libuv: the kernel sees its calls (epoll_ctl by name); no self-count figure", uv)
        t.ok(num(ep, "self_syscalls_per_echo") is not None,
             "epoll_lt: its own count is kept as the cross-check column", ep)
        try:
            with open(os.path.join(run, "REPORT.md")) as f:
                rep = f.read()
        except OSError:
            rep = ""
        t.ok("Where an echo's time goes at 100 active connections" in rep
             and "| epoll_lt |" in rep.split("Where an echo's time goes")[-1],
             "REPORT.md: the profile table at the profiled point", rep[-2000:])
        t.ok("System calls per echo by call at 100 active" in rep,
             "REPORT.md: the calls-by-name table", rep[-2000:])
        pdir = os.path.join(run, "profiles")
        folded = [f for f in os.listdir(pdir) if f.endswith(".folded")] if os.path.isdir(pdir) else []
        t.ok(sorted(folded) == ["active-100-epoll_lt.folded", "active-100-libuv.folded"],
             "a folded-stacks file per profiled model", folded)
        try:
            with open(os.path.join(run, "context.json")) as f:
                ov = json.load(f)["kcount"].get("overhead") or {}
        except (OSError, ValueError, KeyError):
            ov = {}
        t.ok(len(ov.get("plain") or []) == 2 and len(ov.get("counted") or []) == 2
             and ov.get("ratio"), "context.json: the counting overhead, plain and counted", ov)

    # ---- without perf: the same run, columns empty with the reason ----
    path = []
    for i, d in enumerate(os.environ.get("PATH", "").split(os.pathsep)):
        if d and os.path.isfile(os.path.join(d, "perf")):
            # the folder again, every entry but perf (symbolic links)
            shadow = os.path.join(tmp, f"path{i}")
            os.makedirs(shadow)
            for n in os.listdir(d):
                if n != "perf":
                    os.symlink(os.path.join(d, n), os.path.join(shadow, n))
            d = shadow
        path.append(d)
    env = dict(os.environ, PATH=os.pathsep.join(path))
    if shutil.which("perf", path=env["PATH"]):
        t.skip("no perf: columns empty with the reason", "cannot hide perf from PATH")
    else:
        p, run, rows = bench(os.path.join(tmp, "without"), env, plots=True)
        ep, uv = rows.get("epoll_lt", {}), rows.get("libuv", {})
        # perf is missing; as a user, more is (perf_event_paranoid, tracefs): all named
        why = ep.get("syscalls_note") or ""
        t.ok(p.returncode == 0 and ep.get("status") == "ok" and uv.get("status") == "ok"
             and ep.get("syscalls_per_echo") == ""
             and why.startswith("the kernel's count was not available: perf is not installed"),
             "without perf: the points are ok, syscalls empty, syscalls_note says why",
             (ep, p.stderr[-800:]))
        t.ok(num(ep, "self_syscalls_per_echo") and uv.get("self_syscalls_per_echo") == ""
             and uv.get("syscalls_note") == why + "; no own count either: its calls happen "
             "in a library", "without perf: the servers' own count in the CSV, none for libuv "
             "(a library row) and its note says so", (ep, uv))
        t.ok("preflight: perf: perf installed: MISSING" in p.stderr
             and p.stderr.count("not measured here") == 2
             and p.stderr.count("not measured here: the kernel's count of the servers' system "
                                f"calls ({why.split(': ', 1)[-1]})") == 1
             and "strace" not in p.stderr and "overhead" not in p.stderr,
             "without perf: the preflight says what is missing and, once, what it costs "
             "(the count and the profiles)", p.stderr[-1500:])
        try:
            with open(os.path.join(run, "syscalls.svg"), errors="replace") as f:
                svg = f.read()
        except OSError:
            svg = ""
        drew = charts.chart_rows(os.path.join(run, "syscalls.svg.rows"))
        # (a long heading is drawn on two lines, split at its first "; ")
        t.ok("server system calls per echo: the servers' own count;" in svg and why in svg
             and drew.get((1, "-"), {}).get("epoll_lt") == 1
             and drew.get((1, "-"), {}).get("libuv") == 0,
             "without perf: the syscalls chart draws the servers' own count, labelled so "
             "(epoll_lt's point; libuv has none)", (drew, svg[:300]))
        try:
            with open(os.path.join(run, "REPORT.md")) as f:
                rep = f.read()
        except OSError:
            rep = ""
        t.ok(f"No kernel count in this run ({why.split(': ', 1)[-1]}): not measured here" in rep
             and f"| epoll_lt | {float(ep.get('self_syscalls_per_echo') or 0):.2f} |" in rep
             and "| libuv | not measured here |" in rep
             and f"not measured here by the kernel ({why.split(': ', 1)[-1]})" in rep
             and "No CPU profiles in this run: perf is not installed" in rep,
             "without perf: REPORT.md says what is not measured here and shows the own count",
             rep[-2500:])
finally:
    shutil.rmtree(tmp, ignore_errors=True)

t.done()
