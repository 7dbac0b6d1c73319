"""Shared helpers for the integration tests: TAP output, servers started and
always stopped, and /proc readings.

Every test file is a TAP producer run by `prove`. A server is started with
`--port 0`, its port read from the READY line, and stopped with SIGTERM (its
JSON counters collected); its whole process group is killed on any exit path.
"""
import atexit
import json
import os
import resource
import select
import signal
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PAGE = os.sysconf("SC_PAGE_SIZE")
HZ = os.sysconf("SC_CLK_TCK")


class TAP:
    """Minimal TAP 13 producer: plan at the end, failures counted, exit code."""

    def __init__(self):
        self.n = 0
        self.failed = 0
        sys.stdout.reconfigure(line_buffering=True)

    def ok(self, cond, name, diag=None):
        self.n += 1
        print(f"{'ok' if cond else 'not ok'} {self.n} - {name}")
        if not cond:
            self.failed += 1
            if diag:
                self.diag(diag)
        return cond

    def skip(self, name, why):
        self.n += 1
        print(f"ok {self.n} - {name} # SKIP {why}")

    def diag(self, msg):
        for line in str(msg).splitlines() or [""]:
            print(f"# {line}")

    @staticmethod
    def skip_all(why):
        print(f"1..0 # SKIP {why}")
        sys.exit(0)

    def done(self):
        print(f"1..{self.n}")
        sys.exit(1 if self.failed else 0)


def bin_dir():
    """Folder with the binaries under test: $C10K_BIN or <root>/bin."""
    return os.environ.get("C10K_BIN", os.path.join(ROOT, "bin"))


_live = []


def _kill_all():
    for p in _live:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except OSError:
            pass


atexit.register(_kill_all)
for _sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(_sig, lambda s, f: sys.exit(128 + s))


class Server:
    """An echo server under test. Use as a context manager:

        with Server("epoll_lt", nofile=64) as srv:
            sock = socket.create_connection(("127.0.0.1", srv.port))
        srv.stats  # the JSON counters it printed on SIGTERM
    """

    def __init__(self, model, args=(), nofile=None, bindir=None, ready_timeout=10.0,
                 path=None, env=None):
        self.model = model
        self.path = path or os.path.join(bindir or bin_dir(), f"echo_{model}")
        self.args = list(args)
        self.nofile = nofile
        self.ready_timeout = ready_timeout
        self.env = env
        self.proc = None
        self.port = None
        self.stats = None
        self.exit_code = None
        self.stderr = ""
        self.stdout = ""        # everything printed after the READY line
        self.stop_seconds = None  # SIGTERM -> exit, measured by stop()

    def _preexec(self):
        os.setpgid(0, 0)
        if self.nofile:
            resource.setrlimit(resource.RLIMIT_NOFILE, (self.nofile, self.nofile))

    def start(self):
        if not os.access(self.path, os.X_OK):
            raise RuntimeError(f"{self.path} is not built")
        self.proc = subprocess.Popen(
            [self.path, "--port", "0", *self.args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            preexec_fn=self._preexec, env=self.env)
        _live.append(self.proc)
        # Drain stderr (and, after READY, stdout) all the time: a server that
        # logs a lot must not block on a full pipe and look hung or idle.
        self._drains = [_Drain(self.proc.stderr, keep_last=256 << 10)]
        line = _readline(self.proc.stdout, self.ready_timeout)
        self._drains.insert(0, _Drain(self.proc.stdout, keep_last=None))
        if not line.startswith(b"READY "):
            self.kill()
            raise RuntimeError(f"echo_{self.model}: no READY line within "
                               f"{self.ready_timeout}s (got {line!r}); stderr: {self.stderr}")
        self.port = int(line.split()[1])
        return self

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def _collect(self, timeout):
        """Wait for the pipes' EOF (children may hold them), then keep their text."""
        for d in self._drains:
            d.join(timeout)
        self.stdout = self._drains[0].text()
        self.stderr = self._drains[1].text()

    def stop(self, timeout=5.0):
        """SIGTERM, read the JSON line, wait. Returns the stats dict or None."""
        if self.proc is None or self.exit_code is not None:
            return self.stats
        t0 = time.monotonic()
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
            self.stop_seconds = time.monotonic() - t0
        except subprocess.TimeoutExpired:
            self.kill()
            raise RuntimeError(f"echo_{self.model} did not exit within {timeout}s of SIGTERM")
        self._collect(1.0)
        self.exit_code = self.proc.returncode
        for ln in self.stdout.splitlines():
            ln = ln.strip()
            if ln.startswith("{"):
                try:
                    self.stats = json.loads(ln)
                except ValueError:
                    pass
        _forget(self.proc)
        return self.stats

    def kill(self):
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self._collect(1.0)
        self.exit_code = self.proc.returncode
        _forget(self.proc)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        try:
            self.stop()
        except RuntimeError:
            pass
        return False


class _Drain(threading.Thread):
    """Reads a pipe until EOF in the background; keeps all of it, or the last bytes."""

    def __init__(self, f, keep_last=None):
        super().__init__(daemon=True)
        self.f, self.keep_last = f, keep_last
        self.buf = bytearray()
        self.lock = threading.Lock()
        self.start()

    def run(self):
        fd = self.f.fileno()
        while True:
            try:
                b = os.read(fd, 65536)
            except OSError:
                break
            if not b:
                break
            with self.lock:
                self.buf += b
                if self.keep_last and len(self.buf) > self.keep_last:
                    del self.buf[:len(self.buf) - self.keep_last]

    def text(self):
        with self.lock:
            return self.buf.decode(errors="replace")


def _forget(p):
    if p in _live:
        _live.remove(p)


def _readline(f, timeout):
    """Read one line from a pipe, giving up after timeout seconds."""
    end = time.monotonic() + timeout
    buf = b""
    fd = f.fileno()
    while not buf.endswith(b"\n"):
        left = end - time.monotonic()
        if left <= 0:
            break
        r, _, _ = select.select([fd], [], [], left)
        if not r:
            break
        c = os.read(fd, 1)
        if not c:
            break
        buf += c
    return buf


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
# group id is the server's pid; the readings below sum over that group.

def group_pids(pgid):
    """Live pids whose process group is pgid (the leader first)."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            pids.append(int(d))
    pids.sort(key=lambda p: (p != pgid, p))
    return pids


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
