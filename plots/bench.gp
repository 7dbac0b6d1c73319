# bench.gp - one chart of a c10k-bench run, from the run's points.csv.
#
#   gnuplot -e "csv='points.csv'; outdir='.'; chart='throughput'; term='png'; \
#               models='epoll_lt poll'; plotdir='plots'" plots/bench.gp
#
# chart: throughput latency idle rate cpu syscalls rss churn heavy size
# term:  png | svg.  models: the models to draw, space separated, in order.
# Optional: ref_conns (cpu chart, default 1000), heavy_rate (heavy chart),
#           rate_series (rate chart panels, default "idle0 idle10000"),
#           fails (1 = the chart has failed points to mark on its floor).
# harness/report.py calls this once per chart and format.

if (!exists("plotdir")) plotdir = "plots"
if (!exists("ref_conns")) ref_conns = 1000
if (!exists("heavy_rate")) heavy_rate = 20000
if (!exists("rate_series")) rate_series = "idle0 idle10000"
if (!exists("fails")) fails = 0
if (!exists("title_note")) title_note = ""
load plotdir."/style.gp"

set datafile separator comma
W = 1100; H = 650
TERM_SET = "if (term eq 'svg') { set terminal svg size W,H dynamic font 'Helvetica,12' background '#ffffff' } else { set terminal pngcairo size W,H font 'Sans,10' }; set termoption noenhanced; set output outdir.'/'.chart.'.'.term"

nm = words(models)
m(i) = word(models, i)
is_ok(s) = s eq "ok" || s eq "partial"
# Row selection: this chart's sweep (and series), the i-th model.
SW = ""; SER = ""
row(i) = strcol("sweep") eq SW && (SER eq "" || strcol("series") eq SER) && strcol("model") eq m(i)
okrow(i) = row(i) && is_ok(strcol("status"))
failrow(i) = row(i) && strcol("status") eq "failed"
# A selected row's value, NaN elsewhere (so other rows do not autoscale).
Yc(i, c) = okrow(i) ? column(c) : NaN

set grid lc rgb "#d0d0d0"
set key outside right top box opaque samplen 3
set border lc rgb "#404040"
set termoption noenhanced
set mxtics 10

# A line chart of column YC against XC, error bars from YC_min/YC_max, and
# the failed points as an x on the chart's floor (yfloor).
LINES = 'for [i=1:nm] csv using (okrow(i) ? column(XC) : NaN):(Yc(i, YC)):(Yc(i, YC."_min")):(Yc(i, YC."_max")) with yerrorlines lc rgb model_color(m(i)) pt model_pt(m(i)) dt model_dt(m(i)) lw 1.5 ps 1.2 title m(i)'
FAILS = 'for [i=1:nm] csv using (failrow(i) ? column(XC) : NaN):(failrow(i) ? yfloor : NaN) with points lc rgb model_color(m(i)) pt FAILED_PT ps 2.5 lw 2 notitle, NaN with points lc rgb "#000000" pt FAILED_PT ps 2 lw 2 title "failed"'

# floor(): autoscale a panel on the unknown terminal, keep its lower edge.
FLOOR = "set terminal unknown; plot @LINES; yfloor = GPVAL_Y_MIN"
PANEL = "if (fails) { plot @LINES, @FAILS } else { plot @LINES }"

if (chart eq "throughput") {
    SW = "active"; XC = "conns"; YC = "msgs_per_s"
    set logscale x
    set yrange [0:*]
    @FLOOR
    @TERM_SET
    set title "Throughput against active connections (closed loop, 64 B, depth 1)".title_note
    set xlabel "active connections"; set ylabel "echoes per second"
    set format y "%.0s%c"
    @PANEL
}

