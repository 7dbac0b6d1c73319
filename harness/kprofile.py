"""kprofile.py - where a server's CPU goes over a window, from the kernel's clock.

    p = Profiler(pids, out_dir)   # every process of the server
    p.start()                      # perf record attached, sampling disabled
    p.mark()                       # measure start: enable
    ...
    prof = p.stop(echoes)          # measure end: disable, stop, analyse
    prof["categories"]   -> {"wait": {"share": .31, "ns_per_echo": 1520}, "tcp": ..., ...}
    prof["top_kernel"]   -> [{"function": "sock_poll", "share": .50, "ns_per_echo": ...}, ...]
    prof["folded"]       -> out_dir/<name>.folded (flame-graph input: "a;b;c count")

How: `perf record -e cpu-clock -g` (the software clock: no hardware
counters needed) on every thread of pids, started disabled and switched by
perf's --control fifo exactly at mark() and stop(), as harness/kcount.py
does for counting. Each sample's period is the nanoseconds it stands for, so
a function's ns per echo is its samples' periods over the echoes.

A sample is charged to its leaf function ("self" time), after stepping over
the paravirtual irq-enable frames: the clock interrupt cannot land while
interrupts are off, so its sample shows up where they come back on
(pvm_irq_enable, ...), which is the caller's cost. Its category is decided
by walking from the leaf towards the root and taking the first frame that
CLASSES knows: a sample in alloc_pages under __pollwait is the wait
mechanism's, one in copy_user under tcp_recvmsg is TCP work; a user-space
leaf is "user"; nothing known is "other" (system-call entry and exit, the
scheduler outside a wait, memory management). User stacks need frame
pointers (the servers are built without -fno-omit-frame-pointer, so user
callers are partial; the leaf is right).
"""

import os
import re
import shutil
import subprocess
import time

from figures import PROFILE_CATEGORIES as CATEGORIES   # wait, tcp, user, other
from launch import Child
from kcount import ATTACH_TIMEOUT_S, STOP_TIMEOUT_S, PerfControl, PerfWindow, stop_child, task_count

# The one table of kernel function names by category; the first category
# whose pattern matches a frame wins, walking from the leaf to the root.
CLASSES = (
    ("wait", (  # the readiness / completion mechanism itself
        r"do_select", r"core_sys_select", r"kern_select", r"do_pselect\w*", r"select_estimate\w*",
        r"do_sys_poll", r"do_poll", r"__pollwait", r"poll_freewait", r"pollwake", r"poll_select\w*",
        r"sock_poll", r"tcp_poll",                           # the per-descriptor readiness check
        r"ep_\w+", r"__ep_\w+", r"do_epoll_\w+", r"__x64_sys_epoll_\w+", r"__do_sys_epoll_\w+",
        r"io_uring\w*", r"__io_uring\w*", r"io_submit_sqes", r"io_cqring_\w+", r"io_cqe_\w+",
        r"io_issue_sqe", r"io_poll\w*", r"__io_\w+", r"io_req_\w+", r"io_\w+_task_work\w*",
        r"tctx_task_work\w*", r"io_run_\w+", r"io_get_cqe\w*", r"io_fill_cqe\w*",
        r"aio_\w+", r"do_io_getevents", r"read_events", r"io_submit_one", r"__io_submit_one\w*",
        r"__x64_sys_io_\w+", r"lookup_ioctx",
        r"do_sigtimedwait", r"__x64_sys_rt_sigtimedwait", r"dequeue_signal", r"collect_signal",
        r"__send_signal\w*", r"send_signal\w*", r"send_sigio\w*", r"send_sigurg\w*",
        r"kill_fasync", r"__kill_fasync", r"complete_signal", r"do_send_sig_info",
        r"signal_wake_up_state", r"recalc_sigpending\w*", r"sigqueue_\w+", r"__sigqueue_\w+",
        r"do_rt_sigqueueinfo", r"do_rt_tgsigqueueinfo")),
    ("tcp", (   # moving the bytes: TCP/IP, the socket layer, the copies
        r"tcp_\w+", r"__tcp_\w+", r"inet_\w+", r"__inet_\w+", r"ip_\w+", r"__ip_\w+", r"ipv4_\w+",
        r"sock_\w+", r"__sock_\w+", r"sk_\w+", r"__sk_\w+", r"skb_\w+", r"__skb_\w+",
        r"kfree_skb\w*", r"__kfree_skb\w*", r"consume_skb", r"napi_\w+", r"__napi_\w+",
        r"dev_\w+", r"__dev_\w+", r"netif_\w+", r"__netif_\w+", r"net_rx_action",
        r"process_backlog", r"loopback_xmit", r"validate_xmit_\w+", r"nf_\w+", r"dst_release",
        r"release_sock", r"__release_sock", r"lock_sock\w*", r"__x64_sys_(sendto|recvfrom|"
        r"sendmsg|recvmsg)", r"__sys_(sendto|recvfrom|sendmsg|recvmsg)", r"sock_read_iter",
        r"sock_write_iter", r"copy_user\w*", r"_copy_to_iter", r"_copy_from_iter\w*",
        r"__copy_\w+", r"rep_movs_alternative", r"simple_copy_to_iter", r"csum_\w+",
        r"__x64_sys_(read|write)", r"ksys_(read|write)", r"vfs_(read|write)",
        r"handle_softirqs", r"__do_softirq", r"do_softirq", r"__local_bh_enable_ip")),
)
_CLASS_RE = [(cat, re.compile("^(?:" + "|".join(pats) + r")(?:\.\w+)*$")) for cat, pats in CLASSES]
# Where the clock's sample lands when interrupts come back on (see above).
IRQ_ENABLE = re.compile(r"^(pvm_irq_enable|__raw_callee_save_\w+|native_irq_enable|"
                        r"_raw_spin_unlock_irq(restore)?|__local_bh_enable_ip|"
                        r"arch_local_irq_\w+)$")
