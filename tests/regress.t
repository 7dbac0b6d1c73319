#!/usr/bin/env python3
"""The regression gate can fail, and passes when nothing changed (TAP, under prove).

A private baseline of epoll_lt is accepted from bin/ into a temporary folder
(so the test does not depend on the committed one); then bin-extra/ (one
deliberate fcntl(F_GETFL) per received message that no SC() marks: only the
kernel's count sees it) must fail it on syscalls/echo, naming epoll_lt and
fcntl (and instr/echo when valgrind is there), and bin/ must pass it. Also: usage errors exit 2, a model the baseline lacks is "new",
a model of the baseline that is gone is "missing" (a failure), the exports for
github-action-benchmark and Bencher parse, and the committed baseline records
its machine and commit. Then a second baseline of epoll_lt, select and
io_uring with the throughput (hyperfine) figures: bin-extra must fail select
(common.c's read path) and io_uring (its own completion path) on
syscalls/echo, bin must pass, and gab-bigger.json must hold one throughput
ratio per model with its range (epoll_lt's own ratio is 1). With valgrind,
io_uring's instr/echo is measured under callgrind (a server that SIGTERM
cannot stop there is n/a) and repeats closely enough over the baseline's
callgrind repeats to be gated, and bin-extra's extra call fails it.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from c10k import TAP, ROOT  # noqa: E402
sys.path.insert(0, os.path.join(ROOT, "harness"))
import gate  # noqa: E402

t = TAP()
BIN = os.path.join(ROOT, "bin")
EXTRA = os.path.join(ROOT, "bin-extra")
REGRESS = os.path.join(ROOT, "harness", "regress.py")
for p in (os.path.join(BIN, "loadgen"), os.path.join(BIN, "echo_epoll_lt"), os.path.join(BIN, "echo_poll")):
    if not os.access(p, os.X_OK):
        TAP.skip_all(f"{p} is not built (run make)")
if not os.access(os.path.join(EXTRA, "echo_epoll_lt"), os.X_OK):
    TAP.skip_all("bin-extra/echo_epoll_lt is not built (make EXTRA_SYSCALL=1 servers)")
VG = shutil.which("valgrind") is not None
EXTRA_CALL = "fcntl"        # what servers/common.c's EXTRA_SYSCALL adds, unmarked
tmp = tempfile.mkdtemp(prefix="regress-t-")
base = os.path.join(tmp, "baseline")
out = os.path.join(tmp, "runs")


def regress(*args, timeout=240, throughput=False, baseline=None):
    cmd = [sys.executable, REGRESS, "--baseline", baseline or base, "--out", out,
           *([] if throughput else ["--no-throughput"]), *args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def rows(text):
    """The table's rows as (model, figure, ..., verdict) tuples."""
    got = []
    for ln in text.splitlines():
        f = ln.split()
        if len(f) >= 3 and f[-1] in ("ok", "FAIL", "info", "new", "n/a", "better"):
            got.append(f)
    return got


def has_row(text, model, figure, verdict):
    return any(r[0] == model and " ".join(r[1:]).startswith(figure) and r[-1] == verdict
               for r in rows(text))


