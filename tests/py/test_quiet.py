"""harness/quiet.py: load, busy and steal from fake /proc files; warn, wait, refuse.

Run: /usr/bin/python3 -m pytest -q tests/py/test_quiet.py
"""

import io
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "harness"))
import quiet  # noqa: E402

# /proc/stat: user nice system idle iowait irq softirq steal guest guest_nice
STAT = """cpu  {u} 0 {s} {i} 0 0 0 {st} 0 0
cpu0 1 0 1 1 0 0 0 0 0 0
cpu1 1 0 1 1 0 0 0 0 0 0
intr 12345
ctxt 999
"""


class FakeProc:
    """A /proc with loadavg and stat; each sleep() moves stat to the next reading."""

    def __init__(self, path, load, readings):
        self.path, self.readings, self.i, self.slept = str(path), readings, 0, 0.0
        with open(os.path.join(self.path, "loadavg"), "w") as f:
            f.write(f"{load} 0.50 0.40 2/101 8746\n")
        self._write()

    def _write(self):
        u, s, i, st = self.readings[min(self.i, len(self.readings) - 1)]
        with open(os.path.join(self.path, "stat"), "w") as f:
            f.write(STAT.format(u=u, s=s, i=i, st=st))

    def sleep(self, s):
        self.slept += s
        self.i += 1
        self._write()

    def clock(self):
        return self.slept


def test_reads_load_cpus_busy_and_steal(tmp_path):
    # 200 ticks pass: 30 user + 10 system busy, 150 idle, 10 steal.
    p = FakeProc(tmp_path, 0.3, [(100, 50, 1000, 5), (130, 60, 1150, 15)])
    r = quiet.sample(p.path, 1.0, p.sleep)
    assert r["cpus"] == 2 and r["loadavg"] == [0.3, 0.5, 0.4] and r["running"] == 2
    assert r["load_per_cpu"] == 0.15
    assert r["busy"] == pytest.approx(40 / 200) and r["steal"] == pytest.approx(10 / 200)


def test_cpu_shares_leaves_guest_out():
    t1 = dict(user=100, nice=0, system=0, idle=100, iowait=0, irq=0, softirq=0, steal=0,
              guest=0, guest_nice=0)
    t2 = dict(t1, user=150, idle=150, guest=50)     # the 50 guest ticks are inside user
    assert quiet.cpu_shares(t1, t2) == (0.5, 0.0)


def test_judge_thresholds_relative_to_cpus():
    r = dict(cpus=2, loadavg=[0.6, 0.6, 0], load_per_cpu=0.3, busy=0.0, steal=0.0)
    assert len(quiet.judge(r, "preflight")) == 1          # 0.6 on 2 CPUs > 0.25 per CPU
    assert quiet.judge(r, "between") == []                # our own load: not judged
    assert quiet.judge(dict(r, cpus=4, load_per_cpu=0.15), "preflight") == []
    assert "busy" in quiet.judge(dict(r, load_per_cpu=0, busy=0.2), "between")[0]
    assert "stolen" in quiet.judge(dict(r, load_per_cpu=0, steal=0.06), "between")[0]


def test_falling_load_with_idle_cpus_is_a_residue():
    r = dict(cpus=2, loadavg=[3.0, 6.0, 8.0], load_per_cpu=1.5, busy=0.02, steal=0.0)
    assert quiet.judge(r, "preflight") == []              # work that ended, CPUs idle
    assert "load average" in quiet.judge(dict(r, busy=0.3), "preflight")[0]  # still busy
    assert "load average" in quiet.judge(dict(r, loadavg=[3.0, 2.0, 1.0]), "preflight")[0]


def test_quiet_machine(tmp_path):
    p = FakeProc(tmp_path, 0.1, [(0, 0, 0, 0), (1, 0, 99, 0)])
    rec = quiet.check("preflight", strict=True, proc=p.path, sleep=p.sleep, clock=p.clock)
    assert (rec["quiet"], rec["action"], rec["samples"], rec["waited_s"]) == (True, "quiet", 1, 0)
    assert rec["thresholds"]["busy"] == quiet.BUSY_MAX


def test_noisy_not_strict_warns_once(tmp_path):
    p = FakeProc(tmp_path, 0.1, [(0, 0, 0, 0), (50, 0, 50, 0)])
    out = io.StringIO()
    rec = quiet.check("preflight", strict=False, out=out, proc=p.path, sleep=p.sleep, clock=p.clock)
    assert (rec["quiet"], rec["action"], rec["samples"]) == (False, "warned", 1)
    assert out.getvalue().count("\n") == 1 and "50% of CPU time busy" in out.getvalue()


def test_strict_waits_until_quiet(tmp_path):
    # busy 50% for the first reading, then idle
    p = FakeProc(tmp_path, 0.1, [(0, 0, 0, 0), (50, 0, 50, 0), (50, 0, 50, 0), (50, 0, 150, 0)])
    rec = quiet.check("preflight", strict=True, wait_cap_s=60, out=io.StringIO(), proc=p.path,
                      sleep=p.sleep, clock=p.clock)
    assert (rec["quiet"], rec["action"], rec["samples"]) == (True, "waited", 2)
    assert rec["first"]["busy"] == 0.5 and rec["last"]["busy"] == 0.0 and rec["waited_s"] > 0


def test_strict_preflight_refuses_and_between_goes_on(tmp_path):
    busy = [(100 * k, 0, 100 * k, 0) for k in range(200)]
    p = FakeProc(tmp_path, 0.1, busy)
    rec = quiet.check("preflight", strict=True, wait_cap_s=20, out=io.StringIO(), proc=p.path,
                      sleep=p.sleep, clock=p.clock)
    assert (rec["quiet"], rec["action"]) == (False, "refused")
    assert 20 <= p.slept <= 30                             # the cap, then one last reading
    line = quiet.refusal_line(rec)
    assert "\n" not in line and "STRICT=1" in line and "busy" in line
    p = FakeProc(tmp_path, 0.1, busy)
    out = io.StringIO()
    rec = quiet.check("between", strict=True, wait_cap_s=20, out=out, proc=p.path,
                      sleep=p.sleep, clock=p.clock)
    assert rec["action"] == "went on noisy" and "going on" in out.getvalue()


def test_bad_proc_and_usage(tmp_path):
    (tmp_path / "loadavg").write_text("0.1 0.1 0.1 1/1 1\n")
    (tmp_path / "stat").write_text("intr 1\n")
    with pytest.raises(ValueError):
        quiet.sample(str(tmp_path), 0, lambda s: None)
    with pytest.raises(ValueError):
        quiet.check("during")
    with pytest.raises(SystemExit) as e:
        quiet.main(["--wait", "-1"])
    assert e.value.code == 2


def test_strict_from_env():
    assert quiet.strict_from_env({"STRICT": "1"})
    assert not quiet.strict_from_env({"STRICT": "0"}) and not quiet.strict_from_env({})
