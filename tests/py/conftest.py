"""pytest set-up for tests/py: the harness's modules import as top-level
names (as they do for each other), and ROOT is the repository.

With C10K_TAP_FD set (tests/pytest.t does), each test's result is also
written to that descriptor as one JSON line when the test ends: its node
id, outcome (passed, failed, skipped) and, for a failure or a skip, the
report's text; pytest.t turns them into one TAP line each."""
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HARNESS = os.path.join(ROOT, "harness")
if HARNESS not in sys.path:
    sys.path.insert(0, HARNESS)

_TAP = os.environ.get("C10K_TAP_FD")
_results = {}        # node id -> (outcome, text) so far (setup, call, teardown)


def _emit(nodeid, outcome, text=""):
    os.write(int(_TAP), (json.dumps(dict(test=nodeid, outcome=outcome, text=text)) + "\n").encode())


def _text(report):
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2]).removeprefix("Skipped: ")     # (file, line, reason)
    return str(report.longrepr or "") + "".join(f"\n--- {name} ---\n{body}"
                                                 for name, body in report.sections)


def pytest_runtest_logreport(report):
    if not _TAP:
        return
    have = _results.get(report.nodeid)
    if report.failed:                  # a failure in setup, call or teardown fails the test
        text = (have[1] + "\n" if have and have[0] == "failed" else "") + _text(report)
        _results[report.nodeid] = ("failed", text)
    elif report.skipped and not have:
        _results[report.nodeid] = ("skipped", _text(report))
    elif report.when == "call" and not have:
        _results[report.nodeid] = ("passed", "")


def pytest_runtest_logfinish(nodeid, location):
    if _TAP:
        _emit(nodeid, *_results.pop(nodeid, ("passed", "")))


def pytest_collectreport(report):
    if _TAP and report.failed:         # a file that does not even import
        _emit(f"{report.nodeid or 'tests/py'} (collecting)", "failed", _text(report))
