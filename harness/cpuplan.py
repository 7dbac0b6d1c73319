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

Everything here is pure (no system calls but usable_cpus()), so the unit
tests feed it made-up CPU lists (tests/py/test_cpuplan.py).
"""

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

    def loadgen_flags(self):
        """The generator's flags for this plan."""
        return ["--threads", str(self.threads)] + (["--procs", str(self.procs)]
                                                   if self.procs > 1 else [])

    def record(self):
        """What every point record stores about the plan."""
        return dict(server_cpus=format_cpulist(self.server),
                    client_cpus=format_cpulist(self.client),
                    usable_cpus=format_cpulist(self.usable), server_ncpus=len(self.server),
                    client_threads=self.threads, client_procs=self.procs,
                    shared=self.shared)


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


def plan(usable, server_cpus=1, conns=None, nofile=20000):
    """The CPU plan for `usable` CPUs (any iterable of CPU numbers) with
    SERVER_CPUS=server_cpus; conns and nofile (RLIMIT_NOFILE) decide the
    generator's processes (None: one thread per CPU, processes by threads)."""
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
                "so every figure mixes both")
    nc = len(p.client)
    return (f"CPU plan: server on CPU{'s' if len(p.server) > 1 else ''} "
            f"{format_cpulist(p.server)} (SERVER_CPUS={len(p.server)}), generator on "
            f"{nc} CPU{'s' if nc > 1 else ''} {format_cpulist(p.client)} "
            f"({p.threads} thread{'s' if p.threads > 1 else ''} x {p.procs} "
            f"process{'es' if p.procs > 1 else ''}), of {len(p.usable)} usable "
            f"({format_cpulist(p.usable)})")
