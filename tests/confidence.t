#!/usr/bin/env python3
"""confidence.t - issue 13 end to end, in small: --compare and --resume.

Two tiny runs (two real models, the active sweep at 10 connections, 2
repeats) are compared with `bench.py --compare A B`: COMPARE.md, one overlay
chart per figure the active sweep's charts show, each PNG drawn from a .dat
with a data row per model, and COMPARE.md linking every chart. A run sharing
nothing with A is refused in one line (exit 1). A third run is interrupted
with SIGINT after its first point and resumed with `--resume`: the records
already on disk are kept as they were, no (point, repeat) runs twice, every
point ends with its 2 repeats, and context.json says finished. A resume
whose settings or commit differ is refused in one line (exit 2) naming them.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from c10k import ROOT, TAP, bin_dir, wait_until  # noqa: E402

BENCH = [sys.executable, os.path.join(ROOT, "harness", "bench.py")]
# The comparison's intervals need scipy (harness/estimate.py): Debian's python3
# has it (python3-scipy), a python3 of its own on PATH may not (as pytest.t).
DEB_PY = os.environ.get("DEB_PYTHON", "/usr/bin/python3")
MODELS = "epoll_lt,poll"
TINY = ["--profile", "quick", "--models", MODELS, "--repeats", "2", "--duration", "0.3",
        "--warmup", "0.1", "--no-plots", "--profile-points", "none"]


def run(args, timeout=180):
    return subprocess.run(BENCH + args, capture_output=True, text=True, timeout=timeout)


def latest(out):
    return os.path.realpath(os.path.join(out, "latest"))


def lines(path):
    with open(path) as f:
        return [ln for ln in f.read().splitlines() if ln.strip()]


def data_rows(dat):
    return [ln for ln in lines(dat) if not ln.startswith("#")]


def main():
    t = TAP()
    bindir = bin_dir()
    for m in MODELS.split(",") + ["loadgen"]:
        name = m if m == "loadgen" else f"echo_{m}"
        if not os.access(os.path.join(bindir, name), os.X_OK):
            TAP.skip_all(f"{bindir}/{name} is not built (run make)")
    if not shutil.which("gnuplot"):
        TAP.skip_all("gnuplot is not installed")
    tmp = tempfile.mkdtemp(prefix="c10k-conf-")
    try:
        # -- two runs, compared ------------------------------------------------
        runs = []
        for name in ("a", "b"):
            out = os.path.join(tmp, name)
            r = run(TINY + ["--out", out, "--sweeps", "active", "--conns", "10"])
            t.ok(r.returncode == 0, f"run {name.upper()} finished", r.stderr[-1500:])
            runs.append(latest(out))
        r = subprocess.run([DEB_PY] + BENCH[1:] + ["--compare", runs[0], runs[1],
                                                   "--out", os.path.join(tmp, "cmp")],
                           capture_output=True, text=True, timeout=180)
        cmp_dir = os.path.join(tmp, "cmp", f"compare-{os.path.basename(runs[0])}-vs-"
                               f"{os.path.basename(runs[1])}")
        t.ok(r.returncode == 0, "bench.py --compare A B exits 0", r.stderr[-1500:])
        md = os.path.join(cmp_dir, "COMPARE.md")
        t.ok(os.path.isfile(md), "COMPARE.md written")
        want = ["throughput-msgs_per_s", "latency-p50_us", "latency-p99_us",
                "cpu-cpu_us_per_echo"]
        text = open(md).read() if os.path.isfile(md) else ""
        for name in want:
            png, dat = (os.path.join(cmp_dir, name + e) for e in (".png", ".dat"))
            ok_png = os.path.isfile(png) and os.path.getsize(png) > 1000
            rows = data_rows(dat) if os.path.isfile(dat) else []
            t.ok(ok_png and len(rows) == 2 and all(len(x.split()) == 10 and x.split()[1] != "NaN"
                                                    for x in rows),
                 f"overlay chart {name}: PNG drawn from 2 data rows (one per model)",
                 f"png {ok_png}, rows {rows}")
            t.ok(f"({name}.png)" in text, f"COMPARE.md links {name}.png")
        # nothing in common: a churn-only run against A
        out = os.path.join(tmp, "c")
        r = run(TINY + ["--out", out, "--sweeps", "churn", "--conns", "100", "--repeats", "1",
                        "--profile", "default"])   # the quick profile has no churn sweep
        r = subprocess.run([DEB_PY, os.path.join(ROOT, "harness", "compare.py"),
                            runs[0], latest(out), "--out", os.path.join(tmp, "cmp2")],
                           capture_output=True, text=True, timeout=60)
        err = r.stderr.strip().splitlines()
        t.ok(r.returncode == 1 and len(err) == 1 and "nothing in common" in err[0],
             "two runs with nothing in common: refused in one line, exit 1", r.stderr[-800:])

        # -- resume after SIGINT -----------------------------------------------
        out = os.path.join(tmp, "r")
        p = subprocess.Popen(BENCH + TINY + ["--out", out, "--sweeps", "active",
                                             "--conns", "1,10"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        jl = os.path.join(out, "latest", "points.jsonl")

        def have_point():
            try:
                return len(lines(jl)) >= 1
            except OSError:
                return False
        wait_until(have_point, 60)
        time.sleep(0.3)
        p.send_signal(signal.SIGINT)
        try:
            _, err = p.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            _, err = p.communicate()
        t.ok(p.returncode == 130, f"SIGINT: exit 130 (got {p.returncode})", err[-800:])
        rdir = latest(out)
        before = lines(jl)
        t.ok(1 <= len(before) < 8, f"SIGINT: {len(before)} of 8 point runs on disk")
        # a copy with other settings and commit must be refused
        bad = os.path.join(tmp, "bad")
        shutil.copytree(rdir, bad)
        with open(os.path.join(bad, "context.json")) as f:
            ctx = json.load(f)
        ctx["settings"]["duration"] = 9.0
        ctx["git_commit"] = "0" * 40
        with open(os.path.join(bad, "context.json"), "w") as f:
            json.dump(ctx, f)
        r = run(["--resume", bad])
        last = [ln for ln in r.stderr.splitlines() if ln.startswith("bench:")]
        t.ok(r.returncode == 2 and len(last) == 1 and "settings (duration" in last[0]
             and "git commit" in last[0] and lines(os.path.join(bad, "points.jsonl")) == before,
             "resume with other settings and commit: refused in one line naming both, exit 2",
             r.stderr[-800:])
        r = run(["--resume", rdir])
        t.ok(r.returncode == 0, "--resume finishes the run", r.stderr[-1500:])
        after = lines(jl)
        t.ok(after[:len(before)] == before, "resume keeps the records on disk as they were")
        recs = [json.loads(x) for x in after]
        seen = [(tuple(sorted((k, str(v)) for k, v in r_["point"].items()
                              if k not in ("repeat", "repeats"))), r_["point"]["repeat"])
                for r_ in recs]
        t.ok(len(seen) == len(set(seen)), "no point's repeat runs twice")
        per = {}
        for r_ in recs:
            p_ = r_["point"]
            per.setdefault((p_["model"], p_["conns"]), []).append(r_["status"])
        t.ok(len(per) == 4 and all(len(v) == 2 or "ok" not in v for v in per.values()),
             "every point has its 2 repeats after the resume", str(per))
        with open(os.path.join(rdir, "context.json")) as f:
            ctx = json.load(f)
        t.ok(ctx.get("finished") is True and len(ctx.get("resumed", [])) == 1,
             "context.json: finished, one resume recorded")
        r = run(["--resume", rdir])
        t.ok(r.returncode == 2 and "nothing to continue" in r.stderr,
             "a finished run is not resumed again", r.stderr[-500:])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    t.done()


if __name__ == "__main__":
    main()
