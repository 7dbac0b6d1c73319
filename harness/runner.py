"""runner.py - measure one point: start the server(s), run the load
generator, read /proc at the generator's `loadgen: measure start` /
`measure end` lines, stop the server with SIGTERM and keep its JSON counters.
The bench's points (closed, open, churn) and the regression gate's
fixed-work runs (pt.count; a server under perf stat or valgrind: wrap) run
here alike.

Every child is started by harness/launch.py (its own process group, pinned,
PDEATHSIG, registered until reaped), so an exception or Ctrl-C anywhere
kills them all (kill_all).
A point that goes wrong is returned as a record with status "failed" and
the reasons; only a bug in the harness raises.
"""

import os
import selectors
import signal
import time

import kernel
import launch
import models
import topology
from launch import exit_text
from merge import merge_clients
from procfs import delta

CONNECT_TIMEOUT_S = 5     # loadgen --connect-timeout
NO_EXIT = "no exit within"   # the reason of a server that outlived SIGTERM
REPLY_TIMEOUT_S = 3       # loadgen --timeout: a starved server shows in seconds
STDERR_TAIL = 12          # lines of a child's stderr kept in the record
HOLD_S = 10.0             # loadgen --hold's cap: the end snapshot of 10,000 threads took ~1 s
FORK_SETTLE_S = 0.05      # a forking server's children: after READY, and after its exit

# Reference rows in other languages (refservers/): opt-in with MODELS=...,node,java,
# each needing its runtime (the launchers exit 77 with the package to install).
REFSERVERS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "refservers")


def server_path(bindir, model):
    """bin/echo_<model>, or refservers/echo_<model> for a reference row."""
    p = os.path.join(bindir, f"echo_{model}")
    if model in models.names(is_ref=True) and not os.path.exists(p):
        return os.path.join(REFSERVERS, f"echo_{model}")
    return p


def ref_missing(model):
    """The runtime a reference row lacks here, or None when it can run
    (a `ref` entry starting with / is a file that must exist, e.g. a jar)."""
    import shutil
    for tool in models.get(model).ref:
        if not (os.path.exists(tool) if tool.startswith("/") else shutil.which(tool)):
            return tool
    return None


