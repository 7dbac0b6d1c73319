#!/usr/bin/env python3
"""bench-hosts.t - `make bench` with SERVER_HOST and two CLIENT_HOSTS, as a user runs it.

Three network namespaces (server, client1, client2) on a veth bridge with
198.18.0.0/15 addresses and an sshd in each, with a throwaway host key and
an authorised key made here (harness/netns.py). One quick run through the
Makefile (PROFILE=quick MODELS=epoll_lt SWEEPS=active CONNS=10,20,30 REPEATS=1 DURATION=1, so
three points): the suite is deployed from HEAD to each host and built there,
the server runs on 'server', a generator on each client host. client2's sshd
is killed while the second point runs. Checks: the run exits 0; the first
point is ok with the generators' histograms merged bucket by bucket (its
total = the sum of the parts' counts) and the server's /proc read over ssh
(CPU per echo); the second point failed naming client2 and why; the
third failed or was skipped; context.json has all three hosts' contexts;
every record stores its topology; afterwards no process but sshd in any
namespace, and at the end no namespace, process or sshd. An unreachable host
stops the run before it starts with one line naming it. Root only.
"""
import json
import os
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from c10k import ROOT, TAP, wait_until  # noqa: E402
import netns  # noqa: E402

why = netns.unavailable() or netns.sshd_unavailable()
if why:
    TAP.skip_all(why)

t = TAP()
T0 = time.monotonic()
signal.signal(signal.SIGALRM, lambda s, f: sys.exit("bench-hosts.t: still running after 170 s"))
signal.alarm(170)
topo = netns.Topology(["server", "client1", "client2"])
bench = None


def loadgen_in(name):
    """A loadgen running in host name's namespace (read from /proc: fast)."""
    ino = os.stat(f"/run/netns/{topo.ns(name)}").st_ino
    for d in os.listdir("/proc"):
        try:
            if (d.isdigit() and open(f"/proc/{d}/comm").read().strip() == "loadgen"
                    and os.stat(f"/proc/{d}/ns/net").st_ino == ino):
                return True
        except OSError:
            pass
    return False


def make_bench(**kw):
    args = ["make", "--no-print-directory", "-C", ROOT, "bench", "PROFILE=quick",
            "MODELS=epoll_lt", "SWEEPS=active", "REPEATS=1",
            # 1 s windows: the server's /proc is read over ssh at the window's start and
            # middle, and under a loaded CI a read took longer than the quick profile's
            # 0.2 s window (the mid-window read came after the generators had closed)
            "DURATION=1"] + [f"{k}={v}" for k, v in kw.items()]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


