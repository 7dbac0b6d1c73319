"""CPU plans: which CPUs the server gets, which the generator gets.

SERVER_CPUS=S (default 1): the server runs on the first S usable CPUs (the
affinity mask the harness was started with, os.sched_getaffinity), the
generator on all the others with one loadgen thread per CPU, split into
processes (--procs) where one process's descriptors cannot hold the
connections (profiles.procs_needed) or its thread cap (LG_MAX_THREADS) is
reached. On 2 CPUs that is server 0, generator 1; on 16 it is 1 + 15. With
one usable CPU the two share it (and the report says the figures mix).

The cores sweep's S values (S = 1, 2, 4, ... up to half the usable CPUs)
are its declaration's (sweeps.cores_values): the generator always has at
least as many CPUs as the server.

A declared topology (bench.py --declare-cpus N, docs/machines.md): the
plan is made for N CPUs 0..N-1 (what the sweeps, the records and the report
see), and each declared CPU runs on a real one: the server's declared CPUs on
the real server CPUs, the generator's on the real generator CPUs (map_real:
in turn, the real split in proportion to the declared one). Plan.pin_server
and Plan.pin_client are the real CPU sets the processes are pinned to.

Everything here is pure (no system calls but usable_cpus()), so the unit
tests feed it made-up CPU lists (tests/py/test_cpuplan.py).
"""

import dataclasses
import math
import os
import re
from dataclasses import dataclass

from profiles import procs_needed

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class PlanError(ValueError):
    """A CPU plan that cannot be made; the message is one line naming why."""


def _lg_define(name, header=os.path.join(ROOT, "clients", "lgargs.h")):
    """A number #defined in the generator's header (its limits live there only)."""
    with open(header) as f:
        m = re.search(rf"^#define\s+{name}\s+(\d+)", f.read(), re.M)
    if not m:
        raise RuntimeError(f"{header}: no #define {name}")
    return int(m.group(1))


LG_MAX_THREADS = _lg_define("LG_MAX_THREADS")    # loadgen --threads cap per process
LG_MAX_PROCS = _lg_define("LG_MAX_PROCS")
LG_FD_RESERVE = _lg_define("LG_FD_RESERVE")      # descriptors a process keeps besides sockets


def usable_cpus():
    """The CPUs this process may run on, ascending."""
    return tuple(sorted(os.sched_getaffinity(0)))


def parse_cpulist(text):
    """'0-3,5,7-8' (the kernel's and taskset's list form) -> (0, 1, 2, 3, 5, 7, 8)."""
    out = set()
    for part in str(text).strip().split(","):
        part = part.strip()
        if not part:
            continue
        lo, dash, hi = part.partition("-")
        if not lo.isdigit() or (dash and (not hi.isdigit() or int(hi) < int(lo))):
            raise PlanError(f"CPU list: '{part}' is not a CPU number or range (e.g. 0-3,5)")
        out.update(range(int(lo), int(hi or lo) + 1))
    if not out:
        raise PlanError(f"CPU list: '{text}' names no CPU")
    return tuple(sorted(out))


def format_cpulist(cpus):
    """(0, 1, 2, 3, 5) -> '0-3,5'."""
    cpus = sorted(set(cpus))
    runs = []
    for c in cpus:
        if runs and c == runs[-1][1] + 1:
            runs[-1][1] = c
        else:
            runs.append([c, c])
    return ",".join(f"{a}" if a == b else f"{a}-{b}" for a, b in runs)


def parse_server_cpus(value):
    """SERVER_CPUS as given by the user -> int >= 1, or PlanError."""
    s = str(value).strip()
    if not s.isdigit() or int(s) < 1:
        raise PlanError(f"SERVER_CPUS: '{value}' is not a whole number of CPUs from 1 up")
    return int(s)


