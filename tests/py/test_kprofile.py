"""harness/kprofile.py: perf script parsing, the wait / TCP / user / other
classification, shares and ns per echo, folded stacks, and no perf."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "harness"))
import kprofile  # noqa: E402

# Real perf script output (echo_poll, 100 active + 4,900 idle), cut down, plus
# an io_uring stack and a user-space leaf.
SCRIPT = """echo_poll  8028     250000 
\tffffffff8225fd19 pvm_irq_enable ([kernel.kallsyms])
\tffffffff8225fc41 __raw_callee_save_pvm_irq_enable ([kernel.kallsyms])
\tffffffff8225a695 do_syscall_64 ([kernel.kallsyms])
\tffffffff81000130 entry_SYSCALL_64_after_hwframe ([kernel.kallsyms])
\t           f82ad read (/usr/lib/x86_64-linux-gnu/libc.so.6)

echo_poll  8028     250000 
\tffffffff8206de69 tcp_sendmsg_locked ([kernel.kallsyms])
\tffffffff8206e58b tcp_sendmsg ([kernel.kallsyms])
\tffffffff81e80d99 __sys_sendto ([kernel.kallsyms])
\tffffffff8225a6c1 do_syscall_64 ([kernel.kallsyms])
\t          10ab59 __send (/usr/lib/x86_64-linux-gnu/libc.so.6)

echo_poll  8028     250000 
\tffffffff81673d75 alloc_pages_noprof ([kernel.kallsyms])
\tffffffff8162d84d get_free_pages_noprof ([kernel.kallsyms])
\tffffffff816f6b8b __pollwait ([kernel.kallsyms])
\tffffffff8206c064 tcp_poll ([kernel.kallsyms])
\tffffffff81e7d080 sock_poll ([kernel.kallsyms])
\tffffffff816f7a10 do_sys_poll ([kernel.kallsyms])

echo_poll  8028     250000 
\tffffffff81e7d080 sock_poll ([kernel.kallsyms])
\tffffffff816f7a10 do_sys_poll ([kernel.kallsyms])
\tffffffff8225a6c1 do_syscall_64 ([kernel.kallsyms])

echo_io_uring  9001     250000 
\tffffffff8206aa10 tcp_recvmsg_locked ([kernel.kallsyms])
\tffffffff81aa0010 io_recv ([kernel.kallsyms])
\tffffffff81aa0100 io_issue_sqe ([kernel.kallsyms])
\tffffffff81aa0200 io_submit_sqes ([kernel.kallsyms])

echo_io_uring  9001     250000 
\tffffffff81aa0200 io_submit_sqes ([kernel.kallsyms])
\tffffffff81aa0300 __do_sys_io_uring_enter ([kernel.kallsyms])

echo_poll  8028     500000 
\t            1234 main (/work/main/bin/echo_poll)
\t            5678 __libc_start_call_main (/usr/lib/x86_64-linux-gnu/libc.so.6)

echo_poll  8028     250000 
\tffffffff8225a6c1 do_syscall_64 ([kernel.kallsyms])
\tffffffff81000130 entry_SYSCALL_64_after_hwframe ([kernel.kallsyms])
"""


def test_parse_script():
    s = kprofile.parse_script(SCRIPT)
    assert len(s) == 8
    comm, period, frames = s[0]
    assert comm == "echo_poll" and period == 250000
    assert frames[0] == ("pvm_irq_enable", True) and frames[-1] == ("read", False)
    assert s[6][1] == 500000 and s[6][2][0] == ("main", False)
    assert kprofile.parse_script("") == []


def test_classify_walks_from_the_leaf():
    s = [f for _, _, f in kprofile.parse_script(SCRIPT)]
    assert kprofile.classify(s[0]) == "other"    # irq-enable under syscall entry: nothing known
    assert kprofile.classify(s[1]) == "tcp"
    assert kprofile.classify(s[2]) == "wait"     # alloc_pages under __pollwait
    assert kprofile.classify(s[3]) == "wait"     # sock_poll is the readiness check
    assert kprofile.classify(s[4]) == "tcp"      # the TCP work inside io_uring's submit
    assert kprofile.classify(s[5]) == "wait"     # io_uring's own
    assert kprofile.classify(s[6]) == "user"
    assert kprofile.classify([]) == "other"
    assert kprofile.classify([("ep_poll", True)]) == "wait"
    assert kprofile.classify([("ep_poll_callback.isra.0", True), ("sock_def_readable", True)]) == "wait"
    assert kprofile.classify([("do_sigtimedwait", True)]) == "wait"
    assert kprofile.classify([("aio_poll_wake", True)]) == "wait"
    assert kprofile.classify([("schedule", True), ("futex_wait", True)]) == "other"


def test_leaf_steps_over_irq_enable():
    s = kprofile.parse_script(SCRIPT)
    assert kprofile.leaf(s[0][2]) == ("do_syscall_64", True)
    assert kprofile.leaf(s[1][2]) == ("tcp_sendmsg_locked", True)


def test_analyse_shares_ns_and_folded():
    a = kprofile.analyse(kprofile.parse_script(SCRIPT), echoes=10)
    assert a["samples"] == 8 and a["ns"] == 2250000 and a["ns_per_echo"] == 225000
    c = a["categories"]
    assert abs(sum(v["share"] for v in c.values()) - 1) < 1e-3
    assert c["wait"]["ns_per_echo"] == 75000 and c["tcp"]["ns_per_echo"] == 50000
    assert c["user"]["ns_per_echo"] == 50000 and c["other"]["ns_per_echo"] == 50000
    top = {r["function"]: r for r in a["top_kernel"]}
    assert top["do_syscall_64"]["samples"] == 2 and top["sock_poll"]["share"] == round(250000 / 2250000, 4)
    assert a["top_user"][0]["function"] == "main"
    assert "echo_poll;do_syscall_64;do_sys_poll;sock_poll 1" in "\n".join(f"{k} {v}" for k, v in a["folded_lines"].items())
    assert kprofile.analyse(kprofile.parse_script(SCRIPT))["ns_per_echo"] is None


def test_write_folded(tmp_path):
    p = tmp_path / "x.folded"
    kprofile.write_folded({"a;b": 2, "a;c": 5}, str(p))
    assert p.read_text() == "a;c 5\na;b 2\n"


def test_table_lines():
    a = kprofile.analyse(kprofile.parse_script(SCRIPT), echoes=10)
    lines = kprofile.table(a, 2)
    assert lines[0].startswith("wait 33% (75000 ns/echo)") and len(lines) == 1 + 2 + 1  # one user function
    assert kprofile.table(dict(why_empty="perf is not installed")) == ["no profile: perf is not installed"]


def test_no_perf_says_why(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    p = kprofile.Profiler([os.getpid()])
    assert p.start() is False and p.mark() is False
    assert "perf is not installed" in p.stop(100)["why_empty"]


def test_profile_a_live_process(tmp_path):
    import kcount
    from launch import Child
    st = kcount.perf_status()
    if not st["profile"]:
        pytest.skip(f"perf cannot sample with kernel symbols here: {kcount.missing(st, 'profile')}")
    child = Child([sys.executable, "-c", "import os, time\nt = time.time()\n"
                   "while time.time() - t < 20: os.getppid()\n"])
    try:
        p = kprofile.Profiler([child.pid], str(tmp_path), name="loop")
        assert p.start() and p.mark()
        import time
        time.sleep(0.5)
        res = p.stop(1000)
        assert res["why_empty"] is None and res["samples"] > 20, res
        assert os.path.getsize(res["folded"]) > 0 and not p.child.alive()
    finally:
        child.kill()
