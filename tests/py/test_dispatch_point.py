"""harness/dispatch_point.py, dispatch_report.py and the dispatch sweep's
declaration: the
points (events capped for the O(N) mechanisms, max, the io_uring variant),
the run of bin/dispatch (a fake one here: the retry at --fds max, the
failure reasons), the Kerrisk table and the chart's variables."""
import os
import stat

import dispatch_point as dp
import dispatch_report
import profiles
import records
import schedule
import sweeps

SW = sweeps.get("dispatch")


def pts(profile="default", ms=("epoll_lt", "poll", "io_uring", "threads", "sigio"), sets=None):
    over = dict(repeats=1, sets={"dispatch": sets} if sets else None)
    return profiles.build_points(profile, list(ms), None, ["dispatch"], 20000, over)[0]


def test_writes_capped_for_scans_only():
    assert sweeps.writes_for("epoll_lt", 10000, 1, 50000, 3000000) == 50000
    assert sweeps.writes_for("poll", 10000, 1, 50000, 3000000) == 300
    assert sweeps.writes_for("poll", 10, 1, 50000, 3000000) == 50000
    assert sweeps.writes_for("sigio", 10000, 1, 50000, 3000000) == sweeps.MIN_WRITES   # 30 -> floor
    assert sweeps.writes_for("busypoll", 100, 1000, 10, 3000000) == 1000           # >= active
    assert sweeps.writes_for("poll", 20000, 100, 10000, 3000000) == 10000   # 1/100 of a scan
    assert sweeps.writes_for("poll", 20000, 1, 10000, 3000000) == 150


def test_full_points():
    p = pts("full")
    assert all(x.mode == "dispatch" and x.sweep == "dispatch" and x.server_procs == 1 for x in p)
    models_ = {x.model for x in p}
    assert models_ == {"epoll_lt", "poll", "io_uring", "io_uring_multishot", "threads", "sigio"}
    rnd = sorted(x.conns for x in p if x.series == "random" and x.model == "poll")
    assert rnd == sorted(set(SW.profiles["full"]["random_fds"]) - {0})
    assert all(x.active == 1 and x.method == "random" for x in p if x.series == "random")
    big = max(x.conns for x in p)
    assert big == profiles.machine().fds == profiles.per_proc_conns(big + profiles.FD_MARGIN)
    chain = {(x.model, x.active) for x in p if x.method == "chain"}
    full = SW.profiles["full"]
    assert {a for m, a in chain if m == "epoll_lt"} == set(full["chain_active"])
    assert {a for m, a in chain if m == "threads"} == set(full["threads_active"])
    assert all(x.active <= x.conns for x in p)
    w = {(x.model, x.series, x.conns): x.writes for x in p}
    rw, budget = full["random_writes"], full["scan_budget"]
    assert w[("epoll_lt", "random", 10000)] == rw                      # not a scan: uncapped
    assert w[("poll", "random", 10000)] == sweeps.writes_for("poll", 10000, 1, rw, budget) < rw


def test_models_and_sets_narrow_it():
    p = pts(ms=["epoll_lt"], sets=dict(random_fds=[10], chain_fds=[100], chain_active=[1, 1000]))
    assert {(x.model, x.series, x.conns) for x in p} == {("epoll_lt", "random", 10),
                                                        ("epoll_lt", "chain1", 100)}
    assert not pts(ms=["reactors", "pool"])                 # no mechanism of those names
    q = pts("quick", ms=["epoll_lt", "sigio", "select"])
    assert {x.model for x in q} == {"epoll_lt", "select"}   # the quick profile's list


def test_point_fields_round_trip():
    x = pts(ms=["poll"])[0]
    y = records.Point.from_dict(x.to_dict())
    assert y == x and y.method in ("chain", "random") and y.writes > 0
    old = {k: v for k, v in x.to_dict().items() if k not in ("method", "writes")}
    assert records.Point.from_dict(old).method == ""          # records from before still load


def test_estimate():
    p = pts("full")
    threads_max = [x for x in p if x.model == "threads" and x.conns > 10000]
    assert threads_max and dp.estimate_s(threads_max[0]) > 5
    assert dp.estimate_s([x for x in p if x.model == "epoll_lt" and x.conns == 10][0]) < 1
    assert schedule.estimate_s(threads_max[0]) == dp.estimate_s(threads_max[0])


