"""kcount.py - the kernel's count of a server's system calls over a window.

The servers count the calls their code marks with SC(); the kernel counts
every call, library calls included. This module asks the kernel:

    c = Counter(pids)   # every process of the server (procfs.group_pids)
    c.start()           # attach with the counters disabled (before the window)
    ...                 # warm-up: not counted
    c.mark()            # "measure start": enable
    ...                 # the measured window
    res = c.stop()      # "measure end": disable, read; perf is gone after it
    res == {"total": 61234, "by_name": {"read": 20411, ..., "other": 3},
            "tool": "perf", "why_empty": None, ...}

How (perf stat, one counting event per task, no sample records):
- total: the raw_syscalls:sys_enter tracepoint, every call of every number;
- by_name: more copies of the same tracepoint, each with a filter `id == N`
  for one name of NAMES (numbers from the kernel headers' unistd_64.h);
  "other" is total minus the named ones, so nothing is lost. All copies share
  one tracepoint registration. The per-name tracepoints (syscalls:sys_enter_*)
  are each a registration of their own; here (kernel 6.18, perf 6.1) closing
  all 360 of `-e 'syscalls:sys_enter_*'` took perf 10 min 12 s, and every one
  counted 0 while raw_syscalls:sys_enter counted 3,014; 41 of them took
  0.86 s and counted right: not usable for "all names";
- all threads and child processes: `perf stat -p` opens a counter on each
  existing thread with inherit set, so the threads and processes they create
  later (threads, posix_aio, pool) are counted too, their counts folded in
  when they exit. A counter per task per event: tasks x (1 + names) must fit
  in the descriptor limit, so with thousands of threads fewer names (then
  none) are counted separately; the result says so;
- the window: `--delay -1` starts it disabled; `--control fifo:` takes
  "enable" at mark() and "disable" at stop(), each acknowledged, so the
  counts are exactly the calls entered between the two acknowledgements.

Without perf, strace -c -f attaches at mark() and detaches at stop() (ptrace
stops the server on every call: the window's throughput is not comparable;
the result says tool "strace"). Nothing else, or no pid: every figure None
and why_empty says why. perf and strace run in their own process group with
PDEATHSIG (harness/launch.py), so an error, Ctrl-C or a killed harness
leaves none behind.
"""

import os
import re
import resource
import select
import shutil
import signal
import subprocess
import tempfile
import time

from figures import NAMES   # the names counted separately (their columns)
from launch import Child

UNISTD = ("/usr/include/x86_64-linux-gnu/asm/unistd_64.h", "/usr/include/asm/unistd_64.h")
TRACEFS = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")
FD_RESERVE = 64            # descriptors perf keeps for itself (files, fifos, output)
ATTACH_TIMEOUT_S = 30      # perf opening a counter per task and event (0.2-0.5 s for 1-33 tasks here)
STOP_TIMEOUT_S = 20        # closing them: one tracepoint registration (0.01-0.08 s here)


def syscall_numbers(paths=UNISTD):
    """{name: number} of this architecture from the kernel headers, or {}."""
    for path in paths:
        try:
            with open(path) as f:
                text = f.read()
        except OSError:
            continue
        return {m.group(1): int(m.group(2))
                for m in re.finditer(r"^#define __NR_(\w+)\s+(\d+)\s*$", text, re.M)}
    return {}


def task_count(pids):
    """Threads of the given processes now (a vanished pid counts 0)."""
    n = 0
    for pid in pids:
        try:
            n += len(os.listdir(f"/proc/{pid}/task"))
        except OSError:
            pass
    return n


def names_that_fit(names, tasks, nofile):
    """The leading names whose counters fit: tasks x (1 + names) <= nofile - reserve.
    None when not even the total fits."""
    room = (nofile - FD_RESERVE) // max(tasks, 1) - 1
    return None if room < 0 else list(names[:room])


# ---- parsing -----------------------------------------------------------------

