"""Shared helpers for the integration tests: TAP output, servers started and
always stopped, and /proc readings.

Every test file is a TAP producer run by `prove`. A server is started with
`--port 0` through the harness's launcher (harness/launch.py), its port read
from the READY line, and stopped with SIGTERM (its JSON counters collected);
its whole process group is killed on any exit path.
"""
import os
import resource
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "harness"))
import interp  # noqa: E402
interp.ensure()         # a Python with scipy (re-runs under Debian's if need be)
from launch import Child, install_cleanup, parse_json  # noqa: E402
from procfs import group_pids  # noqa: E402
PAGE = os.sysconf("SC_PAGE_SIZE")
HZ = os.sysconf("SC_CLK_TCK")


class TAP:
    """Minimal TAP 13 producer: plan at the end, failures counted, exit code.
    As Test::More: diag() goes to stderr, which prove shows in its log (a
    failing subtest says why there, not only its number); note() goes to
    stdout as a comment, seen only under prove -v."""

    def __init__(self):
        self.n = 0
        self.failed = 0
        self.name = os.path.basename(sys.argv[0])
        sys.stdout.reconfigure(line_buffering=True)

    def ok(self, cond, name, diag=None):
        self.n += 1
        print(f"{'ok' if cond else 'not ok'} {self.n} - {name}")
        if not cond:
            self.failed += 1
            self.diag(f"Failed test {self.n} - {name}" + (f"\n{diag}" if diag else ""))
        return cond

    def skip(self, name, why):
        self.n += 1
        print(f"ok {self.n} - {name} # SKIP {why}")

    def diag(self, msg):
        """Diagnostics for a failure: stderr, each line '# <file>: ...'."""
        for line in str(msg).splitlines() or [""]:
            print(f"# {self.name}: {line}", file=sys.stderr, flush=True)

    def note(self, msg):
        """Information (timings, figures): a TAP comment on stdout."""
        for line in str(msg).splitlines() or [""]:
            print(f"# {line}")

    @staticmethod
    def skip_all(why):
        print(f"1..0 # SKIP {why}")
        sys.exit(0)

    def done(self):
        print(f"1..{self.n}")
        sys.exit(1 if self.failed else 0)


TRACEFS = "/sys/kernel/tracing"
FRESH_ENV = "C10K_FRESH_BOOT"


def fresh_boot():
    """Run the calling test as on a freshly booted machine, where nothing has
    mounted tracefs yet (perf mounts it on its first use): as root, re-exec
    the test in a private mount namespace and unmount tracefs there, so the
    code under test must prepare it itself, and other tests running at the
    same time keep theirs. Returns "fresh" inside that namespace, or why the
    state could not be made (not root, no unshare): the caller then tests
    what it can."""
    if os.environ.get(FRESH_ENV) == "1":
        for mnt in (TRACEFS, "/sys/kernel/debug/tracing"):
            while os.path.isdir(os.path.join(mnt, "events")):
                if subprocess.run(["umount", mnt], capture_output=True).returncode:
                    return f"could not unmount {mnt}"
        return "fresh"
    if os.geteuid() != 0:
        return "not root: cannot make a private mount namespace"
    if not shutil.which("unshare"):
        return "unshare (util-linux) is not installed"
    env = dict(os.environ, **{FRESH_ENV: "1"})
    sys.stdout.flush()
    os.execvpe("unshare", ["unshare", "--mount", "--propagation", "private",
                           sys.executable, *sys.argv], env)


def bin_dir():
    """Folder with the binaries under test: $C10K_BIN or <root>/bin."""
    return os.environ.get("C10K_BIN", os.path.join(ROOT, "bin"))


# Every process a test starts goes through the harness's launcher: its own
# process group, PDEATHSIG, killed on any exit path (SIGTERM/SIGINT/SIGHUP too).
install_cleanup(exit_on_signal=True)


class Server:
    """An echo server under test. Use as a context manager:

        with Server("epoll_lt", nofile=64) as srv:
            sock = socket.create_connection(("127.0.0.1", srv.port))
        srv.stats  # the JSON counters it printed on SIGTERM
    """

    def __init__(self, model, args=(), nofile=None, bindir=None, ready_timeout=10.0,
                 path=None, env=None, sched=None):
        self.model = model
        self.sched = sched        # launch.Child's: (policy, priority)
        self.path = path or os.path.join(bindir or bin_dir(), f"echo_{model}")
        self.args = list(args)
        self.nofile = nofile
        self.ready_timeout = ready_timeout
        self.env = env
        self.child = None
        self.port = None
        self.stats = None
        self.exit_code = None
        self.stderr = ""
        self.stdout = ""          # everything printed after the READY line
        self.stop_seconds = None  # SIGTERM -> exit, measured by stop()

    @property
    def proc(self):
        return self.child.p if self.child else None

    def start(self):
        if not os.access(self.path, os.X_OK):
            raise RuntimeError(f"{self.path} is not built")
        self.child = Child([self.path, "--port", "0", *self.args], env=self.env,
                           nofile=self.nofile, sched=self.sched)
        if self.child.wait_ready(self.ready_timeout) is None:
            self.kill()
            raise RuntimeError(f"echo_{self.model}: {self.child.error}; stderr: {self.stderr}")
        self.port = self.child.port
        return self

    @property
    def pid(self):
        return self.child.pid

    def alive(self):
        return self.child.alive()

    def _collect(self):
        self.stdout = self.child.stdout_text()
        self.stderr = self.child.stderr_text()
        self.exit_code = self.child.returncode

    def stop(self, timeout=5.0):
        """SIGTERM, wait, read the JSON line. Returns the stats dict or None.
        The process group is left for the caller to inspect (kill() ends it)."""
        if self.child is None or self.exit_code is not None:
            return self.stats
        if not self.child.stop(timeout):
            self.kill()
            raise RuntimeError(f"echo_{self.model} did not exit within {timeout}s of SIGTERM")
        self.stop_seconds = self.child.stop_s
        self.child.join_output(1.0)   # children may hold the pipes: wait for EOF a little
        self._collect()
        self.stats, _ = parse_json(self.stdout)
        if not self.child.leftover():
            self.child.forget()       # its group is empty: never signal that id again
        return self.stats

    def kill(self):
        self.child.kill()
        self._collect()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        try:
            self.stop()
        except RuntimeError:
            pass
        return False


# ---- /proc readings ------------------------------------------------------------

def rss_kb(pid):
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE // 1024


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def thread_count(pid):
    return len(os.listdir(f"/proc/{pid}/task"))


def cpu_seconds(pid):
    """User + system CPU seconds of a process (all its threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / HZ


def wait_until(pred, timeout, step=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return pred()


# ---- process groups (multi-process servers: prefork, reactors --procs ...) ----
# Server starts every binary as the leader of its own process group, so the
# group id is the server's pid; the readings below sum over that group
# (group_pids is harness/procfs.py's).

def _sum_group(fn, pgid):
    total = 0
    for p in group_pids(pgid) or [pgid]:
        try:
            total += fn(p)
        except OSError:
            pass      # exited between the listing and the reading
    return total


def rss_kb_group(pgid):
    """RSS summed over the process group (shared pages counted per process)."""
    return _sum_group(rss_kb, pgid)


def fd_count_group(pgid):
    return _sum_group(fd_count, pgid)


def cpu_seconds_group(pgid):
    return _sum_group(cpu_seconds, pgid)


def raise_nofile(want=None):
    """Raise this process's RLIMIT_NOFILE soft limit (to the hard one by default)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    new = hard if want is None else min(want, hard)
    if new > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]
