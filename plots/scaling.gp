# scaling.gp - the "scaling" chart kind (the cores sweep, issue 14): one
# panel per series (1,000 and 10,000 active), a figure against the server's
# CPUs S on a log2 axis, each model in its colour, and its ideal line dashed
# in the same colour from its first measured point (x0, y0): ideal "linear"
# = y0 x S / x0 (echoes per second), "flat" = y0 (CPU per echo). The
# figure's interval (ylo/yhi) is a translucent band under the line, or a
# small box where a band cannot be drawn (box<k>, as in lines.gp). Each
# panel's y range is its medians' (bands.gp's YRANGE), not the intervals'
# nor the ideal lines': what runs past an edge is clipped there (an
# interval's end with an arrow). A failed point is an x on the floor.
#
# Variables (besides common.gp's): xcol, xlabel, np (1 or 2), y, ylo, yhi,
# ylabel, ideal (linear | flat), and per panel k: series<k>, ptitle<k>,
# box<k>, x0<k>, y0<k> (each model's first point, space separated in
# `models` order).
load plotdir."/common.gp"

X0(k, i) = real(word(value('x0'.k), i))
Y0(k, i) = real(word(value('y0'.k), i))
IDEAL(k, i, s) = (ideal eq "flat") ? Y0(k, i) : Y0(k, i) * s / X0(k, i)
has(c) = column(c) == column(c)
mine(i) = okrow(i) && has(y)
YV(i) = Yc(i, y)
IV(i, c) = ILO ne IHI && okrow(i) && has(c) ? clampy(column(c)) : NaN
ILO = ylo; IHI = yhi
logx = 2; BOXF = 1.06; BOXW = 0
LINES = 'for [i=1:nm] csv using (mine(i) ? column(xcol) : NaN):(Yc(i, y)) with linespoints lc rgb model_color(m(i)) pt model_pt(m(i)) lw 1.8 ps 1.1 title m(i)'
IDEALS = 'for [i=1:nm] csv using (okrow(i) && X0(k, i) > 0 ? column(xcol) : NaN):(okrow(i) && X0(k, i) > 0 ? IDEAL(k, i, column(xcol)) : NaN) with lines lc rgb model_color(m(i)) dt 2 lw 1 notitle'
FAILS = 'for [i=1:nm] csv using (fails && failrow(i) ? column(xcol) : NaN):(YBOT) with points lc rgb model_color(m(i)) pt FAILED_PT ps 2 lw 2 notitle'
LOGY = 0
set logscale x 2
# Each panel's y range, from its medians.
array ybot_k[2]; array ytop_k[2]
set terminal unknown
do for [k=1:np] {
    SER = value('series'.k)
    set yrange [*:*]
    plot for [i=1:nm] csv using (okrow(i) ? column(xcol) : NaN):(Yc(i, y)) notitle
    MED_LO = GPVAL_DATA_Y_MIN; MED_HI = GPVAL_DATA_Y_MAX
    @YRANGE
    ybot_k[k] = YBOT; ytop_k[k] = YTOP
}
H = 80 + 330 * np
W = 950
@TERM_SET
set multiplot layout np, 1 title title
set format x "%g"
set key outside right top box opaque samplen 3
do for [k=1:np] {
    SER = value('series'.k); BOXED = value('box'.k)
    set title value('ptitle'.k)
    set xlabel xlabel
    set ylabel ylabel
    YBOT = ybot_k[k]; YTOP = ytop_k[k]
    set yrange [YBOT:YTOP]
    plot @BANDS, @BOXES, @LINES, @IDEALS, @CLIPS, @FAILS
}
unset multiplot
