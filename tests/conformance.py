#!/usr/bin/env python3
"""Conformance battery for one echo server: python3 tests/conformance.py --model M --bin DIR

Runs DIR/echo_M through the server contract (see /work/briefs/common.md) and
prints TAP. Each group of checks that depends on server state gets its own
server instance; every socket has a timeout, the whole run has an alarm, and
every server's process group is killed on any exit path (tests/lib/c10k.py).

Groups: echo (payloads, bursts, dribbles, partial writes, half-close, 1,000
concurrent connections, fd leak, SIGTERM + JSON), backpressure (a client that
never reads), reset (RST mid-stream), fd exhaustion (RLIMIT_NOFILE 64 + a
connect flood), flags (usage and exit codes).
"""
import argparse
import errno
import json
import os
import random
import selectors
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from c10k import (TAP, Server, cpu_seconds_group, fd_count_group, group_pids,  # noqa: E402
                  raise_nofile, rss_kb_group, wait_until)

HOST = "127.0.0.1"

# Extra server arguments per model (the assertions stay the same for all).
MODEL_ARGS = {
    # One connection per process: the 1,000-connection check queues in the
    # backlog and is served as connections close; 20 held connections under
    # RLIMIT_NOFILE 64 need 20 processes at once.
    "prefork": ["--procs", "32"],
}
MODEL_NOTES = {
    "prefork": "prefork serves one connection per process: concurrent checks queue in the backlog",
    "busypoll": "busypoll spins by design: the idle-CPU assertion under EMFILE is skipped",
}
SPINNERS = {"busypoll"}           # models that burn a core by design

RSS_LIMIT_KB = 4096               # backpressure: server growth allowed while a client never reads
CPU_LIMIT = 0.10                  # fd exhaustion: fraction of one CPU allowed while flooded
STALL_S = 3.0                     # a read that sees nothing for this long has failed
STOP_LIMIT_S = 1.0                # contract: exits within 1 s of SIGTERM
JSON_KEYS = ("model", "accepted", "closed", "peak_conns", "bytes_in", "bytes_out",
             "errors", "syscalls")

tap = TAP()
slow = 1.0                        # timeouts scale: 2-3x for sanitizer builds
sent_total = 0                    # bytes the clients of the current clean session sent
conns_total = 0                   # connections the current clean session opened


# ---- small socket helpers ---------------------------------------------------------

def tmo(s):
    return s * slow


def connect(port, rcvbuf=None, timeout=5.0):
    global conns_total
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)   # before connect: sets the window
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.settimeout(tmo(timeout))
    s.connect((HOST, port))
    conns_total += 1
    return s


def recv_exact(s, n, timeout, chunk=65536, pause=0.0, idle=STALL_S):
    """Read up to n bytes before the deadline, giving up early when nothing has
    arrived for `idle` seconds; returns what arrived (maybe short)."""
    end = time.monotonic() + tmo(timeout)
    parts, got = [], 0
    while got < n:
        left = min(end - time.monotonic(), tmo(idle))
        if left <= 0:
            break
        s.settimeout(left)
        try:
            b = s.recv(min(chunk, n - got))
        except socket.timeout:
            break
        if not b:
            break
        parts.append(b)
        got += len(b)
        if pause:
            time.sleep(pause)
    return b"".join(parts)


def expect_eof(s, timeout):
    """True if the peer closes (recv returns b'') before the deadline with no extra bytes."""
    s.settimeout(tmo(timeout))
    try:
        return s.recv(1) == b""
    except (socket.timeout, OSError):
        return False


def compare(got, want):
    """(equal, diag) for two byte strings."""
    if got == want:
        return True, None
    n = min(len(got), len(want))
    first = next((i for i in range(n) if got[i] != want[i]), n)
    return False, f"got {len(got)} of {len(want)} bytes; first difference at offset {first}"


def send_bg(s, payload, pieces=None):
    """sendall in a thread (so the client reads while it writes); returns the thread."""
    global sent_total
    sent_total += len(payload)
    errs = []

    def run():
        try:
            if pieces:
                for p in pieces:
                    s.sendall(p)
            else:
                s.sendall(payload)
        except OSError as e:
            errs.append(e)
    t = threading.Thread(target=run, daemon=True)
    t.errs = errs
    t.start()
    return t


