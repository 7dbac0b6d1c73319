"""reportcheck.py - do REPORT.md's tables hold the numbers of points.csv?

A run's REPORT.md is parsed section by section ("## <sweep's section>"); each
table the sweep declares (harness/sweeps.py: Table, AtTable) is found by its
label line, and every cell is compared with the points.csv row it shows:
a number within the rounding of the digits shown (the first number in the
cell, so added interval text is tolerated), FAIL for a failed point, skip for
a skipped one, "-" for an empty figure, a trailing * for a partial one, a ‡
on a latency of an open-loop point whose generator failed its test
(gen_limited, report.gen_marked). Every
CSV row of the sweep (and series) must have its cell, and every cell its row.
The "Failed and skipped points" table must list exactly the records of
points.jsonl that are not ok, with their reasons.

check(run_dir) -> (cells_checked, problems): problems are one line each.
"""
import csv
import json
import os
import re

import report
import sweeps

NUM = re.compile(r"-?[\d,]*\.?\d+")


def _sections(text):
    """{heading: [lines]} of the '## ' sections."""
    out, cur = {}, None
    for ln in text.splitlines():
        if ln.startswith("## "):
            cur = ln[3:].strip()
            out[cur] = []
        elif cur is not None:
            out[cur].append(ln)
    return out


def _table_after(lines, label):
    """The rows (lists of cells) of the markdown table after the line `label`."""
    try:
        i = lines.index(label)
    except ValueError:
        return None
    rows = []
    for ln in lines[i + 1:]:
        if not ln.strip() and not rows:
            continue
        if not ln.startswith("|"):
            break
        rows.append([c.strip() for c in ln.strip().strip("|").split("|")])
    return rows


RES = re.compile(r"±(\d+)%")      # a cell's resolution: half its interval, in %


def _parse_num(cell):
    m = NUM.search(cell)
    if not m:
        return None, None
    s = m.group(0).replace(",", "")
    dec = len(s.split(".")[1]) if "." in s else 0
    return float(s), dec


def _cell_problem(cell, row, col, fmt="num"):
    """Why a cell does not show this CSV row's figure, or None."""
    st = row["status"]
    if st == "failed":
        return None if cell == "FAIL" or (fmt == "pct" and cell == "-") else f"'{cell}' for a failed point"
    if st == "skipped":
        return None if cell in ("skip", "-") else f"'{cell}' for a skipped point"
    v = row.get(col, "")
    if v == "":
        bare = cell.rstrip("*").replace(report.GEN_MARK, "")
        return None if bare in ("-", "") else f"'{cell}' where the CSV has no {col}"
    want = float(v) * (100 if fmt == "pct" else 1)
    got, dec = _parse_num(cell)
    if got is None:
        return f"'{cell}' is not a number (CSV {col} = {v})"
    if abs(got - want) > 0.5 * 10 ** -dec + 1e-5 * abs(want):
        return f"'{cell}' but the CSV has {col} = {v}"
    if (st == "partial") != cell.endswith("*"):
        return f"'{cell}': the * does not match status {st}"
    if report.gen_marked(row, col) != (report.GEN_MARK.strip() in cell):
        return f"'{cell}': the {report.GEN_MARK.strip()} does not match gen_limited = {row.get('gen_limited')}"
    lo, hi = row.get(col + "_lo", ""), row.get(col + "_hi", "")
    res = RES.search(cell)
    if lo != "" and hi != "" and float(v):
        want_res = (float(hi) - float(lo)) / 2 / abs(float(v)) * 100
        if res is None or abs(int(res.group(1)) - want_res) > 0.5 + 1e-3 * want_res:
            return f"'{cell}': the CSV's interval {lo}-{hi} is ±{want_res:.1f}% of {v}"
    elif res is not None:
        return f"'{cell}': a ± where the CSV has no interval for {col}"
    return None


def _xkey(s):
    n, _ = _parse_num(s)
    return n


def check(run_dir):
    with open(os.path.join(run_dir, "REPORT.md")) as f:
        text = f.read()
    with open(os.path.join(run_dir, "points.csv")) as f:
        rows = list(csv.DictReader(f))
    secs = _sections(text)
    problems, n = [], 0
    for sw in sweeps.SWEEPS:
        sel = [r for r in rows if r["sweep"] == sw.name]
        if not sel:
            continue
        pat = re.sub(r"\\\{\w+\\\}", ".*", re.escape(sw.section))   # {work_ms}, {active}: computed
        heads = [h for h in secs if re.fullmatch(pat, h)]
        if not heads:
            problems.append(f"{sw.name}: no section '{sw.section}' in REPORT.md")
            continue
        lines = secs[heads[0]]
        for item in sw.report:
            if isinstance(item, sweeps.Table):
                n += _check_table(sw, item, sel, lines, problems)
            elif isinstance(item, sweeps.AtTable):
                n += _check_at(sw, item, sel, lines, problems)
    n += _check_failed(run_dir, secs, problems)
    return n, problems


