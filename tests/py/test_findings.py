"""harness/findings.py: every number in a run's FINDINGS.md is its points.csv's.

The reference run's FINDINGS.md (results/REFERENCE names it) is checked through
findings.json, where the generator records each number and verdict it wrote:
its offset, the points.csv row and column, how it was derived. This file
recomputes each one on its own from points.csv (a verdict from the runs in
points.jsonl, through findings.judge, the one call into the claims
machinery), and finds every other digit in the text a name, not a figure. A
copy with one CSV value changed, or one number edited in FINDINGS.md, fails
the check; regenerating FINDINGS.md and README.md's block changes nothing.
"""
import csv
import json
import os
import re
import shutil

import pytest

import findings
import records
import fold
import report
import stats
import story
from test_records import a_point, a_record

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def ref_dir():
    with open(os.path.join(ROOT, "results", "REFERENCE")) as f:
        return os.path.join(ROOT, "results", f.read().strip())


# ---- an independent check ------------------------------------------------------------

def csv_rows(run_dir):
    """{(sweep, series, model, x): row} of points.csv, as strings."""
    with open(os.path.join(run_dir, "points.csv"), newline="") as f:
        return {(r["sweep"], r["series"], r["model"], int(r["x"])): r for r in csv.DictReader(f)}


def jsonl_runs(run_dir):
    """{point key: [records]} of points.jsonl, read as plain JSON."""
    out = {}
    with open(os.path.join(run_dir, "points.jsonl")) as f:
        for ln in f:
            if ln.strip():
                r = json.loads(ln)
                p = r["point"]
                k = (p["sweep"], p["series"], p["model"], p["x"], p["server_cpus"], p["conns"],
                     p["active"], p["rate"], p["size"], p["work_us"])
                out.setdefault(k, []).append(r)
    return out


def shown(text):
    """The number a span shows, and half a unit of its last digit."""
    t = text.replace("±", "").replace(",", "").rstrip("%x")
    dec = len(t.split(".")[1]) if "." in t else 0
    return float(t), 0.5 * 10 ** -dec


def expected(span, rows):
    """What a span's number should be, recomputed from the CSV rows (None
    when its row or column is not there)."""
    d = span["derive"]
    if d == "count":
        conv = [r["converged"] for r in rows.values() if r["converged"] != ""]
        return conv.count("1") if span["what"] == "converged" else len(conv)
    row = rows.get(tuple(span["row"]))
    if row is None:
        return None
    v = row.get(span["col"])
    if d == "status":
        return row["status"]
    if d == "key":
        return float(v)
    if d == "flag":
        return "yes" if float(v) else "no"
    if v in (None, ""):
        return None
    v = float(v)
    if d == "value":
        return v
    if d == "share":
        return v * 100
    if d == "half":
        return (float(row[span["col"] + "_hi"]) - float(row[span["col"] + "_lo"])) / 2 / abs(v) * 100
    if d == "ratio":
        r = v / float(rows[tuple(span["row2"])][span["col2"]])
        return r * 100 if span.get("pct") else r
    raise AssertionError(f"unknown derivation {d}")


def check_verdict(span, rows, runs):
    """A verdict span: the rows it names are the CSV's, its runs are those rows'
    points, and judge() on those runs says what the span says."""
    problems = []

    def values(row_key, run_key):
        row = rows.get(tuple(row_key))
        recs = runs.get(tuple(run_key or ()))
        if row is None or not recs:
            problems.append(f"{row_key}: no CSV row or no runs {run_key}")
            return []
        p = recs[0]["point"]
        if any(str(p[c]) != row[c] for c in ("model", "conns", "active", "rate", "size", "work_us")):
            problems.append(f"{row_key}: the runs {run_key} are another point's")
        return stats.numbers(r["derived"].get(span["fig"]) for r in recs if r["status"] == "ok")

    a = values(span["row"], span["runs"])
    for b in span["against"]:
        v = findings.judge(span["fig"], a, values(b["row"], b["runs"]))
        if v != span["verdict"]:
            problems.append(f"{b['row']} against {span['row']}: {span['fig']} judged {v}, "
                            f"written {span['verdict']}")
    if span["text"] != findings.verdict_text(span["fig"], span["verdict"]):
        problems.append(f"verdict {span['verdict']} written as {span['text']!r}")
    return problems


