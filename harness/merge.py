"""merge.py - several generators' records as one (SERVER_HOST/CLIENT_HOSTS:
one bin/loadgen per client host). Pure functions of loadgen's JSON: counts
and rates added, latency from the histograms merged bucket by bucket.
"""

# loadgen --json --buckets writes "latency_hist": its non-empty buckets as
# [lowest, highest equivalent, count] (clients/hist.c's layout). Merging adds
# counts bucket by bucket; a percentile of the merged counts uses hist.c's
# rule (HdrHistogram's rank: at least 1, rounded half up; the bucket's
# highest equivalent value, capped at the exact max). Never an average of
# percentiles.

def merge_hists(hists):
    """One histogram from several loadgen "latency_hist" objects."""
    buckets = {}
    tot = dict(total=0, sum=0, min=None, max=0, over=0)
    for h in hists:
        if not h:
            continue
        for lo, hi, n in h["buckets"]:
            have = buckets.get(lo)
            if have and have[0] != hi:
                raise ValueError(f"histograms disagree on the bucket at {lo} us "
                                 f"(up to {have[0]} or {hi}): different loadgen builds?")
            buckets[lo] = [hi, (have[1] if have else 0) + n]
        tot["total"] += h["total"]
        tot["sum"] += h["sum"]
        tot["over"] += h.get("over", 0)
        tot["max"] = max(tot["max"], h["max"])
        if h["total"]:
            tot["min"] = h["min"] if tot["min"] is None else min(tot["min"], h["min"])
    tot["min"] = tot["min"] or 0
    tot["buckets"] = [[lo, hi, n] for lo, (hi, n) in sorted(buckets.items())]
    return tot


def hist_percentile(h, p):
    """Value at percentile p (0..100) of a (merged) histogram."""
    if not h["total"]:
        return 0
    rank = max(1, int(min(p, 100.0) / 100.0 * h["total"] + 0.5))
    seen = 0
    for _lo, hi, n in h["buckets"]:
        seen += n
        if seen >= rank:
            return min(hi, h["max"])
    return h["max"]


def hist_summary(h):
    """The shape of loadgen's "latency_us" for a (merged) histogram."""
    pct = {"p50": 50, "p90": 90, "p99": 99, "p999": 99.9, "p9999": 99.99}
    out = {k: hist_percentile(h, p) for k, p in pct.items()}
    out.update(max=h["max"] if h["total"] else 0,
               mean=round(h["sum"] / h["total"], 1) if h["total"] else 0.0,
               count=h["total"], over_range=h.get("over", 0))
    return out


_SUMMED = ("conns", "connected", "connect_errors", "active", "echoes", "echoes_per_s",
           "bytes_per_s", "idle_echoes", "verify_errors", "unexpected_closes", "timeouts",
           "open_missed", "unfinished", "conns_per_s", "rate")


def merge_clients(parts):
    """One generator record from several hosts' loadgen JSON objects (in
    `parts`, {spec: json}): counts and rates added, latency from the merged
    histogram, each part kept under "hosts". Figures that cannot be merged
    exactly from summaries (the light/heavy split, connect latency, Jain's
    index) are kept only when there is a single part."""
    js = [j for j in parts.values() if j]
    if not js:
        return None
    out = {k: sum(j.get(k) or 0 for j in js) for k in _SUMMED}
    out["duration_s"] = max(j.get("duration_s") or 0 for j in js)
    for k in ("size", "mode", "depth", "warmup_s", "idle_ping_s", "host", "allowed_host"):
        out[k] = js[0].get(k)
    out["threads"] = sum(j.get("threads", 1) * j.get("procs", 1) for j in js)
    out["procs"] = sum(j.get("procs", 1) for j in js)
    cpu = [j.get("client_cpu_s") or {} for j in js]
    out["client_cpu_s"] = dict(user=sum(c.get("user", 0) for c in cpu),
                               sys=sum(c.get("sys", 0) for c in cpu))
    out["client_saturated"] = any(j.get("client_saturated") for j in js)
    out["interrupted"] = any(j.get("interrupted") for j in js)
    reasons = {}
    for j in js:
        for k, v in (j.get("connect_error_reasons") or {}).items():
            reasons[k] = reasons.get(k, 0) + v
    out["connect_error_reasons"] = reasons
    fair = [j.get("fairness") or {} for j in js]
    out["fairness"] = dict(min=min((f.get("min", 0) for f in fair), default=0),
                           max=max((f.get("max", 0) for f in fair), default=0),
                           jain=fair[0].get("jain") if len(js) == 1 else None)
    if all(j.get("latency_hist") for j in js):
        h = merge_hists([j["latency_hist"] for j in js])
        out["latency_hist"] = h
        out["latency_us"] = hist_summary(h)
    else:
        out["latency_us"] = js[0].get("latency_us") if len(js) == 1 else None
    for k in ("light_latency_us", "heavy_latency_us", "connect_latency_us",
              "server_latency_us", "lateness_us", "send_process"):
        if len(js) == 1 and k in js[0]:
            out[k] = js[0][k]
    sp = [j["send_process"] for j in js if j.get("send_process")]
    if len(js) > 1 and sp:
        # the open loop on several hosts: each generator tests its own sends;
        # the run is the generator's when any of them is, W1 the worst one's
        gen = [s for s in sp if s.get("verdict") == "generator"]
        out["send_process"] = dict(
            verdict="generator" if gen else ("ok" if all(s.get("verdict") == "ok" for s in sp)
                                             else "unknown"),
            reasons=sorted({r for s in gen for r in s.get("reasons") or []}),
            w1_gaps=max((s.get("w1_gaps") or 0) for s in sp), parts=len(sp))
        if all(j.get("lateness_hist") for j in js):     # ns buckets, added like latency's
            lh = hist_summary(merge_hists([j["lateness_hist"] for j in js]))
            out["lateness_us"] = {k: (v / 1000 if k not in ("count", "over_range") else v)
                                  for k, v in lh.items()}
    out["hosts"] = {spec: {k: j.get(k) for k in ("echoes", "echoes_per_s", "duration_s",
                                                  "latency_us", "client_saturated")}
                    if j else None for spec, j in parts.items()}
    return out
