"""Measure one point: start the server(s), run the load generator, read
/proc at the generator's `loadgen: measure start` / `measure end` lines,
stop the server with SIGTERM and keep its JSON counters.

Every child is started by harness/launch.py (its own process group, pinned,
PDEATHSIG, registered until reaped), so an exception or Ctrl-C anywhere
kills them all (kill_all).
A point that goes wrong is returned as a record with status "failed" and
the reasons; only a bug in the harness raises.
"""

import os
import selectors
import subprocess
import time

import launch
import models
from launch import Child, exit_text
from procfs import snapshot, delta

CONNECT_TIMEOUT_S = 5     # loadgen --connect-timeout
REPLY_TIMEOUT_S = 3       # loadgen --timeout: a starved server shows in seconds
STDERR_TAIL = 12          # lines of a child's stderr kept in the record

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
    """The runtime a reference row lacks here, or None when it can run."""
    import shutil
    for tool in models.get(model).ref:
        if shutil.which(tool) is None:
            return tool
    return None


def pin(cpu, cpus):
    """The CPU set for a child: CPU `cpu` on a machine of two or more, else none."""
    return {cpu} if cpus >= 2 and cpu is not None else None


class Servers:
    """One server process, or several sharing a port with --reuseport."""

    def __init__(self, pt, bindir, cpus, ready_timeout, stop_timeout):
        self.pt, self.bindir, self.cpus = pt, bindir, cpus
        self.ready_timeout, self.stop_timeout = ready_timeout, stop_timeout
        self.procs, self.cmds = [], []
        self.port = None
        self.reasons = []
        self.stats_each = []
        self.exit_codes = []
        self.died_during_run = []
        self.notes = []           # contract deviations that do not fail a point

    def args(self, port):
        pt = self.pt
        a = [server_path(self.bindir, pt["model"]), "--port", str(port)]
        if pt["server_procs"] > 1:
            a.append("--reuseport")
        if pt["work_us"]:
            a += ["--work-us", str(pt["work_us"]), "--work-every", str(pt["work_every"])]
        return a + list(pt["server_args"])

    def _why(self, i, what):
        tail = self.procs[i].stderr_tail(1)
        return f"server {i + 1}: {what}" + (f" ({tail[-1]})" if tail else "")

    def start(self):
        """Start every instance; False (with reasons) if one gives no READY."""
        for i in range(self.pt["server_procs"]):
            args = self.args(self.port or 0)
            cpu = None if self.pt.get("server_cpus") == "all" else 0
            p = Child(args, cpus=pin(cpu, self.cpus))
            self.procs.append(p)
            self.cmds.append(args)
            if p.wait_ready(self.ready_timeout) is None:
                self.reasons.append(self._why(i, p.error))
                return False
            self.port = p.port
        return True

    def pgids(self):
        return [p.pid for p in self.procs]

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
            p.terminate()
        t0 = time.monotonic()
        for i, p in enumerate(self.procs):
            left = max(0.1, self.stop_timeout - (time.monotonic() - t0))
            if not p.wait(left):
                self.reasons.append(f"server {i + 1}: no exit within "
                                    f"{self.stop_timeout:g} s of SIGTERM (killed)")
            elif i not in self.died_during_run and p.returncode != 0:
                self.reasons.append(f"server {i + 1}: {exit_text(p.returncode)} after SIGTERM")
        self.stop_s = round(time.monotonic() - t0, 3)
        if 1.0 < self.stop_s < self.stop_timeout:
            self.notes.append(f"slow exit: {self.stop_s:.2f} s after SIGTERM (the contract says 1 s)")
        time.sleep(0.05)
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


def loadgen_args(pt, bindir, port):
    a = [os.path.join(bindir, "loadgen"), "--host", "127.0.0.1", "--port", str(port),
         "--conns", str(pt["conns"]), "--size", str(pt["size"]),
         "--duration", f"{pt['duration']:g}", "--warmup", f"{pt['warmup']:g}",
         "--connect-timeout", str(CONNECT_TIMEOUT_S), "--timeout", str(REPLY_TIMEOUT_S),
         "--json", "--quiet"]
    if pt["mode"] == "churn":
        a.append("--churn")
    else:
        a += ["--active", str(pt["active"]), "--depth", str(pt["depth"])]
    if pt["rate"]:
        a += ["--rate", str(pt["rate"])]
    if pt.get("split_every"):
        a += ["--work-every", str(pt["split_every"])]
    if pt["client_procs"] > 1:
        a += ["--procs", str(pt["client_procs"])]
    if pt["src"]:
        a += ["--src", pt["src"]]
    return a


