# stack.gp - the "stack" chart kind: per model, one bar at one x (rows with
# column at_col == at_val) stacked from several columns, e.g. the kernel's
# system calls per echo by call name, or a profile's shares by category.
# A part that no model has at that x (above `floor`) is left out of the bars
# and the legend, so a reader sees which parts each model is made of.
#
# Variables (besides common.gp's): at_col, at_val, and from the chart's
# params: cols (space-separated CSV columns, bottom first), labels (one word
# each, same order), ylabel, floor (optional, default 0), pct (optional: 1
# shows the y axis in percent of a share column).
load plotdir."/common.gp"

if (!exists("floor")) floor = 0
if (!exists("pct")) pct = 0
Z(x) = (x == x) ? x : 0
sel(i) = okrow(i) && column(at_col) == at_val
anyrow = 0
# The parts with a value above floor in some model at this x.
used = ""
do for [k=1:words(cols)] {
    c = word(cols, k)
    stats csv using (strcol("sweep") eq sweep && is_ok(strcol("status")) \
                     && column(at_col) == at_val ? Z(column(c)) : 0) nooutput
    if (STATS_max > floor) { used = used." ".k }
}
nu = words(used)
P(n) = int(word(used, n))
# The bar's top after its n-th used part, NaN on rows that are not model i's.
cum(i, n) = sel(i) ? sum [j=1:n] Z(column(word(cols, P(j)))) : NaN
array colors[12] = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", \
                    "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#e7ba52"]
color(n) = colors[(n - 1) % 12 + 1]
unset logscale
W = 1100; H = 600
@TERM_SET
set title title.title_note
set ylabel ylabel
if (pct) { set format y "%.0f%%" }
set xtics rotate by -40 nomirror
set xrange [0.3:nm + 0.7]; set yrange [0:*]
set xtics () ; do for [i=1:nm] { set xtics add (m(i) i) }
set boxwidth 0.7
set key outside right top box
S = pct ? 100 : 1
if (nu == 0) {
    set label 1 "nothing to show at this x" at graph 0.5, 0.5 center
    plot NaN notitle
} else {
    plot for [n=nu:1:-1] for [i=1:nm] csv using (i):(S * cum(i, n)) with boxes \
             fs solid 0.9 border lc rgb "#000000" lc rgb color(n) notitle, \
         for [n=nu:1:-1] NaN with boxes fs solid 0.9 lc rgb color(n) title word(labels, P(n))
}
