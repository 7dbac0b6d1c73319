#!/usr/bin/env python3
"""sweeps.t - every sweep, the multi-process points and the model flags, run
through harness/bench.py in tiny points.

Run 1 (quick profile, --set for tiny points): the six sweeps active, idle,
rate, churn, size and heavy on epoll_et with --drain 4 and pool with
--workers 5 (--server-args); each sweep's records are ok with its own figure
(echoes/s, idle x, achieved ratio, connections/s, bytes/s at the set sizes,
light and heavy latencies), the flags are in the server commands and pool
ran 5 workers (its thread count); every sweep has its section in REPORT.md
and the charts whose main column has data are drawn. reactors --loops 0 and
threads --stack-kb 8 run beside them: the flag reaches the server, which
refuses it (no READY, exit 2), twice, then the model is skipped.
Run 2 (full profile, under `prlimit --nofile=L:L`, L = min(128, hard limit)):
the connection count is one and a half processes' worth at L, so the harness
itself decides on two --reuseport servers and a multi-process generator;
epoll_lt, prefork (--procs from the registry), reactors --loops 3 and
threads --stack-kb 64 run: two server commands with --reuseport, both
servers' counters, every connection accepted (and held, but by prefork,
whose --procs per server is conns/2 while SO_REUSEPORT splits binomially),
loadgen --procs, reactors' and prefork's thread/process counts; pool
--workers 0 and epoll_et --drain 0 fail their points (no READY, exit 2).
Both runs: REPORT.md's tables hold points.csv's numbers (reportcheck).
About 90 s at load average ~60 on 2 CPUs.
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

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from c10k import TAP, bin_dir  # noqa: E402
import reportcheck  # noqa: E402
from benchrun import BENCH, EXTRA  # noqa: E402
import profiles  # noqa: E402  (harness/, on the path through c10k)
import sweeps as sweep_decl  # noqa: E402

SIX = ("active", "idle", "demand", "rate", "churn", "size", "heavy")
# Tiny values for whichever of these parameters a sweep declares (the
# declarations may change: only the keys a sweep has are set).
TINY = dict(active=dict(conns="20"), idle=dict(active="10", totals="40"),
            demand=dict(conns="20", rate="400"),
            rate=dict(active="20", idle="0,30", rates="2000", shares="50", max_s="0.5"),
            churn=dict(conns="4"),
            size=dict(active="10", sizes="16,4096"),
            heavy=dict(conns="10", rates="500", work="0,2000", duration="0.6"))


def sets(profile):
    out = []
    for sw, kv in TINY.items():
        have = sweep_decl.get(sw).profiles[profile]
        out += [a for k, v in kv.items() if k in have for a in ("--set", f"{sw}.{k}={v}")]
    return out


def bench(args, timeout=240, prefix=()):
    p = subprocess.Popen([*prefix, *BENCH, *args], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        err += f"\n(killed after {timeout} s)"
    return p.returncode, out, err


def load(run_dir):
    try:
        with open(os.path.join(run_dir, "points.jsonl")) as f:
            recs = [json.loads(ln) for ln in f if ln.strip()]
        with open(os.path.join(run_dir, "points.csv")) as f:
            rows = list(csv.DictReader(f))
        with open(os.path.join(run_dir, "REPORT.md")) as f:
            rep = f.read()
    except (OSError, ValueError):
        return [], [], ""
    return recs, rows, rep


def why(recs):
    return "\n".join(f"{r['point']['sweep']} {r['point']['model']} x={r['point']['x']}: "
                     f"{r['status']} {r.get('reason')}" for r in recs)


def threads(rec):
    """The server's threads (all its processes) while the generator measured
    (an open-loop point is read only at READY and after the generator)."""
    pr = rec.get("proc") or {}
    return max([(pr.get(k) or {}).get("threads") or 0 for k in ("start", "mid", "after")])


def has_flag(rec, *flags):
    return all(" ".join(map(str, c)).find(" ".join(flags)) >= 0 for c in rec.get("server_cmd") or [])


def main():
    t = TAP()
    real = bin_dir()
    need = ["loadgen"] + [f"echo_{m}" for m in ("epoll_et", "pool", "epoll_lt", "prefork",
                                                  "reactors", "threads")]
    for n in need:
        if not os.access(os.path.join(real, n), os.X_OK):
            TAP.skip_all(f"{real}/{n} is not built")
    if not shutil.which("gnuplot"):
        TAP.skip_all("gnuplot is not installed")
    if not shutil.which("prlimit"):
        TAP.skip_all("prlimit (util-linux) is not installed")
    tmp = tempfile.mkdtemp(prefix="c10k-sweeps-")
    try:
        bindir = os.path.join(tmp, "bin")
        os.mkdir(bindir)
        for n in need:
            os.symlink(os.path.join(real, n), os.path.join(bindir, n))

        # ---- run 1: every sweep, model flags --------------------------------
        out = os.path.join(tmp, "r1")
        common = ["--bin", bindir, "--profile", "quick", "--duration", "0.4", "--warmup", "0.1",
                  "--repeats", "1", *EXTRA]
        # reactors and threads get bad flags here: the checks of the flags can fail
        rc, so, se = bench(common + ["--out", out, "--models", "epoll_et,pool,reactors,threads",
                                     "--sweeps", ",".join(SIX), *sets("quick"),
                                     "--server-args", "epoll_et=--drain 4",
                                     "--server-args", "pool=--workers 5",
                                     "--server-args", "reactors=--loops 0",
                                     "--server-args", "threads=--stack-kb 8"])
        t.ok(rc == 0, "every sweep through bench.py: exit 0", se[-2000:])
        run1 = os.path.join(out, "latest")
        recs, rows, rep = load(run1)
        by = {}
        for r in recs:
            if r["point"]["model"] in ("epoll_et", "pool"):
                by.setdefault(r["point"]["sweep"], []).append(r)
        bad_flags = [r for r in recs if r["point"]["model"] in ("reactors", "threads")]
        t.ok(bad_flags and all(r["status"] in ("failed", "skipped") for r in bad_flags)
             and sorted(r["point"]["model"] for r in bad_flags if r["status"] == "failed"
                        and "READY" in r["reason"] and "exit code 2" in r["reason"])
             == ["reactors", "reactors", "threads", "threads"],
             "a bad --loops or --stack-kb reaches the server: no READY (exit 2) twice, then skipped",
             why(bad_flags))
        for sw in SIX:
            rs = by.get(sw, [])
            t.ok(rs and all(r["status"] == "ok" for r in rs),
                 f"{sw}: {len(rs)} point(s), all ok", why(rs))
        d = lambda r, k: (r.get("derived") or {}).get(k)      # noqa: E731
        t.ok(all(d(r, "msgs_per_s") for r in by.get("active", [])), "active: echoes/s measured")
        t.ok({r["point"]["x"] for r in by.get("idle", [])} == {30}
             and all(r["point"]["idle"] == 30 and d(r, "rss_kb") for r in by.get("idle", [])),
             "idle: 10 active + 30 idle connections, x = 30, memory read",
             why(by.get("idle", [])))
        rt = by.get("rate", [])
        t.ok(rt and all(r["point"]["rate"] > 0 and d(r, "achieved_ratio") for r in rt)
             and {r["point"]["idle"] for r in rt} >= {0, 30},
             "rate: open loop, achieved/offered measured, with and without idle connections",
             why(rt))
        # its latency is the figure: nothing reads the server inside its window
        t.ok(rt and all("ready" in r["proc"] and "after" in r["proc"]
                        and not {"start", "mid", "end"} & set(r["proc"]) for r in rt),
             "rate: the server's /proc is read at READY and after, never inside the window",
             "\n".join(str(sorted(r["proc"])) for r in rt))
        t.ok(all(d(r, "conns_per_s") and r["point"]["mode"] == "churn" for r in by.get("churn", [])),
             "churn: connections/s measured")
        sz = by.get("size", [])
        t.ok(sorted({r["point"]["size"] for r in sz}) == [16, 4096] and all(d(r, "bytes_per_s") for r in sz)
             and all(f"--size {r['point']['size']}" in " ".join(r.get("client_cmd") or []) for r in sz),
             "size: 16 and 4096 B messages sent (loadgen --size), bytes/s measured", why(sz))
        hv = by.get("heavy", [])
        heavy_pts = [r for r in hv if r["point"]["work_us"]]
        t.ok(hv and all(d(r, "light_p50_us") for r in hv) and heavy_pts
             and all(d(r, "heavy_p50_us") and has_flag(r, "--work-us", "2000") for r in heavy_pts),
             "heavy: light latencies everywhere, heavy ones where the server got --work-us 2000",
             why(hv))
        et = [r for r in recs if r["point"]["model"] == "epoll_et"]
        pl = [r for r in recs if r["point"]["model"] == "pool"]
        t.ok(et and all(has_flag(r, "--drain", "4") for r in et),
             "epoll_et ran with --drain 4 at every point")
        t.ok(pl and all(has_flag(r, "--workers", "5") for r in pl)
             and all(threads(r) == 6 for r in pl),
             "pool ran with --workers 5: 6 threads (main + 5) at every point",
             " ".join(str(threads(r)) for r in pl))
        for sw in SIX:
            s = sweep_decl.get(sw)
            head = s.section.split("{")[0]
            t.ok(any(ln.startswith("## " + head) for ln in rep.splitlines()),
                 f"REPORT.md has the {sw} section")
            # every chart whose main column the CSV has for this sweep
            have = [c for c in s.charts()
                    if any(r["sweep"] == sw and r.get(c.main_col()) for r in rows)]
            miss = [c.name for c in have
                    if not os.path.isfile(os.path.join(run1, c.name + ".png"))
                    or not os.path.getsize(os.path.join(run1, c.name + ".png"))]
            t.ok(have and not miss, f"{sw}: its charts with data are drawn "
                 f"({', '.join(c.name for c in have)})", f"missing: {miss}")
        def rates(sw):      # the offered rates the CSV records for a sweep, as titles print them
            r = sorted({int(float(x["rate"])) for x in rows if x["sweep"] == sw and x.get("rate")})
            return "/".join(f"{v:,}" for v in r) or "?"
        heads = [sweep_decl.get(sw).section.format(active="10", work_ms="?", rate=rates(sw))
                 for sw in ("idle", "size")]
        t.ok(all(f"## {h}" in rep for h in heads),
             "the idle and size headings name the 10 active connections set for this run", heads)
        n, bad = reportcheck.check(run1) if rows else (0, ["no points.csv"])
        t.ok(n and not bad, f"run 1: REPORT.md's tables hold points.csv's numbers ({n} cells)",
             "\n".join(bad[:20]))

        # ---- run 2: several processes, decided by the harness ---------------------
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        lim = min(hard, 128)
        per = profiles.per_proc_conns(lim)
        conns = per + per // 2                 # past one process: two of each
        out2 = os.path.join(tmp, "r2")
        rc, so, se = bench(["--bin", bindir, "--profile", "full", "--duration", "0.4",
                            "--warmup", "0.1", "--repeats", "1", "--out", out2,
                            "--models", "epoll_lt,prefork,reactors,threads,pool,epoll_et",
                            "--sweeps", "active", "--conns", str(conns), *EXTRA,
                            "--server-args", "reactors=--loops 3",
                            "--server-args", "threads=--stack-kb 64",
                            "--server-args", "pool=--workers 0",
                            "--server-args", "epoll_et=--drain 0"],
                           prefix=("prlimit", f"--nofile={lim}:{lim}"))
        t.ok(rc == 0, f"under RLIMIT_NOFILE {lim}: {conns} connections run (exit 0)", se[-2000:])
        run2 = os.path.join(out2, "latest")
        recs2, rows2, _ = load(run2)
        broken = [r for r in recs2 if r["point"]["model"] in ("pool", "epoll_et")]
        t.ok(len(broken) == 2 and all(r["status"] == "failed" and "READY" in r["reason"]
                                       and "exit code 2" in r["reason"] for r in broken),
             "a bad --workers or --drain reaches the server: no READY (exit 2)", why(broken))
        recs2 = [r for r in recs2 if r not in broken]
        t.ok(len(recs2) == 4 and all(r["status"] == "ok" for r in recs2),
             "the four models' multi-process points are ok", why(recs2))
        for r in recs2:
            p, m = r["point"], r["point"]["model"]
            cmds = r.get("server_cmd") or []
            each = r.get("server_stats_each") or []
            held = (r.get("server_stats") or {}).get("peak_conns", 0)
            t.ok(p["server_procs"] == 2 and len(cmds) == 2 and all("--reuseport" in c for c in cmds)
                 and len(each) == 2 and all(s and s.get("accepted", 0) > 0 for s in each)
                 and (held >= conns or m == "prefork"
                      and sum(s.get("accepted", 0) for s in each) >= conns),
                 f"{m}: the harness ran 2 --reuseport servers, both served all {conns}",
                 json.dumps(dict(procs=p["server_procs"], cmds=cmds, each=each)))
            ccmd = " ".join(r.get("client_cmd") or [])
            t.ok(p["client_procs"] >= 2 and f"--procs {p['client_procs']}" in ccmd
                 and (r.get("client") or {}).get("connected") == conns,
                 f"{m}: a {p['client_procs']}-process generator connected all {conns}", ccmd)
        th = {r["point"]["model"]: threads(r) for r in recs2}
        pf = next((r for r in recs2 if r["point"]["model"] == "prefork"), {})
        procs = [c[c.index("--procs") + 1] for c in pf.get("server_cmd", []) if "--procs" in c]
        t.ok(len(procs) == 2 and th.get("prefork") == sum(int(x) + 1 for x in procs),
             f"prefork: --procs {'/'.join(procs)} per server (from the registry): "
             f"{th.get('prefork')} processes in all", str(procs))
        t.ok(th.get("reactors") == 2 * 4,
             f"reactors --loops 3: 2 x (3 loops + main) = {th.get('reactors')} threads")
        tr = next((r for r in recs2 if r["point"]["model"] == "threads"), {})
        t.ok(has_flag(tr, "--stack-kb", "64") and tr.get("status") == "ok",
             "threads ran with --stack-kb 64 (its thread per connection: the peak above)")
        n, bad = reportcheck.check(run2) if rows2 else (0, ["no points.csv"])
        t.ok(n and not bad, f"run 2: REPORT.md's tables hold points.csv's numbers ({n} cells)",
             "\n".join(bad[:20]))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    t.done()


main()
