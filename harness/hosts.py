"""Other machines over OpenSSH: reach them, put the suite there, run and end
processes there, and read their /proc (their generators' records are merged
by harness/merge.py).

Every command is `ssh -T -o BatchMode=yes HOST ...`: the user's own ssh
configuration (~/.ssh/config, or ssh_config= for the tests) and agent as they
are, never a password prompt. ConnectTimeout and ServerAliveInterval get
defaults only where that configuration leaves them unset (`ssh -G`).
Multiplexing (ControlMaster) is the user's choice: it saves the handshake
of each command.

A remote process runs in the session sshd makes for its channel (sshd calls
setsid), so its pid, process group and session are known and recorded
(start() reads them from a marker line); everything it forks stays in that
session. Two ways end it, both tracked in TRACKED until done:
  - kill_all() (end of a point, failure, Ctrl-C) kills each tracked
    session over ssh, then checks nothing of it is left;
  - a watchdog beside it (its own session, so not counted in the server's
    /proc) reads the channel's stdin and kills the group at EOF: when the
    controller closes the channel, dies (the local ssh has PDEATHSIG), or
    the host's sshd goes away. The ssh equivalent of PR_SET_PDEATHSIG.

The suite goes to a host from the current commit (`git archive HEAD`, or the
working tree for the tests) and is built there with the same `make`, so no
binary depends on the controller's libraries.
"""

import ctypes
import io
import json
import os
import queue
import selectors
import shlex
import signal
import subprocess
import tarfile
import threading
import time

from launch import exit_text, read_line

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REMOTE = os.path.join(ROOT, "harness", "remote")   # the scripts run on the hosts
HARNESS = "harness"                 # the deployed suite's harness folder
DEPLOY_PREFIX = "c10k-bench"        # deploy() replaces only folders named so
# Defaults where the user's ssh configuration sets nothing: a host that does
# not answer fails the reachability check in 10 s, and a host that vanishes
# mid-run is noticed within 3 x 5 s.
SSH_DEFAULTS = {"connecttimeout": ("ConnectTimeout", "10", "none"),
                "serveraliveinterval": ("ServerAliveInterval", "5", "0")}
MARKER_TIMEOUT_S = 30   # a remote command's start (login shell, rc files) here: ~1.5 s
PR_SET_PDEATHSIG = 1
TRACKED = {}            # id(Remote) -> Remote, every remote process not yet ended
_lock = threading.Lock()

try:
    _libc = ctypes.CDLL(None, use_errno=True)
except OSError:
    _libc = None


class HostError(Exception):
    """Something a host cannot do; the message is one line naming the host."""


def _pre():
    os.setpgid(0, 0)
    if _libc is not None:
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class _Spawner:
    """Starts every ssh client from one thread that lives as long as the
    program: PR_SET_PDEATHSIG fires when the thread that forked a child
    ends, so children forked by short-lived worker threads would die with
    them."""

    def __init__(self):
        self.q = queue.Queue()
        self.thread = None

    def _loop(self):
        while True:
            args, kw, box, done = self.q.get()
            try:
                box.append(subprocess.Popen(args, preexec_fn=_pre, **kw))
            except Exception as e:         # handed to the caller
                box.append(e)
            done.set()

    def popen(self, args, **kw):
        with _lock:
            if self.thread is None:
                self.thread = threading.Thread(target=self._loop, name="ssh-spawner",
                                               daemon=True)
                self.thread.start()
        box, done = [], threading.Event()
        self.q.put((args, kw, box, done))
        done.wait()
        if isinstance(box[0], Exception):
            raise box[0]
        return box[0]


_spawner = _Spawner()


def _run_ssh(args, timeout, input=None):
    """subprocess.run for an ssh client, started by the spawner thread."""
    p = _spawner.popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    try:
        out, err = p.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_local(p)
        raise
    return p.returncode, out, err


def _last_line(text):
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def _remote(name):
    """A script the hosts run, from harness/remote/ (sent as text: the host
    needs no copy of it)."""
    with open(os.path.join(REMOTE, name)) as f:
        return f.read()


