# compare.gp - one overlay chart of two runs (harness/compare.py): the top
# panel draws each model's figure in run A (solid) and run B (dashed) with
# their 95% intervals, the bottom panel the ratio B/A with Fieller's 95%
# interval around the line at 1.
#
# Variables (gnuplot -e): dat (the chart's data: one block per model, in
# `models` order, columns x a a_lo a_hi b b_lo b_hi ratio ratio_lo ratio_hi),
# out (the PNG), style (the models' styles, harness/models.py --gnuplot),
# models, title, xlabel, ylabel, logx (0 or the base), logy (0/1), rlo/rhi
# (the ratio panel's range: the ratios', not their intervals', which with two
# repeats can be wide enough to flatten every ratio onto the line at 1).

load style
nm = words(models)
m(i) = word(models, i)
H = 780
set terminal pngcairo size 1100,H font 'Sans,10'
set termoption noenhanced
set output out
set datafile missing "NaN"
set grid lc rgb "#d0d0d0"
set border lc rgb "#404040"
set key outside right top box opaque samplen 3
if (logx) { set logscale x logx } else { unset logscale x }

set multiplot title title."  (A solid, B dashed)"
set lmargin at screen 0.09
set rmargin at screen 0.80
set tmargin at screen 0.93
set bmargin at screen 0.40
unset xlabel
set format x ""
set ylabel ylabel
if (logy) { set logscale y } else { unset logscale y; set yrange [0:*] }
plot for [i=1:nm] dat index (i - 1) using 1:2:3:4 with yerrorlines \
         lc rgb model_color(m(i)) pt model_pt(m(i)) dt 1 lw 1.8 title m(i), \
     for [i=1:nm] dat index (i - 1) using 1:5:6:7 with yerrorlines \
         lc rgb model_color(m(i)) pt model_pt(m(i)) dt 2 lw 1.4 notitle

set tmargin at screen 0.37
set bmargin at screen 0.08
set format x "%g"
set xlabel xlabel
set ylabel "B / A (95% interval)"
unset logscale y
set yrange [rlo:rhi]
set key off
plot for [i=1:nm] dat index (i - 1) using 1:8:9:10 with yerrorlines \
         lc rgb model_color(m(i)) pt model_pt(m(i)) dt 1 lw 1.4 notitle, \
     1 with lines lc rgb "#606060" dt 2 lw 1.5 notitle
unset multiplot
