"""topology.py - where and how a point's server and generators run.

runner.py asks a topology for four things and knows nothing else about
machines: start server instance i (a Child-like object: wait_ready, alive,
terminate, wait, kill, counters, stderr_tail, pid), start the generators
(one or several Gen), read the server's /proc (snapshot), and what to
record. Three topologies:

  Local(net="loopback")  today's: the server on the first SERVER_CPUS usable
                         CPUs, bin/loadgen on the rest with one thread per
                         CPU (cpuplan.plan), 127.0.0.1 and --src 127.0.0.2-9.
  Local(net="veth")      the same CPU plan, the server and the generator in
                         two network namespaces joined by one veth pair
                         (198.18.0.0/15, harness/netns.py): the data
                         crosses a network device and its queue.
  Hosts(server, clients) the server on SERVER_HOST (pinned to its first
                         SERVER_CPUS CPUs), one generator per CLIENT_HOSTS
                         entry with an equal share of the connections and
                         of the offered rate, over ssh (harness/hosts.py):
                         suite deployed from the current commit and built
                         there, /proc read there, histograms merged.

Every process a point starts is ended at the point's end (end_point), on
failure and on Ctrl-C (close): launch.kill_all for local ones,
hosts.kill_all for remote ones.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import threading

import cpuplan
import hosts
import launch
import models
import netns
import procfs
import sweeps
from launch import Child

NETS = ("loopback", "veth")
LOOPBACK = "127.0.0.1"
# sysctls that are per network namespace and bound a point: a new namespace
# starts from the kernel's defaults, so the root namespace's values are copied.
NS_SYSCTLS = ("net/core/somaxconn", "net/ipv4/ip_local_port_range",
              "net/ipv4/tcp_max_syn_backlog")
# The CPUs the harness was started with: begin_point narrows the harness's
# own affinity to the generator's CPUs, so a plan made later reads these.
STARTUP_CPUS = cpuplan.usable_cpus()


class TopologyError(Exception):
    """A topology that cannot be set up; one line naming why."""


def set_flag(args, flag, value=None):
    """args with `flag value` replaced (or appended); value None removes it."""
    out, i = [], 0
    while i < len(args):
        if args[i] == flag:
            i += 2
            continue
        out.append(args[i])
        i += 1
    return out + ([flag, str(value)] if value is not None else [])


def share(total, k, i):
    """Part i of total split over k as evenly as whole numbers allow."""
    return total // k + (1 if i < total % k else 0)


def server_cpus_of(plan, pt, i):
    """The planned (declared, on a declared topology) CPUs of server instance
    i: none for a sweep whose server may use every CPU (or on one shared CPU);
    one CPU each when there is one --reuseport instance per server CPU (the
    cores sweep); else the plan's."""
    if pt["server_cpus"] == "all" or plan.shared:
        return None
    if pt["server_procs"] > 1 and pt["server_procs"] == len(plan.server):
        return (plan.server[i],)
    return plan.server


def server_pins(plan, pt, i):
    """The real CPU set server instance i is pinned to (None: not pinned)."""
    cpus = server_cpus_of(plan, pt, i)
    return None if cpus is None else plan.pin_server(cpus)


def cpus_args(plan, pt, i, args):
    """args, plus the flag that gives a model one thread per CPU (models.py
    cpus_flag) when the instance really has fewer CPUs than planned (a
    declared topology): it would count its affinity mask."""
    flag = models.attr(pt["model"], "cpus_flag", "")
    want = server_cpus_of(plan, pt, i)
    if not flag or want is None or flag in args or len(plan.pin_server(want)) == len(want):
        return args
    return list(args) + [flag, str(len(want))]


def placement_problems(plan, pt, seen):
    """What /proc shows the server did not get of the plan (procfs.placement's
    `seen`, one entry per instance): each instance's tasks on exactly its
    pinned CPUs, one --reuseport instance per planned CPU, and a model that
    runs one thread per CPU (cpus_flag) with that many besides its main one.
    [] when it matches (or nothing was pinned)."""
    out = []
    if pt["server_procs"] > 1 and len(seen) != pt["server_procs"]:
        out.append(f"{len(seen)} server processes running, not {pt['server_procs']}")
    for i, got in enumerate(seen):
        want = server_cpus_of(plan, pt, i)
        if want is None:
            continue
        pins = cpuplan.format_cpulist(plan.pin_server(want))
        if got["cpus"] != [pins]:
            out.append(f"server {i + 1}: tasks on CPUs {' / '.join(got['cpus'])}, "
                       f"not the plan's {pins}")
        if models.attr(pt["model"], "cpus_flag") and got["threads"] < len(want) + 1:
            out.append(f"server {i + 1}: {got['threads']} threads for {len(want)} CPUs "
                       "(one per CPU and the main one)")
    return out