if (chart eq "latency" || chart eq "syscalls" || chart eq "idle" || chart eq "rate") {
    # Two panels side by side.
    if (chart eq "latency") { SW = "active"; XC = "conns"; Y1 = "p50_us"; Y2 = "p99_us"; \
        L1 = "p50 latency (us)"; L2 = "p99 latency (us)"; XL = "active connections"; \
        T = "Latency against active connections (closed loop)"; LOGX = 1; LOGY = 1 }
    if (chart eq "syscalls") { SW = "active"; XC = "conns"; Y1 = "syscalls_per_echo"; Y2 = "csw_per_echo"; \
        L1 = "server system calls per echo"; L2 = "server context switches per echo"; \
        XL = "active connections"; T = "System calls and context switches per echo"; LOGX = 1; LOGY = 1 }
    if (chart eq "idle") { SW = "idle"; XC = "idle"; Y1 = "msgs_per_s"; Y2 = "p99_us"; \
        L1 = "echoes per second (100 active)"; L2 = "p99 latency (us)"; XL = "idle connections"; \
        T = "100 active connections among idle ones: the C10K curve"; LOGX = 0; LOGY = 0; LOGY2 = 1 }
    if (chart eq "rate") { SW = "rate"; XC = "rate"; Y1 = "p99_us"; Y2 = "p99_us"; \
        L1 = "p99 latency (us)"; L2 = "p99 latency (us)"; XL = "offered load (echoes/s, open loop)"; \
        T = "Latency against offered load (coordinated omission corrected)"; LOGX = 0; LOGY = 1 }
    if (!exists("LOGY2") || chart ne "idle") { LOGY2 = LOGY }   # right panel's y scale
    if (LOGX) { set logscale x } else { unset logscale x }
    if (LOGY) { set logscale y; set yrange [*:*] } else { unset logscale y; set yrange [0:*] }
    YC = Y1
    if (chart eq "rate") { SER = word(rate_series, 1) }
    @FLOOR
    yfloor1 = yfloor
    YC = Y2
    if (chart eq "rate") { SER = word(rate_series, 2) }
    if (LOGY2) { set logscale y; set yrange [*:*] }
    if (chart eq "rate" && words(rate_series) < 2) { yfloor2 = yfloor1 } else { @FLOOR; yfloor2 = yfloor }
    if (LOGY) { set logscale y; set yrange [*:*] } else { unset logscale y; set yrange [0:*] }
    W = 1400; H = 620
    @TERM_SET
    set multiplot layout 1,2 title T.title_note
    # Same-size panels, the key in the right margin (not over the data).
    set tmargin at screen 0.90; set bmargin at screen 0.11
    set lmargin at screen 0.06; set rmargin at screen 0.43
    unset key
    set xlabel XL
    if (LOGY) { set format y "%.0s%c" } else { set format y "%.0s%c" }
    YC = Y1; yfloor = yfloor1; set ylabel L1
    if (chart eq "rate") { SER = word(rate_series, 1); set title SER eq "idle0" ? "no idle connections" : "with ".substr(SER, 5, 99)." idle connections" }
    @PANEL
    set lmargin at screen 0.51; set rmargin at screen 0.88
    set key outside right top box opaque
    if (LOGY2) { set logscale y; set yrange [*:*] }
    YC = Y2; yfloor = yfloor2; set ylabel L2
    if (chart eq "rate") { SER = word(rate_series, words(rate_series)); set title SER eq "idle0" ? "no idle connections" : "with ".substr(SER, 5, 99)." idle connections" }
    if (!(chart eq "rate" && words(rate_series) < 2)) { @PANEL }
    unset multiplot
}

if (chart eq "rss") {
    SW = "idle"; XC = "conns"; YC = "rss_per_conn_b"
    unset logscale y
    set logscale x
    set yrange [0:*]
    @FLOOR
    @TERM_SET
    set title "Server memory per connection: (VmRSS loaded - VmRSS at READY) / connections".title_note
    set xlabel "connections (100 active, the rest idle)"; set ylabel "bytes of RSS per connection (user space only)"
    @PANEL
}

if (chart eq "churn") {
    SW = "churn"; XC = "conns"; YC = "conns_per_s"
    set logscale x
    set yrange [0:*]
    @FLOOR
    @TERM_SET
    set title "Connection churn: connect, one echo, close".title_note
    set xlabel "concurrent connectors"; set ylabel "connections per second"
    set format y "%.0s%c"
    @PANEL
}

if (chart eq "size") {
    SW = "size"; XC = "size"; YC = "msgs_per_s"
    set logscale x 2
    set logscale y
    @FLOOR
    @TERM_SET
    set title "Echoes per second against message size (100 active)".title_note
    set xlabel "message size (bytes)"; set ylabel "echoes per second"
    set format y "%.0s%c"
    @PANEL
}

