"""records.py - the point record: one definition that the runner writes
(points.jsonl, one JSON object a line; load() reads it back) and the report,
the CSV and the comparison read.

A Point is one measured configuration (what build_points makes); a Record is
one run of it: the point, its status and reason, and what was measured. The
figures derived per run (Record.derived) are those of harness/figures.py
(with how the CSV folds them). Records read back with Record.from_dict are
checked: a missing or mistyped field, an unknown status or figure is an
error naming it.

Both classes also answer rec["field"] and rec.get("field"), so readers
written against the plain JSON objects keep working.
"""

import dataclasses
import json
import os
import signal
import sys
import typing

from figures import FIGURES

STATUSES = ("ok", "failed", "skipped")



class _Fields:
    """rec["x"] / rec.get("x") / "x" in rec, as for the JSON object."""

    def __getitem__(self, k):
        try:
            return getattr(self, k)
        except AttributeError:
            raise KeyError(k) from None

    def get(self, k, default=None):
        return getattr(self, k, default)

    def __contains__(self, k):
        return hasattr(self, k)

    def to_dict(self):
        return dataclasses.asdict(self)


def _check(cls, d, where):
    """d's keys and types against the dataclass cls: the kwargs, or ValueError."""
    if not isinstance(d, dict):
        raise ValueError(f"{where}: not an object")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - set(fields))
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {', '.join(unknown)}")
    out = {}
    for name, f in fields.items():
        if name not in d:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ValueError(f"{where}: missing field {name}")
            continue
        v, t = d[name], hints[name]
        if dataclasses.is_dataclass(t):                # a nested record: Point
            out[name] = t.from_dict(v)
            continue
        base = typing.get_origin(t) or t
        args = typing.get_args(t)
        if base is typing.Union:                       # Optional[X]
            if v is None:
                out[name] = v
                continue
            base = typing.get_origin(args[0]) or args[0]
        ok = isinstance(v, base) and not (base in (int, float) and isinstance(v, bool))
        if base is float and isinstance(v, int) and not isinstance(v, bool):
            ok = True
        if not ok:
            raise ValueError(f"{where}: field {name} is {type(v).__name__}, not {base.__name__}")
        out[name] = v
    return out


@dataclasses.dataclass(frozen=True)
class Point(_Fields):
    sweep: str
    series: str
    x: int
    model: str
    conns: int
    active: int
    idle: int
    rate: int
    size: int
    depth: int
    mode: str                      # closed | open | demand (open, CPU read at the window) | churn | dispatch
    work_us: int
    work_every: int
    split_every: int               # loadgen --work-every: light/heavy latency split
    server_cpus: str               # "0" (the run's SERVER_CPUS) | "all" | "S" (cores sweep: S CPUs)
    duration: float
    warmup: float
    server_procs: int
    client_procs: int
    src: str                       # loadgen --src address range ("" = one address)
    server_args: list
    repeat: int = 1
    repeats: int = 1
    method: str = ""               # dispatch points (mode "dispatch"): chain | random
    writes: int = 0                # ... and events per timed run
    count: int = 0                 # fixed work: echoes per active connection (loadgen
                                   # --count; duration is then a cap); 0: timed

    def key(self):
        """What identifies a point across its repeats (x and server_cpus: the
        cores sweep's S = 1, 2, 4, ... are otherwise the same point)."""
        return (self.sweep, self.series, self.model, self.x, self.server_cpus, self.conns,
                self.active, self.rate, self.size, self.work_us)

    def ident(self):
        """Every field but the repeat counters, hashable: key() does not
        decide it, so unaccounted() also catches two points one key merges."""
        d = self.to_dict()
        del d["repeat"], d["repeats"]
        return tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in d.items())

    def again(self, **kw):
        return dataclasses.replace(self, **kw)

    @classmethod
    def from_dict(cls, d):
        return cls(**_check(cls, d, "point"))