TOP = 15                       # functions listed per side
SCRIPT_TIMEOUT_S = 120


def classify(frames):
    """Category of one sample; frames = [(function, is_kernel)] leaf first."""
    if frames and not frames[0][1]:
        return "user"
    for fn, kern in frames:
        if not kern:
            break
        for cat, rx in _CLASS_RE:
            if rx.match(fn):
                return cat
    return "other"


def leaf(frames):
    """The function a sample is charged to: the leaf, past irq-enable frames."""
    for fn, kern in frames:
        if not (kern and IRQ_ENABLE.match(fn)):
            return fn, kern
    return frames[0] if frames else ("[unknown]", False)


_HEAD = re.compile(r"^(\S.*?)\s+(\d+)\s+(\d+)\s*(?:cpu-clock:\S*)?\s*$")
_FRAME = re.compile(r"^\s+([0-9a-f]+)\s+(.*?)\s+\((.*)\)\s*$")


def parse_script(text):
    """`perf script -F comm,tid,period,ip,sym,dso` with callchains ->
    [(comm, period_ns, [(function, is_kernel), ...leaf first])]."""
    out, cur = [], None
    for ln in text.splitlines():
        if not ln.strip():
            if cur:
                out.append(cur)
            cur = None
            continue
        m = _FRAME.match(ln)
        if m and cur is not None:
            addr, sym, dso = m.groups()
            sym = re.sub(r"\+0x[0-9a-f]+$", "", sym) or "[unknown]"
            kern = dso.startswith("[kernel") or (len(addr) >= 16 and addr.startswith("ffff"))
            cur[2].append((sym, kern))
            continue
        m = _HEAD.match(ln)
        if m:
            if cur:
                out.append(cur)
            cur = (m.group(1).strip(), int(m.group(3)), [])
    if cur:
        out.append(cur)
    return out


def analyse(samples, echoes=None, top=TOP):
    """Shares and ns per echo by category and by leaf function, and the folded stacks."""
    total_ns = sum(p for _, p, _ in samples) or 1
    cats = {c: 0 for c in CATEGORIES}
    funcs, folded = {}, {}
    for comm, period, frames in samples:
        cats[classify(frames)] += period
        fn, kern = leaf(frames)
        f = funcs.setdefault((fn, kern), [0, 0])
        f[0] += 1
        f[1] += period
        key = ";".join([comm] + [fr[0] for fr in reversed(frames)])
        folded[key] = folded.get(key, 0) + 1

    def fig(ns):
        return dict(share=round(ns / total_ns, 4),
                    ns_per_echo=round(ns / echoes, 1) if echoes else None)

    def tops(kern):
        rows = sorted(((k[0], v) for k, v in funcs.items() if k[1] == kern), key=lambda r: -r[1][1])
        return [dict(function=fn, samples=v[0], **fig(v[1])) for fn, v in rows[:top]]
    unknown = sum(v[0] for (fn, kern), v in funcs.items() if kern and fn == "[unknown]")
    return dict(samples=len(samples), ns=total_ns, echoes=echoes,
                ns_per_echo=round(total_ns / echoes, 1) if echoes else None,
                categories={c: fig(ns) for c, ns in cats.items()},
                top_kernel=tops(True), top_user=tops(False), folded_lines=folded,
                unknown_kernel_samples=unknown)


