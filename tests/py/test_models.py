"""harness/models.py: the registry and what is generated from it (make
variables, gnuplot styles)."""
import os
import re
import shutil
import subprocess

import pytest

import models
from conftest import ROOT


def make_vars(text):
    out = {}
    for ln in text.splitlines():
        m = re.match(r"^(\w+) := ?(.*)$", ln)
        if m:
            out[m.group(1)] = m.group(2).split()
    return out


def test_names_unique_and_families_known():
    names = models.names()
    assert len(names) == len(set(names))
    assert all(m.family in models.FAMILIES for m in models.MODELS)


def test_every_server_source_has_a_line_and_back():
    assert models.check() == []


def test_check_names_a_source_without_a_line(tmp_path):
    (tmp_path / "servers").mkdir()
    for m in models.names(is_ref=False):
        (tmp_path / "servers" / f"{m}.c").write_text("")
    (tmp_path / "servers" / "zz_new.c").write_text("")
    (tmp_path / "servers" / "common.c").write_text("")
    os.unlink(tmp_path / "servers" / "poll.c")
    assert models.check(str(tmp_path)) == [
        "servers/zz_new.c has no line in harness/models.py",
        "harness/models.py lists 'poll' but servers/poll.c does not exist"]
    assert "$(error servers/zz_new.c has no line" in models.make(str(tmp_path))


def test_make_variables():
    v = make_vars(models.make())
    assert v["ALL_MODELS"] == models.names(is_ref=False)
    assert set(v["THREADED_MODELS"]) == {"threads", "posix_aio", "pool", "reactors"}
    assert v["LIBS_io_uring"] == ["-luring"] and v["LIBS_posix_aio"] == ["-pthread", "-lrt"]
    assert v["LIBS_select"] == []
    assert "LIBS_node" not in v and v["REF_MODELS"] == ["node", "java", "java_nio2", "netty",
                                                        "go", "erlang"]
    assert not any(f"LIBS_{m}" in v for m in v["REF_MODELS"])
    assert set(v["CALLGRIND_MODELS"]) >= {"epoll_lt", "select", "libevent"}


def test_filters_and_lookups():
    assert models.names(heavy=True, is_ref=False) == ["threads", "epoll_et", "reactors", "pool",
                                                      "coro"]
    assert models.names(heavy=True, is_ref=True) == ["java_nio2", "netty", "go", "erlang"]
    assert models.names(spinner=True) == ["busypoll"]
    assert models.get("prefork").test_args == ("--procs", "32")
    assert models.attr("nosuch", "heavy", "x") == "x"
    with pytest.raises(KeyError, match="no model 'nosuch'"):
        models.get("nosuch")
    assert models.order(["zz", "poll", "threads", "aa"]) == ["threads", "poll", "aa", "zz"]


def test_prefork_bench_args_clamp():
    pf = models.get("prefork")
    assert pf.bench_args(10, 1) == ["--procs", "32"]
    assert pf.bench_args(1000, 1) == ["--procs", "1000"]
    assert pf.bench_args(100000, 8) == ["--procs", "2000"]
    assert models.get("epoll_lt").bench_args(1000, 1) == []


def test_prefork_instances_have_room_for_the_reuseport_split():
    """Each SO_REUSEPORT instance gets a binomial share of the connections:
    its processes must cover the largest share a split gives, or the rest
    wait unanswered in its backlog."""
    import random
    pf = models.get("prefork")
    rng = random.Random(1)
    for conns, k in ((96, 2), (1000, 2), (3000, 4)):
        per = int(pf.bench_args(conns, k)[1])
        # one instance's share in 500 random splits (the others' are alike)
        worst = max(sum(rng.random() < 1 / k for _ in range(conns)) for _ in range(500))
        assert worst <= per <= conns, (conns, k, per, worst)


def test_styles_unique():
    assert len(set(models.POINTS)) == len(models.POINTS)
    assert len(set(models.PALETTE)) == len(models.PALETTE)
    n = len(models.MODELS)
    styles = [models.style(i) for i in range(n)]
    assert len(set(styles)) == n
    # room to grow: 42 models before (colour, point, dash) repeats
    assert len({models.style(i) for i in range(42)}) == 42
    assert all(pt != models.FAILED_PT for _, pt, _ in styles)


@pytest.mark.skipif(not shutil.which("gnuplot"), reason="gnuplot is not installed")
def test_gnuplot_styles_match_the_registry(tmp_path):
    f = tmp_path / "style.gp"
    f.write_text(models.gnuplot())
    probe = "; ".join(f'print model_color("{m}"), model_pt("{m}"), model_dt("{m}")'
                      for m in models.names() + ["unknown_model"])
    r = subprocess.run(["gnuplot", "-e", f'load "{f}"; {probe}'], capture_output=True,
                       text=True, timeout=30)
    got = [tuple(ln.split()) for ln in r.stderr.splitlines()]
    want = [(c, str(p), str(d)) for c, p, d in
            (models.style(i) for i in range(len(models.MODELS) + 1))]
    assert got == want


def test_cli(tmp_path):
    py = os.path.join(ROOT, "harness", "models.py")
    r = subprocess.run(["python3", py, "--nonsense"], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "usage" in r.stderr
    r = subprocess.run(["python3", py, "--make"], capture_output=True, text=True)
    assert r.returncode == 0 and "ALL_MODELS :=" in r.stdout


def test_ref_rows_match_deps_refs():
    """The registry's reference rows and their packages are deps-refs.sh's."""
    r = subprocess.run(["sh", os.path.join(ROOT, "harness", "deps-refs.sh"), "--list"],
                       capture_output=True, text=True, timeout=30)
    listed = dict(ln.split(": ", 1) for ln in r.stdout.splitlines())
    assert list(listed) == models.names(is_ref=True)
    for m in models.names(is_ref=True):
        assert set(listed[m].split()) == set(models.get(m).ref_pkg.split()), m
        assert models.get(m).family == "runtimes"
        assert os.access(os.path.join(ROOT, "refservers", f"echo_{m}"), os.X_OK), m


def test_ref_missing_names_a_tool_or_a_file(monkeypatch):
    import runner
    monkeypatch.setitem(models._BY_NAME, "zz_ref", models.Model(
        "zz_ref", "runtimes", ref=("sh", "/nonexistent/zz.jar")))
    assert runner.ref_missing("zz_ref") == "/nonexistent/zz.jar"
    monkeypatch.setitem(models._BY_NAME, "zz_ref", models.Model(
        "zz_ref", "runtimes", ref=("sh", ROOT)))
    assert runner.ref_missing("zz_ref") is None
    monkeypatch.setitem(models._BY_NAME, "zz_ref", models.Model(
        "zz_ref", "runtimes", ref=("zz-no-such-tool",)))
    assert runner.ref_missing("zz_ref") == "zz-no-such-tool"
