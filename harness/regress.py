#!/usr/bin/env python3
"""regress.py - the regression gate: a quick run compared with the committed baseline.

  python3 harness/regress.py [--models a,b] [--bin DIR]     compare (make regress)
  python3 harness/regress.py --accept                        new baseline (make baseline)
  python3 harness/regress.py --readme                        the baseline's README.md, again

Layers: this file measures, each fixed-work run a point of the bench's
runner (harness/runner.py: the server started and stopped, the generator
run and judged, on the CPU plan's CPUs; every process through
harness/launch.py); harness/gate.py decides (tolerances, verdicts, the
comparison: pure functions); harness/regress_out.py writes (table, exports,
baseline files).

Per model (every bin/echo_* unless --models narrows), three measurements:

  syscalls  fixed work, 1 connection, depth 1: two fresh servers do N1 and N2
            echoes, each under perf stat from exec to exit (kcount.Wrapped:
            the kernel's raw_syscalls:sys_enter count, every thread, marked
            with SC() or not, by name); syscalls per echo is
            (total(N2) - total(N1)) / (N2 - N1), so start-up, accept and close
            cancel out. A failure names the calls that grew. Median of the repeats (round-robin over the models, so a
            burst of load hits one repeat of each model, not every repeat of one).
  callgrind the same two fixed-work runs with the server under
            valgrind --tool=callgrind (event-driven models only): user-space
            instructions per echo = (Ir(N2) - Ir(N1)) / (N2 - N1).
  hyperfine 10 connections x a fixed count, timed by hyperfine (JSON export kept):
            throughput and latency as ratios to epoll_lt measured in this run.

Verdicts. FAIL (exit 1), only on what noise cannot move: an echo verification
error; a point that passed in the baseline and fails now; syscalls/echo above
the baseline by more than the model's tolerance (recorded in the baseline from
its repeats); instructions/echo above the baseline by more than 2%; a model of
the baseline that is missing now. Everything else is reported: "info"
(throughput and latency ratios, with the spread of the runs, and figures whose
spread is too wide to gate), "new" (a model the baseline lacks), "n/a" (cannot
run under valgrind), "better" (a gated figure dropped: consider make baseline).

Writes results/regress-<date>-<host>/: report.txt (the table), figures.json,
hyperfine/<model>.json, loadgen/<model>.jsonl, and the run's figures for
continuous-benchmarking tools: gab-bigger.json / gab-smaller.json
(github-action-benchmark customBiggerIsBetter / customSmallerIsBetter) and
bmf.json (Bencher Metric Format).

Exit: 0 pass, 1 regression, 2 bad usage or no baseline, 130 interrupted.
"""

import argparse
import json
import os
import platform
import resource
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import interp  # noqa: E402
interp.ensure()         # a Python with scipy (re-runs under Debian's if need be)

import context       # noqa: E402  (cmd_output)
import gate          # noqa: E402  (tolerances, verdicts, the comparison: pure)
import kcount        # noqa: E402  (the kernel's count of the servers' system calls)
import launch        # noqa: E402  (the one process launcher)
import models        # noqa: E402  (the registry)
import procfs        # noqa: E402
import records       # noqa: E402  (the point a fixed-work run is)
import regress_out   # noqa: E402  (table, exports, baseline files)
import runner        # noqa: E402  (the bench's runner: server, generator, stop)
import topology      # noqa: E402  (the CPU plan)
from gate import REF, ratio_fig, spread  # noqa: E402

# Fixed work. Counts are small: all of make regress must stay near 5 minutes
# on 2 loaded CPUs (callgrind runs the server ~50x slower than native).
SIZE = 64
SC_N1, SC_N2 = 500, 2500          # echoes of the two syscall runs (1 conn, depth 1)
CG_N1, CG_N2 = 300, 1500          # the same under callgrind
TPUT_CONNS, TPUT_COUNT = 10, 1000  # hyperfine: 10 conns x 1000 echoes per run
TPUT_RUNS, TPUT_WARMUP = 5, 1
REPEATS, ACCEPT_REPEATS = 3, 5     # syscall repeats: a run / a baseline
CG_ACCEPT_REPEATS = 5
READY_S, STOP_S, VG_READY_S, VG_STOP_S = 10.0, 5.0, 60.0, 4.0
RUN_CAP_S = 60          # loadgen --duration: the cap on one fixed-work run
PROBE_BIN = "bin-extra"  # the self-test build (make EXTRA_SYSCALL=1): measured with a baseline


