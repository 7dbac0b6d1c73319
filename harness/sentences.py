"""sentences.py - REPORT.md sentences computed from the records they describe
(never a literal figure copied from an earlier run or from a default).

placement(recs): where the server and the generator ran, per sweep, from
each record's `topology` (harness/topology.py) or, for older records, from
the point's server_cpus; "" when the records say nothing.
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
    return (str(srv) if srv is not None else None, str(cli) if cli is not None else None,
            net, tuple(hosts))


def _cpus(s):
    if s in (None, "every CPU"):
        return s or "?"
    return ("CPUs " if any(c in s for c in ",-") else "CPU ") + s


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
