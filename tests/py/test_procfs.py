"""harness/procfs.py: a thread that ends between two snapshots takes its
per-thread counters with it; the snapshot says so, delta() gives no context
switches, and the CPU comes from the process's CPU clock, which keeps the
ended thread's time (or, without clocks, from the tick counters)."""
import subprocess
import sys
import time

import procfs
import runner

CHILD = r"""
import sys, threading, time
def spin():
    while time.thread_time() < 0.3:       # 0.3 s of this thread's own CPU time
        pass
    print("up", flush=True)
    sys.stdin.readline()
t = threading.Thread(target=spin)
t.start()
t.join()
print("joined", flush=True)
time.sleep(30)
"""


def test_a_thread_that_ends_is_counted_and_its_cpu_kept():
    p = subprocess.Popen([sys.executable, "-c", CHILD], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert p.stdout.readline().strip() == "up"  # the thread has spun its 0.3 s
        a = procfs.snapshot([p.pid])
        b = procfs.snapshot([p.pid])
        assert b["tasks_gone"] == 0 and b["threads"] == 2
        w = procfs.delta(a, b)
        assert w["tasks_gone"] == 0 and w["vcsw"] is not None
        p.stdin.write("go\n")
        p.stdin.flush()
        assert p.stdout.readline().strip() == "joined"
        # join() returns before the kernel has reaped the thread: wait for it
        # (a fresh-clone CI run read 2 threads here once)
        end = time.monotonic() + 5
        while procfs.snapshot([p.pid], tasks=False)["threads"] != 1 and time.monotonic() < end:
            time.sleep(0.01)
        c = procfs.snapshot([p.pid])
        assert c["threads"] == 1 and c["tasks_gone"] == 1
        w = procfs.delta(a, c)
        assert w["tasks_gone"] == 1
        assert w["vcsw"] is None and w["ivcsw"] is None
        # the ended thread's CPU is still in the process's CPU clock (and ticks)
        assert w["cpu_from"] == "clock" and 0 <= w["cpu_s"] < 0.2
        assert c["cpu_clock_ns"] >= 0.3e9 and c["cpu_clock_ns"] >= a["cpu_clock_ns"]
        assert c["utime_s"] + c["stime_s"] >= 0.2   # its 0.3 s of spinning, at 10 ms a tick
        # without clocks of the same processes at both ends: the ticks
        w = procfs.delta(a, dict(c, clock_pids="other"))
        assert w["cpu_from"] == "ticks" and w["cpu_s"] == w["cpu_user_s"] + w["cpu_sys_s"]
    finally:
        p.kill()
        p.wait()


def test_derive_leaves_switches_empty_when_threads_ended():
    levels = dict(pids=1, rss_kb=1000, hwm_kb=1000, threads=2, fds=10)
    start = dict(levels, t=0.0, utime_s=1.0, stime_s=1.0, cpu_ns=5 * 10**9, vcsw=10, ivcsw=10)
    end = dict(levels, t=1.0, utime_s=1.5, stime_s=1.5, cpu_ns=4 * 10**9, vcsw=5, ivcsw=5)
    w = procfs.delta(start, end)
    assert w["cpu_s"] == -1.0 and w["vcsw"] == -5         # what the sums alone would say
    pt = dict(rate=0, model="threads", mode="closed", size=64, conns=10, active=10)
    rec = dict(client={"echoes": 1000, "echoes_per_s": 1000.0},
               proc=dict(start=start, end=dict(end, tasks_gone=3)))
    d = runner.derive(pt, rec)
    assert d["tasks_gone"] == 3 and "csw_per_echo" not in d
    assert d["cpu_us_per_echo"] == 1.0 * 1e6 / 1000          # the ticks' 1.0 s, not -1.0