def close_hard(s):
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    s.close()


def echo_once(port, payload, timeout=5.0, rcvbuf=None, chunk=65536, pause=0.0):
    """One connection: send payload (in a thread) while reading it back. (ok, diag)."""
    s = connect(port, rcvbuf, timeout)
    try:
        t = send_bg(s, payload)
        got = recv_exact(s, len(payload), timeout, chunk, pause)
        t.join(tmo(timeout))
        ok, diag = compare(got, payload)
        if t.errs:
            ok, diag = False, f"send failed: {t.errs[0]!r}; {diag or ''}"
        return ok, diag
    finally:
        close_hard(s)


def check(name, fn):
    """Run one assertion; an exception is a failure with its text as diagnostic."""
    try:
        r = fn()
        ok, diag = r if isinstance(r, tuple) else (r, None)
    except Exception as e:       # noqa: BLE001 -- any error is a failed check
        ok, diag = False, f"{type(e).__name__}: {e}"
    tap.ok(bool(ok), name, diag)
    return ok


def start(model, bindir, **kw):
    args = MODEL_ARGS.get(model, [])
    try:
        return Server(model, args=args, bindir=bindir, ready_timeout=tmo(10), **kw).start()
    except Exception as e:       # noqa: BLE001
        prefix = f"nofile={kw['nofile']}: " if kw.get("nofile") else ""
        tap.ok(False, f"{prefix}server starts", str(e))
        return None


def stop_checks(srv, label, limit=None):
    """SIGTERM the server: exits 0 (within limit s), leaves no process behind."""
    try:
        st = srv.stop(timeout=tmo(5))
    except RuntimeError as e:
        tap.ok(False, f"{label}: exits on SIGTERM", str(e))
        return None
    took = srv.stop_seconds or 0.0
    tap.ok(srv.exit_code == 0, f"{label}: exit status 0 after SIGTERM",
           f"exit status {srv.exit_code}; stderr: {srv.stderr[-2000:]}")
    if limit is not None:
        tap.ok(took <= limit, f"{label}: stops within {limit:.1f} s of SIGTERM", f"took {took:.3f} s")
        tap.diag(f"{label}: stopped {took * 1000:.0f} ms after SIGTERM")
    left = group_pids(srv.pid)
    tap.ok(not left, f"{label}: no process of the server left after exit", f"still running: {left}")
    for p in left:
        try:
            os.kill(p, 9)
        except OSError:
            pass
    return st


# ---- group 1: echo correctness, concurrency, fd leak, SIGTERM, JSON ---------------

def many_concurrent(port, n=1000, msgs=10, size=64, timeout=15.0):
    """n connections all connected, then all send msgs x size back to back, then all
    are read and verified; each closes once verified. (ok, diag)."""
    global sent_total, conns_total
    sel = selectors.DefaultSelector()
    end = time.monotonic() + tmo(timeout)
    socks, want, got = [], {}, {}
    fails = {}
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            rc = s.connect_ex((HOST, port))
            if rc not in (0, errno.EINPROGRESS):
                fails[errno.errorcode.get(rc, rc)] = fails.get(errno.errorcode.get(rc, rc), 0) + 1
                s.close()
                continue
            socks.append(s)
            sel.register(s, selectors.EVENT_WRITE)
        conns_total += len(socks)
        # Phase 1: every connect completes (the kernel finishes it even before accept).
        pending = set(socks)
        while pending and time.monotonic() < end:
            for key, _ in sel.select(0.2):
                s = key.fileobj
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                sel.unregister(s)
                pending.discard(s)
                if err:
                    fails[errno.errorcode.get(err, err)] = fails.get(errno.errorcode.get(err, err), 0) + 1
                    socks.remove(s)
                    s.close()
        if pending:
            return False, f"{len(pending)} connects did not complete; failures {fails}"
        # Phase 2: everyone pipelines msgs messages at once.
        for s in socks:
            payload = os.urandom(msgs * size)
            want[s], got[s] = payload, bytearray()
            for i in range(msgs):
                s.send(payload[i * size:(i + 1) * size])   # 640 B: always fits the send buffer
            sent_total += len(payload)
            sel.register(s, selectors.EVENT_READ)
        # Phase 3: read everything back.
        live = set(socks)
        progress = time.monotonic()
        while live and time.monotonic() < end and time.monotonic() - progress < tmo(STALL_S):
            for key, _ in sel.select(0.2):
                progress = time.monotonic()
                s = key.fileobj
                try:
                    b = s.recv(65536)
                except BlockingIOError:
                    continue
                except OSError as e:
                    b = b""
                    fails[type(e).__name__] = fails.get(type(e).__name__, 0) + 1
                got[s] += b
                if not b or len(got[s]) >= len(want[s]):
                    sel.unregister(s)
                    live.discard(s)
                    s.close()
        bad = sum(1 for s in socks if bytes(got[s]) != want[s])
        ok = not fails and bad == 0 and len(socks) == n
        return ok, (None if ok else
                    f"{len(socks)} connected, {bad} wrong or short echoes, {len(live)} unfinished at "
                    f"the deadline; failures {fails}")
    finally:
        for s in socks:
            try:
                s.close()
            except OSError:
                pass
        sel.close()


