# bars.gp - the "bars" chart kind: per model, one stacked bar at one x (rows
# with column at_col == at_val): the part (solid) and the rest of the total
# (hatched), and the total's interval as an error bar (total_lo/total_hi:
# <total>_lo/_hi when the CSV has them, else _min/_max; none where the CSV
# has no interval). The y range is the bars' (bands.gp's YRANGE), never an
# interval's: an error bar past the top is clipped there and an arrow marks it.
#
# Variables (besides common.gp's): at_col, at_val, total_lo, total_hi, and
# from the chart's params: total, part, part_label, rest_label, ylabel.
load plotdir."/common.gp"

if (!exists("total_lo")) { total_lo = total; total_hi = total }
refrow(i) = okrow(i) && column(at_col) == at_val
R(i, c) = refrow(i) ? column(c) : NaN
LOGY = 0
unset logscale
# The bars' heights alone set the range.
set terminal unknown
set xrange [0.3:nm + 0.7]
set yrange [*:*]
plot for [i=1:nm] csv using (i):(R(i, total)) notitle
MED_LO = GPVAL_DATA_Y_MIN; MED_HI = GPVAL_DATA_Y_MAX
@YRANGE
W = 1100; H = 600
@TERM_SET
set title title.title_note
set ylabel ylabel
set xtics rotate by -40 nomirror
set xrange [0.3:nm + 0.7]; set yrange [YBOT:YTOP]
set xtics () ; do for [i=1:nm] { set xtics add (m(i) i) }
set boxwidth 0.7
set key inside left top box width 2
plot for [i=1:nm] csv using (i):(R(i, total)) with boxes fs pattern 4 border lc rgb model_color(m(i)) lc rgb model_color(m(i)) notitle, \
     for [i=1:nm] csv using (i):(R(i, part)) with boxes fs solid 0.85 border lc rgb "#000000" lc rgb model_color(m(i)) notitle, \
     for [i=1:nm] csv using (i):(R(i, total)):(clampy(R(i, total_lo))):(clampy(R(i, total_hi))) with yerrorbars lc rgb "#000000" pt 0 notitle, \
     for [i=1:nm] csv using (refrow(i) && above(column(total_hi)) ? i : NaN):(yat(0.95)):(0):(YTOP - yat(0.95)) with vectors @ARROW_HEAD lw 1.2 lc rgb "#000000" notitle, \
     NaN with boxes fs solid 0.85 lc rgb "#808080" title part_label, \
     NaN with boxes fs pattern 4 lc rgb "#808080" title rest_label
