#!/usr/bin/env python3
"""fake_echo.py - echo servers that break the harness's contract, one way each,
for tests/harness.t (and any test that needs a misbehaving bin/echo_<model>).

The mode is the name it is started as: a symlink echo_<mode> -> fake_echo.py
(or --mode MODE). Every mode takes the servers' `--port N` and ignores the
other flags; those that answer print `READY <port>` and, on SIGTERM, one
JSON counters line and exit 0, so the only fault a point sees is the mode's:

  crashy   echoes, then aborts (SIGABRT) 0.3 s after READY
  hangy    echoes, ignores SIGTERM (the harness must kill it)
  mute     never prints READY, ignores SIGTERM
  stall    echoes until 0.3 s after its first connection, then stops reading
           every connection and keeps them open (the generator's replies time out)
  refuse   prints READY, then closes its listener: every connect is refused
  wrong    echoes with every byte's lowest bit flipped (verify errors)
"""
import json
import os
import selectors
import signal
import socket
import sys
import time

MODES = ("crashy", "hangy", "mute", "stall", "refuse", "wrong")


def counters(*_):
    print(json.dumps({"model": "fake_" + MODE, "conns": 0}), flush=True)
    os._exit(0)


def main():
    args = sys.argv[1:]
    port = int(args[args.index("--port") + 1]) if "--port" in args else 0
    if MODE in ("hangy", "mute"):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGTERM, counters)
    if MODE == "mute":
        time.sleep(60)
        return 0
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(4096)
    ls.setblocking(False)
    print(f"READY {ls.getsockname()[1]}", flush=True)
    if MODE == "refuse":
        ls.close()
        while True:
            time.sleep(1)
    sel = selectors.DefaultSelector()
    sel.register(ls, selectors.EVENT_READ)
    t0 = time.monotonic()
    first = None
    held = []
    while True:
        if MODE == "crashy" and time.monotonic() - t0 > 0.3:
            os.abort()
        if MODE == "stall" and first and time.monotonic() - first > 0.3 and not held:
            for key in list(sel.get_map().values()):
                if key.fileobj is not ls:
                    sel.unregister(key.fileobj)
                    held.append(key.fileobj)     # open, never read again
            held.append(None)
        for key, _ in sel.select(0.05):
            s = key.fileobj
            if s is ls:
                try:
                    c, _ = ls.accept()
                except OSError:
                    continue
                first = first or time.monotonic()
                if held:
                    held.append(c)
                else:
                    sel.register(c, selectors.EVENT_READ)
                continue
            try:
                d = s.recv(65536)
            except OSError:
                d = b""
            if not d:
                sel.unregister(s)
                s.close()
                continue
            if MODE == "wrong":
                d = bytes(b ^ 1 for b in d)
            try:
                s.sendall(d)
            except OSError:
                pass


if __name__ == "__main__":
    name = os.path.basename(sys.argv[0])
    MODE = name[5:] if name.startswith("echo_") else ""
    if "--mode" in sys.argv:
        MODE = sys.argv[sys.argv.index("--mode") + 1]
    if MODE not in MODES:
        sys.stderr.write(f"fake_echo: mode '{MODE}' is not one of {','.join(MODES)} "
                         "(start it as echo_<mode> or with --mode)\n")
        sys.exit(2)
    sys.exit(main())
