#!/usr/bin/env python3
"""models.py - the model registry: every I/O model of the suite, once.

One line per model, in display order (the order of every table, chart key
and style). Adding a model is one source file (servers/<name>.c) and one
line here; the Makefile (build/models.mk, from --make), the harness, the
regression gate, the tests and the charts' styles (--gnuplot) all read this.

  python3 harness/models.py --make      make variables (build/models.mk)
  python3 harness/models.py --gnuplot   the charts' model -> style table
  python3 harness/models.py --list      name, family, flags: one line each
  python3 harness/models.py --check     every servers/*.c has a line, and back
"""

import dataclasses
import math
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# Families: the panels a reader compares a model within.
FAMILIES = {
    "threads": "blocking: a thread, coroutine or process per connection, or a worker pool",
    "scan": "select, poll and busy-polling: every call looks at every connection",
    "epoll": "epoll, level- and edge-triggered, and a loop per CPU",
    "signals_aio": "readiness by signal, and asynchronous I/O (POSIX and kernel AIO)",
    "io_uring": "io_uring completions",
    "libraries": "event-loop libraries on top of epoll",
    "runtimes": "other languages' runtimes (refservers/)",
}


@dataclasses.dataclass(frozen=True)
class Model:
    name: str
    family: str
    libs: str = ""              # link flags (Makefile LIBS_<name>)
    threaded: bool = False      # several threads share state: built and tested under TSan
    callgrind: bool = False     # make regress times it under callgrind (instr/echo)
    # ... with the client on the server's CPU: what one wait returns (a batch of
    # completions) is then the same in every run (regress.py measure_callgrind)
    callgrind_shared_cpu: bool = False
    self_counts: bool = True    # its JSON syscalls count every call it makes (SC())
    ref: tuple = ()             # refservers/ row: the tools it needs, e.g. ("node",)
    ref_pkg: str = ""           # ... and the Debian package that brings them
    heavy: bool = False         # in the heavy sweep (the event loop's weak point)
    edge_triggered: bool = False  # drains to EAGAIN: issue 16's short-read checks apply
    thread_per_conn: bool = False  # a point needs a thread per connection (pid_max caps it)
    # A process per connection, clamped to [lo, hi] processes: `--procs` at
    # each bench point (fork cost and memory cap it; the rest waits in the backlog).
    procs_per_conn: tuple = ()
    test_args: tuple = ()       # extra server flags in the conformance battery
    note: str = ""              # what the battery should tell a reader about it
    spinner: bool = False       # burns a core by design (no idle-CPU assertion)
    # The least warm-up a bench point gives it: a JIT (HotSpot's C2, V8's TurboFan)
    # compiles the hot path only after seconds of load. Measured here with bin/loadgen,
    # 10 connections, 1 s runs back to back on one server: netty 33,204 echoes/s in
    # its first second, 60,580 in its third; java 95,589 then 113,084.
    warmup_s: float = 0.0
    # The cores sweep (issue 14): "threads" uses the CPUs it is given itself
    # (threads, processes or reactors per CPU); "reuseport" runs one process
    # per CPU sharing the port (SO_REUSEPORT); "" is not in the sweep.
    cores: str = ""
    # The flag that sets its threads to one per CPU, which it otherwise counts
    # in its affinity mask, beside its main thread (reactors: --loops). A
    # declared topology (docs/machines.md) passes the planned count; every
    # point checks the threads in /proc (topology.placement_problems).
    cpus_flag: str = ""

    @property
    def is_ref(self):
        return bool(self.ref)

    def bench_args(self, conns, server_procs):
        """Server flags for a bench point with `conns` connections spread
        over `server_procs` processes (recorded with the point)."""
        if self.procs_per_conn:
            lo, hi = self.procs_per_conn
            # SO_REUSEPORT hashes each connection to one instance: the split
            # is binomial, and an instance with fewer processes than its
            # connections leaves the rest unanswered in its backlog (loadgen
            # --prime then times out on them: tests/sweeps.t, 96 connections
            # over 2 instances of 48 left 4 unserved). Room for 5 standard
            # deviations over the even share.
            q = 1 / server_procs
            per = math.ceil(conns * q + 5 * math.sqrt(conns * q * (1 - q)))
            return ["--procs", str(min(max(min(per, conns), lo), hi))]
        return []


