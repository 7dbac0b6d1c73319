#!/usr/bin/env python3
"""machines.t - the suite on machines it has never run on, tested here (TAP).

A declared 16-CPU machine on this one (bench.py --declare-cpus 16,
docs/machines.md): a tiny cores sweep (its six models at S = 1, 2, 4, 8,
10 connections, 0.3 s a point) must record every planned S of every model,
each record with the declared plan and the real CPUs it ran on, what the
server really got from /proc (S --reuseport processes, reactors' S loops,
every task on the real server CPUs) and the generator's threads from the
declared CPUs; bench exits 0 with no planned point unaccounted for;
context.json and REPORT.md say the topology was declared; REPORT.md's cores
tables have a column per S and hold the CSV's numbers; the cores charts are
drawn. Then a declared 128-CPU machine with SERVER_CPUS=2, one point: the
generator on 126 declared CPUs runs as two processes. The dry runs of 3, 4
and 128 CPUs plan no cores sweep, S = 1, 2, and S = 1 .. 64.

perf is hidden (a PATH without it): the kernel's counted runs are
kernel.t's and kcount.t's, and without them this run is half as long.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from c10k import TAP, bin_dir  # noqa: E402
import cpuplan  # noqa: E402  (harness/, on the path through c10k)
import models  # noqa: E402
import reportcheck  # noqa: E402
from benchrun import BENCH, EXTRA  # noqa: E402

CORES = [m.name for m in models.MODELS if m.cores]
with open("/proc/self/status") as f:       # CAP_IPC_LOCK (14): io_uring's rings not limited
    IPC_LOCK = bool(int(next(ln.split()[1] for ln in f if ln.startswith("CapEff")), 16) >> 14 & 1)
S_16 = [1, 2, 4, 8]
BIN = bin_dir()


def path_without_perf(tmp):
    """PATH with every folder that holds perf replaced by links to all else."""
    out = []
    for i, d in enumerate(os.environ.get("PATH", "").split(os.pathsep)):
        if d and os.path.isfile(os.path.join(d, "perf")):
            shadow = os.path.join(tmp, f"path{i}")
            os.makedirs(shadow)
            for n in os.listdir(d):
                if n != "perf":
                    os.symlink(os.path.join(d, n), os.path.join(shadow, n))
            d = shadow
        out.append(d)
    return os.pathsep.join(out)


def bench(args, env, timeout=400):
    return subprocess.run(BENCH + ["--bin", BIN, "--profile", "quick", *EXTRA, *args],
                          capture_output=True, text=True, timeout=timeout, env=env)


def load(run_dir):
    with open(os.path.join(run_dir, "points.jsonl")) as f:
        recs = [json.loads(ln) for ln in f if ln.strip()]
    with open(os.path.join(run_dir, "context.json")) as f:
        return recs, json.load(f)


def dry_s(out):
    """{model: sorted S} of a dry run's cores points."""
    got = {}
    for ln in out.splitlines():
        f = ln.split()
        if len(f) > 10 and f[1] == "cores":
            got.setdefault(f[3], set()).add(int(f[9]))
    return {m: sorted(s) for m, s in got.items()}


