#!/usr/bin/env python3
"""registry.t - adding a model is one source file and one registry line (TAP).

In a temporary copy of the tree: servers/zz_test.c (a copy of epoll_lt.c
under its new name) and one line in harness/models.py. Then: make builds
bin/echo_zz_test, a short conformance run passes, and a tiny bench.py run
has it in its records, CSV, charts and REPORT.md with a style of its own.
Also: a source without a registry line stops make with one line naming it.
The copy takes the built bin/ and build/ along, so make compiles only the
new model (about 30 s in all).
"""
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from c10k import ROOT, TAP, bin_dir  # noqa: E402
from benchrun import EXTRA  # noqa: E402

NEW = "zz_test"
LINE = f'    M("{NEW}", "epoll", callgrind=True),\n'
t = TAP()
real = bin_dir()
for p in ("loadgen", "echo_epoll_lt"):
    if not os.access(os.path.join(real, p), os.X_OK):
        TAP.skip_all(f"{real}/{p} is not built (run make)")
if not shutil.which("gnuplot"):
    TAP.skip_all("gnuplot is not installed")


def sh(cmd, cwd, timeout=300, env=None):
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


tmp = tempfile.mkdtemp(prefix="c10k-registry-")
try:
    tree = os.path.join(tmp, "tree")
    shutil.copytree(ROOT, tree, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", "results", "bin-*", "__pycache__", "dispatch"))
    with open(os.path.join(ROOT, "servers", "epoll_lt.c")) as f:
        src = f.read()
    with open(os.path.join(tree, "servers", f"{NEW}.c"), "w") as f:
        f.write(src.replace('"epoll_lt"', f'"{NEW}"'))
    reg = os.path.join(tree, "harness", "models.py")
    with open(reg) as f:
        lines = f.readlines()
    at = next(i for i, ln in enumerate(lines) if ln.lstrip().startswith('M("node"'))
    with open(reg, "w") as f:
        f.writelines(lines[:at] + [LINE] + lines[at:])

    # -- make --------------------------------------------------------------
    r = sh(["make", "-j2", "all"], tree)
    t.ok(r.returncode == 0 and os.access(os.path.join(tree, "bin", f"echo_{NEW}"), os.X_OK),
         f"make builds bin/echo_{NEW}", r.stdout[-1500:] + r.stderr[-1500:])
    with open(os.path.join(tree, "build", "models.mk")) as f:
        mk = f.read()
    t.ok(f" {NEW}" in mk.split("ALL_MODELS :=")[1].split("\n")[0] and f"LIBS_{NEW} :=" in mk,
         "build/models.mk lists it, with its libraries")
    r = sh(["make", "-q", "all"], tree)
    t.ok(r.returncode == 0, "then make has nothing left to do", r.stdout[-500:])

    # -- the conformance battery (its echo and flags groups) -------------------
    r = sh([sys.executable, "tests/conformance.py", "--model", NEW, "--bin", "bin",
            "--only", "flags,echo"], tree, timeout=200)
    fails = [ln for ln in r.stdout.splitlines() if ln.startswith("not ok")]
    t.ok(r.returncode == 0 and not fails and "\nok " in r.stdout,
         "a short conformance run passes (flags, echo)", "\n".join(fails) or r.stdout[-800:])

    # -- a tiny benchmark run ------------------------------------------------
    out = os.path.join(tmp, "results")
    r = sh([sys.executable, "harness/bench.py", "--profile", "quick", "--bin", "bin",
            "--out", out, "--models", f"epoll_lt,{NEW}", "--sweeps", "active",
            "--conns", "1,10", "--duration", "0.3", "--warmup", "0.1", *EXTRA], tree, timeout=120)
    t.ok(r.returncode == 0, "bench.py runs it", r.stderr[-1500:])
    run = os.path.join(out, "latest")
    try:
        with open(os.path.join(run, "points.jsonl")) as f:
            recs = [json.loads(ln) for ln in f if ln.strip()]
        with open(os.path.join(run, "points.csv")) as f:
            rows = list(csv.DictReader(f))
        with open(os.path.join(run, "REPORT.md")) as f:
            rep = f.read()
        with open(os.path.join(run, "throughput.svg")) as f:
            svg = f.read()
    except OSError as e:
        recs, rows, rep, svg = [], [], "", ""
        t.diag(str(e))
    mine = [x for x in recs if x["point"]["model"] == NEW]
    t.ok(len(mine) == 2 and all(x["status"] == "ok" for x in mine),
         "its records are there, status ok", [(x["status"], x.get("reason")) for x in mine])
    csv_mine = [x for x in rows if x["model"] == NEW]
    t.ok(len(csv_mine) == 2 and all(float(x["msgs_per_s"]) > 0 for x in csv_mine),
         "its CSV rows have echoes per second")
    styles = {x["model"]: x["style"] for x in rows}
    t.ok(styles.get(NEW) not in (None, "", styles.get("epoll_lt")),
         f"it has a style of its own ({styles})")
    t.ok(NEW in svg and "epoll_lt" in svg, "the throughput chart's key names it")
    t.ok(f"| {NEW} |" in rep, "REPORT.md's tables have its row")

    # -- a source with no registry line stops make, naming it ------------------
    shutil.copy(os.path.join(tree, "servers", f"{NEW}.c"), os.path.join(tree, "servers", "zz_orphan.c"))
    r = sh(["make", "-n", "all"], tree)
    t.ok(r.returncode != 0 and "servers/zz_orphan.c has no line in harness/models.py" in r.stderr,
         "a source without a registry line: make stops, naming it", r.stderr[-500:])
finally:
    shutil.rmtree(tmp, ignore_errors=True)
t.done()