FAKE = """#!/bin/sh
# a fake bin/dispatch: N above 50 is above the limit, model 'bad' fails a check
fds=""; model=""
while [ $# -gt 0 ]; do
  case $1 in --fds) fds=$2; shift;; --model) model=$2; shift;; esac; shift
done
echo "$@" >/dev/null
if [ "$model" = bad ]; then echo "dispatch: bad: a wake-up was lost (--lost-ms)" >&2; exit 1; fi
if [ "$fds" != max ] && [ "$fds" -gt 50 ]; then
  echo "dispatch: --fds $fds: above this process's limit of 50 for $model: two per pipe slot" >&2
  exit 2
fi
[ "$fds" = max ] && fds=50
echo "{\\"model\\":\\"$model\\",\\"fds\\":$fds,\\"ns_per_event\\":1234.5,\\"cpu_ns_per_event\\":1000,\\"events_per_s\\":810044,\\"syscalls_per_event\\":3.0,\\"setup_ns_per_fd\\":99,\\"max_fds\\":50}"
"""


def fake_bin(tmp_path):
    f = tmp_path / "dispatch"
    f.write_text(FAKE)
    f.chmod(f.stat().st_mode | stat.S_IEXEC)
    return str(tmp_path)


def test_run_with_a_fake_dispatch(tmp_path):
    b = fake_bin(tmp_path)
    p = pts(ms=["epoll_lt"], sets=dict(random_fds=[10], chain_fds=[100], chain_active=[1]))
    small = [x for x in p if x.conns == 10][0]
    r = dp.run(small, b, 1)
    assert r["status"] == "ok" and r["derived"]["ns_per_event"] == 1234.5
    assert r["derived"]["fds"] == 10 and not r["notes"] and "--fds" in r["dispatch_cmd"]
    rec = records.Record(seq=1, time="t", point=small, **r)      # a valid record
    assert rec.derived["syscalls_per_event"] == 3.0
    big = [x for x in p if x.conns == 100][0]
    r = dp.run(big, b, 1)
    assert r["status"] == "ok" and r["derived"]["fds"] == 50
    assert r["dispatch_cmd"][r["dispatch_cmd"].index("--fds") + 1] == "max"
    assert r["notes"] and "ran at --fds max" in r["notes"][0] and "limit of 50" in r["notes"][0]
    r = dp.run(small.again(model="bad"), b, 1)
    assert r["status"] == "failed" and r["reason"] == \
        "dispatch a check failed: bad: a wake-up was lost (--lost-ms)"
    r = dp.run(small, str(tmp_path / "nowhere"), 1)
    assert r["status"] == "failed" and "is not built" in r["reason"]


def row(model, n, ns, series="random", status="ok", fds=None, cpu=None, sc=3.0):
    return dict(sweep="dispatch", series=series, model=model, x=n, status=status,
                ns_per_event=ns, cpu_ns_per_event=cpu or (ns and ns / 2), syscalls_per_event=sc,
                fds=fds or n)


def test_kerrisk_table():
    rows = [row("poll", 10, 5300), row("poll", 10000, 776000),
            row("epoll_lt", 10, 5100), row("epoll_lt", 10000, 8100),
            row("sigio", 10, 12200), row("sigio", 10000, 9.9e6, fds=9992),
            row("select", 10, None, status="failed"), row("select", 10000, None, status="skipped")]
    text = "\n".join(dispatch_report.kerrisk_lines(rows))
    assert "| poll | 0.53 | 77.6 | 38.8 | 3.0 / 3.0 | 0.61 / 990 |" in text
    assert "| epoll_lt | 0.51 | 0.81 | 0.405 | 3.0 / 3.0 | 0.41 / 0.66 |" in text
    assert "| sigio | 1.22 | 990 † |" in text and "† sigio at N = 10,000: ran at 9,992" in text
    assert "| select | FAIL | skip |" in text
    assert "| poll / epoll_lt, here | 1.04 | 95.8 |" in text
    assert "| poll / epoll, Kerrisk 2006 | 1.49 | 1,500 |" in text
    assert "| select / epoll_lt, here | - | - |" in text
    assert dispatch_report.kerrisk_lines([row("poll", 10, 1, series="chain1")]) == []


def test_chart_vars(tmp_path):
    rows = [dict(row("poll", 10, 5300), **{"ns_per_event_min": 1, "ns_per_event_max": 2}),
            row("epoll_lt", 100, 700, series="chain1000"), row("epoll_lt", 100, 600, series="chain1")]
    v = dispatch_report.chart_vars(SW, SW.charts()[0], rows)
    assert v["np"] == 3 and [v["series1"], v["series2"], v["series3"]] == \
        ["chain1", "chain1000", "random"]
    assert v["ylo"] == "ns_per_event_min" and v["xcol"] == "fds" and v["logx"] == 10
    assert v["models"] == "poll epoll_lt" and v["fails"] == 0
    assert dispatch_report.chart_vars(SW, SW.charts()[0], [row("poll", 10, None, status="failed")]) is None
    assert os.path.isfile(os.path.join(os.path.dirname(__file__), "..", "..", "plots",
                                       f"{SW.charts()[0].kind}.gp"))
