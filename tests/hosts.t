#!/usr/bin/env python3
"""hosts.t - runs across hosts over ssh (harness/hosts.py), in namespaces.

Three network namespaces (server, client1, client2) on a veth bridge with
198.18.0.0/15 addresses, an sshd in each with a throwaway host key and an
authorised key made here (harness/netns.py). Through hosts.py: check the
hosts (and that a refused port and a missing key each fail with one line
naming the host, never a prompt), gather the three contexts, deploy the
working tree to a temp dir on each and build there, run bin/echo_epoll_lt
on the server host and bin/loadgen on both client hosts against it, read
the server's /proc remotely, merge the generators' histograms bucket by
bucket (merged total = sum of the parts; each part's percentiles as the
loadgen computed them), then do it again and kill client2's sshd mid-run:
that host's failure is reported with the reason, and no process is left in
any namespace; at the end no namespace and no sshd either. Last, NET=veth:
bin/echo_epoll_lt and bin/loadgen in two namespaces joined by one veth pair,
the echoes crossing it. Root only; 40-55 s here (2 busy CPUs).
"""
import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from c10k import ROOT, TAP, bin_dir, wait_until  # noqa: E402
import netns  # noqa: E402

sys.path.insert(0, os.path.join(ROOT, "harness"))
import hosts  # noqa: E402
import merge  # noqa: E402
from hosts import HostError  # noqa: E402

why = netns.unavailable() or netns.sshd_unavailable()
if why:
    TAP.skip_all(why)

t = TAP()
T0 = time.monotonic()
# A bound on the whole test: the finally below still cleans up.
signal.signal(signal.SIGALRM, lambda s, f: sys.exit("hosts.t: still running after 240 s"))
signal.alarm(240)
topo = netns.Topology(["server", "client1", "client2"])


def each(fn, items):
    """fn(item) for every item at once; {item: result or exception}."""
    out = {}

    def one(x):
        try:
            out[x] = fn(x)
        except Exception as e:       # reported by the caller's check
            out[x] = e
    ts = [threading.Thread(target=one, args=(x,), daemon=True) for x in items]
    for th in ts:
        th.start()
    for th in ts:
        th.join()
    return out


def read_until(r, want, timeout):
    """stderr lines of a remote loadgen until one equals want (or EOF)."""
    end = time.monotonic() + timeout
    lines = []
    while time.monotonic() < end:
        ln = hosts._read_line(r.stderr, end - time.monotonic())
        if not ln:
            break
        lines.append(ln)
        if ln.strip() == want:
            return True, lines
    return False, lines


def start_point(H, dirs, addr, durations):
    """Server on 'server', a generator on each client host (run for
    durations[host] s); returns the remotes, the server's port, the sampler."""
    srv = H["server"].start(["bin/echo_epoll_lt", "--addr", addr, "--port", "0"],
                            cwd=dirs["server"], cpus="0")
    ready = hosts._read_line(srv.stdout, 20)
    port = int(ready.split()[1]) if ready.startswith("READY ") else None
    sampler = H["server"].sampler(dirs["server"])
    lg = ["bin/loadgen", "--host", addr, "--allow-host", addr, "--port", str(port),
          "--conns", "20", "--warmup", "0.2", "--json", "--buckets", "--quiet", "--duration"]
    gens = each(lambda n: H[n].start(lg + [str(durations[n])], cwd=dirs[n]),
                ["client1", "client2"])
    return srv, port, sampler, gens


