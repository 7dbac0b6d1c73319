#!/usr/bin/env python3
"""bench.py - run the I/O-model benchmark: preflight, sweeps, CSV, charts, report.

  python3 harness/bench.py --profile quick|default|full [--models a,b] [--conns 1000,10000]
  python3 harness/bench.py --dry-run ...          list the points and the time estimate
  python3 harness/bench.py --report-only DIR      re-make CSV, charts, REPORT.md of a run

Every point: the server pinned to the CPU plan's server CPUs (--server-cpus S:
the first S), bin/loadgen to the rest (harness/topology.py: or across a veth
pair, or on other hosts over ssh), /proc of
the server read at the generator's measure start/end lines, the server
stopped with SIGTERM and its JSON counters kept. Each finished point is
appended to <run>/points.jsonl and fsync'ed before the next starts, so
Ctrl-C loses at most the point in progress and leaves no process running.

--declare-cpus N plans, schedules, records and reports the run as on a
machine of N CPUs while its processes run pinned to the CPUs that exist
(docs/machines.md): a test of the suite for bigger machines, not their figures.

Exit status: 0 the run finished (failed points are data, not errors),
1 it finished but its records do not account for every planned point (a
harness bug: REPORT.md lists them), 2 bad arguments (nothing was run),
130 interrupted.
"""

import argparse
import atexit
import json
import os
import signal
import socket
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import interp  # noqa: E402
interp.ensure()         # a Python with scipy (re-runs under Debian's if need be)

import context   # noqa: E402
import convergence  # noqa: E402
import cpuplan   # noqa: E402
import kbench    # noqa: E402
import launch    # noqa: E402
import models    # noqa: E402
import overrides as cli_over  # noqa: E402
import procfs    # noqa: E402
import profiles  # noqa: E402
import quiet     # noqa: E402
import records   # noqa: E402
import report    # noqa: E402
import runner    # noqa: E402
import schedule  # noqa: E402
import session   # noqa: E402
import stats     # noqa: E402
import sweeps as sweep_decl  # noqa: E402
import topology  # noqa: E402


def fail(msg):
    """One-line error before anything runs."""
    sys.stderr.write(f"bench: {msg}\n")
    sys.exit(2)


