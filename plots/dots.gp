# dots.gp - the "dots" chart kind: per model, two series side by side (left
# s1, right s2) at one x (rows with at_col == at_val), two columns each (c1
# and c2), with error bars from the repeats; log y. Open points for s1,
# filled for s2.
#
# Variables (besides common.gp's): at_col, at_val, s1, s2 (the sweep's first
# two series), and from the chart's params: s1_label, s2_label, c1, c2,
# c1_label, c2_label, ylabel.
load plotdir."/common.gp"

hrow(i, s) = okrow(i) && strcol("series") eq s && column(at_col) == at_val
H(i, s, c) = hrow(i, s) ? column(c) : NaN
set logscale y
W = 1100; H = 600
@TERM_SET
set title title.title_note
set ylabel ylabel
set format y "%.0s%c"
set xtics rotate by -40 nomirror
set xrange [0.3:nm + 0.7]
set xtics () ; do for [i=1:nm] { set xtics add (m(i) i) }
set key inside left top box opaque
plot for [i=1:nm] csv using (i - 0.15):(H(i, s1, c1)):(H(i, s1, c1."_min")):(H(i, s1, c1."_max")) with yerrorbars lc rgb model_color(m(i)) pt 6 ps 1.5 notitle, \
     for [i=1:nm] csv using (i - 0.15):(H(i, s1, c2)):(H(i, s1, c2."_min")):(H(i, s1, c2."_max")) with yerrorbars lc rgb model_color(m(i)) pt 8 ps 1.5 notitle, \
     for [i=1:nm] csv using (i + 0.15):(H(i, s2, c1)):(H(i, s2, c1."_min")):(H(i, s2, c1."_max")) with yerrorbars lc rgb model_color(m(i)) pt 7 ps 1.5 notitle, \
     for [i=1:nm] csv using (i + 0.15):(H(i, s2, c2)):(H(i, s2, c2."_min")):(H(i, s2, c2."_max")) with yerrorbars lc rgb model_color(m(i)) pt 9 ps 1.5 notitle, \
     NaN with points lc rgb "#000000" pt 6 ps 1.5 title c1_label.", ".s1_label, \
     NaN with points lc rgb "#000000" pt 8 ps 1.5 title c2_label.", ".s1_label, \
     NaN with points lc rgb "#000000" pt 7 ps 1.5 title c1_label.", ".s2_label, \
     NaN with points lc rgb "#000000" pt 9 ps 1.5 title c2_label.", ".s2_label