M = Model
MODELS = (
    M("threads", "threads", libs="-pthread", threaded=True, heavy=True, thread_per_conn=True,
      cores="threads"),
    M("busypoll", "scan", spinner=True,
      note="busypoll spins by design: the idle-CPU assertion under EMFILE is skipped"),
    M("select", "scan", callgrind=True),
    M("poll", "scan", callgrind=True),
    M("epoll_lt", "epoll", callgrind=True),
    M("epoll_et", "epoll", callgrind=True, heavy=True, edge_triggered=True, cores="reuseport"),
    M("sigio", "signals_aio", callgrind=True),
    M("rtsig", "signals_aio", callgrind=True),
    M("posix_aio", "signals_aio", libs="-pthread -lrt", threaded=True),
    M("libaio", "signals_aio", libs="-laio", callgrind=True),
    M("io_uring", "io_uring", libs="-luring", callgrind=True, callgrind_shared_cpu=True,
      cores="reuseport"),
    M("libevent", "libraries", libs="-levent", callgrind=True, self_counts=False),
    M("libev", "libraries", libs="-lev", callgrind=True),
    M("libuv", "libraries", libs="-luv", callgrind=True, self_counts=False),
    M("reactors", "epoll", libs="-pthread", threaded=True, callgrind=True, heavy=True,
      edge_triggered=True, cores="threads", cpus_flag="--loops"),
    M("pool", "threads", libs="-pthread", threaded=True, heavy=True, cores="threads"),
    M("coro", "threads", callgrind=True, heavy=True, edge_triggered=True),
    # One connection per process: the battery's 1,000-connection check queues in
    # the backlog; 20 held connections under RLIMIT_NOFILE 64 need 20 processes.
    M("prefork", "threads", procs_per_conn=(32, 2000), test_args=("--procs", "32"), cores="threads",
      note="prefork serves one connection per process: concurrent checks queue in the backlog"),
    M("node", "runtimes", ref=("node",), ref_pkg="nodejs", self_counts=False, warmup_s=2.0),
    M("java", "runtimes", ref=("java", "javac"), ref_pkg="openjdk-17-jdk-headless",
      self_counts=False, warmup_s=2.0),
    # Issue 15's rows (refservers/, harness/deps-refs.sh names the same packages),
    # in the heavy sweep too when MODELS names them (their event loops or schedulers
    # against a request that spins).
    M("java_nio2", "runtimes", ref=("java", "javac"), ref_pkg="openjdk-17-jdk-headless",
      self_counts=False, heavy=True, warmup_s=2.0),
    M("netty", "runtimes", ref=("java", "javac", "/usr/share/java/netty-transport.jar"),
      ref_pkg="openjdk-17-jdk-headless libnetty-java", self_counts=False, heavy=True,
      warmup_s=2.0),
    M("go", "runtimes", ref=("go",), ref_pkg="golang-go", self_counts=False, heavy=True),
    M("erlang", "runtimes", ref=("erl", "erlc"), ref_pkg="erlang-nox", self_counts=False,
      heavy=True,
      note="erlang: SIGINT ends the VM without the counters line (the VM cannot trap it); "
           "SIGTERM keeps the contract"),
)
_BY_NAME = {m.name: m for m in MODELS}
assert len(_BY_NAME) == len(MODELS), "a model is listed twice"
assert all(m.family in FAMILIES for m in MODELS), "a model names an unknown family"


def get(name):
    """The Model called name; KeyError names it when there is none."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"no model '{name}' in harness/models.py") from None


def attr(name, field, default=None):
    """A model's field, or default for a name the registry lacks (a test's fake server)."""
    return getattr(_BY_NAME[name], field) if name in _BY_NAME else default


def names(**filters):
    """Model names in display order, keeping those whose fields equal the
    filters: names(threaded=True), names(is_ref=False), names(family="scan")."""
    return [m.name for m in MODELS if all(getattr(m, k) == v for k, v in filters.items())]


def order(models):
    """The given names in display order; names the registry lacks come last, sorted."""
    models = set(models)
    return [m for m in names() if m in models] + sorted(m for m in models if m not in _BY_NAME)


def index(name):
    """A model's display position (0-based); unknown models come after all."""
    return names().index(name) if name in _BY_NAME else len(MODELS)


