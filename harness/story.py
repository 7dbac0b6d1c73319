"""story.py - the story a run's findings tell, declared once: each finding is
an entry of FINDINGS (data), which harness/findings.py writes into a run's
FINDINGS.md from its points.csv and points.jsonl.

An entry: the story element (a title, and the kernel's facts as text: what the
kernel does for that model, from the servers' header comments; no
measurement), the cells it reads (Cell: sweep, model, which x, column), its
sentences (templates over those cells), its tables and a chart of the run.
In a template:

  {a}          cell a's figure, then ± half its interval as a share of it
               (no ± where points.csv has no interval); failed or skipped
               where the point did
  {a.v}        the figure alone; {a.x}, {a.conns}, {a.idle} ...: a key column
  {a/b}        the ratio of two cells' figures ("12.3x")
  {b~a}        b against a: the verdict of findings.judge, the one call into
               the claims machinery ("slower", "costlier in CPU per echo", or
               "no measurable difference")

Tables: Table (models down, a column per Col), Pivot (models down, one
column's x across), Claims (every model against a reference, grouped by
verdict). A sentence whose cells the run lacks is left out and the finding
names what was not measured. Adding a finding is adding an entry.
"""

import dataclasses

import models

@dataclasses.dataclass(frozen=True)
class Cell:
    """One figure of one point: sweep, model, which x ("min", "max",
    "near1000", "last": the largest x where this model was measured, or a
    number), column, and series (None: the sweep's first)."""
    sweep: str
    model: str
    x: object
    col: str
    series: str = None


C = Cell

# ---- tables ------------------------------------------------------------------------

RUNTIMES = tuple(models.names(family="runtimes"))
C_MODELS = tuple(m for m in models.names() if m not in RUNTIMES)


@dataclasses.dataclass(frozen=True)
class Col:
    """A table column: a header and the column of points.csv it shows, at the
    table's x and series unless given. how: "fig" (the figure and its ±),
    "v" (the figure alone), "flag" (0/1 as no/yes), "user" (user CPU and its share of the CPU),
    "calls" (the system calls by name, at least one per hundred echoes)."""
    head: str
    col: str
    how: str = "fig"
    x: object = None
    series: str = None
    sweep: str = None


@dataclasses.dataclass(frozen=True)
class Table:
    """Models down (those the run measured there), a column per Col."""
    sweep: str
    x: object
    cols: tuple
    models: tuple = C_MODELS
    series: str = None
    sort: str = None                # a column to sort by, smallest first
    label: str = ""                 # a template line above the table (cells: "at": the first column)


@dataclasses.dataclass(frozen=True)
class Pivot:
    """One column of a sweep, models down and every x across."""
    sweep: str
    col: str
    models: tuple = C_MODELS
    series: str = None
    unit: str = ""                  # the x's word in the header ("idle")
    label: str = ""


@dataclasses.dataclass(frozen=True)
class Claims:
    """Every model against ref for one figure at one x, grouped by verdict."""
    sweep: str
    x: object
    col: str
    models: tuple = C_MODELS
    ref: str = "epoll_et"
    series: str = None


# ---- the findings -------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Finding:
    key: str
    title: str
    fact: str = ""                  # the kernel's facts: text, no measurement
    cells: dict = dataclasses.field(default_factory=dict)
    says: tuple = ()                # sentence templates over cells
    tables: tuple = ()              # Table, Pivot, Claims
    chart: str = ""                 # a chart of the run folder (<chart>.png)


IDLE, ACT, HEAVY, DISP, DEM = "idle", "active", "heavy", "dispatch", "demand"
CPU = "cpu_us_per_echo"     # the idle and demand sweeps' figure: the server's CPU per echo
# What a sweep's x counts, in a sentence.
X_WORDS = {ACT: "busy connections", IDLE: "idle connections", "churn": "connections at a time",
           DEM: "busy connections at a fixed rate",
           HEAVY: "echoes/s offered", "rate": "% of capacity"}

