#!/usr/bin/env python3
"""bin/dispatch (issue 12): every wait mechanism is correct, its checks catch
what they claim to, bad input is refused, and epoll and io_uring reach the
process's descriptor limit.

- The mechanisms are declared once, in dispatch/mechs.h's X-macro table:
  `dispatch --list` (made from it) is the harness's list (read from the
  header as text) and the sweep's, in the same order with the same servers;
  every `struct mech mech_<name>` defined in dispatch/*.c is in it (a table
  line without one fails to link); each server is a model of the registry;
  --help and the unknown-model error name every mechanism. The rest of this
  test runs every mechanism of --list.
- Every model, both methods, at small N: exit 0, one JSON object with the
  fields the harness reads. dispatch itself checks each run (W callbacks for
  W writes, no descriptor left readable, no notification without a token,
  no stall), so exit 0 is the count being exact. Twice per model: A < N, and
  A = N (every slot active, so successors collide: an LT model must read one
  token per callback and leave the rest for the next wait).
- The checks themselves, by breaking a run on purpose (--inject): a write
  counted but never made (lost wake-up -> the watchdog), a write made twice
  (a token left over, or one callback too many), a readiness reported twice
  (an exact model must fail). Each must exit 1 naming the fault.
- rtsig's queue overflow: with RLIMIT_SIGPENDING below --active the kernel
  falls back to SIGIO; the run must still complete and report overflows.
- System calls are counted by the kernel: epoll_lt with one token in flight
  makes epoll_wait + read + write = 3 per event (skipped if perf is denied).
- Usage errors: exit 2, one line on stderr naming the flag.
- Scale: epoll_lt, io_uring at --fds max (derived by dispatch from
  RLIMIT_NOFILE), and the first N above it refused naming --fds.
"""
import glob
import json
import os
import re
import resource
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from c10k import ROOT, TAP, bin_dir, fresh_boot  # noqa: E402  (puts harness/ on sys.path)
import models  # noqa: E402
import profiles  # noqa: E402
import sweeps  # noqa: E402

FIELDS = ["model", "backend", "method", "fds", "active", "writes", "repeats", "warmup_events",
          "fd_kind", "fds_per_slot", "fd_limit", "max_fds", "max_fds_why", "ns_per_event",
          "ns_per_event_min", "ns_per_event_max", "events_per_s", "s_per_100k_events",
          "setup_ns", "setup_ns_per_fd", "cpu_user_s", "cpu_sys_s", "syscalls_per_event",
          "syscalls_why", "empty_wakeups", "sigqueue_overflows", "runs"]
RUN_TIMEOUT_S = 60
FRESH = fresh_boot()       # as root: tracefs unmounted, as after a boot

t = TAP()
DISPATCH = os.path.join(bin_dir(), "dispatch")
if not os.access(DISPATCH, os.X_OK):
    TAP.skip_all(f"{DISPATCH} is not built (run make)")


def run(*args, preexec=None):
    """(exit code, parsed JSON or None, stderr) of one bin/dispatch run."""
    try:
        p = subprocess.run([DISPATCH, *map(str, args)], capture_output=True, text=True,
                           timeout=RUN_TIMEOUT_S, preexec_fn=preexec)
    except subprocess.TimeoutExpired:
        return None, None, f"no exit within {RUN_TIMEOUT_S} s"
    doc = None
    if p.returncode == 0 and "--json" in args:
        try:
            doc = json.loads(p.stdout)
        except ValueError as e:
            return p.returncode, None, f"not JSON ({e}): {p.stdout[:200]!r}"
    return p.returncode, doc, p.stderr.strip()


