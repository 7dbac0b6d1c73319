"""netns.py - network namespaces (root only): NET=veth's pair for the bench
(harness/topology.py) and the hosts of the multi-host tests (tests/hosts.t,
tests/bench-hosts.t import it from here: a helper both need lives in the product).

Topology(["server", "client1", ...]): one network namespace per name, each
with an eth0 veth link to a bridge in a bridge namespace, plus one veth from
the root namespace to that bridge so the controller (this process) reaches
them; addresses from one free /24 of 198.18.0.0/15 (RFC 2544's benchmark
range): host i gets .(i+1), the controller .254. start_sshd() runs Debian's
sshd in a namespace with a throwaway host key and an authorised key made in
a temp dir; ssh_config is a client config (IdentityFile, UserKnownHostsFile,
StrictHostKeyChecking accept-new) naming each host by its alias.

VethPair(): NET=veth, two namespaces ("srv", "gen") joined by one veth pair
(.1 and .2 of a /30), no bridge and no link to the root namespace.

close() (also on failure, from __exit__ and atexit) kills every process in
every namespace, deletes the namespaces (their veths go with them) and the
temp dir; leftovers() says what, if anything, is still there. Processes in
a network namespace share the host's pid namespace, so /proc sees them.
"""
import atexit
import ctypes
import ipaddress
import os
import shutil
import signal
import subprocess
import tempfile
import time

RANGE = ipaddress.ip_network("198.18.0.0/15")
SSHD = "/usr/sbin/sshd"          # Debian's openssh-server; sshd must be run by absolute path
PR_SET_PDEATHSIG = 1


def unavailable():
    """Why namespaces cannot be made here, or None."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, veth links, sshd)"
    if shutil.which("ip") is None:
        return "no ip(8): apt-get install iproute2"
    return None


def sshd_unavailable():
    """Why an sshd cannot be started here, or None."""
    if not os.access(SSHD, os.X_OK):
        return f"no {SSHD}: apt-get install openssh-server"
    if shutil.which("ssh") is None or shutil.which("ssh-keygen") is None:
        return "no ssh/ssh-keygen: apt-get install openssh-client"
    return None


def _run(*args, check=True):
    r = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=30)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(str(a) for a in args)}: "
                           f"{(r.stderr or r.stdout).strip() or f'exit {r.returncode}'}")
    return r.stdout


def exec_prefix(ns):
    """The command prefix that runs a program inside namespace ns."""
    return ["ip", "netns", "exec", ns]


def ns_pids(ns):
    """Pids of every process in network namespace ns ([] once it is gone)."""
    r = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True, timeout=10)
    return [int(x) for x in r.stdout.split()] if r.returncode == 0 else []


def ns_exists(ns):
    return os.path.exists(f"/run/netns/{ns}")


def _used_nets():
    """IPv4 networks already on the root namespace's addresses and routes."""
    out = []
    text = _run("ip", "-4", "-o", "addr", "show") + _run("ip", "-4", "route", "show")
    for tok in text.split():
        try:
            out.append(ipaddress.ip_network(tok, strict=False))
        except ValueError:
            pass
    return out


def free_subnet(prefixlen=24):
    """A subnet of 198.18.0.0/15 that nothing here uses yet (parallel tests
    each get their own, starting from their pid)."""
    used = _used_nets()
    subs = list(RANGE.subnets(new_prefix=prefixlen))
    start = os.getpid() % len(subs)
    for k in range(len(subs)):
        s = subs[(start + k) % len(subs)]
        if not any(s.overlaps(u) for u in used if u.prefixlen > 0):
            return s
    raise RuntimeError(f"no free /{prefixlen} left in {RANGE}")


def _preexec_pdeathsig():
    os.setpgid(0, 0)
    try:
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except OSError:
        pass