def parse_args(argv):
    ap = argparse.ArgumentParser(
        prog="bench.py", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="MODELS narrows the models; CONNS replaces the connection counts of the "
               "active and idle sweeps (idle: total = 100 active + idle) and keeps only "
               "the other sweeps' points with that many connections.\n\nsweeps:\n"
               + "".join(f"  {s.name:<7} {s.doc}\n" for s in sweep_decl.SWEEPS))
    ap.add_argument("--profile", default="default", choices=sorted(profiles.PROFILES))
    ap.add_argument("--models", help="comma-separated models (default: every bin/echo_*)")
    ap.add_argument("--conns", help="comma-separated connection counts")
    ap.add_argument("--sweeps", help="comma-separated subset of " + ",".join(profiles.SWEEPS))
    ap.add_argument("--bin", default=os.path.join(ROOT, "bin"),
                    help="folder with echo_<model> and loadgen (default bin/)")
    ap.add_argument("--out", default=os.path.join(ROOT, "results"),
                    help="results folder; the run goes to OUT/<date>-<host>/, OUT/latest links it")
    ap.add_argument("--repeats", type=int, help="override the profile's repeats")
    ap.add_argument("--duration", type=float, help="override the measured seconds per point")
    ap.add_argument("--warmup", type=float, help="override the warm-up seconds per point")
    ap.add_argument("--ready-timeout", type=float, default=10.0,
                    help="seconds to wait for READY (default 10)")
    ap.add_argument("--stop-timeout", type=float, default=3.0,
                    help="seconds to wait for exit after SIGTERM (default 3)")
    ap.add_argument("--dry-run", action="store_true", help="list the points and the estimate")
    ap.add_argument("--report-only", metavar="DIR", help="re-plot and re-report a finished run")
    # Where and how (harness/topology.py; docs/multi-host.md).
    ap.add_argument("--server-cpus", default="1", metavar="S",
                    help="the server on the first S usable CPUs, the generator on the rest "
                         "(default 1)")
    ap.add_argument("--declare-cpus", metavar="N",
                    help="plan and report as if this machine had N CPUs (0..N-1): the "
                         "processes run pinned onto the real ones, each record and REPORT.md "
                         "say so (docs/machines.md)")
    ap.add_argument("--net", default="loopback", help="loopback (default) or veth: server and "
                    "generator in two network namespaces joined by a veth pair (root)")
    ap.add_argument("--server-host", metavar="[USER@]HOST",
                    help="run the server on this host over ssh (with --client-hosts)")
    ap.add_argument("--client-hosts", metavar="[USER@]H1,H2",
                    help="run the generators on these hosts over ssh, the load split evenly")
    ap.add_argument("--ssh-config", metavar="FILE", help="ssh -F FILE (default: your own)")
    ap.add_argument("--remote-dir", default="", metavar="DIR",
                    help="where on each host the suite is unpacked and built (default: home)")
    ap.add_argument("--resume", metavar="DIR",
                    help="continue an interrupted run in DIR with its own arguments (refused "
                         "if the settings, commit or binaries differ); only points not done run")
    ap.add_argument("--compare", nargs=2, metavar=("A", "B"),
                    help="compare two runs (harness/compare.py): overlay charts, COMPARE.md")
    ap.add_argument("--target", type=float, metavar="PCT",
                    help="repeat a point until the 95%% intervals of the figures it converges "
                         "on (harness/convergence.py) are within +-PCT%% of the mean (default: "
                         "the profile's, 5)")
    ap.add_argument("--max-repeats", type=int, metavar="N",
                    help="the most repeats a point gets while its interval is wider than the "
                         "target (default: the profile's)")
    ap.add_argument("--no-plots", action="store_true", help="skip gnuplot")
    ap.add_argument("--profile-points", default="default", metavar="SWEEP:CONNS,...",
                    help="points whose CPU is profiled (perf record, a second run of each): "
                         f"'default' ({kbench.DEFAULT_PROFILE_POINTS}), 'none', or a list of "
                         "SWEEP:CONNS / SWEEP:max (the planned conns nearest)")
    ap.add_argument("--set", action="append", metavar="SWEEP.KEY=V[,V]",
                    help="replace a sweep's profile parameter, e.g. size.sizes=64,1024 "
                         "(repeatable; harness/overrides.py)")
    ap.add_argument("--server-args", action="append", metavar="MODEL=FLAGS",
                    help="add server flags to MODEL's points, e.g. 'pool=--workers 3' (repeatable)")
    return ap.parse_args(argv)


def built_models(bindir):
    try:
        names = os.listdir(bindir)
    except OSError:
        return []
    found = [n[5:] for n in names if n.startswith("echo_")
             and os.path.isfile(os.path.join(bindir, n))
             and os.access(os.path.join(bindir, n), os.X_OK)]
    return models.order(found)


def split_list(s):
    return [x.strip() for x in s.split(",")] if s is not None else None


def validate(a, lim):
    """Check MODELS, CONNS and SWEEPS; returns (models, conns, sweeps)."""
    built = built_models(a.bin)
    if not built:
        fail(f"no servers built in {a.bin} (run make)")
    chosen_models = built
    if a.models is not None:
        chosen = split_list(a.models)
        refs = models.names(is_ref=True)
        for m in chosen:
            if not m:
                fail(f"MODELS: empty entry in '{a.models}'")
            if m in refs and m not in built:
                tool = runner.ref_missing(m)
                if tool:
                    fail(f"MODELS: reference row '{m}' needs '{tool}', which is not installed "
                         f"(apt-get install {models.get(m).ref_pkg})")
            elif m not in built:
                fail(f"MODELS: '{m}' is not a built model (built: {','.join(built)}; "
                     f"reference rows: {','.join(refs)})")
        chosen_models = models.order(chosen)
    conns = None
    if a.conns is not None:
        conns = []
        prof = profiles.PROFILES[a.profile]
        per = profiles.per_proc_conns(lim["nofile_hard"])
        for c in split_list(a.conns):
            if not c.isdigit() or int(c) < 1:
                fail(f"CONNS: '{c}' is not a whole number of connections >= 1")
            n = int(c)
            need = profiles.procs_needed(n, lim["nofile_hard"])
            if need > prof["max_server_procs"]:
                fail(f"CONNS: {n} connections need {need} server processes ({per} fds each) "
                     f"but profile {a.profile} runs {prof['max_server_procs']}"
                     + ("; use PROFILE=full" if a.profile != "full" else ""))
            conns.append(n)
    sweeps = None
    if a.sweeps is not None:
        sweeps = split_list(a.sweeps)
        for s in sweeps:
            if s not in profiles.SWEEPS:
                fail(f"SWEEPS: '{s}' is not one of {','.join(profiles.SWEEPS)}")
    for k in ("repeats", "duration", "warmup"):
        v = getattr(a, k)
        if v is not None and (v < (1 if k == "repeats" else 0) or (k == "duration" and v <= 0)):
            fail(f"--{k}: {v} is out of range")
    if a.target is not None and not 0 < a.target < 100:
        fail(f"--target: {a.target:g} is not a percentage between 0 and 100")
    if a.max_repeats is not None and a.max_repeats < 1:
        fail(f"--max-repeats: {a.max_repeats} is out of range")
    try:
        a.sets = cli_over.parse_sets(a.set, a.profile)
        a.server_extra = cli_over.parse_server_args(a.server_args, chosen_models)
    except cli_over.BadOverride as e:
        fail(str(e))
    try:
        kbench.parse_profile_points(a.profile_points, sweep_decl.names())
    except ValueError as e:
        fail(f"--profile-points: {e}")
    if a.declare_cpus is not None:
        try:
            a.declare_cpus = cpuplan.parse_declared(a.declare_cpus)
        except cpuplan.PlanError as e:
            fail(str(e))
    return chosen_models, conns, sweeps


