#!/usr/bin/env python3
"""dispatch-bench.t - the dispatch sweep (issue 12) through bench.py (TAP).

A tiny run (`--sweeps dispatch`, four mechanisms, N = 10 and 200 random,
200 and the process's maximum chained, a few thousand events) and then:
- points.jsonl: one ok record a point, mode dispatch, bin/dispatch's JSON
  kept (its model, N, A, method equal to the point's), the figures derived;
  sigio at the maximum (above its pipe limit) ran at `--fds max` and says so;
- points.csv: the dispatch rows with ns_per_event and the slots watched;
- the chart: dispatch.png/.svg drawn, every model of every panel with as
  many data rows as the CSV has ok rows for it (plots/panels.gp's .rows);
- REPORT.md: the Kerrisk table's seconds per 100,000 and its ratios equal
  the CSV's ns_per_event (to the 3 digits shown), his figures beside.
Test of the test: the table check run on a copy of the report with one
number changed must fail.
"""
import csv
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from c10k import ROOT, TAP, bin_dir  # noqa: E402

MODELS = ["select", "poll", "epoll_lt", "sigio"]
t = TAP()
b = bin_dir()
for p in ["dispatch", "loadgen"] + [f"echo_{m}" for m in MODELS]:
    if not os.access(os.path.join(b, p), os.X_OK):
        TAP.skip_all(f"{b}/{p} is not built (run make)")
if not shutil.which("gnuplot"):
    TAP.skip_all("gnuplot is not installed")


def close(a, b, digits=3):
    """a (as printed, `digits` significant digits) equals b."""
    if b == 0:
        return a == 0
    ulp = 10 ** (math.floor(math.log10(abs(b))) - digits + 1)
    return abs(a - b) <= ulp * 0.5 + 1e-12 or abs(a - b) <= abs(b) * 5e-3


def table_rows(text, head):
    """The markdown table after the line starting with `head`: [[cells]]."""
    lines = text.splitlines()
    try:
        i = next(k for k, ln in enumerate(lines) if ln.startswith(head))
    except StopIteration:
        return []
    out = []
    for ln in lines[i:]:
        if not ln.startswith("|"):
            if out:
                break
            continue
        out.append([c.strip() for c in ln.strip("|").split("|")])
    return out


def num(cell):
    m = re.match(r"^([\d,]*\.?\d+)", cell)
    return float(m.group(1).replace(",", "")) if m else None


def check_table(report, rows):
    """Problems between REPORT.md's Kerrisk table (and ratios) and the CSV."""
    bad = []
    by = {(r["model"], int(r["x"])): r for r in rows if r["series"] == "random"}
    tab = table_rows(report, "| model | N = ")
    if len(tab) < 3:
        return ["no Kerrisk table"]
    ns = [int(h.split("=")[1].replace(",", "")) for h in tab[0] if h.startswith("N = ")]
    for cells in tab[2:]:
        m = cells[0]
        for k, n in enumerate(ns):
            want = float(by[(m, n)]["ns_per_event"]) * 1e-4
            got = num(cells[1 + k])
            if got is None or not close(got, want):
                bad.append(f"{m} at N={n}: table {cells[1 + k]!r}, CSV {want:.4g}")
    rat = table_rows(report, "| ratio | N = ")
    for cells in rat[2:]:
        mm = re.match(r"(\w+) / (\w+), here", cells[0])
        if not mm:
            continue
        for k, n in enumerate(ns):
            want = float(by[(mm.group(1), n)]["ns_per_event"]) / float(by[(mm.group(2), n)]["ns_per_event"])
            got = num(cells[1 + k])
            if got is None or not close(got, want):
                bad.append(f"{cells[0]} at N={n}: table {cells[1 + k]!r}, CSV {want:.4g}")
    return bad


