"""The documents: README.md is a front door that stays true.

It stays short; its layout table names every top-level folder of the tree and
only paths that exist; no figure with an interval (± and a number) is typed
into a document outside a generated block; and every relative link of the
documents resolves. README.md's generated block is test_findings.py's.
"""
import os
import re
import subprocess

import findings
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOCS = ["README.md", "results/README.md", "harness/README.md", "tests/README.md",
        "dispatch/README.md"] + sorted(os.path.join("docs", f) for f in
                                       os.listdir(os.path.join(ROOT, "docs")) if f.endswith(".md"))
# Documents other branches write (the declared-topology and open-loop work):
# a link to one may resolve only once that branch is merged.
PENDING = {"docs/machines.md", "docs/open-loop.md"}


def read(rel):
    with open(os.path.join(ROOT, rel)) as f:
        return f.read()


def section(text, heading):
    m = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert m, f"README.md has no '## {heading}' section"
    return m.group(1)


def test_readme_is_a_front_door():
    text = read("README.md")
    assert len(text.splitlines()) <= 300
    for heading in ("The two commands", "What it shows", "What a run writes",
                    "Extending the suite", "Layout"):
        section(text, heading)


def test_layout_names_every_top_level_folder_and_only_paths_that_exist():
    rows = [ln for ln in section(read("README.md"), "Layout").splitlines()
            if ln.startswith("| `")]
    named = [re.findall(r"`([^`]+)`", r.split("|")[1])[0] for r in rows]
    for path in named:
        assert os.path.exists(os.path.join(ROOT, path)), f"Layout names {path}, which is not there"
    # every path a row's text names in code, too (results/REFERENCE, tests/unit/, ...)
    for r in rows:
        for p in re.findall(r"`((?:[\w.-]+/)+[\w.\[\],-]*)`", r):
            p = p.replace("common.[ch]", "common.c")
            if "<" not in p and not p.startswith("bin/"):      # bin/: built, not in the tree
                assert os.path.exists(os.path.join(ROOT, p)), f"Layout names {p}, which is not there"
    try:
        files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                               check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    tops = {f.split("/")[0] for f in files if "/" in f}
    covered = {p.split("/")[0] for p in named}
    assert tops - covered == set(), f"top-level folders the layout does not name: {tops - covered}"


def test_no_figure_with_an_interval_is_typed_outside_a_generated_block():
    for rel in DOCS:
        text = read(rel)
        if rel == "README.md":
            before, _, after = findings.readme_split(text)
            text = before + after
        typed = re.findall(r".{0,30}±\s*\d.{0,10}", text)
        assert typed == [], f"{rel}: figures typed by hand: {typed}"


def test_every_relative_link_resolves():
    for rel in DOCS:
        base = os.path.dirname(rel)
        for target in re.findall(r"\]\(([^)\s]+)\)", read(rel)):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            path = os.path.normpath(os.path.join(base, target.split("#")[0]))
            assert os.path.exists(os.path.join(ROOT, path)) or path in PENDING, \
                f"{rel}: the link {target} leads nowhere"
