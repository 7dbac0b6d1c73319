#!/usr/bin/env python3
"""open-loop-probe.py - what the open loop costs the generator, and where a
low-load echo's time goes. docs/open-loop.md quotes its output; re-run it in
a quiet window to check those figures (every line carries the 1-minute load
average at the time).

  python3 docs/open-loop-probe.py cost     CPU per echo of the generator: the
                                           closed loop at saturation, then the
                                           open loop at 10/25/50/90% of it
  python3 docs/open-loop-probe.py pacing   the timer's granularity: the CPU per
                                           echo and the lateness of each pacing
                                           setting at 10% and 50%
  python3 docs/open-loop-probe.py where    10% against 50%: the server's wake-ups
                                           (sched tracepoints), the generator's
                                           lateness, the rest (the path and the
                                           server's work); and the same runs
                                           with a CPU kept from idling
  python3 docs/open-loop-probe.py profile  where the generator's CPU goes, per
                                           echo: the closed loop against 10% and
                                           50% (perf's cpu-clock samples of its
                                           stacks, sorted into the system calls
                                           and what the kernel does inside them)

The machine is shared. Every run records how long the server and the
generator waited on a run queue (runnable, not running: the kernel's
schedstat), i.e. how much CPU other work took from them; a run where either
waited more than --busy-share of its measured window (default 2%) is
"busy": the tables use only the other, "clean", runs (a round whose closed
loop was busy is dropped whole) and say how many there were. Run more
rounds on a busy machine (--repeats 20).

Set-up, as the brief for these figures asked: the server (`--model`,
epoll_et) pinned to CPU 0, the generator to CPU 1, 1,000 connections over 8
loopback source addresses, 64-byte messages, depth 1. Capacity = the closed
loop's echoes/s at those connections, measured at the start of every round;
a round runs every setting once in shuffled order (Abedi and Brecht's
randomized interleaved trials), so a ratio compares runs taken minutes
apart, not hours. Medians over the rounds, with the range.

A CPU "kept awake" runs a SCHED_IDLE spinner: the scheduler runs it only
when nothing else wants that CPU, so it never halts and a wake-up there
needs no exit from the idle state (on this VM a halted vCPU is given back to
the host). The server's is its own option, --awake (servers/common.c: a
SCHED_IDLE thread per CPU it may use); the generator's is a separate
process on its CPU. Both burn their CPU: experiments, not settings.

The sched tracepoints need tracefs; when it is not mounted the script
mounts it in a private mount namespace of its own perf (unshare -m), so the
machine's mounts are left as they were. Without perf or root that part says
why and is skipped.
"""

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "harness"))
import launch  # noqa: E402  (the harness's process launcher: groups, PDEATHSIG, cleanup)

SHARES = (10, 25, 50, 90)
PACINGS = [                      # (name, loadgen flags): the settings `pacing` compares
    ("replies wake (old loop)", ["--wake-on-reply", "--spin-us", "0"]),
    ("default", []),
    ("no spin", ["--spin-us", "0"]),
    ("slack 50 us", ["--slack-ns", "50000"]),
    ("batch 200 us", ["--batch-us", "200"]),
    ("batch 400 us", ["--batch-us", "400"]),
    ("early 30 us", ["--early-us", "30"]),
    ("spin within 25 us", ["--spin-us", "25"]),
    ("spin within 50 us", ["--spin-us", "50"]),
]
AWAKE = [("plain", ()), ("server --awake", ("server",)), ("generator CPU awake", ("client",)),
         ("both awake", ("server", "client"))]