try:
    topo.start_sshd()
    H = {n: f"root@{topo.alias(n)}" for n in topo.names}
    out = os.path.join(topo.tmp, "results")
    common = dict(SSH_CONFIG=topo.ssh_config, REMOTE_DIR=topo.tmp, OUT=out)

    # ---- an unreachable host: one line naming it, nothing run ------------------
    p = make_bench(SERVER_HOST=H["server"], CLIENT_HOSTS=f"{H['client1']},root@{topo.addr['server']}",
                   CONNS=10, SSH_CONFIG=os.devnull, REMOTE_DIR=topo.tmp, OUT=out)
    _, err = p.communicate(timeout=60)
    lines = [ln for ln in err.splitlines() if ln.startswith("bench: host ")]
    t.ok(p.returncode != 0 and lines and all(H["server"] in ln or topo.addr["server"] in ln
                                             or H["client1"] in ln for ln in lines)
         and not os.path.exists(out),
         "unreachable hosts (no key): one line each naming the host, no run", err[-600:])

    # ---- the run; client2's sshd killed during the second point -----------------
    bench = make_bench(SERVER_HOST=H["server"], CLIENT_HOSTS=f"{H['client1']},{H['client2']}",
                       CONNS="10,20,30", **common)
    err_lines = []
    second = threading.Event()

    def reader():
        for ln in bench.stderr:
            err_lines.append(ln.rstrip("\n"))
            if "[1/3]" in ln:     # the first point's result ends its line: the second starts
                second.set()
    th = threading.Thread(target=reader, daemon=True)
    th.start()
    killed = None
    if second.wait(150):
        if wait_until(lambda: loadgen_in("client2"), 20, step=0.005):
            topo.kill_sshd("client2")
            killed = time.monotonic()
    code = bench.wait(timeout=max(10, 165 - (time.monotonic() - T0)))
    th.join(5)
    t.ok(code == 0 and killed, f"make bench exit {code}: the run finished though client2 "
         "failed mid-run", "\n".join(err_lines[-25:]))
    t.note("\n".join(ln for ln in err_lines if ln.startswith(("preflight: host", "[", "bench: "))))

    run = os.path.join(out, "latest")
    recs = []
    with open(os.path.join(run, "points.jsonl")) as f:
        recs = [json.loads(ln) for ln in f]
    recs.sort(key=lambda r: r["seq"])
    with open(os.path.join(run, "context.json")) as f:
        ctx = json.load(f)
    t.ok(len(recs) == 3, f"three records ({[r['status'] for r in recs]})")
    r1 = recs[0] if recs else {}
    c = r1.get("client") or {}
    parts = c.get("hosts") or {}
    total = sum(((p or {}).get("latency_us") or {}).get("count", 0) for p in parts.values())
    h = c.get("latency_hist") or {}
    t.ok(r1.get("status") == "ok" and set(parts) == {H["client1"], H["client2"]}
         and all((p or {}).get("echoes", 0) > 0 for p in parts.values()),
         "first point ok, a generator on each client host", r1.get("reason"))
    counts = [((p or {}).get("latency_us") or {}).get("count", 0) for p in parts.values()]
    t.ok(len(counts) == 2 and min(counts) > 0
         and h.get("total") == total == sum(b[2] for b in h.get("buckets", []))
         and c.get("latency_us", {}).get("count") == total,
         f"merged histogram: total {h.get('total')} = sum of the parts {total}")
    t.ok(len(parts) == 2 and c.get("echoes") == sum(p["echoes"] for p in parts.values() if p),
         "echoes added across hosts")
    d = r1.get("derived") or {}
    t.ok(d.get("cpu_us_per_echo") and d.get("fds", 0) >= r1["point"]["conns"],
         f"server /proc over ssh: {d.get('cpu_us_per_echo')} us CPU per echo, "
         f"{d.get('fds')} fds")
    tp = r1.get("topology") or {}
    t.ok(tp.get("kind") == "hosts" and tp.get("server_host") == H["server"]
         and tp.get("server_addr") == topo.addr["server"] and set(tp.get("generators", {}))
         == {H["client1"], H["client2"]}, "the record stores where it ran", tp)
    cmds = r1.get("client_cmd") or []
    t.ok(len(cmds) == 2 and all("--allow-host" in a and topo.addr["server"] in a for a in cmds)
         and sorted(int(a[a.index("--conns") + 1]) for a in cmds) == [5, 5],
         "10 connections split 5 + 5, each generator allowed exactly the server's address")
    r2 = recs[1] if len(recs) > 1 else {}
    t.ok(r2.get("status") == "failed" and f"host {H['client2']}" in (r2.get("reason") or ""),
         f"second point failed, naming client2: {r2.get('reason')}")
    r3 = recs[2] if len(recs) > 2 else {}
    t.ok(r3.get("status") in ("failed", "skipped") and r3.get("reason"),
         f"third point: {r3.get('status')}: {r3.get('reason')}")
    hc = (ctx.get("topology") or {}).get("hosts") or {}
    t.ok(set(hc) == set(H.values()) and all(x.get("kernel") == os.uname().release
                                            and x.get("nproc") and x.get("nofile_hard")
                                            and x.get("nics") for x in hc.values()),
         "context.json: kernel, CPUs, limits and NICs of all three hosts", list(hc))
    dep = (ctx.get("topology") or {}).get("deployed") or {}
    t.ok(set(dep) == set(H.values()) and all(x.get("commit") for x in dep.values()),
         "context.json: what was deployed to each host (commit, folder, build time)")
    t.ok(wait_until(lambda: not any(topo.non_sshd_pids(n) for n in topo.names), 10),
         "nothing but sshd left in any namespace",
         {n: topo.non_sshd_pids(n) for n in topo.names})
finally:
    if bench is not None and bench.poll() is None:
        os.killpg(bench.pid, signal.SIGKILL)
        bench.wait(10)
    topo.close()

t.ok(topo.leftovers() == [] or wait_until(lambda: topo.leftovers() == [], 10),
     "no namespace, no process in one, no sshd left", topo.leftovers())
t.note(f"{time.monotonic() - T0:.1f} s")
t.done()
