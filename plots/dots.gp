# dots.gp - the "dots" chart kind: per model, two series side by side (left
# s1, right s2) at one x (rows with at_col == at_val), two columns each (c1
# and c2), each with its interval as an error bar (c1_lo/_hi, c2_lo/_hi:
# <c>_lo/_hi when the CSV has them, else _min/_max; none where the CSV has
# no interval); log y. Open points for s1, filled for s2. The y range is
# the points' (bands.gp's YRANGE), never an interval's: an error bar past
# an edge is clipped there and an arrow marks it.
#
# Variables (besides common.gp's): at_col, at_val, s1, s2 (the sweep's first
# two series), c1_lo, c1_hi, c2_lo, c2_hi, and from the chart's params:
# s1_label, s2_label, c1, c2, c1_label, c2_label, ylabel.
load plotdir."/common.gp"

if (!exists("c1_lo")) { c1_lo = c1; c1_hi = c1 }
if (!exists("c2_lo")) { c2_lo = c2; c2_hi = c2 }
hrow(i, s) = okrow(i) && strcol("series") eq s && column(at_col) == at_val
H(i, s, c) = hrow(i, s) ? column(c) : NaN
# one point of model i: (x offset, series, column, its interval's columns, point type)
DOT(dx, s, c, lo, hi, pt) = sprintf("for [i=1:nm] csv using (i %+g):(H(i, '%s', '%s')):(clampy(H(i, '%s', '%s'))):(clampy(H(i, '%s', '%s'))) with yerrorbars lc rgb model_color(m(i)) pt %d ps 1.5 notitle", dx, s, c, s, lo, s, hi, pt)
UP(dx, s, hi) = sprintf("for [i=1:nm] csv using (hrow(i, '%s') && above(column('%s')) ? i %+g : NaN):(yat(0.95)):(0):(YTOP - yat(0.95)) with vectors @ARROW_HEAD lw 1.2 lc rgb model_color(m(i)) notitle", s, hi, dx)
DOWN(dx, s, lo) = sprintf("for [i=1:nm] csv using (hrow(i, '%s') && below(column('%s')) ? i %+g : NaN):(yat(0.05)):(0):(YBOT - yat(0.05)) with vectors @ARROW_HEAD lw 1.2 lc rgb model_color(m(i)) notitle", s, lo, dx)
LOGY = 1
set logscale y
# The points alone set the range.
set terminal unknown
set xrange [0.3:nm + 0.7]
set yrange [*:*]
plot for [i=1:nm] csv using (i):(H(i, s1, c1)) notitle, for [i=1:nm] csv using (i):(H(i, s1, c2)) notitle, \
     for [i=1:nm] csv using (i):(H(i, s2, c1)) notitle, for [i=1:nm] csv using (i):(H(i, s2, c2)) notitle
MED_LO = GPVAL_DATA_Y_MIN; MED_HI = GPVAL_DATA_Y_MAX
@YRANGE
W = 1100; H = 600
@TERM_SET
set title title.title_note
set ylabel ylabel
set format y "%.0s%c"
set xtics rotate by -40 nomirror
set xrange [0.3:nm + 0.7]; set yrange [YBOT:YTOP]
set xtics () ; do for [i=1:nm] { set xtics add (m(i) i) }
set key inside left top box opaque
P1 = DOT(-0.15, s1, c1, c1_lo, c1_hi, 6); P2 = DOT(-0.15, s1, c2, c2_lo, c2_hi, 8)
P3 = DOT(0.15, s2, c1, c1_lo, c1_hi, 7); P4 = DOT(0.15, s2, c2, c2_lo, c2_hi, 9)
A1 = UP(-0.15, s1, c1_hi).", ".UP(-0.15, s1, c2_hi).", ".UP(0.15, s2, c1_hi).", ".UP(0.15, s2, c2_hi)
A2 = DOWN(-0.15, s1, c1_lo).", ".DOWN(-0.15, s1, c2_lo).", ".DOWN(0.15, s2, c1_lo).", ".DOWN(0.15, s2, c2_lo)
plot @P1, @P2, @P3, @P4, @A1, @A2, \
     NaN with points lc rgb "#000000" pt 6 ps 1.5 title c1_label.", ".s1_label, \
     NaN with points lc rgb "#000000" pt 8 ps 1.5 title c2_label.", ".s1_label, \
     NaN with points lc rgb "#000000" pt 7 ps 1.5 title c1_label.", ".s2_label, \
     NaN with points lc rgb "#000000" pt 9 ps 1.5 title c2_label.", ".s2_label
