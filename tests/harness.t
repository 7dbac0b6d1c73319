#!/usr/bin/env python3
"""harness.t - the benchmark harness (harness/bench.py) end to end, in small.

A temporary --bin folder holds the real echo_epoll_lt, one more real model,
the real loadgen, and the fake servers of tests/tools/fake_echo.py (one
symlink per mode): crashy (aborts mid-run), hangy (ignores SIGTERM), mute
(never prints READY), stall (stops answering mid-run), refuse (refuses every
connection) and wrong (answers with wrong bytes).
Checks: bad MODELS/CONNS exit 2 before anything runs; a tiny sweep writes
valid records, CSV, charts and REPORT.md, with each fake recorded as failed
with its own reason and the sweep carried on; REPORT.md's tables hold the
CSV's numbers (tests/lib/reportcheck.py; a copy with one number changed and
one with a FAIL cell changed must fail that check); Ctrl-C leaves no process
and the finished points on disk.
"""
import csv
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from c10k import ROOT, TAP, bin_dir, fresh_boot, wait_until  # noqa: E402
import charts  # noqa: E402  (harness/, on the path through c10k)
import reportcheck  # noqa: E402
import sentences  # noqa: E402  (harness/, on the path through c10k)
from benchrun import BENCH, EXTRA  # noqa: E402


FAKE = os.path.join(ROOT, "tests", "tools", "fake_echo.py")
FAKES = ("crashy", "hangy", "mute", "stall", "refuse", "wrong")


def changed_number(text):
    """REPORT.md with the first echoes-per-second cell of epoll_lt doubled."""
    out, done = [], False
    for ln in text.splitlines():
        if not done and ln.startswith("| epoll_lt |"):
            cells = ln.split("|")
            for i, c in enumerate(cells[2:], 2):
                try:
                    v = float(c.strip().replace(",", ""))
                except ValueError:
                    continue
                cells[i] = f" {v * 2 + 10:,.0f} "
                done = True
                break
            ln = "|".join(cells)
        out.append(ln)
    return "\n".join(out) + "\n"


def missing_fail(text):
    """REPORT.md with the first FAIL cell turned into a number."""
    return text.replace("| FAIL |", "| 123 |", 1)


def run(args, timeout=120):
    return subprocess.run(BENCH + args, capture_output=True, text=True, timeout=timeout)


