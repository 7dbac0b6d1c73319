"""interp.py - the harness runs in a Python that has scipy (estimate.py's
intervals and tests): Debian's python3 with python3-scipy, which `make deps`
installs. The `python3` on a PATH may be another build that does not see
Debian's packages; then the entry points (bench.py, regress.py, compare.py,
and the tests through tests/lib/c10k.py) re-run themselves under
$DEB_PYTHON (default /usr/bin/python3) when that one has what is needed, or
stop with one line naming what is missing.
"""

import importlib.util
import os
import subprocess
import sys

NEED = ("scipy",)
DEB_PYTHON = os.environ.get("DEB_PYTHON", "/usr/bin/python3")


def missing(need=NEED):
    """The modules of need this interpreter cannot import."""
    return [m for m in need if importlib.util.find_spec(m) is None]


def ensure(need=NEED):
    """Return if this interpreter has every module of need; else exec the
    same command under DEB_PYTHON if that one has them, else exit 2 with
    one line."""
    lack = missing(need)
    if not lack:
        return
    prog = os.path.basename(sys.argv[0] or "harness")
    other = DEB_PYTHON
    if (os.access(other, os.X_OK)
            and os.path.realpath(other) != os.path.realpath(sys.executable)
            and subprocess.run([other, "-c", "; ".join(f"import {m}" for m in need)],
                               capture_output=True).returncode == 0):
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(other, [other, *sys.argv])
    sys.stderr.write(f"{prog}: {sys.executable} has no {', '.join(lack)} and {other} cannot "
                     "supply it: install Debian's python3-scipy (make deps does)\n")
    sys.exit(2)