def point_server_cpus(pt, default):
    """S for a point: the cores sweep's own ("1", "2", ...), else SERVER_CPUS."""
    v = str(pt["server_cpus"])
    return int(v) if v.isdigit() and int(v) >= 1 else default


class Gen:
    """One generator process: its pipes, and how it ends."""

    def __init__(self, label, cmd, out, err, proc, remote=None):
        self.label, self.cmd = label, cmd
        self.out, self.err = out, err
        self.proc, self.remote = proc, remote

    @property
    def returncode(self):
        return self.proc.returncode if self.remote is None else self.remote.returncode

    def wait(self, timeout):
        if self.remote is None:
            return self.proc.wait(timeout)
        try:
            self.remote.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def kill(self):
        if self.remote is None:
            self.proc.kill()
        elif not self.remote.ended:
            hosts.kill_all([self.remote])

    def release(self):
        """loadgen --hold: its connections may close now (a line, then EOF, on
        its stdin); nothing for a generator without a stdin pipe."""
        w = self.proc.p.stdin if self.remote is None else None
        if w is not None and not w.closed:
            try:
                w.write(b"\n")
                w.close()
            except OSError:
                pass

    def failure(self, err_lines):
        """Why a remote generator's channel ended early (host lost), or None."""
        if self.remote is not None and self.remote.lost():
            return self.remote.failure("\n".join(err_lines))
        return None


