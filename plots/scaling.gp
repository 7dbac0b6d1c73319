# scaling.gp - the "scaling" chart kind (the cores sweep, issue 14): one
# panel per series (1,000 and 10,000 active), a figure against the server's
# CPUs S on a log2 axis, each model in its colour, and its ideal line dashed
# in the same colour from its first measured point (x0, y0): ideal "linear"
# = y0 x S / x0 (echoes per second), "flat" = y0 (CPU per echo).
#
# Variables (besides common.gp's): xcol, xlabel, np (1 or 2), y, ylabel,
# ideal (linear | flat), and per panel k: series<k>, ptitle<k>, x0<k>, y0<k>
# (each model's first point, space separated in `models` order).
load plotdir."/common.gp"

X0(k, i) = real(word(value('x0'.k), i))
Y0(k, i) = real(word(value('y0'.k), i))
IDEAL(k, i, s) = (ideal eq "flat") ? Y0(k, i) : Y0(k, i) * s / X0(k, i)
H = 80 + 330 * np
W = 950
@TERM_SET
set multiplot layout np, 1 title title
set logscale x 2
set format x "%g"
set key outside right top box opaque samplen 3
do for [k=1:np] {
    SER = value('series'.k)
    set title value('ptitle'.k)
    set xlabel xlabel
    set ylabel ylabel
    set yrange [0:*]
    plot for [i=1:nm] csv using (okrow(i) ? column(xcol) : NaN):(Yc(i, y)) \
             with linespoints lc rgb model_color(m(i)) pt model_pt(m(i)) lw 1.8 ps 1.1 title m(i), \
         for [i=1:nm] csv using (okrow(i) && X0(k, i) > 0 ? column(xcol) : NaN):(okrow(i) && X0(k, i) > 0 ? IDEAL(k, i, column(xcol)) : NaN) \
             with lines lc rgb model_color(m(i)) dt 2 lw 1 notitle, \
         for [i=1:nm] csv using (fails && failrow(i) ? column(xcol) : NaN):(0) \
             with points lc rgb model_color(m(i)) pt 2 ps 2 lw 2 notitle
}
unset multiplot