def parse_perf_stat(text):
    """`perf stat -x,` output -> [count or None, ...] in event order
    (None: <not counted> / <not supported>)."""
    out = []
    for ln in text.splitlines():
        if not ln.strip() or ln.startswith("#"):
            continue
        f = ln.split(",")
        if len(f) < 3 or ":" not in f[2]:
            continue
        out.append(int(f[0]) if f[0].strip().isdigit() else None)
    return out


_STRACE_ROW = re.compile(r"^\s*[\d.]+\s+[\d.]+\s+\d*\s+(\d+)\s+(\d*)\s*(\S+)\s*$")


def parse_strace_c(text):
    """`strace -c` summary -> (total, {name: calls}), or (None, {}) without a total row."""
    total, by = None, {}
    for ln in text.splitlines():
        m = _STRACE_ROW.match(ln)
        if not m:
            continue
        calls, name = int(m.group(1)), m.group(3)
        if name == "total":
            total = calls
        else:
            by[name] = by.get(name, 0) + calls
    return total, by


def by_name_with_other(total, names, counts):
    """{name: count} of the names that were called, plus "other" = the rest."""
    by = {n: c for n, c in zip(names, counts) if c}
    if total is not None:
        by["other"] = max(total - sum(by.values()), 0)
    return by


def per_echo(res, echoes):
    """The result's figures divided by the echoes: (total, {name: per echo}),
    (None, None) when empty or no echoes."""
    if not res or res.get("total") is None or not echoes:
        return None, None
    by = {k: v / echoes for k, v in (res.get("by_name") or {}).items()}
    return res["total"] / echoes, by


def perf_events(names):
    """perf stat's event arguments for the total and the given names:
    (args, names used, note). Names the headers do not know are dropped."""
    nums = syscall_numbers()
    used = [n for n in names if n in nums]
    ev = ["-e", "raw_syscalls:sys_enter"]
    for n in used:
        ev += ["-e", "raw_syscalls:sys_enter", f"--filter=id == {nums[n]}"]
    return ev, used, None if nums else "no unistd_64.h: total only, no per-name counts"


def perf_result(text, names, err=""):
    """The result fields from perf stat's -x, output of perf_events(names)."""
    counts = parse_perf_stat(text)
    if not counts or counts[0] is None:
        return dict(total=None, by_name=None, why_empty="perf stat printed no count"
                    + (f": {err}" if err else ""))
    return dict(total=counts[0], names=list(names), why_empty=None,
                by_name=by_name_with_other(counts[0], names, counts[1:]))


# The servers' own counter kinds (servers/common.h, enum sc_kind) and the
# kernel's names each stands for; "other" stands for every name not listed.
KINDS = {"accept": ("accept", "accept4"), "read": ("read", "recvfrom", "readv", "recvmsg"),
         "write": ("write", "sendto", "writev", "sendmsg"), "close": ("close",),
         "wait": ("epoll_wait", "epoll_pwait", "epoll_pwait2", "poll", "ppoll", "select",
                  "pselect6", "io_getevents", "io_pgetevents"),
         "ctl": ("epoll_ctl",), "submit": ("io_submit", "io_uring_enter"),
         "sigwait": ("rt_sigtimedwait",)}


def uncounted(by_name, own, floor=0.005):
    """Which kernel-counted calls the server's own count misses: by_name is
    the kernel's {name: per echo}, own the server's {kind: per echo}. Per
    kind, a kernel excess over the server's figure of more than floor per
    echo names that kind's calls; the names of no kind answer to "other".
    Returns {name: kernel per echo}, largest first."""
    out, mapped = {}, set()
    for kind, names in KINDS.items():
        mapped.update(names)
        if sum(by_name.get(n, 0) for n in names) - own.get(kind, 0) > floor:
            out.update({n: by_name[n] for n in names if by_name.get(n, 0) > floor})
    rest = {n: v for n, v in by_name.items() if n not in mapped}
    if sum(rest.values()) - own.get("other", 0) > floor:
        out.update({n: v for n, v in rest.items() if v > floor})
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


# ---- preflight -----------------------------------------------------------------

def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def tracefs_dir():
    """The mounted tracing folder, or None (a fresh boot has none: perf
    mounts tracefs on its first use, prepare_tracefs() here)."""
    for d in TRACEFS:
        if os.path.isdir(os.path.join(d, "events")):
            return d
    return None