def make_topology(a, lim):
    """Where and how points run (harness/topology.py), from --server-cpus,
    --net, --server-host, --client-hosts; one line and exit 2 if they do not
    make one. Its processes end at exit too (atexit), on every host."""
    try:
        t = topology.make(a.server_host, split_list(a.client_hosts) or None, a.server_cpus,
                          a.net, lim["nofile_hard"], ssh_config=a.ssh_config,
                          remote_dir=a.remote_dir, declare=a.declare_cpus)
    except (topology.TopologyError, cpuplan.PlanError) as e:
        fail(str(e))
    atexit.register(t.close)
    return t


def fmt_t(s):
    s = int(max(0, s))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def describe(pt):
    d = f"{pt['sweep']}/{pt['series']} {pt['model']} conns={pt['conns']}"
    if pt["mode"] != "churn" and pt["active"] != pt["conns"]:
        d += f" active={pt['active']}"
    if pt["rate"]:
        d += f" rate={pt['rate']}"
    if pt["size"] != 64:
        d += f" size={pt['size']}"
    if pt["work_us"]:
        d += f" work={pt['work_us']}us/{pt['work_every']}"
    if pt["repeats"] > 1:
        d += f" rep {pt['repeat']}/{pt['repeats']}"
    return d


def ncpus(a):
    """The CPUs the run plans for: --declare-cpus, else this process's usable ones."""
    return int(a.declare_cpus) if a.declare_cpus else len(cpuplan.usable_cpus())


def dry_run(pts, settings, lim, topo=None):
    """The points, one a line. S: the server's CPUs (the cores sweep's; 0 =
    SERVER_CPUS; all = unpinned); srv: server processes; gen: the
    generator's threads x processes on this machine's CPU plan (declared
    or not), or its processes elsewhere."""
    total = 0.0
    local = topo is not None and topo.name == "local"
    if local:
        print(cpuplan.describe(topo.plan(None)))
    print(f"{'#':>4}  {'sweep':<6} {'series':<10} {'model':<10} {'conns':>7} {'active':>7} "
          f"{'rate':>7} {'size':>6} {'work':>5} {'S':>3} {'srv':>3} {'gen':>5} {'rep':>3}  "
          "est_s  note")
    for i, pt in enumerate(pts, 1):
        why = profiles.machine_limit(pt, lim) or profiles.model_limit(pt["model"], pt, lim)
        est = 0 if why else schedule.estimate_s(pt)
        total += est
        gen = pt["client_procs"]
        if local and pt["mode"] != "dispatch":
            try:
                p = topo.plan(pt)
                gen = f"{p.threads}x{p.procs}"
            except cpuplan.PlanError as e:
                why = why or str(e)
        print(f"{i:>4}  {pt['sweep']:<6} {pt['series']:<10} {pt['model']:<10} {pt['conns']:>7} "
              f"{pt['active']:>7} {pt['rate']:>7} {pt['size']:>6} {pt['work_us']:>5} "
              f"{pt['server_cpus']:>3} {pt['server_procs']:>3} {gen:>5} {pt['repeat']:>3}  "
              f"{est:5.1f}" + (f"  skip: {why}" if why else ""))
    _, mn, mx, extra = schedule.limits(settings)
    more = (f" + at most {fmt_t(total * extra)} for further repeats of points whose interval "
            f"is wider than +-{settings.get('target', stats.TARGET):.0%} (up to {mx})"
            if mx > mn and extra > 0 else "")
    print(f"{len(pts)} points, estimated {fmt_t(total)}{more} (+ ~1 min for charts and report); "
          f"settings {json.dumps(settings)}")
    for ln in schedule.precision_lines(pts, settings, schedule.reference_records()):
        print(ln)


