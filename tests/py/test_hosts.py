"""harness/merge.py: merging generators' histograms bucket by bucket and the
percentile rule (clients/hist.c's), merging their records; harness/hosts.py's
pure part: bad host names. (tests/hosts.t runs the ssh side in namespaces.)"""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "harness"))
import hosts  # noqa: E402
import merge  # noqa: E402


def hist(values):
    """A loadgen-style latency_hist of exact small values (bucket 0 of
    clients/hist.c holds 0..2047 one per value)."""
    b = {}
    for v in values:
        b[v] = b.get(v, 0) + 1
    return dict(total=len(values), sum=sum(values), min=min(values), max=max(values), over=0,
                buckets=[[v, v, n] for v, n in sorted(b.items())])


def test_percentile_rank_rule():
    h = hist(list(range(1, 101)))
    assert merge.hist_percentile(h, 50) == 50
    assert merge.hist_percentile(h, 99) == 99
    assert merge.hist_percentile(h, 100) == 100
    assert merge.hist_percentile(h, 0) == 1             # rank at least 1
    assert merge.hist_percentile(hist([1, 2, 3]), 50) == 2   # rank 1.5 rounds half up
    assert merge.hist_percentile(hist([7]), 99.99) == 7
    assert merge.hist_percentile(dict(total=0, sum=0, min=0, max=0, buckets=[]), 50) == 0


def test_wide_bucket_reports_its_highest_value_capped_at_max():
    h = dict(total=3, sum=3 * 4100, min=4096, max=4100, over=0, buckets=[[4096, 4097, 1],
                                                                        [4098, 4099, 1],
                                                                        [4100, 4101, 1]])
    assert merge.hist_percentile(h, 50) == 4099
    assert merge.hist_percentile(h, 100) == 4100          # not 4101: the exact max


def test_merge_adds_bucket_by_bucket():
    a, b = hist([1, 2, 2, 3]), hist([2, 3, 900])
    m = merge.merge_hists([a, b])
    assert m["total"] == a["total"] + b["total"] == 7
    assert m["buckets"] == [[1, 1, 1], [2, 2, 3], [3, 3, 2], [900, 900, 1]]
    assert (m["min"], m["max"], m["sum"]) == (1, 900, a["sum"] + b["sum"])
    # a percentile of the merged counts, not an average of the parts' percentiles
    assert merge.hist_percentile(m, 50) == 2
    assert merge.hist_summary(m)["p99"] == 900 and merge.hist_summary(m)["count"] == 7


def test_merge_refuses_different_layouts():
    a = dict(total=1, sum=4096, min=4096, max=4096, buckets=[[4096, 4097, 1]])
    b = dict(total=1, sum=4096, min=4096, max=4096, buckets=[[4096, 4099, 1]])
    with pytest.raises(ValueError, match="disagree"):
        merge.merge_hists([a, b])


def test_merge_clients():
    p1 = dict(echoes=100, echoes_per_s=100.0, conns=10, connected=10, duration_s=1.0,
              client_cpu_s=dict(user=0.1, sys=0.2), client_saturated=False,
              connect_error_reasons={"ECONNREFUSED": 1}, latency_us=dict(p50=2),
              latency_hist=hist([1, 2, 2]), threads=2, procs=1, allowed_host="198.18.0.1")
    p2 = dict(echoes=50, echoes_per_s=50.0, conns=10, connected=9, duration_s=1.1,
              client_cpu_s=dict(user=0.3, sys=0.1), client_saturated=True,
              connect_error_reasons={"ECONNREFUSED": 2}, latency_us=dict(p50=900),
              latency_hist=hist([900, 900]), threads=1, procs=1, allowed_host="198.18.0.1")
    m = merge.merge_clients({"h1": p1, "h2": p2, "h3": None})
    assert m["echoes"] == 150 and m["echoes_per_s"] == 150.0 and m["conns"] == 20
    assert m["connected"] == 19 and m["duration_s"] == 1.1 and m["threads"] == 3
    assert m["client_cpu_s"] == pytest.approx(dict(user=0.4, sys=0.3))
    assert m["client_saturated"] and m["connect_error_reasons"] == {"ECONNREFUSED": 3}
    assert m["latency_us"]["count"] == 5 and m["latency_us"]["p50"] == 2
    assert m["latency_us"]["p99"] == 900
    assert set(m["hosts"]) == {"h1", "h2", "h3"} and m["hosts"]["h3"] is None
    assert m["fairness"]["jain"] is None
    assert merge.merge_clients({"h1": None}) is None


def test_bad_host_names():
    for bad in ("", "-oProxyCommand=x", "a b"):
        with pytest.raises(hosts.HostError, match="not a"):
            hosts.Host(bad)
