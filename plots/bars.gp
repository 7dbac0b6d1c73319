# bars.gp - the "bars" chart kind: per model, one stacked bar at one x (rows
# with column at_col == at_val): the part (solid) and the rest of the total
# (hatched), an error bar from the total's repeats.
#
# Variables (besides common.gp's): at_col, at_val, and from the chart's
# params: total, part, part_label, rest_label, ylabel.
load plotdir."/common.gp"

refrow(i) = okrow(i) && column(at_col) == at_val
R(i, c) = refrow(i) ? column(c) : NaN
unset logscale
W = 1100; H = 600
@TERM_SET
set title title.title_note
set ylabel ylabel
set xtics rotate by -40 nomirror
set xrange [0.3:nm + 0.7]; set yrange [0:*]
set xtics () ; do for [i=1:nm] { set xtics add (m(i) i) }
set boxwidth 0.7
set key inside left top box width 2
plot for [i=1:nm] csv using (i):(R(i, total)) with boxes fs pattern 4 border lc rgb model_color(m(i)) lc rgb model_color(m(i)) notitle, \
     for [i=1:nm] csv using (i):(R(i, part)) with boxes fs solid 0.85 border lc rgb "#000000" lc rgb model_color(m(i)) notitle, \
     for [i=1:nm] csv using (i):(R(i, total)):(R(i, total."_min")):(R(i, total."_max")) with yerrorbars lc rgb "#000000" pt 0 notitle, \
     NaN with boxes fs solid 0.85 lc rgb "#808080" title part_label, \
     NaN with boxes fs pattern 4 lc rgb "#808080" title rest_label
