# compare.gp - one overlay chart of two runs (harness/compare.py): the top
# panel draws each model's figure (the median of its runs) in run A (solid)
# and run B (dashed), each over a translucent band of its 95% interval; the
# bottom panel the ratio B/A (of the medians) over the band of its
# Hodges-Lehmann 95% interval, around the line at 1. A point with no
# neighbour with an interval (one x) has a small box for its interval
# instead of a band; where there is no interval (too few runs) the line goes
# on alone. The top panel's
# y range is the medians' (bands.gp's YRANGE), the ratio panel's the
# ratios' (rlo/rhi): an interval past an edge is clipped there and an arrow
# marks it.
#
# Variables (gnuplot -e): dat (the chart's data: one block per model, in
# `models` order, columns x a a_lo a_hi b b_lo b_hi ratio ratio_lo ratio_hi;
# NaN where there is none), out (the PNG), plotdir, style (the models'
# styles, harness/models.py --gnuplot), models, box_a, box_b, box_r (per
# model the x values whose interval is a box, ",x,x,", as lines.gp's box<k>),
# title,
# xlabel, ylabel, logx (0 or the base), logy (0/1), rlo/rhi (the ratio
# panel's range: the ratios', not their intervals', which with few runs can
# be wide enough to flatten every ratio onto the line at 1).

load style
load plotdir."/bands.gp"
nm = words(models)
m(i) = word(models, i)
inbox(set, i, x) = strstrt(word(value(set), i), sprintf(",%g,", x)) > 0
bx(x, s) = logx ? x * 1.04 ** s : x + s * BOXW
# Per model i: the band (or boxes) of columns lo:hi under column c's line.
BAND(i, c, lo, hi, set) = sprintf("dat index %d using (inbox('%s', %d, $1) ? NaN : $1):(clampy($%d)):(clampy($%d)) with filledcurves @BAND_FS lc rgb model_color(m(%d)) notitle, dat index %d using (inbox('%s', %d, $1) ? $1 : NaN):%d:(inbox('%s', %d, $1) ? bx($1, -1) : NaN):(inbox('%s', %d, $1) ? bx($1, 1) : NaN):(clampy($%d)):(clampy($%d)) with boxxyerror @BAND_FS lc rgb model_color(m(%d)) notitle", i - 1, set, i, lo, hi, i, i - 1, set, i, c, set, i, set, i, lo, hi, i)
CLIP(i, lo, hi) = sprintf("dat index %d using ($%d > YTOP ? $1 : NaN):(yat(0.95)):(0):(YTOP - yat(0.95)) with vectors @ARROW_HEAD lw 1.2 lc rgb model_color(m(%d)) notitle, dat index %d using ($%d < YBOT ? $1 : NaN):(yat(0.05)):(0):(YBOT - yat(0.05)) with vectors @ARROW_HEAD lw 1.2 lc rgb model_color(m(%d)) notitle", i - 1, hi, i, i - 1, lo, i)
TOP = ""; RATIO = ""
do for [i=1:nm] {
    TOP = TOP.BAND(i, 2, 3, 4, "box_a").", ".BAND(i, 5, 6, 7, "box_b").", ".CLIP(i, 3, 4).", ".CLIP(i, 6, 7).", "
    RATIO = RATIO.BAND(i, 8, 9, 10, "box_r").", ".CLIP(i, 9, 10).", "
}
H = 780
if (logx) { set logscale x logx } else { unset logscale x }

# The top panel's range: the medians of both runs.
set terminal unknown
LOGY = logy
if (logy) { set logscale y } else { unset logscale y }
set yrange [*:*]
plot for [i=1:nm] dat index (i - 1) using 1:2 notitle, for [i=1:nm] dat index (i - 1) using 1:5 notitle
MED_LO = GPVAL_DATA_Y_MIN; MED_HI = GPVAL_DATA_Y_MAX
BOXW = 0.012 * (GPVAL_X_MAX - GPVAL_X_MIN)
@YRANGE
set xrange [*:*]

set terminal pngcairo size 1100,H font 'Sans,10'
set termoption noenhanced
set output out
set grid lc rgb "#d0d0d0"
set border lc rgb "#404040"
set key outside right top box opaque samplen 3

set multiplot title title."  (A solid, B dashed; bands: 95% intervals)"
set lmargin at screen 0.09
set rmargin at screen 0.80
set tmargin at screen 0.93
set bmargin at screen 0.40
unset xlabel
set format x ""
set ylabel ylabel
set yrange [YBOT:YTOP]
plot @TOP \
     for [i=1:nm] dat index (i - 1) using 1:2 with linespoints \
         lc rgb model_color(m(i)) pt model_pt(m(i)) dt 1 lw 1.8 title m(i), \
     for [i=1:nm] dat index (i - 1) using 1:5 with linespoints \
         lc rgb model_color(m(i)) pt model_pt(m(i)) dt 2 lw 1.4 notitle

set tmargin at screen 0.37
set bmargin at screen 0.08
set format x "%g"
set xlabel xlabel
set ylabel "B / A (95% interval)"
LOGY = 0; YBOT = rlo; YTOP = rhi
unset logscale y
set yrange [YBOT:YTOP]
set key off
plot @RATIO \
     for [i=1:nm] dat index (i - 1) using 1:8 with linespoints \
         lc rgb model_color(m(i)) pt model_pt(m(i)) dt 1 lw 1.4 notitle, \
     1 with lines lc rgb "#606060" dt 2 lw 1.5 notitle
unset multiplot