class Local:
    """This machine: the CPU plan, over loopback or a veth pair."""

    name = "local"

    def __init__(self, server_cpus=1, net="loopback", usable=None, nofile=None, declare=None):
        if net not in NETS:
            raise TopologyError(f"NET: '{net}' is not one of {', '.join(NETS)}")
        self.usable = tuple(usable if usable is not None else STARTUP_CPUS)
        # declare=N: plan for CPUs 0..N-1, run on the real ones (cpuplan.map_real)
        self.real = None
        if declare is not None:
            self.real, self.usable = self.usable, tuple(range(cpuplan.parse_declared(declare)))
        self.server_cpus = cpuplan.parse_server_cpus(server_cpus)
        self.nofile = nofile
        self.net = net
        self.veth = None
        self.plan(None)               # PlanError now, before anything runs

    # ---- before the run ------------------------------------------------------
    def plan(self, pt):
        s = point_server_cpus(pt, self.server_cpus) if pt else self.server_cpus
        return cpuplan.plan(self.usable, s, pt["conns"] if pt else None, self.nofile,
                            real=self.real)

    def preflight(self, out=sys.stderr):
        """Lines for the preflight, after the limits; TopologyError if the
        topology cannot be made."""
        out.write("preflight: " + cpuplan.describe(self.plan(None)) + "\n")
        if self.net == "veth":
            why = netns.unavailable()
            if why:
                raise TopologyError(f"NET=veth: {why}")
            try:
                self.veth = netns.VethPair()
                for ns in (self.veth.server_ns, self.veth.client_ns):
                    for k in NS_SYSCTLS:
                        with open(f"/proc/sys/{k}") as f:
                            v = " ".join(f.read().split())
                        subprocess.run(netns.exec_prefix(ns) + ["sh", "-c", f'echo "$1" > /proc/sys/{k}',
                                                                "c10k", v],
                                       capture_output=True, timeout=10, check=True)
            except (RuntimeError, OSError, subprocess.SubprocessError) as e:
                self.close()
                raise TopologyError(f"NET=veth: cannot make the namespaces ({e})")
            out.write(f"preflight: NET=veth: server in {self.veth.server_ns} "
                      f"({self.veth.server_addr}), generator in {self.veth.client_ns} "
                      f"({self.veth.client_addr}), one veth pair; "
                      f"{', '.join(k.split('/')[-1] for k in NS_SYSCTLS)} copied in\n")
        else:
            out.write("preflight: NET=loopback: server and generator on 127.0.0.1\n")

    def pinning(self):
        """Where the run pins its points (context.json): the CPU plan's server
        and generator CPUs; None when they share the one usable CPU."""
        p = self.plan(None)
        if p.shared:
            return None
        d = dict(server_cpus=cpuplan.format_cpulist(p.server),
                 client_cpus=cpuplan.format_cpulist(p.client))
        if p.declared:
            d.update(declared_cpus=len(p.usable), real_server_cpus=cpuplan.format_cpulist(
                p.pin_server()), real_client_cpus=cpuplan.format_cpulist(p.pin_client()))
        return d

    def context(self):
        return dict(kind=self.name, net=self.net, plan=self.plan(None).record(),
                    veth=self.veth.record() if self.veth else None,
                    cores_skipped=sweeps.cores_skip_reason(len(self.usable)),
                    declared=None if self.real is None else dict(
                        cpus=len(self.usable), real_cpus=cpuplan.format_cpulist(self.real)))

    # ---- a point -------------------------------------------------------------
    def record(self, pt):
        """What every point record stores about where it ran."""
        d = dict(kind=self.name, net=self.net, **self.plan(pt).record())
        if self.veth:
            d.update(server_addr=self.veth.server_addr, client_addr=self.veth.client_addr)
        return d

    def begin_point(self, pt):
        p = self.plan(pt)
        if not p.shared:
            try:                       # the harness shares the generator's CPUs
                os.sched_setaffinity(0, p.pin_client())
            except OSError:
                pass

    def start_server(self, args, pt, i):
        plan = self.plan(pt)
        args = cpus_args(plan, pt, i, args)
        if self.veth:
            args = netns.exec_prefix(self.veth.server_ns) + args + ["--addr", self.veth.server_addr]
        return args, Child(args, cpus=server_pins(plan, pt, i))

    def placement(self, pt, pgids):
        """What the server's instances got, from /proc (procfs.placement), and
        what of the plan they did not get (placement_problems)."""
        seen = procfs.placement(pgids)
        return seen, placement_problems(self.plan(pt), pt, seen)

    def snapshot(self, pgids, tasks=True, pids=None):
        return procfs.snapshot(pgids, tasks=tasks, pids=pids)

    def fixed_pids(self, pgids):
        return procfs.fixed_pids(pgids)

    def generator(self, args, pt):
        """(argv, CPU set) of bin/loadgen on the plan's generator CPUs: its
        threads and processes from the plan, in the generator's namespace."""
        plan = self.plan(pt)
        a = set_flag(set_flag(args, "--procs"), "--threads")
        a = a + plan.loadgen_flags()
        if self.veth:
            a = set_flag(set_flag(set_flag(a, "--src"), "--host", self.veth.server_addr),
                         "--allow-host", self.veth.server_addr)
            a = netns.exec_prefix(self.veth.client_ns) + a
        return a, None if plan.shared else plan.pin_client()

    def start_generators(self, args, pt):
        """[Gen]: one bin/loadgen on the plan's generator CPUs."""
        a, cpus = self.generator(args, pt)
        p = Child(a, cpus=cpus, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                  stdin=subprocess.PIPE if "--hold" in a else subprocess.DEVNULL)
        return [Gen("loadgen", a, p.p.stdout, p.p.stderr, p)]

    def end_point(self):
        return []

    def close(self):
        launch.kill_all()
        if self.veth:
            self.veth.close()
            self.veth = None