def _check_table(sw, t, sel, lines, problems):
    groups = []
    if t.per_series:
        for s in sorted({r["series"] for r in sel}, key=sw.series_key):
            if not t.only_series or s in t.only_series:
                groups.append((t.label.format(series=sw.series_title(s)),
                               [r for r in sel if r["series"] == s]))
    else:
        groups.append((t.label, sel))
    n = 0
    for label, rs in groups:
        has = any(r.get(t.col, "") != "" or r["status"] not in ("ok", "partial") for r in rs)
        tab = _table_after(lines, label + ":")
        if tab is None:
            if has:
                problems.append(f"{sw.name}: no table '{label}' though the CSV has {t.col}")
            continue
        head, body = tab[0], tab[2:]
        xs = [_xkey(h) for h in head[1:]]
        by = {(r["model"], float(r["x"])): r for r in rs}
        seen = set()
        for cells in body:
            m = cells[0]
            for x, cell in zip(xs, cells[1:]):
                r = by.get((m, x))
                if r is None:
                    if cell:
                        problems.append(f"{sw.name} '{label}': {m} x={x:g} shows '{cell}' "
                                        "with no CSV row")
                    continue
                seen.add((m, x))
                n += 1
                why = _cell_problem(cell, r, t.col)
                if why:
                    problems.append(f"{sw.name} '{label}': {m} x={x:g}: {why}")
        for k in by:
            if k not in seen:
                problems.append(f"{sw.name} '{label}': CSV row {k[0]} x={k[1]:g} has no cell")
    return n


def _check_at(sw, t, sel, lines, problems):
    pat = re.escape(t.label).replace(r"\{at\}", "([0-9,]+)") + ":"
    found = [(ln, re.fullmatch(pat, ln)) for ln in lines]
    found = [(ln, m) for ln, m in found if m]
    if not found:
        if any(r["status"] in ("ok", "partial") for r in sel):
            problems.append(f"{sw.name}: no table '{t.label}'")
        return 0
    ln, m = found[0]
    at = float(m.group(1).replace(",", ""))
    tab = _table_after(lines, ln)
    head, body = tab[0], tab[2:]
    cols = {h: (c, f) for h, c, f in t.cols}
    by = {r["model"]: r for r in sel if float(r[t.at]) == at}
    n = 0
    for cells in body:
        r = by.pop(cells[0], None)
        if r is None:
            problems.append(f"{sw.name} '{ln}': row {cells[0]} has no CSV row at {t.at}={at:g}")
            continue
        for h, cell in zip(head[1:], cells[1:]):
            if h not in cols:
                continue
            col, fmt = cols[h]
            n += 1
            why = _cell_problem(cell, r, col, fmt)
            if why:
                problems.append(f"{sw.name} '{ln}': {r['model']} {h}: {why}")
    for m_ in by:
        problems.append(f"{sw.name} '{ln}': CSV row {m_} at {t.at}={at:g} has no table row")
    return n


def _check_failed(run_dir, secs, problems):
    with open(os.path.join(run_dir, "points.jsonl")) as f:
        recs = [json.loads(ln) for ln in f if ln.strip()]
    bad = {str(r.get("seq")): r for r in recs if r["status"] != "ok"}
    lines = secs.get("Failed and skipped points", [])
    rows = [[c.strip() for c in re.split(r"(?<!\\)\|", ln.strip().strip("|"))]
            for ln in lines if ln.startswith("|")]
    if not rows:
        if bad:
            problems.append(f"no 'Failed and skipped points' table for {len(bad)} records")
        return 0
    head, body = rows[0], rows[2:]
    try:
        i_seq, i_st, i_m, i_why = (head.index(h) for h in ("#", "status", "model", "reason"))
    except ValueError:
        problems.append(f"'Failed and skipped points' table has columns {head}")
        return 0
    n = 0
    for cells in body:
        r = bad.pop(cells[i_seq], None)
        n += 1
        if r is None:
            problems.append(f"failed/skipped table lists #{cells[i_seq]}, which is ok or absent")
        elif (cells[i_st], cells[i_m], cells[i_why].replace("\\|", "|")) != \
                (r["status"], r["point"]["model"], r.get("reason") or ""):
            problems.append(f"failed/skipped #{cells[i_seq]}: {cells[i_st]} {cells[i_m]} "
                            f"'{cells[i_why]}' but the record is {r['status']} "
                            f"{r['point']['model']} '{r.get('reason')}'")
    for s in bad:
        problems.append(f"record #{s} ({bad[s]['status']}) is missing from the failed/skipped table")
    return n