def check(run_dir, text, spans):
    """Every span against the text and the run's data: a list of problems."""
    rows, runs, problems = csv_rows(run_dir), None, []
    for s in spans:
        where = f"at {s['at']} {s['text']!r} ({s['derive']} {s.get('row')} {s.get('col', '')})"
        if text[s["at"]:s["at"] + len(s["text"])] != s["text"]:
            problems.append(f"{where}: the text there is "
                            f"{text[s['at']:s['at'] + len(s['text'])]!r}")
            continue
        if s["derive"] == "verdict":
            runs = runs or jsonl_runs(run_dir)
            problems += [f"{where}: {p}" for p in check_verdict(s, rows, runs)]
            continue
        want = expected(s, rows)
        if isinstance(want, str) or s["derive"] == "count":
            ok = s["text"] == (want if isinstance(want, str) else f"{want:,}")
        else:
            got, tol = shown(s["text"])
            ok = want is not None and abs(got - want) <= tol + 1e-9 * abs(want)
        if not ok:
            problems.append(f"{where}: the CSV gives {want}")
    return problems


def untracked(text, spans):
    """Words with digits that no span covers, outside `code` and link targets,
    and not among findings.LITERALS."""
    chars = list(text)
    for s in spans:
        chars[s["at"]:s["at"] + len(s["text"])] = " " * len(s["text"])
    t = "".join(chars)
    t = re.sub(r"`[^`\n]*`", " ", t)
    t = re.sub(r"\]\([^)\s]*\)", "] ", t)
    words = [w.strip(".,;:()[]*!?'\"") for w in re.findall(r"\S*\d\S*", t)]
    return [w for w in words if w not in findings.LITERALS]


def committed(run_dir):
    with open(os.path.join(run_dir, "FINDINGS.md")) as f, \
            open(os.path.join(run_dir, "findings.json")) as g:
        return f.read(), json.load(g)


# ---- the reference run -----------------------------------------------------------------

def test_every_number_of_the_reference_findings_is_the_csvs():
    text, spans = committed(ref_dir())
    assert len(spans) > 300, "findings.json records the numbers"
    # ("status", a failed or skipped point's word, appears only where the run has one in a
    # finding: test_a_small_run_gets_its_findings_and_says_what_it_lacks makes one)
    assert {s["derive"] for s in spans} >= {"value", "half", "key", "ratio", "share", "verdict",
                                            "count", "flag"}
    assert check(ref_dir(), text, spans) == []


def test_no_number_in_the_reference_findings_without_its_source():
    text, spans = committed(ref_dir())
    assert untracked(text, spans) == []
    # the check sees a number typed into the text
    assert untracked(text + "\nabout 12% faster\n", spans) == ["12%"]