@dataclass(frozen=True)
class Plan:
    usable: tuple        # every usable CPU, ascending
    server: tuple        # the server's CPUs: the first S usable
    client: tuple        # the generator's: the rest (the same one CPU if shared)
    threads: int         # loadgen --threads (per process)
    procs: int           # loadgen --procs
    shared: bool         # one usable CPU: server and generator share it
    # A declared topology: the real CPUs the declared ones run on (() when
    # usable, server and client are real), server[i] on real_server[i % len].
    real: tuple = ()
    real_server: tuple = ()
    real_client: tuple = ()

    @property
    def declared(self):
        return bool(self.real)

    def real_of(self, cpu):
        """The real CPU a planned CPU runs on (itself unless declared)."""
        if not self.real:
            return cpu
        if cpu in self.server:
            return self.real_server[self.server.index(cpu) % len(self.real_server)]
        return self.real_client[self.client.index(cpu) % len(self.real_client)]

    def pin_server(self, cpus=None):
        """The real CPU set of planned server CPUs (default: all of them)."""
        return {self.real_of(c) for c in (self.server if cpus is None else cpus)}

    def pin_client(self):
        return {self.real_of(c) for c in self.client}

    def cpu_map(self):
        """{"server": {real CPU: declared list}, "generator": {...}}; {} unless declared."""
        if not self.real:
            return {}
        out = {}
        for side, cpus in (("server", self.server), ("generator", self.client)):
            by = {}
            for c in cpus:
                by.setdefault(self.real_of(c), []).append(c)
            out[side] = {str(r): format_cpulist(d) for r, d in sorted(by.items())}
        return out

    def loadgen_flags(self):
        """The generator's flags for this plan."""
        return ["--threads", str(self.threads)] + (["--procs", str(self.procs)]
                                                   if self.procs > 1 else [])

    def record(self):
        """What every point record stores about the plan."""
        d = dict(server_cpus=format_cpulist(self.server),
                 client_cpus=format_cpulist(self.client),
                 usable_cpus=format_cpulist(self.usable), server_ncpus=len(self.server),
                 client_threads=self.threads, client_procs=self.procs,
                 shared=self.shared)
        if self.real:          # the CPUs above are declared: where they really ran
            d.update(declared_cpus=len(self.usable), real_cpus=format_cpulist(self.real),
                     real_server_cpus=format_cpulist(self.pin_server()),
                     real_client_cpus=format_cpulist(self.pin_client()),
                     cpu_map=self.cpu_map())
        return d