def ref_warm_up(path, timeout=600):
    """Run a reference row's launcher with --help once, so that its first
    build (javac, go build, erlc: seconds) happens before any timed start.
    None when it ran, else one line saying why not."""
    import subprocess
    try:
        r = subprocess.run([path, "--help"], stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"{os.path.basename(path)} --help: {e}"
    if r.returncode not in (0, 2):
        tail = [ln for ln in r.stderr.splitlines() if ln.strip()]
        return (f"{os.path.basename(path)} --help: {exit_text(r.returncode)}"
                + (f" ({tail[-1]})" if tail else ""))
    return None


class Prefix:
    """A wrapper that execs the server (valgrind): its argv before the
    server's; SIGTERM goes to the pid it started. skip_prefix: the wrapper's
    own stderr lines, left out of a failure's reason (valgrind's "==")."""

    def __init__(self, args, skip_prefix=None):
        self.args, self.skip_prefix = list(args), skip_prefix

    def argv(self, cmd):
        return self.args + list(cmd)

    @staticmethod
    def target(pid):
        return pid


class Servers:
    """One server process, or several sharing a port with --reuseport. wrap:
    the server runs under a wrapper (Prefix, or kcount.Wrapped: perf stat,
    which does not pass SIGTERM on): wrap.argv(cmd), wrap.target(pid) the
    process to signal."""

    def __init__(self, pt, bindir, cpus, ready_timeout, stop_timeout, topo=None, wrap=None):
        self.pt, self.bindir, self.cpus, self.wrap = pt, bindir, cpus, wrap
        self.topo = topo or topology.Local()     # where and how (harness/topology.py)
        self.ready_timeout, self.stop_timeout = ready_timeout, stop_timeout
        self.procs, self.cmds = [], []
        self.port = None
        self.reasons = []
        self.stats_each = []
        self.exit_codes = []
        self.died_during_run = []
        self.notes = []           # contract deviations that do not fail a point
        # a server that forks processes of its own (prefork): they need a moment
        # to start after READY and to end after their parent
        self.forks = bool(models.attr(pt["model"], "procs_per_conn"))
        self.pids = None          # fixed pids to read, False: find them each time

    def args(self, port):
        pt = self.pt
        a = [server_path(self.bindir, pt["model"]), "--port", str(port)]
        if pt["server_procs"] > 1:
            a.append("--reuseport")
        if pt["work_us"]:
            a += ["--work-us", str(pt["work_us"]), "--work-every", str(pt["work_every"])]
        return a + list(pt["server_args"])

    def _why(self, i, what):
        tail = self.procs[i].stderr_tail(1, getattr(self.wrap, "skip_prefix", None))
        return f"server {i + 1}: {what}" + (f" ({tail[-1]})" if tail else "")

    def start(self):
        """Start every instance; False (with reasons) if one gives no READY."""
        for i in range(self.pt["server_procs"]):
            args = self.args(self.port or 0)
            args, p = self.topo.start_server(self.wrap.argv(args) if self.wrap else args,
                                             self.pt, i)
            self.procs.append(p)
            self.cmds.append(args)
            if p.wait_ready(self.ready_timeout) is None:
                self.reasons.append(self._why(i, p.error))
                return False
            self.port = p.port
        return True

    def pgids(self):
        return [p.pid for p in self.procs]

    def snapshot(self, tasks=True):
        """The server's /proc now, wherever it runs. The first one (at READY)
        finds its processes; when they are just the instances we started,
        the later ones, inside the measured window, read those by pid
        (procfs.fixed_pids)."""
        if self.pids is None:
            self.pids = self.topo.fixed_pids(self.pgids()) or False
        return self.topo.snapshot(self.pgids(), tasks=tasks, pids=self.pids or None)

    def check_alive(self):
        """Note instances that exited before we asked them to."""
        for i, p in enumerate(self.procs):
            if not p.alive() and i not in self.died_during_run:
                self.died_during_run.append(i)
                self.reasons.append(self._why(i, f"died during the run: {exit_text(p.returncode)}"))

    def stop(self):
        """SIGTERM each instance (its own pid: a multi-process server signals
        its children itself), read its JSON line, kill what is left."""
        for p in self.procs:
            pid = self.wrap.target(p.pid) if self.wrap and p.alive() else None
            if pid:                   # the wrapped server itself
                try:
                    os.kill(pid, signal.SIGTERM)
                except OSError:
                    pass
            else:
                p.terminate()
        t0 = time.monotonic()
        for i, p in enumerate(self.procs):
            left = max(0.1, self.stop_timeout - (time.monotonic() - t0))
            if not p.wait(left):
                self.reasons.append(f"server {i + 1}: {NO_EXIT} "
                                    f"{self.stop_timeout:g} s of SIGTERM (killed)")
            elif i not in self.died_during_run and p.returncode != 0:
                self.reasons.append(f"server {i + 1}: {exit_text(p.returncode)} after SIGTERM")
        self.stop_s = round(time.monotonic() - t0, 3)
        if 1.0 < self.stop_s < self.stop_timeout:
            self.notes.append(f"slow exit: {self.stop_s:.2f} s after SIGTERM (the contract says 1 s)")
        if self.forks:
            time.sleep(FORK_SETTLE_S)         # its children exit after their parent
        for i, p in enumerate(self.procs):
            if p.leftover():
                self.reasons.append(f"server {i + 1}: left {len(p.leftover())} process(es) "
                                    "running after exit (killed)")
            p.kill()
            self.exit_codes.append(p.returncode)
            stats, why = p.counters()
            if why == "unparsable JSON line":
                self.reasons.append(f"server {i + 1}: unparsable JSON counters")
            elif stats is None and i not in self.died_during_run and p.returncode == 0:
                self.reasons.append(f"server {i + 1}: no JSON counters on SIGTERM")
            self.stats_each.append(stats)

    def kill(self):
        for p in self.procs:
            p.kill()

    def summed_stats(self):
        """The instances' counters added up (peak_conns too: an upper bound)."""
        have = [s for s in self.stats_each if s]
        if not have:
            return None
        tot = {"model": have[0].get("model")}
        for s in have:
            for k, v in s.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    tot[k] = tot.get(k, 0) + v
                elif isinstance(v, dict):
                    d = tot.setdefault(k, {})
                    for kk, vv in v.items():
                        if isinstance(vv, (int, float)):
                            d[kk] = d.get(kk, 0) + vv
        return tot

    def stderr_tail(self):
        out = []
        for p in self.procs:
            out += p.stderr_tail(STDERR_TAIL)
        return out[-STDERR_TAIL:]


def loadgen_args(pt, bindir, port, loadgen=None):
    """bin/loadgen's flags for a point (loadgen: its path, default bindir's)."""
    a = [loadgen or os.path.join(bindir, "loadgen"), "--host", "127.0.0.1", "--port", str(port),
         "--conns", str(pt["conns"]), "--size", str(pt["size"]),
         "--duration", f"{pt['duration']:g}", "--warmup", f"{pt['warmup']:g}",
         "--connect-timeout", str(CONNECT_TIMEOUT_S), "--timeout", str(REPLY_TIMEOUT_S),
         "--json", "--quiet"]
    if pt["mode"] == "churn":
        a.append("--churn")
    else:
        a += ["--active", str(pt["active"]), "--depth", str(pt["depth"])]
        if not pt.get("count"):
            # every connection, idle ones too, served once before the warm-up:
            # a thread-per-connection server was otherwise still making its
            # threads in the window (250-608 of 1,001 at its start, 1,000
            # connections, the 2026-12-04 reference runs' records)
            a.append("--prime")
    if pt["rate"]:
        a += ["--rate", str(pt["rate"])]
    if pt.get("split_every"):
        a += ["--work-every", str(pt["split_every"])]
    if pt["client_procs"] > 1:
        a += ["--procs", str(pt["client_procs"])]
    if pt["src"]:
        a += ["--src", pt["src"]]
    if pt.get("count"):
        a += ["--count", str(pt["count"])]
    return a


def run_loadgen(pt, bindir, cpus, srv, rec, window=None, loadgen=None):
    """Run the generator(s) to completion (or their deadline), snapshotting
    the server at the measure lines (and switching the kernel's count, window:
    harness/kernel.py, on and off there) and watching it for crashes. With
    several generators (CLIENT_HOSTS) the window opens once every one said
    "measure start" and closes once every one said "measure end"; their
    JSON is merged (histograms bucket by bucket, merge.merge_clients)."""
    args = loadgen_args(pt, bindir, srv.port, loadgen)
    if srv.topo.name == "local" and pt["mode"] != "churn":
        # the connections stay open after "measure end" until the server has
        # been read (Gen.release below): the reading used to race the closes,
        # which the server handles, and a thread per connection ends at its
        # close (its CPU then read from ticks, or not at all)
        args += ["--hold", f"{HOLD_S:g}"]
    deadline_s = (pt["warmup"] + pt["duration"] + CONNECT_TIMEOUT_S + REPLY_TIMEOUT_S
                  + pt["conns"] / 5000.0 + 8)
    gens = srv.topo.start_generators(args, pt)
    rec["client_cmd"] = gens[0].cmd if len(gens) == 1 else [g.cmd for g in gens]
    sel = selectors.DefaultSelector()
    st = {}
    for g in gens:
        st[id(g)] = dict(out=b"", err=b"", lines=[])
        sel.register(g.out, selectors.EVENT_READ, (g, "out"))
        sel.register(g.err, selectors.EVENT_READ, (g, "err"))
    end = time.monotonic() + deadline_s
    open_pipes = 2 * len(gens)
    timed_out = False
    mid_at = None                 # when to take the mid-window snapshot
    # An open-loop point measures latency, and any /proc reading inside its
    # window disturbs it: the harness wakes on the generator's or the server's
    # CPU. epoll_et at 10% of capacity, 1,000 connections, p99 over 1 s, measured
    # here through bench.py: 0.76-1.58 ms with the window's start and end read
    # (by pid), 0.18-1.07 ms with no reading; by hand, no harness, 0.24-0.67 ms.
    # So it reads the server only at READY and after the generator: no CPU per
    # echo for open-loop points (their figures are latency and achieved rate).
    # A service-demand point ("demand") is open loop too, but its figure is the
    # CPU per echo: it reads the window's edges (and its p99 bears them).
    hands_off = pt["mode"] == "open"
    marks = dict(start=0, end=0)
    try:
        while open_pipes:
            left = end - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            wait = min(left, 0.25) if mid_at is None else max(0.0, min(left, mid_at - time.monotonic()))
            for key, _ in sel.select(wait):
                g, kind = key.data
                s_ = st[id(g)]
                chunk = os.read(key.fileobj.fileno(), 65536)
                if not chunk:
                    sel.unregister(key.fileobj)
                    open_pipes -= 1
                    continue
                if kind == "out":
                    s_["out"] += chunk
                    continue
                s_["err"] += chunk
                while b"\n" in s_["err"]:
                    ln, s_["err"] = s_["err"].split(b"\n", 1)
                    ln = ln.decode(errors="replace")
                    if ln.strip() == "loadgen: measure start":
                        marks["start"] += 1
                        if marks["start"] < len(gens):
                            continue
                        if not hands_off:
                            rec["proc"]["start"] = srv.snapshot()
                            mid_at = time.monotonic() + pt["duration"] / 2
                        if window:
                            window.mark()
                    elif ln.strip() == "loadgen: measure end":
                        marks["end"] += 1
                        if marks["end"] < len(gens):
                            continue
                        if not hands_off:
                            rec["proc"]["end"] = srv.snapshot()
                        marks["ended"] = True
                        if window:
                            window.stop()
                        for g_ in gens:
                            g_.release()
                    else:
                        s_["lines"].append(ln)
                        del s_["lines"][:-STDERR_TAIL]
            if marks.get("ended"):
                mid_at = None
            if mid_at and time.monotonic() >= mid_at:
                rec["proc"]["mid"] = srv.snapshot(tasks=False)
                mid_at = None
            srv.check_alive()
        if timed_out:
            rec["reasons"].append(f"loadgen did not finish within {deadline_s:.0f} s (killed)")
        else:
            for g in gens:
                g.wait(10)
    finally:
        sel.close()
        for g in gens:
            g.kill()
    one = len(gens) == 1 and gens[0].remote is None      # this machine: today's record
    codes = [g.returncode for g in gens]
    rec["client_exit"] = codes[0] if one else next((c for c in codes if c), codes[0])
    rec["client_stderr"] = (st[id(gens[0])]["lines"] if one else
                            [f"{g.label}: {ln}" for g in gens for ln in st[id(g)]["lines"]])
    parts = {}
    for g in gens:
        lines = st[id(g)]["lines"]
        parts[g.label], _ = launch.parse_json(st[id(g)]["out"].decode(errors="replace"))
        why = g.failure(lines)
        if why:
            rec["reasons"].append(why)
        elif parts[g.label] is None and not timed_out and not one:
            last = lines[-1] if lines else exit_text(g.returncode)
            rec["reasons"].append(f"loadgen on {g.label} gave no JSON "
                                  f"({exit_text(g.returncode)}: {last})")
    client = parts[gens[0].label] if one else merge_clients(parts)
    rec["client"] = client
    if timed_out:
        return
    if client is None:
        if one:
            p = gens[0]
            last = rec["client_stderr"][-1] if rec["client_stderr"] else exit_text(p.returncode)
            rec["reasons"].append(f"loadgen gave no JSON ({exit_text(p.returncode)}: {last})")
        return
    judge_client(pt, client, rec["client_exit"], rec)


def judge_client(pt, c, code, rec):
    """Turn the generator's figures into failure reasons (wrong answers,
    refused or missing connections, starvation)."""
    r = rec["reasons"]
    if c.get("connect_errors"):
        why = ", ".join(f"{k} {v}" for k, v in (c.get("connect_error_reasons") or {}).items())
        r.append(f"{c['connect_errors']} of {pt['conns']} connects failed" + (f" ({why})" if why else ""))
    elif pt["mode"] != "churn" and c.get("connected", pt["conns"]) < pt["conns"]:
        r.append(f"only {c.get('connected')} of {pt['conns']} connected")
    if c.get("verify_errors"):
        r.append(f"wrong echo: {c['verify_errors']} verify errors")
    if c.get("unexpected_closes"):
        r.append(f"{c['unexpected_closes']} unexpected closes")
    if c.get("timeouts"):
        r.append(f"{c['timeouts']} replies timed out after {REPLY_TIMEOUT_S} s (starved?)")
    if not c.get("echoes"):
        r.append("no echoes at all")
    elif pt.get("count") and c["echoes"] != pt["active"] * pt["count"]:
        r.append(f"{c['echoes']} of {pt['active'] * pt['count']} echoes")       # fixed work
    if code not in (0, 1) and not r:
        r.append(f"loadgen {exit_text(code)}")
    elif code == 1 and not r:
        r.append("loadgen exit 1 (errors)")


def _num(x):
    return x if isinstance(x, (int, float)) and not isinstance(x, bool) else None


def derive(pt, rec):
    """Per-echo and per-connection figures from both sides."""
    c = rec.get("client") or {}
    pr = rec.get("proc", {})
    d = {}
    lat = c.get("latency_us") or {}
    echoes = _num(c.get("echoes"))
    d["msgs_per_s"] = _num(c.get("echoes_per_s"))
    d["bytes_per_s"] = _num(c.get("bytes_per_s"))
    for k in ("p50", "p90", "p99", "p999", "p9999", "max", "mean"):
        d[f"{k}_us"] = _num(lat.get(k))
    for cls in ("light", "heavy"):     # loadgen --work-every: the split by work key
        cl = c.get(f"{cls}_latency_us") or {}
        d[f"{cls}_p50_us"] = _num(cl.get("p50"))
        d[f"{cls}_p99_us"] = _num(cl.get("p99"))
    d["conns_per_s"] = _num(c.get("conns_per_s"))
    cl = c.get("connect_latency_us") or {}
    d["connect_p50_us"] = _num(cl.get("p50"))
    d["connect_p99_us"] = _num(cl.get("p99"))
    if pt["rate"] and d["msgs_per_s"] is not None:
        d["achieved_ratio"] = d["msgs_per_s"] / pt["rate"]
    d["fairness_jain"] = _num((c.get("fairness") or {}).get("jain"))
    w = delta(pr.get("start"), pr.get("end"))
    if w:
        # Total CPU from schedstat (ns); its user/system split from the
        # clock-tick counters (a sample per tick: ~100 in a busy second).
        ticks = w["cpu_user_s"] + w["cpu_sys_s"]
        cpu = w["cpu_s"] if w["cpu_s"] > 0 else ticks
        user = cpu * w["cpu_user_s"] / ticks if ticks > 0 else None
    if w and echoes:
        d["cpu_us_per_echo"] = cpu * 1e6 / echoes
        d["user_us_per_echo"] = user * 1e6 / echoes if user is not None else None
        d["sys_us_per_echo"] = (cpu - user) * 1e6 / echoes if user is not None else None
        if w["vcsw"] is not None:       # None: threads ended in the window (procfs)
            d["vcsw_per_echo"] = w["vcsw"] / echoes
            d["ivcsw_per_echo"] = w["ivcsw"] / echoes
            d["csw_per_echo"] = (w["vcsw"] + w["ivcsw"]) / echoes
        d["tasks_gone"] = w["tasks_gone"]
    if w and w["wall_s"] > 0:
        d["server_cpu_util"] = cpu / w["wall_s"]
    cc = c.get("client_cpu_s") or {}
    if _num(c.get("duration_s")) and _num(cc.get("user")) is not None:
        d["client_cpu_util"] = (cc["user"] + cc.get("sys", 0)) / c["duration_s"]
    d["client_saturated"] = c.get("client_saturated")
    if echoes and _num(cc.get("user")) is not None:
        d["client_cpu_us_per_echo"] = (cc["user"] + cc.get("sys", 0)) * 1e6 / echoes
    # the open loop's own account of itself (docs/open-loop.md)
    late, srv_lat = c.get("lateness_us") or {}, c.get("server_latency_us") or {}
    sp = c.get("send_process") or {}
    d["late_p50_us"], d["late_p99_us"], d["late_max_us"] = (_num(late.get(k)) for k in
                                                            ("p50", "p99", "max"))
    d["server_p50_us"], d["server_p99_us"] = _num(srv_lat.get("p50")), _num(srv_lat.get("p99"))
    d["send_w1"] = _num(sp.get("w1_gaps"))
    if sp.get("verdict") in ("ok", "generator"):
        d["gen_limited"] = sp["verdict"] == "generator"
    # System calls: the kernel's count of the window (harness/kernel.py), the
    # server's own count as a cross-check, the profile's shares.
    d.update(kernel.derive(pt, rec))
    # Levels (memory, threads, fds) from mid-window: at "measure end" the
    # generator may already be closing its connections.
    end, ready = pr.get("mid") or pr.get("end") or pr.get("after"), pr.get("ready")
    if end:
        d["rss_kb"] = end["rss_kb"]
        d["threads"] = end["threads"]
        d["fds"] = end["fds"]
    after = pr.get("after") or end
    if after:
        d["hwm_kb"] = after["hwm_kb"]
    if end and ready and pt["conns"]:
        d["rss_per_conn_b"] = (end["rss_kb"] - ready["rss_kb"]) * 1024 / pt["conns"]
    return d


def run_point(pt, bindir, cpus, ready_timeout=10.0, stop_timeout=3.0, window=None, topo=None,
              wrap=None, loadgen=None):
    """Measure one point; always returns a record, never leaves a process.
    window (harness/kernel.py): the kernel's count/profile of the measured window.
    topo (harness/topology.py): where the server and the generator(s) run
    (default: this machine, loopback, SERVER_CPUS=1). wrap: the server's
    wrapper (Servers); loadgen: the generator's path (default bindir's)."""
    rec = dict(status="ok", reasons=[], proc={}, client=None, server_stats=None)
    t0 = time.monotonic()
    topo = topo or topology.Local()
    if topo.name != "local":
        window = None             # the kernel's count is of this machine's processes
    rec["topology"] = topo.record(pt)
    topo.begin_point(pt)
    srv = Servers(pt, bindir, cpus, ready_timeout, stop_timeout, topo, wrap)
    try:
        if srv.start():
            if srv.forks:
                time.sleep(FORK_SETTLE_S)     # let a forking server finish forking
            rec["proc"]["ready"] = srv.snapshot()
            # what each instance really got (CPUs, processes, threads): a server
            # that did not get its planned CPUs would put its figures under the wrong S
            if hasattr(topo, "placement"):
                rec["topology"]["server_seen"], bad = topo.placement(pt, srv.pgids())
                srv.reasons += [f"CPU placement: {b}" for b in bad]
            if window:
                window.attach(srv.pgids())
            run_loadgen(pt, bindir, cpus, srv, rec, window, loadgen)
            srv.check_alive()
            rec["proc"]["after"] = srv.snapshot()
        srv.stop()
        if window:
            rec.update(window.finish(dict(rec, server_stats=srv.summed_stats())))
    finally:
        if window:
            window.close()
        srv.kill()
        # every process of the point, on every host (a host that cannot
        # confirm it is named: its processes end with their ssh channel)
        for why in topo.end_point():
            srv.notes.append(why)
    # Failed under load (the generator's complaints, a server that died, or
    # no start), as opposed to a contract slip at stop time only.
    rec["load_failure"] = bool(rec["reasons"] or srv.died_during_run or "ready" not in rec["proc"])
    rec["reasons"] = srv.reasons + rec["reasons"]    # a server's death explains the rest
    rec["server_cmd"] = srv.cmds
    rec["server_port"] = srv.port
    rec["server_exit"] = srv.exit_codes
    rec["server_stats"] = srv.summed_stats()
    if pt["server_procs"] > 1:
        rec["server_stats_each"] = srv.stats_each
    rec["server_stderr"] = srv.stderr_tail()
    rec["server_stop_s"] = getattr(srv, "stop_s", None)
    rec["derived"] = derive(pt, rec)
    notes = list(srv.notes)
    if rec["derived"].get("client_saturated"):
        tp = rec["topology"]
        gen = (f" ({tp['client_threads']} thread(s) on CPU(s) {tp['client_cpus']})"
               if tp.get("client_cpus") else "")
        notes.append(f"the generator{gen} was CPU bound: the figures are the generator's limit")
    sp = (rec.get("client") or {}).get("send_process") or {}
    if sp.get("verdict") == "generator":
        notes.append("the generator's send process failed its test ("
                     + ", ".join(sp.get("reasons") or []) + "): the latencies are the generator's "
                     "as much as the server's (docs/open-loop.md)")
    rec["notes"] = notes
    if rec["reasons"]:
        rec["status"] = "failed"
    rec["reason"] = "; ".join(dict.fromkeys(rec.pop("reasons")))
    rec["wall_s"] = round(time.monotonic() - t0, 3)
    return rec
