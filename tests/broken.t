#!/usr/bin/env python3
"""broken.t - the conformance battery against deliberately broken servers.

A check that cannot fail proves nothing, so each contract check of
tests/conformance.py is run against bin/tools/echo_broken (tests/tools/
echo_broken.c: the poll server with one violation chosen by ECHO_BROKEN) and
must fail there, and only there; with ECHO_BROKEN unset the same groups pass.
Violations: a second stderr line on a bad flag, an EMFILE count never reported,
one wrong number in the JSON line (every counter, the model, syscall kinds),
a non-zero exit status, SIGTERM ignored. About 80 s.
"""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from c10k import ROOT, TAP, bin_dir  # noqa: E402

t = TAP()
TOOLS = os.path.join(bin_dir(), "tools")
if not os.access(os.path.join(TOOLS, "echo_broken"), os.X_OK):
    TAP.skip_all(f"{TOOLS}/echo_broken is not built (run make)")
CONFORMANCE = os.path.join(ROOT, "tests", "conformance.py")
TAP_LINE = re.compile(r"^(ok|not ok) \d+ - (.*?)(?: # SKIP .*)?$")


def battery(groups, broken=None):
    """Run the battery's groups on echo_broken: ({name: passed}, output)."""
    env = dict(os.environ)
    env.pop("ECHO_BROKEN", None)
    if broken:
        env["ECHO_BROKEN"] = broken
    p = subprocess.run([sys.executable, CONFORMANCE, "--model", "broken", "--bin", TOOLS,
                        "--only", groups], capture_output=True, text=True, env=env, timeout=300)
    res = {}
    for ln in p.stdout.splitlines():
        m = TAP_LINE.match(ln)
        if m:
            res[m.group(2)] = m.group(1) == "ok"
    return res, p.stdout + p.stderr


def failed(res):
    return [name for name, ok in res.items() if not ok]


# The control: the same server, unbroken, passes every group used below.
res, out = battery("flags,echo,reset,emfile")
t.ok(res and not failed(res), f"unbroken echo_broken passes flags, echo, reset, emfile ({len(res)} checks)",
     "\n".join(failed(res)) or out[-2000:])


def expect(broken, groups, catches, what):
    """Run with ECHO_BROKEN=broken: some check fails, and every failing check
    is one that `catches` (a predicate on its name) says should."""
    res, out = battery(groups, broken)
    bad = failed(res)
    wrong = [n for n in bad if not catches(n)]
    t.ok(bad and not wrong, f"ECHO_BROKEN={broken}: {what}",
         f"failed: {bad}; of those not expected: {wrong}" if res else out[-2000:])


expect("twolines", "flags", lambda n: n.startswith("flags:"),
       "the flag checks catch a second stderr line")
expect("noemfile", "emfile", lambda n: "JSON emfile" in n,
       "the EMFILE group catches a server that never reports EMFILE")
expect("exit1", "reset", lambda n: "exit status 0" in n or "counted it" in n,
       "a non-zero exit status after SIGTERM is caught")
expect("noterm", "reset", lambda n: "SIGTERM" in n or "counted it" in n,
       "a server that ignores SIGTERM is caught")

# One wrong number anywhere in the JSON line: the JSON checks catch it, and only they fail.
json_check = re.compile(r"JSON|syscalls|counters session")
# Of the syscall kinds: close (checked against closed), wait (only in the sum), the total.
for key in ("model", "accepted", "closed", "peak_conns", "bytes_in", "bytes_out", "messages",
            "errors", "resets", "emfile", "overflows", "close", "wait", "total"):
    expect(f"json:{key}", "echo", lambda n: bool(json_check.search(n)),
           f"the JSON checks catch a wrong {key}")

t.done()