def main():
    for exe in ["loadgen"] + [f"echo_{m}" for m in CORES + ["epoll_lt"]]:
        if not os.access(os.path.join(BIN, exe), os.X_OK):
            TAP.skip_all(f"{BIN}/{exe} is not built (run make)")
    if not shutil.which("gnuplot"):
        TAP.skip_all("gnuplot is not installed")
    t = TAP()
    real = tuple(sorted(os.sched_getaffinity(0)))
    tmp = tempfile.mkdtemp(prefix="c10k-machines-")
    try:
        env = dict(os.environ, PATH=path_without_perf(tmp))

        # ---- planning only: 3, 4 and 128 declared CPUs ----------------------
        r = bench(["--declare-cpus", "3", "--sweeps", "cores", "--dry-run"], env)
        t.ok(r.returncode == 2 and "fewer than 4 CPUs (3 usable)" in r.stderr,
             "3 declared CPUs: no cores sweep, and the line says why", r.stderr)
        r = bench(["--declare-cpus", "4", "--sweeps", "cores", "--dry-run"], env)
        t.ok(r.returncode == 0 and dry_s(r.stdout) == {m: [1, 2] for m in CORES},
             "4 declared CPUs: the cores sweep plans S = 1, 2 for each cores model",
             r.stdout[-800:] + r.stderr)
        r = bench(["--declare-cpus", "128", "--sweeps", "cores", "--dry-run"], env)
        want = {m: [1, 2, 4, 8, 16, 32, 64] for m in CORES}
        t.ok(r.returncode == 0 and dry_s(r.stdout) == want
             and "of 128 declared (0-127); DECLARED" in r.stdout
             and re.search(r"cores\s+active1000\s+epoll_et\s+1000\s+1000\s+0\s+64\s+0\s+1\s+1\s+64x2",
                           r.stdout),
             "128 declared CPUs: S = 1 .. 64 for each cores model; at S = 1 the generator "
             "has 127 CPUs: 64 threads x 2 processes", r.stdout[:1500] + r.stderr)

        # ---- a declared 16-CPU machine: the cores sweep, run ----------------
        out = os.path.join(tmp, "r16")
        r = bench(["--declare-cpus", "16", "--sweeps", "cores", "--models", ",".join(CORES),
                   "--set", "cores.conns=10", "--duration", "0.3", "--warmup", "0.1",
                   "--out", out], env)
        t.ok(r.returncode == 0, "declared 16 CPUs: the cores sweep finishes, exit 0",
             r.stderr[-2000:])
        run_dir = os.path.join(out, "latest")
        try:
            recs, ctx = load(run_dir)
        except (OSError, ValueError) as e:
            recs, ctx = [], {}
            t.diag(str(e))
        got = {(x["point"]["model"], x["point"]["x"]): x for x in recs}
        # Without CAP_IPC_LOCK (a user) every io_uring's rings count against
        # RLIMIT_MEMLOCK: 8 MiB held 6 servers here, so S = 8 fails, saying so.
        memlock = [k for k, x in got.items() if k[0] == "io_uring" and not IPC_LOCK
                   and x["status"] == "failed" and "RLIMIT_MEMLOCK" in x["reason"]]
        t.ok(sorted(got) == sorted((m, s) for m in CORES for s in S_16) and len(recs) == 24
             and all(x["status"] == "ok" or k in memlock for k, x in got.items())
             and not ctx.get("unaccounted"),
             "every cores model at every S = 1, 2, 4, 8 has its record, ok; none unaccounted"
             + (" (io_uring past RLIMIT_MEMLOCK: failed, naming it)" if memlock else ""),
             "\n".join(f"{x['point']['model']} S={x['point']['x']} {x['status']} {x['reason']}"
                       for x in recs) + f"\nunaccounted: {ctx.get('unaccounted')}")
        for m, s in memlock:
            t.note(f"{m} S={s}: {got[(m, s)]['reason']}")
        bad = []
        for (m, s), x in sorted(got.items()):
            if (m, s) in memlock:
                continue
            tp = x.get("topology") or {}
            rs, rc = cpuplan.map_real(s, 16 - s, real)
            srv, cli = cpuplan.format_cpulist(rs), cpuplan.format_cpulist(rc)
            if (tp.get("declared_cpus"), tp.get("server_cpus"), tp.get("client_cpus"),
                    tp.get("real_server_cpus"), tp.get("real_client_cpus")) != (
                    16, cpuplan.format_cpulist(range(s)), cpuplan.format_cpulist(range(s, 16)),
                    srv, cli):
                bad.append(f"{m} S={s}: topology {tp}")
            seen = tp.get("server_seen") or []
            reuse = models.get(m).cores == "reuseport"
            if len(seen) != (s if reuse else 1):
                bad.append(f"{m} S={s}: {len(seen)} server processes seen")
            for i, inst in enumerate(seen):
                # one real CPU each for a --reuseport instance, the server's set otherwise
                pin = cpuplan.format_cpulist({rs[i % len(rs)]}) if reuse else srv
                if inst.get("cpus") != [pin]:
                    bad.append(f"{m} S={s}: instance {i + 1} on {inst.get('cpus')}, not {pin}")
            if m == "reactors" and (not seen or seen[0].get("threads") != s + 1):
                bad.append(f"reactors S={s}: {seen and seen[0].get('threads')} threads, "
                           f"not {s} loops + main")
            cmd = x.get("client_cmd") or []
            th = cmd[cmd.index("--threads") + 1] if "--threads" in cmd else None
            if th != str(min(16 - s, 10)) or "--procs" in cmd:
                bad.append(f"{m} S={s}: generator --threads {th} (want {min(16 - s, 10)} x 1)")
        t.ok(recs and not bad, "each record: the declared plan, its real CPUs, what the "
             "server got in /proc (S processes, S loops, the real CPUs), the generator's "
             "threads from the declared CPUs", "\n".join(bad))
        decl = (ctx.get("topology") or {}).get("declared") or {}
        t.ok(decl == dict(cpus=16, real_cpus=cpuplan.format_cpulist(real))
             and (ctx.get("pinning") or {}).get("declared_cpus") == 16,
             "context.json: the declared topology and its real CPUs", ctx.get("topology"))
        try:
            with open(os.path.join(run_dir, "REPORT.md")) as f:
                rep = f.read()
        except OSError:
            rep = ""
        t.ok("**Declared topology: this run was planned, scheduled, recorded and reported as on "
             "a machine of 16 CPUs" in rep and "(declared; really CPU" in rep,
             "REPORT.md says the topology was declared, and where the points really ran",
             rep[:1500])
        t.ok(rep.count("| model \\ S | 1 | 2 | 4 | 8 |") == 3,
             "REPORT.md's cores tables have a column per S (three tables)", rep[-3000:])
        n, problems = reportcheck.check(run_dir)
        t.ok(n >= 3 * 24 and not problems, f"REPORT.md's tables hold points.csv's numbers "
             f"({n} cells)", "\n".join(problems))
        drawn = [c for c in ("cores.png", "cores_cpu.png", "cores.svg")
                 if os.path.isfile(os.path.join(run_dir, c))
                 and os.path.getsize(os.path.join(run_dir, c))]
        t.ok(len(drawn) == 3, "the cores charts are drawn", f"drawn: {drawn}")

        # ---- a declared 128-CPU machine, SERVER_CPUS=2: one point ------------
        out = os.path.join(tmp, "r128")
        r = bench(["--declare-cpus", "128", "--server-cpus", "2", "--sweeps", "active",
                   "--models", "epoll_lt", "--set", "active.conns=10", "--duration", "0.3",
                   "--warmup", "0.1", "--no-plots", "--out", out], env)
        try:
            recs, _ = load(os.path.join(out, "latest"))
        except (OSError, ValueError):
            recs = []
        x = recs[0] if len(recs) == 1 else {}
        tp, cmd = x.get("topology") or {}, " ".join(x.get("client_cmd") or [])
        t.ok(r.returncode == 0 and x.get("status") == "ok"
             and (tp.get("server_cpus"), tp.get("client_cpus"), tp.get("client_threads"),
                  tp.get("client_procs")) == ("0-1", "2-127", 5, 2)
             and "--threads 5 --procs 2" in cmd,
             "declared 128 CPUs, SERVER_CPUS=2: the server on 0-1, the generator on 126 CPUs "
             "as 2 processes (5 threads each for 10 connections), ok",
             f"{r.stderr[-1500:]}\n{tp}\n{cmd}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    t.done()


main()
