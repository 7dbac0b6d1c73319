#!/usr/bin/env python3
"""Scale test: every built server holds 10,000 concurrent connections in one
process and echoes on all of them.

For each bin/echo_<model> (or $C10K_BIN): start it, open 10,000 connections
(nonblocking connects, at most CONNECT_WINDOW in flight so the listen backlog
never overflows into SYN retransmits), and only when all are up send one
64-byte message on each; every echo is read back and compared. One TAP line
per model with how long it took. A model that needs more than MODEL_TIMEOUT_S
fails. The server is stopped before the clients close, so the TIME_WAIT
sockets land on the server side and do not eat this process's ephemeral ports.
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

CONNS = 10_000
MSG_SIZE = 64
CONNECT_WINDOW = 256          # connects in flight: well under the 4096 backlog
MODEL_TIMEOUT_S = 60.0        # per model: connect + echo
HOST = "127.0.0.1"

# Models that cannot hold 10,000 connections in one process by design.
SKIP = {
    "prefork": "one connection per process by design: 10,000 connections need 10,000 processes",
}
MODEL_ARGS = {}


def hold_and_echo(port, deadline):
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
    while (started < CONNS or connecting) and time.monotonic() < deadline:
        while started < CONNS and len(connecting) < CONNECT_WINDOW:
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
    if fails or len(socks) < CONNS:
        ep.close()
        return False, f"{len(socks) - len(connecting)} of {CONNS} connected in {t_conn:.1f} s; failures {fails}", diag

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
        return False, (f"all {CONNS} connected in {t_conn:.1f} s; {bad} echoes wrong or missing "
                       f"({len(left)} unanswered after {t_echo:.1f} s); failures {fails}"), diag
    return True, None, diag


def main():
    tap = TAP()
    limit = raise_nofile()
    if limit < CONNS + 100:
        TAP.skip_all(f"RLIMIT_NOFILE hard limit {limit} is below {CONNS + 100}")
    bins = sorted(glob.glob(os.path.join(bin_dir(), "echo_*")))
    if not bins:
        TAP.skip_all(f"no servers built in {bin_dir()}")
    t_all = time.monotonic()
    for path in bins:
        model = os.path.basename(path)[len("echo_"):]
        name = f"{model}: {CONNS:,} concurrent connections, one {MSG_SIZE}-byte echo each"
        if model in SKIP:
            tap.skip(name, SKIP[model])
            continue
        t0 = time.monotonic()
        srv = Server(model, args=MODEL_ARGS.get(model, []), path=path)
        socks = {}
        try:
            srv.start()
            ok, why, d = hold_and_echo(srv.port, t0 + MODEL_TIMEOUT_S)
            socks = d.get("socks", {})
        except Exception as e:          # noqa: BLE001 -- a crash is a failure, with its text
            ok, why, d = False, f"{type(e).__name__}: {e}", {}
        finally:
            try:
                st = srv.stop(timeout=10) if srv.proc else None
            except RuntimeError as e:
                st, why = None, (why or "") + f"; {e}"
            for s in socks.values():
                s.close()
        took = time.monotonic() - t0
        if ok and took > MODEL_TIMEOUT_S:
            ok, why = False, f"took {took:.1f} s, over the {MODEL_TIMEOUT_S:.0f} s limit"
        tap.ok(ok, name, why)
        peak = st.get("peak_conns") if st else None
        stop_s = f"{srv.stop_seconds:.2f}" if srv.stop_seconds is not None else "?"
        tap.diag(f"{model}: {took:.1f} s (connect {d.get('connect_s', 0):.1f} s, echo {d.get('echo_s', 0):.1f} s, "
                 f"stop {stop_s} s; peak_conns {peak}; exit {srv.exit_code})")
        if not ok and srv.stderr:
            tap.diag(f"{model} stderr: {srv.stderr[-1000:]}")
    tap.diag(f"all models: {time.monotonic() - t_all:.1f} s")
    tap.done()


if __name__ == "__main__":
    main()