# the profile probe's buckets: the first rule whose symbols appear in a
# sample's stack takes the sample (order matters: a wake-up of the server
# happens inside a send; the ACK a read sends, inside the read)
PROFILE = [
    ("timer sleep and wake-up", ("clock_nanosleep", "clock_nanosleep@GLIBC_2.2.5", "__x64_sys_clock_nanosleep")),
    ("send: waking the server", ("sock_def_readable",)),
    ("send: the rest", ("__send", "__sys_sendto")),
    ("read: the ACK it sends", ("__tcp_transmit_skb",)),
    ("read: the rest", ("__libc_recv", "__libc_recvmsg", "__sys_recvmsg", "__sys_recvfrom")),
    ("epoll_wait", ("epoll_pwait2", "epoll_wait", "do_epoll_wait")),
    ("the clock (spin, stamps)", ("clock_gettime@@GLIBC_2.17", "clock_gettime", "__vdso_clock_gettime")),
    ("other", ()),
]

SPINNER = """import os, sys, time
os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
end = time.monotonic() + float(sys.argv[1])
while time.monotonic() < end:
    pass
"""


def run_wait_s(pid):
    """Seconds the threads of pid have waited on a run queue (schedstat), or None."""
    total, seen = 0, False
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[1])
                seen = True
        except (OSError, IndexError, ValueError):
            pass
    return total / 1e9 if seen else None


def idle_share(seconds):
    """Share of the machine's CPU time that was idle over `seconds` (/proc/stat)."""
    def read():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:9]]
        return sum(v), v[3] + v[4]
    t0, i0 = read()
    time.sleep(seconds)
    t1, i1 = read()
    return (i1 - i0) / (t1 - t0) if t1 > t0 else 0.0


