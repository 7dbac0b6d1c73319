"""harness/launch.py: READY with a deadline, SIGTERM with a deadline, the
process group killed, the JSON line parsed, nothing left behind."""
import os
import sys
import textwrap
import time

import pytest

import launch
from procfs import group_pids

FAKE = textwrap.dedent('''
    import json, os, signal, sys, time
    mode = sys.argv[1]
    if mode == "forks":                      # a child that outlives us, same group
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
    if mode == "ignores":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if mode == "dies":
        sys.stderr.write("fake: cannot bind\\n")
        sys.exit(3)
    if mode == "mute":
        time.sleep(60)
    got = []
    signal.signal(signal.SIGTERM, lambda *a: got.append(1)) if mode != "ignores" else None
    print("READY 4242", flush=True)
    while not got:
        time.sleep(0.02)
    print("not json" if mode == "badjson" else json.dumps({"model": "fake", "accepted": 1}),
          flush=True)
''')


def start(mode):
    return launch.Child([sys.executable, "-c", FAKE, mode])


def test_parse_json():
    assert launch.parse_json('READY 1\n{"a": 1}\n') == ({"a": 1}, None)
    assert launch.parse_json("nothing\n") == (None, "no JSON line")
    assert launch.parse_json("{oops\n") == (None, "unparsable JSON line")


def test_ready_stop_counters():
    c = start("ok")
    try:
        assert c.wait_ready(10) == 4242 and c.alive()
        assert c.stop(5) and c.returncode == 0 and c.stop_s < 5
        c.join_output(1)
        assert c.counters() == ({"model": "fake", "accepted": 1}, None)
    finally:
        c.kill()
    assert c.pid not in launch.LIVE


def test_exit_before_ready_names_the_exit_and_keeps_stderr():
    c = start("dies")
    assert c.wait_ready(10) is None and c.error == "exit code 3 before READY"
    c.kill()
    assert c.stderr_tail(1) == ["fake: cannot bind"]


def test_ready_deadline():
    c = start("mute")
    t0 = time.monotonic()
    assert c.wait_ready(0.5) is None and "no READY line within 0.5 s" == c.error
    assert time.monotonic() - t0 < 3
    c.kill()
    assert not c.alive()


def test_sigterm_deadline_then_kill():
    c = start("ignores")
    assert c.wait_ready(10)
    assert c.stop(0.3) is False and "no exit within 0.3 s of SIGTERM" == c.error
    assert c.alive()                              # stop() leaves the group to the caller
    c.kill()
    assert not c.alive() and c.returncode == -9


def test_leftover_children_are_seen_and_killed():
    c = start("forks")
    assert c.wait_ready(10)
    assert c.stop(5)
    left = c.leftover()
    assert len(left) == 1                         # the forked child, same process group
    c.kill()
    time.sleep(0.1)
    assert group_pids(c.pid) == []


def test_kill_all_empties_live():
    cs = [start("mute") for _ in range(3)]
    launch.kill_all()
    assert all(not c.alive() for c in cs) and not launch.LIVE


def test_communicate_timeout_kills_the_group():
    import subprocess
    c = launch.Child([sys.executable, "-c", "import time; time.sleep(30)"],
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    with pytest.raises(subprocess.TimeoutExpired):
        c.communicate(0.3)
    assert not c.alive() and c.pid not in launch.LIVE
    code, out, err = launch.Child([sys.executable, "-c", "print('hi')"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE).communicate(10)
    assert (code, out) == (0, "hi\n")


def test_pinning_and_nofile():
    cpu = sorted(os.sched_getaffinity(0))[-1]
    c = launch.Child([sys.executable, "-c",
                      "import os, resource; print('READY', len(os.sched_getaffinity(0)), "
                      "resource.getrlimit(resource.RLIMIT_NOFILE)[0], flush=True); "
                      "import time; time.sleep(30)"], cpus={cpu}, nofile=64)
    try:
        assert c.wait_ready(10) == 1
        with open(f"/proc/{c.pid}/limits") as f:
            assert any(ln.startswith("Max open files") and " 64 " in ln for ln in f)
    finally:
        c.kill()
