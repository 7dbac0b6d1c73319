"""Other machines over OpenSSH: reach them, put the suite there, run and end
processes there, read their /proc, and merge their generators' histograms.

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


# The remote side of start(): record pid, group and session, start the
# watchdog (double fork: it must not be the command's child, a prefork
# server reaps its children), then become the command. $1 = cwd, $2 = 1 when
# the command keeps the channel's stdin (then it ends at EOF itself).
_WRAPPER = r'''
read -r _ _ _ _ pgid sid _ < /proc/$$/stat
echo "C10K-PID $$ $pgid $sid" >&2
echo C10K-BEGIN
cd "$1" || exit 127
keep=$2; shift 2
if [ "$keep" = 1 ]; then exec "$@"; fi
exec 3<&0
( setsid sh -c 'cat >/dev/null; kill -KILL -- "-$1" 2>/dev/null; pkill -KILL -s "$2" 2>/dev/null' \
    c10k-watchdog "$pgid" "$sid" <&3 >/dev/null 2>&1 & )
exec 3<&-
exec "$@" </dev/null
'''

# Kill sessions "pgid:sid ..." and say which still have processes after 3 s.
_KILLER = r'''
for ps in "$@"; do
  kill -KILL -- "-${ps%%:*}" 2>/dev/null; pkill -KILL -s "${ps##*:}" 2>/dev/null
done
i=0
while [ $i -lt 30 ]; do
  left=""
  for ps in "$@"; do pgrep -s "${ps##*:}" >/dev/null 2>&1 && left="$left ${ps##*:}"; done
  [ -z "$left" ] && break
  for ps in $left; do pkill -KILL -s "$ps" 2>/dev/null; done
  sleep 0.1; i=$((i + 1))
done
echo "C10K-LEFT$left"
'''

# deploy(): unpack the suite's tar (stdin) into $1.new, then swap it in:
# the old folder goes only once the new one is whole.
_UNPACK = r'''
d=$1
rm -rf "$d.new" && mkdir -p "$d.new" && tar -x -C "$d.new" && rm -rf "$d" && mv "$d.new" "$d"
'''

# Host context: one key=value per line; nic=NAME DRIVER MTU SPEED STATE.
_CONTEXT = r'''
echo "kernel=$(uname -r)"
echo "kernel_version=$(uname -v)"
echo "machine=$(uname -m)"
echo "hostname=$(uname -n)"
echo "cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
echo "nproc=$(nproc)"
echo "cpus_online=$(getconf _NPROCESSORS_ONLN)"
echo "cpus_allowed=$(sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' /proc/self/status)"
echo "nofile_soft=$(ulimit -Sn)"
echo "nofile_hard=$(ulimit -Hn)"
echo "mem_total_kb=$(sed -n 's/^MemTotal:[[:space:]]*\([0-9]*\).*/\1/p' /proc/meminfo)"
echo "somaxconn=$(cat /proc/sys/net/core/somaxconn)"
echo "ip_local_port_range=$(cat /proc/sys/net/ipv4/ip_local_port_range | tr '\t' ' ')"
echo "python3=$(command -v python3)"
for d in /sys/class/net/*; do
  n=${d##*/}; [ "$n" = lo ] && continue
  drv=-; [ -e "$d/device/driver" ] && drv=$(basename "$(readlink -f "$d/device/driver")")
  f=""; for x in mtu speed operstate; do f="$f $(cat "$d/$x" 2>/dev/null || echo -)"; done
  echo "nic=$n $drv$f"
  echo "nickind=$n $(ip -j -d link show dev "$n" 2>/dev/null)"
done
[ -n "$1" ] && echo "route=$(ip -o route get "$1" 2>/dev/null | head -n 1)"
true
'''

# The /proc sampler: the deployed suite's own procfs.snapshot, answering one
# JSON line per "snap PGID..." (with per-thread CPU and switches) or
# "levels PGID..." (memory, threads, fds only) line, until EOF.
_SAMPLER = r'''
import json, sys
sys.path.insert(0, sys.argv[1])
import procfs
for line in sys.stdin:
    w = line.split()
    if w:
        snap = procfs.snapshot([int(x) for x in w[1:]], tasks=w[0] == "snap")
        print(json.dumps(snap), flush=True)
'''


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


# ---- histograms ----------------------------------------------------------------
# loadgen --json --buckets writes "latency_hist": its non-empty buckets as
# [lowest, highest equivalent, count] (clients/hist.c's layout). Merging adds
# counts bucket by bucket; a percentile of the merged counts uses hist.c's
# rule (HdrHistogram's rank: at least 1, rounded half up; the bucket's
# highest equivalent value, capped at the exact max). Never an average of
# percentiles.

def merge_hists(hists):
    """One histogram from several loadgen "latency_hist" objects."""
    buckets = {}
    tot = dict(total=0, sum=0, min=None, max=0, over=0)
    for h in hists:
        if not h:
            continue
        for lo, hi, n in h["buckets"]:
            have = buckets.get(lo)
            if have and have[0] != hi:
                raise ValueError(f"histograms disagree on the bucket at {lo} us "
                                 f"(up to {have[0]} or {hi}): different loadgen builds?")
            buckets[lo] = [hi, (have[1] if have else 0) + n]
        tot["total"] += h["total"]
        tot["sum"] += h["sum"]
        tot["over"] += h.get("over", 0)
        tot["max"] = max(tot["max"], h["max"])
        if h["total"]:
            tot["min"] = h["min"] if tot["min"] is None else min(tot["min"], h["min"])
    tot["min"] = tot["min"] or 0
    tot["buckets"] = [[lo, hi, n] for lo, (hi, n) in sorted(buckets.items())]
    return tot


def hist_percentile(h, p):
    """Value at percentile p (0..100) of a (merged) histogram."""
    if not h["total"]:
        return 0
    rank = max(1, int(min(p, 100.0) / 100.0 * h["total"] + 0.5))
    seen = 0
    for _lo, hi, n in h["buckets"]:
        seen += n
        if seen >= rank:
            return min(hi, h["max"])
    return h["max"]


def hist_summary(h):
    """The shape of loadgen's "latency_us" for a (merged) histogram."""
    pct = {"p50": 50, "p90": 90, "p99": 99, "p999": 99.9, "p9999": 99.99}
    out = {k: hist_percentile(h, p) for k, p in pct.items()}
    out.update(max=h["max"] if h["total"] else 0,
               mean=round(h["sum"] / h["total"], 1) if h["total"] else 0.0,
               count=h["total"], over_range=h.get("over", 0))
    return out


