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
        line = _readline(self.proc.stdout, self.ready_timeout)
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

    def stop(self, timeout=5.0):
        """SIGTERM, read the JSON line, wait. Returns the stats dict or None."""
        if self.proc is None or self.exit_code is not None:
            return self.stats
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise RuntimeError(f"echo_{self.model} did not exit within {timeout}s of SIGTERM")
        self.stderr += err.decode(errors="replace")
        self.exit_code = self.proc.returncode
        for ln in out.decode(errors="replace").splitlines():
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
            _, err = self.proc.communicate(timeout=5)
            self.stderr += err.decode(errors="replace")
        except (subprocess.TimeoutExpired, ValueError):
            pass
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