try:
    topo.start_sshd()
    addr = topo.addr["server"]
    H = {n: hosts.Host(f"root@{topo.alias(n)}", ssh_config=topo.ssh_config)
         for n in topo.names}

    # ---- reachability ------------------------------------------------------------
    probs = hosts.check_all(list(H.values()))
    t.ok(probs == [], "all three hosts answer over ssh -o BatchMode=yes", probs)
    refused = hosts.Host(f"ssh://root@{addr}:1", ssh_config=topo.ssh_config)
    nokey = hosts.Host(f"root@{addr}", ssh_config=os.devnull)
    t0 = time.monotonic()
    probs = hosts.check_all([refused, H["client1"], nokey])
    t.ok(len(probs) == 2 and probs[0].startswith(f"host {refused.spec}: ")
         and "refused" in probs[0], "a refused port: one line naming the host", probs)
    t.ok(len(probs) == 2 and probs[1].startswith(f"host {nokey.spec}: ")
         and ("Permission denied" in probs[1] or "verification failed" in probs[1]),
         "no key for the host: one line naming it, no prompt (BatchMode)", probs)
    t.ok(time.monotonic() - t0 < 30, f"checks answered in {time.monotonic() - t0:.1f} s")

    # ---- contexts ----------------------------------------------------------------
    ctx = hosts.contexts(list(H.values()), route_to=addr)
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    for n, h in H.items():
        c = ctx[h.spec]
        nic = {x["name"]: x for x in c.get("nics", [])}.get("eth0") or {}
        t.ok(c.get("kernel") == os.uname().release and c.get("nproc", 0) >= 1
             and c.get("nofile_hard") == nofile and c.get("cpu_model")
             and c.get("cpus_allowed"),
             f"{n}: context has kernel, CPU model, CPUs and nofile", c)
        route = "lo" if n == "server" else "eth0"
        t.ok(nic.get("kind") == "veth" and nic.get("mtu") and c.get("route_dev") == route,
             f"{n}: context names its NIC (eth0, veth) and the route to the server ({route})", c)

    # ---- deploy: the working tree, built on each host ----------------------------
    dirs = {n: os.path.join(topo.tmp, n, "c10k-bench") for n in topo.names}
    targets = {"server": ["bin/echo_epoll_lt"], "client1": ["bin/loadgen"],
               "client2": ["bin/loadgen"]}
    try:
        H["server"].deploy("/tmp/not-ours")
        t.ok(False, "deploy refuses a folder not named c10k-bench*")
    except HostError as e:
        t.ok("c10k-bench" in str(e), "deploy refuses a folder not named c10k-bench*", e)
    dep = each(lambda n: H[n].deploy(dirs[n], targets[n], tree="worktree", jobs=1, timeout=120),
               topo.names)
    for n in topo.names:
        d = dep[n]
        t.ok(isinstance(d, dict) and all(os.access(os.path.join(dirs[n], x), os.X_OK)
                                         for x in targets[n]),
             f"{n}: suite unpacked and {' '.join(targets[n])} built there", d)
    t.note("deploy: " + ", ".join(f"{n} {d['seconds']} s"
                                  for n, d in dep.items() if isinstance(d, dict)))

    # ---- a point across three hosts ----------------------------------------------
    srv, port, sampler, gens = start_point(H, dirs, addr, {"client1": 3, "client2": 3})
    t.ok(port is not None, f"server on {addr}:{port} (READY through ssh)")
    t.ok(all(isinstance(g, hosts.Remote) and g.pid for g in gens.values()),
         "both generators started, remote pids recorded", gens)
    for n, g in gens.items():
        read_until(g, "loadgen: measure start", 30)
    snaps = {"start": sampler.snapshot([srv.pgid])}    # both generators connected
    outs = {}
    for n, g in gens.items():
        out, err = g.communicate(timeout=30)
        hosts.forget(g)
        outs[n] = (g.returncode, out.decode(), err.decode())
    snaps["end"] = sampler.snapshot([srv.pgid])
    js = {}
    for n, (code, out, err) in outs.items():
        try:
            js[H[n].spec] = json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            js[H[n].spec] = None
        j = js[H[n].spec] or {}
        t.ok(code == 0 and j.get("echoes", 0) > 0 and not j.get("verify_errors")
             and j.get("allowed_host") == addr and j.get("host") == addr,
             f"{n}: loadgen ran against {addr} (allowed by --allow-host, reported)",
             f"exit {code}: {err[-500:]}")
    parts = [j for j in js.values() if j]
    m = merge.merge_clients(js)
    total = sum(j["latency_hist"]["total"] for j in parts)
    t.ok(len(parts) == 2 and m["latency_hist"]["total"] == total == m["latency_us"]["count"]
         and sum(b[2] for b in m["latency_hist"]["buckets"]) == total,
         f"merged histogram total {m and m['latency_hist']['total']} = sum of the parts {total}")
    by_lo = {}
    for j in parts:
        for lo, _hi, n_ in j["latency_hist"]["buckets"]:
            by_lo[lo] = by_lo.get(lo, 0) + n_
    t.ok({b[0]: b[2] for b in m["latency_hist"]["buckets"]} == by_lo,
         "merged bucket by bucket: every bucket's count is the sum of the parts'")
    mine = [merge.hist_summary(j["latency_hist"]) for j in parts]
    theirs = [{k: j["latency_us"][k] for k in mine[0]} for j in parts]
    t.ok(mine == theirs, "each part's percentiles from its buckets = the loadgen's own",
         f"{mine} vs {theirs}")
    lo99, hi99 = sorted(j["latency_us"]["p99"] for j in parts)
    t.ok(lo99 <= m["latency_us"]["p99"] <= hi99 and m["echoes"] == sum(j["echoes"] for j in parts),
         f"merged p99 {m['latency_us']['p99']} us lies between the parts' ({lo99}, {hi99}); "
         "echoes added")
    a, b = snaps.get("start"), snaps.get("end")
    t.ok(a and b and a["pids"] == 1 and b["cpu_ns"] > a["cpu_ns"] and a["fds"] >= 40,
         "server's /proc read over ssh: one process (the watchdog is not counted), "
         "CPU used, 40 connections open", f"{a} {b}")
    srv.signal(signal.SIGTERM)
    sout, serr = srv.communicate(timeout=20)
    hosts.forget(srv)
    stats = [json.loads(ln) for ln in sout.decode().splitlines() if ln.startswith("{")]
    t.ok(srv.returncode == 0 and stats and stats[0]["messages"] >= m["echoes"],
         "server stopped by SIGTERM over ssh, its JSON counters came back", sout[-300:])
    sampler.close()
    probs = hosts.kill_all()
    t.ok(probs == [] and not hosts.TRACKED, "end of point: every tracked process ended", probs)
    left = {n: topo.non_sshd_pids(n) for n in topo.names}
    t.ok(not any(left.values()), "nothing but sshd left in any namespace", left)

    # ---- a client host fails mid-run --------------------------------------------
    # client2 would run 60 s: only the watchdog can end it in time
    srv, port, sampler, gens = start_point(H, dirs, addr, {"client1": 3, "client2": 60})
    g1, g2 = gens["client1"], gens["client2"]
    ok2, lines2 = read_until(g2, "loadgen: measure start", 30)
    topo.kill_sshd("client2")
    t0 = time.monotonic()
    gone = wait_until(lambda: g2.poll() is not None, 20)
    rest = g2.stderr.read().decode(errors="replace")
    reason = g2.failure(rest)
    t.ok(ok2 and gone and g2.lost() and reason and reason.startswith(
        f"host {H['client2'].spec}: connection lost"),
        f"client2's failure noticed in {time.monotonic() - t0:.1f} s, with the reason: {reason}")
    t.ok(wait_until(lambda: not topo.non_sshd_pids("client2"), 5),
         "its loadgen (a 60 s run) ended with the channel in 5 s: the watchdog, "
         "though no ssh can reach the host",
         topo.non_sshd_pids("client2"))
    out1, _ = g1.communicate(timeout=30)
    hosts.forget(g1)
    j1 = json.loads(out1.decode().strip().splitlines()[-1]) if out1.strip() else {}
    t.ok(g1.returncode == 0 and j1.get("echoes", 0) > 0,
         "client1 finished its run: one host's failure is that point's, not the run's")
    sampler.close()
    probs = hosts.kill_all()
    t.ok(len(probs) == 1 and probs[0].startswith(f"host {H['client2'].spec}: "),
         "ending the point reports the host it cannot reach, and only that one", probs)
    left = {n: topo.non_sshd_pids(n) for n in topo.names}
    t.ok(wait_until(lambda: not any(topo.non_sshd_pids(n) for n in topo.names), 5),
         "nothing but sshd left in any namespace (server killed over ssh)", left)
    t.ok(all(r.popen.poll() is not None for r in (srv, g1, g2)),
         "no local ssh client left either")
