"""figures.py - every figure a point's run may have (Record.derived), once,
with how points.csv folds a point's repeats into its row (harness/fold.py):

  "spread"  the median of the ok runs, its distribution-free 95% interval
            (<fig>_lo, <fig>_hi: two order statistics, harness/estimate.py;
            empty below estimate.MIN_RUNS runs) and their range (<fig>_min, _max)
  "median"  the median of the ok runs
  "any"     1 when any ok repeat says so

The kernel's columns are declared here too: the system calls counted by name
(harness/kcount.py counts NAMES; sc_<name> per echo, "other" for the rest)
and the CPU profile's categories (harness/kprofile.py; prof_<category>).
Records are checked against FIGURES (harness/records.py); nothing else lists
a figure's fold.
"""

# Names counted separately, most useful first (a tight descriptor budget keeps
# the first ones); every other call is in "other". Each name is one more
# filter the kernel evaluates on EVERY call of the server: with these 20,
# perf bench syscall basic (getppid in a loop, pinned, load average ~11 on
# this 2-CPU PVM guest) went from 4.0-5.1 us per call plain to 5.6-6.0 with
# the total only, 6.1-8.0 with 16 names, 9.5-14.0 with 53 names; perf record
# of every call cost more than 16 names (7.0-7.5). Pass names=() for the total alone.
NAMES = ("read", "write", "sendto", "recvfrom", "epoll_wait", "epoll_pwait", "epoll_ctl",
         "poll", "pselect6", "io_uring_enter", "io_submit", "io_getevents", "rt_sigtimedwait",
         "futex", "accept4", "close", "fcntl", "ioctl", "getppid", "rt_sigqueueinfo")
CALLS = tuple(NAMES) + ("other",)
# Where the server's CPU goes (kprofile.CLASSES names the first two).
PROFILE_CATEGORIES = ("wait", "tcp", "user", "other")


def col(name):
    """The CSV column of one call name (per echo)."""
    return f"sc_{name}"


def prof_col(cat):
    """The CSV column of one profile category's share of the samples."""
    return f"prof_{cat}"


# Figures per run, in CSV order within each fold: name -> fold.
FIGURES = {
    "msgs_per_s": "spread", "p50_us": "spread", "p99_us": "spread",
    "light_p50_us": "spread", "light_p99_us": "spread", "conns_per_s": "spread",
    "cpu_us_per_echo": "spread", "user_us_per_echo": "spread", "sys_us_per_echo": "spread",
    "syscalls_per_echo": "spread", "csw_per_echo": "spread", "rss_per_conn_b": "spread",
    "bytes_per_s": "median", "p90_us": "median", "p999_us": "median", "p9999_us": "median",
    "max_us": "median", "mean_us": "median", "heavy_p50_us": "median", "heavy_p99_us": "median",
    "connect_p50_us": "median", "connect_p99_us": "median", "achieved_ratio": "median",
    "vcsw_per_echo": "median", "ivcsw_per_echo": "median", "server_cpu_util": "median",
    "client_cpu_util": "median", "fairness_jain": "median", "rss_kb": "median",
    "hwm_kb": "median", "threads": "median", "fds": "median",
    "client_saturated": "any",
    # the generator's own side (loadgen's JSON; docs/open-loop.md): its CPU per
    # echo; in the open loop its lateness (actual send - due), the latency less
    # each message's lateness, the send-process test's W1 (in mean gaps), the
    # CPU per echo over the closed-loop probe's in the same run (rate sweep:
    # harness/capacity.py), and gen_limited: the run's verdict was "generator"
    "client_cpu_us_per_echo": "median", "late_p50_us": "median", "late_p99_us": "median",
    "late_max_us": "median", "server_p50_us": "median", "server_p99_us": "median",
    "send_w1": "median", "gen_cpu_x_closed": "median", "gen_limited": "any",
    "tasks_gone": "median",   # server threads that ended in the window (procfs: CPU from ticks)
    # dispatch points (harness/dispatch_point.py; fds: the slots it watched)
    "ns_per_event": "spread", "cpu_ns_per_event": "spread", "events_per_s": "median",
    "syscalls_per_event": "median", "setup_ns_per_fd": "median",
    # the kernel's view (harness/kernel.py): the self-count cross-check (the
    # server's own SC() count, whole run), calls by name, profile shares
    "self_syscalls_per_echo": "median", **{col(n): "median" for n in CALLS},
    **{prof_col(c): "median" for c in PROFILE_CATEGORIES}, "prof_ns_per_echo": "median",
}
SPREAD = [k for k, v in FIGURES.items() if v == "spread"]
MEDIAN = [k for k, v in FIGURES.items() if v == "median"]
ANY = [k for k, v in FIGURES.items() if v == "any"]