tmp = tempfile.mkdtemp(prefix="c10k-dispatch-bench-")
try:
    out = os.path.join(tmp, "results")
    sets = ["random_fds=10,200", "random_writes=2000", "chain_fds=200,0", "chain_active=100",
            "chain_writes=2000", "scan_budget=1000000"]
    cmd = [sys.executable, os.path.join(ROOT, "harness", "bench.py"), "--profile", "default",
           "--bin", b, "--out", out, "--sweeps", "dispatch", "--models", ",".join(MODELS),
           "--repeats", "1", "--max-repeats", "1"] + [a for s in sets for a in ("--set", f"dispatch.{s}")]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    t.ok(r.returncode == 0, "bench.py --sweeps dispatch runs", r.stderr[-2000:])
    run = os.path.join(out, "latest")
    try:
        with open(os.path.join(run, "points.jsonl")) as f:
            recs = [json.loads(ln) for ln in f if ln.strip()]
        with open(os.path.join(run, "points.csv")) as f:
            rows = [x for x in csv.DictReader(f) if x["sweep"] == "dispatch"]
        with open(os.path.join(run, "REPORT.md")) as f:
            report = f.read()
    except OSError as e:
        recs, rows, report = [], [], ""
        t.diag(str(e))

    # -- records -------------------------------------------------------------
    t.ok(len(recs) == 16 and all(x["status"] == "ok" for x in recs),
         "16 records (4 mechanisms x 4 points), all ok",
         [(x["point"]["model"], x["point"]["conns"], x["status"], x.get("reason")) for x in recs])
    same = [x for x in recs if x.get("dispatch") and x["point"]["mode"] == "dispatch"
            and x["dispatch"]["model"] == x["point"]["model"]
            and x["dispatch"]["active"] == x["point"]["active"]
            and x["dispatch"]["method"] == x["point"]["method"]
            and x["dispatch"]["writes"] == x["point"]["writes"]
            and x["derived"].get("ns_per_event") == x["dispatch"]["ns_per_event"] > 0
            and x["derived"].get("fds") == x["dispatch"]["fds"]]
    t.ok(len(same) == len(recs) > 0, "each keeps bin/dispatch's JSON, matching its point, "
         "and the figures derived from it", [x["point"]["model"] for x in recs if x not in same])
    big = [x for x in recs if x["point"]["model"] == "sigio" and x["point"]["conns"] > 200]
    t.ok(len(big) == 1 and big[0]["dispatch"]["fds"] == big[0]["dispatch"]["max_fds"]
         < big[0]["point"]["conns"] and "--fds max" in " ".join(big[0]["notes"])
         and big[0]["dispatch_cmd"][big[0]["dispatch_cmd"].index("--fds") + 1] == "max",
         "sigio above its limit ran at --fds max, noted",
         [(x["dispatch"]["fds"], x["notes"]) for x in big])
    others = [x for x in recs if x["point"]["model"] != "sigio" and x["point"]["conns"] > 200]
    t.ok(len(others) == 3 and all(x["dispatch"]["fds"] == x["point"]["conns"] for x in others),
         "the eventfd mechanisms ran at the maximum N itself",
         [(x["point"]["model"], x["dispatch"]["fds"], x["point"]["conns"]) for x in others])

    # -- CSV -----------------------------------------------------------------
    t.ok(len(rows) == 16 and all(float(x["ns_per_event"]) > 0 and int(x["fds"]) > 0
                                 for x in rows),
         "points.csv: 16 dispatch rows with ns_per_event and the slots watched")

    # -- chart ---------------------------------------------------------------
    drew = {}
    for term in ("png", "svg"):
        try:
            with open(os.path.join(run, f"dispatch.{term}.rows")) as f:
                for ln in f:
                    k, ser, m, n = ln.split("\t")
                    drew[(term, ser, m)] = int(n)
        except OSError:
            pass
    want = {}
    for x in rows:
        if x["status"] == "ok":
            want[(x["series"], x["model"])] = want.get((x["series"], x["model"]), 0) + 1
    ok_chart = all(os.path.getsize(os.path.join(run, f"dispatch.{t_}")) > 1000
                   for t_ in ("png", "svg")) if all(
        os.path.isfile(os.path.join(run, f"dispatch.{t_}")) for t_ in ("png", "svg")) else False
    t.ok(ok_chart and want and all(drew.get((term, s, m)) == n for (s, m), n in want.items()
                                   for term in ("png", "svg")),
         "dispatch.png/.svg: every model of every panel drew its CSV rows",
         f"want {want}, drew {drew}")
    t.ok("![dispatch](dispatch.png)" in report, "REPORT.md shows the chart")

    # -- Kerrisk table -------------------------------------------------------
    bad = check_table(report, rows)
    t.ok(not bad, "REPORT.md's Kerrisk table and ratios equal points.csv", bad)
    tab = table_rows(report, "| model | N = ")
    t.ok(any(c[0] == "epoll_lt" and c[-1] == "0.41" for c in tab)
         and any(c[0] == "poll" and c[-1] == "0.61" for c in tab)
         and "| poll / epoll, Kerrisk 2006 | 1.49 |" in report,
         "his figures beside ours (N = 10), and his ratio", tab)
    # test of the test: one changed number must be caught
    wrong = re.sub(r"(\| epoll_lt \| )([\d.]+)", lambda m: m.group(1) + str(
        round(float(m.group(2)) * 1.5 + 0.01, 3)), report, count=1)
    t.ok(wrong != report and check_table(wrong, rows),
         "test of the test: a changed number in the table is caught")
finally:
    shutil.rmtree(tmp, ignore_errors=True)
t.done()