_WRAPPER = _remote("wrapper.sh")      # start(): pid, group, session, watchdog, exec
_KILLER = _remote("killer.sh")        # kill(): sessions, and what is left of them
_UNPACK = _remote("unpack.sh")        # deploy(): the suite's tar into a folder, swapped in
_CONTEXT = _remote("context.sh")      # context(): kernel, CPUs, limits, NICs, route
_SAMPLER = _remote("sampler.py")      # sampler(): the deployed suite's procfs.snapshot


class Remote:
    """One process on a host, started by Host.start: a Popen-like view of
    the local ssh client (stdout, stderr, poll, wait, returncode) plus the
    remote pid, process group and session."""

    def __init__(self, host, args, popen):
        self.host, self.args, self.popen = host, list(args), popen
        self.name = os.path.basename(self.args[self.args.index("taskset") + 3]
                                     if self.args[0] == "taskset" else self.args[0])
        self.pid = self.pgid = self.sid = None
        self.stdin, self.stdout, self.stderr = popen.stdin, popen.stdout, popen.stderr
        self.ended = False

    @property
    def returncode(self):
        return self.popen.returncode

    def poll(self):
        return self.popen.poll()

    def wait(self, timeout=None):
        return self.popen.wait(timeout)

    def communicate(self, timeout=None):
        """(stdout, stderr) bytes until the command ends, as Popen's, but
        with the channel's stdin left open: closing it ends the command
        (the watchdog). subprocess.TimeoutExpired after timeout."""
        end = None if timeout is None else time.monotonic() + timeout
        bufs = {}
        sel = selectors.DefaultSelector()
        for f in (self.stdout, self.stderr):
            if f is not None:
                sel.register(f, selectors.EVENT_READ)
                bufs[f] = []
        try:
            while sel.get_map():
                left = None if end is None else end - time.monotonic()
                if left is not None and left <= 0:
                    raise subprocess.TimeoutExpired(self.args, timeout)
                for key, _ in sel.select(left):
                    chunk = os.read(key.fd, 65536)
                    if chunk:
                        bufs[key.fileobj].append(chunk)
                    else:
                        sel.unregister(key.fileobj)
        finally:
            sel.close()
        self.popen.wait(timeout=None if end is None else max(0.1, end - time.monotonic()))
        return (b"".join(bufs.get(self.stdout, [])), b"".join(bufs.get(self.stderr, [])))

    def lost(self):
        """True when the channel ended without the command's own exit status
        (ssh exits 255: host gone, sshd killed, network down)."""
        return self.popen.poll() == 255

    def failure(self, stderr_tail=""):
        """One line naming the host and why its process ended early."""
        code = self.popen.poll()
        if code is None:
            return None
        why = _last_line(stderr_tail)
        if code == 255:
            return f"host {self.host.spec}: connection lost ({why or 'ssh exit 255'})"
        return f"host {self.host.spec}: {self.name} {exit_text(code)}" + (
            f" ({why})" if why else "")

    def signal(self, sig=signal.SIGTERM):
        """Send sig to the remote process (its pid only, as a local kill(2))."""
        if self.pid is not None:
            self.host.run(f"kill -{int(sig)} {self.pid}", timeout=MARKER_TIMEOUT_S)

    def record(self):
        return dict(host=self.host.spec, pid=self.pid, pgid=self.pgid, sid=self.sid,
                    args=self.args)


class Sampler:
    """Snapshots of a remote process group's /proc, each a few ms (one
    remote python3 running procfs.snapshot, fed over its channel)."""

    def __init__(self, remote):
        self.remote = remote

    def snapshot(self, pgids, tasks=True):
        r = self.remote
        try:
            r.stdin.write(f"{'snap' if tasks else 'levels'} {' '.join(map(str, pgids))}\n".encode())
            r.stdin.flush()
        except (OSError, ValueError):
            return None
        line = _read_line(r.stdout, MARKER_TIMEOUT_S)
        try:
            return json.loads(line)
        except ValueError:
            return None

    def close(self):
        try:
            self.remote.stdin.close()
        except OSError:
            pass
        try:
            self.remote.wait(5)
        except subprocess.TimeoutExpired:
            pass


