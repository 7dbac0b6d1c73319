"""/proc readings of the servers under test, and the machine's limits.

A snapshot sums over every process of the server's process groups (so a
multi-process server, or several SO_REUSEPORT instances, count whole) and,
for context switches, over every thread (/proc/<pid>/task/*/status: the
per-process status file only shows the main thread's).

CPU time comes first from each process's CPU clock (one clock_gettime a
process, all its threads, ended ones too, read at one instant). The
per-thread sums (CPU ns from schedstat, context switches) lose a thread
that ends between two snapshots: its counters go with it, and a sum can even
fall. So each snapshot with tasks counts the threads of the previous one (of
the same process groups) that are gone (`tasks_gone`), and delta(), when it
has no clocks of the same processes at both ends, then takes the CPU time
from the processes' tick counters, which keep what their ended threads
used; with threads gone it gives no context switches.
"""

import hashlib
import os
import platform
import resource
import time

HZ = os.sysconf("SC_CLK_TCK")


def _read(path, default=None):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return default


def _stat_fields(pid):
    s = _read(f"/proc/{pid}/stat")
    if s is None:
        return None
    return s.rsplit(")", 1)[1].split()     # fields from 3 (state) on


def group_pids(pgids):
    """Live pids whose process group is pgids (one id or several), children included."""
    pgids = {pgids} if isinstance(pgids, int) else set(pgids)
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        f = _stat_fields(d)
        if f and int(f[2]) in pgids and f[0] != "Z":
            out.append(int(d))
    return sorted(out)


def snapshot(pgids, tasks=True, pids=None):
    """CPU, context switches, memory, threads and fds of the server now.
    tasks=False skips the per-thread files (CPU ns and context switches):
    levels only, cheap even for 19,000 threads. pids: read these processes
    instead of finding the groups' members in all of /proc (see fixed_pids)."""
    t = time.monotonic()
    plist = list(pids if pids is not None else group_pids(pgids))
    # First, at one instant: each process's CPU clock, every thread's time
    # on CPU in ns, those that ended included (clock_gettime of the
    # process's CPU clock; any process's, no privilege). The per-thread
    # files below take ~0.1 ms a thread: 0.95 s for 10,001 threads here,
    # longer than a 0.2 s window.
    clocks = {}
    for pid in plist:
        try:
            clocks[pid] = time.clock_gettime_ns(((~pid) << 3) | 2)    # CPUCLOCK_SCHED
        except OSError:
            pass
    snap = dict(t=t, pids=0, utime_s=0.0, stime_s=0.0, cpu_ns=0, vcsw=0, ivcsw=0,
                rss_kb=0, hwm_kb=0, threads=0, fds=0,
                cpu_clock_ns=sum(clocks.values()) if clocks else None,
                clock_pids=hashlib.sha1(repr(sorted(clocks)).encode()).hexdigest()[:12])
    seen = set()
    for pid in plist:
        f = _stat_fields(pid)
        if not f:
            continue
        snap["pids"] += 1
        snap["utime_s"] += int(f[11]) / HZ
        snap["stime_s"] += int(f[12]) / HZ
        status = _read(f"/proc/{pid}/status", "")
        for ln in status.splitlines():
            k, _, v = ln.partition(":")
            if k == "VmRSS":
                snap["rss_kb"] += int(v.split()[0])
            elif k == "VmHWM":
                snap["hwm_kb"] += int(v.split()[0])
            elif k == "Threads":
                snap["threads"] += int(v)
        try:
            tids = os.listdir(f"/proc/{pid}/task") if tasks else []
        except OSError:
            tids = []
        seen.update((pid, tid) for tid in tids)
        for tid in tids:
            # schedstat: ns on CPU. utime/stime are whole clock ticks per
            # process, which loses up to 10 ms per process of a prefork.
            ss = _read(f"/proc/{pid}/task/{tid}/schedstat", "")
            if ss:
                snap["cpu_ns"] += int(ss.split()[0])
            st = _read(f"/proc/{pid}/task/{tid}/status", "")
            for ln in st.splitlines():
                if ln.startswith("voluntary_ctxt_switches"):
                    snap["vcsw"] += int(ln.split()[1])
                elif ln.startswith("nonvoluntary_ctxt_switches"):
                    snap["ivcsw"] += int(ln.split()[1])
        try:
            snap["fds"] += len(os.listdir(f"/proc/{pid}/fd"))
        except OSError:
            pass
    if tasks:
        key = tuple(sorted(pgids)) if not isinstance(pgids, int) else (pgids,)
        before = _LAST_TASKS.get(key)
        snap["tasks_gone"] = len(before - seen) if before is not None else 0
        _LAST_TASKS[key] = seen
    snap["read_s"] = round(time.monotonic() - t, 4)
    return snap


