#!/usr/bin/env python3
"""Integration tests of bin/loadgen against real servers (TAP, under prove).

Latency accuracy (delay_echo --delay-us 2000: p50 = 2 ms within 10 %),
coordinated omission (a 200 ms stall shows in the open-loop p99.9 and not in
the closed-loop one), usage errors (exit 2, flag named), byte verification
(a corrupted byte: exit 1), the JSON record, --procs merging, --src, SIGINT.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from c10k import TAP, Server, bin_dir  # noqa: E402

t = TAP()
BIN = bin_dir()
LOADGEN = os.path.join(BIN, "loadgen")
DELAY = os.path.join(BIN, "tools", "delay_echo")
for p in (LOADGEN, DELAY, os.path.join(BIN, "echo_epoll_lt")):
    if not os.access(p, os.X_OK):
        TAP.skip_all(f"{p} is not built (run make)")

REQUIRED = ["conns", "connected", "connect_errors", "connect_error_reasons", "active", "size", "mode",
            "depth", "rate", "threads", "procs", "duration_s", "warmup_s", "echoes", "echoes_per_s",
            "bytes_per_s", "verify_errors", "unexpected_closes", "timeouts", "latency_us", "fairness",
            "client_cpu_s", "client_saturated"]


def loadgen(port, *args, timeout=30):
    """Run loadgen; return (exit code, parsed JSON or None, stdout, stderr)."""
    cmd = [LOADGEN, "--port", str(port), "--json", *map(str, args)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    rec = None
    lines = [ln for ln in p.stdout.splitlines() if ln.strip()]
    if len(lines) == 1:
        try:
            rec = json.loads(lines[0])
        except ValueError:
            pass
    return p.returncode, rec, p.stdout, p.stderr


def delay_server(*args):
    return Server("delay_echo", args=[str(a) for a in args], path=DELAY)


# ---- latency accuracy -------------------------------------------------------------
p50 = None
for attempt in range(2):   # one retry: a loaded 2-CPU box can be late once
    with delay_server("--delay-us", 2000) as srv:
        rc, rec, out, err = loadgen(srv.port, "--conns", 4, "--duration", 2)
    p50 = rec and rec["latency_us"]["p50"]
    if rc == 0 and p50 and 1800 <= p50 <= 2200:
        break
t.ok(rc == 0 and p50 and 1800 <= p50 <= 2200, f"delay_echo 2 ms: p50 {p50} us within 10% of 2000",
     err)

# ---- coordinated omission: a 200 ms stall, open vs closed loop --------------------
with delay_server("--stall-ms", 200, "--stall-after", 1) as srv:
    rc, rec, out, err = loadgen(srv.port, "--conns", 10, "--rate", 2000, "--duration", 3)
open_p999 = rec and rec["latency_us"]["p999"]
t.ok(rc == 0 and open_p999 and open_p999 >= 100000,
     f"open loop 2000/s: the 200 ms stall shows in p99.9 ({open_p999} us >= 100 ms)", err)
t.diag(f"open loop latency_us: {rec and rec['latency_us']}")
with delay_server("--stall-ms", 200, "--stall-after", 1) as srv:
    rc, rec, out, err = loadgen(srv.port, "--conns", 10, "--duration", 3)
closed = rec and rec["latency_us"]
t.ok(rc == 0 and closed and closed["p999"] < 100000 and closed["max"] >= 150000,
     f"closed loop hides it: p99.9 {closed and closed['p999']} us < 100 ms though max "
     f"{closed and closed['max']} us", err)
t.diag(f"closed loop latency_us: {closed}")

# ---- --work-every: light and heavy requests told apart by their first two bytes ------
# The server spins 2 ms on a message whose key is a multiple of 4; at --depth 1 one read
# is one message, so the client's split is exact. Two procs: the split merges across them.
with Server("epoll_lt", args=["--work-us", "2000", "--work-every", "4"]) as srv:
    rc, rec, out, err = loadgen(srv.port, "--conns", 2, "--procs", 2, "--depth", 1, "--duration", 2,
                                "--work-every", 4)
light = rec and rec.get("light_latency_us")
heavy = rec and rec.get("heavy_latency_us")
t.ok(rc == 0 and light and heavy and heavy["p50"] >= 2000 and light["p50"] < 2000,
     f"--work-every 4: heavy p50 {heavy and heavy['p50']} us >= 2 ms, light p50 "
     f"{light and light['p50']} us < 2 ms", err)
frac = heavy["count"] / rec["echoes"] if rec and heavy and rec["echoes"] else 0
t.ok(rec and 0.15 <= frac <= 0.35 and light["count"] + heavy["count"] == rec["echoes"],
     f"--work-every 4: heavy {frac:.1%} of {rec and rec['echoes']} echoes (15-35%), light + heavy = all",
     err)
t.ok("light us:" in err and "heavy us:" in err, "--work-every: the summary prints light and heavy lines", err)
with Server("epoll_lt") as srv:
    rc, rec, out, err = loadgen(srv.port, "--duration", 0.2)
t.ok(rc == 0 and rec and "light_latency_us" not in rec and "heavy_latency_us" not in rec,
     "without --work-every: no light/heavy objects", err)

# ---- bad input: exit 2, the flag named, nothing run -----------------------------------
s = socket.socket()
s.bind(("127.0.0.1", 0))
free_port = s.getsockname()[1]
s.close()   # nobody listens there now
with Server("epoll_lt") as srv:
    cases = [
        (["--size", "0"], "--size"),
        (["--rate", "100", "--churn"], "--rate"),
        (["--work-every", "4", "--churn"], "--work-every"),
        (["--conns", "5", "--active", "6"], "--active"),
        (["--frobnicate"], "--frobnicate"),
        (["--host", "10.1.2.3"], "--host"),
        (["--duration", "0"], "--duration"),
        (["--conns", "60000", "--src", "127.0.0.2-127.0.0.9"], "--procs"),
    ]
    for args, flag in cases:
        rc, rec, out, err = loadgen(srv.port, *args)
        t.ok(rc == 2 and flag in err and not out.strip() and "measure start" not in err,
             f"{' '.join(args)}: exit 2 naming {flag}", f"rc={rc} stderr={err!r}")
    rc, rec, out, err = loadgen(free_port, "--duration", 1)
    t.ok(rc == 2 and "--port" in err and not out.strip(), f"refused port {free_port}: exit 2 naming --port",
         f"rc={rc} stderr={err!r}")
    st = srv.stop()
t.ok(st and st["accepted"] == 0, "no bad invocation ever connected", st)

# ---- verification: one corrupted byte -> exit 1 ------------------------------------------
with delay_server("--corrupt-after", 1000) as srv:
    rc, rec, out, err = loadgen(srv.port, "--conns", 4, "--duration", 1)
t.ok(rc == 1 and rec and rec["verify_errors"] >= 1, f"corrupted byte: verify_errors "
     f"{rec and rec['verify_errors']}, exit {rc}", err)

# ---- the JSON record, markers, hgrm, idle pings ---------------------------------------------
hgrm = f"/tmp/loadgen-t-{os.getpid()}.hgrm"
with Server("epoll_lt") as srv:
    rc, rec, out, err = loadgen(srv.port, "--conns", 50, "--active", 10, "--idle-ping", 0.25,
                                "--duration", 1, "--hgrm", hgrm)
    missing = [k for k in REQUIRED if rec is None or k not in rec]
    t.ok(rc == 0 and rec is not None and not missing, f"--json: one object with every key (missing {missing})",
         out + err)
    t.ok(rec and all(k in rec["latency_us"] for k in ("p50", "p90", "p99", "p999", "p9999", "max", "mean"))
         and all(k in rec["fairness"] for k in ("min", "max", "jain"))
         and all(k in rec["client_cpu_s"] for k in ("user", "sys")), "nested keys")
    t.ok(rec and rec["mode"] == "closed" and rec["connected"] == 50 and rec["active"] == 10
         and rec["echoes"] > 0 and rec["fairness"]["jain"] > 0.5, "closed loop, 50 connected, 10 active")
    t.ok(rec and rec["idle_echoes"] >= 40 * 2, f"idle pings echoed and verified: {rec and rec['idle_echoes']}")
    lines = err.splitlines()
    t.ok("loadgen: measure start" in lines and "loadgen: measure end" in lines
         and lines.index("loadgen: measure start") < lines.index("loadgen: measure end"),
         "measure start/end markers on stderr")
    try:
        with open(hgrm) as f:
            txt = f.read()
        os.unlink(hgrm)
    except OSError:
        txt = ""
    t.ok("1/(1-Percentile)" in txt and "#[Max" in txt, "--hgrm writes the percentile distribution")

    # ---- churn ----
    rc, rec, out, err = loadgen(srv.port, "--conns", 4, "--churn", "--duration", 1)
    t.ok(rc == 0 and rec and rec["mode"] == "churn" and rec["conns_per_s"] > 100
         and "connect_latency_us" in rec, f"churn: {rec and rec.get('conns_per_s')} conns/s", err)

    # ---- --procs 2 merges ----
    rc, rec, out, err = loadgen(srv.port, "--conns", 40, "--procs", 2, "--duration", 1)
    t.ok(rc == 0 and rec and rec["connected"] == 40 and rec["procs"] == 2,
         f"--procs 2: connected {rec and rec['connected']} == 40", err)
    t.ok(rec and sum(rec.get("proc_echoes", [])) == rec["echoes"] and min(rec["proc_echoes"]) > 0,
         f"--procs 2: echoes {rec and rec['echoes']} == sum of {rec and rec.get('proc_echoes')}")
    t.ok(rec and rec["latency_us"]["count"] == rec["echoes"], "merged histogram holds every echo")

    # ---- --src over 2 addresses ----
    rc, rec, out, err = loadgen(srv.port, "--conns", 20, "--threads", 2, "--src", "127.0.0.2-127.0.0.3",
                                "--duration", 1)
    t.ok(rc == 0 and rec and rec["connected"] == 20 and rec["srcs"] == 2 and rec["echoes"] > 0,
         "--src 127.0.0.2-127.0.0.3: all connected and echoing", err)

    # ---- --count: fixed work, the run ends when it is done ----
    st0 = time.monotonic()
    rc, rec, out, err = loadgen(srv.port, "--conns", 4, "--depth", 2, "--count", 500, "--duration", 20)
    took = time.monotonic() - st0
    t.ok(rc == 0 and rec and rec["echoes"] == 2000 and rec["count"] == 500 and rec["unfinished"] == 0
         and rec["fairness"]["min"] == rec["fairness"]["max"] == 500 and took < 10,
         f"--count 500 x 4 conns: {rec and rec['echoes']} echoes, every conn 500, done in {took:.2f} s "
         "(not the 20 s cap)", err)
    rc, rec, out, err = loadgen(srv.port, "--conns", 6, "--procs", 2, "--count", 300, "--duration", 20)
    t.ok(rc == 0 and rec and rec["echoes"] == 1800 and rec["proc_echoes"] == [900, 900],
         f"--count 300 --procs 2: {rec and rec.get('proc_echoes')}", err)
    rc, rec, out, err = loadgen(srv.port, "--count", 100000000, "--duration", 0.3)
    t.ok(rc == 1 and rec and rec["unfinished"] == 1 and rec["timeouts"] >= 1 and "TIMEOUT" in err,
         f"--count past the --duration cap: exit {rc}, unfinished {rec and rec['unfinished']}", err)

    # ---- SIGINT mid-run still prints the record ----
    p = subprocess.Popen([LOADGEN, "--port", str(srv.port), "--conns", 10, "--procs", 2, "--duration", 30,
                          "--json", "--quiet"] if False else
                         [LOADGEN, "--port", str(srv.port), "--conns", "10", "--procs", "2",
                          "--duration", "30", "--json", "--quiet"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    start = time.monotonic()
    line = ""
    while time.monotonic() - start < 10:
        line = p.stderr.readline()
        if "measure start" in line or not line:
            break
    time.sleep(1)
    p.send_signal(signal.SIGINT)
    try:
        out, err = p.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
    took = time.monotonic() - start
    try:
        rec = json.loads(out)
    except ValueError:
        rec = None
    t.ok(rec is not None and rec["interrupted"] and rec["echoes"] > 0 and 0.5 < rec["duration_s"] < 5
         and took < 8, f"SIGINT after 1 s: JSON printed, {rec and rec['echoes']} echoes in "
         f"{rec and rec['duration_s']} s", out + err)
    t.ok(p.returncode == 0, f"SIGINT: exit {p.returncode}")
    time.sleep(0.2)
    orphans = subprocess.run(["pgrep", "-P", str(p.pid)], capture_output=True, text=True).stdout.strip()
    t.ok(not orphans, "no worker left behind", orphans)

t.done()