def prepare_tracefs():
    """Make the tracepoints reachable where we may, as perf's own first run
    would: as root, mount tracefs on /sys/kernel/tracing. Returns what was
    done ("mounted ...") or None (already there, not root, or it failed:
    the preflight's piece then says what is missing)."""
    if tracefs_dir() or os.geteuid() != 0 or not shutil.which("mount"):
        return None
    try:
        subprocess.run(["mount", "-t", "tracefs", "nodev", TRACEFS[0]],
                       capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return f"tracefs was not mounted (a fresh boot): mounted on {TRACEFS[0]}" \
        if tracefs_dir() else None


def perf_status(probe=True, symbols=True):
    """Can perf count and sample the servers here? {"usable": bool (counting),
    "profile": bool (sampling with kernel symbols), "pieces": [{piece, ok,
    detail, short, needed_by}]}: each piece checked, what it is (detail),
    and when missing, why in a few words (short) and what it is needed for
    ("count": the kernel's count, "names": its calls by name, "profile": CPU
    profiles). missing(st, use) lists the shorts; kbench.py says the costs."""
    pieces = []

    def piece(name, ok, detail, short, needed_by):
        pieces.append(dict(piece=name, ok=bool(ok), detail=detail,
                           short=None if ok else short, needed_by=needed_by))
        return ok
    perf = shutil.which("perf")
    have = piece("perf installed", perf, perf or "perf not on PATH (Debian: linux-perf)",
                 "perf is not installed", ("count", "profile"))
    root = os.geteuid() == 0
    par = (_read("/proc/sys/kernel/perf_event_paranoid") or "").strip()
    par_ok = root or (par.lstrip("-").isdigit() and int(par) <= 1)
    piece("perf_event_paranoid", par_ok,
          f"{par or '?'}{' (root: not limited)' if root else ' (not root: sysctl kernel.perf_event_paranoid=1 allows it)'}",
          f"not root, and perf_event_paranoid is {par or '?'}", ("count", "profile"))
    mounted = prepare_tracefs() if have and par_ok else None
    tdir = tracefs_dir()
    tp = tdir and _read(os.path.join(tdir, "events/raw_syscalls/sys_enter/id"))
    why_tp = (f"{tdir}/events/raw_syscalls/sys_enter/id unreadable (tracefs is root's)" if tdir
              else f"tracefs not mounted on {TRACEFS[0]}"
              + ("" if root else " (root mounts it: mount -t tracefs nodev /sys/kernel/tracing)"))
    tp_ok = piece("tracepoints readable", tp,
                  f"{tdir}/events/raw_syscalls/sys_enter" + (f"; {mounted}" if mounted else "")
                  if tp else why_tp,
                  "tracefs is root's" if tdir else "tracefs is not mounted", ("count",))
    nums = syscall_numbers()
    piece("system call numbers", nums, f"{len(nums)} names from {UNISTD[0]}" if nums else
          f"no {UNISTD[0]} (Debian: linux-libc-dev)", "no unistd_64.h", ("names",))
    sym_ok = False
    if symbols:
        kr = (_read("/proc/sys/kernel/kptr_restrict") or "").strip()
        ks = _read("/proc/kallsyms") or ""
        first = ks.split(None, 1)[0] if ks else ""
        sym_ok = bool(first) and first.strip("0") != ""
        piece("kernel symbols", sym_ok, f"kptr_restrict={kr or '?'}, /proc/kallsyms "
              f"{'has addresses' if sym_ok else 'shows zeros or is unreadable'}",
              "kernel symbols hidden (kptr_restrict)", ("profile",))
    count_ok = bool(have and par_ok and tp_ok)
    if probe and count_ok:
        try:
            p = subprocess.run([perf, "stat", "-x,", "-e", "raw_syscalls:sys_enter", "--", "true"],
                               capture_output=True, text=True, timeout=30)
            n = parse_perf_stat(p.stderr)
            detail = f"perf stat -e raw_syscalls:sys_enter -- true: " \
                     f"{n[0] if n else p.stderr.strip()[-200:]}"
            count_ok = piece("perf stat probe", p.returncode == 0 and n and n[0], detail,
                             "perf stat counted nothing", ("count",))
        except (OSError, subprocess.TimeoutExpired) as e:
            count_ok = piece("perf stat probe", False, str(e), "perf stat did not run",
                             ("count",))
    return dict(usable=bool(count_ok), profile=bool(have and par_ok and sym_ok), pieces=pieces)


def perf_counts():
    """(whether perf can count a command's system calls here, why not):
    perf_status's counting pieces without its probe and symbols (quick)."""
    st = perf_status(probe=False, symbols=False)
    return st["usable"], missing(st, "count")


def missing(st, use):
    """Why `use` ("count", "names", "profile") cannot be had: the missing
    pieces' short reasons, "; "-joined ("" when nothing is missing)."""
    return "; ".join(p["short"] for p in st["pieces"] if not p["ok"] and use in p["needed_by"])


def describe_status(st):
    """Preflight lines: one per piece, ok or MISSING with what it is (the
    costs are the caller's to say, once: kbench.status)."""
    return [f"perf: {p['piece']}: {'ok' if p['ok'] else 'MISSING'} ({p['detail']})"
            for p in st["pieces"]]


# ---- the control fifos of perf ---------------------------------------------------

class PerfControl:
    """perf's --control fifo:ctl,ack in a private folder; both ends opened
    read-write so no open ever blocks on a perf that died first."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="c10k-perf-")
        self.ctl_path = os.path.join(self.dir, "ctl")
        self.ack_path = os.path.join(self.dir, "ack")
        os.mkfifo(self.ctl_path)
        os.mkfifo(self.ack_path)
        self.ctl = os.open(self.ctl_path, os.O_RDWR | os.O_CLOEXEC)
        self.ack = os.open(self.ack_path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)

    def flag(self):
        return f"--control=fifo:{self.ctl_path},{self.ack_path}"

    def path(self, name):
        return os.path.join(self.dir, name)

    def command(self, cmd, child, timeout):
        """Send cmd, wait for perf's "ack": True, or False if perf died or was late."""
        os.write(self.ctl, cmd.encode() + b"\n")
        end = time.monotonic() + timeout
        buf = b""
        while b"ack" not in buf:
            left = end - time.monotonic()
            if left <= 0 or not child.alive():
                return False
            if select.select([self.ack], [], [], min(left, 0.2))[0]:
                try:
                    buf += os.read(self.ack, 64)
                except BlockingIOError:
                    pass
        return True

    def close(self):
        for fd in (self.ctl, self.ack):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)