_LAST_TASKS = {}     # process groups -> the (pid, tid) pairs of their last snapshot


def fixed_pids(pgids):
    """The process groups' members if they are just their leaders (a server of
    one process per instance), else None. Such a server can be read by pid
    inside the measured window: scanning all of /proc for the groups' members
    took 3-5 ms of a CPU here (121 processes, both CPUs busy), and the harness
    runs on the CPUs the server and the generator use, so the scan showed in
    the open loop's p99 (2 ms at 8,000 echoes/s over 1,000 connections with
    snapshots taken in a loop, against 0.6-0.7 ms without)."""
    leaders = sorted({pgids} if isinstance(pgids, int) else set(pgids))
    return leaders if group_pids(leaders) == leaders else None


def delta(a, b):
    """b - a for the cumulative fields of two snapshots."""
    if not a or not b:
        return None
    gone = b.get("tasks_gone", 0)
    ticks_s = b["utime_s"] - a["utime_s"] + b["stime_s"] - a["stime_s"]
    # the processes' CPU clocks when both read the same processes; else, if
    # threads ended in between, the tick counters, which still hold their CPU
    same = (a.get("cpu_clock_ns") is not None and b.get("cpu_clock_ns") is not None
            and a.get("clock_pids") == b.get("clock_pids"))
    return dict(wall_s=b["t"] - a["t"],
                cpu_user_s=b["utime_s"] - a["utime_s"],
                cpu_sys_s=b["stime_s"] - a["stime_s"],
                cpu_s=((b["cpu_clock_ns"] - a["cpu_clock_ns"]) / 1e9 if same
                       else ticks_s if gone else (b["cpu_ns"] - a["cpu_ns"]) / 1e9),
                cpu_from="clock" if same else "ticks" if gone else "schedstat",
                vcsw=None if gone else b["vcsw"] - a["vcsw"],
                ivcsw=None if gone else b["ivcsw"] - a["ivcsw"], tasks_gone=gone)


# ---- machine limits ----------------------------------------------------------

def _int(path):
    s = _read(path)
    try:
        return int(s.split()[0]) if s else None
    except ValueError:
        return None


def count_tasks():
    n = 0
    for d in os.listdir("/proc"):
        if d.isdigit():
            f = _stat_fields(d)
            if f:
                n += int(f[17])
    return n


def limits():
    """Everything that bounds a run here, as a flat dict."""
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)
    sigp = resource.getrlimit(resource.RLIMIT_SIGPENDING)
    nproc = resource.getrlimit(resource.RLIMIT_NPROC)
    lo, hi = (int(x) for x in _read("/proc/sys/net/ipv4/ip_local_port_range").split())
    mem = {}
    for ln in _read("/proc/meminfo", "").splitlines():
        k, _, v = ln.partition(":")
        if k in ("MemTotal", "MemAvailable"):
            mem[k] = int(v.split()[0])

    def lim(x):
        return -1 if x == resource.RLIM_INFINITY else x

    return dict(
        nofile_soft=lim(nofile[0]), nofile_hard=lim(nofile[1]),
        nr_open=_int("/proc/sys/fs/nr_open"), file_max=_int("/proc/sys/fs/file-max"),
        ephemeral_lo=lo, ephemeral_hi=hi, ephemeral_ports=hi - lo + 1,
        cpus=len(os.sched_getaffinity(0)), cpus_online=os.cpu_count(),
        loadavg=[float(x) for x in _read("/proc/loadavg").split()[:3]],
        mem_total_mb=mem.get("MemTotal", 0) // 1024,
        mem_available_mb=mem.get("MemAvailable", 0) // 1024,
        kernel=platform.release(),
        somaxconn=_int("/proc/sys/net/core/somaxconn"),
        tcp_max_syn_backlog=_int("/proc/sys/net/ipv4/tcp_max_syn_backlog"),
        tcp_tw_reuse=_int("/proc/sys/net/ipv4/tcp_tw_reuse"),
        tcp_fin_timeout=_int("/proc/sys/net/ipv4/tcp_fin_timeout"),
        tcp_mem=_read("/proc/sys/net/ipv4/tcp_mem", "").split(),
        pid_max=_int("/proc/sys/kernel/pid_max"),
        threads_max=_int("/proc/sys/kernel/threads-max"),
        tasks_now=count_tasks(),
        aio_max_nr=_int("/proc/sys/fs/aio-max-nr"), aio_nr=_int("/proc/sys/fs/aio-nr"),
        sigpending=lim(sigp[0]), nproc=lim(nproc[0]),
        io_uring_disabled=_int("/proc/sys/kernel/io_uring_disabled"),
    )


