"""harness/kcount.py: perf stat and strace -c output parsing, the descriptor
budget, naming the uncounted call, and the fallbacks with perf (and strace)
hidden from PATH. The live tests count a small Python child's getppid calls
and skip where perf or strace cannot run."""
import os
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "harness"))
import figures  # noqa: E402
import kcount  # noqa: E402
from launch import Child  # noqa: E402

PERF_STAT = """# started on Sun Nov 29 09:18:34 2026

6014,,raw_syscalls:sys_enter,12322426,100.00,,
2002,,raw_syscalls:sys_enter,12322426,100.00,,
<not counted>,,raw_syscalls:sys_enter,0,0.00,,
2000,,raw_syscalls:sys_enter,12322426,100.00,,
"""

STRACE_C = """% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 74.74    0.007322           3      2147           getppid
  5.83    0.000571           6        93        18 newfstatat
  0.33    0.000032           2        12        12 ioctl
  0.02    0.000002           2         1           getgid
------ ----------- ----------- --------- --------- ----------------
100.00    0.009797           4      2253        36 total
"""

LOOP = "import os, time\nt = time.time()\nwhile time.time() - t < 20:\n    os.getppid(); time.sleep(0.0005)\n"


def test_parse_perf_stat_keeps_event_order_and_not_counted():
    assert kcount.parse_perf_stat(PERF_STAT) == [6014, 2002, None, 2000]
    assert kcount.parse_perf_stat("") == []


def test_by_name_keeps_called_names_and_the_rest_as_other():
    by = kcount.by_name_with_other(6014, ["read", "fcntl", "sendto"], [2002, 0, 2000])
    assert by == {"read": 2002, "sendto": 2000, "other": 2012}
    assert kcount.per_echo(dict(total=6014, by_name=by), 2000) == (
        3.007, {"read": 1.001, "sendto": 1.0, "other": 1.006})
    assert kcount.per_echo(dict(total=None), 2000) == (None, None)
    assert kcount.per_echo(dict(total=5, by_name={}), 0) == (None, None)


def test_parse_strace_c():
    total, by = kcount.parse_strace_c(STRACE_C)
    assert total == 2253 and by["getppid"] == 2147 and by["newfstatat"] == 93 and by["getgid"] == 1
    assert kcount.parse_strace_c("strace: attach: ptrace(PTRACE_SEIZE, 1): Operation not permitted") == (None, {})


def test_syscall_numbers_from_a_header(tmp_path):
    h = tmp_path / "unistd_64.h"
    h.write_text("#define __NR_read 0\n#define __NR_write 1\n#define __NR_fcntl 72\n#define __X 9\n")
    assert kcount.syscall_numbers([str(tmp_path / "nope.h"), str(h)]) == {"read": 0, "write": 1, "fcntl": 72}
    assert kcount.syscall_numbers([str(tmp_path / "nope.h")]) == {}


def test_real_header_knows_the_names_we_count():
    nums = kcount.syscall_numbers()
    if not nums:
        pytest.skip("no unistd_64.h (linux-libc-dev)")
    assert nums["read"] == 0 and all(n in nums for n in figures.NAMES)


def test_names_that_fit_the_descriptor_budget():
    names = list(figures.NAMES)
    assert kcount.names_that_fit(names, 1, 20000) == names
    fit = kcount.names_that_fit(names, 1000, 20000)          # (20000 - 64) // 1000 - 1 = 18
    assert fit == names[:18]
    assert kcount.names_that_fit(names, 15000, 20000) == []    # the total alone still fits
    assert kcount.names_that_fit(names, 25000, 20000) is None  # not even the total


def test_uncounted_names_the_extra_call_only():
    # bin-unmarked epoll_lt: one fcntl per echo nobody marked
    by = {"read": 1.0, "sendto": 1.0, "fcntl": 1.0, "epoll_wait": 0.285}
    own = {"read": 1.0, "write": 1.0, "wait": 0.285}
    assert kcount.uncounted(by, own) == {"fcntl": 1.0}
    # everything marked: nothing named
    assert kcount.uncounted({"read": 1.0, "sendto": 1.0, "io_uring_enter": 0.3},
                            {"read": 1.0, "write": 1.0, "submit": 0.3}) == {}
    # a marked "other" call covers the unlisted names
    assert kcount.uncounted({"read": 1.0, "getppid": 1.0}, {"read": 1.0, "other": 1.0}) == {}
    # a kind short of the kernel's figure names that kind's calls
    assert kcount.uncounted({"read": 1.5, "sendto": 1.0}, {"read": 1.0, "write": 1.0}) == {"read": 1.5}


