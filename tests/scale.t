#!/usr/bin/env python3
"""Scale test: every built server holds C10K = 10,000 concurrent connections in
one process and echoes on all of them; fewer where this machine's descriptor
limit or ephemeral port range cannot give 10,000 (the number is derived, said
in each test name, and never skipped for being lower).

For each bin/echo_<model> (or $C10K_BIN), then each reference row of
refservers/ whose runtime is installed (skipped naming the package when it
is not; built first, untimed): start it, open N connections
(nonblocking connects, at most CONNECT_WINDOW in flight so the listen backlog
never overflows into SYN retransmits), and only when all are up send one
64-byte message on each; every echo is read back and compared. Then, with all
N still open, SIGTERM: the server must exit 0 within STOP_TIMEOUT_S, leave no
process behind, and its JSON peak_conns must be >= N. Three TAP lines per
model. A model that needs more than MODEL_TIMEOUT_S fails. The server is
stopped before the clients close, so the TIME_WAIT sockets land on the server
side and do not eat this process's ephemeral ports.

Test of the test: bin/tools/echo_broken (tests/tools/echo_broken.c) with a
small N, once ignoring SIGTERM, once exiting 1, once reporting a low
peak_conns: each must fail exactly the line that claims it.
"""
import errno
import glob
import os
import select
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from c10k import TAP, Server, bin_dir, raise_nofile  # noqa: E402
import models  # noqa: E402  (harness/models.py, the registry; c10k put harness/ on the path)

C10K = 10_000                 # the suite's subject: connections one process holds
FD_MARGIN = 100               # descriptors this process (and the server) use besides connections
MSG_SIZE = 64
CONNECT_WINDOW = 256          # connects in flight: well under the 4096 backlog
MODEL_TIMEOUT_S = 60.0        # per model: connect + echo
STOP_TIMEOUT_S = 10.0         # SIGTERM -> exit with every connection still open
HOST = "127.0.0.1"

# Models that cannot hold N connections in one process by design (registry:
# procs_per_conn, a process per connection).
SKIP = {m.name: "a process per connection by design: N connections need N processes"
        for m in models.MODELS if m.procs_per_conn}
MODEL_ARGS = {}


def target_conns():
    """(N, why): C10K, or less where the descriptor limit or the ephemeral ports
    of one (source, destination) pair cannot give it."""
    limit = raise_nofile()
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        lo, hi = (int(x) for x in f.read().split())
    ports = hi - lo + 1
    n = min(C10K, limit - FD_MARGIN, ports - FD_MARGIN)
    return n, f"descriptor limit {limit}, {ports} ephemeral ports, target {C10K:,}"


CONNS, CONNS_WHY = target_conns()


def hold_and_echo(port, deadline, conns):
    """Returns (ok, diag, timings). Sockets are returned in timings['socks'] so the
    caller closes them after stopping the server."""
    ep = select.epoll()
    socks = {}                 # fd -> socket
    connecting = set()
    fails = {}
    t0 = time.monotonic()
    started = 0

    def fail(why):
        fails[why] = fails.get(why, 0) + 1

    # Phase 1: connect all, CONNECT_WINDOW at a time.
    while (started < conns or connecting) and time.monotonic() < deadline:
        while started < conns and len(connecting) < CONNECT_WINDOW:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
            started += 1
            rc = s.connect_ex((HOST, port))
            if rc not in (0, errno.EINPROGRESS):
                fail(errno.errorcode.get(rc, str(rc)))
                s.close()
                continue
            socks[s.fileno()] = s
            connecting.add(s.fileno())
            ep.register(s.fileno(), select.EPOLLOUT)
        for fd, _ in ep.poll(0.2):
            if fd not in connecting:
                continue
            err = socks[fd].getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            connecting.discard(fd)
            ep.unregister(fd)
            if err:
                fail(errno.errorcode.get(err, str(err)))
                socks.pop(fd).close()
    t_conn = time.monotonic() - t0
    if connecting:
        fail("connect timeout")
    diag = {"connected": len(socks) - len(connecting), "connect_s": t_conn, "socks": socks}
    if fails or len(socks) < conns:
        ep.close()
        return False, f"{len(socks) - len(connecting)} of {conns} connected in {t_conn:.1f} s; failures {fails}", diag

    # Phase 2: one message on every connection, all sent before any is read.
    t1 = time.monotonic()
    want, got = {}, {}
    for fd, s in socks.items():
        msg = (b"%08d" % fd) + os.urandom(MSG_SIZE - 8)
        want[fd], got[fd] = msg, b""
        try:
            s.send(msg)                 # 64 B into an empty send buffer: never short
        except OSError as e:
            fail(type(e).__name__)
            continue
        ep.register(fd, select.EPOLLIN)
    left = set(want)
    while left and time.monotonic() < deadline:
        for fd, _ in ep.poll(0.2):
            try:
                b = socks[fd].recv(MSG_SIZE)
            except BlockingIOError:
                continue
            except OSError as e:
                fail(type(e).__name__)
                b = b""
            got[fd] += b
            if not b or len(got[fd]) >= MSG_SIZE:
                ep.unregister(fd)
                left.discard(fd)
    ep.close()
    t_echo = time.monotonic() - t1
    diag["echo_s"] = t_echo
    bad = sum(1 for fd in want if got[fd] != want[fd])
    if fails or bad:
        return False, (f"all {conns} connected in {t_conn:.1f} s; {bad} echoes wrong or missing "
                       f"({len(left)} unanswered after {t_echo:.1f} s); failures {fails}"), diag
    return True, None, diag