class RemoteServer:
    """A server instance on another host, with launch.Child's interface."""

    def __init__(self, host, args, cwd, cpus):
        self.args = list(args)
        self.port = None
        self.error = None
        self._out = None
        self.r = host.start(args, cwd=cwd, cpus=cpus)
        self._err = launch._Drain(self.r.stderr, launch.STDERR_KEEP)

    @property
    def pid(self):
        return self.r.pid

    @property
    def returncode(self):
        return self.r.returncode

    def alive(self):
        return self.r.poll() is None

    def wait_ready(self, timeout):
        line = launch.read_line(self.r.stdout, timeout).decode(errors="replace")
        self._out = launch._Drain(self.r.stdout)
        if line.startswith("READY "):
            try:
                self.port = int(line.split()[1])
                return self.port
            except (IndexError, ValueError):
                pass
        self.r.poll()
        self.error = (self.r.failure(self._err.text()) if self.r.returncode is not None
                      else f"first line is not READY: {line.strip()[:80]!r}" if line.strip()
                      else f"no READY line within {timeout:g} s")
        return None

    def terminate(self):
        if self.alive():
            try:
                self.r.signal(signal.SIGTERM)
            except hosts.HostError as e:
                self.error = str(e)

    def wait(self, timeout):
        try:
            self.r.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def leftover(self):
        return []                      # hosts.kill_all checks the whole session

    def kill(self):
        if not self.r.ended:
            hosts.kill_all([self.r])
        for d in (self._out, self._err):
            if d is not None:
                d.join(1.0)

    def counters(self):
        return launch.parse_json(self._out.text() if self._out else "")

    def stderr_tail(self, n, skip_prefix=None):
        lines = [ln for ln in self._err.text().splitlines() if ln.strip()]
        return lines[-n:]


def ssh_hostname(h):
    """The address a host's name resolves to, as ssh would reach it (its
    configuration's HostName), resolved here: the server's --addr."""
    r = subprocess.run(h.base + ["-G", "--", h.spec], capture_output=True, text=True, timeout=10)
    name = next((ln.split(" ", 1)[1] for ln in r.stdout.splitlines()
                 if ln.startswith("hostname ")), h.spec.split("@")[-1])
    try:
        return socket.gethostbyname(name)
    except OSError as e:
        raise TopologyError(f"host {h.spec}: cannot resolve {name} ({e})")


def _safe(spec):
    return re.sub(r"[^A-Za-z0-9._-]", "_", spec)


