"""quiet.py - is the machine quiet enough to measure?

  python3 harness/quiet.py [--strict] [--wait S] [--phase preflight|between]

Three readings, all relative to the number of CPUs (the cpuN lines of /proc/stat):

  load     /proc/loadavg's 1-minute average per CPU. It decays with a 1-minute
           time constant, so between sweeps it still holds the benchmark's own
           load (server + generator keep every CPU busy): judged at preflight only,
           and there only while it is not the residue of work that has ended: a
           1-minute average below the 5-minute one (falling) with the CPUs idle
           over the sample (busy under BUSY_MAX) is not held against the machine.
           (After a test suite it can stay above 0.25 per CPU for minutes while
           nothing runs: from 8 to 0.5 on 2 CPUs takes 60 ln 16 = 166 s.)
  busy     the share of all CPU time that was not idle, iowait or steal between
           two /proc/stat readings ~1 s apart, taken while the benchmark runs
           nothing: what everyone else is using now.
  steal    the share of CPU time the hypervisor gave to other guests in the same
           window (the steal column): a VM whose host is busy.

Policy: not strict, a noisy machine gets one warning line per reading and the
run goes on; strict (STRICT=1, reference runs) re-measures until the machine is
quiet or a cap passes: at preflight it then refuses to start, between sweeps it
carries on and the record says so. Every check returns a record for the run's
context (and points.jsonl): the readings, the thresholds, the verdict, the wait.
Exit (CLI): 0 quiet, 1 not quiet (after --wait, if given), 2 bad usage.
"""

import argparse
import os
import sys
import time

LOAD_PER_CPU = 0.25     # 1-minute load / CPUs: 0.5 on 2 CPUs (the old absolute warning)
BUSY_MAX = 0.10         # 10% of all CPU time busy while we run nothing
STEAL_MAX = 0.05        # 5% of CPU time stolen by the hypervisor
SAMPLE_S = 1.0          # the window between the two /proc/stat readings
WAIT_CAP_S = 300.0      # strict: the longest wait for quiet (a 1-minute load average
                        # decays as exp(-t/60 s): from 2.0 to 2 CPUs' 0.5 in 60 ln 4 = 83 s)
PHASES = ("preflight", "between")


def _read(path):
    with open(path) as f:
        return f.read()


def read_loadavg(proc="/proc"):
    """/proc/loadavg: "0.52 0.58 0.59 2/101 8746" -> ([1, 5, 15 min], running)."""
    f = _read(os.path.join(proc, "loadavg")).split()
    return [float(x) for x in f[:3]], int(f[3].split("/")[0])


def read_cpu_times(proc="/proc"):
    """The aggregate cpu line of /proc/stat as a dict of ticks, and the CPU count."""
    names = "user nice system idle iowait irq softirq steal guest guest_nice".split()
    agg, cpus = None, 0
    for ln in _read(os.path.join(proc, "stat")).splitlines():
        f = ln.split()
        if not f:
            continue
        if f[0] == "cpu":
            agg = dict(zip(names, (int(x) for x in f[1:])))
        elif f[0].startswith("cpu") and f[0][3:].isdigit():
            cpus += 1
    if agg is None or not cpus:
        raise ValueError(f"{proc}/stat has no cpu lines")
    return agg, cpus


def cpu_shares(t1, t2):
    """busy and steal as shares of the CPU time between two readings. guest and
    guest_nice are already counted inside user and nice, so they are left out."""
    d = {k: t2.get(k, 0) - t1.get(k, 0) for k in t1}
    total = sum(d.get(k, 0) for k in ("user", "nice", "system", "idle", "iowait", "irq",
                                       "softirq", "steal"))
    if total <= 0:
        return 0.0, 0.0
    busy = total - d.get("idle", 0) - d.get("iowait", 0) - d.get("steal", 0)
    return busy / total, d.get("steal", 0) / total


def sample(proc="/proc", sample_s=SAMPLE_S, sleep=time.sleep):
    """One reading: load average, running tasks, busy and steal over sample_s."""
    load, running = read_loadavg(proc)
    t1, cpus = read_cpu_times(proc)
    sleep(sample_s)
    t2, _ = read_cpu_times(proc)
    busy, steal = cpu_shares(t1, t2)
    return dict(time=time.strftime("%Y-%m-%dT%H:%M:%S"), cpus=cpus, loadavg=load,
                load_per_cpu=round(load[0] / cpus, 3), running=running,
                busy=round(busy, 4), steal=round(steal, 4), sample_s=sample_s)