def run_loadgen(pt, bindir, cpus, srv, rec):
    """Run the generator to completion (or its deadline), snapshotting the
    server at the measure lines and watching it for crashes."""
    args = loadgen_args(pt, bindir, srv.port)
    rec["client_cmd"] = args
    deadline_s = (pt["warmup"] + pt["duration"] + CONNECT_TIMEOUT_S + REPLY_TIMEOUT_S
                  + pt["conns"] / 5000.0 + 8)
    p = Child(args, cpus=pin(1, cpus), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    sel = selectors.DefaultSelector()
    sel.register(p.p.stdout, selectors.EVENT_READ, "out")
    sel.register(p.p.stderr, selectors.EVENT_READ, "err")
    out, err_buf, err_lines = b"", b"", []
    end = time.monotonic() + deadline_s
    open_pipes = 2
    timed_out = False
    mid_at = None                 # when to take the mid-window snapshot
    try:
        while open_pipes:
            left = end - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            wait = min(left, 0.25) if mid_at is None else max(0.0, min(left, mid_at - time.monotonic()))
            for key, _ in sel.select(wait):
                chunk = os.read(key.fileobj.fileno(), 65536)
                if not chunk:
                    sel.unregister(key.fileobj)
                    open_pipes -= 1
                    continue
                if key.data == "out":
                    out += chunk
                    continue
                err_buf += chunk
                while b"\n" in err_buf:
                    ln, err_buf = err_buf.split(b"\n", 1)
                    ln = ln.decode(errors="replace")
                    if ln.strip() == "loadgen: measure start":
                        rec["proc"]["start"] = snapshot(srv.pgids())
                        mid_at = time.monotonic() + pt["duration"] / 2
                    elif ln.strip() == "loadgen: measure end":
                        rec["proc"]["end"] = snapshot(srv.pgids())
                    else:
                        err_lines.append(ln)
                        del err_lines[:-STDERR_TAIL]
            if "end" in rec["proc"]:
                mid_at = None
            if mid_at and time.monotonic() >= mid_at:
                rec["proc"]["mid"] = snapshot(srv.pgids(), tasks=False)
                mid_at = None
            srv.check_alive()
        if timed_out:
            rec["reasons"].append(f"loadgen did not finish within {deadline_s:.0f} s (killed)")
        else:
            p.wait(10)
    finally:
        sel.close()
        p.kill()
    rec["client_exit"] = p.returncode
    rec["client_stderr"] = err_lines
    client, _ = launch.parse_json(out.decode(errors="replace"))
    rec["client"] = client
    if timed_out:
        return
    if client is None:
        last = err_lines[-1] if err_lines else exit_text(p.returncode)
        rec["reasons"].append(f"loadgen gave no JSON ({exit_text(p.returncode)}: {last})")
        return
    judge_client(pt, client, p.returncode, rec)


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
    if code not in (0, 1) and not r:
        r.append(f"loadgen {exit_text(code)}")
    elif code == 1 and not r:
        r.append("loadgen exit 1 (errors)")


def _num(x):
    return x if isinstance(x, (int, float)) and not isinstance(x, bool) else None


def derive(pt, rec):
    """Per-echo and per-connection figures from both sides."""
    c = rec.get("client") or {}
    s = rec.get("server_stats") or {}
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
        d["vcsw_per_echo"] = w["vcsw"] / echoes
        d["ivcsw_per_echo"] = w["ivcsw"] / echoes
        d["csw_per_echo"] = (w["vcsw"] + w["ivcsw"]) / echoes
    if w and w["wall_s"] > 0:
        d["server_cpu_util"] = cpu / w["wall_s"]
    cc = c.get("client_cpu_s") or {}
    if _num(c.get("duration_s")) and _num(cc.get("user")) is not None:
        d["client_cpu_util"] = (cc["user"] + cc.get("sys", 0)) / c["duration_s"]
    d["client_saturated"] = c.get("client_saturated")
    sc = (s.get("syscalls") or {}).get("total")
    if _num(sc) is not None and _num(s.get("bytes_out")):
        echoes_all = s["bytes_out"] / pt["size"]       # the whole run, warm-up included
        d["syscalls_per_echo"] = sc / echoes_all
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


def run_point(pt, bindir, cpus, ready_timeout=10.0, stop_timeout=3.0):
    """Measure one point; always returns a record, never leaves a process."""
    rec = dict(status="ok", reasons=[], proc={}, client=None, server_stats=None)
    t0 = time.monotonic()
    srv = Servers(pt, bindir, cpus, ready_timeout, stop_timeout)
    try:
        if srv.start():
            time.sleep(0.05)          # let a multi-process server finish forking
            rec["proc"]["ready"] = snapshot(srv.pgids())
            run_loadgen(pt, bindir, cpus, srv, rec)
            srv.check_alive()
            rec["proc"]["after"] = snapshot(srv.pgids())
        srv.stop()
    finally:
        srv.kill()
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
        notes.append("the generator was CPU bound: the figures are the generator's limit")
    rec["notes"] = notes
    if rec["reasons"]:
        rec["status"] = "failed"
    rec["reason"] = "; ".join(dict.fromkeys(rec.pop("reasons")))
    rec["wall_s"] = round(time.monotonic() - t0, 3)
    return rec
