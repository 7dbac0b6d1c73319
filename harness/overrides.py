"""overrides.py - bench.py's --set and --server-args: a run's points changed
from the command line without a new profile (tiny test runs, one-off runs).

  --set SWEEP.KEY=V[,V...]     a sweep's profile parameter (harness/sweeps.py),
                               e.g. size.sizes=64,1024  idle.totals=300
                               heavy.duration=0.5  rate.idle=0,200
  --server-args MODEL=FLAGS    server flags added to MODEL's points (recorded
                               in each point's server_args), e.g.
                               pool=--workers 3  reactors=--loops 2

Both are repeatable. A value takes the type of the parameter it replaces
(a list stays a list); an unknown sweep, key or model is one line naming it.
"""

import shlex

import sweeps as sweep_decl


class BadOverride(ValueError):
    """One line naming the bad --set / --server-args entry."""


def _number(s, what):
    try:
        return int(s)
    except ValueError:
        try:
            return float(s)
        except ValueError:
            raise BadOverride(f"{what}: '{s}' is not a number") from None


def parse_sets(items, profile):
    """--set entries -> {sweep: {key: value}} checked against the profile's
    parameters of each sweep."""
    out = {}
    for it in items or []:
        what = f"--set {it}"
        name, eq, val = it.partition("=")
        sweep, dot, key = name.partition(".")
        if not eq or not dot or not key:
            raise BadOverride(f"{what}: expected SWEEP.KEY=VALUE")
        try:
            params = sweep_decl.get(sweep).profiles[profile]
        except KeyError:
            raise BadOverride(f"{what}: no sweep '{sweep}' (sweeps: "
                              f"{','.join(sweep_decl.names())})") from None
        if key not in params:
            raise BadOverride(f"{what}: sweep {sweep} has no parameter '{key}' "
                              f"(it has: {','.join(sorted(params))})")
        old = params[key]
        if isinstance(old, (list, tuple)):
            v = [_number(x.strip(), what) for x in val.split(",") if x.strip()]
        else:
            v = _number(val.strip(), what)
        if isinstance(v, list) and any(x < 0 for x in v) or not isinstance(v, list) and v < 0:
            raise BadOverride(f"{what}: negative value")
        out.setdefault(sweep, {})[key] = v
    return out


def parse_server_args(items, known):
    """--server-args entries -> {model: [flags]}; `known` are the run's models."""
    out = {}
    for it in items or []:
        model, eq, flags = it.partition("=")
        if not eq or not model or not flags.strip():
            raise BadOverride(f"--server-args {it}: expected MODEL=FLAGS")
        if model not in known:
            raise BadOverride(f"--server-args {it}: '{model}' is not one of the run's models "
                              f"({','.join(known)})")
        try:
            out.setdefault(model, []).extend(shlex.split(flags))
        except ValueError as e:
            raise BadOverride(f"--server-args {it}: {e}") from None
    return out


def sweep_params(profile_params, sweep, sets):
    """A sweep's parameters for this run: the profile's, with --set applied."""
    return dict(profile_params, **(sets or {}).get(sweep, {}))