def say(msg):
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


# ---- a fixed-work point, through the bench's runner --------------------------------

def point(model, conns, count):
    """A fixed-work point: conns connections, each doing count echoes at
    depth 1 (loadgen --count; RUN_CAP_S caps it), one fresh server with its
    default flags, one generator: the CPU plan's CPUs (harness/topology.py)."""
    return records.Point(
        sweep="regress", series="fixed", x=conns, model=model, conns=conns, active=conns,
        idle=0, rate=0, size=SIZE, depth=1, mode="closed", work_us=0, work_every=1,
        split_every=0, server_cpus="0", duration=RUN_CAP_S, warmup=0, server_procs=1,
        client_procs=1, src="", server_args=[], count=count)


def fixed_work(model, a, count, wrapper=(), ready_s=READY_S, stop_s=STOP_S, kernel=False,
               shared_cpu=False):
    """Fresh server, one 1-connection fixed-work run, stop (runner.run_point,
    as the bench's points): a point dict. wrapper: a command the server runs
    under (valgrind). kernel: the server runs under kcount.Wrapped (perf stat
    from its exec to its exit): ksyscalls and kby (by name) are the kernel's
    count of the run. shared_cpu: the generator on the server's CPU (the
    CPU plan of one usable CPU; measure_callgrind's io_uring)."""
    pt = dict(ok=False, verify_errors=0)
    w = kcount.Wrapped() if kernel else runner.Prefix(wrapper, skip_prefix="==") if wrapper \
        else None          # valgrind's own stderr lines start with ==
    try:
        topo = topology.Local(1, usable=a.topo.usable[:1], nofile=a.topo.nofile) if shared_cpu \
            else a.topo
        rec = runner.run_point(point(model, 1, count), a.bin, len(topo.usable), ready_s, stop_s,
                               topo=topo, wrap=w, loadgen=a.loadgen)
        kres = w.result(" ".join(rec["server_stderr"][-2:])) if kernel else None
    finally:
        if kernel:
            w.close()
    err = rec["reason"] if rec["status"] != "ok" else None
    if kernel:
        if kres["total"] is None and not err:
            err = f"kernel count: {kres['why_empty']}"
        pt.update(ksyscalls=kres["total"], kby=kres["by_name"] or {})
    pt["verify_errors"] = (rec["client"] or {}).get("verify_errors", 0)
    if err:
        pt.update(error=err, stop_hang=runner.NO_EXIT in err)
        return pt
    stats = rec["server_stats"]
    pt.update(ok=True, echoes=stats["bytes_out"] // SIZE, syscalls=stats["syscalls"]["total"])
    return pt


def pair(model, a, n1, n2, run=None):
    """Two fixed-work runs (run(count) -> point; fixed_work by default), N1
    and N2 echoes: dict(ok, p1, p2, ...). Retried once, unless an echo was
    wrong or the server hung on SIGTERM (no retry can help either)."""
    run = run or (lambda count: fixed_work(model, a, count))
    for attempt in (1, 2):
        p1 = run(n1)
        p2 = run(n2) if p1["ok"] else dict(ok=False, verify_errors=0)
        verr = p1["verify_errors"] + p2["verify_errors"]
        if p1["ok"] and p2["ok"]:
            return dict(ok=True, p1=p1, p2=p2, verify_errors=0, attempts=attempt)
        err = p1.get("error") or p2.get("error")
        hang = bool(p1.get("stop_hang") or p2.get("stop_hang"))
        if verr or attempt == 2 or hang:
            return dict(ok=False, error=err, verify_errors=verr, attempts=attempt, stop_hang=hang)
        say(f"  {model}: retrying once after: {err}")


def per_echo(r, key):
    """(p2[key] - p1[key]) / (p2 echoes - p1 echoes): start-up and close cancel out."""
    p1, p2 = r["p1"], r["p2"]
    return (p2[key] - p1[key]) / (p2["echoes"] - p1["echoes"])


def measure_syscalls(model, a):
    """The kernel's system calls per echo (kcount.Wrapped, the two-run
    difference), by name, and the server's own count in the same runs."""
    r = pair(model, a, SC_N1, SC_N2, run=lambda count: fixed_work(model, a, count, kernel=True))
    if r["ok"]:
        r["value"] = per_echo(r, "ksyscalls")
        r["own"] = per_echo(r, "syscalls")
        b1, b2 = r["p1"]["kby"], r["p2"]["kby"]
        de = r["p2"]["echoes"] - r["p1"]["echoes"]
        r["by_name"] = {n: (b2.get(n, 0) - b1.get(n, 0)) / de for n in set(b1) | set(b2)}
    return r


def callgrind_ir(path):
    try:
        with open(path) as f:
            for ln in f:
                if ln.startswith("summary:") or ln.startswith("totals:"):
                    return int(ln.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def measure_callgrind(model, a, tmp):
    """pair() with the server under valgrind --tool=callgrind: instr/echo
    (value) and the server's own syscalls/echo in the same runs (sc).
    A model with callgrind_shared_cpu (the registry) has the client on the
    server's CPU: on a kernel that does not preempt in kernel mode the client
    then cannot answer while the server is inside a system call, so no reply
    joins a batch of completions mid-call (io_uring across two CPUs: 8 of 20
    runs of 1,500 echoes had one or two echoes batched, 0 of 28 on one CPU)."""
    shared = bool(models.attr(model, "callgrind_shared_cpu"))

    def run(count):
        path = os.path.join(tmp, f"callgrind.{model}.{count}.out")
        pt = fixed_work(model, a, count, wrapper=("valgrind", "--tool=callgrind",
                        f"--callgrind-out-file={path}"), ready_s=VG_READY_S, stop_s=VG_STOP_S,
                        shared_cpu=shared)
        if pt["ok"]:
            pt["ir"] = callgrind_ir(path)
            if pt["ir"] is None:
                pt.update(ok=False, error="no Ir total in the callgrind output")
        if not a.keep:
            try:
                os.unlink(path)
            except OSError:
                pass
        return pt

    r = pair(model, a, CG_N1, CG_N2, run=run)
    if r["ok"]:
        r.update(value=per_echo(r, "ir"), sc=per_echo(r, "syscalls"))
    elif r["stop_hang"]:
        # The server ran and echoed under valgrind but SIGTERM never got it
        # out of its wait (valgrind 3.19 masks signals around system calls it
        # does not know can block, such as io_uring_enter: io_uring.c takes
        # its stop through a signalfd for that reason): callgrind never
        # writes its totals. Not the model's fault: reported n/a.
        r.update(unsupported=True, error="cannot run under valgrind: " + r["error"])
    return r


def measure_tput(model, a, rundir):
    """hyperfine over fixed-work runs against one server (runner.Servers, the
    generator's flags and CPUs from the CPU plan); ratios come later."""
    jsonl = os.path.join(rundir, "loadgen", f"{model}.jsonl")
    hjson = os.path.join(rundir, "hyperfine", f"{model}.json")
    r = dict(ok=False, verify_errors=0)
    pt = point(model, TPUT_CONNS, TPUT_COUNT)
    srv = runner.Servers(pt, a.bin, len(a.topo.usable), READY_S, STOP_S, a.topo)
    try:
        if not srv.start():
            r["error"] = "; ".join(srv.reasons)
            return r
        lg, cpus = a.topo.generator(runner.loadgen_args(pt, a.bin, srv.port, a.loadgen), pt)
        cmd = f"{shlex.join(lg)} >> {shlex.quote(jsonl)}"
        hf = ["hyperfine", "--warmup", str(TPUT_WARMUP), "--runs", str(TPUT_RUNS), "-i",
              "--style", "none", "--export-json", hjson, "-n", model, cmd]
        try:
            code, _, herr_text = launch.Child(hf, cpus=cpus, stdout=subprocess.PIPE,
                                              stderr=subprocess.PIPE).communicate(
                (TPUT_RUNS + TPUT_WARMUP) * (RUN_CAP_S + 5))
            herr = None if code == 0 else f"hyperfine exit {code}: {herr_text.strip()[-200:]}"
        except subprocess.TimeoutExpired:
            herr = "hyperfine hung (killed)"
        srv.stop()
    finally:
        srv.kill()
    stats = srv.summed_stats()
    recs = []
    try:
        with open(jsonl) as f:
            recs = [json.loads(ln) for ln in f if ln.startswith("{")]
    except (OSError, ValueError):
        pass
    want = TPUT_CONNS * TPUT_COUNT
    r["verify_errors"] = sum(x.get("verify_errors", 0) for x in recs)
    errs = []
    for x in recs:                     # each run judged as the bench judges a point
        judged = dict(reasons=[])
        runner.judge_client(pt, x, 0, judged)
        errs += judged["reasons"]
    times = []
    try:
        with open(hjson) as f:
            res = json.load(f)["results"][0]
        times = res["times"]
        if any(res.get("exit_codes") or []):
            errs.append(f"loadgen exit codes {res['exit_codes']}")
    except (OSError, ValueError, KeyError, IndexError):
        errs.append("no hyperfine JSON")
    if herr:
        errs.append(herr)
    if len(recs) != TPUT_RUNS + TPUT_WARMUP and not herr:
        errs.append(f"{len(recs)} loadgen records for {TPUT_RUNS + TPUT_WARMUP} runs")
    if srv.reasons or stats is None:
        errs += srv.reasons or ["server: no JSON counters"]
    if errs:
        r["error"] = "; ".join(dict.fromkeys(errs))
        return r
    meas = recs[-TPUT_RUNS:]           # the warm-up run comes first
    r.update(ok=True,
             msgs_per_s=[want / t for t in times],
             p50_us=[x["latency_us"]["p50"] for x in meas],
             p99_us=[x["latency_us"]["p99"] for x in meas],
             sc_per_echo_10=stats["syscalls"]["total"] / max(1, stats["bytes_out"] // SIZE))
    return r


# ---- figures ---------------------------------------------------------------------

def collect(chosen, a, rundir, repeats, cg_repeats):
    """Measure everything; figures per model."""
    figs = {m: dict(points={}, errors=[], verify_errors=0) for m in chosen}
    t0 = time.monotonic()
    timing = {}

    sc_runs = {m: [] for m in chosen}
    sc_extra = {m: dict(own=[], by_name=[]) for m in chosen}   # the kernel's names, own count
    for rep in range(repeats):
        say(f"regress: syscalls per echo, repeat {rep + 1}/{repeats} "
            f"({SC_N1} and {SC_N2} echoes, 1 connection)")
        for m in chosen:
            if sc_runs[m] is None:
                continue
            r = measure_syscalls(m, a)
            figs[m]["verify_errors"] += r["verify_errors"]
            if not r["ok"]:
                figs[m]["errors"].append(f"syscalls: {r['error']}")
                sc_runs[m] = None      # a failed point: no more repeats of it
                continue
            sc_runs[m].append(r["value"])
            sc_extra[m]["own"].append(r["own"])
            sc_extra[m]["by_name"].append(r["by_name"])
    for m in chosen:
        figs[m]["points"]["syscalls"] = sc_runs[m] is not None
        if sc_runs[m]:
            figs[m]["syscalls"] = dict(spread(sc_runs[m]), source=gate.SC_SOURCE,
                                       **gate.sc_names(sc_extra[m]["by_name"], sc_extra[m]["own"]))
    timing["syscalls_s"] = round(time.monotonic() - t0, 1)

    t1 = time.monotonic()
    if not a.no_throughput:
        os.makedirs(os.path.join(rundir, "hyperfine"), exist_ok=True)
        os.makedirs(os.path.join(rundir, "loadgen"), exist_ok=True)
        tput_models = chosen if REF in chosen or not os.access(
            os.path.join(a.bin, f"echo_{REF}"), os.X_OK) else [REF] + chosen
        tput = {}
        for m in sorted(tput_models, key=lambda x: x != REF):   # the reference first
            say(f"regress: hyperfine {m} ({TPUT_CONNS} conns x {TPUT_COUNT} echoes, "
                f"{TPUT_RUNS} runs)")
            tput[m] = measure_tput(m, a, rundir)
        ref = tput.get(REF)
        for m in chosen:
            r = tput[m]
            figs[m]["verify_errors"] += r["verify_errors"]
            figs[m]["points"]["throughput"] = r["ok"]
            if not r["ok"]:
                figs[m]["errors"].append(f"throughput: {r['error']}")
                continue
            figs[m]["msgs_per_s"] = spread(r["msgs_per_s"])
            if models.attr(m, "self_counts", True):    # a library row's own count: a lower bound
                figs[m]["syscalls_10"] = r["sc_per_echo_10"]
            if ref and ref["ok"]:
                figs[m]["tput_ratio"] = ratio_fig(r["msgs_per_s"], ref["msgs_per_s"], False)
                figs[m]["p50_ratio"] = ratio_fig(r["p50_us"], ref["p50_us"], True)
                figs[m]["p99_ratio"] = ratio_fig(r["p99_us"], ref["p99_us"], True)
    timing["throughput_s"] = round(time.monotonic() - t1, 1)

    t2 = time.monotonic()
    if not a.no_callgrind:
        have_vg = shutil.which("valgrind") is not None
        with tempfile.TemporaryDirectory(prefix="regress-cg-") as tmp:
            keepdir = os.path.join(rundir, "callgrind") if a.keep else tmp
            os.makedirs(keepdir, exist_ok=True)
            for m in chosen:
                if not models.attr(m, "callgrind"):
                    continue
                if not have_vg:
                    figs[m]["callgrind"] = dict(unsupported=True, why="valgrind is not installed")
                    continue
                say(f"regress: callgrind {m} ({CG_N1} and {CG_N2} echoes)")
                vals, scs, err = [], [], None
                for rep in range(cg_repeats):
                    r = measure_callgrind(m, a, keepdir)
                    figs[m]["verify_errors"] += r["verify_errors"]
                    if r.get("unsupported"):
                        figs[m]["callgrind"] = dict(unsupported=True, why=r["error"])
                        break
                    if not r["ok"]:
                        err = r["error"]
                        break
                    vals.append(r["value"])
                    scs.append(r["sc"])
                if "callgrind" in figs[m]:
                    continue
                figs[m]["points"]["callgrind"] = err is None
                if err:
                    figs[m]["errors"].append(f"callgrind: {err}")
                else:
                    # the server's own syscalls/echo in the same runs: a path
                    # that varies with timing (extra EAGAIN reads, merged
                    # signals) makes the instruction count vary with it
                    figs[m]["callgrind"] = dict(spread(vals), syscalls=spread(scs), shared_cpu=bool(
                        models.attr(m, "callgrind_shared_cpu")))
    timing["callgrind_s"] = round(time.monotonic() - t2, 1)
    timing["total_s"] = round(time.monotonic() - t0, 1)
    return figs, timing


# ---- machine, baseline -------------------------------------------------------------

def _cmd(args):
    return context.cmd_output(args, cwd=ROOT)


def machine():
    dirty = _cmd(["git", "status", "--porcelain", "--", ".", ":!results"])
    return dict(
        date=time.strftime("%Y-%m-%dT%H:%M:%S%z"), host=socket.gethostname(),
        kernel=platform.release(), cpu_model=procfs.cpu_model(), cores=os.cpu_count(),
        cpus_usable=len(os.sched_getaffinity(0)),
        loadavg=[float(x) for x in open("/proc/loadavg").read().split()[:3]],
        commit=_cmd(["git", "rev-parse", "HEAD"]), dirty=bool(dirty) if dirty is not None else None,
        gcc=(_cmd(["gcc", "--version"]) or "").split("\n")[0],
        glibc=" ".join(platform.libc_ver()),
        valgrind=_cmd(["valgrind", "--version"]), hyperfine=_cmd(["hyperfine", "--version"]))


SETTINGS = dict(size=SIZE, sc_n=[SC_N1, SC_N2], cg_n=[CG_N1, CG_N2],
                tput=dict(conns=TPUT_CONNS, count=TPUT_COUNT, runs=TPUT_RUNS, warmup=TPUT_WARMUP),
                sc_tol=dict(floor=gate.SC_TOL_FLOOR, k=gate.SC_TOL_K, step_frac=gate.SC_STEP_FRAC),
                cg_tol=dict(tol=gate.CG_TOL, k=gate.SC_TOL_K, max=gate.CG_TOL_MAX))


def probe(a, tmp):
    """With a new baseline: what the self-test build (PROBE_BIN, one extra
    system call per echo) costs the reference model, so the baseline's README
    can say how far outside the tolerance it lands. None without that build."""
    pbin = os.path.join(ROOT, PROBE_BIN)
    if not os.access(os.path.join(pbin, f"echo_{REF}"), os.X_OK):
        return None
    b = argparse.Namespace(**dict(vars(a), bin=pbin))
    say(f"regress: the self-test build {PROBE_BIN}/echo_{REF} (syscalls, callgrind)")
    out = dict(model=REF, bin=PROBE_BIN)
    r = measure_syscalls(REF, b)
    if r["ok"]:
        out["syscalls_per_echo"] = r["value"]
    if not a.no_callgrind and shutil.which("valgrind"):
        r = measure_callgrind(REF, b, tmp)
        if r["ok"]:
            out["instr_per_echo"] = r["value"]
    return out


# ---- main ------------------------------------------------------------------------

def parse_args(argv):
    ap = argparse.ArgumentParser(prog="regress.py", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", metavar="MODELS",
                    help="models, comma- or space-separated (default: every echo_* in --bin)")
    ap.add_argument("--bin", default=os.path.join(ROOT, "bin"), help="servers' folder (default bin/)")
    ap.add_argument("--loadgen", default=os.path.join(ROOT, "bin", "loadgen"))
    ap.add_argument("--baseline", default=os.path.join(ROOT, "results", "baseline"),
                    help="baseline folder (default results/baseline)")
    ap.add_argument("--out", default=os.path.join(ROOT, "results"),
                    help="the run goes to OUT/regress-<date>-<host>/")
    ap.add_argument("--accept", action="store_true", help="measure and write a new baseline")
    ap.add_argument("--repeats", type=int, help=f"syscall repeats (default {REPEATS}, "
                    f"--accept {ACCEPT_REPEATS})")
    ap.add_argument("--no-callgrind", action="store_true", help="skip the callgrind figures")
    ap.add_argument("--no-throughput", action="store_true", help="skip the hyperfine figures")
    ap.add_argument("--keep", action="store_true", help="keep the callgrind.out files")
    ap.add_argument("--readme", action="store_true",
                    help="only regenerate the baseline's README.md from its regress.json")
    return ap.parse_args(argv)


def usage_error(msg):
    sys.stderr.write(f"regress: {msg}\n")
    sys.exit(2)


def main(argv):
    a = parse_args(argv)
    if a.readme:
        try:
            with open(os.path.join(a.baseline, "regress.json")) as f:
                doc = json.load(f)
        except (OSError, ValueError) as e:
            usage_error(f"--readme: no baseline in {a.baseline} ({e})")
        regress_out.write_readme(doc, a.baseline)
        say(f"regress: {os.path.join(a.baseline, 'README.md')} regenerated from regress.json")
        return 0
    a.bin, a.loadgen = os.path.abspath(a.bin), os.path.abspath(a.loadgen)
    try:
        built = sorted(n[5:] for n in os.listdir(a.bin) if n.startswith("echo_")
                       and os.access(os.path.join(a.bin, n), os.X_OK))
    except OSError:
        built = []
    if not built:
        usage_error(f"no servers in {a.bin} (run make)")
    if not os.access(a.loadgen, os.X_OK):
        usage_error(f"{a.loadgen} is not built (run make)")
    chosen = built
    sel = None
    if a.models is not None:
        sel = list(dict.fromkeys(m for arg in a.models for m in arg.replace(",", " ").split()))
        if not sel:
            usage_error("--models: no model given")
        for m in sel:
            if m not in built:
                usage_error(f"--models: unknown model '{m}' (built in {a.bin}: {','.join(built)})")
        chosen = sel
        if set(sel) == set(built):
            sel = None      # every model: no narrowing (a baseline model gone is still "missing")
    chosen = models.order(chosen)
    if a.repeats is not None and not 1 <= a.repeats <= 20:
        usage_error(f"--repeats: {a.repeats} is not from 1 to 20")
    if not (shutil.which("perf") or shutil.which("strace")):
        usage_error("neither perf nor strace is installed: no kernel count of system calls "
                    "(make deps installs linux-perf)")
    if not a.no_throughput and not shutil.which("hyperfine"):
        usage_error("hyperfine is not installed (make deps installs it)")
    base = None
    bfile = os.path.join(a.baseline, "regress.json")
    if not a.accept:
        try:
            with open(bfile) as f:
                base = json.load(f)
        except (OSError, ValueError) as e:
            usage_error(f"no baseline {bfile} ({e}); create one with: make baseline")
    repeats = a.repeats or (ACCEPT_REPEATS if a.accept else REPEATS)
    cg_repeats = CG_ACCEPT_REPEATS if a.accept else 1

    launch.install_cleanup()
    # where the points run: the CPU plan of SERVER_CPUS=1 (the server on the
    # first usable CPU, the generator on the others), as the bench's
    a.topo = topology.Local(1, nofile=resource.getrlimit(resource.RLIMIT_NOFILE)[1])
    mach = machine()
    rundir = os.path.join(a.out, f"regress-{time.strftime('%Y%m%d-%H%M%S')}-{mach['host']}")
    os.makedirs(rundir, exist_ok=True)
    say(f"regress: {len(chosen)} models from {a.bin}, {repeats} syscall repeats, run folder {rundir}")
    try:
        figs, timing = collect(chosen, a, rundir, repeats, cg_repeats)
        with tempfile.TemporaryDirectory(prefix="regress-probe-") as tmp:
            pr = probe(a, tmp) if a.accept else None
    finally:
        launch.kill_all()
    regress_out.export(figs, rundir)
    doc = dict(machine=mach, settings=SETTINGS, timing=timing, argv=argv, bin=a.bin, figures=figs)
    with open(os.path.join(rundir, "figures.json"), "w") as f:
        json.dump(doc, f, indent=1, sort_keys=True)
        f.write("\n")

    if a.accept:
        bdoc = regress_out.baseline_doc(figs, mach, timing, SETTINGS, repeats, cg_repeats, pr)
        regress_out.write_baseline(bdoc, a.baseline, rundir)
        say(f"regress: baseline written to {a.baseline} ({timing['total_s']} s)")
        say("\n".join(gate.justification(bdoc)))
        bad = [m for m, f in figs.items() if f["errors"] or f["verify_errors"]]
        if bad:
            say(f"regress: WARNING: failed points in the new baseline: {', '.join(bad)}")
        return 0

    rows, fails, notes = gate.compare(figs, base, sel, built, models.order)
    bm = base["machine"]
    text = [f"regress: baseline {a.baseline} ({(bm.get('commit') or '?')[:12]}"
            f"{' dirty' if bm.get('dirty') else ''}, {bm.get('date')}, {bm.get('host')}, "
            f"kernel {bm.get('kernel')})",
            f"regress: now {(mach.get('commit') or '?')[:12]}{' dirty' if mach.get('dirty') else ''}, "
            f"load average {mach['loadavg'][0]:g}, {timing['total_s']} s "
            f"(syscalls {timing['syscalls_s']} s, hyperfine {timing['throughput_s']} s, "
            f"callgrind {timing['callgrind_s']} s)", "", regress_out.table(rows), ""]
    text += [f"note: {n}" for n in notes]
    if bm.get("kernel") != mach["kernel"] or bm.get("cpu_model") != mach["cpu_model"]:
        text.append(f"note: the baseline came from another machine ({bm.get('cpu_model')}, "
                    f"kernel {bm.get('kernel')}); instr/echo and syscalls/echo may differ for that reason")
    if fails:
        text.append(f"regress: FAIL: {len(fails)} regression(s): " + "; ".join(fails))
    else:
        text.append("regress: PASS (no figure that noise cannot move has regressed)")
    text.append(f"regress: figures in {rundir}")
    out = "\n".join(text) + "\n"
    with open(os.path.join(rundir, "report.txt"), "w") as f:
        f.write(out)
    sys.stdout.write(out)
    return 1 if fails else 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        launch.kill_all()
        say("regress: interrupted")
        sys.exit(130)