def write_folded(folded, path):
    with open(path, "w") as f:
        for k, n in sorted(folded.items(), key=lambda kv: -kv[1]):
            f.write(f"{k} {n}\n")


class Profiler(PerfWindow):
    """cpu-clock samples of pids (all threads) between mark() and stop()."""

    def __init__(self, pids, out_dir=None, name="profile", freq=4000):
        self.pids = sorted({int(p) for p in pids})
        self.out_dir, self.name, self.freq = out_dir, name, freq
        self.res = dict(tool="perf record", why_empty=None, samples=0, folded=None)
        self.child = self.ctl = None
        self.t_mark = None

    def start(self):
        if not shutil.which("perf"):
            self._empty("perf is not installed: no CPU profile")
            return False
        live = [p for p in self.pids if os.path.exists(f"/proc/{p}")]
        if not live:
            self._empty("no live server pid to profile")
            return False
        self.pids = live
        self.res["tasks"] = task_count(live)
        self.ctl = PerfControl()
        self.child = Child(["perf", "record", "-q", "-e", "cpu-clock", "-F", str(self.freq), "-g",
                            "-D", "-1", self.ctl.flag(), "-o", self.ctl.path("perf.data"),
                            "-p", ",".join(map(str, live))])
        if not self.ctl.command("ping", self.child, ATTACH_TIMEOUT_S):
            err = " ".join(self.child.stderr_tail(2)) if not self.child.alive() else ""
            self._empty("perf record could not attach"
                        + (f": {err}" if err else f" within {ATTACH_TIMEOUT_S} s"))
            return False
        return True

    def mark(self):
        if self.res["why_empty"]:
            return False
        self.t_mark = time.monotonic()
        if not self.ctl.command("enable", self.child, 10):
            self._empty("perf record exited before the window (the server exited?)")
            return False
        return True

    def stop(self, echoes=None):
        if self.res["why_empty"] or self.child is None or self.t_mark is None:
            return self._empty(self.res["why_empty"] or "stop() without start()/mark()")
        if not self.ctl.command("disable", self.child, 10):
            self.res["note"] = "the server exited inside the window: samples up to its exit"
        self.res["window_s"] = round(time.monotonic() - self.t_mark, 6)
        if not stop_child(self.child, STOP_TIMEOUT_S):
            return self._empty(f"perf record did not exit within {STOP_TIMEOUT_S} s of SIGINT")
        data = self.ctl.path("perf.data")
        try:
            p = subprocess.run(["perf", "script", "-i", data, "--no-inline",
                                "-F", "comm,tid,period,ip,sym,dso"],
                               capture_output=True, text=True, timeout=SCRIPT_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired) as e:
            return self._empty(f"perf script: {e}")
        samples = parse_script(p.stdout)
        if not samples:
            return self._empty("no samples in the window" + (f": {p.stderr.strip()[-200:]}"
                                                              if p.returncode else ""))
        prof = analyse(samples, echoes)
        folded = prof.pop("folded_lines")
        if self.out_dir:
            os.makedirs(self.out_dir, exist_ok=True)
            self.res["folded"] = os.path.join(self.out_dir, f"{self.name}.folded")
            write_folded(folded, self.res["folded"])
        if prof["unknown_kernel_samples"] > prof["samples"] // 2:
            self.res["note"] = ("most kernel samples unnamed: kernel symbols hidden "
                                "(kptr_restrict) - no wait/TCP split")
        self.res.update(prof)
        self.close()
        return self.res



def table(prof, n=8):
    """A few text lines: the categories, then the top kernel and user functions."""
    if prof.get("why_empty"):
        return [f"no profile: {prof['why_empty']}"]
    c = prof["categories"]
    lines = ["  ".join(f"{k} {v['share']:.0%}" + (f" ({v['ns_per_echo']:.0f} ns/echo)"
                                                 if v["ns_per_echo"] is not None else "")
                       for k, v in c.items())]
    for side in ("top_kernel", "top_user"):
        for r in prof[side][:n]:
            lines.append(f"  {side[4:]:6} {r['function']:<32} {r['share']:6.1%}"
                         + (f" {r['ns_per_echo']:8.1f} ns/echo" if r["ns_per_echo"] is not None else ""))
    return lines