def test_a_changed_csv_value_or_an_edited_number_fails_the_check(tmp_path):
    text, spans = committed(ref_dir())
    run = tmp_path / "run"
    run.mkdir()
    for name in ("points.jsonl", "FINDINGS.md", "findings.json"):
        os.symlink(os.path.join(ref_dir(), name), run / name)
    span = next(s for s in spans if s["derive"] == "value" and s["col"] == "cpu_us_per_echo"
                and s["row"][0] == "idle")
    with open(os.path.join(ref_dir(), "points.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        if [r[k] for k in findings.KEY[:3]] + [int(r["x"])] == span["row"]:
            r[span["col"]] = str(float(r[span["col"]]) * 1.5)
    with open(run / "points.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    problems = check(str(run), text, spans)
    assert any(f"at {span['at']} " in p for p in problems), problems
    assert all(str(span["row"]) in p for p in problems), problems
    # a number edited by hand in FINDINGS.md
    shutil.copy(os.path.join(ref_dir(), "points.csv"), run / "points.csv")
    at = span["at"]
    edited = text[:at] + "9" + text[at + 1:]
    assert len(check(str(run), edited, spans)) == 1
    # a verdict the runs do not support
    v = next(s for s in spans if s["derive"] == "verdict")
    other = "better" if v["verdict"] == "worse" else "worse"
    forged = [dict(s, verdict=other) if s is v else s for s in spans]
    assert any(f"judged {v['verdict']}, written {other}" in p
               for p in check(str(run), text, forged))


def test_regenerating_the_reference_findings_changes_nothing():
    text, spans = committed(ref_dir())
    doc = findings.findings_doc(findings.Run(ref_dir()))
    assert doc.text().rstrip("\n") + "\n" == text, \
        "FINDINGS.md is stale: python3 harness/findings.py " + os.path.relpath(ref_dir(), ROOT)
    assert json.loads(findings.spans_json(doc.spans)) == spans


def test_the_readme_block_is_generated_from_the_reference_run():
    with open(os.path.join(ROOT, "README.md")) as f:
        _, block, _ = findings.readme_split(f.read())
    text, spans, rel = findings.readme_block()
    assert block == text, "README.md's block is stale: python3 harness/findings.py --readme"
    assert rel == os.path.relpath(ref_dir(), ROOT)
    assert len(spans) > 20 and check(ref_dir(), text, spans) == []
    assert untracked(text, spans) == []


# ---- the declarations ---------------------------------------------------------------------

def test_every_template_names_its_cells_and_compares_judged_figures():
    for f in story.FINDINGS:
        for t in f.says:
            for field in findings.FIELD.findall(t):
                names = findings._names(field)
                assert all(n in f.cells for n in names), (f.key, field)
                if "~" in field:
                    b, a = names
                    assert f.cells[a].col == f.cells[b].col in stats.JUDGED, (f.key, field)
        for t in f.tables:
            if isinstance(t, story.Claims):
                assert t.col in stats.JUDGED, (f.key, t)


def test_judge_names_a_difference_only_where_the_intervals_separate():
    assert findings.judge("msgs_per_s", [100, 110, 105, 102, 108, 104],
                          [104, 108, 106, 103, 107, 101]) == "same"
    assert findings.judge("msgs_per_s", [100, 101, 102, 103, 99, 100.5],
                          [200, 201, 202, 203, 199, 200.5]) == "better"
    assert findings.judge("cpu_us_per_echo", [1.0, 1.1, 1.05, 1.02, 1.08, 1.04],
                          [2.0, 2.1, 2.05, 2.02, 2.08, 2.04]) == "worse"
    assert findings.judge("msgs_per_s", [100, 101, 102], [200, 201, 202]) is None   # 3 a side
    assert findings.judge("msgs_per_s", [100], [200, 201]) is None
    assert findings.verdict_text("msgs_per_s", "better") == "faster"
    assert findings.verdict_text("cpu_us_per_echo", "worse") == "costlier in CPU per echo"
    assert findings.verdict_text("msgs_per_s", "same") == "no measurable difference"


def test_fmt():
    assert [findings.fmt(v) for v in (124084.2, 70.37, 7.81, 0.0968, 0.00306, 1.0, 0)] == \
        ["124,084", "70.4", "7.81", "0.0968", "0.00306", "1", "0"]
    assert [findings.fmt_pct(v) for v in (1.61, 0.044, 0.0)] == ["161%", "4.4%", "0.0%"]


# ---- a run with little in it ----------------------------------------------------------------

def rec(model, msgs, repeat=1, **pt):
    p = a_point().again(model=model, repeat=repeat, **pt)
    return a_record(point=p, status="ok", derived={"msgs_per_s": msgs, "cpu_us_per_echo": msgs / 1e4})


def test_a_small_run_gets_its_findings_and_says_what_it_lacks(tmp_path):
    recs = [rec(m, v * k, repeat=k, sweep="idle", series="active100", conns=100 + idle,
                active=100, idle=idle, x=idle, rate=2000, mode="demand")
            for m, v in (("select", 1000.0), ("poll", 1100.0), ("epoll_et", 3000.0))
            for idle in (0, 900) for k in (1, 2)]
    for i in (-2, -1):       # epoll_et beside 900 idle: both runs failed, shown as such
        recs[i] = a_record(point=recs[i].point, status="failed", reason="no echoes at all",
                           derived={})
    with open(tmp_path / "points.jsonl", "w") as f:
        for r in recs:
            f.write(r.to_json() + "\n")
    report.write_csv(fold.aggregate(recs), str(tmp_path / "points.csv"))
    findings.write(str(tmp_path))
    text, spans = committed(str(tmp_path))
    assert "Not in this run: `sigio` in the idle sweep; `sigio` in the dispatch sweep.\n" in text
    assert "`select` spent" in text and check(str(tmp_path), text, spans) == []
    assert "status" in {s["derive"] for s in spans}
    assert untracked(text, spans) == []


def test_the_command_line(tmp_path, capsys):
    assert findings.main([str(tmp_path)]) == 2
    assert "has no points.csv" in capsys.readouterr().err
    assert findings.main(["--bogus"]) == 2


@pytest.mark.parametrize("bad", ["", "a/b\n"])
def test_reference_must_be_one_folder_name(tmp_path, monkeypatch, bad):
    p = tmp_path / "REFERENCE"
    p.write_text(bad)
    monkeypatch.setattr(records, "REFERENCE", str(p))
    with pytest.raises(ValueError, match="one line"):
        findings.reference()
