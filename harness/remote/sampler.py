# hosts.Host.sampler: run on the host as `python3 -u -c <this> SUITE/harness`.
# The /proc sampler: the deployed suite's own procfs.snapshot, answering one
# JSON line per "snap PGID..." (with per-thread CPU and switches) or
# "levels PGID..." (memory, threads, fds only) line, until EOF.
import json, sys
sys.path.insert(0, sys.argv[1])
import procfs
for line in sys.stdin:
    w = line.split()
    if w:
        snap = procfs.snapshot([int(x) for x in w[1:]], tasks=w[0] == "snap")
        print(json.dumps(snap), flush=True)
