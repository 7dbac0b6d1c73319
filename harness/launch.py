"""launch.py - the one process launcher of the harness, the gate and the tests.

A Child runs in its own process group, optionally pinned to CPUs, with
PR_SET_PDEATHSIG so that even a SIGKILLed parent leaves nothing; it is in
LIVE until reaped, and kill_all() (atexit, signals) kills every group still
there. A server is waited for until `READY <port>` with a deadline, stopped
with SIGTERM and a deadline, and its JSON counters line parsed; a client is
run to completion with a deadline (Child.communicate).

    srv = Child([path, "--port", "0"], cpus={0})
    port = srv.wait_ready(10)         # None: srv.error says why
    ...
    srv.stop(5)                       # False: no exit in time (the group is still there)
    counters, why = parse_json(srv.stdout_text())
    srv.kill()                        # SIGKILL the whole group, reap

Output: "drain" (the default) reads a pipe in a thread and keeps it (stderr:
the last `keep` bytes) so a chatty child never blocks; subprocess.PIPE or a
file object pass through to the caller.
"""

import atexit
import ctypes
import json
import os
import resource
import select
import signal
import subprocess
import sys
import threading
import time

from procfs import group_pids

DRAIN = "drain"
STDERR_KEEP = 256 << 10            # bytes of a drained stderr kept
PR_SET_PDEATHSIG = 1
try:
    _libc = ctypes.CDLL(None, use_errno=True)
except OSError:
    _libc = None

LIVE = {}                          # pgid -> Child, every group started and not yet reaped


def kill_all():
    """SIGKILL every process group still registered, and reap (idempotent)."""
    for c in list(LIVE.values()):
        c.kill()


def install_cleanup(exit_on_signal=False):
    """kill_all at exit, and on SIGTERM/SIGHUP (and SIGINT): raise
    KeyboardInterrupt, or with exit_on_signal exit 128+signal (atexit runs)."""
    atexit.register(kill_all)

    def on_signal(sig, frame):
        if exit_on_signal:
            sys.exit(128 + sig)
        raise KeyboardInterrupt
    for s in (signal.SIGTERM, signal.SIGHUP) + ((signal.SIGINT,) if exit_on_signal else ()):
        signal.signal(s, on_signal)


def exit_text(code):
    """A return code in words."""
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def parse_json(text):
    """The last JSON object line of a child's stdout: (dict, None), or (None,
    why) with why one of "no JSON line" and "unparsable JSON line"."""
    obj, why = None, "no JSON line"
    for ln in text.splitlines():
        ln = ln.strip()
        if ln.startswith("{"):
            try:
                obj, why = json.loads(ln), None
            except ValueError:
                why = "unparsable JSON line"
    return (obj, None) if obj is not None and why is None else (None, why)


class _Drain(threading.Thread):
    """Reads a pipe until EOF in the background; keeps all, or the last bytes."""

    def __init__(self, f, keep=None):
        super().__init__(daemon=True)
        self.f, self.keep = f, keep
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
                if self.keep and len(self.buf) > self.keep:
                    del self.buf[:len(self.buf) - self.keep]

    def text(self):
        with self.lock:
            return self.buf.decode(errors="replace")


def read_line(f, timeout):
    """One line from a pipe, giving up after timeout seconds (bytes, maybe partial)."""
    end = time.monotonic() + timeout
    buf = b""
    fd = f.fileno()
    while not buf.endswith(b"\n"):
        left = end - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            break
        c = os.read(fd, 1)
        if not c:
            break
        buf += c
    return buf