def group_echo(model, bindir):
    global sent_total, conns_total
    srv = start(model, bindir)
    if not srv:
        return
    sent_total = conns_total = 0
    failed_before = tap.failed
    fd0 = fd_count_group(srv.pid)      # right after READY
    port = srv.port
    rnd = random.Random(os.getpid())
    for size, label in ((1, "1 B"), (100, "100 B"), (64 << 10, "64 KiB"), (1 << 20, "1 MiB")):
        check(f"echo: {label} random payload comes back in order",
              lambda size=size: echo_once(port, rnd.randbytes(size)))

    def burst():
        msgs = [rnd.randbytes(100) for _ in range(500)]
        s = connect(port)
        try:
            t = send_bg(s, b"".join(msgs), pieces=msgs)   # 500 send() calls back to back
            t.join(tmo(5))
            return compare(recv_exact(s, 500 * 100, 5), b"".join(msgs))
        finally:
            close_hard(s)
    check("echo: pipelined burst of 500 x 100 B, then read all", burst)

    def dribble():
        global sent_total
        data = rnd.randbytes(200)
        s = connect(port)
        try:
            for i in range(200):
                s.sendall(data[i:i + 1])
                time.sleep(0.001)                     # separate segments
            sent_total += 200
            return compare(recv_exact(s, 200, 5), data)
        finally:
            close_hard(s)
    check("echo: 200 one-byte dribbles", dribble)

    check("partial writes: SO_RCVBUF 4096 client reading slowly gets all 2 MiB",
          lambda: echo_once(port, rnd.randbytes(2 << 20), timeout=20, rcvbuf=4096,
                            chunk=4096, pause=0.001))

    def half_close(size, delay):
        global sent_total
        data = rnd.randbytes(size)
        s = connect(port)
        errs = []

        def send_then_fin():
            try:
                s.sendall(data)
                s.shutdown(socket.SHUT_WR)            # FIN while replies may still be pending
            except OSError as e:
                errs.append(e)
        t = threading.Thread(target=send_then_fin, daemon=True)
        t.start()
        sent_total += size
        try:
            time.sleep(delay)                         # read late: the server holds pending output
            got = recv_exact(s, size, 10)
            t.join(tmo(5))
            ok, diag = compare(got, data)
            if errs:
                return False, f"send failed: {errs[0]!r}; {diag or ''}"
            if not ok:
                return ok, diag
            return expect_eof(s, 3), "no EOF within 3 s after all data"
        finally:
            close_hard(s)
    check("half-close: 100 B then SHUT_WR: all echoed, then EOF", lambda: half_close(100, 0))
    check("half-close: 4 MiB then SHUT_WR, read late: all pending echoed, then EOF",
          lambda: half_close(4 << 20, 0.2))

    t0 = time.monotonic()
    check("1,000 concurrent connections pipelining 10 x 64 B each: all verified",
          lambda: many_concurrent(port))
    tap.diag(f"1,000 concurrent connections: {time.monotonic() - t0:.2f} s")

    # Every client is gone: the server must be back to its starting descriptors.
    fds = []
    check("no fd leak: fd count after all clients closed equals the count after READY",
          lambda: (wait_until(lambda: fds.append(fd_count_group(srv.pid)) or fds[-1] == fd0,
                              tmo(3)), f"after READY {fd0}, now {fds[-1] if fds else '?'}"))

    # SIGTERM with idle connections open.
    idle = []
    try:
        for _ in range(10):
            s = connect(port)
            s.sendall(b"x")
            sent_total += 1
            if recv_exact(s, 1, 5) != b"x":
                raise OSError("idle connection did not echo its first byte")
            idle.append(s)
    except OSError as e:
        tap.ok(False, "10 idle connections open before SIGTERM", str(e))
    # Let the last echo's counter updates land: a worker may still be between
    # send() returning and its STAT_ADD when the client already has the bytes.
    time.sleep(0.2)
    alive = srv.alive()
    st = stop_checks(srv, "SIGTERM with 10 idle connections", tmo(STOP_LIMIT_S))
    for s in idle:
        s.close()
    if not alive:
        tap.diag("server had already exited before SIGTERM")
    lines = [ln for ln in srv.stdout.splitlines() if ln.strip()]
    tap.ok(len(lines) == 1, "stdout after READY is exactly one line",
           f"got {len(lines)} lines: {lines[:5]!r}")
    try:
        obj = json.loads(lines[-1]) if lines else None
    except ValueError:
        obj = None
    if not tap.ok(isinstance(obj, dict), "that line is one JSON object", repr(lines[-1:])):
        return
    missing = [k for k in JSON_KEYS if k not in obj]
    tap.ok(not missing, "JSON has " + ", ".join(JSON_KEYS), f"missing {missing}")
    tap.ok(obj.get("model") == model, f"JSON model is \"{model}\"", f"model {obj.get('model')!r}")
    sc = obj.get("syscalls")
    tap.ok(isinstance(sc, dict) and isinstance(sc.get("total"), int) and sc["total"] > 0,
           "JSON syscalls is a dict with a positive total", repr(sc))
    tap.ok(obj.get("bytes_in") == obj.get("bytes_out"), "clean session: bytes_in == bytes_out",
           f"bytes_in {obj.get('bytes_in')}, bytes_out {obj.get('bytes_out')}")
    if tap.failed == failed_before:
        tap.ok(obj.get("bytes_in") == sent_total, f"clean session: bytes_in == {sent_total} bytes the clients sent",
               f"bytes_in {obj.get('bytes_in')}")
    else:
        tap.skip("clean session: bytes_in == the bytes the clients sent", "earlier failures: the count is unknown")
    acc = obj.get("accepted", 0)
    tap.ok(isinstance(acc, int) and acc >= conns_total,
           f"clean session: accepted >= {conns_total} connections the clients opened", f"accepted {acc}")
    tap.diag(f"counters: {json.dumps(st if st else obj)}")


