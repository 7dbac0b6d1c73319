#!/usr/bin/env python3
"""pytest.t - the harness's unit tests (tests/py, pytest from Debian's
python3-pytest) under prove: one TAP line per pytest test, as each ends.
A failing test's report goes to stderr (prove's log shows it, TAP's diag);
pytest's own summary is a comment (prove -v). tests/py/conftest.py writes
each result to the descriptor named by C10K_TAP_FD."""
import json
import os
import subprocess
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from c10k import ROOT, TAP  # noqa: E402

PY = os.environ.get("DEB_PYTHON", "/usr/bin/python3")   # Debian's, which has pytest
t = TAP()
if subprocess.run([PY, "-c", "import pytest"], capture_output=True).returncode != 0:
    TAP.skip_all(f"{PY} has no pytest (apt-get install python3-pytest; make deps does)")

r, w = os.pipe()
p = subprocess.Popen([PY, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/py"],
                     cwd=ROOT, env=dict(os.environ, C10K_TAP_FD=str(w)), pass_fds=(w,),
                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
os.close(w)
out = []
reader = threading.Thread(target=lambda: out.extend(p.stdout), daemon=True)
reader.start()
with os.fdopen(r) as results:
    for ln in results:
        res = json.loads(ln)
        if res["outcome"] == "skipped":
            t.skip(res["test"], res["text"].replace("\n", " ")[:200])
        else:
            t.ok(res["outcome"] == "passed", res["test"], res["text"])
code = p.wait()
reader.join(10)
summary = b"".join(out).decode(errors="replace").rstrip("\n").splitlines()
t.note("\n".join(summary[-3:]))
# exit 0: all passed; 1: some failed (each has its line); 5: nothing collected
t.ok(code in (0, 1) and t.n > 0, f"pytest ran tests/py (exit {code})", "\n".join(summary[-40:]))
t.done()