class Child:
    """One child process, the leader of its own process group."""

    def __init__(self, args, cpus=None, env=None, nofile=None, stdout=DRAIN, stderr=DRAIN,
                 keep=STDERR_KEEP, stdin=subprocess.DEVNULL, sched=None):
        self.args = list(args)
        self.port = None
        self.error = None              # why READY or the stop went wrong
        self.stop_s = None             # SIGTERM -> exit, seconds
        self._stdout_mode = stdout

        def pre():
            os.setpgid(0, 0)
            if _libc is not None:
                _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            if cpus:
                os.sched_setaffinity(0, cpus)
            if sched:                  # (policy, priority), e.g. (os.SCHED_FIFO, 1)
                os.sched_setscheduler(0, sched[0], os.sched_param(sched[1]))
            if nofile:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
            signal.signal(signal.SIGINT, signal.SIG_DFL)
        self.p = subprocess.Popen(
            self.args, stdin=stdin,
            stdout=subprocess.PIPE if stdout == DRAIN else stdout,
            stderr=subprocess.PIPE if stderr == DRAIN else stderr,
            preexec_fn=pre, close_fds=True, env=env)
        LIVE[self.p.pid] = self
        self._out = None
        self._err = _Drain(self.p.stderr, keep) if stderr == DRAIN else None

    @property
    def pid(self):
        return self.p.pid

    @property
    def returncode(self):
        return self.p.returncode

    def alive(self):
        return self.p.poll() is None

    def drain_stdout(self):
        if self._stdout_mode == DRAIN and self._out is None:
            self._out = _Drain(self.p.stdout)

    def wait_ready(self, timeout):
        """Read `READY <port>` within timeout s: the port, or None and self.error."""
        t0 = time.monotonic()
        line = read_line(self.p.stdout, timeout).decode(errors="replace")
        early = time.monotonic() - t0 < timeout      # EOF: the child is exiting
        self.drain_stdout()
        if line.startswith("READY "):
            try:
                self.port = int(line.split()[1])
                return self.port
            except (IndexError, ValueError):
                self.error = f"bad READY line {line.strip()!r}"
                return None
        if early:
            self.wait(1.0)         # its stdout closed a moment before it can be reaped
        self.p.poll()
        self.error = (f"{exit_text(self.p.returncode)} before READY" if self.p.returncode is not None
                      else f"first line is not READY: {line.strip()[:80]!r}" if line.strip()
                      else f"no READY line within {timeout:g} s")
        return None

    def wait(self, timeout):
        """True if the child exited within timeout s."""
        try:
            self.p.wait(timeout=timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def terminate(self):
        """SIGTERM to the child itself (a multi-process server signals its own)."""
        if self.p.poll() is None:
            try:
                self.p.send_signal(signal.SIGTERM)
            except OSError:
                pass

    def stop(self, timeout):
        """SIGTERM and wait up to timeout s: True if it exited (self.stop_s
        says when); False leaves it running, for the caller to kill."""
        t0 = time.monotonic()
        self.terminate()
        if not self.wait(timeout):
            self.error = f"no exit within {timeout:g} s of SIGTERM"
            return False
        self.stop_s = time.monotonic() - t0
        return True

    def leftover(self):
        """Processes of the group still running after the leader exited."""
        return [x for x in group_pids([self.pid]) if x != self.pid] if not self.alive() else []

    def kill(self):
        """SIGKILL the whole group, reap, collect the output (idempotent)."""
        if self.pid in LIVE:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except OSError:
                pass
        self.wait(5)
        self.forget()
        self.join_output(1.0)

    def forget(self):
        """Out of LIVE: its group is gone, so its id may be reused and must
        never be signalled again."""
        LIVE.pop(self.pid, None)

    def join_output(self, timeout):
        """Wait up to timeout s for the drained pipes' EOF (children may hold them)."""
        for d in (self._out, self._err):
            if d is not None:
                d.join(timeout)

    def communicate(self, timeout):
        """Run a client with PIPE output to the end: (code, stdout, stderr)
        as text; on timeout the group is killed and TimeoutExpired raised."""
        try:
            out, err = self.p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            self.p.communicate()
            raise
        finally:
            LIVE.pop(self.pid, None)
        dec = (lambda b: b.decode(errors="replace") if isinstance(b, bytes) else (b or ""))
        return self.p.returncode, dec(out), dec(err)

    def stdout_text(self):
        """What the child printed after its READY line (drained output only)."""
        return self._out.text() if self._out else ""

    def stderr_text(self):
        return self._err.text() if self._err else ""

    def stderr_tail(self, n, skip_prefix=None):
        lines = [ln for ln in self.stderr_text().splitlines()
                 if ln.strip() and not (skip_prefix and ln.startswith(skip_prefix))]
        return lines[-n:]

    def counters(self):
        """The JSON counters line printed after READY: (dict, None) or (None, why)."""
        return parse_json(self.stdout_text())