# ---- the mechanisms: one table, every list made from it --------------------------
p = subprocess.run([DISPATCH, "--list"], capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
LIST = [tuple(ln.split(None, 2)) for ln in p.stdout.splitlines()]
MODELS = [m for m, *_ in LIST]
t.ok(p.returncode == 0 and MODELS and all(len(x) == 3 for x in LIST),
     f"dispatch --list: {len(MODELS)} mechanisms, a name, a server and what it does each",
     f"exit {p.returncode}: {p.stdout!r} {p.stderr!r}")
HEADER = sweeps.dispatch_mechanisms()
PAIRS = [(m, s) for m, s, _ in LIST]
t.ok(list(HEADER.items()) == PAIRS, "dispatch --list is the harness's reading of dispatch/mechs.h",
     f"--list {PAIRS}\nharness {list(HEADER.items())}")
SWEEP = next(sw for sw in sweeps.SWEEPS if sw.name == "dispatch")


def swept(servers):
    """The mechanisms of the dispatch sweep's default points when MODELS is servers."""
    got = []
    for pt in SWEEP.points(SWEEP.profiles["default"], servers, None, profiles.machine()):
        if pt["model"] not in got:
            got.append(pt["model"])
    return got


t.ok(swept(models.names()) == MODELS, "the dispatch sweep runs the mechanisms of --list, in order",
     swept(models.names()))
SERVERS = [sv for _, sv in PAIRS]
SERVER = max(SERVERS, key=SERVERS.count) if SERVERS else "-"    # (io_uring: two mechanisms)
t.ok(swept([SERVER]) == [m for m, s in PAIRS if s == SERVER],
     f"... and with MODELS={SERVER}, the mechanisms whose server it is", swept([SERVER]))
defined = []
for src in sorted(glob.glob(os.path.join(ROOT, "dispatch", "*.c"))):
    with open(src) as f:
        defined += re.findall(r"^\s*(?:static\s+)?const\s+struct\s+mech\s+mech_(\w+)\s*=",
                              f.read(), re.M)
t.ok(sorted(defined) == sorted(MODELS),
     "every mech_<name> defined in dispatch/*.c is a mechanism of --list, and back",
     f"defined but not listed: {sorted(set(defined) - set(MODELS))}; "
     f"listed but not defined: {sorted(set(MODELS) - set(defined))}")
unknown = sorted({s for _, s in PAIRS} - set(models.names()))
t.ok(not unknown, "each mechanism's server is a model of harness/models.py", unknown)
p = subprocess.run([DISPATCH, "--help"], capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
line = next((ln for ln in p.stdout.splitlines() if ln.strip().startswith("--model")), "")
t.ok(MODELS and line.split()[-len(MODELS):] == MODELS, "--help's --model line names them all",
     line)
p = subprocess.run([DISPATCH, "--model", "kqueue", "--fds", "1"], capture_output=True,
                   text=True, timeout=RUN_TIMEOUT_S)
t.ok(p.returncode == 2 and f"({' '.join(MODELS)})" in p.stderr,
     "--model kqueue: exit 2 naming them all", f"exit {p.returncode}: {p.stderr}")

# ---- every mechanism, both methods, counts exact ------------------------------
for model in MODELS:
    for method in ("chain", "random"):
        for n, a in ((20, 3), (8, 8)):
            rc, doc, err = run("--model", model, "--fds", n, "--active", a, "--writes", 2000,
                               "--method", method, "--repeats", 2, "--warmup", 200, "--json")
            name = f"{model} {method} N={n} A={a}: 2 x 2,000 events, each checked"
            if not t.ok(rc == 0 and doc is not None, name, f"exit {rc}: {err}"):
                continue
            missing = [f for f in FIELDS if f not in doc]
            t.ok(not missing and doc["model"] == model and doc["fds"] == n and doc["active"] == a
                 and doc["writes"] == 2000 and len(doc["runs"]) == 2
                 and doc["ns_per_event_min"] <= doc["ns_per_event"] <= doc["ns_per_event_max"],
                 f"{model} {method} N={n} A={a}: JSON record", f"missing {missing}: {doc}")

# ---- the checks catch what they claim ------------------------------------------
INJECT = [
    ("lose", "poll", "wake-up was lost"),
    ("lose", "epoll_et", "wake-up was lost"),
    ("lose", "threads", "wake-up was lost"),
    ("lose", "rtsig", "wake-up was lost"),
    ("double", "poll", "got no callback"),
    ("double", "epoll_et", "2001 callbacks for 2000 writes"),
    ("spurious", "epoll_lt", "doubled or spurious wake-up"),
    ("spurious", "libevent", "doubled or spurious wake-up"),
]
for what, model, expect in INJECT:
    rc, _, err = run("--model", model, "--fds", 10, "--writes", 2000, "--repeats", 1,
                     "--inject", what, "--lost-ms", 300)
    t.ok(rc == 1 and expect in err, f"--inject {what} on {model}: exit 1, '{expect}'",
         f"exit {rc}: {err}")


# ---- rtsig: the realtime-signal queue overflows into SIGIO ---------------------------
def low_sigpending():
    resource.setrlimit(resource.RLIMIT_SIGPENDING, (8, 8))


rc, doc, err = run("--model", "rtsig", "--fds", 100, "--active", 50, "--writes", 5000,
                   "--repeats", 1, "--json", preexec=low_sigpending)
t.ok(rc == 0 and doc and doc["sigqueue_overflows"] > 0,
     "rtsig with RLIMIT_SIGPENDING 8 < 50 in flight: completes, overflows reported",
     f"exit {rc}: {err} {doc and doc['sigqueue_overflows']}")
rc, doc, err = run("--model", "rtsig", "--fds", 100, "--active", 50, "--writes", 5000,
                   "--repeats", 1, "--json")
t.ok(rc == 0 and doc and doc["sigqueue_overflows"] == 0 and doc["empty_wakeups"] == 0,
     "rtsig at the normal RLIMIT_SIGPENDING: no overflow, one token per signal",
     f"exit {rc}: {err} {doc}")

# ---- system calls, counted by the kernel --------------------------------------------
rc, doc, err = run("--model", "epoll_lt", "--fds", 100, "--writes", 5000, "--repeats", 1,
                   "--method", "random", "--json")
counting = not (doc and doc["syscalls_per_event"] is None)
no_counter_why = doc and doc["syscalls_why"]
if not counting and FRESH != "fresh":
    t.skip("epoll_lt: 3 system calls per event", doc["syscalls_why"])
else:                # as root from a fresh boot, bin/dispatch mounts tracefs itself
    got = doc and doc["syscalls_per_event"]
    t.ok(rc == 0 and got is not None and abs(got - 3.0) < 0.05,
         "epoll_lt, one token in flight: 3.0 system calls per event (wait, read, write)",
         f"exit {rc}: {err} got {got}")
rc, doc, err = run("--model", "poll", "--fds", 100, "--writes", 5000, "--warmup", 0,
                   "--repeats", 1, "--json")
why0 = "--warmup is 0" if counting else no_counter_why   # no counter here: the counter's reason
t.ok(rc == 0 and doc["syscalls_per_event"] is None and why0 in doc["syscalls_why"],
     "--warmup 0: syscalls_per_event null, with the reason", f"exit {rc}: {err} {doc}")

# ---- usage errors: exit 2, one line naming the flag ---------------------------------
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
BAD = [
    (["--fds", 10], "--model"),
    (["--model", "kqueue", "--fds", 10], "--model kqueue"),
    (["--model", "poll"], "--fds"),
    (["--model", "poll", "--fds", hard + 1], f"--fds {hard + 1}"),
    (["--model", "poll", "--fds", 0], "--fds 0"),
    (["--model", "poll", "--fds", "ten"], "--fds ten"),
    (["--model", "poll", "--fds", 10, "--active", 11], "--active 11"),
    (["--model", "poll", "--fds", 10, "--active", 0], "--active 0"),
    (["--model", "poll", "--fds", 10, "--writes", 0], "--writes 0"),
    (["--model", "poll", "--fds", 10, "--active", 5, "--writes", 4], "--writes 4"),
    (["--model", "poll", "--fds", 10, "--repeats", 0], "--repeats 0"),
    (["--model", "poll", "--fds", 10, "--active", 5, "--warmup", 3], "--warmup 3"),
    (["--model", "poll", "--fds", 10, "--method", "zigzag"], "--method zigzag"),
    (["--model", "poll", "--fds", 10, "--fd-kind", "fifo"], "--fd-kind fifo"),
    (["--model", "sigio", "--fds", 10, "--fd-kind", "eventfd"], "--fd-kind eventfd"),
    (["--model", "poll", "--fds", 10, "--writes"], "--writes"),
    (["--model", "poll", "--fds", 10, "--frobnicate"], "--frobnicate"),
]
for args, flag in BAD:
    rc, _, err = run(*args)
    t.ok(rc == 2 and len(err.splitlines()) == 1 and flag in err and "Traceback" not in err,
         f"usage error {' '.join(map(str, args))}: exit 2 naming {flag}", f"exit {rc}: {err}")
rc, _, err = run("--help")
t.ok(rc == 0, "--help: exit 0", err)

# ---- scale: the process's descriptor limit ------------------------------------------
for model in ("epoll_lt", "io_uring"):
    rc, doc, err = run("--model", model, "--fds", "max", "--active", 1000, "--writes", 20000,
                       "--method", "random", "--repeats", 1, "--json")
    if not t.ok(rc == 0 and doc is not None, f"{model} at --fds max: 20,000 events checked",
                f"exit {rc}: {err}"):
        continue
    t.note(f"{model}: {doc['fds']} eventfds ({doc['max_fds_why']}), setup "
           f"{doc['setup_ns'] / 1e6:.1f} ms, {doc['ns_per_event']:.0f} ns/event")
    t.ok(doc["fds"] == doc["max_fds"] and doc["fd_limit"] == hard and doc["fds"] > hard - 64,
         f"{model}: --fds max is the hard descriptor limit less a small reserve",
         f"fds {doc['fds']} max {doc['max_fds']} fd_limit {doc['fd_limit']} hard {hard}")
    over = doc["max_fds"] + 1
    rc, _, err = run("--model", model, "--fds", over)
    t.ok(rc == 2 and f"--fds {over}" in err, f"{model}: --fds {over} (one above): exit 2",
         f"exit {rc}: {err}")
rc, doc, err = run("--model", "sigio", "--fds", "max", "--writes", 50, "--repeats", 1,
                   "--warmup", 0, "--json")
per = doc and (1 if doc["fd_kind"] == "eventfd" else 2)
t.ok(rc == 0 and doc["fds_per_slot"] == per and doc["fds"] == doc["max_fds"] > (hard - 64) // per,
     f"sigio at --fds max: {doc and doc['fd_kind']} ({doc and doc['fd_kind_why']}), "
     f"{per} descriptor(s) per slot",
     f"exit {rc}: {err} {doc}")

t.done()