class Hosts:
    """The server on one host, generators on others, over ssh."""

    name = "hosts"

    def __init__(self, server, clients, server_cpus=1, ssh_config=None, remote_dir="",
                 tree="HEAD", bindir="bin"):
        self.server_cpus = cpuplan.parse_server_cpus(server_cpus)
        specs = [server] + list(clients)
        try:
            self.h = {s: hosts.Host(s, ssh_config=ssh_config) for s in dict.fromkeys(specs)}
        except hosts.HostError as e:
            raise TopologyError(str(e))
        self.server, self.clients = server, list(clients)
        self.remote_dir, self.tree = remote_dir, tree
        self.ctx = {}
        self.dirs = {}
        self.addr = None
        self.point_remotes = []
        self.sampler = self._sampler_thread = None
        self.net = "hosts"

    def _dir(self, spec):
        commit = hosts._git(hosts.ROOT, "rev-parse", "--short", "HEAD").strip()
        base = f"{hosts.DEPLOY_PREFIX}-{commit}-{_safe(spec)}"
        return os.path.join(self.remote_dir, base) if self.remote_dir else base

    def preflight(self, models, out=sys.stderr):
        """Reach every host (one line per host that fails), deploy and build,
        gather contexts. TopologyError with the lines if something fails."""
        probs = hosts.check_all(list(self.h.values()))
        if probs:
            raise TopologyError("\n".join(probs))
        self.addr = ssh_hostname(self.h[self.server])
        targets = {s: set() for s in self.h}
        targets[self.server].update(f"bin/echo_{m}" for m in models)
        for c in self.clients:
            targets[c].add("bin/loadgen")
        out.write(f"preflight: hosts: server {self.server} ({self.addr}), generators on "
                  f"{', '.join(self.clients)}; deploying {self.tree} and building there ...\n")
        res = {}

        def one(spec):
            try:
                res[spec] = self.h[spec].deploy(self._dir(spec), sorted(targets[spec]),
                                                tree=self.tree)
            except (hosts.HostError, subprocess.SubprocessError, OSError) as e:
                res[spec] = e
        _each(one, list(self.h))
        bad = [str(v) for v in res.values() if isinstance(v, Exception)]
        if bad:
            raise TopologyError("\n".join(bad))
        self.deployed = res
        for spec, d in res.items():
            self.dirs[spec] = d["dir"]
            out.write(f"preflight: host {spec}: {d['commit'][:12]} built in {d['dir']} "
                      f"in {d['seconds']:g} s\n")
        self.ctx = hosts.contexts(list(self.h.values()), route_to=self.addr)
        bad = [c["error"] for c in self.ctx.values() if c.get("error")]
        if bad:
            raise TopologyError("\n".join(bad))
        sc = self._server_cpus_list()
        if len(sc) < self.server_cpus:
            raise TopologyError(f"SERVER_CPUS={self.server_cpus}: host {self.server} has "
                                f"only {len(sc)} usable CPUs")
        out.write(f"preflight: CPU plan: server on CPU{'s' if self.server_cpus > 1 else ''} "
                  f"{cpuplan.format_cpulist(sc[:self.server_cpus])} of {self.server}; "
                  + "; ".join(f"generator on {c}: {self._gen_shape(c, None)[0]} CPUs"
                              for c in self.clients) + "\n")

    def _server_cpus_list(self):
        c = self.ctx.get(self.server) or {}
        return cpuplan.parse_cpulist(c.get("cpus_allowed") or f"0-{(c.get('nproc') or 1) - 1}")

    def _gen_shape(self, spec, conns):
        """(generator CPU list, threads, procs) on a client host."""
        c = self.ctx.get(spec) or {}
        cpus = cpuplan.parse_cpulist(c.get("cpus_allowed") or f"0-{(c.get('nproc') or 1) - 1}")
        if spec == self.server and len(cpus) > self.server_cpus:
            cpus = cpus[self.server_cpus:]
        nofile = c.get("nofile_hard") or 1024
        threads, procs = cpuplan.generator_shape(len(cpus), conns, nofile)
        return cpus, threads, procs

    def pinning(self):
        """Where the run pins its servers (context.json): the server host's
        first SERVER_CPUS CPUs (a generator sharing that host gets the rest)."""
        return dict(server_host=self.server, server_cpus=cpuplan.format_cpulist(
            self._server_cpus_list()[:self.server_cpus]))

    def context(self):
        return dict(kind=self.name, server=self.server, clients=self.clients,
                    server_addr=self.addr, hosts=self.ctx,
                    deployed=getattr(self, "deployed", {}))

    def plan_server(self, pt):
        s = point_server_cpus(pt, self.server_cpus)
        sc = self._server_cpus_list()
        return sc[:s]

    def record(self, pt):
        sc = self.plan_server(pt)
        gens = {}
        for i, c in enumerate(self.clients):
            n = share(pt["conns"], len(self.clients), i)
            cpus, th, pr = self._gen_shape(c, n)
            gens[c] = dict(conns=n, cpus=cpuplan.format_cpulist(cpus), threads=th, procs=pr)
        return dict(kind=self.name, net="hosts", server_host=self.server,
                    server_addr=self.addr, server_cpus=cpuplan.format_cpulist(sc),
                    server_ncpus=len(sc), generators=gens)

    def begin_point(self, pt):
        """Start the point's /proc sampler on the server host beside the
        server's own start (each ssh start is a round trip or more)."""
        self.point_remotes = []
        self.sampler = None
        box = self._sampler_box = []

        def start():
            try:
                box.append(self.h[self.server].sampler(self.dirs[self.server]))
            except hosts.HostError as e:
                box.append(e)
        self._sampler_thread = threading.Thread(target=start, daemon=True)
        self._sampler_thread.start()

    def start_server(self, args, pt, i):
        sc = self.plan_server(pt)
        if pt["server_cpus"] == "all":
            cpus = None
        elif pt["server_procs"] > 1 and pt["server_procs"] == len(sc):
            cpus = str(sc[i])
        else:
            cpus = cpuplan.format_cpulist(sc)
        a = ["bin/" + os.path.basename(args[0])] + list(args[1:]) + ["--addr", self.addr]
        h = self.h[self.server]
        try:
            s = RemoteServer(h, a, self.dirs[self.server], cpus)
        except hosts.HostError as e:
            return a, _Failed(str(e))
        self.point_remotes.append(s.r)
        return a, s

    def _join_sampler(self):
        if self._sampler_thread is not None:
            self._sampler_thread.join()
            self._sampler_thread = None
            got = self._sampler_box[0] if self._sampler_box else None
            if isinstance(got, hosts.Sampler):
                self.sampler = got
                self.point_remotes.append(got.remote)

    def fixed_pids(self, pgids):
        return None               # the remote sampler finds them each time

    def snapshot(self, pgids, tasks=True, pids=None):
        self._join_sampler()
        if self.sampler is None:
            return None
        return self.sampler.snapshot(pgids, tasks=tasks)

    def start_generators(self, args, pt):
        """[Gen]: one bin/loadgen per client host, each with its share of
        the connections, active connections and rate."""
        k = len(self.clients)
        gens = [None] * k

        def one(i):
            c = self.clients[i]
            n = share(pt["conns"], k, i)
            cpus, th, pr = self._gen_shape(c, n)
            a = ["bin/loadgen"] + list(args[1:])
            a = set_flag(set_flag(set_flag(a, "--src"), "--procs"), "--threads")
            a = set_flag(set_flag(a, "--host", self.addr), "--allow-host", self.addr)
            a = set_flag(a, "--conns", n)
            if "--active" in a:
                a = set_flag(a, "--active", max(1, share(pt["active"], k, i)) if n else 0)
            if pt["rate"]:
                a = set_flag(a, "--rate", max(1, share(pt["rate"], k, i)))
            a += ["--buckets", "--threads", str(th)] + (["--procs", str(pr)] if pr > 1 else [])
            pin = cpuplan.format_cpulist(cpus) if c == self.server else None
            try:
                r = self.h[c].start(a, cwd=self.dirs[c], cpus=pin)
            except hosts.HostError as e:
                gens[i] = _FailedGen(c, a, str(e))
                return
            self.point_remotes.append(r)
            gens[i] = Gen(c, a, r.stdout, r.stderr, None, remote=r)
        _each(one, range(k))         # every host at once
        return gens

    def end_point(self):
        """End every remote process of the point; lines for hosts that could
        not confirm it."""
        self._join_sampler()
        if self.sampler is not None:
            self.sampler.close()
        rs = [r for r in self.point_remotes if not r.ended]
        self.point_remotes, self.sampler = [], None
        return hosts.kill_all(rs) if rs else []

    def close(self):
        launch.kill_all()
        hosts.kill_all()