class _Namespaces:
    """Namespaces made by this object, and their end: kill, delete, verify."""

    def __init__(self, tag):
        self.tag = f"c10k{os.getpid()}{tag}"
        self.made = []            # namespace names, in creation order
        self.tmp = tempfile.mkdtemp(prefix=f"{self.tag}-")
        self.closed = False
        atexit.register(self.close)

    def ns(self, name):
        return f"{self.tag}-{name}"

    def _add_ns(self, name):
        ns = self.ns(name)
        _run("ip", "netns", "add", ns)
        self.made.append(ns)
        _run("ip", "-n", ns, "link", "set", "lo", "up")
        return ns

    def close(self):
        """Kill every process in our namespaces, delete them and the temp dir."""
        if self.closed:
            return
        self.closed = True
        for _ in range(50):
            pids = [p for ns in self.made for p in ns_pids(ns)]
            if not pids:
                break
            for p in pids:
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.05)
        for ns in reversed(self.made):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def leftovers(self):
        """What of ours is still there: namespaces, processes in them, sshds
        started from our temp dir. [] when nothing is."""
        out = [f"namespace {ns}" for ns in self.made if ns_exists(ns)]
        out += [f"pid {p} in {ns}" for ns in self.made for p in ns_pids(ns)]
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if self.tmp in cmd and "sshd" in cmd:
                out.append(f"sshd pid {d}: {cmd.strip()}")
        return out

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Topology(_Namespaces):
    """Hosts in namespaces on one bridge, reachable from the root namespace."""

    def __init__(self, names):
        super().__init__("")
        self.names = list(names)
        self.net = free_subnet(24)
        hosts = list(self.net.hosts())
        self.addr = {n: str(hosts[i]) for i, n in enumerate(self.names)}
        self.controller_addr = str(hosts[253])
        self.sshd = {}             # name -> Popen
        self.ssh_config = os.path.join(self.tmp, "ssh_config")
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    def _build(self):
        p = self.net.prefixlen
        br = self._add_ns("br")
        _run("ip", "-n", br, "link", "add", "br0", "type", "bridge")
        _run("ip", "-n", br, "link", "set", "br0", "up")
        for i, n in enumerate(self.names):
            ns = self._add_ns(n)
            _run("ip", "link", "add", "eth0", "netns", ns, "type", "veth",
                 "peer", "name", f"p{i}", "netns", br)
            _run("ip", "-n", br, "link", "set", f"p{i}", "master", "br0", "up")
            _run("ip", "-n", ns, "addr", "add", f"{self.addr[n]}/{p}", "dev", "eth0")
            _run("ip", "-n", ns, "link", "set", "eth0", "up")
        # the controller's link: its root-namespace end goes when br is deleted
        self.root_if = self.tag[:15]
        _run("ip", "link", "add", self.root_if, "type", "veth", "peer", "name", "ctl",
             "netns", br)
        _run("ip", "-n", br, "link", "set", "ctl", "master", "br0", "up")
        _run("ip", "addr", "add", f"{self.controller_addr}/{p}", "dev", self.root_if)
        _run("ip", "link", "set", self.root_if, "up")

    def alias(self, name):
        """The ssh host name of a host in ssh_config."""
        return f"c10k-{name}"

    def start_sshd(self, names=None, timeout=10.0):
        """An sshd in each named namespace (default all), root login with the
        test's key only; writes ssh_config. Returns once each one listens."""
        names = self.names if names is None else names
        key = os.path.join(self.tmp, "id_ed25519")
        if not os.path.exists(key):
            _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "c10k-test", "-f", key)
            shutil.copy(key + ".pub", os.path.join(self.tmp, "authorized_keys"))
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)   # sshd's privilege-separation dir
        for n in names:
            hk = os.path.join(self.tmp, f"host_{n}")
            _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", hk)
            conf = os.path.join(self.tmp, f"sshd_{n}.conf")
            with open(conf, "w") as f:
                f.write(f"ListenAddress {self.addr[n]}\nPort 22\nHostKey {hk}\n"
                        f"PidFile {self.tmp}/sshd_{n}.pid\n"
                        f"AuthorizedKeysFile {self.tmp}/authorized_keys\n"
                        "StrictModes no\nPermitRootLogin prohibit-password\n"
                        "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
                        "UsePAM no\nPrintMotd no\nPrintLastLog no\nLogLevel ERROR\n"
                        "MaxSessions 64\nMaxStartups 64\n"
                        # Debian's bash reads ~/.bashrc for a command run by sshd
                        # unless SHLVL says it is nested: root's rc files here
                        # (pyenv) cost 1.5 s and ~100 processes per command.
                        "SetEnv SHLVL=1\n")
            log = open(os.path.join(self.tmp, f"sshd_{n}.log"), "wb")
            self.sshd[n] = subprocess.Popen(
                exec_prefix(self.ns(n)) + [SSHD, "-D", "-e", "-f", conf],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                preexec_fn=_preexec_pdeathsig)
            log.close()
        with open(self.ssh_config, "w") as f:
            for n in self.names:
                f.write(f"Host {self.alias(n)}\n  HostName {self.addr[n]}\n  User root\n"
                        f"  IdentityFile {key}\n  IdentitiesOnly yes\n"
                        f"  UserKnownHostsFile {self.tmp}/known_hosts\n"
                        "  StrictHostKeyChecking accept-new\n  LogLevel ERROR\n")
        end = time.monotonic() + timeout
        for n in names:
            while not self._listening(n):
                if self.sshd[n].poll() is not None or time.monotonic() > end:
                    with open(os.path.join(self.tmp, f"sshd_{n}.log"), "rb") as f:
                        why = f.read().decode(errors="replace").strip().splitlines()
                    raise RuntimeError(f"sshd in {n} did not start: "
                                       f"{why[-1] if why else 'no output'}")
                time.sleep(0.05)

    def _listening(self, n):
        out = _run("ip", "netns", "exec", self.ns(n), "ss", "-Htln", check=False)
        return f"{self.addr[n]}:22 " in out

    def kill_sshd(self, name):
        """The host fails: SIGKILL its sshd and every sshd process it forked
        (one per connection), leaving what they ran to its own devices."""
        ns = self.ns(name)
        for p in ns_pids(ns):
            try:
                with open(f"/proc/{p}/comm") as f:
                    comm = f.read().strip()
            except OSError:
                continue
            if comm.startswith("sshd"):
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
        self.sshd[name].wait(timeout=5)

    def non_sshd_pids(self, name):
        """Processes in a host's namespace other than its sshds."""
        out = []
        for p in ns_pids(self.ns(name)):
            try:
                with open(f"/proc/{p}/comm") as f:
                    comm = f.read().strip()
            except OSError:
                continue
            if not comm.startswith("sshd"):
                out.append(f"{p} {comm}")
        return out

    def close(self):
        for p in self.sshd.values():
            if p.poll() is None:
                p.kill()
                p.wait(timeout=5)
        super().close()


class VethPair(_Namespaces):
    """NET=veth: a server namespace and a generator namespace joined by one
    veth pair. run the server under exec_prefix(self.server_ns) with --addr
    self.server_addr, the generator under exec_prefix(self.client_ns) with
    --host self.server_addr --allow-host self.server_addr."""

    def __init__(self):
        super().__init__("v")
        net = free_subnet(30)
        a, b = (str(x) for x in net.hosts())
        self.server_addr, self.client_addr = a, b
        try:
            self.server_ns = self._add_ns("srv")
            self.client_ns = self._add_ns("gen")
            _run("ip", "link", "add", "eth0", "netns", self.server_ns, "type", "veth",
                 "peer", "name", "eth0", "netns", self.client_ns)
            for ns, ad in ((self.server_ns, a), (self.client_ns, b)):
                _run("ip", "-n", ns, "addr", "add", f"{ad}/30", "dev", "eth0")
                _run("ip", "-n", ns, "link", "set", "eth0", "up")
        except BaseException:
            self.close()
            raise

    def record(self):
        """What a point record stores about the topology."""
        return dict(net="veth", server_ns=self.server_ns, client_ns=self.client_ns,
                    server_addr=self.server_addr, client_addr=self.client_addr)
