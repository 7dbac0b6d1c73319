"""benchrun.py - running harness/bench.py from a test.

EXTRA: the flags that keep a test run small, where this bench.py has them:
one run per point (none more for convergence) and no CPU-profile second
runs of chosen points.
"""
import os
import subprocess
import sys

from c10k import ROOT

BENCH = [sys.executable, os.path.join(ROOT, "harness", "bench.py")]


def _extra():
    h = subprocess.run([*BENCH, "--help"], capture_output=True, text=True).stdout
    return (["--repeats", "1"] + (["--max-repeats", "1"] if "--max-repeats" in h else [])
            + (["--profile-points", "none"] if "--profile-points" in h else []))


EXTRA = _extra()
