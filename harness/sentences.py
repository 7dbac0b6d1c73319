"""sentences.py - REPORT.md sentences computed from the records they describe
(never a literal figure copied from an earlier run or from a default).

placement(recs): where the server and the generator ran, per sweep, from
each record's `topology` (harness/topology.py) or, for older records, from
the point's server_cpus; "" when the records say nothing. On a declared
topology the CPUs named are declared and the real ones follow.

declared(ctx, recs): "" or the warning that the run was planned for more (or
other) CPUs than it ran on (bench.py --declare-cpus, docs/machines.md).
"""


def _where(rec):
    topo = rec.get("topology") or {}
    pt = rec.get("point") or {}
    srv = topo.get("server_cpus")
    if srv is None and pt.get("server_cpus") is not None:
        srv = "every CPU" if pt["server_cpus"] == "all" else str(pt["server_cpus"])
    cli = topo.get("client_cpus")
    net = topo.get("net")
    hosts = [h for h in (topo.get("server_host"), *(topo.get("client_hosts") or [])) if h]
    if topo.get("declared_cpus") and srv is not None:     # declared CPUs, then the real ones
        srv = f"{srv} (declared; really {_cpus(topo.get('real_server_cpus'))})"
        cli = cli and f"{cli} (declared; really {_cpus(topo.get('real_client_cpus'))})"
    return (str(srv) if srv is not None else None, str(cli) if cli is not None else None,
            net, tuple(hosts))


def _cpus(s):
    if s in (None, "every CPU"):
        return s or "?"
    return ("CPUs " if any(c in s.split(" ")[0] for c in ",-") else "CPU ") + s


def placement(recs):
    groups = {}
    for r in recs:
        if r.get("status") == "skipped":
            continue
        key = _where(r)
        if key == (None, None, None, ()):
            continue
        sweeps = groups.setdefault(key, [])
        sw = (r.get("point") or {}).get("sweep")
        if sw not in sweeps:
            sweeps.append(sw)
    if not groups:
        return ""
    parts = []
    for (srv, cli, net, hosts), sweeps in groups.items():
        s = f"server on {_cpus(srv)}"
        if cli is not None:
            s += f", generator on {_cpus(cli)}"
        if net:
            s += {"loopback": ", loopback (127.0.0.1)", "veth": ", a veth pair"}.get(net, f", {net}")
        if hosts:
            s += f", hosts {' '.join(hosts)}"
        if len(groups) > 1:
            s += f" ({', '.join(sweeps)})"
        parts.append(s)
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + "."


def declared(ctx, recs=()):
    """REPORT.md's warning for a run on a declared topology, from context.json
    (or its records): what was declared, what it ran on, how they map."""
    d = ((ctx.get("topology") or {}).get("declared")
         or next((dict(cpus=r["topology"]["declared_cpus"], real_cpus=r["topology"]["real_cpus"])
                  for r in recs if (r.get("topology") or {}).get("declared_cpus")), None))
    if not d:
        return ""
    real = d["real_cpus"]
    n = sum(len(range(int(a), int(b or a) + 1)) for a, _, b in
            (x.partition("-") for x in real.split(",")))
    return (f"**Declared topology: this run was planned, scheduled, recorded and reported as "
            f"on a machine of {d['cpus']} CPUs, but ran on {n} real CPU{'s' if n > 1 else ''} "
            f"({real}): the server's declared CPUs were pinned onto real server CPUs and the "
            f"generator's onto real generator CPUs (each record's topology: cpu_map, "
            f"real_server_cpus, real_client_cpus). Its figures are this machine's, not a "
            f"{d['cpus']}-CPU machine's: it tests the suite for that machine, it does not "
            f"measure one (docs/machines.md).**")