class Progress:
    """[i/n] lines: n is the planned minimum (every point's min repeats); the
    extra repeats of points that did not converge count past it ("+k")."""

    def __init__(self, pts, done=0):
        self.t0 = time.monotonic()
        self.left = sum(schedule.estimate_s(p) for p in pts)
        self.done_est = 0.0
        self.n = len(pts)
        self.i = done

    def line(self, pt):
        el = time.monotonic() - self.t0
        scale = el / self.done_est if self.done_est > 5 else 1.0
        eta = max(0.0, self.left) * min(3.0, max(0.5, scale))
        self.i += 1
        at = f"{self.i}/{self.n}" if self.i <= self.n else f"{self.n}+{self.i - self.n}"
        sys.stderr.write(f"[{at}] {describe(pt)}  elapsed {fmt_t(el)} ETA {fmt_t(eta)} ... ")
        sys.stderr.flush()

    def result(self, pt, rec, skipped=False):
        est = schedule.estimate_s(pt)
        self.left -= est
        if not skipped:
            self.done_est += est
        d = rec.get("derived") or {}
        if rec["status"] == "ok":
            bits = []
            if d.get("msgs_per_s") is not None:
                bits.append(f"{d['msgs_per_s']:,.0f} msg/s")
            if d.get("p99_us") is not None:
                bits.append(f"p99 {d['p99_us']:,.0f} us")
            if d.get("cpu_us_per_echo") is not None:
                bits.append(f"{d['cpu_us_per_echo']:.1f} us CPU/echo")
            if d.get("conns_per_s") is not None:
                bits.append(f"{d['conns_per_s']:,.0f} conn/s")
            if d.get("ns_per_event") is not None:          # a dispatch point
                bits.append(f"{d['ns_per_event']:,.0f} ns/event at N={d.get('fds')}")
            msg = "ok " + ", ".join(bits)
        else:
            msg = f"{rec['status'].upper()}: {rec['reason']}"
        sys.stderr.write(msg + "\n")
        sys.stderr.flush()


def make_run_dir(out):
    os.makedirs(out, exist_ok=True)
    base = time.strftime("%Y-%m-%d_%H%M%S") + "-" + socket.gethostname().split(".")[0]
    name, n = base, 1
    while os.path.exists(os.path.join(out, name)):
        n += 1
        name = f"{base}.{n}"
    path = os.path.join(out, name)
    os.makedirs(path)
    link = os.path.join(out, "latest")
    tmp = link + ".tmp"
    try:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(name, tmp)
        os.replace(tmp, link)
    except OSError as e:
        sys.stderr.write(f"bench: cannot update {link}: {e}\n")
    return path


def plan(a, chosen_models, conns, sweeps, lim):
    """The run's points and settings from the profile and the flags; one line
    and exit 2 when they leave no point."""
    overrides = dict(repeats=a.repeats, duration=a.duration, warmup=a.warmup,
                     target=a.target / 100 if a.target is not None else None,
                     max_repeats=a.max_repeats,
                     sets=a.sets or None, server_extra=a.server_extra or None)
    pts, settings = profiles.build_points(a.profile, chosen_models, conns, sweeps,
                                          lim["nofile_hard"], overrides,
                                          mach=profiles.machine(ncpus(a)))
    if not pts:
        cores = sweep_decl.cores_skip_reason(ncpus(a)) if "cores" in (sweeps or ()) else None
        fail("nothing to run: MODELS/CONNS/SWEEPS leave no point"
             + (f" (cores sweep: {cores})" if cores else ""))
    return pts, settings


