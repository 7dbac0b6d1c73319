"""convergence.py - the convergence rule, stated once: which figures' 95%
intervals decide that a point has converged (within +-target of the mean),
by the kind of point. The schedule repeats a point until they are
(harness/schedule.py), points.csv's `converged` column and REPORT.md's
Confidence section judge by them (harness/fold.py, harness/report.py), and
context.json names them (describe()); nothing else restates them.
"""

import stats

# kind of point -> the figures it converges on, and why those.
RULE = {
    # bin/dispatch: no echoes, no server CPU (harness/dispatch_point.py)
    "dispatch": ("ns_per_event",),
    "churn": ("conns_per_s", "cpu_us_per_echo"),
    # open loop: echoes/s is the offered rate, and nothing reads the server's
    # /proc inside its window (harness/runner.py), so it has no CPU per echo
    "open": ("p50_us",),
    # service demand: a fixed offered load, the server's CPU read at the
    # window's edges; echoes/s is the offered rate
    "demand": ("cpu_us_per_echo",),
    "closed": ("msgs_per_s", "cpu_us_per_echo"),
}


def kind_of(pt):
    """A point's kind for the rule: its mode, open loop whenever it has a rate."""
    if pt["mode"] in ("dispatch", "churn", "demand"):
        return pt["mode"]
    return "open" if pt["rate"] else "closed"


def figures_of(pt):
    """The figures whose interval decides whether a point has converged."""
    return list(RULE[kind_of(pt)])


def sample(derived, figs):
    """One repeat's figures for the convergence test. A figure the repeat did
    not measure counts as a constant (it cannot hold a point back, and a
    point whose repeats all lack it converges on the others)."""
    out = {}
    for f in figs:
        v = (derived or {}).get(f)
        out[f] = v if stats.numbers([v]) else 1.0
    return out


def describe():
    """The rule in words, for context.json's schedule record."""
    def figs(kind):
        return ", ".join(RULE[kind])
    return (" and ".join(RULE["closed"]) + f" (open loop: {figs('open')}; service demand: "
            f"{figs('demand')}; churn: {figs('churn')}; dispatch: {figs('dispatch')}; "
            "harness/convergence.py)")
