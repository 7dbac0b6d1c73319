#!/usr/bin/env python3
"""noise.py - how far apart independent runs of one point land on this
machine, by run length: the measurement that sets the profiles' run length
and run count (harness/profiles.py) and that docs/method.md quotes.

    python3 harness/noise.py --models epoll_et,poll --conns 1000 \\
        --durations 0.1,0.3,1 --rounds 15

Each round runs every (model, duration) once, in a shuffled order, each run a
fresh server and fresh connections (harness/runner.py, the bench's runner and
CPU plan). Per (model, duration) it prints the median, the coefficient of
variation across runs (CV), the run's set-up seconds, and the half width of a
median's 95% interval that 10 such runs would give (estimate.expected_half);
then, per duration, the CV of the per-round ratio of the first two models
(does running two models side by side cancel the noise?). --mode demand
measures the server's CPU per echo at --rate echoes/s instead of a closed
loop's echoes/s. The figures go to stdout, the progress to stderr; --json FILE
keeps every run's figure.
"""

import argparse
import json
import os
import random
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import interp  # noqa: E402
interp.ensure()         # a Python with scipy (re-runs under Debian's if need be)

import estimate  # noqa: E402
import launch    # noqa: E402
import models    # noqa: E402
import profiles  # noqa: E402
import runner    # noqa: E402
import topology  # noqa: E402


def fail(msg):
    sys.stderr.write(f"noise.py: {msg}\n")
    sys.exit(2)


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="noise.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="epoll_et,poll", help="comma-separated (default epoll_et,poll)")
    ap.add_argument("--conns", type=int, default=1000, help="connections, all active (default 1000)")
    ap.add_argument("--durations", default="0.1,0.3,1", help="measured seconds per run, comma-separated")
    ap.add_argument("--warmup", type=float, default=0.1, help="warm-up seconds per run (default 0.1)")
    ap.add_argument("--rounds", type=int, default=15, help="runs of each (model, duration) (default 15)")
    ap.add_argument("--mode", choices=("closed", "demand"), default="closed",
                    help="closed: echoes/s at saturation; demand: CPU per echo at --rate")
    ap.add_argument("--rate", type=int, default=5000, help="offered echoes/s with --mode demand")
    ap.add_argument("--bin", default=os.path.join(ROOT, "bin"))
    ap.add_argument("--json", metavar="FILE", help="write every run's figure here")
    a = ap.parse_args(argv)
    try:
        a.durations = [float(x) for x in a.durations.split(",") if x]
    except ValueError:
        fail(f"--durations: '{a.durations}' is not a list of seconds")
    if not a.durations or min(a.durations) <= 0:
        fail("--durations: give positive seconds")
    a.models = [m for m in a.models.split(",") if m]
    for m in a.models:
        if m not in models.names():
            fail(f"--models: '{m}' is not a model ({', '.join(models.names())})")
        if not os.access(os.path.join(a.bin, f"echo_{m}"), os.X_OK):
            fail(f"--models: {a.bin}/echo_{m} is not built (run make)")
    if a.rounds < 3 or a.conns < 1 or a.warmup < 0:
        fail("--rounds must be at least 3, --conns at least 1, --warmup not negative")
    return a


def point(model, conns, duration, warmup, mode, rate):
    base, _ = profiles.build_points("quick", [model], [conns], ["active"], profiles.machine().fds
                                    + profiles.FD_MARGIN, dict(repeats=1, duration=duration,
                                                               warmup=warmup))
    pt = base[0]
    return pt.again(sweep="noise", mode=mode, rate=rate if mode == "demand" else 0)


def main(argv):
    a = parse_args(argv)
    fig = "cpu_us_per_echo" if a.mode == "demand" else "msgs_per_s"
    launch.install_cleanup()
    topo = topology.Local(1, nofile=profiles.machine().fds + profiles.FD_MARGIN)
    keys = [(m, d) for m in a.models for d in a.durations]
    vals = {k: [] for k in keys}
    setup = {k: [] for k in keys}
    by_round = []
    t0 = time.monotonic()
    try:
        for rnd in range(a.rounds):
            order = list(keys)
            random.Random(rnd).shuffle(order)
            got = {}
            for m, d in order:
                rec = runner.run_point(point(m, a.conns, d, a.warmup, a.mode, a.rate), a.bin,
                                       len(topo.usable), topo=topo)
                v = (rec.get("derived") or {}).get(fig)
                if rec["status"] == "ok" and v:
                    vals[(m, d)].append(v)
                    setup[(m, d)].append(rec["wall_s"] - d - a.warmup)
                    got[(m, d)] = v
                else:
                    sys.stderr.write(f"noise.py: {m} {d:g} s: {rec['status']} {rec.get('reason')}\n")
            by_round.append(got)
            sys.stderr.write(f"round {rnd + 1}/{a.rounds} done in {time.monotonic() - t0:.0f} s "
                             f"(load average {os.getloadavg()[0]:.2f})\n")
    finally:
        launch.kill_all()
    print(f"{fig}, {a.conns} connections, {a.mode}"
          + (f" at {a.rate} echoes/s" if a.mode == "demand" else "")
          + f", warm-up {a.warmup:g} s, {a.rounds} rounds, load average now "
          f"{os.getloadavg()[0]:.2f}")
    print(f"{'model':<10} {'dur s':>6} {'runs':>4} {'median':>10} {'CV':>6} {'setup s':>8} "
          f"{'±(10 runs)':>10}")
    for m, d in keys:
        v = vals[(m, d)]
        if len(v) < 3:
            print(f"{m:<10} {d:>6g} {len(v):>4}  (too few ok runs)")
            continue
        cv = statistics.stdev(v) / statistics.fmean(v)
        print(f"{m:<10} {d:>6g} {len(v):>4} {statistics.median(v):>10.1f} {cv:>6.1%} "
              f"{statistics.median(setup[(m, d)]):>8.3f} {estimate.expected_half(10, cv):>10.1%}")
    if len(a.models) >= 2:
        m1, m2 = a.models[:2]
        for d in a.durations:
            r = [g[(m2, d)] / g[(m1, d)] for g in by_round if (m1, d) in g and (m2, d) in g]
            if len(r) >= 3:
                print(f"ratio {m2}/{m1} at {d:g} s: median {statistics.median(r):.3f}, CV across "
                      f"rounds {statistics.stdev(r) / statistics.fmean(r):.1%}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(dict(figure=fig, conns=a.conns, mode=a.mode, rate=a.rate, warmup=a.warmup,
                           runs={f"{m} {d:g}": vals[(m, d)] for m, d in keys},
                           setup_s={f"{m} {d:g}": setup[(m, d)] for m, d in keys}), f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