def scale_one(path, model, conns, stop_timeout=STOP_TIMEOUT_S, env=None):
    """One model: [(ok, name, diag)] for holding and echoing, stopping, and
    peak_conns; and a diagnostic line with the timings."""
    t0 = time.monotonic()
    srv = Server(model, args=MODEL_ARGS.get(model, []), path=path, env=env)
    socks, d, st, stop_err = {}, {}, None, None
    try:
        srv.start()
        ok, why, d = hold_and_echo(srv.port, t0 + MODEL_TIMEOUT_S, conns)
        socks = d.get("socks", {})
    except Exception as e:          # noqa: BLE001 -- a crash is a failure, with its text
        ok, why = False, f"{type(e).__name__}: {e}"
    finally:
        if srv.proc:
            try:
                st = srv.stop(timeout=stop_timeout)
            except RuntimeError as e:   # no exit in time: killed
                stop_err = str(e)
        left = srv.child.leftover() if srv.child and stop_err is None else []
        if left:
            srv.kill()
        for s in socks.values():
            s.close()
    took = time.monotonic() - t0
    if ok and took > MODEL_TIMEOUT_S:
        ok, why = False, f"took {took:.1f} s, over the {MODEL_TIMEOUT_S:.0f} s limit"
    if not ok and srv.stderr:
        why = f"{why}\nstderr: {srv.stderr[-1000:]}"
    stopped = stop_err is None and srv.exit_code == 0 and st is not None and not left
    peak = st.get("peak_conns") if st else None
    res = [
        (ok, f"{model}: {conns:,} concurrent connections, one {MSG_SIZE}-byte echo each", why),
        (stopped, f"{model}: with {conns:,} open, SIGTERM -> exit 0 within {stop_timeout:.0f} s, "
                  "JSON printed, no process left",
         stop_err or f"exit status {srv.exit_code}; JSON {'printed' if st else 'missing'}; left {left}"),
        (isinstance(peak, int) and peak >= conns, f"{model}: JSON peak_conns >= {conns:,} (it held them)",
         f"peak_conns {peak}"),
    ]
    stop_s = f"{srv.stop_seconds:.2f}" if srv.stop_seconds is not None else "?"
    diag = (f"{model}: {took:.1f} s (connect {d.get('connect_s', 0):.1f} s, echo {d.get('echo_s', 0):.1f} s, "
            f"stop {stop_s} s; peak_conns {peak}; exit {srv.exit_code})")
    return res, diag


def scale_refs(tap, rows=None):
    """The reference rows (refservers/) whose runtime is here, each built
    first (its launcher with --help: javac, go build, erlc) so that the build
    is not timed; a row whose runtime is missing is skipped naming it."""
    import runner
    for model in rows or models.names(is_ref=True):
        name = f"{model}: {CONNS:,} concurrent connections"
        tool = runner.ref_missing(model)
        if tool:
            tap.skip(name, f"'{tool}' is not installed (Debian: {models.get(model).ref_pkg})")
            continue
        path = runner.server_path(bin_dir(), model)
        why = runner.ref_warm_up(path)
        if why:
            tap.ok(False, f"{model}: builds", why)
            continue
        res, diag = scale_one(path, model, CONNS)
        for ok, n, why in res:
            tap.ok(ok, n, why)
        tap.note(diag)


def main():
    tap = TAP()
    if CONNS < 100:
        TAP.skip_all(f"room for only {CONNS} connections ({CONNS_WHY})")
    bins = sorted(glob.glob(os.path.join(bin_dir(), "echo_*")))
    if not bins:
        TAP.skip_all(f"no servers built in {bin_dir()}")
    tap.note(f"N = {CONNS:,} connections ({CONNS_WHY})")
    t_all = time.monotonic()
    for path in bins:
        model = os.path.basename(path)[len("echo_"):]
        if model in SKIP:
            tap.skip(f"{model}: {CONNS:,} concurrent connections", SKIP[model])
            continue
        res, diag = scale_one(path, model, CONNS)
        for ok, name, why in res:
            tap.ok(ok, name, why)
        tap.note(diag)
    scale_refs(tap)
    tap.note(f"all models: {time.monotonic() - t_all:.1f} s")

    # Test of the test: each broken variant fails the one line that claims it.
    broken = os.path.join(bin_dir(), "tools", "echo_broken")
    if not os.access(broken, os.X_OK):
        tap.skip("scale checks catch broken servers", f"{broken} is not built")
    else:
        n = min(200, CONNS)
        for mode, fails, what in (("", [], "the unbroken control passes all three"),
                                  ("noterm", [1, 2], "a server that ignores SIGTERM fails the stop "
                                   "line (and, killed, prints no peak_conns)"),
                                  ("exit1", [1], "a server that exits 1 fails the stop line"),
                                  ("json:peak_conns", [2], "a peak_conns below N fails the peak line")):
            env = dict(os.environ, ECHO_BROKEN=mode)
            res, diag = scale_one(broken, "broken", n, stop_timeout=2.0, env=env)
            got = [i for i, (ok, _, _) in enumerate(res) if not ok]
            tap.ok(got == fails,
                   f"test of the test, echo_broken ECHO_BROKEN={mode or '(unset)'}, {n} connections: {what}",
                   f"failed lines {got}: {[r[1] for r in res if not r[0]]}; {diag}")
    tap.done()


if __name__ == "__main__":
    main()
