# panels.gp - the "panels" chart kind: one panel per series of the sweep
# (np: 1 to 4, laid out 1x1, 1x2 or 2x2), every model a line in every panel,
# on one x and one y scale across the panels (so the panels compare). The
# interval (ylo/yhi; dispatch: the repeats' range) is a translucent band
# under each line, or a small box where a band cannot be drawn (box<k>, as
# in lines.gp); the y scale is the medians' (bands.gp's YRANGE), a band
# past a panel's edge is clipped there and an arrow marks it. A failed
# point is an x in the model's colour on the panel's floor, at column xfail
# (its nominal x: a failed run measured none). The SVG shows each point's
# model, value, interval and x on hover. Used by the dispatch sweep
# (dispatch_report.chart_vars).
#
# Variables (besides common.gp's): xcol, xfail, xlabel, logx (0 or the log
# base), y, ylo, yhi, ylabel, logy (0/1), yfmt, np, series<k>, ptitle<k>,
# box<k> (see lines.gp).
# Writes <outdir>/<chart>.<term>.rows: "k series model rows" for every model
# of every panel, the data rows it drew (as lines.gp does).
load plotdir."/common.gp"

array cnt[4 * nm]
do for [i=1:4*nm] { cnt[i] = 0 }
COUNTING = 0
counted(i, x) = (COUNTING ? cnt[(k - 1) * nm + i] = cnt[(k - 1) * nm + i] + 1 : 0, x)
has(c) = column(c) == column(c)
Y(i, c) = okrow(i) ? column(c) : NaN
mine(i) = okrow(i) && has(y) && has(xcol)
YV(i) = Y(i, y)
# an interval's end, held just outside the panel; NaN where the CSV has none
IV(i, c) = ILO ne IHI && okrow(i) && has(c) ? clampy(column(c)) : NaN
ILO = ylo; IHI = yhi
X(i) = mine(i) ? counted(i, column(xcol)) : NaN
LINES = 'for [i=1:nm] csv using (X(i)):(Y(i, y)) with linespoints lc rgb model_color(m(i)) pt model_pt(m(i)) dt model_dt(m(i)) lw 1.5 ps 1.0 title m(i)'
ivl(i) = has(ylo) && has(yhi) ? sprintf("%.4g .. %.4g", column(ylo), column(yhi)) : "no interval"
HOVER = 'for [i=1:nm] csv using (mine(i) ? column(xcol) : NaN):(Y(i, y)):(sprintf("%s: %.4g (%s) at %s = %g", m(i), column(y), ivl(i), xlabel, column(xcol))) with labels hypertext point pt 7 ps 1.4 lc rgb "#FF000000" notitle'
FAILS = 'for [i=1:nm] csv using (failrow(i) ? column(xfail) : NaN):(failrow(i) ? YBOT : NaN) with points lc rgb model_color(m(i)) pt FAILED_PT ps 2 lw 2 notitle'
# the figures alone (no interval): what sets the scales
ALL = 'for [i=1:nm] csv using (okrow(i) ? column(xcol) : NaN):(Y(i, y)) with lines notitle'
PANEL = "if (term eq 'svg') { plot @BANDS, @BOXES, @LINES, @CLIPS, @HOVER, @FAILS } else { plot @BANDS, @BOXES, @LINES, @CLIPS, @FAILS }"

if (logx) { set logscale x logx } else { unset logscale x }
LOGY = logy
if (logy) { set logscale y } else { unset logscale y }
set format y yfmt

# One scale across the panels, from every series' medians.
SER = ""
set terminal unknown
set yrange [*:*]
plot @ALL
MED_LO = GPVAL_DATA_Y_MIN; MED_HI = GPVAL_DATA_Y_MAX; XLO = GPVAL_X_MIN; XHI = GPVAL_X_MAX
# failed points sit at their nominal x: keep them inside the x range
if (fails) {
    plot for [i=1:nm] csv using (failrow(i) ? column(xfail) : NaN):(1) notitle
    XLO = (GPVAL_X_MIN < XLO ? GPVAL_X_MIN : XLO); XHI = (GPVAL_X_MAX > XHI ? GPVAL_X_MAX : XHI)
}
@YRANGE

nc = np > 1 ? 2 : 1
nr = np > 2 ? 2 : 1
W = nc == 1 ? 1100 : 1400
H = nr == 1 ? 620 : 1050
@TERM_SET
set multiplot title title.title_note
# a little room at both ends (log x: a factor; linear: 3% of the range)
if (logx) { set xrange [XLO / 1.3:XHI * 1.3] } else { set xrange [XLO - 0.03 * (XHI - XLO):XHI + 0.03 * (XHI - XLO)] }
set yrange [YBOT:YTOP]
# a box is 3% of the x range wide
BOXF = logx ? ((XHI * 1.3) / (XLO / 1.3)) ** 0.015 : 1; BOXW = 0.015 * (XHI - XLO)
set xlabel xlabel
set ylabel ylabel
COUNTING = 1
do for [k=1:np] {
    r = (k - 1) / nc
    c = (k - 1) % nc
    if (nc == 1) { set lmargin at screen 0.08; set rmargin at screen 0.80 } \
    else { if (c == 0) { set lmargin at screen 0.06; set rmargin at screen 0.42 } \
           else { set lmargin at screen 0.49; set rmargin at screen 0.85 } }
    ph = 0.86 / nr
    set tmargin at screen 0.89 - r * ph
    set bmargin at screen 0.89 - (r + 1) * ph + (nr == 1 ? 0.11 : 0.07)
    if (k == nc) { set key outside right top box opaque samplen 3 } else { unset key }
    if (r == nr - 1) { set xlabel xlabel } else { unset xlabel }
    SER = value('series'.k); BOXED = value('box'.k)
    set title value('ptitle'.k)
    @PANEL
}
unset multiplot

# The rows each model's line drew, for the chart checks.
set print outdir.'/'.chart.'.'.term.'.rows'
do for [k=1:np] {
    do for [i=1:nm] { print sprintf("%d\t%s\t%s\t%d", k, value('series'.k), m(i), cnt[(k - 1) * nm + i]) }
}
unset print