# ---- chart styles ------------------------------------------------------------
# Okabe-Ito's colours (gnuplot's `colorsequence podo`) without its yellow,
# which vanishes on white: 7 colours x 3 dash types, and a point type cycling
# over 14 (open shapes, then filled; pt 2, the x, is kept for failed points),
# so (colour, point, dash) is unique for the first 42 models and no two models
# look alike even in grey. A model's style follows its display position.
PALETTE = ("#000000", "#E69F00", "#56B4E9", "#009E73", "#0072B2", "#D55E00", "#CC79A7")
POINTS = (4, 6, 8, 10, 12, 14, 1, 5, 7, 9, 11, 13, 15, 3)
DASHES = 3
FAILED_PT = 2


def style(i):
    """(colour, point type, dash type) of the i-th model (0-based)."""
    return (PALETTE[i % len(PALETTE)], POINTS[i % len(POINTS)],
            (i // len(PALETTE)) % DASHES + 1)


def gnuplot():
    """The gnuplot style table: model_color(m), model_pt(m), model_dt(m)."""
    n = len(MODELS)
    styles = [style(i) for i in range(n + 1)]        # the last one: unknown models
    return "\n".join([
        "# Generated by harness/models.py --gnuplot: do not edit.",
        f'models_all = "{" ".join(names())}"',
        f'model_colors = "{" ".join(s[0] for s in styles)}"',
        f'model_pts = "{" ".join(str(s[1]) for s in styles)}"',
        f'model_dts = "{" ".join(str(s[2]) for s in styles)}"',
        f'model_idx(m) = strstrt(" ".models_all." ", " ".m." ") == 0 ? {n + 1} : \\',
        '    words(substr(" ".models_all." ", 1, strstrt(" ".models_all." ", " ".m." "))) + 1',
        "model_color(m) = word(model_colors, model_idx(m))",
        "model_pt(m) = int(word(model_pts, model_idx(m)))",
        "model_dt(m) = int(word(model_dts, model_idx(m)))",
        f"FAILED_PT = {FAILED_PT}          # a big x, in the model's colour, on the chart's floor",
        ""])


# ---- make --------------------------------------------------------------------

def source_models(root=ROOT):
    """Models with a source file: servers/*.c but common.c."""
    d = os.path.join(root, "servers")
    try:
        files = os.listdir(d)
    except OSError:
        return []
    return sorted(f[:-2] for f in files if f.endswith(".c") and f != "common.c")


def check(root=ROOT):
    """Problems between the registry and servers/: one line each."""
    src = set(source_models(root))
    c_models = set(names(is_ref=False))
    out = [f"servers/{m}.c has no line in harness/models.py" for m in sorted(src - c_models)]
    out += [f"harness/models.py lists '{m}' but servers/{m}.c does not exist"
            for m in names(is_ref=False) if m not in src]
    return out


def make(root=ROOT):
    """Make variables: the C models, the threaded ones, each model's libraries."""
    lines = ["# Generated by harness/models.py --make from its registry: do not edit."]
    lines += [f"$(error {p})" for p in check(root)]
    lines.append(f"ALL_MODELS := {' '.join(names(is_ref=False))}")
    lines.append(f"THREADED_MODELS := {' '.join(names(is_ref=False, threaded=True))}")
    lines.append(f"CALLGRIND_MODELS := {' '.join(names(is_ref=False, callgrind=True))}")
    lines.append(f"REF_MODELS := {' '.join(names(is_ref=True))}")
    lines += [f"LIBS_{m.name} := {m.libs}" for m in MODELS if not m.is_ref]
    return "\n".join(lines) + "\n"


def main(argv):
    ops = {"--make": lambda: sys.stdout.write(make()),
           "--gnuplot": lambda: sys.stdout.write(gnuplot()),
           "--list": lambda: sys.stdout.write("".join(
               f"{m.name:<10} {m.family:<12} "
               + " ".join(k for k in ("threaded", "callgrind", "heavy", "spinner", "edge_triggered")
                          if getattr(m, k)) + "\n" for m in MODELS))}
    if argv == ["--check"]:
        bad = check()
        for p in bad:
            sys.stderr.write(f"models: {p}\n")
        return 1 if bad else 0
    if len(argv) != 1 or argv[0] not in ops:
        sys.stderr.write("usage: models.py --make | --gnuplot | --list | --check\n")
        return 2
    ops[argv[0]]()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
