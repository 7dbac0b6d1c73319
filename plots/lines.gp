# lines.gp - the "lines" chart kind: one or two panels of one line per model
# against x, error bars from the repeats (<y>_min, <y>_max), failed points as
# an x in the model's colour on the panel's floor.
#
# Variables (besides common.gp's): xcol, xlabel, logx (0 or the log base),
# np (1 or 2 panels) and per panel k: y<k>, ylabel<k>, series<k> ("" = all),
# ptitle<k> (the panel's own title), logy<k> (0/1), yfmt<k>.
load plotdir."/common.gp"

LINES = 'for [i=1:nm] csv using (okrow(i) ? column(xcol) : NaN):(Yc(i, YC)):(Yc(i, YC."_min")):(Yc(i, YC."_max")) with yerrorlines lc rgb model_color(m(i)) pt model_pt(m(i)) dt model_dt(m(i)) lw 1.5 ps 1.2 title m(i)'
FAILS = 'for [i=1:nm] csv using (failrow(i) ? column(xcol) : NaN):(failrow(i) ? yfloor : NaN) with points lc rgb model_color(m(i)) pt FAILED_PT ps 2.5 lw 2 notitle, NaN with points lc rgb "#000000" pt FAILED_PT ps 2 lw 2 title "failed"'
PANEL = "if (fails) { plot @LINES, @FAILS } else { plot @LINES }"

# Panel k's settings: its column, series and y scale.
SETK = "YC = value('y'.k); SER = value('series'.k); if (value('logy'.k)) { set logscale y; set yrange [*:*] } else { unset logscale y; set yrange [0:*] }; set format y value('yfmt'.k); set ylabel value('ylabel'.k)"

if (logx) { set logscale x logx; set mxtics 10 } else { unset logscale x }
# Each panel's floor (where failed points go): autoscale it on the unknown terminal.
array floors[2]
do for [k=1:np] {
    @SETK
    set terminal unknown
    plot @LINES
    floors[k] = GPVAL_Y_MIN
}
if (np == 2) { W = 1400; H = 620 }
@TERM_SET
set xlabel xlabel
if (np == 1) {
    k = 1
    @SETK
    yfloor = floors[1]
    set title title.title_note
    @PANEL
} else {
    set multiplot layout 1,2 title title.title_note
    # Same-size panels, the key in the right margin (not over the data).
    set tmargin at screen 0.90; set bmargin at screen 0.11
    do for [k=1:2] {
        if (k == 1) { set lmargin at screen 0.06; set rmargin at screen 0.43; unset key } \
        else { set lmargin at screen 0.51; set rmargin at screen 0.88; set key outside right top box opaque }
        @SETK
        yfloor = floors[k]
        set title value('ptitle'.k)
        @PANEL
    }
    unset multiplot
}
