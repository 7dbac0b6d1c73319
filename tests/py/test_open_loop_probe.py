"""docs/open-loop-probe.py's profile probe: perf script's call-graph samples
sorted into the buckets docs/open-loop.md's table gives.

Run: /usr/bin/python3 -m pytest -q tests/py/test_open_loop_probe.py
"""

import importlib.util
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_spec = importlib.util.spec_from_file_location("open_loop_probe", os.path.join(ROOT, "docs", "open-loop-probe.py"))
probe = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(probe)


def sample(period, *frames):
    """One sample as `perf script -F period,ip,sym` prints it (leaf first)."""
    return f"    {period} \n" + "".join(f"\t{0xffffffff81000000 + i:x} {f}\n" for i, f in enumerate(frames)) + "\n"


def test_the_first_matching_bucket_takes_each_sample():
    text = (sample(1000, "pvm_irq_enable", "finish_task_switch.isra.0", "__x64_sys_clock_nanosleep",
                   "clock_nanosleep@GLIBC_2.2.5")
            # a wake-up of the server is inside a send: it is not "the rest of send"
            + sample(2000, "_raw_spin_unlock_irqrestore", "sock_def_readable", "tcp_data_queue",
                     "__tcp_transmit_skb", "__sys_sendto", "__send")
            + sample(4000, "tcp_sendmsg_locked", "__sys_sendto", "__send")
            # the ACK a read sends transmits a segment from inside recvmsg
            + sample(8000, "ip_finish_output2", "__tcp_transmit_skb", "tcp_recvmsg_locked", "__sys_recvmsg",
                     "__libc_recvmsg")
            + sample(16000, "tcp_recvmsg_locked", "__sys_recvmsg", "__libc_recvmsg")
            + sample(32000, "do_epoll_wait", "epoll_pwait2")
            + sample(64000, "[unknown]", "clock_gettime@@GLIBC_2.17")
            + sample(128000, "dispatch", "thread_main"))
    got = probe.profile_buckets(text, 2.0)
    assert got["seconds"] == 2.0
    assert got["buckets"] == {
        "timer sleep and wake-up": 1e-6, "send: waking the server": 2e-6, "send: the rest": 4e-6,
        "read: the ACK it sends": 8e-6, "read: the rest": 16e-6, "epoll_wait": 32e-6,
        "the clock (spin, stamps)": 64e-6, "other": 128e-6}
    assert abs(got["cpu_s"] - 255e-6) < 1e-12


def test_no_samples_no_cpu():
    got = probe.profile_buckets("", 1.0)
    assert got["cpu_s"] == 0 and set(got["buckets"]) == {name for name, _ in probe.PROFILE}


def test_the_table_again_from_the_records(tmp_path, capsys):
    """--from: the profile's table from its JSON lines, every run kept (perf
    makes them wait, so none is "clean")."""
    def rec(what, eps, cpu_s):
        return {"what": what, "clean": False, "duration": 3.0, "life_s": 5.0, "server_wait_s": 0.05,
                "client": {"echoes_per_s": eps, "client_cpu_us_per_echo": 1.0, "client_wait_s": 0.03},
                "profile": {"seconds": 2.0, "cpu_s": cpu_s,
                            "buckets": {n: (cpu_s if n == "other" else 0.0) for n, _ in probe.PROFILE}}}
    path = tmp_path / "profile.jsonl"
    path.write_text("".join(probe.json.dumps(r) + "\n" for r in
                            (rec("closed", 100000, 2.0), rec("open 10%", 10000, 0.8), rec("open 50%", 50000, 2.0))))
    rows = probe.rows_from("profile", str(path))
    assert sorted(rows, key=str) == [10, 50, "closed"]
    probe.table_profile(rows)
    out = capsys.readouterr().out
    other = next(ln for ln in out.splitlines() if ln.startswith("other"))
    assert other.split()[1:] == ["10.0", "40.0", "20.0"]     # cpu_s / (echoes/s x seconds), in us