class _Failed:
    """A server that could not be started on its host."""

    def __init__(self, why):
        self.error, self.port, self.pid, self.returncode = why, None, None, None

    def wait_ready(self, timeout):
        return None

    def alive(self):
        return False

    def terminate(self):
        pass

    def wait(self, timeout):
        return True

    def leftover(self):
        return []

    def kill(self):
        pass

    def counters(self):
        return None, "no JSON line"

    def stderr_tail(self, n, skip_prefix=None):
        return [self.error]


class _FailedGen(Gen):
    """A generator its host would not start: no output, the reason."""

    def __init__(self, label, cmd, why):
        r, w = os.pipe()
        os.close(w)
        f1 = os.fdopen(r, "rb")
        r2, w2 = os.pipe()
        os.close(w2)
        super().__init__(label, cmd, f1, os.fdopen(r2, "rb"), None)
        self.why = why

    @property
    def returncode(self):
        return 255

    def wait(self, timeout):
        return True

    def kill(self):
        for f in (self.out, self.err):
            try:
                f.close()
            except OSError:
                pass

    def failure(self, err_lines):
        return self.why


def _each(fn, items):
    ts = [threading.Thread(target=fn, args=(x,), daemon=True) for x in items]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def make(server_host=None, client_hosts=None, server_cpus=1, net="loopback", nofile=None,
         ssh_config=None, remote_dir="", tree="HEAD", declare=None):
    """The topology for bench.py's flags; TopologyError / cpuplan.PlanError
    with one line if they do not make one."""
    if bool(server_host) != bool(client_hosts):
        raise TopologyError("SERVER_HOST and CLIENT_HOSTS go together: name both")
    if server_host:
        if declare is not None:
            raise TopologyError("DECLARE_CPUS is for this machine; with SERVER_HOST the "
                                "hosts' own CPUs are planned")
        if net != "loopback":
            raise TopologyError(f"NET={net} is for one machine; with SERVER_HOST the "
                                "hosts' own network carries the data")
        return Hosts(server_host, client_hosts, server_cpus, ssh_config=ssh_config,
                     remote_dir=remote_dir, tree=tree)
    return Local(server_cpus, net, nofile=nofile, declare=declare)