def preflight(a, chosen_models, sweeps, lim):
    """What limits the run, where it runs (the CPU plan, NET, or the hosts:
    reached, deployed and built there), whether the machine is quiet, the
    reference rows; exit 2 when the topology cannot be made or a strict run
    finds the machine busy. Returns the quiet check's record."""
    procfs.print_limits(lim, sys.stderr)
    try:
        a.topo.preflight(**({"models": chosen_models} if a.topo.name == "hosts" else {}))
    except (topology.TopologyError, cpuplan.PlanError) as e:
        for ln in str(e).splitlines():
            sys.stderr.write(f"bench: {ln}\n")
        sys.exit(2)
    if "cores" in (sweeps or profiles.SWEEPS):
        why = sweep_decl.cores_skip_reason(ncpus(a))
        if why:
            sys.stderr.write(f"preflight: cores sweep: {why}\n")
    for w in procfs.warnings(lim):
        sys.stderr.write(f"preflight: warning: {w}\n")
    quiet_rec = quiet.check("preflight", quiet.strict_from_env())
    if quiet_rec["action"] == "refused":
        fail(quiet.refusal_line(quiet_rec))
    for m in models.names(is_ref=True):
        if m not in chosen_models:
            tool = runner.ref_missing(m)
            sys.stderr.write(f"preflight: reference row {m}: " +
                             (f"skipped: '{tool}' is not installed\n" if tool else
                              f"not in MODELS (add it: MODELS=...,{m})\n"))
        else:            # its first build (javac, go build, erlc) before any timed start
            why = runner.ref_warm_up(runner.server_path(a.bin, m))
            sys.stderr.write(f"preflight: reference row {m}: "
                             + (f"warning: {why}\n" if why else f"built (`echo_{m} --help` ran)\n"))
    return quiet_rec


def run_context(a, chosen_models, conns, sweeps, lim, pts, settings, quiet_rec):
    """context.json of this run (harness/context.py), and what the run adds."""
    ctx = context.build(ROOT, a.bin, a.profile, lim, sys.argv, chosen_models, settings, a.topo)
    ctx.update(models=chosen_models, sweeps=sweeps or list(profiles.SWEEPS), conns_filter=conns,
               points_planned=len(pts), finished=False, interrupted=False,
               not_built=[m for m in models.order(models.source_models(ROOT))
                          if m not in built_models(a.bin)],
               estimate_s=round(sum(schedule.estimate_s(p) for p in pts)),
               quiet=quiet_rec, quiet_between=[],
               schedule=dict(method="interleaved rounds, shuffled (seed "
                             f"{schedule.SEED}); the median of the runs with its distribution-free 95% "
                             "interval (order statistics: harness/estimate.py)",
                             figures=convergence.describe()))
    return ctx


def open_run(a, ctx, quiet_rec):
    """(run folder, its context, the records already there): a new folder, or
    the interrupted run being resumed (refused when its context differs)."""
    if not getattr(a, "resume_dir", None):
        return make_run_dir(a.out), ctx, []
    run_dir, old = a.resume_dir, a.resume_ctx
    why = schedule.resume_mismatch(old, ctx)
    if why:
        fail(f"--resume: {run_dir} was run with other {why}")
    recs_before = records.load(run_dir)
    old.setdefault("resumed", []).append(dict(date=ctx["date"], quiet=quiet_rec))
    old.setdefault("quiet_between", [])
    old.update(finished=False, interrupted=False)
    sys.stderr.write(f"bench: resuming {run_dir}: {len(recs_before)} point runs on disk\n")
    return run_dir, old, recs_before