def judge(r, phase):
    """The reasons a reading is not quiet (empty list: quiet)."""
    why = []
    la = r["loadavg"]
    residue = la[0] < la[1] and r["busy"] <= BUSY_MAX
    if phase == "preflight" and r["load_per_cpu"] > LOAD_PER_CPU and not residue:
        why.append(f"load average {r['loadavg'][0]:g} on {r['cpus']} CPUs "
                   f"(> {LOAD_PER_CPU:g} per CPU)")
    if r["busy"] > BUSY_MAX:
        why.append(f"{r['busy']:.0%} of CPU time busy while idle (> {BUSY_MAX:.0%})")
    if r["steal"] > STEAL_MAX:
        why.append(f"{r['steal']:.0%} of CPU time stolen by the hypervisor (> {STEAL_MAX:.0%})")
    return why


def check(phase="preflight", strict=False, wait_cap_s=WAIT_CAP_S, out=sys.stderr,
          proc="/proc", sample_s=SAMPLE_S, sleep=time.sleep, clock=time.monotonic):
    """Measure; if noisy, warn (not strict) or re-measure until quiet or
    wait_cap_s (strict). Returns the record to keep: the first and last
    readings, thresholds, quiet, reasons, waited_s, and action: "quiet",
    "warned", "waited" (quiet after a wait), "refused" (strict preflight still
    noisy at the cap) or "went on noisy" (strict between sweeps, same)."""
    if phase not in PHASES:
        raise ValueError(f"quiet: phase must be one of {', '.join(PHASES)}, not {phase!r}")
    t0 = clock()
    first = last = sample(proc, sample_s, sleep)
    why = judge(first, phase)
    n = 1
    while why and strict and clock() - t0 < wait_cap_s:
        if n == 1:
            out.write(f"quiet: {phase}: {'; '.join(why)}: STRICT=1, waiting up to "
                      f"{wait_cap_s:g} s for a quiet machine\n")
        sleep(min(5.0, max(0.0, wait_cap_s - (clock() - t0))))
        last = sample(proc, sample_s, sleep)
        why = judge(last, phase)
        n += 1
    waited = round(clock() - t0 - sample_s, 1) if n > 1 else 0.0
    if not why:
        action = "waited" if n > 1 else "quiet"
    elif not strict:
        action = "warned"
        out.write(f"quiet: {phase}: warning: {'; '.join(why)}: figures will be noisy\n")
    elif phase == "preflight":
        action = "refused"
    else:
        action = "went on noisy"
        out.write(f"quiet: between sweeps: still {'; '.join(why)} after {waited:g} s; "
                  "going on (recorded)\n")
    return dict(phase=phase, strict=bool(strict), quiet=not why, reasons=why, action=action,
                waited_s=waited, samples=n, first=first, last=last,
                thresholds=dict(load_per_cpu=LOAD_PER_CPU, busy=BUSY_MAX, steal=STEAL_MAX,
                                wait_cap_s=wait_cap_s))


def refusal_line(rec):
    """The one line a strict preflight prints when it refuses to start."""
    return (f"quiet: refusing to start (STRICT=1): {'; '.join(rec['reasons'])}, still after "
            f"{rec['waited_s']:g} s; stop what is running or raise the wait")


def strict_from_env(env=os.environ):
    return env.get("STRICT", "") not in ("", "0")


def main(argv):
    ap = argparse.ArgumentParser(prog="quiet.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("--strict", action="store_true", default=strict_from_env(),
                    help="wait for quiet up to --wait, then fail (default: STRICT from env)")
    ap.add_argument("--wait", type=float, default=WAIT_CAP_S, metavar="S",
                    help=f"strict: the longest wait in seconds (default {WAIT_CAP_S:g})")
    ap.add_argument("--phase", choices=PHASES, default="preflight")
    a = ap.parse_args(argv)
    if a.wait < 0:
        ap.error(f"--wait: {a.wait:g} is negative")
    try:
        rec = check(a.phase, a.strict, a.wait)
    except (OSError, ValueError) as e:
        sys.stderr.write(f"quiet: cannot read /proc: {e}\n")
        return 2
    r = rec["last"]
    print(f"quiet: {a.phase}: load {' '.join(f'{x:g}' for x in r['loadavg'])} on {r['cpus']} "
          f"CPUs, busy {r['busy']:.1%}, steal {r['steal']:.1%} over {r['sample_s']:g} s: "
          f"{rec['action']}")
    if rec["action"] == "refused":
        sys.stderr.write(refusal_line(rec) + "\n")
    return 0 if rec["quiet"] else 1


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)