finally:
    hosts.kill_all()
    topo.close()

t.ok(topo.leftovers() == [] or wait_until(lambda: topo.leftovers() == [], 10),
     "no namespace, no process in one, no sshd left", topo.leftovers())

# ---- NET=veth: server and generator in two namespaces, one veth pair -----------


def eth0_packets(ns):
    st = json.loads(subprocess.run(["ip", "-n", ns, "-j", "-s", "link", "show", "eth0"],
                                   capture_output=True, text=True).stdout)[0]["stats64"]
    return st["rx"]["packets"] + st["tx"]["packets"]


with netns.VethPair() as v:
    srv = subprocess.Popen(netns.exec_prefix(v.server_ns)
                           + [os.path.join(bin_dir(), "echo_epoll_lt"), "--addr",
                              v.server_addr, "--port", "0"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    ready = hosts._read_line(srv.stdout, 10)
    before = eth0_packets(v.client_ns)
    lg = subprocess.run(netns.exec_prefix(v.client_ns)
                        + [os.path.join(bin_dir(), "loadgen"), "--host", v.server_addr,
                           "--allow-host", v.server_addr, "--port", ready.split()[-1],
                           "--conns", "10", "--duration", "0.5", "--json", "--quiet"],
                        capture_output=True, text=True, timeout=30)
    srv.terminate()
    srv.wait(5)
    j = json.loads(lg.stdout or "{}")
    pk = eth0_packets(v.client_ns) - before
    t.ok(lg.returncode == 0 and j.get("echoes", 0) > 0 and pk >= j["echoes"],
         f"NET=veth: {j.get('echoes')} echoes from {v.client_addr} to {v.server_addr}, "
         f"{pk} packets through the veth", lg.stderr[-300:])
    vnet = v
t.ok(wait_until(lambda: vnet.leftovers() == [], 10), "NET=veth: no namespace or process left",
     vnet.leftovers())
t.note(f"{time.monotonic() - T0:.1f} s")
t.done()
