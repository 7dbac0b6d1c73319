""".github/workflows/ci.yml: parsed with Debian's python3-yaml and checked
against what it must run and publish.

- it runs the README's test command (read from README.md) and make regress,
  directly or through the script it calls (.ci/run), test before regress;
- each github-action-benchmark step reads a file that harness/regress.py's
  export() really writes, with the tool (bigger / smaller is better) that
  matches the figures in it;
- the step that collects those files, run here in a scratch folder against a
  fake results/regress-*/ folder, puts them where the publish steps read them,
  and says found=false (exit 0) when make regress left nothing;
- the container is the baseline's distribution, with the reference machine's
  descriptor limit.

Run: /usr/bin/python3 -m pytest -q tests/py/test_ci_workflow.py
"""

import glob
import json
import os
import re
import shlex
import shutil
import subprocess
import sys

import pytest

yaml = pytest.importorskip("yaml", reason="python3-yaml (apt-get install python3-yaml)")

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "harness"))
import regress  # noqa: E402


def regress_export():
    """regress.py's export() (or where regress.py moved it: regress_out)."""
    for mod in (regress, getattr(regress, "regress_out", None)):
        if mod is not None and hasattr(mod, "export"):
            return mod.export
    raise AssertionError("regress.py has no export() any more: update this test")

WORKFLOW = os.path.join(ROOT, ".github", "workflows", "ci.yml")
GAB = "benchmark-action/github-action-benchmark"


@pytest.fixture(scope="module")
def wf():
    with open(WORKFLOW) as f:
        return yaml.safe_load(f)


def steps_of(wf):
    return [s for job in wf["jobs"].values() for s in job["steps"]]


def readme_test_command():
    """The test command of README.md's "The two commands" block."""
    text = open(os.path.join(ROOT, "README.md")).read()
    block = re.search(r"## The two commands\s+```sh\n(.*?)```", text, re.S)
    assert block, "README.md has no 'The two commands' sh block"
    cmds = [ln.split("#")[0].strip() for ln in block.group(1).splitlines()]
    test = [c for c in cmds if c.split()[:2] == ["make", "test"]]
    assert test, f"no make test among the README's commands {cmds}"
    return test[0]


def commands(run):
    """The shell commands a run: block executes, with a repository script it
    calls (./x, .ci/run, sh x) replaced by that script's own commands."""
    out = []
    for ln in run.splitlines():
        ln = ln.strip()
        if not ln or ln.startswith("#"):
            continue
        words = shlex.split(ln, comments=True)
        script = words[1] if words and words[0] in ("sh", "bash") and len(words) > 1 else (
            words[0] if words else "")
        path = os.path.join(ROOT, script)
        if "/" in script and os.path.isfile(path) and not script.startswith("/"):
            out += commands(open(path).read())
        else:
            out.append(ln)
    return out


def test_triggers_and_container(wf):
    on = wf.get("on", wf.get(True))          # YAML 1.1 reads a bare `on` as true
    assert {"push", "pull_request"} <= set(on)
    job = wf["jobs"]["test"]
    base = json.load(open(os.path.join(ROOT, "results", "baseline", "regress.json")))["machine"]
    img = job["container"]["image"]
    m = re.match(r"debian:(\d+)", img)
    assert m and f"deb{m.group(1)}" in base["gcc"], (img, base["gcc"])
    nofile = re.search(r"--ulimit nofile=(\d+):(\d+)", job["container"]["options"])
    assert nofile, "the container's descriptor limit is not set"
    ctxs = sorted(glob.glob(os.path.join(ROOT, "results", "2*", "context.json")))
    if ctxs:
        lim = json.load(open(ctxs[-1]))["limits"]
        assert int(nofile.group(2)) == lim["nofile_hard"]


def test_runs_the_readme_test_command_then_regress(wf):
    cmds = [c for s in steps_of(wf) if "run" in s for c in commands(s["run"])]
    test = readme_test_command()
    assert test in cmds, cmds
    assert "make regress" in cmds
    assert cmds.index(test) < cmds.index("make regress")
    assert any("pytest" in c and "tests/py" in c for c in cmds)


