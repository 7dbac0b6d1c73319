"""context.py - a run's context.json: what produced its figures, enough to
reproduce them (machine, limits, compiler and flags, commit, binaries'
checksums, profile and settings, where the points run), written whole or
not at all.
"""

import hashlib
import json
import os
import platform
import socket
import subprocess
import time

import procfs


def cmd_output(args, cwd=None):
    """A command's stdout, stripped, or None when it fails or is missing."""
    try:
        r = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=20)
        return r.stdout.strip() if r.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired):
        return None


def sha256(path):
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    except OSError:
        return None
    return h.hexdigest()


def build(root, bindir, profile, lim, argv, models, settings, topo):
    """context.json: what produced the figures, enough to reproduce them
    (topo: where the points run, harness/topology.py: its CPU plan is the
    pinning)."""
    status = cmd_output(["git", "status", "--porcelain"], cwd=root)
    make_n = cmd_output(["make", "-n", "-B", "-C", root, "V=1", "bin/echo_epoll_lt"])
    cflags_lines = [ln for ln in (make_n or "").splitlines() if " -c " in ln]
    return dict(
        date=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        host=socket.gethostname(),
        profile=profile, settings=settings, argv=argv,
        kernel=platform.release(), kernel_version=platform.version(),
        cpu_model=procfs.cpu_model(), cores=os.cpu_count(), cpus_usable=lim["cpus"],
        limits=lim,
        compiler=(cmd_output(["gcc", "--version"]) or "").splitlines()[:1],
        cflags_env=os.environ.get("CFLAGS"),
        compile_command=cflags_lines[:1],
        glibc=" ".join(platform.libc_ver()),
        python=platform.python_version(),
        gnuplot=cmd_output(["gnuplot", "--version"]),
        git_commit=cmd_output(["git", "rev-parse", "HEAD"], cwd=root),
        git_dirty=bool(status) if status is not None else None,
        git_dirty_files=len(status.splitlines()) if status else 0,
        bin_dir=os.path.abspath(bindir),
        binaries={m: sha256(os.path.join(bindir, f"echo_{m}")) for m in models},
        loadgen_sha256=sha256(os.path.join(bindir, "loadgen")),
        pinning=topo.pinning(),
        topology=topo.context(),
    )


def write(path, ctx):
    """context.json, written whole or not at all (fsync'ed, then renamed)."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(ctx, f, indent=1, default=str)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