_SUMMED = ("conns", "connected", "connect_errors", "active", "echoes", "echoes_per_s",
           "bytes_per_s", "idle_echoes", "verify_errors", "unexpected_closes", "timeouts",
           "open_missed", "unfinished", "conns_per_s", "rate")


def merge_clients(parts):
    """One generator record from several hosts' loadgen JSON objects (in
    `parts`, {spec: json}): counts and rates added, latency from the merged
    histogram, each part kept under "hosts". Figures that cannot be merged
    exactly from summaries (the light/heavy split, connect latency, Jain's
    index) are kept only when there is a single part."""
    js = [j for j in parts.values() if j]
    if not js:
        return None
    out = {k: sum(j.get(k) or 0 for j in js) for k in _SUMMED}
    out["duration_s"] = max(j.get("duration_s") or 0 for j in js)
    for k in ("size", "mode", "depth", "warmup_s", "idle_ping_s", "host", "allowed_host"):
        out[k] = js[0].get(k)
    out["threads"] = sum(j.get("threads", 1) * j.get("procs", 1) for j in js)
    out["procs"] = sum(j.get("procs", 1) for j in js)
    cpu = [j.get("client_cpu_s") or {} for j in js]
    out["client_cpu_s"] = dict(user=sum(c.get("user", 0) for c in cpu),
                               sys=sum(c.get("sys", 0) for c in cpu))
    out["client_saturated"] = any(j.get("client_saturated") for j in js)
    out["interrupted"] = any(j.get("interrupted") for j in js)
    reasons = {}
    for j in js:
        for k, v in (j.get("connect_error_reasons") or {}).items():
            reasons[k] = reasons.get(k, 0) + v
    out["connect_error_reasons"] = reasons
    fair = [j.get("fairness") or {} for j in js]
    out["fairness"] = dict(min=min((f.get("min", 0) for f in fair), default=0),
                           max=max((f.get("max", 0) for f in fair), default=0),
                           jain=fair[0].get("jain") if len(js) == 1 else None)
    if all(j.get("latency_hist") for j in js):
        h = merge_hists([j["latency_hist"] for j in js])
        out["latency_hist"] = h
        out["latency_us"] = hist_summary(h)
    else:
        out["latency_us"] = js[0].get("latency_us") if len(js) == 1 else None
    for k in ("light_latency_us", "heavy_latency_us", "connect_latency_us"):
        if len(js) == 1 and k in js[0]:
            out[k] = js[0][k]
    out["hosts"] = {spec: {k: j.get(k) for k in ("echoes", "echoes_per_s", "duration_s",
                                                  "latency_us", "client_saturated")}
                    if j else None for spec, j in parts.items()}
    return out