def stop_child(child, timeout):
    """SIGINT (perf/strace print and exit on it), then SIGKILL the group if late.
    True if it exited by itself."""
    if child.alive():
        try:
            os.kill(child.pid, signal.SIGINT)
        except OSError:
            pass
    ok = child.wait(timeout)
    child.kill()                   # the group, reaped; idempotent
    return ok


# ---- the counter -------------------------------------------------------------------

class PerfWindow:
    """What a perf window (Counter here, kprofile.Profiler) shares: a context
    manager that leaves no perf/strace whatever happens, the empty result
    with its reason, and close(). Subclasses keep self.res, self.child (the
    perf/strace launch.Child) and self.ctl (its PerfControl fifos)."""

    def close(self):
        """Kill perf/strace (its whole group) and remove the fifos; idempotent."""
        if self.child is not None:
            self.child.kill()
        if self.ctl is not None:
            self.ctl.close()
            self.ctl = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def _empty(self, why):
        if self.res["why_empty"] is None:
            self.res["why_empty"] = why
        self.close()
        return self.res


class Counter(PerfWindow):
    """System calls of pids (all their threads and children) between mark() and stop()."""

    def __init__(self, pids, names=NAMES, tool=None, nofile=None):
        self.pids = sorted({int(p) for p in pids})
        self.want_names = list(names)
        self.tool = tool or ("perf" if shutil.which("perf") else
                             "strace" if shutil.which("strace") else None)
        self.nofile = nofile or resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        self.res = dict(total=None, by_name=None, names=[], tool=self.tool, why_empty=None,
                        tasks=0, window_s=None, target_exited=False, note=None)
        self.child = self.ctl = None
        self.names = []
        self.t_mark = None

    def start(self):
        """Attach (counters disabled). False and why_empty if it cannot count."""
        if not self.pids:
            self._empty("no server pid to count")
            return False
        live = [p for p in self.pids if os.path.exists(f"/proc/{p}")]
        if not live:
            self._empty(f"pid {','.join(map(str, self.pids))} vanished before counting")
            return False
        self.pids = live
        self.res["tasks"] = task_count(live)
        if self.tool == "perf":
            return self._start_perf()
        if self.tool == "strace":
            self.res["note"] = ("perf is not installed: strace -c -f counted (ptrace stops the "
                                "server on every call; this window's throughput is not comparable)")
            return True        # strace attaches at mark(): it cannot attach disabled
        self._empty("neither perf nor strace is installed")
        return False

    def _start_perf(self):
        fit = names_that_fit(self.want_names, self.res["tasks"], self.nofile)
        if fit is None:
            self._empty(f"{self.res['tasks']} tasks: one counter each exceeds the "
                        f"descriptor limit {self.nofile}")
            return False
        ev, self.names, note = perf_events(fit)
        if len(self.names) < len(perf_events(self.want_names)[1]):
            note = (f"{self.res['tasks']} tasks: {len(self.names)} names counted separately "
                    f"(descriptor limit {self.nofile}); the rest are in \"other\"")
        self.res["note"] = note
        self.ctl = PerfControl()
        cmd = ["perf", "stat", "-x,", "--no-big-num", "-D", "-1", self.ctl.flag(),
               "-o", self.ctl.path("stat.csv"), *ev, "-p", ",".join(map(str, self.pids))]
        self.child = Child(cmd, nofile=self.nofile)
        if not self.ctl.command("ping", self.child, ATTACH_TIMEOUT_S):
            err = " ".join(self.child.stderr_tail(2)) if not self.child.alive() else ""
            self._empty(f"perf stat could not attach to pid {','.join(map(str, self.pids))}"
                        + (f": {err}" if err else f" within {ATTACH_TIMEOUT_S} s"))
            return False
        return True

    def mark(self):
        """Measure start: enable (perf) or attach (strace). False if it cannot."""
        if self.res["why_empty"]:
            return False
        self.t_mark = time.monotonic()
        if self.tool == "perf":
            if not self.ctl.command("enable", self.child, 10):
                self.res["target_exited"] = True
                self._empty("perf exited before the window (the server exited?)")
                return False
            return True
        return self._start_strace()

    def _start_strace(self):
        self.ctl = PerfControl()      # only for its private folder
        out = self.ctl.path("strace.txt")
        self.child = Child(["strace", "-c", "-f", "-q", "-o", out,
                            *[a for p in self.pids for a in ("-p", str(p))]])
        end = time.monotonic() + ATTACH_TIMEOUT_S
        while time.monotonic() < end and self.child.alive():
            if all(_traced(p) for p in self.pids):
                return True
            time.sleep(0.02)
        why = " ".join(self.child.stderr_tail(2))
        self._empty(f"strace could not attach to pid {','.join(map(str, self.pids))}"
                    + (f": {why}" if why else ""))
        return False

    def stop(self):
        """Measure end: the counts of the window, and perf/strace gone."""
        if self.res["why_empty"] or self.child is None:
            return self._empty(self.res["why_empty"] or "stop() before start()/mark()")
        if self.t_mark is None:
            return self._empty("stop() without mark(): no window")
        t_end = time.monotonic()
        if self.tool == "perf":
            disabled = self.ctl.command("disable", self.child, 10)
            t_end = time.monotonic() if disabled else t_end
            # perf stat -p exits by itself once its targets are gone
            self.res["target_exited"] = not disabled or not any(map(_alive, self.pids))
            exited = stop_child(self.child, STOP_TIMEOUT_S)
            text = _read(self.ctl.path("stat.csv")) or ""
            if not exited:
                return self._empty(f"perf did not exit within {STOP_TIMEOUT_S} s of SIGINT")
            self.res.update(perf_result(text, self.names, " ".join(self.child.stderr_tail(2))))
            if self.res["total"] is None:
                return self._empty(self.res["why_empty"])
            if self.res["target_exited"]:
                self.res["note"] = "the server exited inside the window: counts up to its exit"
        else:
            exited = stop_child(self.child, STOP_TIMEOUT_S)
            total, by = parse_strace_c(_read(self.ctl.path("strace.txt")) or "")
            if total is None:
                return self._empty("strace printed no summary" +
                                   ("" if exited else f" (no exit within {STOP_TIMEOUT_S} s)"))
            self.res.update(total=total, by_name=by, names=sorted(by))
        self.res["window_s"] = round(t_end - self.t_mark, 6)
        self.close()
        return self.res



