"""capacity.py - the open-loop (rate) sweep's point kind: offered load as a
share of each model's capacity (issue 13).

A rate point is declared with x = rate = the share of capacity in percent
(10, 25, ... 110: distinct, so a point's repeats fold together whatever the
capacity measured). Before each run of a rate point, a short closed-loop
probe through runner.run_point (a server and connections of its own)
measures the model's sustainable throughput there; the run then offers
share% of it, for long enough that p99.9 rests on
MIN_SAMPLES echoes: duration = MIN_SAMPLES / rate, at least MIN_S, at most
the point's declared duration (the sweep's max_s per profile). Each point's
record keeps the probe (proc["capacity"]: echoes/s, the generator's CPU per
echo, status, command) and the offered rate and duration it ran at
(proc["offered"]); its derived gen_cpu_x_closed is the generator's CPU per
echo over the probe's. A point that ran short of MIN_SAMPLES says so in its
notes ("short: ...").

Every run of a point probes afresh: its capacity is a run like any other,
landing where the machine's state puts it, so one probe for all of a
point's runs would shift all of them together. In the two default runs of
2026-12-04, which probed once per model, io_uring's offered rates in run B
were 0.64 x run A's at every share, and 11 of the 25 echoes/s figures on
which the two runs disagreed were rate points, each model's shares off by
one factor: its probe's. With a probe per
run, a point's offered rate is a median over its runs like every figure.
"""

import runner

MIN_SAMPLES = 100_000         # echoes a point needs for a p99.9 (issue 13)
MIN_S = 1.0                   # the shortest point, and the probe's longest


def probe_s(pt):
    """The probe's measured seconds for a point of pt's declared duration."""
    return min(pt["duration"], MIN_S)


def probe(pt, bindir, cpus, ready_timeout, stop_timeout, **kw):
    """The model's closed-loop throughput at pt's connections, now."""
    cl = pt.again(rate=0, mode="closed", duration=probe_s(pt))
    kw = dict(kw, window=None)      # the kernel's count/profile is the point's, not the probe's
    m = runner.run_point(cl, bindir, cpus, ready_timeout, stop_timeout, **kw)
    d = m.get("derived") or {}
    return dict(msgs_per_s=d.get("msgs_per_s") if m["status"] == "ok" else None,
                client_cpu_us_per_echo=d.get("client_cpu_us_per_echo"),
                status=m["status"], reason=m.get("reason", ""),
                conns=pt.conns, active=pt.active, duration=cl.duration,
                client_cmd=m.get("client_cmd"))


def offered(share, cap, max_s):
    """(rate, duration) for a share (percent) of capacity cap (echoes/s)."""
    rate = max(1, round(cap * share / 100))
    return rate, round(min(max_s, max(MIN_S, MIN_SAMPLES / rate)), 2)


def run_point(pt, bindir, cpus, ready_timeout=10.0, stop_timeout=3.0, **kw):
    """runner.run_point's signature: a probe, then the open-loop point."""
    cap = probe(pt, bindir, cpus, ready_timeout, stop_timeout, **kw)
    if not cap["msgs_per_s"]:
        return dict(status="failed", reason=f"capacity probe {cap['status']}: "
                    f"{cap['reason'] or 'no throughput'}", load_failure=True,
                    proc=dict(capacity=cap))
    max_s = pt.duration
    rate, dur = offered(pt.x, cap["msgs_per_s"], max_s)
    m = runner.run_point(pt.again(rate=rate, duration=dur), bindir, cpus, ready_timeout,
                         stop_timeout, **kw)
    m.setdefault("proc", {})
    m["proc"]["capacity"] = cap
    m["proc"]["offered"] = dict(share=pt.x, rate=rate, duration=dur)
    # the generator's CPU per echo here over its CPU per echo in the closed-loop
    # probe at saturation, in this run (issue 23's measure of the pacing's cost)
    d, closed = m.get("derived") or {}, cap.get("client_cpu_us_per_echo")
    if d.get("client_cpu_us_per_echo") and closed:
        d["gen_cpu_x_closed"] = d["client_cpu_us_per_echo"] / closed
    echoes = (m.get("client") or {}).get("echoes")
    if m["status"] == "ok" and isinstance(echoes, int) and echoes < MIN_SAMPLES:
        m.setdefault("notes", []).append(
            f"short: p99.9 from {echoes:,} echoes (< {MIN_SAMPLES:,}; the sweep's max_s "
            f"{max_s:g} s caps the point)")
    return m