try:
    # ---- usage ----
    rc, so, se = regress("--models", "epoll_lt,nosuchmodel")
    t.ok(rc == 2 and "nosuchmodel" in se and not so, "unknown model: exit 2, named", se)
    rc, so, se = regress("--models", "epoll_lt")
    t.ok(rc == 2 and "make baseline" in se, "no baseline: exit 2, says make baseline", se)

    # ---- a private baseline from bin/ ----
    cg = [] if VG else ["--no-callgrind"]
    rc, so, se = regress("--accept", "--models", "epoll_lt", "--repeats", "3", *cg)
    doc = None
    try:
        with open(os.path.join(base, "regress.json")) as f:
            doc = json.load(f)
    except (OSError, ValueError):
        pass
    t.ok(rc == 0 and doc and "tolerance" not in doc["models"]["epoll_lt"]["syscalls"]
         and gate.sc_tolerance(doc["models"]["epoll_lt"]["syscalls"]),
         "--accept writes epoll_lt's repeats, which the gate's own rule gates (no stored tolerance)",
         se)
    try:
        with open(os.path.join(base, "README.md")) as f:
            readme = f.read()
    except OSError:
        readme = ""
    probe = (doc or {}).get("probe") or {}
    t.ok(probe.get("bin") == "bin-extra" and probe.get("syscalls_per_echo", 0) > 3.5,
         "--accept measures the self-test build too (bin-extra: one more call per echo)", probe)
    if VG:
        t.ok(f"{probe.get('instr_per_echo', 0):.1f} instr/echo on epoll_lt" in readme,
             "the baseline's README states what bin-extra costs, from that measurement",
             readme[-1500:])
    else:
        t.skip("README: bin-extra's instr/echo", "valgrind is not installed")
    t.note(f"epoll_lt baseline: syscalls/echo {doc and doc['models']['epoll_lt']['syscalls']}")
    if VG:
        cgf = doc and doc["models"]["epoll_lt"].get("callgrind") or {}
        t.ok(cgf.get("median", 0) > 0 and cgf["spread"] < 0.02,
             f"callgrind: {cgf.get('median')} instr/echo, spread {cgf.get('spread')} < 2%")
    else:
        t.skip("callgrind baseline", "valgrind is not installed")

    # ---- bin-extra: one extra system call per echo must fail the gate ----
    rc, so, se = regress("--bin", EXTRA, "--models", "epoll_lt", *cg)
    t.ok(rc == 1 and has_row(so, "epoll_lt", "syscalls/echo", "FAIL")
         and f"epoll_lt: syscalls/echo ({EXTRA_CALL} +1.0" in so,
         f"bin-extra: exit 1, epoll_lt syscalls/echo FAIL, naming the unmarked {EXTRA_CALL}",
         so + se)
    if VG:
        t.ok(has_row(so, "epoll_lt", "instr/echo", "FAIL"), "bin-extra: epoll_lt instr/echo FAIL too", so)
    else:
        t.skip("bin-extra: instr/echo", "valgrind is not installed")

    # ---- bin: the same models pass ----
    rc, so, se = regress("--models", "epoll_lt", *cg)
    t.ok(rc == 0 and has_row(so, "epoll_lt", "syscalls/echo", "ok") and "PASS" in so,
         "bin: exit 0, epoll_lt syscalls/echo ok", so + se)
    runs = sorted(os.listdir(out)) if os.path.isdir(out) else []
    last = os.path.join(out, runs[-1]) if runs else ""
    try:
        with open(os.path.join(last, "gab-smaller.json")) as f:
            small = json.load(f)
        with open(os.path.join(last, "gab-bigger.json")) as f:
            big = json.load(f)
        with open(os.path.join(last, "bmf.json")) as f:
            bmf = json.load(f)
    except (OSError, ValueError):
        small = big = bmf = None
    t.ok(isinstance(small, list) and small and all({"name", "unit", "value"} <= set(e) for e in small)
         and isinstance(big, list), "github-action-benchmark JSON: [{name, unit, value, range}]", small)
    m = (bmf or {}).get("epoll_lt", {}).get("syscalls-per-echo", {})
    t.ok({"value", "lower_value", "upper_value"} <= set(m), "Bencher BMF: {epoll_lt: {syscalls-per-echo: "
         "{value, lower_value, upper_value}}}", bmf)
    t.ok(os.path.exists(os.path.join(last, "report.txt")), "the table is kept in report.txt")

    # ---- new and missing: a bin folder with epoll_lt and poll, a baseline with a gone model ----
    fake_bin = os.path.join(tmp, "bin")
    os.makedirs(fake_bin)
    for name in ("echo_epoll_lt", "echo_poll"):
        os.symlink(os.path.join(BIN, name), os.path.join(fake_bin, name))
    doc["models"]["gone"] = doc["models"]["epoll_lt"]
    with open(os.path.join(base, "regress.json"), "w") as f:
        json.dump(doc, f)
    rc, so, se = regress("--bin", fake_bin, "--loadgen", os.path.join(BIN, "loadgen"), "--no-callgrind")
    t.ok(has_row(so, "poll", "syscalls/echo", "new"), "a model the baseline lacks: new", so + se)
    t.ok(rc == 1 and has_row(so, "gone", "model", "FAIL") and "missing" in so,
         "a baseline model that is gone: missing, exit 1", so + se)

    # ---- other models, and the throughput (hyperfine) path ----
    # A second private baseline of epoll_lt, select and io_uring with the
    # throughput ratios; bin-extra's extra call must fail select (common.c's
    # read path) and io_uring (its own completion path) too; bin passes and
    # exports the throughput ratios to github-action-benchmark.
    base2 = os.path.join(tmp, "baseline2")
    trio = ("epoll_lt", "select", "io_uring")
    rc, so, se = regress("--accept", "--models", *trio, "--repeats", "3", "--no-callgrind",
                         throughput=True, baseline=base2)
    try:
        with open(os.path.join(base2, "regress.json")) as f:
            doc2 = json.load(f)
    except (OSError, ValueError):
        doc2 = {"models": {}}
    tr = {m: (doc2["models"].get(m) or {}).get("tput_ratio") or {} for m in trio}
    t.ok(rc == 0 and all(tr[m].get("lo", 0) > 0 and tr[m]["lo"] <= tr[m]["value"] <= tr[m]["hi"]
                         for m in trio) and tr["epoll_lt"].get("value") == 1.0,
         "--accept with hyperfine: a throughput ratio to epoll_lt (epoll_lt's own is 1) with "
         "its range, per model", json.dumps(tr) + se[-800:])
    rc, so, se = regress("--bin", EXTRA, "--models", "select", "io_uring", "--no-callgrind",
                         baseline=base2)
    t.ok(rc == 1 and has_row(so, "select", "syscalls/echo", "FAIL")
         and has_row(so, "io_uring", "syscalls/echo", "FAIL"),
         "bin-extra: select and io_uring syscalls/echo FAIL too", so + se)
    rc, so, se = regress("--models", *trio, "--no-callgrind", throughput=True, baseline=base2)
    t.ok(rc == 0 and all(has_row(so, m, "syscalls/echo", "ok") for m in trio),
         "bin: select and io_uring pass, with the throughput figures measured", so + se)
    runs = sorted(os.listdir(out)) if os.path.isdir(out) else []
    last = os.path.join(out, runs[-1]) if runs else ""
    try:
        with open(os.path.join(last, "gab-bigger.json")) as f:
            big = json.load(f)
    except (OSError, ValueError):
        big = None
    big = big if isinstance(big, list) else []
    names = sorted(e.get("name", "") for e in big)

    def entry_ok(e):
        try:
            spread = float(e["range"].lstrip("±"))
        except (KeyError, ValueError, AttributeError):
            return False
        return e["unit"] == "ratio" and e["value"] > 0 and spread >= 0
    t.ok(names == sorted(f"{m} throughput / epoll_lt" for m in trio)
         and all(entry_ok(e) for e in big)
         and next(e for e in big if e["name"].startswith("epoll_lt "))["value"] == 1.0,
         "gab-bigger.json: one throughput ratio per model, unit ratio, with its range "
         "(epoll_lt's own is 1)", json.dumps(big))
    hf = os.path.join(last, "hyperfine")
    t.ok(all(os.path.isfile(os.path.join(hf, f"{m}.json")) for m in trio),
         "hyperfine's JSON exports are kept per model", os.listdir(last) if last else "no run")

    # ---- io_uring under callgrind: measured, repeatable enough to gate ----
    if VG:
        base3 = os.path.join(tmp, "baseline3")
        rc, so, se = regress("--accept", "--models", "io_uring", "--repeats", "1", baseline=base3)
        try:
            with open(os.path.join(base3, "regress.json")) as f:
                cg3 = json.load(f)["models"]["io_uring"].get("callgrind") or {}
        except (OSError, ValueError, KeyError):
            cg3 = {}
        t.ok(rc == 0 and cg3.get("median", 0) > 0 and not cg3.get("unsupported"),
             f"io_uring: instr/echo measured under callgrind ({cg3.get('median')})",
             json.dumps(cg3) + se[-800:])
        t.ok(bool(cg3 and gate.cg_tolerance(cg3)) and len(cg3.get("values", [])) >= 5,
             f"io_uring: instr/echo gated: {len(cg3.get('values', []))} repeats "
             f"{cg3.get('values')}, syscalls/echo under callgrind "
             f"{(cg3.get('syscalls') or {}).get('values')}", json.dumps(cg3))
        rc, so, se = regress("--bin", EXTRA, "--models", "io_uring", baseline=base3)
        t.ok(rc == 1 and has_row(so, "io_uring", "instr/echo", "FAIL"),
             "bin-extra: io_uring instr/echo FAIL", so + se)
    else:
        for what in ("measured", "gated", "bin-extra FAIL"):
            t.skip(f"io_uring instr/echo {what}", "valgrind is not installed")

    # ---- the committed baseline says where it came from ----
    committed = os.path.join(ROOT, "results", "baseline", "regress.json")
    if os.path.exists(committed):
        with open(committed) as f:
            cm = json.load(f)
        mach = cm.get("machine", {})
        need = ("kernel", "cpu_model", "cores", "date", "commit", "dirty")
        t.ok(all(k in mach for k in need) and cm.get("models"),
             f"results/baseline/regress.json records {', '.join(need)} and the models", mach)
        # Its README is generated from it: regenerate into a copy and compare.
        copy = os.path.join(tmp, "committed")
        shutil.copytree(os.path.dirname(committed), copy)
        p = subprocess.run([sys.executable, REGRESS, "--readme", "--baseline", copy],
                           capture_output=True, text=True, timeout=60)
        with open(os.path.join(copy, "README.md")) as f, \
                open(os.path.join(os.path.dirname(committed), "README.md")) as g:
            t.ok(p.returncode == 0 and f.read() == g.read(),
                 "results/baseline/README.md is what --readme generates from regress.json",
                 p.stderr)
    else:
        t.skip("committed baseline", "results/baseline/regress.json does not exist yet (make baseline)")
finally:
    shutil.rmtree(tmp, ignore_errors=True)

t.done()