def wait_quiet(limit_s):
    """Wait (at most limit_s) until the machine is 95% idle over 2 s; the wait, in s."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit_s and idle_share(2.0) < 0.95:
        time.sleep(3)
    return time.monotonic() - t0


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def rng(xs, fmt="{:.1f}"):
    """'median (min-max)' of a list."""
    xs = [x for x in xs if x is not None]
    if not xs:
        return "-"
    m = statistics.median(xs)
    return (fmt.format(m) + (f" ({fmt.format(min(xs))}-{fmt.format(max(xs))})" if len(xs) > 1 else ""))


class Probe:
    def __init__(self, a):
        self.a = a
        self.bin = os.path.join(ROOT, "bin")
        self.records = []
        for p in (self.loadgen, self.server_path):
            if not os.access(p, os.X_OK):
                sys.exit(f"open-loop-probe: {p} is not built (run make)")
        if len(os.sched_getaffinity(0)) < 2:
            sys.exit("open-loop-probe: needs 2 CPUs (server and generator on their own)")

    @property
    def loadgen(self):
        return os.path.join(self.bin, "loadgen")

    @property
    def server_path(self):
        return os.path.join(self.bin, f"echo_{self.a.model}")

    def server(self, awake=False):
        srv = launch.Child([self.server_path, "--port", "0", *(["--awake"] if awake else [])],
                           cpus={self.a.server_cpu})
        if srv.wait_ready(10) is None:
            srv.kill()
            sys.exit(f"open-loop-probe: echo_{self.a.model}: {srv.error}")
        return srv

    def spinners(self, which, seconds):
        """SCHED_IDLE spinners on the generator's CPU (the server has --awake)."""
        return [launch.Child([sys.executable, "-c", SPINNER, f"{seconds:g}"], cpus={self.a.client_cpu})
                for w in which if w == "client"]

    def run(self, what, rate=None, flags=(), awake=(), trace=False, closed_cpu=None, profile=False):
        """One loadgen run against a fresh server: its JSON record plus the
        load average, and (trace) the server's wake-ups from the kernel or
        (profile) the generator's CPU by stack."""
        a = self.a
        waited = wait_quiet(a.wait_quiet) if a.wait_quiet else 0.0
        srv = self.server("server" in awake)
        spin = self.spinners(awake, a.warmup + a.duration + 5)
        rec = {"what": what, "rate": rate, "flags": list(flags), "awake": list(awake), "load1": loadavg(),
               "waited_quiet_s": waited, "closed_cpu": closed_cpu, "duration": a.duration}
        born = time.monotonic()
        w0 = run_wait_s(srv.pid)
        try:
            cmd = [self.loadgen, "--port", str(srv.port), "--conns", str(a.conns), "--src", a.src,
                   "--duration", f"{a.duration:g}", "--warmup", f"{a.warmup:g}", "--json", "--quiet",
                   *(["--rate", str(rate)] if rate else []), *flags]
            lg = launch.Child(cmd, cpus={a.client_cpu}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            sched = prof = None
            if trace or profile:
                line, t_end = b"", time.monotonic() + a.warmup + 30
                while b"measure start" not in line and time.monotonic() < t_end:
                    line = launch.read_line(lg.p.stderr, max(0.1, t_end - time.monotonic()))
                    if not line and lg.p.poll() is not None:
                        break
                if trace:
                    sched = self.trace_sched(srv.pid, lg.pid, min(2.0, a.duration - 0.5))
                else:
                    prof = self.profile_cpu(lg.pid, min(2.0, a.duration - 0.5))
            code, out, err = lg.communicate(a.warmup + a.duration + 60)
            rec["client"], why = launch.parse_json(out)
            if rec["client"] is None:
                rec["error"] = f"loadgen {launch.exit_text(code)}: {why}: {err.strip()[-300:]}"
            rec["sched"] = sched
            if profile:
                rec["profile"] = prof
            w1 = run_wait_s(srv.pid)
            rec["server_wait_s"] = w1 - w0 if w0 is not None and w1 is not None else None
            rec["life_s"] = time.monotonic() - born
        finally:
            for s in spin:
                s.kill()
            srv.stop(5)
            srv.kill()
        rec["load1_end"] = loadavg()
        limit = a.busy_share * a.duration
        cw, sw = cfield(rec, "client_wait_s"), rec.get("server_wait_s")
        # the server's wait covers its whole life (connect and warm-up too): scaled to the window
        sw_window = sw * a.duration / (a.duration + a.warmup + 1) if sw is not None else None
        rec["clean"] = bool(rec.get("client") and cw is not None and cw <= limit
                            and (sw_window is None or sw_window <= limit))
        self.records.append(rec)
        if a.json:
            with open(a.json, "a") as f:
                f.write(json.dumps(rec) + "\n")
        return rec

    # ---- the kernel's view: sched_waking / sched_switch ----------------------------------
    def perf_cmd(self):
        """The command prefix that runs perf with tracepoints, or (None, why)."""
        perf = shutil.which("perf")
        if not perf:
            return None, "perf not installed (Debian: linux-perf)"
        if os.path.isdir("/sys/kernel/tracing/events"):
            return [perf], None
        if os.geteuid() != 0 or not shutil.which("unshare"):
            return None, "tracefs not mounted, and not root to mount it in a namespace of our own"
        return ["unshare", "-m", "sh", "-c",
                'mount -t tracefs nodev /sys/kernel/tracing && exec "$@"', "sh", perf], None

    def trace_sched(self, srv_pid, lg_pid, seconds):
        pre, why = self.perf_cmd()
        if pre is None:
            return {"error": why}
        with tempfile.TemporaryDirectory() as d:
            data = os.path.join(d, "perf.data")
            p = subprocess.run([*pre, "record", "-q", "-a", "-e", "sched:sched_waking,sched:sched_switch",
                                "-o", data, "--", "sleep", f"{seconds:g}"],
                               capture_output=True, text=True, timeout=seconds + 60)
            if p.returncode != 0 or not os.path.exists(data):
                return {"error": f"perf record: {p.stderr.strip()[-200:]}"}
            s = subprocess.run([*pre, "script", "-i", data, "-F", "comm,tid,cpu,time,event,trace", "--ns"],
                               capture_output=True, text=True, timeout=300)
        return sched_figures(s.stdout, srv_pid, lg_pid, self.a.server_cpu, seconds)

    def profile_cpu(self, lg_pid, seconds):
        """perf's cpu-clock samples of the generator's stacks over `seconds`:
        {"seconds", "cpu_s", "buckets": {name: cpu seconds}} (PROFILE's rules)."""
        perf = shutil.which("perf")
        if not perf:
            return {"error": "perf not installed (Debian: linux-perf)"}
        with tempfile.TemporaryDirectory() as d:
            data = os.path.join(d, "perf.data")
            p = subprocess.run([perf, "record", "-q", "-F", "4000", "-e", "cpu-clock", "-g", "-p", str(lg_pid),
                                "-o", data, "--", "sleep", f"{seconds:g}"],
                               capture_output=True, text=True, timeout=seconds + 60)
            if p.returncode != 0 or not os.path.exists(data):
                return {"error": f"perf record: {p.stderr.strip()[-200:]}"}
            s = subprocess.run([perf, "script", "-i", data, "-F", "period,ip,sym"],
                               capture_output=True, text=True, timeout=300)
        return profile_buckets(s.stdout, seconds)

    # ---- the probes ----------------------------------------------------------------
    def capacity(self):
        """The round's closed loop: (record, echoes/s, us/echo); no figures when it was busy."""
        rec = self.run("closed")
        c = rec.get("client") or {}
        if not rec["clean"]:
            print(f"  closed loop busy (generator waited {c.get('client_wait_s')} s, server "
                  f"{rec.get('server_wait_s')} s): round dropped", flush=True)
            return rec, None, None
        return rec, c.get("echoes_per_s"), c.get("client_cpu_us_per_echo")

    def cost(self):
        rows = {}
        for r in range(self.a.repeats):
            rec, cap, cpu = self.capacity()
            print(f"round {r + 1}: closed loop {cap or 0:,.0f} echoes/s, generator {cpu or 0:.2f} us/echo "
                  f"(load {rec['load1']:.2f})", flush=True)
            if not cap:
                continue
            rows.setdefault("closed", []).append(rec)
            for share in random.sample(SHARES, len(SHARES)):
                o = self.run(f"open {share}%", rate=int(cap * share / 100), closed_cpu=cpu)
                rows.setdefault(share, []).append(o)
        table_cost(rows)

    def pacing(self):
        rows = {}
        for r in range(self.a.repeats):
            rec, cap, cpu = self.capacity()
            print(f"round {r + 1}: closed loop {cap or 0:,.0f} echoes/s, generator {cpu or 0:.2f} us/echo "
                  f"(load {rec['load1']:.2f})", flush=True)
            if not cap:
                continue
            runs = [(share, name, flags) for share in (10, 50) for name, flags in PACINGS]
            for share, name, flags in random.sample(runs, len(runs)):
                o = self.run(f"{name} {share}%", rate=int(cap * share / 100), flags=flags, closed_cpu=cpu)
                rows.setdefault((share, name), []).append(o)
        table_pacing(rows)

    def where(self):
        rows = {}
        for r in range(self.a.repeats):
            rec, cap, cpu = self.capacity()
            print(f"round {r + 1}: closed loop {cap or 0:,.0f} echoes/s (load {rec['load1']:.2f})", flush=True)
            if not cap:
                continue
            runs = [(10, n, w) for n, w in AWAKE] + [(50, "plain", ())]
            for share, name, awake in random.sample(runs, len(runs)):
                o = self.run(f"{name} {share}%", rate=int(cap * share / 100), awake=awake, trace=True)
                rows.setdefault((share, name), []).append(o)
        table_where(rows)

    def profile(self):
        # perf's own work shares the CPUs, so a run here can wait on a run
        # queue for more than --busy-share of it: every run is kept, and the
        # table gives the waits beside the CPU
        rows = {}
        for r in range(self.a.repeats):
            rec = self.run("closed", profile=True)
            cap = cfield(rec, "echoes_per_s")
            print(f"round {r + 1}: closed loop {cap or 0:,.0f} echoes/s (load {rec['load1']:.2f})", flush=True)
            if not cap:
                continue
            rows.setdefault("closed", []).append(rec)
            for share in random.sample((10, 50), 2):
                o = self.run(f"open {share}%", rate=int(cap * share / 100), profile=True)
                rows.setdefault(share, []).append(o)
        table_profile(rows)


def profile_buckets(text, seconds):
    """`perf script -F period,ip,sym` of a call-graph recording -> CPU
    seconds per PROFILE bucket. A sample is its period's line, then one
    tab-indented line per frame (address, symbol)."""
    buckets = {name: 0 for name, _ in PROFILE}

    def take(period, frames):
        for name, syms in PROFILE:
            if not syms or frames & set(syms):
                buckets[name] += period
                return

    period, frames = None, set()
    for line in text.splitlines():
        f = line.split()
        if not f:
            continue
        if line.startswith("\t"):
            if len(f) >= 2:
                frames.add(f[1].split("+")[0])
            continue
        if period is not None:
            take(period, frames)
        period, frames = int(f[0]) if f[0].isdigit() else 0, set()
    if period is not None:
        take(period, frames)
    return {"seconds": seconds, "cpu_s": sum(buckets.values()) / 1e9,
            "buckets": {k: v / 1e9 for k, v in buckets.items()}}


def table_profile(rows):
    print("\nWhere the generator's CPU goes (us per echo, median over the runs; perf's own "
          "cost is in them, and the run-queue waits it causes are below)")
    cols = [("closed", "closed loop"), (10, "open 10%"), (50, "open 50%")]
    print(f"{'':<26}" + "".join(f"{label:>14}" for _, label in cols))
    per = {}
    for key, _ in cols:
        per[key] = [r for r in rows.get(key, []) if (r.get("profile") or {}).get("buckets")]
        for e in {(r.get("profile") or {}).get("error") for r in rows.get(key, [])} - {None}:
            print(f"  {key}: {e}")

    def us(r, bucket=None):
        p, eps = r["profile"], cfield(r, "echoes_per_s")
        v = p["cpu_s"] if bucket is None else p["buckets"][bucket]
        return v * 1e6 / (eps * p["seconds"]) if eps else None

    def line(label, f, fmt="{:>14.1f}"):
        print(f"{label:<26}" + "".join(fmt.format(med([f(r) for r in per[k]]) or 0) for k, _ in cols))

    for name, _ in PROFILE:
        line(name, lambda r, n=name: us(r, n))
    line("all (perf window)", us)
    line("all (loadgen's figure)", lambda r: cfield(r, "client_cpu_us_per_echo"))
    line("echoes/s", lambda r: cfield(r, "echoes_per_s"), "{:>14,.0f}")
    line("generator waited, % of run", lambda r: 100 * (cfield(r, "client_wait_s") or 0) / r["duration"])
    line("server waited, % of life", lambda r: 100 * (r.get("server_wait_s") or 0) / r["life_s"])
    print(f"{'runs profiled':<26}" + "".join(f"{f'{len(per[k])} of {len(rows.get(k, []))}':>14}" for k, _ in cols))


def sched_figures(text, srv_pid, lg_pid, srv_cpu, seconds):
    """From perf script lines: the server's wake-ups (waking -> on its CPU)
    and runs, its CPU's idle periods, the generator's wake-ups."""
    ev = re.compile(r"^\s*(.+?)\s+(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+sched:(sched_\w+):\s+(.*)$")
    waking = {}                 # pid -> time of its first waking since it last ran
    wake_lat, runs, idle = [], [], []
    run_start = idle_start = None
    wakes = {srv_pid: 0, lg_pid: 0}
    for line in text.splitlines():
        m = ev.match(line)
        if not m:
            continue
        cpu, t, name, rest = int(m.group(3)), float(m.group(4)), m.group(5), m.group(6)
        if name == "sched_waking":
            pm = re.search(r"\bpid=(\d+)", rest)
            pid = int(pm.group(1)) if pm else -1
            if pid in wakes:
                wakes[pid] += 1
                waking.setdefault(pid, t)
            continue
        pm = re.search(r"prev_pid=(\d+).*==>.*next_pid=(\d+)", rest)
        if not pm:
            continue
        prev, nxt = int(pm.group(1)), int(pm.group(2))
        if nxt == srv_pid:
            if srv_pid in waking:
                wake_lat.append((t - waking.pop(srv_pid)) * 1e6)
            run_start = t
        if prev == srv_pid and run_start is not None:
            runs.append((t - run_start) * 1e6)
            run_start = None
        if cpu == srv_cpu and nxt == 0:
            idle_start = t
        if cpu == srv_cpu and prev == 0 and idle_start is not None:
            idle.append((t - idle_start) * 1e6)
            idle_start = None
        if nxt in waking and nxt != srv_pid:
            waking.pop(nxt, None)

    def q(xs, p):
        xs = sorted(xs)
        return xs[min(len(xs) - 1, int(p / 100 * len(xs)))] if xs else None
    return {"seconds": seconds, "server_wakeups": wakes[srv_pid], "generator_wakeups": wakes[lg_pid],
            "wake_us_p50": q(wake_lat, 50), "wake_us_p99": q(wake_lat, 99), "wake_n": len(wake_lat),
            "run_us_p50": q(runs, 50), "runs": len(runs),
            "idle_share": sum(idle) / 1e6 / seconds if idle else 0.0, "idle_periods": len(idle),
            "idle_us_p50": q(idle, 50)}


def cfield(rec, *path):
    x = rec.get("client") or {}
    for k in path:
        x = x.get(k) if isinstance(x, dict) else None
    return x


def clean(rs):
    return [r for r in rs if r.get("clean")]


def table_cost(rows):
    closed = rows.get("closed", [])
    print("\nCPU per echo of the generator (median (range) over the rounds; load = 1-min load average)")
    print(f"closed loop at saturation: {rng([cfield(r, 'echoes_per_s') for r in closed], '{:,.0f}')} echoes/s, "
          f"{rng([cfield(r, 'client_cpu_us_per_echo') for r in closed], '{:.2f}')} us/echo, "
          f"load {rng([r['load1'] for r in closed], '{:.2f}')}")
    print(f"{'share':>5} {'echoes/s':>9} {'us/echo':>18} {'x closed':>16} {'late p50/p99 us':>16} "
          f"{'lat p50/p99 us':>15} {'w1':>5} {'verdicts':>14} {'load':>16}")
    for share in SHARES:
        alls = rows.get(share, [])
        rs = clean(alls)
        if not rs:
            print(f"{share:>4}%  no clean run of {len(alls)}")
            continue
        ratio = [cfield(r, "client_cpu_us_per_echo") / r["closed_cpu"]
                 for r in rs if cfield(r, "client_cpu_us_per_echo") and r.get("closed_cpu")]
        verdicts = {}
        for r in rs:
            v = cfield(r, "send_process", "verdict") or "none"
            why = "+".join(cfield(r, "send_process", "reasons") or [])
            verdicts[v + (f"({why})" if why else "")] = verdicts.get(v + (f"({why})" if why else ""), 0) + 1
        print(f"{share:>4}% {med([cfield(r, 'echoes_per_s') for r in rs]) or 0:>9,.0f} "
              f"{rng([cfield(r, 'client_cpu_us_per_echo') for r in rs]):>18} {rng(ratio, '{:.2f}'):>16} "
              f"{med([cfield(r, 'lateness_us', 'p50') for r in rs]) or 0:>7.1f}/"
              f"{med([cfield(r, 'lateness_us', 'p99') for r in rs]) or 0:<8.1f} "
              f"{med([cfield(r, 'latency_us', 'p50') for r in rs]) or 0:>6.0f}/"
              f"{med([cfield(r, 'latency_us', 'p99') for r in rs]) or 0:<8.0f} "
              f"{med([cfield(r, 'send_process', 'w1_gaps') for r in rs]) or 0:>5.2f} "
              f"{','.join(f'{k}x{n}' for k, n in verdicts.items()):>14} "
              f"{rng([r['load1'] for r in rs], '{:.2f}'):>16} {len(rs)}/{len(alls)} clean")


def table_pacing(rows):
    print("\nPacing settings (median over the rounds; x closed = CPU per echo / the round's closed loop's)")
    print(f"{'share':>5} {'setting':<24} {'us/echo':>8} {'x closed':>8} {'late p50':>8} {'p99':>8} {'mean':>7} "
          f"{'lat p50':>7} {'p99':>7} {'w1':>5} {'ok':>4} {'load':>12}")
    for (share, name), alls in sorted(rows.items(), key=lambda kv: (kv[0][0], [n for n, _ in PACINGS].index(kv[0][1]))):
        rs = clean(alls)
        if not rs:
            print(f"{share:>4}% {name:<24} no clean run of {len(alls)}")
            continue
        ratio = [cfield(r, "client_cpu_us_per_echo") / r["closed_cpu"]
                 for r in rs if cfield(r, "client_cpu_us_per_echo") and r.get("closed_cpu")]
        oks = sum(cfield(r, "send_process", "verdict") == "ok" for r in rs)
        print(f"{share:>4}% {name:<24} {med([cfield(r, 'client_cpu_us_per_echo') for r in rs]) or 0:>8.1f} "
              f"{med(ratio) or 0:>8.2f} {med([cfield(r, 'lateness_us', 'p50') for r in rs]) or 0:>8.1f} "
              f"{med([cfield(r, 'lateness_us', 'p99') for r in rs]) or 0:>8.1f} "
              f"{med([cfield(r, 'lateness_us', 'mean') for r in rs]) or 0:>7.1f} "
              f"{med([cfield(r, 'latency_us', 'p50') for r in rs]) or 0:>7.0f} "
              f"{med([cfield(r, 'latency_us', 'p99') for r in rs]) or 0:>7.0f} "
              f"{med([cfield(r, 'send_process', 'w1_gaps') for r in rs]) or 0:>5.2f} {oks:>2}/{len(rs)} "
              f"{rng([r['load1'] for r in rs], '{:.2f}'):>12} {len(rs)}/{len(alls)} clean")


def table_where(rows):
    print("\nWhere a low-load echo's time goes (medians over the rounds; us)")
    print(f"{'share':>5} {'run':<20} {'lat p50':>7} {'p99':>7} {'late p50':>8} {'p99':>7} {'less-late p50':>13} "
          f"{'p99':>7} {'srv wake p50':>12} {'p99':>7} {'srv wakes/echo':>14} {'srv idle':>8} {'gen us/echo':>11} "
          f"{'load':>12}")
    for (share, name), alls in sorted(rows.items(), key=lambda kv: (kv[0][0], [n for n, _ in AWAKE].index(kv[0][1]))):
        rs = clean(alls)
        if not rs:
            print(f"{share:>4}% {name:<20} no clean run of {len(alls)}")
            continue
        sch = [r.get("sched") or {} for r in rs]
        errs = {s["error"] for s in sch if s.get("error")}
        per_echo = [s["server_wakeups"] / (cfield(r, "echoes_per_s") * s["seconds"])
                    for r, s in zip(rs, sch) if s.get("server_wakeups") and cfield(r, "echoes_per_s")]
        print(f"{share:>4}% {name:<20} {med([cfield(r, 'latency_us', 'p50') for r in rs]) or 0:>7.0f} "
              f"{med([cfield(r, 'latency_us', 'p99') for r in rs]) or 0:>7.0f} "
              f"{med([cfield(r, 'lateness_us', 'p50') for r in rs]) or 0:>8.1f} "
              f"{med([cfield(r, 'lateness_us', 'p99') for r in rs]) or 0:>7.1f} "
              f"{med([cfield(r, 'server_latency_us', 'p50') for r in rs]) or 0:>13.0f} "
              f"{med([cfield(r, 'server_latency_us', 'p99') for r in rs]) or 0:>7.0f} "
              f"{med([s.get('wake_us_p50') for s in sch]) or 0:>12.1f} "
              f"{med([s.get('wake_us_p99') for s in sch]) or 0:>7.1f} "
              f"{med(per_echo) or 0:>14.2f} {med([s.get('idle_share') for s in sch]) or 0:>8.0%} "
              f"{med([cfield(r, 'client_cpu_us_per_echo') for r in rs]) or 0:>11.1f} "
              f"{rng([r['load1'] for r in rs], '{:.2f}'):>12} {len(rs)}/{len(alls)} clean")
        for e in errs:
            print(f"      sched tracepoints: {e}")


def rows_from(probe, path):
    """The probe's rows from the records it kept (--json): the tables again, from the data."""
    rows, closed_cpu = {}, None
    with open(path) as f:
        for ln in f:
            rec = json.loads(ln)
            what = rec.get("what", "")
            if probe == "profile":   # every run is kept (see Probe.profile)
                if rec.get("client"):
                    rows.setdefault("closed" if what == "closed" else int(what.rpartition(" ")[2].rstrip("%")),
                                    []).append(rec)
                continue
            if what == "closed":     # a round starts: its runs compare with this closed loop
                closed_cpu = cfield(rec, "client_cpu_us_per_echo") if rec.get("clean") else None
                if probe == "cost" and rec.get("clean"):
                    rows.setdefault("closed", []).append(rec)
                continue
            if closed_cpu is None:
                continue             # the round's closed loop was busy: the round is dropped
            rec.setdefault("closed_cpu", closed_cpu)
            name, _, share = what.rpartition(" ")
            share = int(share.rstrip("%"))
            rows.setdefault(share if probe == "cost" else (share, name), []).append(rec)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("probe", choices=("cost", "pacing", "where", "profile"))
    ap.add_argument("--model", default="epoll_et")
    ap.add_argument("--conns", type=int, default=1000)
    ap.add_argument("--src", default="127.0.0.2-127.0.0.9")
    ap.add_argument("--duration", type=float, default=3.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--server-cpu", type=int, default=0)
    ap.add_argument("--client-cpu", type=int, default=1)
    ap.add_argument("--busy-share", type=float, default=0.02,
                    help="a run whose server or generator waited on a run queue longer than this share "
                         "of the window is busy, left out of the tables (default 0.02)")
    ap.add_argument("--wait-quiet", type=float, default=0, metavar="S",
                    help="before each run wait (at most S s) for the machine to be 95%% idle over 2 s")
    ap.add_argument("--json", help="append every run's record to this file (JSON lines)")
    ap.add_argument("--from", dest="from_", metavar="FILE",
                    help="run nothing: print the probe's table from the records in FILE (--json's)")
    a = ap.parse_args()
    if a.repeats < 1 or a.repeats > 50 or a.duration <= 0.5 or a.duration > 60:
        ap.error("--repeats from 1 to 50, --duration from 0.5 to 60 s")
    if a.from_:
        if a.probe == "where":
            ap.error("--from reads the cost, pacing and profile probes' records; 'where' keeps traces, run it again")
        {"cost": table_cost, "pacing": table_pacing, "profile": table_profile}[a.probe](rows_from(a.probe, a.from_))
        return
    launch.install_cleanup(exit_on_signal=True)
    p = Probe(a)
    print(f"{a.probe}: echo_{a.model} on CPU {a.server_cpu}, loadgen on CPU {a.client_cpu}, {a.conns} conns, "
          f"{a.duration:g} s (+{a.warmup:g} s warm-up) per run, {a.repeats} round(s); load {loadavg():.2f}",
          flush=True)
    getattr(p, a.probe)()


if __name__ == "__main__":
    main()