def _alive(pid):
    """pid exists and is not a zombie."""
    st = _read(f"/proc/{pid}/stat")
    return bool(st) and st.rsplit(")", 1)[1].split()[0] != "Z"


def _traced(pid):
    """Every thread of pid has a tracer (strace -f attached them all)."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return True            # gone: nothing more to attach
    for t in tids:
        s = _read(f"/proc/{pid}/task/{t}/status") or ""
        m = re.search(r"^TracerPid:\s*(\d+)", s, re.M)
        if m and m.group(1) == "0":
            return False
    return True


class Wrapped:
    """The whole life of a command, counted from its exec to its exit: perf
    stat (or strace -c -f) starts it, so every thread and process it ever
    creates inherits the counters and no attach races its first calls.
    For two-run differences (regress.py's, tests/kcount.t's):

        w = Wrapped()
        child = launch.Child(w.argv([server, "--port", "0"]))
        ...                        # signal the server: w.target(child.pid)
        child.wait(10); res = w.result(); w.close()

    perf stat does not pass SIGTERM on (it would die uncounted): signal the
    command itself, perf's child."""

    def __init__(self, names=NAMES, tool=None):
        # perf where it can count (not as a user under perf_event_paranoid 2,
        # nor without tracefs), else strace -c -f, which counts the same calls
        counts, why = perf_counts() if tool is None else (tool == "perf", "")
        self.tool = tool or ("perf" if counts else "strace" if shutil.which("strace") else None)
        self.dir = tempfile.mkdtemp(prefix="c10k-kcount-")
        self.out = os.path.join(self.dir, "count.txt")
        self.names = []
        self.ev, self.names, self.note = perf_events(names) if self.tool == "perf" else ([], [], None)
        if self.tool == "strace" and shutil.which("perf"):
            self.note = f"strace -c -f counted: perf cannot count here ({why})"

    def argv(self, cmd):
        if self.tool == "perf":
            return ["perf", "stat", "-x,", "--no-big-num", "-o", self.out, *self.ev, "--", *cmd]
        if self.tool == "strace":
            return ["strace", "-c", "-f", "-q", "-o", self.out, "--", *cmd]
        return list(cmd)

    @staticmethod
    def target(pid, timeout=5.0):
        """The counted command's pid: perf's/strace's child (None if not there in time)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            kids = (_read(f"/proc/{pid}/task/{pid}/children") or "").split()
            if kids:
                return int(kids[0])
            time.sleep(0.01)
        return None

    def result(self, err=""):
        """The counts, once the command and perf/strace have exited."""
        res = dict(total=None, by_name=None, names=[], tool=self.tool, why_empty=None,
                   note=self.note)
        text = _read(self.out) or ""
        if self.tool == "perf":
            res.update(perf_result(text, self.names, err))
        elif self.tool == "strace":
            total, by = parse_strace_c(text)
            res.update(total=total, by_name=by or None, names=sorted(by),
                       why_empty=None if total is not None else "strace printed no summary")
        else:
            res["why_empty"] = "neither perf nor strace is installed"
        return res

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)