def _generator_shape(ncpus, conns, nofile):
    """(threads per process, processes): one thread per generator CPU, in as
    few processes as the descriptor limit and the thread cap allow."""
    procs = math.ceil(ncpus / LG_MAX_THREADS)
    if conns is not None:
        procs = max(procs, procs_needed(conns, nofile))
    threads = math.ceil(ncpus / procs)
    if conns is not None:
        # loadgen: threads x procs <= conns (a thread needs a connection)
        threads = max(1, min(threads, conns // procs))
        # loadgen's own descriptor rule (lg_fds_needed): sockets + threads + reserve
        if threads + LG_FD_RESERVE >= nofile:
            raise PlanError(f"descriptor limit {nofile} is too low for a generator process")
        while math.ceil(conns / procs) + threads + LG_FD_RESERVE > nofile and procs <= LG_MAX_PROCS:
            procs += 1
    if procs > LG_MAX_PROCS:
        raise PlanError(f"{conns} connections need {procs} generator processes; "
                        f"loadgen takes at most {LG_MAX_PROCS}")
    return threads, procs


def generator_shape(ncpus, conns=None, nofile=20000):
    """(threads per process, processes) for a generator on ncpus CPUs (a
    client host's whole machine, with SERVER_HOST/CLIENT_HOSTS)."""
    return _generator_shape(ncpus, conns, nofile)


MAX_DECLARED = 1024       # CPUs a cpu_set_t holds (CPU_SETSIZE)


def parse_declared(value):
    """--declare-cpus as given by the user -> int in 1..MAX_DECLARED, or PlanError."""
    s = str(value).strip()
    if not s.isdigit() or not 1 <= int(s) <= MAX_DECLARED:
        raise PlanError(f"DECLARE_CPUS: '{value}' is not a whole number of CPUs from 1 to "
                        f"{MAX_DECLARED}")
    return int(s)


def map_real(n_server, n_client, real):
    """(real server CPUs, real client CPUs) for a declared plan of n_server +
    n_client CPUs on the real CPUs `real`: the real ones split in proportion
    (the server at least one, the generator at least one, neither more than
    it declared); one real CPU is both."""
    real = tuple(sorted(set(real)))
    if len(real) == 1:
        return real, real
    s = round(n_server * len(real) / (n_server + n_client))
    s = max(1, min(s, n_server, len(real) - 1))
    return real[:s], real[s:s + max(1, min(n_client, len(real) - s))]


def plan(usable, server_cpus=1, conns=None, nofile=20000, real=None):
    """The CPU plan for `usable` CPUs (any iterable of CPU numbers) with
    SERVER_CPUS=server_cpus; conns and nofile (RLIMIT_NOFILE) decide the
    generator's processes (None: one thread per CPU, processes by threads).
    real: the real CPUs when `usable` is declared (map_real places it)."""
    p = _plan(usable, server_cpus, conns, nofile)
    if real is None:
        return p
    rs, rc = map_real(len(p.server), len(p.client), real)
    if p.shared:
        rc = rs
    return dataclasses.replace(p, real=tuple(sorted(set(real))), real_server=rs, real_client=rc)


def _plan(usable, server_cpus, conns, nofile):
    cpus = tuple(sorted(set(usable)))
    if not cpus:
        raise PlanError("no usable CPU (empty affinity mask)")
    s = parse_server_cpus(server_cpus)
    if len(cpus) == 1:
        if s > 1:
            raise PlanError(f"SERVER_CPUS={s}: only 1 usable CPU ({cpus[0]})")
        threads, procs = _generator_shape(1, conns, nofile)
        return Plan(cpus, cpus, cpus, threads, procs, True)
    if s >= len(cpus):
        raise PlanError(f"SERVER_CPUS={s}: only {len(cpus)} usable CPUs "
                        f"({format_cpulist(cpus)}) and the generator needs at least one: "
                        f"use at most {len(cpus) - 1}")
    client = cpus[s:]
    threads, procs = _generator_shape(len(client), conns, nofile)
    return Plan(cpus, cpus[:s], client, threads, procs, False)


def describe(p):
    """The preflight line."""
    if p.shared:
        return (f"CPU plan: 1 usable CPU ({p.usable[0]}): server and generator share it, "
                "so every figure mixes both") + describe_real(p)
    nc = len(p.client)
    return (f"CPU plan: server on CPU{'s' if len(p.server) > 1 else ''} "
            f"{format_cpulist(p.server)} (SERVER_CPUS={len(p.server)}), generator on "
            f"{nc} CPU{'s' if nc > 1 else ''} {format_cpulist(p.client)} "
            f"({p.threads} thread{'s' if p.threads > 1 else ''} x {p.procs} "
            f"process{'es' if p.procs > 1 else ''}), of {len(p.usable)} "
            f"{'declared' if p.real else 'usable'} ({format_cpulist(p.usable)})") + describe_real(p)


def describe_real(p):
    """'' or, for a declared plan, where its CPUs really run."""
    if not p.real:
        return ""
    m = p.cpu_map()
    parts = [f"{side}'s {d} on {r}" for side in ("server", "generator")
             for r, d in m[side].items()]
    return (f"; DECLARED: the machine has {len(p.real)} real CPU"
            f"{'s' if len(p.real) > 1 else ''} ({format_cpulist(p.real)}): "
            + ", ".join(parts))