def exported(tmp_path):
    """{file name: entries} as regress.export writes them for a tiny fake run."""
    figs = {"epoll_lt": {"syscalls": {"median": 2.0, "min": 2.0, "max": 2.0},
                         "tput_ratio": {"value": 1.0, "lo": 0.9, "hi": 1.1}}}
    regress_export()(figs, str(tmp_path))
    return {n: json.load(open(tmp_path / n)) for n in os.listdir(tmp_path)}


def test_publishes_the_files_regress_writes(wf, tmp_path):
    files = exported(tmp_path)
    gab = [s for s in steps_of(wf) if s.get("uses", "").startswith(GAB + "@")]
    assert len(gab) == 2
    for s in gab:
        name = os.path.basename(s["with"]["output-file-path"])
        assert name in files, f"{name}: regress.py writes {sorted(files)}"
        units = " ".join(e["name"] for e in files[name])
        want = "customBiggerIsBetter" if "throughput" in units else "customSmallerIsBetter"
        assert s["with"]["tool"] == want, (name, units)
    assert len({s["with"]["output-file-path"] for s in gab}) == 2


def run_collect(wf, cwd):
    step = next(s for s in steps_of(wf) if s.get("id") == "collect")
    out = cwd / "github_output"
    out.write_text("")
    r = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=cwd, capture_output=True, text=True,
                       env=dict(os.environ, GITHUB_OUTPUT=str(out)), timeout=30)
    return r, out.read_text()


def test_collect_step_feeds_the_publish_steps(wf, tmp_path):
    # regress.py's run folders are OUT/regress-<date>-<host>/, OUT = results/
    assert regress.parse_args([]).out == os.path.join(ROOT, "results")
    src = "".join(open(p).read() for p in glob.glob(os.path.join(ROOT, "harness", "regress*.py")))
    assert 'f"regress-{' in src
    run = tmp_path / "results" / "regress-20261127-000000-ci"
    run.mkdir(parents=True)
    exported(run)
    r, out = run_collect(wf, tmp_path)
    assert r.returncode == 0, r.stderr
    assert "found=true" in out
    for s in steps_of(wf):
        if s.get("uses", "").startswith(GAB + "@"):
            p = tmp_path / s["with"]["output-file-path"]
            assert p.is_file() and json.load(open(p)) == json.load(open(run / p.name))
            assert "steps.collect.outputs.found == 'true'" in s["if"]


def test_collect_step_without_a_regress_run(wf, tmp_path):
    (tmp_path / "results" / "baseline").mkdir(parents=True)
    r, out = run_collect(wf, tmp_path)
    assert r.returncode == 0 and "found=false" in out and "did not run" in r.stdout


def test_starts_from_a_fresh_boot_state(wf):
    """CI unmounts tracefs before the tests (a fresh boot has none mounted until
    perf first runs), so the preflight's mounting is exercised every time: the
    lines of .ci/run before `make test`, run in a private mount namespace with
    tracefs mounted, leave it unmounted."""
    cmds = [c for s in steps_of(wf) if "run" in s for c in commands(s["run"])]
    test = readme_test_command()
    um = [i for i, c in enumerate(cmds) if "umount" in c]
    assert um and um[0] < cmds.index(test), cmds
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("running .ci/run's set-up needs root and unshare (a private mount namespace)")
    text = open(os.path.join(ROOT, ".ci", "run")).read()
    prefix = text[:text.index('echo "== make test"')]
    script = ("mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing\n"
              "mountpoint -q /sys/kernel/tracing || exit 3\n" + prefix
              + "\nmountpoint -q /sys/kernel/tracing && exit 4; exit 0\n")
    p = subprocess.run(["unshare", "--mount", "--propagation", "private", "bash", "-c", script],
                       capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
