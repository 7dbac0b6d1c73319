#!/usr/bin/env python3
"""nonroot.t - make test's root-sensitive files pass as a user, each skip
naming why (TAP, under prove).

As root, each file of FILES runs as `nobody` (setpriv: its own uid and gid,
no supplementary groups, no capability; a user's PATH; HOME and TMPDIR a
temporary folder of its own) against the binaries already built: the tree
is read-only to it, so nothing is built or written there. Each must exit 0
with no failed test, and every skip, a whole file's `1..0 # SKIP` or one
test's `# SKIP`, must say why. Not as root: skipped (it changes user).

FILES are the ones that test what a user lacks (perf counting, tracefs,
network namespaces, sshd, a private mount namespace) and are quick; the
longer tests/regress.t (~2 min as a user here: strace counts instead of
perf) and tests/machines.t (io_uring's rings against RLIMIT_MEMLOCK) pass
as a user too when `make test` runs as one (docs/machines.md).
"""
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from c10k import ROOT, TAP  # noqa: E402

FILES = ("tests/kcount.t", "tests/hosts.t", "tests/bench-hosts.t", "tests/dispatch.t",
         "tests/kernel.t", "tests/harness.t", "tests/pytest.t")
USER = "nobody"
USER_PATH = "/usr/local/bin:/usr/bin:/bin"     # Debian's for a user: no /root, no sbin
TIMEOUT_S = 600


def tap_problems(out):
    """(tests, skips, problems) of one file's TAP output: a failed test, a
    skip without a reason, no plan or a plan that does not match."""
    n, skips, bad, plan = 0, 0, [], None
    for ln in out.splitlines():
        m = re.match(r"^1\.\.(\d+)(?:\s*#\s*SKIP\b\s*(.*))?$", ln)
        if m:
            plan = int(m.group(1))
            if plan == 0:
                skips += 1
                if not (m.group(2) or "").strip():
                    bad.append("skipped as a whole without a reason")
            continue
        m = re.match(r"^(not ok|ok)\s+(\d+)(.*)$", ln)
        if not m:
            continue
        n += 1
        if m.group(1) == "not ok":
            bad.append(f"failed: {ln}")
        s = re.search(r"#\s*SKIP\b(.*)$", m.group(3), re.I)
        if s:
            skips += 1
            if not s.group(1).strip():
                bad.append(f"a skip without a reason: {ln}")
    if plan is None:
        bad.append("no plan line")
    elif plan != n:
        bad.append(f"plan 1..{plan} but {n} test lines")
    return n, skips, bad


def main():
    if os.geteuid() != 0:
        TAP.skip_all("not root: running the tests as another user needs root (setpriv)")
    if not shutil.which("setpriv"):
        TAP.skip_all("setpriv (util-linux) is not installed")
    try:
        pw = pwd.getpwnam(USER)
    except KeyError:
        TAP.skip_all(f"no user '{USER}' here")
    base = [shutil.which("setpriv"), f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}",
            "--clear-groups", "--inh-caps=-all"]
    for f in FILES:
        probe = subprocess.run(base + ["test", "-r", os.path.join(ROOT, f), "-a", "-x",
                                       os.path.join(ROOT, "bin", "loadgen")],
                               capture_output=True)
        if probe.returncode:
            TAP.skip_all(f"{USER} cannot read {os.path.join(ROOT, f)} or run bin/loadgen "
                         "(a folder above the tree is not world-readable, or make has not run)")
    t = TAP()
    home = tempfile.mkdtemp(prefix="c10k-nonroot-")
    try:
        os.chown(home, pw.pw_uid, pw.pw_gid)
        env = dict(HOME=home, TMPDIR=home, PATH=USER_PATH, LANG="C.UTF-8", USER=USER,
                   LOGNAME=USER, PYTHONDONTWRITEBYTECODE="1")
        for f in FILES:
            try:
                r = subprocess.run(base + [os.path.join(ROOT, f)], cwd=ROOT, env=env,
                                   capture_output=True, text=True, timeout=TIMEOUT_S)
                code, out, err = r.returncode, r.stdout, r.stderr
            except subprocess.TimeoutExpired as e:
                code, out, err = None, e.stdout or "", f"no end within {TIMEOUT_S} s (killed)"
                out = out.decode(errors="replace") if isinstance(out, bytes) else out
            n, skips, bad = tap_problems(out)
            if code != 0:
                bad.insert(0, f"exit {code}")
            name = os.path.basename(f)
            t.ok(not bad, f"{name} as {USER}: passes ({n} tests, {skips} skipped, each "
                 "saying why)", "\n".join(bad + err.strip().splitlines()[-15:]))
            for ln in out.splitlines():
                if re.search(r"#\s*SKIP", ln):
                    t.note(f"{name}: {ln}")
    finally:
        subprocess.run(["rm", "-rf", home])
    t.done()


main()