def _read_line(f, timeout):
    """One line from a pipe (nothing read past it), '' at EOF or timeout."""
    return read_line(f, timeout).decode(errors="replace")


class Host:
    """One machine reached by ssh. spec: [user@]host, or a Host alias."""

    def __init__(self, spec, ssh_config=None):
        if not spec or spec.startswith("-") or any(c.isspace() for c in spec):
            raise HostError(f"host '{spec}': not a [user@]host name")
        self.spec = spec
        self.ssh_config = ssh_config
        self.base = ["ssh", "-T", "-o", "BatchMode=yes"]
        if ssh_config:
            self.base += ["-F", ssh_config]
        self.base += self._defaults()

    def _defaults(self):
        """-o options for what the user's configuration leaves unset."""
        try:
            r = subprocess.run(self.base + ["-G", "--", self.spec], capture_output=True,
                               text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise HostError(f"host {self.spec}: cannot run ssh ({e})")
        if r.returncode != 0:
            raise HostError(f"host {self.spec}: ssh -G: {_last_line(r.stderr)}")
        eff = dict(ln.split(" ", 1) for ln in r.stdout.splitlines() if " " in ln)
        out = []
        for key, (opt, val, unset) in SSH_DEFAULTS.items():
            if eff.get(key, unset) == unset:
                out += ["-o", f"{opt}={val}"]
        return out

    def command(self, remote_cmd):
        """The local argv that runs remote_cmd (a shell string) on the host."""
        return self.base + ["--", self.spec, remote_cmd]

    def run(self, script, args=(), timeout=60, stdin=None):
        """Run a POSIX sh script with args on the host; (exit code, stdout,
        stderr). HostError if ssh itself fails (exit 255) or times out."""
        cmd = self.command(" ".join(["exec", "sh", "-c", shlex.quote(script), "c10k"]
                                    + [shlex.quote(str(a)) for a in args]))
        try:
            code, out, err = _run_ssh(cmd, timeout, stdin)
        except subprocess.TimeoutExpired:
            raise HostError(f"host {self.spec}: no answer within {timeout:g} s")
        out, err = out.decode(errors="replace"), err.decode(errors="replace")
        if code == 255:
            raise HostError(f"host {self.spec}: {_last_line(err) or 'ssh exit 255'}")
        return code, out, err

    def check(self, timeout=30):
        """Reachable without a prompt, able to run a command: else HostError."""
        code, out, err = self.run("echo c10k-reachable", timeout=timeout)
        if code != 0 or "c10k-reachable" not in out:
            raise HostError(f"host {self.spec}: cannot run a command "
                            f"({_last_line(err) or f'exit {code}'})")

    def context(self, route_to=None):
        """Kernel, CPU, CPUs, limits, NICs (driver, kind, MTU, speed) and,
        with route_to, the interface that carries traffic to that address."""
        code, out, err = self.run(_CONTEXT, [route_to or ""], timeout=MARKER_TIMEOUT_S)
        if code != 0:
            raise HostError(f"host {self.spec}: context script: {_last_line(err)}")
        ctx = dict(host=self.spec, nics=[])
        kinds = {}
        for ln in out.splitlines():
            k, _, v = ln.partition("=")
            if k == "nic":
                f = v.split()
                if len(f) == 5:
                    ctx["nics"].append(dict(name=f[0], driver=None if f[1] == "-" else f[1],
                                            mtu=_int(f[2]), speed_mbps=_int(f[3]), state=f[4]))
            elif k == "nickind":
                name, _, js = v.partition(" ")
                try:
                    info = json.loads(js)[0].get("linkinfo") or {}
                    kinds[name] = info.get("info_kind")
                except (ValueError, IndexError, AttributeError):
                    kinds[name] = None
            elif k == "route":
                f = v.split()
                ctx["route"] = v
                ctx["route_dev"] = f[f.index("dev") + 1] if "dev" in f[:-1] else None
            elif k in ("nproc", "cpus_online", "nofile_soft", "nofile_hard", "mem_total_kb",
                       "somaxconn"):
                ctx[k] = _int(v)
            elif k:
                ctx[k] = v
        for n in ctx["nics"]:
            n["kind"] = kinds.get(n["name"])
        return ctx

    def start(self, args, cwd=".", cpus=None, keep_stdin=False):
        """Start args (argv, relative to cwd on the host) in its own ssh
        channel, pinned to cpus (a taskset list such as '1-15') if given.
        Returns a tracked Remote whose stdout/stderr carry only the command's
        output. HostError if the host does not start it."""
        argv = (["taskset", "-c", str(cpus)] if cpus else []) + [str(a) for a in args]
        remote = " ".join(["exec", "sh", "-c", shlex.quote(_WRAPPER), "c10k", shlex.quote(cwd),
                           "1" if keep_stdin else "0"] + [shlex.quote(a) for a in argv])
        p = _spawner.popen(self.command(remote), stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        r = Remote(self, argv, p)
        with _lock:
            TRACKED[id(r)] = r
        # The user's rc files may print before our markers: skip it.
        end = time.monotonic() + MARKER_TIMEOUT_S
        noise = []
        while True:
            ln = _read_line(p.stderr, max(0.0, end - time.monotonic()))
            if ln.startswith("C10K-PID "):
                r.pid, r.pgid, r.sid = (int(x) for x in ln.split()[1:4])
                break
            if not ln:               # EOF (ssh failed) or no marker in time
                timed_out = p.poll() is None
                forget(r)
                _kill_local(p)
                why = _last_line("".join(noise)) or (
                    f"no answer within {MARKER_TIMEOUT_S} s" if timed_out
                    else f"ssh exit {p.returncode}")
                raise HostError(f"host {self.spec}: cannot start {argv[0]} ({why})")
            noise.append(ln)
        while True:
            ln = _read_line(p.stdout, max(0.0, end - time.monotonic()))
            if ln.strip() == "C10K-BEGIN" or not ln:
                break
        return r

    def sampler(self, suite_dir):
        """A /proc sampler on the host (see Sampler), from the deployed suite."""
        r = self.start(["python3", "-u", "-c", _SAMPLER, os.path.join(suite_dir, HARNESS)],
                       cwd=suite_dir, keep_stdin=True)
        return Sampler(r)

    def kill(self, remotes, timeout=30):
        """Kill these remote processes' sessions; returns the sessions still
        alive after it (empty: nothing left). HostError if unreachable."""
        sess = [f"{r.pgid}:{r.sid}" for r in remotes if r.sid is not None]
        if not sess:
            return []
        code, out, err = self.run(_KILLER, sess, timeout=timeout)
        for ln in out.splitlines():
            if ln.startswith("C10K-LEFT"):
                return [int(x) for x in ln.split()[1:]]
        raise HostError(f"host {self.spec}: kill script: {_last_line(err) or f'exit {code}'}")

    def deploy(self, dest, targets=(), tree="HEAD", jobs=None, root=ROOT, timeout=900):
        """Put the suite in dest on the host and build it there with make
        (make targets, or everything). tree "HEAD": `git archive HEAD`;
        "worktree": the working tree's tracked and untracked files (what the
        tests check). dest's last part must start with 'c10k-bench': the
        folder is replaced whole. Returns what was deployed and how long it
        took; HostError (with make's last line) if it fails."""
        if not os.path.basename(dest.rstrip("/")).startswith(DEPLOY_PREFIX):
            raise HostError(f"host {self.spec}: deploy folder '{dest}' must be named "
                            f"{DEPLOY_PREFIX}*: it is replaced whole")
        t0 = time.monotonic()
        commit = _git(root, "rev-parse", "HEAD").strip()
        dirty = bool(_git(root, "status", "--porcelain").strip())
        if tree == "HEAD":
            data = subprocess.run(["git", "-C", root, "archive", "--format=tar", "HEAD"],
                                  capture_output=True, check=True).stdout
        elif tree == "worktree":
            data = _worktree_tar(root)
        else:
            raise HostError(f"deploy: tree must be HEAD or worktree, not '{tree}'")
        code, out, err = self.run(_UNPACK, [dest.rstrip("/")], timeout=timeout, stdin=data)
        if code != 0:
            raise HostError(f"host {self.spec}: unpacking into {dest} failed "
                            f"({_last_line(err) or f'exit {code}'})")
        # make in its own tracked channel: its watchdog ends it if we go away
        r = self.start(["sh", "-c", 'j=$1; shift; [ "$j" = 0 ] && j=$(nproc); '
                        'exec make -j"$j" "$@"', "c10k-make", str(jobs or 0)] + list(targets),
                       cwd=dest)
        try:
            out, err = r.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_all([r])
            raise HostError(f"host {self.spec}: make did not finish within {timeout:g} s")
        forget(r)
        if r.returncode != 0:
            why = _last_line(err.decode(errors="replace")) or f"exit {r.returncode}"
            raise HostError(f"host {self.spec}: make failed in {dest} ({why}); "
                            "`make deps` there installs the Debian packages it needs")
        return dict(host=self.spec, dir=dest, tree=tree, commit=commit,
                    dirty=dirty if tree == "HEAD" else None, targets=list(targets),
                    seconds=round(time.monotonic() - t0, 2))


def _int(s):
    try:
        return int(s)
    except (TypeError, ValueError):
        return None


def _git(root, *args):
    return subprocess.run(["git", "-C", root, *args], capture_output=True, text=True,
                          check=True).stdout


def _worktree_tar(root):
    """A tar of the working tree as git sees it (tracked + untracked, not
    ignored; deleted files left out)."""
    names = _git(root, "ls-files", "-z", "-c", "-o", "--exclude-standard").split("\0")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for n in sorted(set(names)):
            p = os.path.join(root, n)
            if n and os.path.isfile(p):
                tf.add(p, arcname=n, recursive=False)
    return buf.getvalue()


def _kill_local(p):
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except OSError:
        pass
    try:
        p.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def forget(r):
    """r has ended by itself: stop tracking it (its channel is closed)."""
    with _lock:
        TRACKED.pop(id(r), None)
    r.ended = True


def check_all(hosts, timeout=30):
    """Check every host at once; returns one line per host that fails
    (naming it), [] when all answer."""
    errs = {}

    def one(h):
        try:
            h.check(timeout)
        except HostError as e:
            errs[h.spec] = str(e)
    ts = [threading.Thread(target=one, args=(h,), daemon=True) for h in hosts]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return [errs[h.spec] for h in hosts if h.spec in errs]


def contexts(hosts, route_to=None):
    """Every host's context, gathered at once: {spec: dict} (a host that
    fails has {"error": line})."""
    out = {}

    def one(h):
        try:
            out[h.spec] = h.context(route_to)
        except HostError as e:
            out[h.spec] = dict(host=h.spec, error=str(e))
    ts = [threading.Thread(target=one, args=(h,), daemon=True) for h in hosts]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return {h.spec: out[h.spec] for h in hosts}


def kill_all(remotes=None):
    """End tracked remote processes (default: all of them), every host at
    once: close each channel (its watchdog kills the group), kill the
    session over ssh, check nothing is left. Returns one line per host that
    could not confirm it (unreachable, or sessions still alive)."""
    with _lock:
        todo = list(TRACKED.values()) if remotes is None else list(remotes)
        for r in todo:
            TRACKED.pop(id(r), None)
    by_host = {}
    for r in todo:
        r.ended = True
        try:
            r.stdin.close()           # the watchdog's EOF
        except (OSError, ValueError):
            pass
        by_host.setdefault(r.host.spec, (r.host, []))[1].append(r)
    problems = {}

    def one(host, rs):
        try:
            left = host.kill(rs)
            if left:
                problems[host.spec] = (f"host {host.spec}: session(s) {left} still had "
                                       "processes after SIGKILL")
        except HostError as e:
            problems[host.spec] = f"{e} (its processes end when their channel closes)"
        for r in rs:
            _kill_local(r.popen)
    ts = [threading.Thread(target=one, args=hr, daemon=True) for hr in by_host.values()]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return [problems[s] for s in by_host if s in problems]