@dataclasses.dataclass
class Record(_Fields):
    seq: int
    time: str
    point: Point
    status: str                    # ok | failed | skipped
    reason: str
    proc: dict = dataclasses.field(default_factory=dict)   # /proc snapshots by moment
    client: typing.Optional[dict] = None                   # loadgen's JSON
    server_stats: typing.Optional[dict] = None             # the servers' JSON, summed
    server_stats_each: typing.Optional[list] = None        # per instance (several servers)
    derived: dict = dataclasses.field(default_factory=dict)  # FIGURES
    notes: list = dataclasses.field(default_factory=list)
    load_failure: bool = False
    client_cmd: typing.Optional[list] = None
    client_exit: typing.Optional[int] = None
    client_stderr: list = dataclasses.field(default_factory=list)
    server_cmd: list = dataclasses.field(default_factory=list)
    server_port: typing.Optional[int] = None
    server_exit: list = dataclasses.field(default_factory=list)
    server_stderr: list = dataclasses.field(default_factory=list)
    server_stop_s: typing.Optional[float] = None
    topology: dict = dataclasses.field(default_factory=dict)  # where it ran: CPU plan, net, hosts
    wall_s: typing.Optional[float] = None
    kernel: typing.Optional[dict] = None       # the kernel's count of the window (kernel.py)
    profile: typing.Optional[dict] = None      # where the CPU went (kernel.py, kprofile.py)
    dispatch: typing.Optional[dict] = None     # a dispatch point: bin/dispatch's --json
    dispatch_cmd: typing.Optional[list] = None
    dispatch_stderr: typing.Optional[list] = None

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"record: status '{self.status}' is not one of {', '.join(STATUSES)}")
        bad = sorted(set(self.derived) - set(FIGURES))
        if bad:
            raise ValueError(f"record: unknown figure(s) {', '.join(bad)} (declare them in harness/figures.py)")

    @classmethod
    def from_dict(cls, d):
        return cls(**_check(cls, d, "record"))

    def to_json(self):
        """One line of points.jsonl."""
        return json.dumps(self.to_dict(), separators=(",", ":"), default=str)


def unaccounted(planned, recs):
    """The planned points (build_points' list, one Point per repeat) whose
    records do not account for them: a point needs a record per planned
    repeat, or one skipped record (its reason ends it). Returns [(point,
    planned repeats, records found)], empty when every one is accounted for."""
    want, have, skipped = {}, {}, set()
    for p in planned:
        want.setdefault(p.ident(), [p, 0])[1] += 1
    for r in recs:
        i = r.point.ident()
        have[i] = have.get(i, 0) + 1
        if r.status == "skipped":
            skipped.add(i)
    return [(p, n, have.get(i, 0)) for i, (p, n) in want.items()
            if i not in skipped and have.get(i, 0) < n]


def load(run_dir):
    """Every whole, valid record of points.jsonl (a torn last line, or a line
    that is not a record, is reported on stderr and left out)."""
    recs = []
    path = os.path.join(run_dir, "points.jsonl")
    with open(path) as f:
        for n, ln in enumerate(f, 1):
            ln = ln.strip()
            if not ln:
                continue
            try:
                recs.append(Record.from_dict(json.loads(ln)))
            except ValueError as e:
                why = "a torn line" if isinstance(e, json.JSONDecodeError) else str(e)
                sys.stderr.write(f"report: ignoring line {n} of {path}: {why}\n")
    return recs


def append(f, rec):
    """rec as one line of points.jsonl (open file f), flushed and fsync'ed;
    Ctrl-C and SIGTERM wait until it is whole."""
    line = rec.to_json() + "\n"
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        f.write(line)
        f.flush()
        os.fsync(f.fileno())
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


# ---- the reference run --------------------------------------------------------

RESULTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "results")
REFERENCE = os.path.join(RESULTS, "REFERENCE")     # one line: the reference run's folder name


def reference_name():
    """The committed reference run's folder name under results/, from
    results/REFERENCE (the one place that names it); ValueError if that file
    is not one plain name, OSError if it is missing."""
    with open(REFERENCE) as f:
        name = f.read().strip()
    if not name or "/" in name or "\n" in name:
        raise ValueError(f"{REFERENCE}: one line, a run folder's name under results/")
    return name