def leftovers(tag):
    """Pids whose command line mentions tag (our temporary folder)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read().decode(errors="replace")
        except OSError:
            continue
        if tag in cmd:
            out.append((int(d), cmd.replace("\0", " ")[:120]))
    return out


def records(run_dir):
    with open(os.path.join(run_dir, "points.jsonl")) as f:
        return [json.loads(ln) for ln in f if ln.strip()]


def main():
    fresh_boot()          # as root: tracefs unmounted, so make bench must prepare it
    t = TAP()
    real = bin_dir()
    if not os.access(os.path.join(real, "loadgen"), os.X_OK):
        TAP.skip_all(f"{real}/loadgen is not built")
    if not os.access(os.path.join(real, "echo_epoll_lt"), os.X_OK):
        TAP.skip_all(f"{real}/echo_epoll_lt is not built")
    if not shutil.which("gnuplot"):
        TAP.skip_all("gnuplot is not installed")
    second = next((m for m in ("epoll_et", "poll", "select", "libev", "libuv", "libevent")
                   if os.access(os.path.join(real, f"echo_{m}"), os.X_OK)), None)

    tmp = tempfile.mkdtemp(prefix="c10k-harness-")
    try:
        bindir = os.path.join(tmp, "bin")
        os.mkdir(bindir)
        os.symlink(os.path.join(real, "loadgen"), os.path.join(bindir, "loadgen"))
        os.symlink(os.path.join(real, "echo_epoll_lt"), os.path.join(bindir, "echo_epoll_lt"))
        if second is None:       # a second name for the same binary still makes two models
            second = "epoll_lt_twin"
            os.symlink(os.path.join(real, "echo_epoll_lt"), os.path.join(bindir, "echo_" + second))
        else:
            os.symlink(os.path.join(real, f"echo_{second}"), os.path.join(bindir, f"echo_{second}"))
        for mode in FAKES:
            os.symlink(FAKE, os.path.join(bindir, f"echo_{mode}"))
        out = os.path.join(tmp, "results")
        common = ["--bin", bindir, "--out", out, "--profile", "quick", *EXTRA]

        # -- bad input: exit 2, one line, nothing run or written -------------
        r = run(common + ["--models", "epoll_lt,nosuch"])
        t.ok(r.returncode == 2, "unknown MODELS entry exits 2", r.stderr)
        t.ok("nosuch" in r.stderr and len(r.stderr.strip().splitlines()) == 1,
             "the error is one line naming the model", r.stderr)
        r = run(common + ["--conns", "10,abc"])
        t.ok(r.returncode == 2 and "abc" in r.stderr, "CONNS that is not a number exits 2", r.stderr)
        too_many = resource.getrlimit(resource.RLIMIT_NOFILE)[1] + 1000   # past one process here
        r = run(common + ["--conns", str(too_many)])
        t.ok(r.returncode == 2 and "full" in r.stderr,
             f"CONNS {too_many} (descriptor hard limit + 1,000) in the quick profile exits 2", r.stderr)
        t.ok(not os.path.exists(out), "nothing was written for bad input")
        r = run(common + ["--models", f"epoll_lt,{second}", "--dry-run"])
        t.ok(r.returncode == 0 and "points, estimated" in r.stdout, "--dry-run lists points",
             r.stdout[-500:] + r.stderr)

        # -- a tiny sweep with misbehaving servers ---------------------------
        models = ["epoll_lt", second, *FAKES]
        t0 = time.monotonic()
        # --duration 3.5: a server that stops answering shows as replies
        # timed out only when the window outlasts the generator's reply
        # timeout (runner.REPLY_TIMEOUT_S, 3 s) after the stall.
        r = run(common + ["--models", ",".join(models), "--sweeps", "active", "--conns", "1,10",
                          "--duration", "3.5", "--warmup", "0.1", "--ready-timeout", "2",
                          "--stop-timeout", "1"], timeout=150)
        took = time.monotonic() - t0
        t.ok(r.returncode == 0, f"tiny sweep finishes with exit 0 ({took:.0f} s)", r.stderr[-2000:])
        run_dir = os.path.join(out, "latest")
        t.ok(os.path.isdir(run_dir), "results/latest points to the run")
        recs = records(run_dir)
        t.ok(len(recs) == 2 * len(models), f"{len(recs)} records for {2 * len(models)} points")
        by = {}
        for rec in recs:
            by.setdefault(rec["point"]["model"], []).append(rec)
        good = by.get("epoll_lt", []) + by.get(second, [])
        t.ok(good and all(x["status"] == "ok" and x["derived"]["msgs_per_s"] > 0 for x in good),
             "real servers: status ok, echoes measured",
             "\n".join(f"{x['point']['model']} {x['status']} {x.get('reason')}" for x in good))
        x = good[0] if good else {}
        need = ("ready", "start", "end", "after")
        t.ok(all(k in x.get("proc", {}) for k in need) and x.get("server_stats", {}).get("syscalls"),
             "a record has the /proc snapshots and the server's counters")
        d = x.get("derived", {})
        with open(os.path.join(run_dir, "context.json")) as f:
            counted = (json.load(f).get("kcount") or {}).get("usable")
        # without a kernel count (no perf, or not root), the servers' own count stands in
        sc = "syscalls_per_echo" if counted else "self_syscalls_per_echo"
        t.ok(all(d.get(k) is not None for k in ("p50_us", "p99_us", "cpu_us_per_echo",
                                                 sc, "rss_kb", "fds")),
             f"derived per-echo figures are there ({sc})", json.dumps(d))
        cr = by.get("crashy", [])
        t.ok(cr and cr[0]["status"] == "failed" and "died" in cr[0]["reason"],
             "a server that crashes mid-run is recorded as failed, with the reason",
             "\n".join(str(c.get("reason")) for c in cr))
        t.ok(len(cr) == 2 and cr[1]["status"] == "skipped" and "failed" in cr[1]["reason"],
             "the sweep skips the crashing model's larger points, saying why",
             "\n".join(str(c.get("reason")) for c in cr))
        hg = by.get("hangy", [])
        t.ok(len(hg) == 2 and all(h["status"] == "failed" and "SIGTERM" in h["reason"] for h in hg),
             "a server that ignores SIGTERM is killed and recorded as failed (every point)",
             "\n".join(str(h.get("reason")) for h in hg))
        mu = by.get("mute", [])
        t.ok(len(mu) == 2 and mu[0]["status"] == "failed" and "READY" in mu[0]["reason"]
             and mu[1]["status"] == "skipped",
             "a server without READY is recorded as failed (and not tried larger)",
             "\n".join(str(m.get("reason")) for m in mu))
        for mode, what, words in (
                ("stall", "stops answering mid-run", ("replies timed out",)),
                ("refuse", "refuses connections", ("refused",)),
                ("wrong", "answers wrongly", ("wrong echo", "verify errors"))):
            fk = by.get(mode, [])
            t.ok(len(fk) == 2 and fk[0]["status"] == "failed"
                 and all(w.lower() in fk[0]["reason"].lower() for w in words)
                 and fk[1]["status"] == "skipped",
                 f"a server that {what} is recorded as failed: {', '.join(words)}",
                 "\n".join(f"{x['status']}: {x.get('reason')}" for x in fk))
        with open(os.path.join(run_dir, "points.csv")) as f:
            rows = list(csv.DictReader(f))
        cols = set(rows[0].keys()) if rows else set()
        t.ok({"model", "sweep", "conns", "active", "idle", "rate", "size", "msgs_per_s",
              "msgs_per_s_min", "msgs_per_s_max", "p50_us", "p99_us", "cpu_us_per_echo",
              "user_us_per_echo", "sys_us_per_echo", "syscalls_per_echo", "csw_per_echo",
              "rss_per_conn_b", "status", "reason"} <= cols, "CSV has the documented columns")
        t.ok(len(rows) == 2 * len(models), f"CSV has one row per point ({len(rows)})")
        st = [r_["status"] for r_ in rows]
        t.ok(st.count("failed") == 7 and st.count("skipped") == 5,
             "CSV marks the 7 failed points and the 5 skipped", str(st))
        with open(os.path.join(run_dir, "context.json")) as f:
            ctx = json.load(f)
        t.ok(all(k in ctx for k in ("kernel", "cpu_model", "limits", "compiler", "git_commit",
                                    "git_dirty", "profile", "date")) and ctx.get("finished"),
             "context.json records the machine, build and run")
        for ext in ("png", "svg"):
            missing = [c for c in ("throughput", "latency", "cpu", "syscalls")
                       if not os.path.isfile(os.path.join(run_dir, f"{c}.{ext}"))
                       or not os.path.getsize(os.path.join(run_dir, f"{c}.{ext}"))]
            t.ok(not missing, f"{ext} charts drawn", f"missing: {missing}")
            # What gnuplot drew (plots/lines.gp counts each model's rows): a
            # lines chart with a figure of no data rows is empty or all-failed.
            empty = {c: charts.empty_figures(rf) or "no .rows file"
                     for c in ("throughput", "latency", "syscalls")
                     for rf in [os.path.join(run_dir, f"{c}.{ext}.rows")]
                     if not os.path.isfile(rf) or charts.empty_figures(rf)}
            t.ok(not empty, f"{ext} lines charts drew data rows in every figure", str(empty))
        with open(os.path.join(run_dir, "syscalls.svg"), errors="replace") as f:
            own = "the servers' own count" in f.read()
        t.ok(own != bool(counted), "the syscalls chart draws the kernel's count, or without it "
             f"the servers' own count, labelled so (kernel count: {bool(counted)})")
        with open(os.path.join(run_dir, "REPORT.md")) as f:
            rep = f.read()
        t.ok("![throughput](throughput.png)" in rep and "crashy" in rep and "died" in rep,
             "REPORT.md has the charts and the failed points with reasons")
        n, bad = reportcheck.check(run_dir)
        t.ok(n >= 2 * len(models) and not bad,
             f"REPORT.md's tables hold points.csv's numbers ({n} cells compared)", "\n".join(bad))
        place = sentences.placement(recs)
        topo = (good[0].get("topology") or {}) if good else {}
        t.ok(place and place in rep and (not topo.get("server_cpus")
                                         or f"server on cpu {topo['server_cpus']}" in place.lower()),
             "REPORT.md says where the server and generator ran, from the records", place)
        # The check of the check: a copy of the run with one number changed in
        # REPORT.md, and one with a failed point left out of it, must not pass.
        for what, edit in (("a changed number", changed_number), ("a missing FAIL", missing_fail)):
            cp = os.path.join(tmp, "copy")
            shutil.rmtree(cp, ignore_errors=True)
            shutil.copytree(os.path.realpath(run_dir), cp)
            with open(os.path.join(cp, "REPORT.md"), "w") as f:
                f.write(edit(rep))
            n2, bad2 = reportcheck.check(cp)
            t.ok(bad2, f"the table check catches {what} in REPORT.md", f"{n2} cells, no problem")
        if os.path.exists(os.path.join(run_dir, "throughput.png")):
            os.unlink(os.path.join(run_dir, "throughput.png"))
        r = run(["--report-only", run_dir])
        t.ok(r.returncode == 0 and os.path.isfile(os.path.join(run_dir, "throughput.png")),
             "--report-only re-draws a run", r.stderr[-1000:])
        t.ok(not leftovers(tmp), "no process left after the sweep", str(leftovers(tmp)))

        # -- Ctrl-C ------------------------------------------------------------
        out2 = os.path.join(tmp, "results2")
        p = subprocess.Popen(BENCH + ["--bin", bindir, "--out", out2, "--profile", "quick",
                                      "--models", f"epoll_lt,{second}", "--sweeps", "active",
                                      "--conns", "1,10,100", "--repeats", "3",
                                      "--duration", "1.5", "--warmup", "0.1", *EXTRA],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        jl = os.path.join(out2, "latest", "points.jsonl")

        def have_point():
            try:
                with open(jl) as f:
                    return sum(1 for _ in f) >= 1
            except OSError:
                return False
        wait_until(have_point, 30)
        time.sleep(0.7)                 # land inside the next point
        p.send_signal(signal.SIGINT)
        try:
            _, err = p.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            _, err = p.communicate()
        t.ok(p.returncode == 130, f"SIGINT: harness exits 130 (got {p.returncode})", err[-1500:])
        time.sleep(0.2)
        t.ok(not leftovers(tmp), "SIGINT: no process left behind", str(leftovers(tmp)))
        try:
            recs2 = records(os.path.join(out2, "latest"))
        except (OSError, ValueError) as e:
            recs2 = []
            t.diag(str(e))
        t.ok(1 <= len(recs2) < 18 and all(r_["status"] == "ok" for r_ in recs2),
             f"SIGINT: the {len(recs2)} finished point(s) are on disk, whole")
        with open(os.path.join(out2, "latest", "context.json")) as f:
            ctx2 = json.load(f)
        t.ok(ctx2.get("interrupted") is True, "context.json says the run was interrupted")
    finally:
        for pid, _ in leftovers(tmp):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        shutil.rmtree(tmp, ignore_errors=True)
    t.done()


main()