FINDINGS = (
    Finding(
        "scan", "select and poll copy and scan every descriptor on every call",
        fact="`select()` hands the kernel a bitmap of every descriptor below the highest, "
             "`poll()` an array of every registered one. The kernel calls each socket's poll "
             "routine (`sock_poll`, `tcp_poll`), sleeps, polls them all again and copies the "
             "result back, and the server walks the result: every call costs in proportion to "
             "all the connections, idle ones included (servers/select.c, servers/poll.c). "
             "With the busy connections fixed, the cost per echo should grow with the idle ones.",
        cells=dict(s0=C(IDLE, "select", "min", CPU), sN=C(IDLE, "select", "max", CPU),
                   p0=C(IDLE, "poll", "min", CPU), pN=C(IDLE, "poll", "max", CPU),
                   e0=C(IDLE, "epoll_et", "min", CPU), eN=C(IDLE, "epoll_et", "max", CPU),
                   sw=C(ACT, "select", "near1000", "prof_wait"),
                   pw=C(ACT, "poll", "near1000", "prof_wait"),
                   ew=C(ACT, "epoll_et", "near1000", "prof_wait"),
                   rp=C("rate", "poll", "min", "p50_us", "idle0"),
                   re=C("rate", "epoll_et", "min", "p50_us", "idle0"),
                   ds=C(DISP, "select", "max", "ns_per_event", "random"),
                   dp=C(DISP, "poll", "max", "ns_per_event", "random"),
                   de=C(DISP, "epoll_lt", "max", "ns_per_event", "random")),
        says=("At {sN.rate} echoes/s over {sN.active} busy connections, `select` spent {s0} µs "
              "of CPU per echo with no idle connections beside them and {sN} µs beside "
              "{sN.idle}: {sN~s0}. `poll`: {p0} and {pN} µs: {pN~p0}.",
              "`epoll_et` at the same load: {e0} and {eN} µs ({eN~e0}); beside {eN.idle} idle "
              "connections `select` was {sN~eN} and `poll` {pN~eN}.",
              "With all {sw.x} connections busy (closed loop; CPU profiles are taken at "
              "closed-loop points), the wait itself took {sw} of `select`'s CPU samples, {pw} of "
              "`poll`'s and {ew} of `epoll_et`'s (`prof_wait`; the stacks are in `profiles/`).",
              "Open loop at {rp.x}% of each model's own capacity ({rp.conns} connections, all "
              "busy), the median latency was {rp} µs for `poll` and {re} µs for `epoll_et`: "
              "{rp~re}.",
              "Without TCP (`bin/dispatch`, one random descriptor of N ready per event), an "
              "event cost {ds.v} ns through `select` and {dp.v} ns through `poll` at N = {ds.x}: "
              "{ds/de} and {dp/de} the {de.v} ns of `epoll_lt`."),
        tables=(Pivot(IDLE, CPU, C_MODELS, unit="idle",
                      label="Server CPU per echo (µs) at a fixed rate over the busy connections, "
                            "idle ones beside them (the curve of the chart):"),),
        chart="idle"),
    Finding(
        "sigio", "SIGIO coalesces, so every signal sends the loop over every connection",
        fact="With `O_ASYNC`, a socket's wake-ups raise SIGIO. SIGIO is a standard signal: "
             "while one is pending the next ones merge into it, and it names no descriptor, so "
             "each one says only that something changed somewhere, and the server tries a "
             "nonblocking `read()` on every connection (servers/sigio.c). The reads per echo "
             "should grow with the idle connections.",
        cells=dict(r0=C(IDLE, "sigio", "min", "sc_read"), rN=C(IDLE, "sigio", "max", "sc_read"),
                   m0=C(IDLE, "sigio", "min", CPU), mN=C(IDLE, "sigio", "max", CPU),
                   eN=C(IDLE, "epoll_et", "max", CPU),
                   d0=C(DISP, "sigio", "min", "syscalls_per_event", "random"),
                   dN=C(DISP, "sigio", "max", "syscalls_per_event", "random"),
                   fN=C(DISP, "sigio", "max", "fds", "random")),
        says=("The kernel counted {r0.v} `read` calls per echo with no idle connections and "
              "{rN.v} beside {rN.idle}.",
              "CPU per echo: {mN} µs beside {mN.idle} idle connections against {m0} with none: "
              "{mN~m0}; against `epoll_et` there ({eN} µs): {mN~eN}.",
              "In `bin/dispatch` (a pipe per slot, one token written per event): {d0.v} system "
              "calls per event at N = {d0.x}, {dN.v} at N = {fN.v}."),
        chart="syscalls_idle"),
    Finding(
        "rtsig", "Realtime signals queue one event per descriptor, until the queue overflows",
        fact="`F_SETSIG` replaces SIGIO with a realtime signal. Realtime signals queue instead "
             "of merging and each names its socket (`si_fd`), so `sigtimedwait()` takes one event "
             "per call and nothing is scanned. The queue is bounded by `RLIMIT_SIGPENDING`: when "
             "it is full the kernel queues a plain SIGIO instead, and the server discards the "
             "queue and `poll()`s every connection once (servers/rtsig.c; `tests/dispatch.t` "
             "forces an overflow).",
        cells=dict(w0=C(IDLE, "rtsig", "min", "sc_rt_sigtimedwait"),
                   wN=C(IDLE, "rtsig", "max", "sc_rt_sigtimedwait"),
                   qN=C(IDLE, "rtsig", "max", "sc_poll"),
                   m0=C(IDLE, "rtsig", "min", CPU), mN=C(IDLE, "rtsig", "max", CPU),
                   eN=C(IDLE, "epoll_et", "max", CPU)),
        says=("`sigtimedwait` calls per echo: {w0.v} with no idle connections, {wN.v} beside "
              "{wN.idle}; the overflow's `poll` calls per echo there: {qN.v}.",
              "CPU per echo: {mN} µs beside {mN.idle} idle connections against {m0} with none: "
              "{mN~m0}; against `epoll_et` there ({eN} µs): {mN~eN}.")),
    Finding(
        "posix_aio", "glibc's POSIX AIO is a thread pool",
        fact="No kernel asynchronous socket I/O is behind `aio_read()`: glibc queues the request "
             "and wakes (`futex`) or creates a helper thread that makes an ordinary blocking "
             "`read()` and then signals the completion (servers/posix_aio.c). A read pending on "
             "an idle connection holds a helper thread, so the threads follow the connections, "
             "and every echo pays thread wake-ups. A helper thread that exits inside the "
             "measured window takes its own counters with it. The harness counts such threads "
             "(`tasks_gone`) and gives no context switches for that point; its CPU comes from "
             "the process's CPU clock, which keeps what ended threads used (docs/method.md; "
             "earlier runs took it from the tick counters). Where the `tasks_gone` "
             "column is empty the run predates both, and `posix_aio`'s CPU and context switches "
             "per echo are undercounted.",
        cells=dict(tL=C(DEM, "posix_aio", "max", "threads"),
                   tA=C(ACT, "posix_aio", "near1000", "threads"),
                   fu=C(ACT, "posix_aio", "near1000", "sc_futex"),
                   cs=C(ACT, "posix_aio", "near1000", "csw_per_echo"),
                   ecs=C(ACT, "epoll_et", "near1000", "csw_per_echo"),
                   m=C(ACT, "posix_aio", "near1000", "msgs_per_s"),
                   em=C(ACT, "epoll_et", "near1000", "msgs_per_s"),
                   c=C(ACT, "posix_aio", "near1000", "cpu_us_per_echo"),
                   ec=C(ACT, "epoll_et", "near1000", "cpu_us_per_echo"),
                   dc=C(DEM, "posix_aio", "max", CPU), edc=C(DEM, "epoll_et", "max", CPU)),
        says=("At {tL.conns} connections sending {tL.rate} echoes/s in all, the server ran "
              "{tL.v} threads; at {tA.conns} in a closed loop, {tA.v}.",
              "At {m.x} busy connections, per echo: {fu.v} `futex` calls and {cs} context "
              "switches (`epoll_et`: {ecs}); {m} echoes/s against `epoll_et`'s {em}: {m~em}; "
              "{c} µs of CPU against {ec}: {c~ec}.",
              "At a fixed {dc.rate} echoes/s over {dc.conns} connections: {dc} µs of CPU per "
              "echo against `epoll_et`'s {edc}: {dc~edc}.")),
    Finding(
        "libaio", "Kernel AIO only polls sockets",
        fact="Linux's native AIO was built for `O_DIRECT` files: on a socket `IOCB_CMD_PREAD` "
             "runs inside `io_submit()` and blocks it until data arrives. So the server submits a "
             "one-shot `IOCB_CMD_POLL` per connection and re-arms it after every event (a loop "
             "turn's re-arms in one `io_submit()`), reaps with `io_getevents()` and moves the "
             "bytes with plain `read()` and `send()` (servers/libaio.c): a readiness model that "
             "costs per ready connection, like epoll.",
        cells=dict(sub=C(ACT, "libaio", "near1000", "sc_io_submit"),
                   get=C(ACT, "libaio", "near1000", "sc_io_getevents"),
                   rd=C(ACT, "libaio", "near1000", "sc_read"),
                   wr=C(ACT, "libaio", "near1000", "sc_sendto"),
                   tot=C(ACT, "libaio", "near1000", "syscalls_per_echo"),
                   etot=C(ACT, "epoll_et", "near1000", "syscalls_per_echo"),
                   dc=C(DEM, "libaio", "max", CPU), edc=C(DEM, "epoll_et", "max", CPU),
                   c=C(ACT, "libaio", "near1000", "cpu_us_per_echo"),
                   ec=C(ACT, "epoll_et", "near1000", "cpu_us_per_echo")),
        says=("At {sub.x} busy connections, per echo: {sub.v} `io_submit`, {get.v} "
              "`io_getevents`, {rd.v} `read` and {wr.v} `sendto`; {tot.v} system calls in all "
              "(`epoll_et`: {etot.v}).",
              "CPU per echo at a fixed {dc.rate} echoes/s over {dc.conns} connections: {dc} µs "
              "against `epoll_et`'s {edc}: {dc~edc}; in a closed loop at {c.x}: {c} µs against "
              "{ec}: {c~ec}.")),
    Finding(
        "ready", "epoll and io_uring scale with the active connections",
        fact="epoll keeps the interest list in the kernel and a ready list that the sockets' "
             "wake-up callbacks fill, so `epoll_wait()` costs in proportion to the ready "
             "descriptors, not the registered ones (servers/epoll_lt.c). io_uring returns "
             "completions through a ring shared with the kernel, and one `io_uring_enter()` "
             "submits and reaps a batch (servers/io_uring.c). Idle connections should cost them "
             "nothing per call.",
        cells=dict(l0=C(IDLE, "epoll_lt", "min", CPU), lN=C(IDLE, "epoll_lt", "max", CPU),
                   e0=C(IDLE, "epoll_et", "min", CPU), eN=C(IDLE, "epoll_et", "max", CPU),
                   u0=C(IDLE, "io_uring", "min", CPU), uN=C(IDLE, "io_uring", "max", CPU),
                   ue=C(ACT, "io_uring", "near1000", "sc_io_uring_enter"),
                   esc=C(ACT, "epoll_et", "near1000", "syscalls_per_echo"),
                   ew=C(ACT, "epoll_et", "near1000", "sc_epoll_wait"),
                   dl=C(DISP, "epoll_lt", "max", "ns_per_event", "random"),
                   dl1=C(DISP, "epoll_lt", 100, "ns_per_event", "random"),
                   du=C(DISP, "io_uring", "max", "ns_per_event", "random"),
                   du1=C(DISP, "io_uring", 100, "ns_per_event", "random")),
        says=("CPU per echo (µs) at {lN.rate} echoes/s with no idle connections and beside "
              "{lN.idle}: `epoll_lt` {l0} and {lN} ({lN~l0}); `epoll_et` {e0} and {eN} "
              "({eN~e0}); `io_uring` {u0} and {uN} ({uN~u0}).",
              "At {ue.x} busy connections `io_uring` made {ue.v} `io_uring_enter` calls per echo; "
              "`epoll_et` made {esc.v} system calls per echo, {ew.v} of them `epoll_wait`.",
              "Without TCP, an event through `epoll_lt` cost {dl.v} ns at N = {dl.x} and {dl1.v} "
              "ns at N = {dl1.x} ({dl/dl1}); through `io_uring` {du.v} and {du1.v} ns "
              "({du/du1})."),
        chart="dispatch"),
    Finding(
        "threads", "A thread per connection pays in memory and context switches",
        fact="`threads` gives each connection a thread blocked in `read()`: the scheduler is the "
             "event loop, so every message is a wake-up and a context switch, and every "
             "connection holds a kernel task, its kernel stack and the touched pages of its user "
             "stack (servers/threads.c). RSS counts the user-space part only.",
        cells=dict(tR=C(IDLE, "threads", "max", "rss_per_conn_b"),
                   eR=C(IDLE, "epoll_et", "max", "rss_per_conn_b"),
                   tT=C(IDLE, "threads", "max", "threads"),
                   tc=C(ACT, "threads", "near1000", "csw_per_echo"),
                   ec=C(ACT, "epoll_et", "near1000", "csw_per_echo"),
                   tm=C(ACT, "threads", "max", "msgs_per_s"), em=C(ACT, "epoll_et", "max", "msgs_per_s"),
                   th=C("churn", "threads", "max", "conns_per_s"),
                   eh=C("churn", "epoll_et", "max", "conns_per_s")),
        says=("Beside {tR.idle} idle connections: {tR} B of user-space memory per connection "
              "against `epoll_et`'s {eR} B: {tR~eR}. The server had {tT.v} threads at "
              "mid-window for {tT.conns} connections.",
              "At {tc.x} busy connections, context switches per echo: {tc} against `epoll_et`'s "
              "{ec}. At {tm.x}: {tm} echoes/s against {em}: {tm~em}.",
              "Churn (connect, one echo, close; {th.conns} at a time): {th} connections/s "
              "against `epoll_et`'s {eh}: {th~eh}."),
        tables=(Table(IDLE, "max", (Col("B RSS per connection", "rss_per_conn_b"),
                                    Col("threads", "threads", "v"),
                                    Col("descriptors", "fds", "v")),
                      models=C_MODELS, sort="rss_per_conn_b",
                      label="User-space memory per connection at {at.conns} connections, "
                            "{at.idle} of them idle, with the threads and descriptors /proc "
                            "showed for the server at mid-window (medians of the runs):"),),
        chart="rss"),
    Finding(
        "heavy", "One event loop stalls when a request needs CPU",
        fact="An event loop runs one handler at a time: a request that spins holds every other "
             "ready connection until it returns. A pool of workers, or a thread per connection, "
             "lets the scheduler run the light requests on another CPU or between time slices "
             "(the heavy sweep lets the server use every CPU).",
        cells=dict(el=C(HEAVY, "epoll_et", "max", "light_p99_us", "light"),
                   eh=C(HEAVY, "epoll_et", "max", "light_p99_us", "heavy"),
                   th=C(HEAVY, "threads", "max", "light_p99_us", "heavy"),
                   ph=C(HEAVY, "pool", "max", "light_p99_us", "heavy"),
                   rh=C(HEAVY, "reactors", "max", "light_p99_us", "heavy"),
                   ch=C(HEAVY, "coro", "max", "light_p99_us", "heavy")),
        says=("`epoll_et`'s light requests' p99 was {el} µs without heavy requests and {eh} µs "
              "beside them, every {eh.work_every}th message spinning {eh.work_us} µs: {eh~el}.",
              "Beside the heavy requests, against `epoll_et`: `threads` {th} µs ({th~eh}), "
              "`pool` {ph} µs ({ph~eh}), `reactors` {rh} µs ({rh~eh}), `coro` {ch} µs "
              "({ch~eh})."),
        tables=(Table(HEAVY, "max", (Col("light p50, no heavy (µs)", "light_p50_us", series="light"),
                                     Col("light p99, no heavy (µs)", "light_p99_us", series="light"),
                                     Col("light p50, heavy (µs)", "light_p50_us", series="heavy"),
                                     Col("light p99, heavy (µs)", "light_p99_us", series="heavy"),
                                     Col("threads", "threads", "v", series="heavy")),
                      models=C_MODELS, series="light"),),
        chart="heavy"),
    Finding(
        "cost", "What an echo costs when every connection is busy",
        fact="With every connection busy, the kernel's TCP work is most of an echo's cost and a "
             "scanning wait finds every descriptor ready, so the wait mechanisms differ least "
             "here. The generator, on its own CPU and making the same system calls per echo, "
             "saturates about when the server does (`client_saturated`): there the echoes/s are "
             "its limit, and the server's CPU per echo is the figure that tells models apart.",
        tables=(Table(ACT, "near1000", (Col("echoes/s", "msgs_per_s"),
                                        Col("µs CPU per echo", "cpu_us_per_echo"),
                                        Col("of which user", "user_us_per_echo", "user"),
                                        Col("system calls per echo", "syscalls_per_echo", "v"),
                                        Col("context switches per echo", "csw_per_echo", "v"),
                                        Col("generator CPU bound", "client_saturated", "flag")),
                      models=C_MODELS, sort="cpu_us_per_echo",
                      label="At {at.x} busy connections, closed loop, sorted by CPU per echo "
                            "(system calls: the kernel's count from one counted run):"),
                Claims(ACT, "near1000", "cpu_us_per_echo"),
                Claims(ACT, "near1000", "msgs_per_s"),
                Claims(ACT, "max", "msgs_per_s"),
                Table(DEM, "near1000", (Col("µs CPU per echo", CPU),
                                        Col("achieved / offered", "achieved_ratio", "v"),
                                        Col("p99 (µs)", "p99_us")),
                      models=C_MODELS, sort=CPU,
                      label="Service demand: at {at.rate} echoes/s over {at.x} connections, "
                            "open loop, the server's CPU per echo, sorted:"),
                Claims(DEM, "near1000", CPU)),
        chart="demand"),
    Finding(
        "churn", "Connection churn",
        fact="Connect, one echo, close: the cost is the kernel's connection set-up and "
             "teardown, and a model's own per-connection work (a thread created, a process "
             "forked).",
        tables=(Table("churn", "max", (Col("connections/s", "conns_per_s"),
                                       Col("generator CPU bound", "client_saturated", "flag")),
                      models=C_MODELS + RUNTIMES, sort="conns_per_s"),
                Claims("churn", "max", "conns_per_s", models=C_MODELS + RUNTIMES)),
        chart="churn"),
    Finding(
        "runtimes", "Other runtimes beside epoll_et and io_uring",
        fact="The reference rows (refservers/) are written the way each runtime's own "
             "documentation teaches. Underneath on Linux: `netty` and `java` the JDK's "
             "`Selector` (a level-triggered epoll set per loop); `java_nio2` one epoll set with "
             "a one-shot re-arm (`epoll_ctl`) for every operation that has to wait; `go` the "
             "netpoller (each socket registered once, edge-triggered; a goroutine parks on "
             "EAGAIN); `erlang` a poll thread over epoll with one-shot re-arms and a scheduler "
             "thread per CPU; `node` libuv. A JIT compiles the hot path only after seconds of "
             "load, so these rows get a warm-up of their own (`warmup_s` in harness/models.py); "
             "the counted run of the system calls is a fresh process.",
        tables=(Table(ACT, "near1000", (Col("echoes/s", "msgs_per_s"),
                                        Col("µs CPU per echo", "cpu_us_per_echo"),
                                        Col("of which user", "user_us_per_echo", "user"),
                                        Col("system calls per echo", "syscalls_per_echo", "v"),
                                        Col("by name, per echo", "syscalls_per_echo", "calls"),
                                        Col("threads", "threads", "v")),
                      models=("epoll_et", "io_uring") + RUNTIMES,
                      label="At {at.x} busy connections, closed loop:"),
                Claims(ACT, "near1000", "msgs_per_s", models=RUNTIMES),
                Claims(ACT, "near1000", "cpu_us_per_echo", models=RUNTIMES),
                Table(IDLE, "max", (Col("B RSS per connection", "rss_per_conn_b"),
                                    Col("threads", "threads", "v"),
                                    Col("µs CPU per echo, no idle", CPU, x="min"),
                                    Col("µs CPU per echo, most idle", CPU)),
                      models=("epoll_et", "io_uring") + RUNTIMES,
                      label="At {at.conns} connections, {at.idle} of them idle:"),
                Claims(IDLE, "max", "rss_per_conn_b", models=RUNTIMES),
                Table(HEAVY, "max", (Col("light p99, no heavy (µs)", "light_p99_us", series="light"),
                                     Col("light p99, heavy (µs)", "light_p99_us", series="heavy"),
                                     Col("threads", "threads", "v", series="heavy")),
                      models=("epoll_et",) + RUNTIMES, series="light",
                      label="Light requests' p99 without and beside heavy requests:"),
                Claims(HEAVY, "max", "light_p99_us", models=RUNTIMES, series="heavy"))),
    Finding(
        "pick", "Which model to pick",
        fact="For many connections of which few are busy at once, the C10K situation, pick a "
             "model whose cost follows the ready connections: epoll (edge- or level-triggered) "
             "or io_uring, directly or through an event library. epoll is the portable Linux "
             "default; io_uring makes the fewest system calls and needs a recent kernel "
             "(servers/io_uring.c names it). Run one loop per CPU (`reactors`) to use several "
             "CPUs (these sweeps pin the server to one; the cores sweep measures the gain, "
             "docs/multi-host.md), and move work that needs CPU off the loop. The figures:",
        cells=dict(ec=C(ACT, "epoll_et", "near1000", "cpu_us_per_echo"),
                   uc=C(ACT, "io_uring", "near1000", "cpu_us_per_echo"),
                   vc=C(ACT, "libev", "near1000", "cpu_us_per_echo"),
                   bc=C(ACT, "libevent", "near1000", "cpu_us_per_echo"),
                   lc=C(ACT, "libuv", "near1000", "cpu_us_per_echo"),
                   sN=C(IDLE, "select", "max", CPU), pN=C(IDLE, "poll", "max", CPU),
                   gN=C(IDLE, "sigio", "max", CPU), rN=C(IDLE, "rtsig", "max", CPU),
                   eN=C(IDLE, "epoll_et", "max", CPU),
                   pa=C(ACT, "posix_aio", "near1000", "msgs_per_s"),
                   ea=C(ACT, "epoll_et", "near1000", "msgs_per_s"),
                   eh=C(HEAVY, "epoll_et", "max", "light_p99_us", "heavy"),
                   ph=C(HEAVY, "pool", "max", "light_p99_us", "heavy"),
                   tm=C(ACT, "threads", "max", "msgs_per_s"), em=C(ACT, "epoll_et", "max", "msgs_per_s"),
                   fN=C(ACT, "prefork", "last", "msgs_per_s")),
        says=("- CPU per echo at {ec.x} busy connections, against `epoll_et`'s {ec} µs: "
              "`io_uring` {uc} ({uc~ec}), `libev` {vc} ({vc~ec}), `libevent` {bc} ({bc~ec}), "
              "`libuv` {lc} ({lc~ec}).",
              "- Beside {sN.idle} idle connections, CPU per echo against `epoll_et`'s {eN} µs: "
              "`select` {sN} ({sN~eN}), `poll` {pN} ({pN~eN}), `sigio` {gN} ({gN~eN}), `rtsig` "
              "{rN} ({rN~eN}).",
              "- glibc's POSIX AIO at {pa.x} busy connections: {pa} echoes/s against "
              "`epoll_et`'s {ea}: {pa~ea}.",
              "- A thread per connection at {tm.x} busy connections: {tm} echoes/s against "
              "`epoll_et`'s {em}: {tm~em}. A process per connection (`prefork`) was last "
              "measured at {fN.conns} connections (REPORT.md gives the reason of the next point).",
              "- Light requests' p99 beside heavy ones: `epoll_et` {eh} µs, `pool` {ph} µs: "
              "{ph~eh}.")),
)

CHARTS_TEXT = """\
The charts are drawn from points.csv by gnuplot (`plots/<kind>.gp`, as each sweep declares
them in harness/sweeps.py). A line chart has one panel per model family ({families}): each
panel draws its own models in colour over every other model in light grey, and the panels of
one figure share their scales. Each model keeps one colour, point type and dash on every
chart. The translucent band under a line is the points' intervals (`<fig>_lo`, `<fig>_hi` of
points.csv; a small box where a band cannot be drawn, an arrow where it runs past the panel); a
point with too few runs for an interval has the line alone. A circled point is an open-loop one
whose generator failed its own test (docs/open-loop.md); a failed point is an x on the chart's
floor, and REPORT.md lists it with its reason. Every chart also comes as an SVG: resting the pointer on a point
shows its model, value, interval and x. `<chart>.png.rows` says how many data rows gnuplot
drew per model and figure.
"""


README_MODELS = ("select", "poll", "sigio", "rtsig", "threads", "epoll_lt", "epoll_et", "io_uring")