def print_limits(lim, out):
    w = out.write
    w("preflight: what limits this run\n")
    w(f"  fds per process      {lim['nofile_soft']} soft / {lim['nofile_hard']} hard "
      f"(nr_open {lim['nr_open']}, file-max {lim['file_max']})\n")
    w(f"  ephemeral ports      {lim['ephemeral_lo']}-{lim['ephemeral_hi']} "
      f"({lim['ephemeral_ports']} per source address and server port)\n")
    w(f"  CPUs                 {lim['cpus']} usable, {lim['cpus_online']} online; "
      f"load average {' '.join(str(x) for x in lim['loadavg'])}\n")
    w(f"  memory               {lim['mem_available_mb']} MiB available of "
      f"{lim['mem_total_mb']} MiB\n")
    w(f"  kernel               {lim['kernel']}\n")
    w(f"  somaxconn            {lim['somaxconn']}; tcp_max_syn_backlog "
      f"{lim['tcp_max_syn_backlog']}; tcp_tw_reuse {lim['tcp_tw_reuse']}\n")
    w(f"  pid_max              {lim['pid_max']}; threads-max {lim['threads_max']}; "
      f"tasks now {lim['tasks_now']}; RLIMIT_NPROC {lim['nproc']}\n")
    w(f"  aio-max-nr           {lim['aio_max_nr']} (in use {lim['aio_nr']})\n")
    w(f"  RLIMIT_SIGPENDING    {lim['sigpending']}\n")


def warnings(lim):
    out = []
    if lim["cpus"] < 2:
        out.append("fewer than 2 CPUs: server and generator share one, figures mix")
    # (the load, busy and steal readings are harness/quiet.py's, at preflight)
    if lim["mem_available_mb"] < 2048:
        out.append(f"only {lim['mem_available_mb']} MiB available")
    return out


def cpu_model():
    """The CPU's model name (/proc/cpuinfo)."""
    for ln in _read("/proc/cpuinfo", "").splitlines():
        if ln.startswith("model name"):
            return ln.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def placement(pgids):
    """Where each process group (a server instance) may run, from every one
    of its tasks' Cpus_allowed_list: [{procs, threads, cpus: the distinct
    lists, sorted}] in pgids' order (a group that is gone: zeros, [])."""
    members = {g: [] for g in pgids}
    for d in os.listdir("/proc"):
        f = _stat_fields(d) if d.isdigit() else None
        if f and int(f[2]) in members and f[0] != "Z":
            members[int(f[2])].append(int(d))
    out = []
    for g in pgids:
        threads, cpus = 0, set()
        for pid in members[g]:
            try:
                tids = os.listdir(f"/proc/{pid}/task")
            except OSError:
                continue
            for tid in tids:
                st = _read(f"/proc/{pid}/task/{tid}/status", "")
                for ln in st.splitlines():
                    if ln.startswith("Cpus_allowed_list:"):
                        threads += 1
                        cpus.add(ln.split(":", 1)[1].strip())
        out.append(dict(procs=len(members[g]), threads=threads, cpus=sorted(cpus)))
    return out
