"""Issue 22's bar, held on the committed reference run (results/REFERENCE):
at 1,000 active connections, every model whose median echoes/s (active sweep)
or service demand (server CPU per echo, demand sweep) differs from epoll_et's
by 25% or more is judged different (findings.judge, the one call into the
claims machinery, on the runs in points.jsonl), and none that differs by
less than 5% is. A run too noisy to separate models a quarter apart fails.
"""
import os
import statistics

import pytest

import findings
import records

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REF = "epoll_et"
AT = 1000
# (sweep, figure): echoes/s where the generator saturates the server, and the
# server's CPU per echo at a fixed rate every model sustains
FIGURES = (("active", "msgs_per_s"), ("demand", "cpu_us_per_echo"))


def runs_at(run_dir, sweep, fig):
    """{model: [the figure of each ok run]} at x = AT in one sweep."""
    out = {}
    for r in records.load(run_dir):
        pt = r.point
        if r.status == "ok" and pt.sweep == sweep and pt.x == AT and r.derived.get(fig) is not None:
            out.setdefault(pt.model, []).append(r.derived[fig])
    return out


def cases():
    run = os.path.join(ROOT, "results", records.reference_name())
    for sweep, fig in FIGURES:
        per = runs_at(run, sweep, fig)
        for m in sorted(set(per) - {REF}):
            yield pytest.param(per[REF] if REF in per else [], per[m], fig,
                               id=f"{sweep}-{fig}-{m}")


@pytest.mark.parametrize("a,b,fig", list(cases()))
def test_differences_of_25_percent_are_claimed_and_under_5_are_not(a, b, fig):
    assert a, f"the reference run has no {REF} runs to compare with"
    diff = statistics.median(b) / statistics.median(a) - 1
    verdict = findings.judge(fig, a, b)
    if abs(diff) >= 0.25:
        assert verdict in ("better", "worse"), \
            f"medians {diff:+.0%} apart over {len(a)} and {len(b)} runs, judged {verdict}"
    elif abs(diff) < 0.05:
        assert verdict == "same", f"medians {diff:+.1%} apart, judged {verdict}"


def test_the_reference_run_has_both_figures():
    run = os.path.join(ROOT, "results", records.reference_name())
    for sweep, fig in FIGURES:
        per = runs_at(run, sweep, fig)
        assert REF in per and len(per) > 1, f"{sweep}: no {fig} at {AT} for {REF} and others"