def test_no_perf_no_strace_says_why(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    c = kcount.Counter([os.getpid()])
    assert c.tool is None and c.start() is False
    res = c.stop()
    assert res["total"] is None and "neither perf nor strace" in res["why_empty"]
    st = kcount.perf_status(probe=False)
    p = {x["piece"]: x for x in st["pieces"]}
    assert not st["usable"] and not p["perf installed"]["ok"]
    assert p["perf installed"]["short"] == "perf is not installed" and "count" in p["perf installed"]["needed_by"]
    assert kcount.missing(st, "count").startswith("perf is not installed")
    assert any("MISSING" in ln and "perf installed" in ln for ln in kcount.describe_status(st))


def test_vanished_pid_and_no_pid():
    c = kcount.Counter([2 ** 22 + 12345])
    assert c.start() is False and "vanished" in c.stop()["why_empty"]
    c = kcount.Counter([])
    assert c.start() is False and "no server pid" in c.res["why_empty"]
    c = kcount.Counter([os.getpid()])
    assert "without mark" in c.stop()["why_empty"] or "before start" in c.res["why_empty"]


def _loop():
    return Child([sys.executable, "-c", LOOP])


def _need_perf():
    st = kcount.perf_status(probe=True)
    if not st["usable"]:
        pytest.skip(f"perf cannot count here: {kcount.missing(st, 'count')}")


def test_perf_counts_a_window_and_leaves_nothing():
    _need_perf()
    child = _loop()
    try:
        time.sleep(0.3)
        c = kcount.Counter([child.pid])
        assert c.start(), c.res
        perf = c.child
        assert c.mark()
        time.sleep(0.3)
        res = c.stop()
        assert res["tool"] == "perf" and res["why_empty"] is None, res
        assert res["by_name"]["getppid"] > 50 and res["total"] >= res["by_name"]["getppid"]
        assert 0.2 < res["window_s"] < 5
        assert not perf.alive() and perf.pid not in kcount.__dict__.get("LIVE", {})
    finally:
        child.kill()


def test_perf_killed_on_keyboard_interrupt():
    _need_perf()
    child = _loop()
    try:
        with pytest.raises(KeyboardInterrupt):
            with kcount.Counter([child.pid]) as c:
                c.start()
                c.mark()
                perf = c.child
                raise KeyboardInterrupt
        assert not perf.alive()
        with pytest.raises(ProcessLookupError):
            os.kill(perf.pid, 0)
    finally:
        child.kill()


def test_server_exits_inside_the_window():
    _need_perf()
    child = _loop()
    c = kcount.Counter([child.pid])
    assert c.start() and c.mark()
    time.sleep(0.2)
    child.kill()
    res = c.stop()
    assert res["target_exited"] and res["total"] and res["total"] > 0, res
    assert "exited" in res["note"]


def test_strace_fallback_when_perf_is_missing(monkeypatch, tmp_path):
    strace = subprocess.run(["sh", "-c", "command -v strace"], capture_output=True, text=True).stdout.strip()
    if not strace:
        pytest.skip("strace is not installed")
    os.symlink(strace, tmp_path / "strace")
    child = _loop()
    try:
        monkeypatch.setenv("PATH", str(tmp_path))
        c = kcount.Counter([child.pid])
        assert c.tool == "strace" and c.start() and "strace" in c.res["note"]
        assert c.mark(), c.res
        time.sleep(0.3)
        res = c.stop()
        if res["why_empty"] and "attach" in res["why_empty"]:
            pytest.skip(f"ptrace not allowed here: {res['why_empty']}")
        assert res["tool"] == "strace" and res["by_name"]["getppid"] > 50, res
    finally:
        child.kill()


def test_wrapped_counts_a_whole_command():
    _need_perf()
    w = kcount.Wrapped(names=("getppid",))
    try:
        p = subprocess.run(w.argv([sys.executable, "-c", "import os\nfor _ in range(1000): os.getppid()"]),
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0
        res = w.result()
        assert res["by_name"]["getppid"] == 1000 and res["total"] > 1000, res
    finally:
        w.close()