set xtics rotate by -40 nomirror
unset mxtics
if (chart eq "cpu") {
    # Stacked bars at one point: user (solid) + system (hatched) = total.
    SW = "active"
    refrow(i) = okrow(i) && column("conns") == ref_conns
    R(i, c) = refrow(i) ? column(c) : NaN
    unset logscale
    W = 1100; H = 600
    @TERM_SET
    set title sprintf("Server CPU per echo at %d active connections: user (solid) + system (hatched)", ref_conns).title_note
    set ylabel "server CPU microseconds per echo"
    set xrange [0.3:nm + 0.7]; set yrange [0:*]
    set xtics () ; do for [i=1:nm] { set xtics add (m(i) i) }
    set boxwidth 0.7
    set key inside left top box width 2
    plot for [i=1:nm] csv using (i):(refrow(i) ? column("cpu_us_per_echo") : NaN) with boxes fs pattern 4 border lc rgb model_color(m(i)) lc rgb model_color(m(i)) notitle, \
         for [i=1:nm] csv using (i):(refrow(i) ? column("user_us_per_echo") : NaN) with boxes fs solid 0.85 border lc rgb "#000000" lc rgb model_color(m(i)) notitle, \
         for [i=1:nm] csv using (i):(R(i, "cpu_us_per_echo")):(R(i, "cpu_us_per_echo_min")):(R(i, "cpu_us_per_echo_max")) with yerrorbars lc rgb "#000000" pt 0 notitle, \
         NaN with boxes fs solid 0.85 lc rgb "#808080" title "user", \
         NaN with boxes fs pattern 4 lc rgb "#808080" title "system"
}

if (chart eq "heavy") {
    # Per model, the LIGHT requests only (loadgen --work-every splits by the
    # server's key): light-only baseline (left) and with 1% heavy (right);
    # p50 o, p99 triangle. One loop: the light p99 jumps to the heavy time.
    SW = "heavy"
    hrow(i, s) = okrow(i) && strcol("series") eq s && column("rate") == heavy_rate
    H(i, s, c) = hrow(i, s) ? column(c) : NaN
    set logscale y
    W = 1100; H = 600
    @TERM_SET
    set title sprintf("Light requests' p50 and p99 at %d echoes/s, alone and beside 1%% heavy ones (%s ms of CPU each)", heavy_rate, heavy_ms).title_note
    set ylabel "light request latency (us)"
    set format y "%.0s%c"
    set xrange [0.3:nm + 0.7]
    set xtics () ; do for [i=1:nm] { set xtics add (m(i) i) }
    set key inside left top box opaque
    plot for [i=1:nm] csv using (i - 0.15):(H(i, "light", "light_p50_us")):(H(i, "light", "light_p50_us_min")):(H(i, "light", "light_p50_us_max")) with yerrorbars lc rgb model_color(m(i)) pt 6 ps 1.5 notitle, \
         for [i=1:nm] csv using (i - 0.15):(H(i, "light", "light_p99_us")):(H(i, "light", "light_p99_us_min")):(H(i, "light", "light_p99_us_max")) with yerrorbars lc rgb model_color(m(i)) pt 8 ps 1.5 notitle, \
         for [i=1:nm] csv using (i + 0.15):(H(i, "heavy", "light_p50_us")):(H(i, "heavy", "light_p50_us_min")):(H(i, "heavy", "light_p50_us_max")) with yerrorbars lc rgb model_color(m(i)) pt 7 ps 1.5 notitle, \
         for [i=1:nm] csv using (i + 0.15):(H(i, "heavy", "light_p99_us")):(H(i, "heavy", "light_p99_us_min")):(H(i, "heavy", "light_p99_us_max")) with yerrorbars lc rgb model_color(m(i)) pt 9 ps 1.5 notitle, \
         NaN with points lc rgb "#000000" pt 6 ps 1.5 title "light p50, no heavy load", \
         NaN with points lc rgb "#000000" pt 8 ps 1.5 title "light p99, no heavy load", \
         NaN with points lc rgb "#000000" pt 7 ps 1.5 title "light p50, 1% heavy", \
         NaN with points lc rgb "#000000" pt 9 ps 1.5 title "light p99, 1% heavy"
}