def run(a, chosen_models, conns, sweeps, lim):
    pts, settings = plan(a, chosen_models, conns, sweeps, lim)
    if a.dry_run:
        dry_run(pts, settings, lim, a.topo)
        return 0
    if not os.access(os.path.join(a.bin, "loadgen"), os.X_OK):
        fail(f"{os.path.join(a.bin, 'loadgen')} is not built (run make)")
    quiet_rec = preflight(a, chosen_models, sweeps, lim)
    ctx = run_context(a, chosen_models, conns, sweeps, lim, pts, settings, quiet_rec)
    run_dir, ctx, recs_before = open_run(a, ctx, quiet_rec)
    ctx_path = os.path.join(run_dir, "context.json")
    # The kernel's view (harness/kbench.py): perf usable?, the profiled points.
    kern = kbench.Bench(a.profile_points, pts, run_dir)
    kern.preflight(sys.stderr)
    ctx.update(kern.context())
    context.write(ctx_path, ctx)
    sys.stderr.write(f"bench: {len(pts)} points, estimated {fmt_t(ctx['estimate_s'])} "
                     f"(+ repeats of points whose interval is wider than "
                     f"+-{settings['target']:.0%}); results in {run_dir}\n")

    sess = session.Session(run_dir, settings, lim, a.bin, a.topo, kern, a.ready_timeout,
                           a.stop_timeout, recs_before, Progress(pts, done=len(recs_before)))
    strict = quiet.strict_from_env()

    def between(sweep):
        ctx["quiet_between"].append(dict(quiet.check("between", strict), before=sweep))
        context.write(ctx_path, ctx)

    t0 = time.monotonic()
    interrupted = False
    try:
        if not recs_before and a.topo.name == "local" and kern.usable:
            sys.stderr.write("bench: measuring the kernel count's overhead ...\n")
            sess.overhead(pts)
            context.write(ctx_path, ctx)
        schedule.run(pts, settings, sess.measure, between, schedule.prior_from(recs_before))
    except KeyboardInterrupt:
        interrupted = True
        sys.stderr.write("\nbench: interrupted; stopping the processes of the point "
                         "in progress (finished points are on disk)\n")
    finally:
        launch.kill_all()
        a.topo.close()
        sess.close()
    # Ignore a second Ctrl-C while the summary is written: it is quick.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    counts = sess.counts
    for r in recs_before:
        counts[r.status] += 1
    # Every planned point ran or was skipped with its reason: a point no record
    # accounts for was dropped by the harness (points merged by one key, a
    # schedule that lost them) and the run says so instead of looking whole.
    lost = [] if interrupted else records.unaccounted(pts, records.load(run_dir))
    ctx.update(finished=not interrupted, interrupted=interrupted,
               duration_s=round(time.monotonic() - t0 + (ctx.get("duration_s") or 0), 1),
               points=counts, unaccounted=[
                   f"{describe(p)} S={p.server_cpus}: {n} planned, {k} recorded"
                   for p, n, k in lost])
    context.write(ctx_path, ctx)
    report.make_all(run_dir, plots=not (a.no_plots or interrupted))
    sys.stderr.write(f"bench: {counts['ok']} ok, {counts['failed']} failed, "
                     f"{counts['skipped']} skipped in {fmt_t(ctx['duration_s'])}; "
                     f"see {os.path.join(run_dir, 'REPORT.md')}\n")
    if lost:
        sys.stderr.write(f"bench: {len(lost)} planned point(s) have no record that accounts "
                         f"for them (a harness bug), e.g. {ctx['unaccounted'][0]}\n")
        return 1
    return 130 if interrupted else 0


def resume_args(run_dir):
    """The interrupted run's own arguments (context.json argv), to run again
    into run_dir; one line and exit 2 when it cannot be resumed."""
    try:
        with open(os.path.join(run_dir, "context.json")) as f:
            ctx = json.load(f)
        argv = ctx["argv"][1:]
    except (OSError, ValueError, KeyError, TypeError) as e:
        fail(f"--resume: {run_dir} has no readable context.json with its arguments ({e})")
    if not os.path.isfile(os.path.join(run_dir, "points.jsonl")):
        fail(f"--resume: {run_dir} has no points.jsonl")
    if ctx.get("finished"):
        fail(f"--resume: {run_dir} finished; there is nothing to continue")
    if "--resume" in argv or "--compare" in argv or "--dry-run" in argv:
        fail(f"--resume: {run_dir}'s arguments are not a run's: {' '.join(argv)}")
    a = parse_args(argv)
    a.resume_dir, a.resume_ctx = run_dir, ctx
    return a


def main(argv):
    a = parse_args(argv)
    launch.install_cleanup()
    if a.report_only:
        if not os.path.isfile(os.path.join(a.report_only, "points.jsonl")):
            fail(f"--report-only: {a.report_only} has no points.jsonl")
        report.make_all(a.report_only, plots=not a.no_plots)
        return 0
    if a.compare:
        import compare
        out = os.path.join(a.out, compare.default_name(*a.compare))   # results/compare-A-vs-B
        return compare.main(list(a.compare) + ["--out", out] + (["--no-plots"] if a.no_plots else []))
    if a.resume:
        a = resume_args(a.resume)
    a.bin = os.path.abspath(a.bin)
    lim = procfs.limits()
    chosen_models, conns, sweeps = validate(a, lim)
    a.topo = make_topology(a, lim)
    return run(a, chosen_models, conns, sweeps, lim)


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        launch.kill_all()
        sys.exit(130)
    except BrokenPipeError:           # `--dry-run | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