# ---- group 2: backpressure ---------------------------------------------------------

def pattern(n, blk):
    """The first n bytes of blk repeated."""
    return (blk * (n // len(blk) + 1))[:n]


def group_backpressure(model, bindir):
    # ASan keeps freed blocks in a quarantine (256 MiB) instead of reusing them,
    # so RSS would grow with every malloc/free cycle, live memory or not: shrink it.
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = ":".join(filter(None, [env.get("ASAN_OPTIONS"), "quarantine_size_mb=1"]))
    srv = start(model, bindir, env=env)
    if not srv:
        return
    port = srv.port
    check("backpressure: warm-up echo", lambda: echo_once(port, os.urandom(1024)))
    time.sleep(0.1)
    rss0 = rss_kb_group(srv.pid)
    blk = os.urandom((1 << 20) + 7)               # period prime to the chunk size
    limit, chunk = 64 << 20, 64 << 10
    hog = connect(port)
    hog.setblocking(False)
    sent, last, stalled = 0, time.monotonic(), False
    end = time.monotonic() + tmo(20)
    stream = pattern(limit, blk)
    while sent < limit and time.monotonic() < end:
        try:
            n = hog.send(stream[sent:sent + chunk])
            sent += n
            last = time.monotonic()
        except BlockingIOError:
            if time.monotonic() - last > 1.0:      # stalled for 1 s: the server stopped reading
                stalled = True
                break
            time.sleep(0.01)
    rss1 = rss_kb_group(srv.pid)
    tap.diag(f"backpressure: client sent {sent / 2**20:.1f} MiB without reading "
             f"({'stalled' if stalled else 'not stalled'})")
    check("backpressure: another client is served while one never reads",
          lambda: echo_once(port, os.urandom(64 << 10)))
    rss2 = rss_kb_group(srv.pid)
    growth = max(rss1, rss2) - rss0
    tap.diag(f"backpressure: server RSS {rss0} KiB -> {max(rss1, rss2)} KiB (+{growth} KiB)")
    tap.ok(growth <= RSS_LIMIT_KB, f"backpressure: server RSS grows at most {RSS_LIMIT_KB} KiB",
           f"grew {growth} KiB")

    def drain():
        # The stalled client now reads: every byte it sent comes back, in order.
        hog.setblocking(True)
        got = recv_exact(hog, sent, 30)
        return compare(got, stream[:sent])
    check("backpressure: once the client reads, all it sent comes back in order", drain)
    close_hard(hog)
    tap.ok(srv.alive(), "backpressure: server still running")
    stop_checks(srv, "backpressure")


# ---- group 3: abrupt reset -----------------------------------------------------------

def group_reset(model, bindir):
    srv = start(model, bindir)
    if not srv:
        return
    port = srv.port
    check("reset: warm-up echo", lambda: echo_once(port, os.urandom(1024)))
    s = connect(port)
    s.setblocking(False)
    data, sent, end = os.urandom(1 << 20), 0, time.monotonic() + tmo(5)
    while sent < len(data) and time.monotonic() < end:
        try:
            sent += s.send(data[sent:sent + 65536])
        except BlockingIOError:
            time.sleep(0.01)
    time.sleep(0.2)                                  # the server is mid-echo now
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()                                        # linger {1,0}: RST, not FIN
    tap.diag(f"reset: sent {sent} bytes, read none, then RST")
    time.sleep(0.2)
    tap.ok(srv.alive(), "reset: server survives a client reset mid-stream")
    check("reset: another client is served after the reset",
          lambda: echo_once(port, os.urandom(100 << 10)))
    st = stop_checks(srv, "reset")
    if st is not None:
        tap.ok(st.get("errors", 0) >= 1 or st.get("resets", 0) >= 1,
               "reset: the server counted it (errors or resets >= 1)",
               f"errors {st.get('errors')}, resets {st.get('resets')}")
    else:
        tap.ok(False, "reset: the server counted it (errors or resets >= 1)", "no JSON counters")


# ---- group 4: fd exhaustion ----------------------------------------------------------

def group_emfile(model, bindir):
    srv = start(model, bindir, nofile=64)
    if not srv:
        return
    port = srv.port
    held = []

    def hold():
        for _ in range(20):
            s = connect(port)
            s.sendall(b"hello")
            if recv_exact(s, 5, 5) != b"hello":
                s.close()
                return False, f"held connection {len(held)} did not echo"
            held.append(s)
        return True
    check("nofile=64: 20 held connections echo", hold)

    flood, refused = [], 0
    for _ in range(200):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        rc = s.connect_ex((HOST, port))
        if rc in (0, errno.EINPROGRESS):
            flood.append(s)
        else:
            refused += 1
            s.close()
    time.sleep(0.3)                                   # let the server hit EMFILE
    tap.diag(f"nofile=64: flood of {len(flood)} connects open ({refused} failed at once)")
    c0, t0 = cpu_seconds_group(srv.pid), time.monotonic()
    time.sleep(1.5)
    c1, t1 = cpu_seconds_group(srv.pid), time.monotonic()
    frac = (c1 - c0) / (t1 - t0)
    tap.diag(f"nofile=64: server CPU {frac * 100:.1f}% of one core while flooded")
    if model in SPINNERS:
        tap.skip(f"nofile=64: server CPU under {CPU_LIMIT:.0%} while out of descriptors",
                 f"{model} spins by design")
    else:
        tap.ok(frac < CPU_LIMIT, f"nofile=64: server CPU under {CPU_LIMIT:.0%} while out of descriptors",
               f"used {frac * 100:.1f}% (the loop spins on EMFILE?)")

    def held_echo():
        bad = 0
        for s in held:
            msg = os.urandom(100)
            s.sendall(msg)
            if recv_exact(s, 100, 5) != msg:
                bad += 1
                break                                 # one is enough: do not wait 20 x STALL_S
        return bad == 0 and len(held) == 20, f"{bad} of {len(held)} held connections failed"
    check("nofile=64: held connections still echo during the flood", held_echo)
    time.sleep(max(0.0, 0.2))
    for s in flood + held:
        s.close()

    def served_again():
        end, last = time.monotonic() + tmo(5), "never tried"
        while time.monotonic() < end:
            try:
                ok, diag = echo_once(port, os.urandom(100), timeout=1)
                if ok:
                    return True
                last = diag
            except OSError as e:
                last = repr(e)
            time.sleep(0.2)
        return False, f"last attempt: {last}"
    check("nofile=64: after the flood closes, new connections are served again", served_again)
    tap.ok(srv.alive(), "nofile=64: server still running")
    st = stop_checks(srv, "nofile=64")
    if st:
        tap.diag(f"nofile=64: emfile {st.get('emfile')}, accepted {st.get('accepted')}, "
                 f"errors {st.get('errors')}")


# ---- group 5: flags ---------------------------------------------------------------------

def group_flags(model, bindir):
    path = os.path.join(bindir, f"echo_{model}")

    def run(args):
        p = subprocess.run([path, *args], capture_output=True, timeout=tmo(5), start_new_session=True)
        return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
    for args, label in ((["--no-such-flag"], "a bad flag"), (["--port", "notaport"], "a bad value (--port notaport)"),
                        (["--bufsize", "-5"], "a bad value (--bufsize -5)")):
        def bad(args=args):
            rc, out, err = run(args)
            return (rc == 2 and "usage" in err.lower() and not out,
                    f"exit {rc}; stdout {out[:200]!r}; stderr {err[:300]!r}")
        check(f"flags: {label} exits 2 with usage on stderr and nothing on stdout", bad)

    def helps():
        rc, out, err = run(["--help"])
        return rc == 0 and "usage" in (out + err).lower(), f"exit {rc}; stderr {err[:300]!r}"
    check("flags: --help exits 0 and prints usage", helps)


# ---- main -------------------------------------------------------------------------------

def main():
    global slow
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--bin", default="bin", help="folder holding echo_<model> (default bin)")
    ap.add_argument("--only", default="", help="comma-separated groups: echo,backpressure,reset,emfile,flags")
    a = ap.parse_args()
    bindir = a.bin if os.path.isabs(a.bin) else os.path.join(os.getcwd(), a.bin)
    path = os.path.join(bindir, f"echo_{a.model}")
    if not os.access(path, os.X_OK):
        TAP.skip_all(f"{path} is not built")
    base = os.path.basename(os.path.normpath(bindir))
    slow = 3.0 if "thread" in base else 2.0 if "-" in base else 1.0
    raise_nofile()
    budget = int(90 * slow)

    def bail(*_):
        print(f"Bail out! battery for {a.model} exceeded {budget} s")
        sys.stdout.flush()
        os._exit(1)   # atexit would not run: kill the servers ourselves
    signal.signal(signal.SIGALRM, lambda *x: (_kill_live(), bail()))
    signal.alarm(budget)
    if a.model in MODEL_NOTES:
        tap.diag(f"note: {MODEL_NOTES[a.model]}")
    if a.model in MODEL_ARGS:
        tap.diag(f"server args: {' '.join(MODEL_ARGS[a.model])}")
    groups = [("flags", group_flags), ("echo", group_echo), ("backpressure", group_backpressure),
              ("reset", group_reset), ("emfile", group_emfile)]
    only = set(filter(None, a.only.split(",")))
    t_all = time.monotonic()
    for name, fn in groups:
        if only and name not in only:
            continue
        t0 = time.monotonic()
        fn(a.model, bindir)
        tap.diag(f"group {name}: {time.monotonic() - t0:.2f} s")
    tap.diag(f"battery for {a.model} ({base}): {time.monotonic() - t_all:.2f} s")
    tap.done()


def _kill_live():
    import c10k
    c10k._kill_all()


if __name__ == "__main__":
    main()
